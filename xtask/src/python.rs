//! Python guests: the examples written with the Python SDK
//! (`guest-sdk/python`), turned into components by componentize-py through
//! `weir_build::python`, the code `weir build` runs for operator authors.
//!
//! - The venv at `<target>/tools/componentize-py-<version>` holds the pinned
//!   componentize-py and the SDK from this checkout, installed once and
//!   refreshed when the SDK's sources change.
//! - [`build_python_guests`]: builds every example of [`PYTHON_GUESTS`] into
//!   `<target>/wasm32-wasip2/release/<example>.wasm` and copies it to the
//!   documented directory, like the Rust guests. A build takes ~10 s and
//!   writes an ~18 MB component, so an example whose inputs (its sources but
//!   its `test_*.py`, the SDK's, the WIT files, the componentize-py version)
//!   hash as at the last build is skipped; the digests are kept in
//!   `<target>/python-guests/<example>.inputs`, beside the staged copy of the
//!   sources the component was built from.
//! - [`test_python`]: the SDK's and the examples' unit tests, under the
//!   system's CPython (`unittest`, no install needed).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use weir_build::python::{COMPONENTIZE_PY_VERSION, componentize, ensure_componentize_py};
use weir_build::{Digest, Sdk, add_files, digest_tree, files_under, find_python};

/// Python guests: the example's directory under `examples/` (also the name of
/// its `.wasm`) and the module componentize-py builds it from.
pub const PYTHON_GUESTS: &[(&str, &str)] =
    &[("counter-py", "counter"), ("dedup-py", "dedup"), ("join-py", "join"), ("window-count-py", "window_count")];

/// Bumped when the way a component is built changes, so that stamps written
/// by an older xtask no longer match.
const RECIPE: &str = "weir-python-guest-2";

/// Builds the Python guests that are out of date into
/// `<target_dir>/wasm32-wasip2/release/<example>.wasm` and copies every one
/// to `out_dir` (the documented `target/wasm32-wasip2/release`). Returns the
/// paths in `out_dir`.
pub fn build_python_guests(root: &Path, target_dir: &Path, out_dir: &Path) -> Result<Vec<PathBuf>> {
    let sdk = Sdk::checkout(root);
    let built_dir = target_dir.join("wasm32-wasip2").join("release");
    let stamps = target_dir.join("python-guests");
    let sdk_digest = digest_tree(&sdk.python(), &|path| !path.starts_with(sdk.python().join("tests")))?;
    let wit = digest_tree(&sdk.wit(), &|path| has_extension(path, "wit"))?;
    let mut venv = None;
    let mut outputs = Vec::new();
    for &(example, module) in PYTHON_GUESTS {
        let dir = root.join("examples").join(example);
        let files = files_under(&dir, &is_app_source)?;
        let mut sources = Digest::default();
        add_files(&mut sources, &dir, &files)?;
        let inputs = format!(
            "{RECIPE}\ncomponentize-py=={COMPONENTIZE_PY_VERSION}\nmodule={module}\nsources={:016x}\n\
             sdk={sdk_digest:016x}\nwit={wit:016x}\n",
            sources.finish()
        );
        let built = built_dir.join(format!("{example}.wasm"));
        let stamp = stamps.join(format!("{example}.inputs"));
        let fresh = built.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == inputs);
        if !fresh {
            if venv.is_none() {
                venv = Some(ensure_componentize_py(&target_dir.join("tools"), &sdk, &crate::step)?);
            }
            let venv = venv.as_ref().expect("set above");
            crate::step(&format!("building Python guest {example} (componentize-py, ~10 s)"));
            // Built from a copy of its sources under the target directory:
            // what was hashed is what is built, and the interpreter's
            // __pycache__ lands there rather than in the source tree.
            let staged = stage(&dir, &files, &stamps.join(example))?;
            componentize(venv, &sdk.wit(), &staged, module, &built)
                .with_context(|| format!("cannot build the Python guest {example}"))?;
            std::fs::create_dir_all(&stamps).with_context(|| format!("cannot create {}", stamps.display()))?;
            std::fs::write(&stamp, &inputs).with_context(|| format!("cannot write {}", stamp.display()))?;
        }
        let documented = out_dir.join(format!("{example}.wasm"));
        crate::copy_if_elsewhere(&built, &documented)?;
        outputs.push(documented);
    }
    Ok(outputs)
}

/// Runs the Python SDK's unit tests and every Python example's, with the
/// system's `python3` (CPython 3.9 or newer; nothing to install).
pub fn test_python(root: &Path) -> Result<()> {
    let python = find_python("the Python guests (examples/*-py) are built with componentize-py")?;
    crate::step("running the Python SDK's and examples' unit tests");
    let mut dirs = vec![root.join("guest-sdk/python/tests")];
    dirs.extend(PYTHON_GUESTS.iter().map(|(example, _)| root.join("examples").join(example)));
    for dir in dirs {
        crate::run(
            Command::new(&python)
                .args(["-m", "unittest", "discover", "-s"])
                .arg(&dir)
                .arg("-t")
                .arg(&dir)
                .current_dir(root)
                // No __pycache__ left in the source tree.
                .env("PYTHONDONTWRITEBYTECODE", "1"),
        )?;
    }
    Ok(())
}

/// A module an example's component is built from: any `.py` but its tests.
fn is_app_source(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    has_extension(path, "py") && !name.starts_with("test_")
}

fn has_extension(path: &Path, extension: &str) -> bool {
    path.extension().is_some_and(|e| e == extension)
}

/// Copies `files` (under `dir`) into a fresh `staging` directory, keeping
/// their paths relative to `dir`; returns `staging`.
fn stage(dir: &Path, files: &[PathBuf], staging: &Path) -> Result<PathBuf> {
    if staging.exists() {
        std::fs::remove_dir_all(staging).with_context(|| format!("cannot clear {}", staging.display()))?;
    }
    for file in files {
        let copy = staging.join(file.strip_prefix(dir).unwrap_or(file));
        let parent = copy.parent().expect("a file in a directory");
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        std::fs::copy(file, &copy).with_context(|| format!("cannot copy {} to {}", file.display(), copy.display()))?;
    }
    Ok(staging.to_owned())
}
