//! JavaScript operators: componentize-js (and the jco it runs on) turn one
//! ES module into a component.
//!
//! componentize-js loads the modules its entry imports by relative path
//! only (it maps the current directory into the engine while it
//! pre-initializes it): a bare `import ... from '@weir/operator'` fails. So a
//! project is first bundled with esbuild, which resolves packages from
//! `node_modules` as Node does, into one module; the examples in the
//! repository import the SDK by relative path and need no bundle.
//!
//! The engine's `http` and `fetch-event` features are disabled: they import
//! `wasi:http`, which the host refuses. After each build the component's
//! imports are listed with `jco wit` and checked against the host's grants,
//! so a refused import fails the build, by name.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result, io};
use crate::process::{Install, check_node, fresh_dir, npm, quiet};
use crate::{GRANTED_IMPORTS, Progress, WORLD};

/// The componentize-js release JS operators are built with (npm).
pub const COMPONENTIZE_JS_VERSION: &str = "0.23.0";
/// The jco release componentize-js runs on; pinned so that an install today
/// and one next month build the same components.
pub const JCO_VERSION: &str = "1.35.0";
/// The esbuild release that bundles a project's modules and packages.
pub const ESBUILD_VERSION: &str = "0.28.2";

/// componentize-js engine features turned off (see the module docs).
pub const DISABLED_FEATURES: &[&str] = &["http", "fetch-event"];

const NEEDED_BY: &str = "JavaScript operators are built with componentize-js, which";

/// The npm packages installed, exactly.
pub fn requirements() -> [String; 3] {
    [
        format!("@bytecodealliance/componentize-js@{COMPONENTIZE_JS_VERSION}"),
        format!("@bytecodealliance/jco@{JCO_VERSION}"),
        format!("esbuild@{ESBUILD_VERSION}"),
    ]
}

/// The installed tools: componentize-js's and jco's scripts (run them with
/// `node`) and the esbuild executable.
pub struct JsTools {
    pub componentize_js: PathBuf,
    pub jco: PathBuf,
    pub esbuild: PathBuf,
}

/// Makes sure `<tools>/componentize-js-<version>` holds the pinned
/// componentize-js, jco and esbuild. Quiet when there is nothing to do;
/// idempotent (a folder whose stamp does not match is installed again from
/// scratch). Needs Node.js 18 or newer and npm on the `PATH`.
pub fn ensure_js_tools(tools: &Path, progress: Progress) -> Result<JsTools> {
    check_node(NEEDED_BY)?;
    let dir = tools.join(format!("componentize-js-{COMPONENTIZE_JS_VERSION}"));
    let modules = dir.join("node_modules");
    let found = JsTools {
        componentize_js: modules.join("@bytecodealliance/componentize-js/src/cli.js"),
        jco: modules.join("@bytecodealliance/jco/dist/jco.js"),
        esbuild: modules.join("esbuild/bin/esbuild"),
    };
    let wanted = requirements().join(" ");
    let install = Install { dir: &dir, wanted: format!("{wanted}\n") };
    let present = || found.componentize_js.exists() && found.jco.exists() && found.esbuild.exists();
    install.ensure(&present, &mut || {
        progress(&format!("installing {wanted} into {}", dir.display()));
        fresh_dir(&dir)?;
        // A package.json of its own keeps npm from looking for one further up.
        let manifest = dir.join("package.json");
        std::fs::write(&manifest, "{ \"name\": \"weir-js-tools\", \"private\": true }\n")
            .map_err(io("write", &manifest))?;
        quiet(
            Command::new(npm())
                .args(["install", "--save-exact", "--no-audit", "--no-fund", "--loglevel=error", "--prefix"])
                .arg(&dir)
                .args(requirements()),
            Some("the npm registry must be reachable"),
        )
        .map(drop)
    })?;
    Ok(found)
}

/// Bundles the module `entry` of the project at `dir` (with the packages it
/// imports from `node_modules`) into the one module `out`. The host's
/// interfaces (`weir:*`, `wasi:*`) stay imports: the component provides them.
pub fn bundle(tools: &JsTools, dir: &Path, entry: &str, out: &Path) -> Result<()> {
    quiet(
        // Run directly: npm replaces this script with esbuild's native binary.
        Command::new(&tools.esbuild)
            .arg(entry)
            .args(["--bundle", "--format=esm", "--platform=neutral", "--log-level=warning"])
            .args(["--external:weir:*", "--external:wasi:*"])
            .arg(format!("--outfile={}", out.display()))
            .current_dir(dir),
        None,
    )
    .map(drop)
}

/// Compiles the entry module `entry` (relative to `base`, the directory
/// componentize-js maps into the build) into a component at `out`, then
/// checks its imports and exports. `out` is written atomically.
pub fn componentize(tools: &JsTools, wit: &Path, base: &Path, entry: &Path, out: &Path) -> Result<()> {
    crate::write_atomically(out, &mut |partial| {
        quiet(
            Command::new("node")
                .arg(&tools.componentize_js)
                .arg(entry)
                .arg("--wit")
                .arg(wit)
                .args(["--world-name", WORLD, "--disable"])
                .args(DISABLED_FEATURES)
                .arg("--out")
                .arg(partial)
                .current_dir(base),
            None,
        )?;
        check_component(tools, partial)
    })
}

/// Checks that a file is a component (not a core module) that imports only
/// what the host grants and exports the operator interface.
pub fn check_component(tools: &JsTools, path: &Path) -> Result<()> {
    let mut header = [0u8; 8];
    File::open(path).and_then(|mut file| file.read_exact(&mut header)).map_err(io("read", path))?;
    // `\0asm`, then the component layer's version 0x0d and layer 1.
    if header != [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00] {
        return Err(Error::Unexpected(format!(
            "{} is not a WebAssembly component (header {header:02x?})",
            path.display()
        )));
    }
    let wit = quiet(Command::new("node").arg(&tools.jco).arg("wit").arg(path), None)?;
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
        return Err(Error::Unexpected(format!(
            "the component imports {}, which the host refuses (it grants {}); all its imports: {}",
            refused.join(", "),
            GRANTED_IMPORTS.join(" "),
            imports.join(", ")
        )));
    }
    if !wit.lines().any(|line| line.trim() == "export weir:operator/operator@0.2.0;") {
        return Err(Error::Unexpected(format!("the component does not export weir:operator/operator@0.2.0:\n{wit}")));
    }
    Ok(())
}
