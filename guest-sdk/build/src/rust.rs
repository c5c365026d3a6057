//! Rust operators: a `cdylib` crate built by cargo for `wasm32-wasip2`,
//! whose output is already a component (the target links one).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::Progress;
use crate::error::{Error, Result};
use crate::process::{describe, quiet};

/// The Rust target operators are built for.
pub const WASM_TARGET: &str = "wasm32-wasip2";

/// `cargo`, or the one running us when we run under cargo.
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Adds the wasm target with rustup when the toolchain used in `dir` lacks it.
pub fn ensure_wasm_target(dir: &Path, progress: Progress) -> Result<()> {
    let sysroot = Command::new("rustc").args(["--print", "sysroot"]).current_dir(dir).output();
    if let Ok(output) = sysroot {
        let sysroot = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if Path::new(&sysroot).join("lib/rustlib").join(WASM_TARGET).exists() {
            return Ok(());
        }
    }
    progress(&format!("installing the {WASM_TARGET} target with rustup"));
    quiet(
        Command::new("rustup").args(["target", "add", WASM_TARGET]).current_dir(dir),
        Some("the wasm target is missing and rustup could not add it; see https://rustup.rs"),
    )
    .map(drop)
}

/// Builds the crate at `dir` for the wasm target in release mode; returns
/// the component cargo wrote (wherever `CARGO_TARGET_DIR` puts it).
/// Compiler messages go to standard error as cargo prints them.
pub fn build_crate(dir: &Path, progress: Progress) -> Result<PathBuf> {
    ensure_wasm_target(dir, progress)?;
    let mut command = cargo();
    command
        .args(["build", "--release", "--target", WASM_TARGET, "--message-format=json-render-diagnostics"])
        .current_dir(dir)
        .stdout(Stdio::piped());
    let line = describe(&command);
    let mut child = command.spawn().map_err(|source| Error::Spawn { command: line.clone(), help: None, source })?;
    let mut components = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        for message in BufReader::new(stdout).lines().map_while(std::result::Result::ok) {
            components.extend(wasm_artifacts(&message));
        }
    }
    let status = child.wait().map_err(|source| Error::Spawn { command: line.clone(), help: None, source })?;
    if !status.success() {
        return Err(Error::Command { command: line, status: status.to_string(), output: String::new(), help: None });
    }
    match components.as_slice() {
        [component] => Ok(component.clone()),
        [] => Err(Error::Project {
            path: dir.join("Cargo.toml"),
            reason: "the build produced no .wasm: an operator crate needs `[lib] crate-type = [\"cdylib\"]`".into(),
        }),
        many => Err(Error::Project {
            path: dir.join("Cargo.toml"),
            reason: format!("the build produced {} components, expected one: {many:?}", many.len()),
        }),
    }
}

/// The `.wasm` files of a cdylib in one line of cargo's JSON messages.
fn wasm_artifacts(message: &str) -> Vec<PathBuf> {
    let Ok(message) = serde_json::from_str::<serde_json::Value>(message) else { return Vec::new() };
    let is_cdylib = message["target"]["kind"].as_array().is_some_and(|kinds| kinds.iter().any(|k| k == "cdylib"));
    if message["reason"] != "compiler-artifact" || !is_cdylib {
        return Vec::new();
    }
    let files = message["filenames"].as_array().cloned().unwrap_or_default();
    files.iter().filter_map(|file| file.as_str()).filter(|file| file.ends_with(".wasm")).map(PathBuf::from).collect()
}
