//! Small helpers with no home of their own. A leaf: it imports nothing
//! from the crate, so any module may use it.

use std::path::{Component, Path, PathBuf};

/// `a/b/../c/./d` → `a/c/d`, by name only (nothing is read from disk, so
/// the path need not exist): how job-file paths and local checkpoint roots
/// are shown and opened. `..` at the root stays at the root.
pub(crate) fn normalize_lexically(path: &Path) -> PathBuf {
    path.components().fold(PathBuf::new(), |mut normalized, part| {
        match part {
            Component::ParentDir => {
                normalized.pop();
            }
            Component::CurDir => {}
            other => normalized.push(other),
        }
        normalized
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_dot_and_dot_are_resolved_by_name() {
        assert_eq!(normalize_lexically(Path::new("/jobs/x/../nowhere/./op.wasm")), Path::new("/jobs/nowhere/op.wasm"));
        assert_eq!(normalize_lexically(Path::new("/../a")), Path::new("/a"));
    }
}
