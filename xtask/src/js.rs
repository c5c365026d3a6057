//! JavaScript guests: the examples written against the JS SDK
//! (`guest-sdk/js`), compiled into components with componentize-js.
//!
//! - componentize-js, and the jco it runs on, are installed with npm into
//!   `<target>/tools/componentize-js-<version>`, once per pinned version
//!   (see [`ensure_componentize_js`]). Node.js 18 or newer with npm must be
//!   on the `PATH`; nothing outside the target directory changes.
//! - Each example `examples/<name>/index.js` of [`JS_GUESTS`] becomes
//!   `<target>/wasm32-wasip2/release/<name>.wasm`, copied to the documented
//!   `target/wasm32-wasip2/release/<name>.wasm` (see [`build_js_guests`]).
//!   A stamp holds a digest of the inputs (the example's folder, the SDK's
//!   `src`, `wit/*.wit` and the tool versions): unchanged inputs are not
//!   rebuilt, since one build takes 5-15 s and a component is ~12 MB.
//!
//! componentize-js takes one ES module and loads the modules it imports by
//! relative path while it pre-initializes the engine (it maps the current
//! directory into the build), so the examples import the SDK as
//! `../../guest-sdk/js/src/...` and the build runs from the repository's
//! root: no bundler is needed.
//!
//! The engine's `http` and `fetch-event` features are disabled: they import
//! `wasi:http`, which the host refuses. `stdio`, `clocks` and `random` stay:
//! without them `console.log` or `Date.now()` trap the guest, and their WASI
//! imports (cli, io, clocks, filesystem, random) are ones the host grants.
//! After each build the component's imports are listed with `jco wit` and
//! checked against that list, so a refused import fails here, by name.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::tools::quiet;

/// The componentize-js release the JS guests are built with (npm).
pub const COMPONENTIZE_JS_VERSION: &str = "0.23.0";
/// The jco release componentize-js runs on; pinned so that an install today
/// and one next month build the same components.
pub const JCO_VERSION: &str = "1.35.0";

/// The JavaScript examples: each is `examples/<name>/index.js`, built into
/// `<name>.wasm`.
pub const JS_GUESTS: &[&str] = &["counter-js", "dedup-js"];

/// The WIT world the guests target, from `wit/`.
const WORLD: &str = "operator-component";

/// componentize-js engine features turned off (see the module docs).
const DISABLED_FEATURES: &[&str] = &["http", "fetch-event"];

/// What a component may import: the host's `GRANTED_IMPORTS`
/// (`host/src/guest/component.rs`).
const GRANTED_IMPORTS: &[&str] =
    &["wasi:cli/", "wasi:clocks/", "wasi:filesystem/", "wasi:io/", "wasi:random/", "weir:operator/"];

/// The SDK's sources, bundled into every JS guest.
const SDK_SOURCES: &str = "guest-sdk/js/src";

/// The npm packages installed, exactly.
fn requirements() -> [String; 2] {
    [
        format!("@bytecodealliance/componentize-js@{COMPONENTIZE_JS_VERSION}"),
        format!("@bytecodealliance/jco@{JCO_VERSION}"),
    ]
}

/// The installed tools: componentize-js's and jco's command-line scripts.
pub struct JsTools {
    pub componentize_js: PathBuf,
    pub jco: PathBuf,
}

