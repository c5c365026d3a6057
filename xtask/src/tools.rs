//! Tools the test suite needs beyond Rust, installed into the target
//! directory so that nothing outside the project changes.
//!
//! - moto (`moto_server`): an S3 server on loopback for the tests of
//!   checkpoints in `s3://` storage. It lives in a Python virtual
//!   environment at `<target>/tools/moto-venv`, installed once per pinned
//!   version.
//! - nisshi (`nisshi`): a Kafka-protocol broker for the tests of the Kafka
//!   sources and sinks, built with `cargo install` into
//!   `<target>/tools/nisshi` (once per pinned version; it needs a newer
//!   rustc than the project's, installed with rustup when missing).
//! - nats-server: the NATS server (with JetStream) for the tests of the
//!   `nats` sources and sinks. Debian packages it, so it is the one tool
//!   installed outside the project: with `apt-get` when it is missing.
//!
//! `cargo xtask kafka-broker` and `cargo xtask nats-server` run the servers
//! in the foreground (see `serve`); the tests start their own.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{Context, Result, bail};
pub(crate) use weir_build::venv_executable as executable;

/// The moto release the tests run against (PyPI).
pub const MOTO_VERSION: &str = "5.2.5";

/// The pip requirement installed into the virtual environment.
fn moto_requirement() -> String {
    format!("moto[server]=={MOTO_VERSION}")
}

/// Makes sure `<target_dir>/tools/moto-venv` holds the pinned moto with its
/// server; returns the path of `moto_server`. Quiet when there is nothing to
/// do, and idempotent (`weir_build::python::ensure_tool_venv`).
pub fn ensure_moto(target_dir: &Path) -> Result<PathBuf> {
    let venv = target_dir.join("tools").join("moto-venv");
    let server = executable(&venv, "moto_server");
    let verify = |python: &Path| {
        let version =
            quiet(Command::new(python).args(["-c", "import importlib.metadata as m; print(m.version('moto'))"]))
                .map_err(|e| weir_build::Error::Unexpected(format!("{e:#}")))?;
        let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
        if version != MOTO_VERSION || !server.exists() {
            return Err(weir_build::Error::Unexpected(format!(
                "{} holds moto {version} (expected {MOTO_VERSION}) and {} {}",
                venv.display(),
                server.display(),
                if server.exists() { "exists" } else { "is missing" }
            )));
        }
        Ok(())
    };
    weir_build::python::ensure_tool_venv(
        &venv,
        &moto_requirement(),
        "the S3 tests run moto, a Python S3 server",
        &crate::step,
        &verify,
    )?;
    Ok(server)
}

/// The Apache Flink release the benchmark runs beside Weir (PyPI's
/// `apache-flink` ships its jars).
pub const FLINK_VERSION: &str = "2.3.0";

/// Makes sure `<target_dir>/tools/flink-venv` holds apache-flink; returns
/// the `pyflink` directory (its `lib/` holds the jars, `conf/` the JVM
/// options). Quiet and idempotent, as `ensure_moto`.
pub fn ensure_flink(target_dir: &Path) -> Result<PathBuf> {
    let venv = target_dir.join("tools").join("flink-venv");
    let locate = "import pyflink, os; print(os.path.dirname(pyflink.__file__))";
    let verify = |python: &Path| {
        let found = quiet(Command::new(python).args(["-c", locate]))
            .map_err(|e| weir_build::Error::Unexpected(format!("{e:#}")))?;
        let dir = PathBuf::from(String::from_utf8_lossy(&found.stdout).trim());
        if !dir.join("lib").join(format!("flink-dist-{FLINK_VERSION}.jar")).exists() {
            return Err(weir_build::Error::Unexpected(format!(
                "{} has no flink-dist-{FLINK_VERSION}.jar in {}",
                venv.display(),
                dir.join("lib").display()
            )));
        }
        Ok(())
    };
    let python = weir_build::python::ensure_tool_venv(
        &venv,
        &format!("apache-flink=={FLINK_VERSION}"),
        "the benchmark runs Apache Flink beside Weir",
        &crate::step,
        &verify,
    )?;
    let found = quiet(Command::new(&python).args(["-c", locate]))?;
    Ok(PathBuf::from(String::from_utf8_lossy(&found.stdout).trim()))
}

/// The nisshi release the tests run against (crates.io).
pub const NISSHI_VERSION: &str = "0.8.1";
/// The toolchain nisshi is built with: its `rust-version` is newer than the
/// project's pinned toolchain.
const NISSHI_TOOLCHAIN: &str = "1.96.0";

