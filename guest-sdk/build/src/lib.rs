//! weir-build: operator projects, from `weir new` to a component.
//!
//! An operator project is a directory of one language's usual shape, outside
//! any Weir checkout: a cargo crate (`Cargo.toml`), a Python project
//! (`pyproject.toml`) or a Node package (`package.json`). This crate
//!
//! - writes one from a template ([`new_project`], `weir new`);
//! - turns one into a component at `<project>/build/<name>.wasm`
//!   ([`build`], `weir build`): cargo for Rust, componentize-py for Python,
//!   esbuild and componentize-js for JavaScript;
//! - runs its unit tests with the language's harness ([`test`], `weir test`).
//!
//! The tools are pinned and installed on first use into the user's Weir home
//! ([`weir_home`], `~/.cache/weir`), quietly and idempotently (`process`). The
//! SDKs travel inside the `weir` binary and are written there too ([`Sdk`]).
//! `cargo xtask build-guests` builds the repository's own examples with the
//! same functions ([`python`], [`js`], [`rust`]).
//!
//! This crate knows nothing of the host: it never runs a component.

mod digest;
mod error;
pub mod js;
mod new;
mod process;
pub mod python;
pub mod rust;
mod sdk;

use std::path::{Path, PathBuf};
use std::process::Command;

pub use digest::{Digest, add_files, any_file, digest_tree, files_under};
pub use error::{Error, Result};
pub use new::new_project;
pub use process::{check_node, find_python, venv_executable};
pub use sdk::{Sdk, weir_home};

use error::io;

/// Where progress goes: one line per long step ("installing ...",
/// "building ..."). The CLI logs it; `cargo xtask` prints it.
pub type Progress<'a> = &'a dyn Fn(&str);

/// The WIT world every operator targets (`wit/operator.wit`).
pub const WORLD: &str = "operator-component";

/// What a component may import (prefixes of interface names): the host
/// refuses a component that imports anything else, and `build` checks its
/// JS output against the same list. The host links these WASI interfaces
/// but grants nothing through them (no directory, no network: see
/// `host/src/guest/component.rs`).
pub const GRANTED_IMPORTS: &[&str] =
    &["wasi:cli/", "wasi:clocks/", "wasi:filesystem/", "wasi:io/", "wasi:random/", "wasi:sockets/", "weir:operator/"];

/// The languages an operator project can be written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    Rust,
    Python,
    JavaScript,
}

impl Language {
    /// `rust`, `python` or `js`, as `weir new --lang` takes them.
    pub fn parse(name: &str) -> Option<Language> {
        match name {
            "rust" | "rs" => Some(Language::Rust),
            "python" | "py" => Some(Language::Python),
            "js" | "javascript" => Some(Language::JavaScript),
            _ => None,
        }
    }
}

/// The SDKs and tools a build uses, and where it reports progress.
pub struct Toolbox<'a> {
    pub sdk: Sdk,
    /// Where the pinned tools are installed (`<home>/tools`).
    pub tools: PathBuf,
    pub progress: Progress<'a>,
}

impl<'a> Toolbox<'a> {
    /// The user's: the SDKs this binary carries and the tools, both in the
    /// Weir home.
    pub fn for_user(progress: Progress<'a>) -> Result<Toolbox<'a>> {
        let home = weir_home()?;
        Ok(Toolbox { sdk: Sdk::install(&home)?, tools: home.join("tools"), progress })
    }
}

/// An operator project found in a directory.
#[derive(Debug)]
pub struct Project {
    pub dir: PathBuf,
    pub language: Language,
    /// The project's name: its component is `build/<name>.wasm`.
    pub name: String,
    /// Python: the module componentize-py builds from; JavaScript: the
    /// entry module. Empty for Rust.
    pub entry: String,
}

impl Project {
    /// Reads the project at `dir` from its manifest.
    pub fn open(dir: &Path) -> Result<Project> {
        let dir = std::path::absolute(dir).map_err(io("resolve", dir))?;
        let manifest = |name: &str| dir.join(name);
        if manifest("Cargo.toml").exists() {
            let toml = read_toml(&manifest("Cargo.toml"))?;
            let name = string_at(&toml, &["package", "name"])
                .ok_or_else(|| missing(&manifest("Cargo.toml"), "package.name"))?;
            return Ok(Project { dir, language: Language::Rust, name, entry: String::new() });
        }
        if manifest("pyproject.toml").exists() {
            let path = manifest("pyproject.toml");
            let toml = read_toml(&path)?;
            let name = string_at(&toml, &["project", "name"]).ok_or_else(|| missing(&path, "project.name"))?;
            let entry = string_at(&toml, &["tool", "weir", "module"])
                .ok_or_else(|| missing(&path, "tool.weir.module (the module that calls weir.export_operator)"))?;
            return Ok(Project { dir, language: Language::Python, name, entry });
        }
        if manifest("package.json").exists() {
            let path = manifest("package.json");
            let text = std::fs::read_to_string(&path).map_err(io("read", &path))?;
            let json: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| Error::Project { path: path.clone(), reason: format!("is not JSON: {e}") })?;
            let name = json["name"].as_str().ok_or_else(|| missing(&path, "name"))?;
            // `@scope/name` names the component `name`.
            let name = name.rsplit('/').next().unwrap_or(name).to_owned();
            let entry = json["main"].as_str().unwrap_or("index.js").to_owned();
            return Ok(Project { dir, language: Language::JavaScript, name, entry });
        }
        Err(Error::Project {
            path: dir,
            reason: "is not an operator project: it has no Cargo.toml, pyproject.toml or package.json \
                     (`weir new NAME --lang rust|python|js` writes one)"
                .into(),
        })
    }

