//! `cargo xtask fuzz [--seconds N] [TARGET] [-- LIBFUZZER-ARGS]`: runs the
//! cargo-fuzz targets of `host/fuzz` (every target, or the named one) for
//! N seconds each, and fails if one of them finds a crash.
//!
//! cargo-fuzz needs a nightly toolchain (sanitizer and coverage flags); the
//! repository pins stable, so nightly is selected for the fuzz build alone
//! with `RUSTUP_TOOLCHAIN`. When `cargo fuzz` is not installed, a pinned
//! cargo-fuzz is installed into `<target>/tools/cargo-fuzz` (once).
//!
//! The fuzz build has a target directory of its own, `<target>/fuzz`:
//! nightly artifacts share nothing with the stable ones, and a separate
//! directory has its own cargo lock, so a long fuzz build never blocks a
//! workspace build.
//!
//! The checked-in seeds (`host/fuzz/corpus/<target>/seed-*`) are read but
//! never written: what the fuzzer finds goes to a corpus kept in the target
//! directory (`<target>/fuzz/corpus/<target>`), which later runs start from.
//! Crashes land in `host/fuzz/artifacts/<target>/`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The fuzz targets, as named in `host/fuzz/Cargo.toml`.
pub const TARGETS: &[&str] = &["metadata_decode", "job_file", "batch_reader", "state_chunk"];
/// The cargo-fuzz release installed when `cargo fuzz` is missing.
pub const CARGO_FUZZ_VERSION: &str = "0.13.2";
const DEFAULT_SECONDS: u64 = 60;
/// libFuzzer options for every run: an input taking over 10 s is a hang,
/// and no input of a few KiB may make a single allocation of 128 MiB.
const LIBFUZZER_ARGS: &[&str] = &["-timeout=10", "-malloc_limit_mb=128", "-print_final_stats=1"];

struct Options {
    seconds: u64,
    target: Option<String>,
    libfuzzer_args: Vec<String>,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options { seconds: DEFAULT_SECONDS, target: None, libfuzzer_args: Vec::new() };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let seconds = match arg.as_str() {
            "--" => {
                options.libfuzzer_args = args.by_ref().cloned().collect();
                break;
            }
            "--seconds" => Some(args.next().context("--seconds needs a value")?.as_str()),
            other => other.strip_prefix("--seconds="),
        };
        if let Some(seconds) = seconds {
            options.seconds =
                seconds.parse().ok().filter(|&s| s > 0).with_context(|| {
                    format!("--seconds {seconds:?}: expected a whole number of seconds, at least 1")
                })?;
        } else if arg.starts_with('-') {
            bail!("unknown option {arg:?} (usage: cargo xtask fuzz [--seconds N] [TARGET] [-- LIBFUZZER-ARGS])");
        } else if options.target.is_some() {
            bail!("only one fuzz target may be named (got {arg:?} too)");
        } else if !TARGETS.contains(&arg.as_str()) {
            bail!("unknown fuzz target {arg:?}; the targets are: {}", TARGETS.join(", "));
        } else {
            options.target = Some(arg.clone());
        }
    }
    Ok(options)
}

pub fn run_fuzz(args: &[String]) -> Result<()> {
    let options = parse(args)?;
    ensure_nightly()?;
    let target_dir = crate::target_dir();
    let cargo_fuzz = ensure_cargo_fuzz(&target_dir)?;
    let fuzz_dir = crate::root().join("host/fuzz");
    let targets: Vec<&str> = match &options.target {
        Some(target) => vec![target.as_str()],
        None => TARGETS.to_vec(),
    };
    for target in targets {
        crate::step(&format!("fuzzing {target} for {} s", options.seconds));
        let corpus = target_dir.join("fuzz").join("corpus").join(target);
        std::fs::create_dir_all(&corpus).with_context(|| format!("cannot create {}", corpus.display()))?;
        let seeds = fuzz_dir.join("corpus").join(target);
        let mut command = cargo_fuzz.command();
        command.env("CARGO_TARGET_DIR", target_dir.join("fuzz"));
        command.args(["run", "--fuzz-dir"]).arg(&fuzz_dir).arg(target);
        // The first corpus directory is the one libFuzzer adds to.
        command.arg(&corpus);
        if seeds.is_dir() {
            command.arg(&seeds);
        }
        command.arg("--");
        command.arg(format!("-max_total_time={}", options.seconds));
        command.args(LIBFUZZER_ARGS);
        let dict = fuzz_dir.join("dict").join(format!("{target}.dict"));
        if dict.exists() {
            command.arg(format!("-dict={}", dict.display()));
        }
        command.args(&options.libfuzzer_args);
        crate::run(&mut command).with_context(|| {
            format!(
                "fuzz target {target} failed; a crashing input found is saved in {} (rerun \
                 it with `cargo +nightly fuzz run --fuzz-dir host/fuzz {target} <file>`)",
                fuzz_dir.join("artifacts").join(target).display()
            )
        })?;
    }
    Ok(())
}