/// Makes sure `<target_dir>/tools/componentize-js-<version>` holds the pinned
/// componentize-js and jco; returns their scripts (run them with `node`).
/// Quiet when there is nothing to do, and idempotent: a stamp file written
/// after a successful install records the packages, and a folder whose stamp
/// does not match is installed again from scratch.
pub fn ensure_componentize_js(target_dir: &Path) -> Result<JsTools> {
    let tools = target_dir.join("tools");
    let dir = tools.join(format!("componentize-js-{COMPONENTIZE_JS_VERSION}"));
    let modules = dir.join("node_modules").join("@bytecodealliance");
    let found = JsTools {
        componentize_js: modules.join("componentize-js").join("src").join("cli.js"),
        jco: modules.join("jco").join("dist").join("jco.js"),
    };
    let stamp = dir.join(".weir-installed");
    let wanted = requirements().join(" ");
    let installed = |stamp: &Path| {
        found.componentize_js.exists()
            && found.jco.exists()
            && std::fs::read_to_string(stamp).is_ok_and(|s| s.trim() == wanted)
    };

    if installed(&stamp) {
        return Ok(found);
    }
    std::fs::create_dir_all(&tools).with_context(|| format!("cannot create {}", tools.display()))?;
    // Two builds at once (shared target directories) must not install into
    // the same folder together; the lock is released on drop.
    let lock_path = tools.join("componentize-js.lock");
    let lock = File::create(&lock_path).with_context(|| format!("cannot create {}", lock_path.display()))?;
    lock.lock().with_context(|| format!("cannot lock {}", lock_path.display()))?;
    if installed(&stamp) {
        return Ok(found);
    }

    check_node()?;
    crate::step(&format!("installing {wanted} into {}", dir.display()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove the stale {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // A package.json of its own keeps npm from looking for one further up.
    let manifest = dir.join("package.json");
    std::fs::write(&manifest, "{ \"name\": \"weir-js-tools\", \"private\": true }\n")
        .with_context(|| format!("cannot write {}", manifest.display()))?;
    quiet(
        Command::new(npm())
            .args(["install", "--save-exact", "--no-audit", "--no-fund", "--loglevel=error", "--prefix"])
            .arg(&dir)
            .args(requirements()),
    )
    .with_context(|| format!("npm could not install {wanted} (the npm registry must be reachable)"))?;
    for script in [&found.componentize_js, &found.jco] {
        if !script.exists() {
            bail!("{wanted} is installed but {} is missing", script.display());
        }
    }
    std::fs::write(&stamp, format!("{wanted}\n")).with_context(|| format!("cannot write {}", stamp.display()))?;
    Ok(found)
}

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
                check_node()?;
                tools = Some(ensure_componentize_js(target_dir)?);
            }
            let tools = tools.as_ref().expect("installed just above");
            crate::step(&format!("building JS guest {name} with componentize-js"));
            build_one(root, tools, &entry, &output)?;
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
    check_node()?;
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

/// Compiles one entry module (relative to `root`) into a component at
/// `output`, then checks it.
fn build_one(root: &Path, tools: &JsTools, entry: &Path, output: &Path) -> Result<()> {
    let dir = output.parent().context("the output has a folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // Written aside, then renamed: a build that fails halfway never leaves a
    // component that looks finished.
    let partial = output.with_extension("wasm.partial");
    let _ = std::fs::remove_file(&partial);
    let mut command = Command::new("node");
    command
        .arg(&tools.componentize_js)
        // Relative to the root, which componentize-js maps into the build so
        // that the example's relative imports of the SDK resolve.
        .arg(entry)
        .arg("--wit")
        .arg("wit")
        .args(["--world-name", WORLD, "--disable"])
        .args(DISABLED_FEATURES)
        .arg("--out")
        .arg(&partial)
        .current_dir(root);
    quiet(&mut command).with_context(|| format!("componentize-js could not build {}", entry.display()))?;
    check_component(tools, root, &partial)
        .with_context(|| format!("componentize-js built a bad {}", entry.display()))?;
    std::fs::rename(&partial, output)
        .with_context(|| format!("cannot move {} to {}", partial.display(), output.display()))?;
    Ok(())
}

/// Checks that a file is a component (not a core module) that imports only
/// what the host grants.
fn check_component(tools: &JsTools, root: &Path, path: &Path) -> Result<()> {
    let mut header = [0u8; 8];
    File::open(path)
        .and_then(|mut file| file.read_exact(&mut header))
        .with_context(|| format!("cannot read {}", path.display()))?;
    // `\0asm`, then the component layer's version 0x0d and layer 1.
    if header != [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00] {
        bail!("{} is not a WebAssembly component (header {header:02x?})", path.display());
    }
    let wit = quiet(Command::new("node").arg(&tools.jco).arg("wit").arg(path).current_dir(root))?;
    let wit = String::from_utf8_lossy(&wit.stdout);
    let imports: Vec<&str> = wit
        .lines()
        .filter_map(|line| line.trim().strip_prefix("import "))
        .map(|import| import.trim_end_matches(';'))
        .collect();
    let refused: Vec<&str> = imports
        .iter()
        .copied()
        .filter(|import| !GRANTED_IMPORTS.iter().any(|granted| import.starts_with(granted)))
        .collect();
    if !refused.is_empty() {
        bail!(
            "the component imports {}, which the host refuses (it grants {}); all its imports: {}",
            refused.join(", "),
            GRANTED_IMPORTS.join(" "),
            imports.join(", ")
        );
    }
    if !wit.lines().any(|line| line.trim() == "export weir:operator/operator@0.1.0;") {
        bail!("the component does not export weir:operator/operator@0.1.0:\n{wit}");
    }
    Ok(())
}

/// A digest of everything a JS guest's component is built from: the tool
/// versions and options, the example's folder, the SDK's sources and the
/// WIT files. FNV-1a (64 bits): a change detector, not a security measure.
fn inputs_digest(root: &Path, name: &str) -> Result<u64> {
    let mut files = Vec::new();
    collect_files(root, &root.join("examples").join(name), &mut files)?;
    collect_files(root, &root.join(SDK_SOURCES), &mut files)?;
    let wit = root.join("wit");
    for entry in std::fs::read_dir(&wit).with_context(|| format!("cannot list {}", wit.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "wit") {
            files.push(path.strip_prefix(root).unwrap_or(&path).to_owned());
        }
    }
    if wit.join("deps").is_dir() {
        collect_files(root, &wit.join("deps"), &mut files)?;
    }
    files.sort();

    let mut hash = Fnv::new();
    for part in requirements().iter().map(String::as_str).chain([WORLD]).chain(DISABLED_FEATURES.iter().copied()) {
        hash.write(part.as_bytes());
        hash.write(&[0]);
    }
    for file in files {
        let contents = std::fs::read(root.join(&file)).with_context(|| format!("cannot read {}", file.display()))?;
        hash.write(file.to_string_lossy().as_bytes());
        hash.write(&[0]);
        hash.write(&(contents.len() as u64).to_le_bytes());
        hash.write(&contents);
    }
    Ok(hash.0)
}

/// Every file under `dir` (relative to `root`), skipping `node_modules` and
/// hidden entries.
fn collect_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "node_modules" {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect_files(root, &path, out)?;
        } else {
            out.push(path.strip_prefix(root).unwrap_or(&path).to_owned());
        }
    }
    Ok(())
}

struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Copies `from` to `to` unless they are the same file or `to` already has
/// the same contents.
fn copy_if_changed(from: &Path, to: &Path) -> Result<()> {
    if to.exists() && std::fs::read(from).ok() == std::fs::read(to).ok() {
        return Ok(());
    }
    crate::copy_if_elsewhere(from, to)
}

/// Fails with a clear message unless Node.js 18 or newer and npm run.
fn check_node() -> Result<()> {
    const HELP: &str = "the JavaScript guests (examples/*-js) are built with componentize-js, which needs \
                        Node.js 18 or newer and npm (on Debian/Ubuntu: `apt-get install nodejs npm`; on \
                        macOS: `brew install node`; or https://nodejs.org)";
    let version = Command::new("node").arg("--version").output();
    let version = match version {
        Ok(output) if output.status.success() => String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        _ => bail!("node was not found: {HELP}"),
    };
    let major: u32 = version.trim_start_matches('v').split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
    if major < 18 {
        bail!("node {version} is too old: {HELP}");
    }
    if !Command::new(npm()).arg("--version").output().is_ok_and(|output| output.status.success()) {
        bail!("npm was not found (node {version} is): {HELP}");
    }
    Ok(())
}

fn npm() -> &'static str {
    if cfg!(windows) { "npm.cmd" } else { "npm" }
}
