//! The crate's layers, checked: every `crate::` path in a module's code
//! (tests and comments aside) names a module of a lower layer, so the
//! modules import one another in one direction and have no cycle. The
//! order is the Layout section of `lib.rs`.

use std::path::Path;

/// Bottom-up. A module may use the modules before it, never after it.
const LAYERS: &[&str] = &[
    "error",
    "util",
    "sources",
    "sinks",
    "job",
    "operator",
    "guest",
    "checkpoint",
    "connector",
    "exec",
    "engine",
    "http",
];

/// Items of the crate root that any layer may name (`crate::Error`).
const ROOT_ITEMS_ANYONE_MAY_USE: &[&str] = &["Error", "Result"];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|&layer| layer == module)
}

/// The code of a source file without its inline test module (which comes
/// last) and comments. A `#[cfg(test)] mod name;` declaration of a test
/// file is not an inline module: the code after it is checked too.
fn code_of(text: &str) -> String {
    let inline_test_module = text.match_indices("#[cfg(test)]\nmod ").find(|(at, marker)| {
        let rest = &text[at + marker.len()..];
        let name_end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
        rest[name_end..].starts_with(" {")
    });
    let text = inline_test_module.map_or(text, |(start, _)| &text[..start]);
    text.lines().filter(|line| !line.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// Every `crate::<name>` in `code`.
fn crate_paths(code: &str) -> Vec<String> {
    code.match_indices("crate::")
        .filter(|(at, _)| !code[..*at].ends_with(|c: char| c.is_alphanumeric() || c == '_'))
        .map(|(at, _)| {
            let rest = code[at + "crate::".len()..].trim_start_matches('{');
            rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
        })
        .collect()
}

fn visit(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("list host/src") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            visit(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

#[test]
fn modules_import_only_from_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    visit(&src, &mut files);
    let mut violations = Vec::new();
    let mut checked = 0;
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src");
        let module = relative.components().next().expect("a component").as_os_str().to_string_lossy();
        let module = module.trim_end_matches(".rs");
        let Some(own) = rank(module) else { continue };
        checked += 1;
        let code = code_of(&std::fs::read_to_string(file).expect("read a source file"));
        for used in crate_paths(&code) {
            let allowed = match rank(&used) {
                Some(theirs) => theirs < own || used == module,
                None => ROOT_ITEMS_ANYONE_MAY_USE.contains(&used.as_str()),
            };
            if !allowed {
                violations.push(format!("{} ({module}) uses crate::{used}", relative.display()));
            }
        }
    }
    assert!(checked > 40, "only {checked} files checked: is LAYERS out of date?");
    violations.sort();
    violations.dedup();
    assert!(violations.is_empty(), "imports against the layers {LAYERS:?}:\n{}", violations.join("\n"));
}

#[test]
fn only_inline_test_modules_are_left_out() {
    let code =
        code_of("#[cfg(test)]\nmod props;\nuse crate::http;\n#[cfg(test)]\nmod tests {\n    use crate::engine;\n}");
    assert!(code.contains("crate::http") && !code.contains("crate::engine"), "{code}");
}

#[test]
fn every_module_of_the_crate_has_a_layer() {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).expect("lib.rs");
    for line in lib.lines() {
        let line = line.trim();
        let Some(name) = line.strip_prefix("pub mod ").or_else(|| line.strip_prefix("mod ")) else { continue };
        let name = name.trim_end_matches(';');
        assert!(name == "layering" || rank(name).is_some(), "module {name} is in no layer of layering.rs");
    }
}