/// Fails with the install command when there is no nightly toolchain.
fn ensure_nightly() -> Result<()> {
    let output = Command::new("rustup").args(["run", "nightly", "rustc", "--version"]).output();
    match output {
        Ok(output) if output.status.success() => Ok(()),
        Ok(_) => bail!(
            "cargo fuzz needs a nightly toolchain (sanitizers, coverage instrumentation) and none is \
             installed: run `rustup toolchain install nightly`"
        ),
        Err(e) => bail!(
            "cannot run rustup ({e}): cargo fuzz needs a nightly toolchain managed by rustup; install \
             rustup, then run `rustup toolchain install nightly`"
        ),
    }
}

/// How to invoke cargo-fuzz.
enum CargoFuzz {
    /// `cargo fuzz`: installed by the user (on PATH or in CARGO_HOME).
    Subcommand,
    /// The copy installed into the tools directory.
    Binary(PathBuf),
}

impl CargoFuzz {
    /// A command ready for cargo-fuzz's arguments, building with nightly.
    fn command(&self) -> Command {
        let mut command = match self {
            // The rustup proxy, not `$CARGO` (the pinned stable cargo).
            CargoFuzz::Subcommand => {
                let mut command = Command::new("cargo");
                command.arg("fuzz");
                command
            }
            CargoFuzz::Binary(path) => Command::new(path),
        };
        // cargo-fuzz runs `cargo` from PATH: the rustup proxy, which picks
        // nightly from this variable over `rust-toolchain.toml`.
        command.env("RUSTUP_TOOLCHAIN", "nightly").env_remove("CARGO").env_remove("RUSTC").env_remove("RUSTDOC");
        command.current_dir(crate::root());
        command
    }
}

/// `cargo fuzz` if it is available, else cargo-fuzz installed (quietly,
/// once) into `<target_dir>/tools/cargo-fuzz`.
fn ensure_cargo_fuzz(target_dir: &Path) -> Result<CargoFuzz> {
    let tools = target_dir.join("tools");
    let root = tools.join("cargo-fuzz");
    let binary = root.join("bin").join(if cfg!(windows) { "cargo-fuzz.exe" } else { "cargo-fuzz" });
    let works = |command: &mut Command| command.output().is_ok_and(|output| output.status.success());
    if binary.exists() && works(Command::new(&binary).arg("--version")) {
        return Ok(CargoFuzz::Binary(binary));
    }
    if works(Command::new("cargo").args(["fuzz", "--version"]).env("RUSTUP_TOOLCHAIN", "nightly").env_remove("CARGO")) {
        return Ok(CargoFuzz::Subcommand);
    }
    std::fs::create_dir_all(&tools).with_context(|| format!("cannot create {}", tools.display()))?;
    // Two installs at once (shared target directories) must not race; the
    // lock is released on drop.
    let lock_path = tools.join("cargo-fuzz.lock");
    let lock = File::create(&lock_path).with_context(|| format!("cannot create {}", lock_path.display()))?;
    lock.lock().with_context(|| format!("cannot lock {}", lock_path.display()))?;
    if !(binary.exists() && works(Command::new(&binary).arg("--version"))) {
        crate::step(&format!("installing cargo-fuzz {CARGO_FUZZ_VERSION} into {} (once)", root.display()));
        let mut install = crate::cargo();
        install
            .args(["install", "--quiet", "--locked", "--force", "cargo-fuzz", "--version", CARGO_FUZZ_VERSION])
            .arg("--root")
            .arg(&root)
            // Build in a temporary directory, not the project's target directory.
            .env_remove("CARGO_TARGET_DIR");
        let output = install.output().context("cannot run cargo install")?;
        if !output.status.success() {
            bail!(
                "`cargo install cargo-fuzz --locked` failed ({}); crates.io must be reachable\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    if !works(Command::new(&binary).arg("--version")) {
        bail!("cargo-fuzz was installed but {} does not run", binary.display());
    }
    Ok(CargoFuzz::Binary(binary))
}
