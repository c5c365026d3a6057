//! Python guests: operators written with the Python SDK (`guest-sdk/python`)
//! and turned into components by componentize-py.
//!
//! - [`ensure_componentize_py`]: a virtual environment at
//!   `<target>/tools/componentize-py-venv` holding the pinned componentize-py
//!   and the SDK (the `weir-operator` package), installed once and refreshed
//!   when the SDK's sources change.
//! - [`build_python_guests`]: builds every example of [`PYTHON_GUESTS`] into
//!   `<target>/wasm32-wasip2/release/<example>.wasm` and copies it to the
//!   documented directory, like the Rust guests. A build takes ~10 s and
//!   writes an ~18 MB component, so an example whose inputs (its sources but
//!   its `test_*.py`, the SDK's, the WIT files, the componentize-py version)
//!   hash as at the last build is skipped; the hashes are kept in
//!   `<target>/python-guests/<example>.inputs`, beside the staged copy of the
//!   sources the component was built from.
//! - [`test_python`]: the SDK's and the examples' unit tests, under the
//!   system's CPython (`unittest`, no install needed).

use std::collections::hash_map::DefaultHasher;
use std::fs::File;
use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::tools::{executable, find_python, quiet};

/// The componentize-py release the SDK's export glue is written against
/// (PyPI). Its generated export protocol changes between releases.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// The WIT world every operator targets (`wit/operator.wit`).
const WORLD: &str = "operator-component";

/// Python guests: the example's directory under `examples/` (also the name of
/// its `.wasm`) and the module componentize-py builds it from.
pub const PYTHON_GUESTS: &[(&str, &str)] = &[("counter-py", "counter"), ("dedup-py", "dedup")];

/// Bumped when the way a component is built changes, so that stamps written
/// by an older xtask no longer match.
const RECIPE: &str = "weir-python-guest-1";

