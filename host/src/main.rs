//! The `weir` command line: a thin layer over the `weir_host` library.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
