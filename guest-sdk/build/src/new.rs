//! `weir new`: a small operator project from a template (`templates/`): the
//! operator (keyed, with state), its unit tests in the language's harness, a
//! job file that runs it with checkpoints, and a README of three commands.
//! The SDK dependency points at the SDK this binary carries, written into
//! the Weir home ([`Sdk::install`]); the template says how to point it
//! elsewhere.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result, io};
use crate::{Language, Sdk};

const JOB: &str = include_str!("../templates/job.toml");
const README: &str = include_str!("../templates/README.md");
const GITIGNORE: &str = include_str!("../templates/gitignore");

/// The files of each language's template: (path in the project, template).
/// `{{module}}` in a path is replaced like in the contents.
fn template_files(language: Language) -> &'static [(&'static str, &'static str)] {
    match language {
        Language::Rust => &[
            ("Cargo.toml", include_str!("../templates/rust/Cargo.toml")),
            ("src/lib.rs", include_str!("../templates/rust/src/lib.rs")),
        ],
        Language::Python => &[
            ("pyproject.toml", include_str!("../templates/python/pyproject.toml")),
            ("{{module}}.py", include_str!("../templates/python/operator.py")),
            ("test_{{module}}.py", include_str!("../templates/python/test_operator.py")),
        ],
        Language::JavaScript => &[
            ("package.json", include_str!("../templates/js/package.json")),
            ("index.js", include_str!("../templates/js/index.js")),
            ("operator.js", include_str!("../templates/js/operator.js")),
            ("operator.test.js", include_str!("../templates/js/operator.test.js")),
        ],
    }
}

/// Writes a new project of `language` into `dir`, which must not exist or be
/// empty; its name is the directory's. Returns the files written.
pub fn new_project(dir: &Path, language: Language, sdk: &Sdk) -> Result<Vec<PathBuf>> {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
    check_name(&name).map_err(|reason| Error::Project { path: dir.to_owned(), reason })?;
    if dir.exists() && std::fs::read_dir(dir).map_err(io("list", dir))?.next().is_some() {
        return Err(Error::Project { path: dir.to_owned(), reason: "exists and is not empty".into() });
    }
    let module = name.replace('-', "_");
    // Forward slashes: valid in TOML and JSON strings on every platform.
    let path_text = |path: PathBuf| path.display().to_string().replace('\\', "/");
    let (language_name, harness, sdk_note) = match language {
        Language::Rust => ("Rust", "cargo test", "`weir-guest`, a path dependency in Cargo.toml."),
        Language::Python => ("Python", "unittest", "the package `weir-operator`, see pyproject.toml."),
        Language::JavaScript => ("JavaScript", "node --test", "the package `@weir/operator`, see package.json."),
    };
    let values = [
        ("{{name}}", name.clone()),
        ("{{module}}", module),
        ("{{language}}", language_name.to_owned()),
        ("{{test_harness}}", harness.to_owned()),
        ("{{sdk_note}}", sdk_note.to_owned()),
        ("{{weir_version}}", env!("CARGO_PKG_VERSION").to_owned()),
        ("{{rust_version}}", env!("CARGO_PKG_RUST_VERSION").to_owned()),
        ("{{sdk_rust}}", path_text(sdk.rust())),
        ("{{sdk_python}}", path_text(sdk.python())),
        ("{{sdk_js}}", path_text(sdk.js())),
    ];
    let fill = |template: &str| values.iter().fold(template.to_owned(), |text, (from, to)| text.replace(from, to));

    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("job.toml".into(), fill(JOB).into_bytes()),
        ("README.md".into(), fill(README).into_bytes()),
        (".gitignore".into(), GITIGNORE.as_bytes().to_vec()),
    ];
    files.extend(template_files(language).iter().map(|(path, text)| (fill(path), fill(text).into_bytes())));
    if language == Language::Rust {
        // The versions the SDK was tested with; cargo drops what is unused.
        files.push(("Cargo.lock".into(), crate::sdk::lock_file().to_vec()));
    }
    let mut written = Vec::new();
    for (path, contents) in files {
        let path = dir.join(path);
        let parent = path.parent().unwrap_or(dir);
        std::fs::create_dir_all(parent).map_err(io("create", parent))?;
        std::fs::write(&path, contents).map_err(io("write", &path))?;
        written.push(path);
    }
    Ok(written)
}

/// A name that is a valid crate, Python project and npm package name, and a
/// job name: lowercase ASCII letters, digits, `-` and `_`, starting with a
/// letter.
fn check_name(name: &str) -> std::result::Result<(), String> {
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name.len() <= 64;
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{name}` cannot name an operator project: use lowercase letters, digits, `-` and `_`, starting \
             with a letter (it becomes the crate, package and job name)"
        ))
    }
}