    /// Where [`build`] writes the component.
    pub fn component(&self) -> PathBuf {
        self.dir.join("build").join(format!("{}.wasm", self.name))
    }
}

fn missing(path: &Path, field: &str) -> Error {
    Error::Project { path: path.to_owned(), reason: format!("has no {field}") }
}

fn read_toml(path: &Path) -> Result<toml::Table> {
    let text = std::fs::read_to_string(path).map_err(io("read", path))?;
    text.parse().map_err(|e| Error::Project { path: path.to_owned(), reason: format!("is not valid TOML: {e}") })
}

fn string_at(table: &toml::Table, keys: &[&str]) -> Option<String> {
    let (last, parents) = keys.split_last()?;
    let mut table = table;
    for key in parents {
        table = table.get(*key)?.as_table()?;
    }
    table.get(*last)?.as_str().map(str::to_owned)
}

/// Builds the project into its component ([`Project::component`]); returns
/// that path.
pub fn build(project: &Project, toolbox: &Toolbox) -> Result<PathBuf> {
    let out = project.component();
    match project.language {
        Language::Rust => {
            (toolbox.progress)(&format!("building {} with cargo (wasm32-wasip2, release)", project.dir.display()));
            let built = rust::build_crate(&project.dir, toolbox.progress)?;
            write_atomically(&out, &mut |partial| {
                std::fs::copy(&built, partial).map(drop).map_err(io("copy", &built))
            })?;
        }
        Language::Python => {
            let venv = python::ensure_componentize_py(&toolbox.tools, &toolbox.sdk, toolbox.progress)?;
            (toolbox.progress)(&format!("building {} with componentize-py (~10 s)", project.dir.display()));
            python::componentize(&venv, &toolbox.sdk.wit(), &project.dir, &project.entry, &out)?;
        }
        Language::JavaScript => {
            let tools = js::ensure_js_tools(&toolbox.tools, toolbox.progress)?;
            install_node_dependencies(project, toolbox)?;
            (toolbox.progress)(&format!("building {} with esbuild and componentize-js (~15 s)", project.dir.display()));
            let bundle_dir = project.dir.join("build").join("bundle");
            let bundle = bundle_dir.join(format!("{}.js", project.name));
            js::bundle(&tools, &project.dir, &project.entry, &bundle)?;
            js::componentize(
                &tools,
                &toolbox.sdk.wit(),
                &bundle_dir,
                Path::new(&format!("{}.js", project.name)),
                &out,
            )?;
        }
    }
    Ok(out)
}

/// Runs the project's unit tests with its language's harness: `cargo test`,
/// `unittest` in the build venv (where the SDK is installed), `node --test`.
/// Their output is shown as it comes.
pub fn test(project: &Project, toolbox: &Toolbox) -> Result<()> {
    let mut command = match project.language {
        Language::Rust => {
            let mut command = rust::cargo();
            command.arg("test");
            command
        }
        Language::Python => {
            let venv = python::ensure_componentize_py(&toolbox.tools, &toolbox.sdk, toolbox.progress)?;
            let mut command = Command::new(&venv.python);
            command.args(["-m", "unittest", "discover", "-s", ".", "-t", "."]).env("PYTHONDONTWRITEBYTECODE", "1");
            command
        }
        Language::JavaScript => {
            check_node("JavaScript operators are tested with `node --test`, which")?;
            install_node_dependencies(project, toolbox)?;
            let mut command = Command::new("node");
            command.arg("--test");
            command
        }
    };
    process::visible(command.current_dir(&project.dir))
}

/// `npm install` in a JS project whose dependencies are not all in its
/// `node_modules` yet (the SDK is a `file:` dependency: no network needed).
fn install_node_dependencies(project: &Project, toolbox: &Toolbox) -> Result<()> {
    let path = project.dir.join("package.json");
    let text = std::fs::read_to_string(&path).map_err(io("read", &path))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::Project { path: path.clone(), reason: format!("is not JSON: {e}") })?;
    let dependencies = json["dependencies"].as_object().cloned().unwrap_or_default();
    let modules = project.dir.join("node_modules");
    if dependencies.keys().all(|name| modules.join(name).exists()) {
        return Ok(());
    }
    (toolbox.progress)(&format!("installing the npm dependencies of {}", project.dir.display()));
    process::quiet(
        Command::new(process::npm())
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&project.dir),
        Some("see package.json's dependencies"),
    )
    .map(drop)
}

/// Writes `out` through `write` into `out.partial`, then renames it: a
/// failure halfway never leaves a file that looks finished.
pub fn write_atomically(out: &Path, write: &mut dyn FnMut(&Path) -> Result<()>) -> Result<()> {
    let dir = out.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io("create", dir))?;
    let mut partial = out.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let _ = std::fs::remove_file(&partial);
    write(&partial)?;
    std::fs::rename(&partial, out).map_err(io("move into place", out))
}
