//! JavaScript guests: the examples written against the JS SDK
//! (`guest-sdk/js`), compiled into components with componentize-js through
//! `weir_build::js`, the code `weir build` runs for operator authors.
//!
//! - componentize-js, jco and esbuild are installed with npm into
//!   `<target>/tools/componentize-js-<version>`, once per pinned version.
//!   Node.js 18 or newer with npm must be on the `PATH`.
//! - Each example `examples/<name>/index.js` of [`JS_GUESTS`] becomes
//!   `<target>/wasm32-wasip2/release/<name>.wasm`, copied to the documented
//!   `target/wasm32-wasip2/release/<name>.wasm` (see [`build_js_guests`]).
//!   A stamp holds a digest of the inputs (the example's folder, the SDK's
//!   `src`, `wit/*.wit` and the tool versions): unchanged inputs are not
//!   rebuilt, since one build takes 5-15 s and a component is ~12 MB.
//!
//! The examples import the SDK by relative path
//! (`../../guest-sdk/js/src/...`) and componentize-js maps the current
//! directory into the build, so they build from the repository's root with
//! no bundle; an operator project outside the checkout imports
//! `@weir/operator` and `weir build` bundles it first.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use weir_build::js::{DISABLED_FEATURES, componentize, ensure_js_tools, requirements};
use weir_build::{Digest, WORLD, add_files, any_file, check_node, files_under};

/// The JavaScript examples: each is `examples/<name>/index.js`, built into
/// `<name>.wasm`.
pub const JS_GUESTS: &[&str] = &["counter-js", "dedup-js", "session-js"];

/// The SDK's sources, bundled into every JS guest.
const SDK_SOURCES: &str = "guest-sdk/js/src";

const NEEDED_BY: &str = "the JavaScript guests (examples/*-js) are built with componentize-js, which";

/// Builds every example of [`JS_GUESTS`] into
/// `<target_dir>/wasm32-wasip2/release/<name>.wasm` (skipped when its inputs
/// did not change since the last build) and copies it into `out_dir` (the
/// documented `target/wasm32-wasip2/release`).
pub fn build_js_guests(root: &Path, target_dir: &Path, out_dir: &Path) -> Result<()> {
    let built_dir = target_dir.join("wasm32-wasip2").join("release");
    let stamps = target_dir.join("js-guests");
    let mut tools = None;
    for name in JS_GUESTS {
        let entry = Path::new("examples").join(name).join("index.js");
        if !root.join(&entry).exists() {
            bail!("the JS guest {name} has no entry module {}", root.join(&entry).display());
        }
        let output = built_dir.join(format!("{name}.wasm"));
        let stamp = stamps.join(format!("{name}.digest"));
        let digest = format!("{:016x}\n", inputs_digest(root, name)?);
        let fresh = output.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == digest);
        if !fresh {
            if tools.is_none() {
                tools = Some(ensure_js_tools(&target_dir.join("tools"), &crate::step)?);
            }
            let tools = tools.as_ref().expect("installed just above");
            crate::step(&format!("building JS guest {name} with componentize-js"));
            componentize(tools, &root.join("wit"), root, &entry, &output)
                .with_context(|| format!("componentize-js could not build {}", entry.display()))?;
            std::fs::create_dir_all(&stamps).with_context(|| format!("cannot create {}", stamps.display()))?;
            std::fs::write(&stamp, &digest).with_context(|| format!("cannot write {}", stamp.display()))?;
        }
        copy_if_changed(&output, &out_dir.join(format!("{name}.wasm")))?;
    }
    Ok(())
}

/// Runs the JavaScript unit tests under Node: the SDK's (`guest-sdk/js/test`)
/// and each example's (`examples/<name>/*.test.js`), with `node --test`.
pub fn test_js(root: &Path) -> Result<()> {
    check_node(NEEDED_BY)?;
    crate::step("running the JavaScript tests (node --test)");
    let mut command = Command::new("node");
    command.arg("--test").arg(Path::new(SDK_SOURCES).with_file_name("test"));
    for name in JS_GUESTS {
        command.arg(Path::new("examples").join(name));
    }
    let status = command.current_dir(root).status().context("cannot run node --test")?;
    if !status.success() {
        bail!("the JavaScript tests failed ({status})");
    }
    Ok(())
}

/// A digest of everything a JS guest's component is built from: the tool
/// versions and options, the example's folder, the SDK's sources and the
/// WIT files.
fn inputs_digest(root: &Path, name: &str) -> Result<u64> {
    let mut files: Vec<PathBuf> = files_under(&root.join("examples").join(name), &any_file)?;
    files.extend(files_under(&root.join(SDK_SOURCES), &any_file)?);
    files.extend(files_under(&root.join("wit"), &|path| {
        path.extension().is_some_and(|ext| ext == "wit") || path.components().any(|c| c.as_os_str() == "deps")
    })?);
    files.sort();
    let mut digest = Digest::default();
    for part in requirements().iter().map(String::as_str).chain([WORLD]).chain(DISABLED_FEATURES.iter().copied()) {
        digest.write_part(part.as_bytes());
    }
    add_files(&mut digest, root, &files)?;
    Ok(digest.finish())
}

/// Copies `from` to `to` unless they are the same file or `to` already has
/// the same contents.
fn copy_if_changed(from: &Path, to: &Path) -> Result<()> {
    if to.exists() && std::fs::read(from).ok() == std::fs::read(to).ok() {
        return Ok(());
    }
    crate::copy_if_elsewhere(from, to)
}
