//! Python operators: componentize-py, pinned, in a virtual environment of
//! its own with the SDK installed as the package `weir-operator`, exactly
//! as an operator author would `pip install` it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::digest::digest_tree;
use crate::error::{Error, Result};
use crate::process::{Install, find_python, fresh_dir, quiet, venv_executable};
use crate::{Progress, Sdk, WORLD};

/// The componentize-py release the SDK's export glue is written against
/// (PyPI). Its generated export protocol changes between releases.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

const NEEDED_BY: &str = "Python operators are built with componentize-py";

/// A virtual environment that builds Python operators.
pub struct Venv {
    /// The venv's directory.
    pub dir: PathBuf,
    /// The `componentize-py` executable.
    pub componentize_py: PathBuf,
    /// The venv's interpreter: the SDK imports in it (unit tests run here).
    pub python: PathBuf,
    /// The venv's site-packages, where the SDK is installed.
    pub site_packages: PathBuf,
}

/// Makes sure `<tools>/componentize-py-<version>` holds the pinned
/// componentize-py and `sdk`'s Python package. Quiet when there is nothing to
/// do; idempotent: a venv without the tool, or with another version, is
/// rebuilt from scratch, a changed SDK is reinstalled on its own.
pub fn ensure_componentize_py(tools: &Path, sdk: &Sdk, progress: Progress) -> Result<Venv> {
    let dir = tools.join(format!("componentize-py-{COMPONENTIZE_PY_VERSION}"));
    let componentize_py = venv_executable(&dir, "componentize-py");
    let python = venv_executable(&dir, "python");
    let tool_line = format!("componentize-py=={COMPONENTIZE_PY_VERSION}");
    let sdk_digest = digest_tree(&sdk.python(), &|path| {
        path.extension().is_some_and(|e| e == "py") || path.ends_with("pyproject.toml") || path.ends_with("README.md")
    })?;
    let install = Install { dir: &dir, wanted: format!("{tool_line}\nweir-operator {sdk_digest:016x}\n") };
    install.ensure(&|| componentize_py.exists() && python.exists(), &mut || {
        let has_tool = componentize_py.exists() && install.recorded().is_some_and(|s| s.starts_with(&tool_line));
        if !has_tool {
            create_venv(&dir, &tool_line, NEEDED_BY, progress)?;
            let version = quiet(Command::new(&componentize_py).arg("--version"), None)?;
            let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
            if version != format!("componentize-py {COMPONENTIZE_PY_VERSION}") {
                return Err(Error::Unexpected(format!(
                    "{} reports `{version}`, expected componentize-py {COMPONENTIZE_PY_VERSION}",
                    dir.display()
                )));
            }
        }
        // `--force-reinstall`: the SDK's version number does not change
        // with its sources.
        progress(&format!("installing the Python SDK from {} into {}", sdk.python().display(), dir.display()));
        quiet(pip(&python).args(["--no-deps", "--force-reinstall"]).arg(sdk.python()), Some("PyPI must be reachable"))?;
        Ok(())
    })?;
    let output =
        quiet(Command::new(&python).args(["-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]), None)?;
    let site_packages = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    Ok(Venv { dir, componentize_py, python, site_packages })
}

/// A virtual environment at `dir` holding the pinned `requirement` from
/// PyPI (a tool such as `moto[server]==5.2.5`), installed once: quiet when
/// there is nothing to do, rebuilt from scratch when its stamp says
/// otherwise, under a lock. `verify` checks the result (the version a tool
/// reports) before the stamp is written. Returns the venv's interpreter.
pub fn ensure_tool_venv(
    dir: &Path,
    requirement: &str,
    needed_by: &str,
    progress: Progress,
    verify: &dyn Fn(&Path) -> Result<()>,
) -> Result<PathBuf> {
    let python = venv_executable(dir, "python");
    let install = Install { dir, wanted: format!("{requirement}\n") };
    install.ensure(&|| python.exists(), &mut || {
        create_venv(dir, requirement, needed_by, progress)?;
        verify(&python)
    })?;
    Ok(python)
}

/// A fresh venv at `dir` with `requirement` installed by pip.
fn create_venv(dir: &Path, requirement: &str, needed_by: &str, progress: Progress) -> Result<()> {
    let system_python = find_python(needed_by)?;
    progress(&format!("installing {requirement} into {}", dir.display()));
    fresh_dir(dir)?;
    quiet(
        Command::new(&system_python).args(["-m", "venv"]).arg(dir),
        Some("on Debian/Ubuntu install the venv module: `apt-get install python3-venv`"),
    )?;
    quiet(pip(&venv_executable(dir, "python")).arg(requirement), Some("PyPI must be reachable")).map(drop)
}

fn pip(python: &Path) -> Command {
    let mut command = Command::new(python);
    command.args(["-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-input"]);
    command
}

/// Runs componentize-py on the module `module` (a `module.py` in `dir`),
/// writing `out` atomically: a failed build leaves the previous component.
pub fn componentize(venv: &Venv, wit: &Path, dir: &Path, module: &str, out: &Path) -> Result<()> {
    if !dir.join(format!("{module}.py")).exists() {
        return Err(Error::Project {
            path: dir.to_owned(),
            reason: format!("has no {module}.py to build a component from"),
        });
    }
    crate::write_atomically(out, &mut |partial| {
        quiet(
            Command::new(&venv.componentize_py)
                .arg("--quiet")
                .arg("--wit-path")
                .arg(wit)
                .args(["--world", WORLD, "componentize"])
                .arg("--python-path")
                .arg(dir)
                .arg("--python-path")
                .arg(&venv.site_packages)
                .arg(module)
                .arg("--output")
                .arg(partial)
                .current_dir(dir)
                // The venv is named explicitly above; a caller's activated
                // venv must not add its packages to the component.
                .env_remove("VIRTUAL_ENV")
                .env("PYTHONDONTWRITEBYTECODE", "1"),
            None,
        )
        .map(drop)
    })
}
