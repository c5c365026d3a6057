//! Small helpers with no home of their own. A leaf: it imports nothing
//! from the crate, so any module may use it.

use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// A duration in whole microseconds, saturating.
pub(crate) fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// `digits` hex digits (at most 16) from the standard library's
/// per-process random keys: job ids, lease tokens, unique file names.
pub(crate) fn random_hex(digits: usize) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos());
    let hex = format!("{:016x}", hasher.finish());
    hex[..digits.min(16)].to_owned()
}

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

/// The variable that names a failpoint (tests only): the process aborts
/// there, as a `kill -9` at that instant would stop it.
pub const FAILPOINT_VAR: &str = "WEIR_FAILPOINT";

/// Aborts the process when `WEIR_FAILPOINT` names `name`: tests use it to
/// crash at instants a signal cannot hit reliably (between `_metadata` and
/// the commit, inside a Kafka transaction).
pub(crate) fn failpoint(name: &str) {
    if std::env::var_os(FAILPOINT_VAR).is_some_and(|v| v == name) {
        eprintln!("weir: failpoint {name}: aborting");
        std::process::abort();
    }
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
