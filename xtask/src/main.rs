//! `cargo xtask`: the project's own build steps, in Rust so that they run
//! wherever cargo does.
//!
//! - `build-guests [--rust]`: builds every guest component for
//!   `wasm32-wasip2` (installing the target with rustup when it is missing);
//!   `--rust` builds the Rust ones only, which need nothing but Rust.
//! - `demo`: builds everything and runs the word-count example.
//! - `test`: builds the guests, then runs the whole test suite.
//! - `bench`: runs the benchmarks and records them in BENCHMARKS.md.
//! - `moto-server`: installs the S3 test server (see `tools`), prints its path.
//! - `kafka-broker --port N [--data DIR]`: installs the Kafka broker the
//!   tests use (nisshi) and runs it in the foreground (see `serve`).
//! - `nats-server --port N [--data DIR]`: the same for the NATS server.
//! - `fuzz`: runs the cargo-fuzz targets of `host/fuzz` (see `fuzz`).
//!
//! Artifacts land where the docs say they are (`target/release/weir`,
//! `target/wasm32-wasip2/release/<crate>.wasm`) even when
//! `CARGO_TARGET_DIR` points elsewhere (CI keeps it outside the clone to
//! reuse builds): they are then copied into the repository's `target/`.

mod bench;
mod c;
mod chromium;
mod demo;
mod fuzz;
mod js;
mod python;
mod serve;
mod tools;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use weir_build::rust::WASM_TARGET;

/// Guest crates built by `build-guests`: the examples, then the fixtures the
/// tests use.
const GUESTS: &[&str] = &[
    "tokenizer",
    "counter",
    "join",
    "splitter",
    "window-count",
    "hostile",
    "hostile-net",
    "cli-command",
    "boundary",
    "chatty",
    "faulty",
    "store",
];

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let task = args.first().map(String::as_str).unwrap_or("help");
    match task {
        "build-guests" => match args.get(1).map(String::as_str) {
            None => build_guests().map(drop),
            // The word count's guests (and the test fixtures) with nothing
            // but the Rust toolchain: no Python, Node or zig.
            Some("--rust") => build_rust_guests().map(drop),
            Some(other) => bail!("build-guests: unknown option '{other}' (use --rust for the Rust guests only)"),
        },
        "demo" => demo::run_demo(),
        "test" => test(&args[1..]),
        "bench" => bench::run_bench(&args[1..]),
        "fuzz" => fuzz::run_fuzz(&args[1..]),
        "moto-server" => tools::ensure_moto(&target_dir()).map(|server| println!("{}", server.display())),
        "kafka-broker" => serve::kafka_broker(&args[1..]),
        "nats-server" => serve::nats_server(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <task>\n\n\
                 tasks:\n  \
                 build-guests [--rust]  build every guest component for {WASM_TARGET} (--rust: Rust only)\n  \
                 demo           build everything and run the word-count example\n  \
                 test [ARGS]    build the guests and run the whole test suite (ARGS go to cargo test)\n  \
                 bench [--quick] run the benchmarks, print the table and record it in BENCHMARKS.md\n  \
                 moto-server    install the S3 server the tests use (moto) and print its path\n  \
                 kafka-broker --port N [--data DIR]  install the Kafka broker the tests use (nisshi), run it on 127.0.0.1:N\n  \
                 nats-server --port N [--data DIR]   install nats-server, run it with JetStream on 127.0.0.1:N\n  \
                 fuzz [--seconds N] [TARGET]  run every fuzz target (or TARGET) for N s each (nightly)"
            );
            if task != "help" {
                bail!("unknown task '{task}'");
            }
            Ok(())
        }
    }
}

/// The repository's root (the workspace).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_owned()
}

/// Where cargo puts build output.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root().join(dir),
        None => root().join("target"),
    }
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(root());
    command
}

