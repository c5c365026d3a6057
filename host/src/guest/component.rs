//! Loading an operator's component: read, recognise, compile, check it
//! against the `weir:operator` world, and pre-link it (`InstancePre`) so
//! that each subtask only pays for instantiation.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;

use super::GuestRuntime;
use super::bindings::OperatorComponentPre;
use super::bindings_v1::OperatorComponentPre as OperatorComponentPreV1;

/// A component pre-linked as the world version it targets.
#[derive(Clone)]
pub(super) enum Pre {
    V2(OperatorComponentPre<super::HostState>),
    V1(OperatorComponentPreV1<super::HostState>),
}

impl Pre {
    pub(super) fn engine(&self) -> &wasmtime::Engine {
        match self {
            Pre::V2(pre) => pre.engine(),
            Pre::V1(pre) => pre.engine(),
        }
    }
}
use crate::error::{Error, Result};

/// The export an operator component has: this version's
/// (`wit/operator.wit`) or, for a component built before it, 0.1.0's.
pub const OPERATOR_EXPORT: &str = "weir:operator/operator@0.2.0";
pub const OPERATOR_EXPORT_V1: &str = "weir:operator/operator@0.1.0";

/// What a component may import. Language runtimes import these WASI
/// interfaces whether or not the operator uses them (CPython, as
/// componentize-py builds it, imports `wasi:sockets` too); the store's WASI
/// context then grants nothing through them: no preopened directory, no
/// environment, and every socket or name lookup refused with
/// `access-denied`. Anything else (`wasi:http`, an unknown interface) is
/// refused when the component is loaded, before it runs. One list, shared
/// with `weir build` and `cargo xtask`, which check components they build
/// against it.
pub use weir_build::GRANTED_IMPORTS;

/// A component compiled, checked and linked for one operator. Cloning is
/// cheap; instantiate it once per subtask with [`super::GuestInstance::new`].
#[derive(Clone)]
pub struct LoadedComponent {
    pub(super) operator: String,
    pub(super) path: PathBuf,
    pub(super) pre: Pre,
    digest: [u8; 32],
    from_cache: bool,
}

impl std::fmt::Debug for LoadedComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedComponent")
            .field("operator", &self.operator)
            .field("path", &self.path)
            .field("sha256", &self.digest_hex())
            .finish()
    }
}

impl LoadedComponent {
    /// Reads, compiles and checks the component at `path` for `operator`.
    /// Compiling takes tens of milliseconds for a Rust guest and seconds for
    /// a Python or JavaScript one.
    pub fn load(runtime: &GuestRuntime, operator: &str, path: &Path) -> Result<Self> {
        let fail = |reason: String| Error::Component { operator: operator.to_owned(), path: path.to_owned(), reason };
        let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read: {e}")))?;
        check_header(&bytes).map_err(fail)?;
        let digest: [u8; 32] = Sha256::digest(&bytes).into();

        let cached = runtime.cache().and_then(|cache| cache.load(runtime.engine(), &digest));
        let from_cache = cached.is_some();
        let component = match cached {
            Some(component) => {
                tracing::info!(operator, path = %path.display(), "loaded the compiled component from the cache");
                component
            }
            None => {
                tracing::info!(operator, path = %path.display(), "compiling component");
                let component =
                    Component::new(runtime.engine(), &bytes).map_err(|e| fail(format!("cannot compile: {e:#}")))?;
                if let Some(cache) = runtime.cache() {
                    cache.store(runtime.engine(), &digest, &component);
                }
                component
            }
        };

        // Name what is missing instead of wasmtime's generic "no export"
        // error: the usual mistake is a command (`fn main`) or a component
        // built against another world.
        let component_type = component.component_type();
        let exports: Vec<&str> = component_type.exports(runtime.engine()).map(|(name, _)| name).collect();
        let v1 = !exports.contains(&OPERATOR_EXPORT) && exports.contains(&OPERATOR_EXPORT_V1);
        if !exports.contains(&OPERATOR_EXPORT) && !v1 {
            let found = if exports.is_empty() { "nothing".to_owned() } else { exports.join(", ") };
            return Err(fail(format!(
                "does not implement the weir:operator world: it does not export `{OPERATOR_EXPORT}` \
                 (it exports: {found})"
            )));
        }
        let refused: Vec<&str> = component_type
            .imports(runtime.engine())
            .map(|(name, _)| name)
            .filter(|name| !GRANTED_IMPORTS.iter().any(|granted| name.starts_with(granted)))
            .collect();
        if !refused.is_empty() {
            return Err(fail(format!(
                "imports interfaces the host does not grant: {} (operators get no network and no other \
                 host access beyond {})",
                refused.join(", "),
                GRANTED_IMPORTS.join(" ")
            )));
        }
        let instance_pre = runtime
            .linker()
            .instantiate_pre(&component)
            .map_err(|e| fail(format!("imports something the host does not provide: {e:#}")))?;
        let mismatch = |e: wasmtime::Error| fail(format!("does not match the weir:operator world: {e:#}"));
        let pre = match v1 {
            false => Pre::V2(OperatorComponentPre::new(instance_pre).map_err(mismatch)?),
            true => Pre::V1(OperatorComponentPreV1::new(instance_pre).map_err(mismatch)?),
        };
        Ok(LoadedComponent { operator: operator.to_owned(), path: path.to_owned(), pre, digest, from_cache })
    }

    /// The `weir:operator` version the component targets: `"0.2.0"` or
    /// `"0.1.0"`.
    pub fn world_version(&self) -> &'static str {
        match self.pre {
            Pre::V2(_) => "0.2.0",
            Pre::V1(_) => "0.1.0",
        }
    }

    /// Whether the compiled code came from the on-disk cache.
    pub fn loaded_from_cache(&self) -> bool {
        self.from_cache
    }

    /// SHA-256 of the component's bytes.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }

    pub fn digest_hex(&self) -> String {
        self.digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Recognises the binary before handing it to the compiler, whose errors
/// for these cases do not say what to do.
fn check_header(bytes: &[u8]) -> Result<(), String> {
    const MAGIC: &[u8; 4] = b"\0asm";
    const CORE_MODULE_VERSION: [u8; 4] = [0x01, 0x00, 0x00, 0x00];
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        return Err("is not a WebAssembly file (it does not start with the `\\0asm` magic)".into());
    }
    if bytes[4..8] == CORE_MODULE_VERSION {
        return Err("is a core WebAssembly module, not a component: build operators for the \
                    `wasm32-wasip2` target, which produces components"
            .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_check_tells_garbage_from_modules() {
        assert!(check_header(b"hello world").unwrap_err().contains("not a WebAssembly file"));
        assert!(check_header(b"\0asm").unwrap_err().contains("not a WebAssembly file"));
        assert!(check_header(b"\0asm\x01\0\0\0").unwrap_err().contains("core WebAssembly module"));
        assert!(check_header(b"\0asm\x0d\0\x01\0").is_ok());
    }
}
