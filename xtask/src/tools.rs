//! Tools the test suite needs beyond Rust, installed into the target
//! directory so that nothing outside the project changes.
//!
//! - moto (`moto_server`): an S3 server on loopback for the tests of
//!   checkpoints in `s3://` storage. It lives in a Python virtual
//!   environment at `<target>/tools/moto-venv`, installed once per pinned
//!   version.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