/// Builds the Python guests that are out of date into
/// `<target_dir>/wasm32-wasip2/release/<example>.wasm` and copies every one
/// to `out_dir` (the documented `target/wasm32-wasip2/release`). Returns the
/// paths in `out_dir`.
pub fn build_python_guests(root: &Path, target_dir: &Path, out_dir: &Path) -> Result<Vec<PathBuf>> {
    let built_dir = target_dir.join("wasm32-wasip2").join("release");
    let stamps = target_dir.join("python-guests");
    let sdk = sdk_hash(root)?;
    let wit = hash_tree(&root.join("wit"), &|path| has_extension(path, "wit"))?;
    let mut venv: Option<Venv> = None;
    let mut outputs = Vec::new();
    for &(example, module) in PYTHON_GUESTS {
        let dir = root.join("examples").join(example);
        let files = list_files(&dir, &is_app_source)?;
        let sources = hash_files(&dir, &files)?;
        let inputs = format!(
            "{RECIPE}\ncomponentize-py=={COMPONENTIZE_PY_VERSION}\nmodule={module}\nsources={sources:016x}\n\
             sdk={sdk:016x}\nwit={wit:016x}\n"
        );
        let built = built_dir.join(format!("{example}.wasm"));
        let stamp = stamps.join(format!("{example}.inputs"));
        let fresh = built.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == inputs);
        if !fresh {
            if venv.is_none() {
                venv = Some(ensure_componentize_py(root, target_dir)?);
            }
            let venv = venv.as_ref().expect("set above");
            crate::step(&format!("building Python guest {example} (componentize-py, ~10 s)"));
            // Built from a copy of its sources under the target directory:
            // what was hashed is what is built, and the interpreter's
            // __pycache__ lands there rather than in the source tree.
            let staged = stage(&dir, &files, &stamps.join(example))?;
            componentize(root, venv, &staged, module, &built)?;
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

/// The virtual environment that builds Python guests.
pub struct Venv {
    /// The `componentize-py` executable.
    pub componentize_py: PathBuf,
    /// The venv's site-packages, where the SDK is installed.
    pub site_packages: PathBuf,
}

/// Makes sure `<target_dir>/tools/componentize-py-venv` holds the pinned
/// componentize-py and the current SDK. Quiet when there is nothing to do and
/// idempotent: a stamp written after a successful install records what is
/// installed; a venv without componentize-py or with another version is
/// rebuilt from scratch, a stale SDK is reinstalled on its own.
pub fn ensure_componentize_py(root: &Path, target_dir: &Path) -> Result<Venv> {
    let tools = target_dir.join("tools");
    let venv = tools.join("componentize-py-venv");
    let stamp = venv.join(".weir-installed");
    let componentize_py = executable(&venv, "componentize-py");
    let tool_line = format!("componentize-py=={COMPONENTIZE_PY_VERSION}");
    let wanted = format!("{tool_line}\nweir-operator {:016x}\n", sdk_hash(root)?);
    let installed = || componentize_py.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted);

    if !installed() {
        std::fs::create_dir_all(&tools).with_context(|| format!("cannot create {}", tools.display()))?;
        // Two xtasks at once (shared target directories) must not install
        // into the same venv together; the lock is released on drop.
        let lock_path = tools.join("componentize-py-venv.lock");
        let lock = File::create(&lock_path).with_context(|| format!("cannot create {}", lock_path.display()))?;
        lock.lock().with_context(|| format!("cannot lock {}", lock_path.display()))?;
        if !installed() {
            install(root, &venv, &stamp, &tool_line, &wanted)?;
        }
    }
    let output = quiet(
        Command::new(executable(&venv, "python"))
            .args(["-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]),
    )?;
    let site_packages = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    Ok(Venv { componentize_py, site_packages })
}

fn install(root: &Path, venv: &Path, stamp: &Path, tool_line: &str, wanted: &str) -> Result<()> {
    let venv_python = executable(venv, "python");
    let has_tool = executable(venv, "componentize-py").exists()
        && std::fs::read_to_string(stamp).is_ok_and(|s| s.lines().next() == Some(tool_line));
    if !has_tool {
        let python = find_python("the Python guests (examples/*-py) are built with componentize-py")?;
        crate::step(&format!("installing {tool_line} into {}", venv.display()));
        if venv.exists() {
            std::fs::remove_dir_all(venv).with_context(|| format!("cannot remove the stale {}", venv.display()))?;
        }
        quiet(Command::new(&python).args(["-m", "venv"]).arg(venv)).with_context(|| {
            format!(
                "cannot create a Python virtual environment at {} (on Debian/Ubuntu install the \
                 venv module: `apt-get install python3-venv`)",
                venv.display()
            )
        })?;
        quiet(pip(&venv_python).arg(tool_line))
            .with_context(|| format!("pip could not install {tool_line} (PyPI must be reachable)"))?;
        let version = quiet(Command::new(executable(venv, "componentize-py")).arg("--version"))?;
        let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
        if version != format!("componentize-py {COMPONENTIZE_PY_VERSION}") {
            bail!("{} reports `{version}`, expected componentize-py {COMPONENTIZE_PY_VERSION}", venv.display());
        }
    }
    // The SDK is installed as a package, as an operator author would, and
    // reinstalled whenever its sources change (`--force-reinstall`: the
    // version number does not change with them).
    let sdk = root.join("guest-sdk/python");
    crate::step(&format!("installing the Python SDK from {} into {}", sdk.display(), venv.display()));
    quiet(pip(&venv_python).args(["--no-deps", "--force-reinstall"]).arg(&sdk))
        .with_context(|| format!("pip could not install the Python SDK from {}", sdk.display()))?;
    std::fs::write(stamp, wanted).with_context(|| format!("cannot write {}", stamp.display()))?;
    Ok(())
}

fn pip(venv_python: &Path) -> Command {
    let mut command = Command::new(venv_python);
    command.args(["-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-input"]);
    command
}

/// Runs componentize-py on one example, writing `out` atomically (a failed
/// build leaves the previous component, and no stamp, behind).
fn componentize(root: &Path, venv: &Venv, dir: &Path, module: &str, out: &Path) -> Result<()> {
    if !dir.join(format!("{module}.py")).exists() {
        bail!("{} has no {module}.py to build a component from", dir.display());
    }
    let out_dir = out.parent().expect("a file in a directory");
    std::fs::create_dir_all(out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let partial = out.with_extension("wasm.partial");
    quiet(
        Command::new(&venv.componentize_py)
            .arg("--quiet")
            .arg("--wit-path")
            .arg(root.join("wit"))
            .args(["--world", WORLD, "componentize"])
            .arg("--python-path")
            .arg(dir)
            .arg("--python-path")
            .arg(&venv.site_packages)
            .arg(module)
            .arg("--output")
            .arg(&partial)
            .current_dir(dir)
            // The venv is named explicitly above; a caller's activated venv
            // must not add its packages to the component.
            .env_remove("VIRTUAL_ENV")
            .env("PYTHONDONTWRITEBYTECODE", "1"),
    )
    .with_context(|| format!("componentize-py could not build {}", dir.display()))?;
    std::fs::rename(&partial, out).with_context(|| format!("cannot move {} to {}", partial.display(), out.display()))
}

/// The SDK's installable sources: what a reinstall depends on.
fn sdk_hash(root: &Path) -> Result<u64> {
    let sdk = root.join("guest-sdk/python");
    let mut hasher = DefaultHasher::new();
    hash_file(&mut hasher, &sdk, &sdk.join("pyproject.toml"))?;
    hasher.write_u64(hash_tree(&sdk.join("src"), &|path| has_extension(path, "py"))?);
    Ok(hasher.finish())
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

/// The files under `dir` that `wanted` accepts, sorted; `__pycache__` and
/// hidden entries are skipped.
fn list_files(dir: &Path, wanted: &dyn Fn(&Path) -> bool) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    collect(dir, wanted, &mut files)?;
    files.sort();
    Ok(files)
}

/// A hash of the files under `dir` that `wanted` accepts.
fn hash_tree(dir: &Path, wanted: &dyn Fn(&Path) -> bool) -> Result<u64> {
    hash_files(dir, &list_files(dir, wanted)?)
}

/// A hash of the paths (relative to `dir`) and contents of `files`. Only
/// compared with itself (a stamp), so std's SipHash will do.
fn hash_files(dir: &Path, files: &[PathBuf]) -> Result<u64> {
    let mut hasher = DefaultHasher::new();
    for file in files {
        hash_file(&mut hasher, dir, file)?;
    }
    Ok(hasher.finish())
}

fn collect(dir: &Path, wanted: &dyn Fn(&Path) -> bool, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "__pycache__" {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect(&path, wanted, out)?;
        } else if wanted(&path) {
            out.push(path);
        }
    }
    Ok(())
}

fn hash_file(hasher: &mut DefaultHasher, base: &Path, file: &Path) -> Result<()> {
    let relative = file.strip_prefix(base).unwrap_or(file);
    let contents = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    hasher.write(relative.to_string_lossy().as_bytes());
    hasher.write_u8(0);
    hasher.write_usize(contents.len());
    hasher.write(&contents);
    Ok(())
}
