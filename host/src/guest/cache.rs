//! The compiled-component cache on disk: compiling a component takes tens
//! of milliseconds for a Rust guest and seconds for a Python or JavaScript
//! one; loading the compiled artifact takes a fraction of a millisecond.
//!
//! An entry is keyed by the component's SHA-256 and by wasmtime's
//! precompile-compatibility hash (its version and every engine setting that
//! changes code generation), so an artifact is only found by an engine that
//! can run it. Loading a compiled artifact is `unsafe` in wasmtime (it is
//! native code), so the cache only ever loads what this host wrote: each
//! artifact has a sidecar with the SHA-256 of its bytes, written after it,
//! and an artifact whose bytes do not match is deleted, not loaded. The
//! directory must be private to the user running the host.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;

/// A cache directory.
#[derive(Debug, Clone)]
pub struct ComponentCache {
    dir: PathBuf,
}

/// Feeds `Hash` input into SHA-256: a hasher that is the same in every
/// build, unlike the standard library's.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        0
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl ComponentCache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ComponentCache { dir: dir.into() }
    }

    /// `$WEIR_CACHE_DIR`, else `$XDG_CACHE_HOME/weir/components`, else
    /// `$HOME/.cache/weir/components`.
    pub fn default_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("WEIR_CACHE_DIR") {
            return Some(PathBuf::from(dir));
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))?;
        Some(base.join("weir/components"))
    }

    fn paths(&self, engine: &wasmtime::Engine, digest: &[u8; 32]) -> (PathBuf, PathBuf) {
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = hex(&hasher.0.finalize()[..8]);
        let stem = format!("{}-{engine_key}", hex(digest));
        (self.dir.join(format!("{stem}.cwasm")), self.dir.join(format!("{stem}.sha256")))
    }

    /// The compiled component, if this host cached it for this engine.
    pub fn load(&self, engine: &wasmtime::Engine, digest: &[u8; 32]) -> Option<Component> {
        let (artifact, sidecar) = self.paths(engine, digest);
        let bytes = std::fs::read(&artifact).ok()?;
        let expected = std::fs::read_to_string(&sidecar).ok()?;
        if hex(&Sha256::digest(&bytes)) != expected.trim() {
            tracing::warn!("compiled cache entry {} does not match its digest: deleting it", artifact.display());
            let _ = std::fs::remove_file(&artifact);
            let _ = std::fs::remove_file(&sidecar);
            return None;
        }
        // SAFETY: these bytes are exactly what `store` wrote from
        // `Component::serialize` of an engine with the same compatibility
        // hash (the file name says so, the digest proves the bytes are
        // intact); wasmtime checks the header and engine settings again.
        match unsafe { Component::deserialize(engine, &bytes) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!("cannot load compiled cache entry {}: {e:#}", artifact.display());
                None
            }
        }
    }

    /// Stores a compiled component. Failures only cost a later compile.
    pub fn store(&self, engine: &wasmtime::Engine, digest: &[u8; 32], component: &Component) {
        let result = (|| -> std::io::Result<()> {
            let bytes = component.serialize().map_err(|e| std::io::Error::other(format!("{e:#}")))?;
            std::fs::create_dir_all(&self.dir)?;
            let (artifact, sidecar) = self.paths(engine, digest);
            // Write-then-rename: a reader never sees half a file.
            let temporary = artifact.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&temporary, &bytes)?;
            std::fs::rename(&temporary, &artifact)?;
            let temporary = sidecar.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&temporary, hex(&Sha256::digest(&bytes)))?;
            std::fs::rename(&temporary, &sidecar)
        })();
        if let Err(e) = result {
            tracing::warn!("cannot write the compiled cache in {}: {e}", self.dir.display());
        }
    }
}
