//! Change detection: a digest of a set of files (their paths and contents),
//! kept in a stamp beside what was built from them, so that an unchanged
//! input is not rebuilt (a Python or JS component takes 5-15 s). FNV-1a,
//! 64 bits: a change detector compared only with itself, not a security
//! measure.

use std::path::{Path, PathBuf};

use crate::error::{Result, io};

/// An FNV-1a hasher.
pub struct Digest(u64);

impl Default for Digest {
    fn default() -> Self {
        Digest(0xcbf2_9ce4_8422_2325)
    }
}

impl Digest {
    pub fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// Writes `part` and a separator, so that `"ab" + "c"` and `"a" + "bc"`
    /// differ.
    pub fn write_part(&mut self, part: &[u8]) {
        self.write(&(part.len() as u64).to_le_bytes());
        self.write(part);
    }

    pub fn finish(&self) -> u64 {
        self.0
    }
}

/// The files under `dir` that `wanted` accepts, sorted; hidden entries,
/// `__pycache__` and `node_modules` are skipped.
pub fn files_under(dir: &Path, wanted: &dyn Fn(&Path) -> bool) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    collect(dir, wanted, &mut files)?;
    files.sort();
    Ok(files)
}

fn collect(dir: &Path, wanted: &dyn Fn(&Path) -> bool, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(io("list", dir))? {
        let entry = entry.map_err(io("list", dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "__pycache__" || name == "node_modules" {
            continue;
        }
        let path = entry.path();
        if entry.file_type().map_err(io("inspect", &path))?.is_dir() {
            collect(&path, wanted, out)?;
        } else if wanted(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// Adds the paths (relative to `base`) and contents of `files` to `digest`.
pub fn add_files(digest: &mut Digest, base: &Path, files: &[PathBuf]) -> Result<()> {
    for file in files {
        let contents = std::fs::read(file).map_err(io("read", file))?;
        digest.write_part(file.strip_prefix(base).unwrap_or(file).to_string_lossy().as_bytes());
        digest.write_part(&contents);
    }
    Ok(())
}

/// A digest of the files under `dir` that `wanted` accepts.
pub fn digest_tree(dir: &Path, wanted: &dyn Fn(&Path) -> bool) -> Result<u64> {
    let mut digest = Digest::default();
    add_files(&mut digest, dir, &files_under(dir, wanted)?)?;
    Ok(digest.finish())
}

/// `wanted` for [`files_under`]: every file.
pub fn any_file(_: &Path) -> bool {
    true
}
