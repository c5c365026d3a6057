//! The `weir` binary's commands and nothing else: argument parsing, log
//! setup, progress printing and exit codes. Everything a command does is a
//! call into the `weir_host` library.

mod checkpoints;
mod project;
mod run;

use std::io::Write;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Parser, Subcommand};

/// Weir runs stream operators compiled to WebAssembly components, each in
/// its own sandbox.
#[derive(Parser)]
#[command(name = "weir", version, about)]
struct Cli {
    /// Log lines as text, or as one JSON object per line (for machines).
    #[arg(long, global = true, value_enum, default_value = "text", value_name = "FORMAT")]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

/// How log lines look on stderr.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a job described by a TOML job file until its input ends.
    Run(run::RunArgs),
    /// Lists, inspects and cleans up checkpoints.
    #[command(subcommand)]
    Checkpoints(checkpoints::Command),
    /// Creates an operator project (Rust, Python or JavaScript): the
    /// operator, its unit tests, a job file and a README.
    New(project::NewArgs),
    /// Builds an operator project into a component; prints its path.
    Build(project::ProjectArgs),
    /// Runs an operator project's unit tests.
    Test(project::ProjectArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let result = match cli.command {
        Command::Run(args) => run::run(args, cli.log_format),
        Command::Checkpoints(command) => checkpoints::run(command),
        Command::New(args) => project::new(args),
        Command::Build(args) => project::build(args),
        Command::Test(args) => project::test(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            clear_live_line();
            let message = one_line(&error);
            match cli.log_format {
                LogFormat::Text => eprintln!("error: {message}"),
                LogFormat::Json => tracing::error!("{message}"),
            }
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, each said once. Many errors
/// (object_store's, the library's storage and I/O errors) already include
/// their source in their own message, so `{:#}` would repeat it, up to four
/// times for a failed directory walk.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Logs go to stderr, filtered by `RUST_LOG` (default: `info`): as text
/// (coloured on a terminal, above `weir run`'s live progress line), or as
/// JSON lines (`{"timestamp":..,"level":..,"message":..,<fields>}`).
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    match format {
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_target(false)
            .init(),
        LogFormat::Text => {
            let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
            LIVE_LINE_POSSIBLE.store(terminal, Ordering::Relaxed);
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(|| AboveLiveLine(Vec::new()))
                .with_ansi(terminal)
                .with_target(false)
                .init()
        }
    }
}

/// The live progress line at the bottom of a terminal, if one is shown.
static LIVE_LINE: Mutex<Option<String>> = Mutex::new(None);
/// stderr is a terminal and logs are text.
static LIVE_LINE_POSSIBLE: AtomicBool = AtomicBool::new(false);

/// "Erase the line": back to its start, then clear it.
const ERASE_LINE: &str = "\r\x1b[2K";

/// Whether a command may show a live line ([`show_live_line`]): stderr is
/// a terminal and logs are text.
pub(crate) fn live_line_possible() -> bool {
    LIVE_LINE_POSSIBLE.load(Ordering::Relaxed)
}

/// Shows (or replaces) the live line: log lines keep appearing above it.
pub(crate) fn show_live_line(line: &str) {
    let mut live = LIVE_LINE.lock().unwrap_or_else(|p| p.into_inner());
    let mut stderr = std::io::stderr().lock();
    let _ = write!(stderr, "{ERASE_LINE}{line}");
    let _ = stderr.flush();
    *live = Some(line.to_owned());
}

/// Removes the live line, if any.
pub(crate) fn clear_live_line() {
    let mut live = LIVE_LINE.lock().unwrap_or_else(|p| p.into_inner());
    if live.take().is_some() {
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, "{ERASE_LINE}");
        let _ = stderr.flush();
    }
}

/// A log line's writer: collects the line, then on drop erases the live
/// line, writes the log line and draws the live line again below it.
struct AboveLiveLine(Vec<u8>);

impl Write for AboveLiveLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for AboveLiveLine {
    fn drop(&mut self) {
        let live = LIVE_LINE.lock().unwrap_or_else(|p| p.into_inner());
        let mut stderr = std::io::stderr().lock();
        if live.is_some() {
            let _ = write!(stderr, "{ERASE_LINE}");
        }
        let _ = stderr.write_all(&self.0);
        if let Some(line) = live.as_deref() {
            let _ = write!(stderr, "{line}");
        }
        let _ = stderr.flush();
    }
}
