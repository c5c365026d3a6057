//! The `weir` binary's commands and nothing else: argument parsing, log
//! setup, progress printing and exit codes. Everything a command does is a
//! call into the `weir_host` library.

mod checkpoints;
mod run;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Weir runs stream operators compiled to WebAssembly components, each in
/// its own sandbox.
#[derive(Parser)]
#[command(name = "weir", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a job described by a TOML job file until its input ends.
    Run(run::RunArgs),
    /// Lists, inspects and cleans up checkpoints.
    #[command(subcommand)]
    Checkpoints(checkpoints::Command),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Checkpoints(command) => checkpoints::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` prints the whole context chain on one line.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr, filtered by `RUST_LOG` (default: `info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}
