//! Everything wasmtime: the engine, loading and checking components,
//! the sandbox each subtask runs in, and the typed calls into a guest.
//!
//! - [`GuestRuntime`] owns the wasmtime `Engine` and the `Linker` with the
//!   host's imports. One per [`crate::Engine`]; cheap to share.
//! - [`LoadedComponent`] is a compiled, checked and pre-linked component
//!   (`InstancePre`): loaded once per job, instantiated once per subtask.
//! - [`GuestInstance`] is one subtask's `Store` plus its instance.
//!
//! This module knows nothing of channels, barriers or checkpoints: it turns
//! bytes into guest calls and guest failures into [`Error::Guest`].

mod component;
mod instance;
mod stdio;

pub use component::LoadedComponent;
pub use instance::{GuestInstance, InstanceContext, StateChunk, StateKind};

use wasmtime::component::Linker;

use crate::error::{Error, Result};

/// Generated bindings of `wit/operator.wit`.
mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "operator-component",
    });
}

/// Per-store data: WASI's context and what the host interface needs.
pub(crate) struct HostState {
    wasi: wasmtime_wasi::WasiCtx,
    table: wasmtime::component::ResourceTable,
    limits: wasmtime::StoreLimits,
    /// `operator[subtask]`, the tag of every log line from this guest.
    log_target: std::sync::Arc<str>,
}

/// The wasmtime engine and linker shared by every job of a [`crate::Engine`].
#[derive(Clone)]
pub struct GuestRuntime {
    engine: wasmtime::Engine,
    linker: std::sync::Arc<Linker<HostState>>,
}

impl GuestRuntime {
    pub fn new() -> Result<Self> {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        let engine = wasmtime::Engine::new(&config)
            .map_err(|e| Error::Usage(format!("cannot create the wasmtime engine: {e:#}")))?;
        let mut linker = Linker::new(&engine);
        // WASI p2 is linked because Rust's std (and every other language's
        // runtime) imports it; what it can reach is decided per store by the
        // locked-down `WasiCtx` in `instance.rs`.
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| Error::Usage(format!("cannot link WASI: {e:#}")))?;
        bindings::OperatorComponent::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| Error::Usage(format!("cannot link the weir host interface: {e:#}")))?;
        Ok(GuestRuntime { engine, linker: std::sync::Arc::new(linker) })
    }

    pub(crate) fn engine(&self) -> &wasmtime::Engine {
        &self.engine
    }

    pub(crate) fn linker(&self) -> &Linker<HostState> {
        &self.linker
    }
}