/// Makes sure `<target_dir>/tools/nisshi` holds the pinned nisshi; returns
/// the path of its binary. Quiet when it is already there; otherwise builds
/// it once (about 11 minutes) with `cargo install --locked` under a lock,
/// its output going to `<target_dir>/tools/nisshi-install.log`, shown only
/// when the build fails.
pub fn ensure_nisshi(target_dir: &Path) -> Result<PathBuf> {
    let tools = target_dir.join("tools");
    let root = tools.join("nisshi");
    let binary = root.join("bin").join(if cfg!(windows) { "nisshi.exe" } else { "nisshi" });
    let wanted = format!("nisshi {NISSHI_VERSION}");
    let installed = || {
        binary.exists()
            && Command::new(&binary)
                .arg("--version")
                .output()
                .is_ok_and(|output| output.status.success() && String::from_utf8_lossy(&output.stdout).trim() == wanted)
    };
    if installed() {
        return Ok(binary);
    }
    std::fs::create_dir_all(&tools).with_context(|| format!("cannot create {}", tools.display()))?;
    // Two installs at once (shared target directories) must not race; the
    // lock is released on drop.
    let lock_path = tools.join("nisshi.lock");
    let lock = File::create(&lock_path).with_context(|| format!("cannot create {}", lock_path.display()))?;
    lock.lock().with_context(|| format!("cannot lock {}", lock_path.display()))?;
    if installed() {
        return Ok(binary);
    }
    ensure_toolchain(NISSHI_TOOLCHAIN, "nisshi, the Kafka broker the tests use")?;
    let log_path = tools.join("nisshi-install.log");
    // A build directory of its own: an interrupted build resumes where it
    // stopped, and the project's target directory gets none of it.
    let build_dir = tools.join("nisshi-build");
    crate::step(&format!(
        "building nisshi {NISSHI_VERSION} (the Kafka broker the tests use) into {}, once: about 11 minutes, log in {}",
        root.display(),
        log_path.display()
    ));
    let log = File::create(&log_path).with_context(|| format!("cannot create {}", log_path.display()))?;
    let mut install = Command::new("rustup");
    install
        .args(["run", NISSHI_TOOLCHAIN, "cargo", "install", "--locked", "--force", "nisshi", "--version"])
        .arg(NISSHI_VERSION)
        .arg("--root")
        .arg(&root)
        .env("CARGO_TARGET_DIR", &build_dir)
        // The variables cargo sets for xtask name the project's toolchain.
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO")
        .env_remove("RUSTC")
        .env_remove("RUSTDOC")
        // Out of the workspace, so that only the user's cargo configuration applies.
        .current_dir(&tools)
        .stdin(Stdio::null())
        .stdout(log.try_clone().with_context(|| format!("cannot write {}", log_path.display()))?)
        .stderr(log);
    let status = install.status().context("cannot run rustup")?;
    if !status.success() {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        bail!(
            "`rustup run {NISSHI_TOOLCHAIN} cargo install --locked nisshi --version {NISSHI_VERSION}` failed \
             ({status}; crates.io must be reachable). The end of {}:\n{}",
            log_path.display(),
            lines[lines.len().saturating_sub(60)..].join("\n")
        );
    }
    if !installed() {
        bail!("cargo install reported success but {} does not run or is not nisshi {NISSHI_VERSION}", binary.display());
    }
    // Gigabytes of build output, no longer needed.
    let _ = std::fs::remove_dir_all(&build_dir);
    Ok(binary)
}

/// Installs the rustup toolchain `toolchain` (minimal profile) when it is
/// missing, quietly.
fn ensure_toolchain(toolchain: &str, needed_by: &str) -> Result<()> {
    match Command::new("rustup").args(["run", toolchain, "rustc", "--version"]).output() {
        Ok(output) if output.status.success() => Ok(()),
        Ok(_) => {
            crate::step(&format!("installing the Rust {toolchain} toolchain with rustup (for {needed_by})"));
            quiet(Command::new("rustup").args(["toolchain", "install", toolchain, "--profile", "minimal"]))
                .map(drop)
                .with_context(|| format!("{needed_by} needs Rust {toolchain}"))
        }
        Err(e) => bail!(
            "cannot run rustup ({e}): {needed_by} is built with Rust {toolchain}, which rustup installs; \
             install rustup (https://rustup.rs)"
        ),
    }
}

/// Makes sure `nats-server` is installed; returns its path. Quiet and quick
/// when it already is; otherwise installs Debian's package once with
/// `apt-get install` (after an `apt-get update` if the first try fails;
/// through `sudo -n` when not root), showing apt's output only when it
/// fails.
pub fn ensure_nats_server() -> Result<PathBuf> {
    if let Some(path) = find_nats_server() {
        return Ok(path);
    }
    if find_on_path("apt-get").is_none() {
        bail!(
            "nats-server is not installed and apt-get is not available to install it: install the NATS \
             server (https://nats.io, 2.9 or later) and put `nats-server` on PATH"
        );
    }
    crate::step("installing nats-server with apt-get (once)");
    let install = || apt_get(&["install", "-y", "-q", "nats-server"]);
    if let Err(first) = install() {
        // A fresh machine has no package lists (or stale ones).
        apt_get(&["update", "-q"]).context("apt-get update failed (Debian's mirror must be reachable)")?;
        install().map_err(|second| {
            second.context(format!("apt-get could not install nats-server (first try: {first:#}); run as root?"))
        })?;
    }
    find_nats_server().context("apt-get installed nats-server but there is no nats-server on PATH or in /usr/sbin")
}

/// `nats-server` on PATH, or where Debian puts it (`/usr/sbin`, which is
/// not on every user's PATH).
fn find_nats_server() -> Option<PathBuf> {
    find_on_path("nats-server").or_else(|| {
        ["/usr/sbin/nats-server", "/usr/bin/nats-server"].into_iter().map(PathBuf::from).find(|path| path.is_file())
    })
}

/// Runs `apt-get ARGS` non-interactively with its output captured, through
/// `sudo -n` (which fails rather than ask for a password) when not root.
fn apt_get(args: &[&str]) -> Result<()> {
    let root = quiet(Command::new("id").arg("-u")).is_ok_and(|output| output.stdout.trim_ascii() == b"0");
    let mut command = if root {
        Command::new("apt-get")
    } else {
        // sudo clears the environment: `env` sets the variable below for apt-get.
        let mut command = Command::new("sudo");
        command.args(["-n", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]);
        command
    };
    command.args(args).env("DEBIAN_FRONTEND", "noninteractive").stdin(Stdio::null());
    quiet(&mut command).map(drop)
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| candidate.is_file())
}

/// Runs a command with its output captured; the output is shown only when
/// it fails.
pub(crate) fn quiet(command: &mut Command) -> Result<Output> {
    let line = format!("{command:?}");
    let output = command.output().with_context(|| format!("cannot run {line}"))?;
    if !output.status.success() {
        bail!(
            "{line} failed ({})\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(output)
}