/// Runs a command, failing with its command line if it fails.
fn run(command: &mut Command) -> Result<()> {
    let line = format!("{command:?}");
    let status = command.status().with_context(|| format!("cannot run {line}"))?;
    if !status.success() {
        bail!("{line} failed ({status})");
    }
    Ok(())
}

fn step(message: &str) {
    eprintln!("\x1b[1m==> {message}\x1b[0m");
}

/// Builds every guest, Rust and the other languages' (which need Python
/// and Node); returns the directory holding the `.wasm` files.
fn build_guests() -> Result<PathBuf> {
    let documented = build_rust_guests()?;
    python::build_python_guests(&root(), &target_dir(), &documented)?;
    c::build_c_guests(&root(), &documented)?;
    js::build_js_guests(&root(), &target_dir(), &documented)?;
    Ok(documented)
}

/// Builds the Rust guests only: all the demo needs, with nothing but the
/// Rust toolchain.
fn build_rust_guests() -> Result<PathBuf> {
    weir_build::rust::ensure_wasm_target(&root(), &step)?;
    step("building guest components");
    let mut command = cargo();
    command.args(["build", "--quiet", "--release", "--target", WASM_TARGET]);
    for guest in GUESTS {
        command.args(["--package", guest]);
    }
    run(&mut command)?;
    let built = target_dir().join(WASM_TARGET).join("release");
    let documented = root().join("target").join(WASM_TARGET).join("release");
    for guest in GUESTS {
        // cargo names a library component `my_crate.wasm` and a command
        // `my-crate.wasm`; the docs always say `my-crate.wasm`.
        let wanted = format!("{guest}.wasm");
        let file = [wanted.clone(), format!("{}.wasm", guest.replace('-', "_"))]
            .into_iter()
            .map(|name| built.join(name))
            .find(|path| path.exists())
            .with_context(|| format!("the build produced no component for {guest} in {}", built.display()))?;
        copy_if_elsewhere(&file, &documented.join(&wanted))?;
    }
    Ok(documented)
}

/// Builds the `weir` binary; returns its documented path.
fn build_host() -> Result<PathBuf> {
    step("building the weir host (release)");
    run(cargo().args(["build", "--quiet", "--release", "--package", "weir-host", "--bin", "weir"]))?;
    let documented = root().join("target/release/weir");
    copy_if_elsewhere(&target_dir().join("release/weir"), &documented)?;
    Ok(documented)
}

fn copy_if_elsewhere(from: &Path, to: &Path) -> Result<()> {
    if !from.exists() {
        bail!("expected build output {} is missing", from.display());
    }
    if from.canonicalize()? == to.canonicalize().unwrap_or_default() {
        return Ok(());
    }
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::copy(from, to).with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    Ok(())
}

/// Formatting check, guests, then every test of the workspace in the
/// release profile (the same build the demo and benchmarks use).
fn test(extra: &[String]) -> Result<()> {
    step("checking formatting");
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    let guests = build_guests()?;
    python::test_python(&root())?;
    js::test_js(&root())?;
    let moto_server = tools::ensure_moto(&target_dir())?;
    // The Kafka and NATS tests start their own servers, on free ports.
    let nisshi = tools::ensure_nisshi(&target_dir())?;
    let nats_server = tools::ensure_nats_server()?;
    // The dashboard test drives a real browser: Debian's chromium.
    let (browser_var, browser) = chromium::test_env(&target_dir());
    step("running the test suite");
    let mut command = cargo();
    // The guest crates are included: their unit tests run natively through
    // `weir_guest::testing::Harness`.
    command.args(["test", "--release", "--workspace"]);
    command.args(extra).env("WEIR_GUEST_DIR", &guests).env("WEIR_MOTO_SERVER", &moto_server);
    command.env("WEIR_NISSHI", &nisshi).env("WEIR_NATS_SERVER", &nats_server);
    command.env(browser_var, browser);
    run(&mut command)?;
    bench::smoke(&guests)
}
