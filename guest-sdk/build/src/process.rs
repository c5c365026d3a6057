//! Running the tools (cargo, python, node, npm, componentize-*) and
//! installing them once: captured output shown only on failure, clear
//! messages when a tool is missing, and a lock plus a stamp file so that
//! two builds at once never install into the same folder together and a
//! half-finished install is never taken for a finished one.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::error::{Error, Result, io};

/// Runs `command` with its output captured; a failure carries the output.
pub(crate) fn quiet(command: &mut Command, help: Option<&str>) -> Result<Output> {
    let line = describe(command);
    let output = command.output().map_err(|source| Error::Spawn {
        command: line.clone(),
        help: help.map(str::to_owned),
        source,
    })?;
    if !output.status.success() {
        return Err(Error::Command {
            command: line,
            status: output.status.to_string(),
            output: String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr),
            help: help.map(str::to_owned),
        });
    }
    Ok(output)
}

/// Runs `command` with its output shown as it goes (tests, cargo builds).
pub(crate) fn visible(command: &mut Command) -> Result<()> {
    let line = describe(command);
    let status = command.status().map_err(|source| Error::Spawn { command: line.clone(), help: None, source })?;
    if !status.success() {
        return Err(Error::Command { command: line, status: status.to_string(), output: String::new(), help: None });
    }
    Ok(())
}

/// `program arg arg` as a person would type it.
pub(crate) fn describe(command: &Command) -> String {
    let mut line = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

/// Directory of a virtual environment's executables.
pub fn venv_bin(venv: &Path) -> PathBuf {
    if cfg!(windows) { venv.join("Scripts") } else { venv.join("bin") }
}

/// An executable `name` of the virtual environment `venv`.
pub fn venv_executable(venv: &Path, name: &str) -> PathBuf {
    venv_bin(venv).join(if cfg!(windows) { format!("{name}.exe") } else { name.to_owned() })
}

/// The Python 3 interpreter that creates virtual environments; `needed_by`
/// says in the error what needs it.
pub fn find_python(needed_by: &str) -> Result<PathBuf> {
    for candidate in ["python3", "python"] {
        let Ok(output) = Command::new(candidate).arg("--version").output() else { continue };
        let version = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
        if output.status.success() && version.trim().starts_with("Python 3") {
            return Ok(candidate.into());
        }
    }
    Err(Error::MissingTool {
        tool: "python3",
        reason: format!("was not found ({needed_by})"),
        help: "install Python 3.9 or newer with pip and venv (on Debian/Ubuntu: `apt-get install python3 \
               python3-venv`; on macOS: `brew install python`)"
            .into(),
    })
}

/// Fails with a clear message unless Node.js 18 or newer and npm run.
pub fn check_node(needed_by: &str) -> Result<()> {
    let help = || {
        format!(
            "{needed_by} needs Node.js 18 or newer and npm (on Debian/Ubuntu: `apt-get install nodejs npm`; on \
             macOS: `brew install node`; or https://nodejs.org)"
        )
    };
    let version = match Command::new("node").arg("--version").output() {
        Ok(output) if output.status.success() => String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        _ => return Err(Error::MissingTool { tool: "node", reason: "was not found".into(), help: help() }),
    };
    let major: u32 = version.trim_start_matches('v').split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
    if major < 18 {
        return Err(Error::MissingTool { tool: "node", reason: format!("{version} is too old"), help: help() });
    }
    if !Command::new(npm()).arg("--version").output().is_ok_and(|output| output.status.success()) {
        return Err(Error::MissingTool {
            tool: "npm",
            reason: format!("was not found (node {version} is)"),
            help: help(),
        });
    }
    Ok(())
}

pub(crate) fn npm() -> &'static str {
    if cfg!(windows) { "npm.cmd" } else { "npm" }
}

/// An installation of a pinned tool into `dir`, recorded by a stamp file
/// `dir/.weir-installed` that holds `wanted` (what is installed: versions,
/// digests). [`Install::ensure`] installs when the stamp says otherwise,
/// under a lock beside `dir`.
pub(crate) struct Install<'a> {
    pub dir: &'a Path,
    pub wanted: String,
}

impl Install<'_> {
    fn stamp(&self) -> PathBuf {
        self.dir.join(".weir-installed")
    }

    /// What the stamp holds, if anything.
    pub fn recorded(&self) -> Option<String> {
        std::fs::read_to_string(self.stamp()).ok()
    }

    fn is_current(&self, present: &dyn Fn() -> bool) -> bool {
        present() && self.recorded().is_some_and(|s| s == self.wanted)
    }

    /// Runs `install` unless the stamp holds `wanted` and `present` says
    /// the tool's files are there; writes the stamp after it succeeds.
    pub fn ensure(&self, present: &dyn Fn() -> bool, install: &mut dyn FnMut() -> Result<()>) -> Result<()> {
        if self.is_current(present) {
            return Ok(());
        }
        let parent = self.dir.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(io("create", parent))?;
        let lock_path = self.dir.with_extension("lock");
        let lock = File::create(&lock_path).map_err(io("create", &lock_path))?;
        lock.lock().map_err(io("lock", &lock_path))?;
        if self.is_current(present) {
            return Ok(());
        }
        install()?;
        if !present() {
            return Err(Error::Unexpected(format!("the install into {} left its tools missing", self.dir.display())));
        }
        std::fs::write(self.stamp(), &self.wanted).map_err(io("write", self.stamp()))
    }
}

/// Removes `dir` when it exists (a stale install), then creates it empty.
pub(crate) fn fresh_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io("remove the stale", dir))?;
    }
    std::fs::create_dir_all(dir).map_err(io("create", dir))
}
