//! The SDKs an operator project builds against, and where they live.
//!
//! The `weir` binary carries the Rust, Python and JavaScript SDKs and the
//! WIT package inside it (`build.rs` embeds them). [`Sdk::install`] writes
//! them once into the user's Weir home, under a directory named by the
//! version and a digest of the contents, so that a project's dependency
//! (a path in `Cargo.toml`, a `file:` in `package.json`) keeps pointing at
//! exactly the SDK it was created with, and a newer `weir` writes its own
//! beside it. The layout inside is the repository's (`guest-sdk/`,
//! `guest-sdk/python`, `guest-sdk/js`, `wit/`), so the relative paths the
//! SDKs use (`wit_bindgen::generate!({ path: "../wit" })`) still hold.
//!
//! `cargo xtask` uses [`Sdk::checkout`] instead: the repository's own files.

use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::error::{Error, Result, io};

include!(concat!(env!("OUT_DIR"), "/sdk_files.rs"));

/// The lock file embedded beside the SDKs (see `build.rs`).
const LOCK_FILE: &str = "Cargo.lock";

/// The Weir home: `$WEIR_HOME`, else `$XDG_CACHE_HOME/weir`, else
/// `~/.cache/weir`. It holds the SDKs (`sdk/`) and the build tools
/// (`tools/`); deleting it is safe, `weir build` writes it again.
pub fn weir_home() -> Result<PathBuf> {
    let from = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty()).map(PathBuf::from);
    if let Some(home) = from("WEIR_HOME") {
        return Ok(home);
    }
    if let Some(cache) = from("XDG_CACHE_HOME") {
        return Ok(cache.join("weir"));
    }
    if let Some(home) = from("HOME").or_else(|| from("USERPROFILE")) {
        return Ok(home.join(".cache").join("weir"));
    }
    Err(Error::Unexpected("cannot tell where the Weir home is: set WEIR_HOME (or HOME)".into()))
}

/// A directory holding the SDKs in the repository's layout.
#[derive(Clone, Debug)]
pub struct Sdk {
    root: PathBuf,
}

impl Sdk {
    /// The SDKs of a Weir checkout at `root` (what `cargo xtask` builds with).
    pub fn checkout(root: &Path) -> Sdk {
        Sdk { root: root.to_owned() }
    }

    /// The SDKs this binary carries, written under `home` unless they are
    /// there already.
    pub fn install(home: &Path) -> Result<Sdk> {
        let dir = home.join("sdk").join(format!("{}-{:012x}", env!("CARGO_PKG_VERSION"), embedded_digest() >> 16));
        let stamp = dir.join(".weir-complete");
        if stamp.exists() {
            return Ok(Sdk { root: dir });
        }
        // Written aside and renamed into place: a reader never sees half an
        // SDK, and two writers at once both end with a whole one.
        let partial = home.join("sdk").join(format!(".partial-{}", std::process::id()));
        crate::process::fresh_dir(&partial)?;
        for (name, contents) in FILES.iter().filter(|(name, _)| *name != LOCK_FILE) {
            let path = partial.join(name);
            let parent = path.parent().unwrap_or(&partial);
            std::fs::create_dir_all(parent).map_err(io("create", parent))?;
            std::fs::write(&path, contents).map_err(io("write", &path))?;
        }
        std::fs::write(partial.join(".weir-complete"), "").map_err(io("write", &partial))?;
        match std::fs::rename(&partial, &dir) {
            Ok(()) => {}
            // Another process got there first with the same contents.
            Err(_) if stamp.exists() => std::fs::remove_dir_all(&partial).map_err(io("remove", &partial))?,
            Err(source) => return Err(Error::Io { action: "move into place", path: dir, source }),
        }
        Ok(Sdk { root: dir })
    }

    /// The directory holding `guest-sdk/` and `wit/`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The Rust SDK crate (`weir-guest`).
    pub fn rust(&self) -> PathBuf {
        self.root.join("guest-sdk")
    }

    /// The Python SDK package (`weir-operator`, import name `weir`).
    pub fn python(&self) -> PathBuf {
        self.root.join("guest-sdk").join("python")
    }

    /// The JavaScript SDK package (`@weir/operator`).
    pub fn js(&self) -> PathBuf {
        self.root.join("guest-sdk").join("js")
    }

    /// The WIT package every operator targets.
    pub fn wit(&self) -> PathBuf {
        self.root.join("wit")
    }
}

/// The lock file of the Weir workspace the SDKs were tested with.
pub(crate) fn lock_file() -> &'static [u8] {
    FILES.iter().find(|(name, _)| *name == LOCK_FILE).map(|(_, contents)| *contents).unwrap_or_default()
}

/// A digest of everything embedded: it names the installed directory.
fn embedded_digest() -> u64 {
    let mut digest = Digest::default();
    for (name, contents) in FILES {
        digest.write_part(name.as_bytes());
        digest.write_part(contents);
    }
    digest.finish()
}
