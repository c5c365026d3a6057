//! Debian's `chromium` for the dashboard's browser test
//! (`tests/e2e/http.rs`), installed with apt-get when it is missing.
//!
//! `cargo xtask test` calls [`test_env`] and passes what it returns to
//! `cargo test`: `WEIR_CHROMIUM=<path>` when the browser is there, or
//! `WEIR_CHROMIUM_SETUP_ERROR=<why>` when it could not be installed. The
//! suite still runs in that case and the browser test fails with the reason
//! (it never skips in CI), so the other tests' results are not lost.

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The variable that tells the browser test where chromium is.
pub const PATH_VAR: &str = "WEIR_CHROMIUM";
/// The variable that tells the browser test why there is no chromium.
pub const SETUP_ERROR_VAR: &str = "WEIR_CHROMIUM_SETUP_ERROR";

/// Debian's packages: the browser, and a font so that the screenshot shows
/// text on a machine that has none.
const PACKAGES: &[&str] = &["chromium", "fonts-dejavu-core"];

/// The environment variable for `cargo test`: [`PATH_VAR`] with the
/// browser's path, or [`SETUP_ERROR_VAR`] with the reason it is missing
/// (also printed as a warning).
pub fn test_env(target_dir: &Path) -> (&'static str, OsString) {
    match ensure_chromium(target_dir) {
        Ok(path) => (PATH_VAR, path.into_os_string()),
        Err(error) => {
            let message = format!("{error:#}");
            eprintln!("warning: the dashboard's browser test will fail: {message}");
            (SETUP_ERROR_VAR, message.into())
        }
    }
}

/// Makes sure Debian's chromium is installed; returns its path. Quiet and
/// quick when it already is; otherwise installs it once with
/// `apt-get install` (after an `apt-get update` if the first try fails),
/// showing apt's output only when it fails.
pub fn ensure_chromium(target_dir: &Path) -> Result<PathBuf> {
    if let Some(path) = find() {
        return Ok(path);
    }
    if find_on_path("apt-get").is_none() {
        bail!(
            "chromium is not installed and apt-get is not available to install it: install Chromium \
             (Debian's package `chromium`) and put it on PATH, or point {PATH_VAR} at it"
        );
    }
    // Two `cargo xtask test` at once (shared target directories) would
    // fight over apt's lock; this one makes the second wait instead.
    let tools = target_dir.join("tools");
    std::fs::create_dir_all(&tools).with_context(|| format!("cannot create {}", tools.display()))?;
    let lock_path = tools.join("chromium.lock");
    let lock = File::create(&lock_path).with_context(|| format!("cannot create {}", lock_path.display()))?;
    lock.lock().with_context(|| format!("cannot lock {}", lock_path.display()))?;
    if let Some(path) = find() {
        return Ok(path);
    }

    crate::step(&format!("installing {} with apt-get (once)", PACKAGES.join(" ")));
    let install = || apt_get(&["install", "-y", "-qq", "--no-install-recommends"]);
    if let Err(first) = install() {
        // A fresh machine has no package lists (or stale ones).
        apt_get(&["update", "-qq"]).context("apt-get update failed (Debian's mirror must be reachable)")?;
        install().map_err(|second| {
            second.context(format!("apt-get could not install chromium (first try: {first:#}); run as root?"))
        })?;
    }
    find().with_context(|| format!("apt-get installed {} but no chromium is on PATH", PACKAGES.join(" ")))
}

/// Runs `apt-get ARGS PACKAGES` non-interactively with its output captured.
fn apt_get(args: &[&str]) -> Result<()> {
    let mut command = Command::new("apt-get");
    command.args(args).env("DEBIAN_FRONTEND", "noninteractive").stdin(std::process::Stdio::null());
    if args.first() == Some(&"install") {
        command.args(PACKAGES);
    }
    crate::tools::quiet(&mut command).map(drop)
}

/// Chromium on PATH: Debian calls it `chromium`, some systems
/// `chromium-browser`.
pub fn find() -> Option<PathBuf> {
    ["chromium", "chromium-browser"].into_iter().find_map(find_on_path)
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| candidate.is_file())
}
