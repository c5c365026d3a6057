//! Tools the test suite needs beyond Rust, installed into the target
//! directory so that nothing outside the project changes.
//!
//! - moto (`moto_server`): an S3 server on loopback for the tests of
//!   checkpoints in `s3://` storage. It lives in a Python virtual
//!   environment at `<target>/tools/moto-venv`, installed once per pinned
//!   version.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, Result, bail};
pub(crate) use weir_build::{find_python, venv_executable as executable};

/// The moto release the tests run against (PyPI).
pub const MOTO_VERSION: &str = "5.2.5";

/// The pip requirement installed into the virtual environment.
fn moto_requirement() -> String {
    format!("moto[server]=={MOTO_VERSION}")
}

/// Makes sure `<target_dir>/tools/moto-venv` holds the pinned moto with its
/// server; returns the path of `moto_server`. Quiet when there is nothing to
/// do, and idempotent: a stamp file written after a successful install
/// records the requirement, and a venv whose stamp or `moto_server` does not
/// match is rebuilt from scratch.
pub fn ensure_moto(target_dir: &Path) -> Result<PathBuf> {
    let tools = target_dir.join("tools");
    let venv = tools.join("moto-venv");
    let stamp = venv.join(".weir-installed");
    let server = executable(&venv, "moto_server");
    let wanted = moto_requirement();
    let installed = |stamp: &Path| server.exists() && std::fs::read_to_string(stamp).is_ok_and(|s| s.trim() == wanted);

    if installed(&stamp) {
        return Ok(server);
    }
    std::fs::create_dir_all(&tools).with_context(|| format!("cannot create {}", tools.display()))?;
    // Two `cargo xtask test` at once (shared target directories) must not
    // install into the same venv together; the lock is released on drop.
    let lock_path = tools.join("moto-venv.lock");
    let lock = File::create(&lock_path).with_context(|| format!("cannot create {}", lock_path.display()))?;
    lock.lock().with_context(|| format!("cannot lock {}", lock_path.display()))?;
    if installed(&stamp) {
        return Ok(server);
    }

    let python = find_python("the S3 tests run moto, a Python S3 server")?;
    crate::step(&format!("installing {wanted} into {}", venv.display()));
    if venv.exists() {
        std::fs::remove_dir_all(&venv).with_context(|| format!("cannot remove the stale {}", venv.display()))?;
    }
    quiet(Command::new(&python).args(["-m", "venv"]).arg(&venv)).with_context(|| {
        format!(
            "cannot create a Python virtual environment at {} (on Debian/Ubuntu install the \
             venv module: `apt-get install python3-venv`)",
            venv.display()
        )
    })?;
    let venv_python = executable(&venv, "python");
    quiet(
        Command::new(&venv_python)
            .args(["-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-input"])
            .arg(&wanted),
    )
    .with_context(|| format!("pip could not install {wanted} (PyPI must be reachable)"))?;
    if !server.exists() {
        bail!("{wanted} is installed but {} is missing", server.display());
    }
    let version =
        quiet(Command::new(&venv_python).args(["-c", "import importlib.metadata as m; print(m.version('moto'))"]))?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    if version != MOTO_VERSION {
        bail!("{} reports moto {version}, expected {MOTO_VERSION}", venv.display());
    }
    std::fs::write(&stamp, format!("{wanted}\n")).with_context(|| format!("cannot write {}", stamp.display()))?;
    Ok(server)
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
