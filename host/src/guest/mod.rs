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

pub mod cache;
mod component;
mod instance;
pub mod limits;
mod stdio;

pub use component::LoadedComponent;
pub use instance::{GuestInstance, InstanceContext, StateChunk, StateKind};
pub use limits::Limits;

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
    limiter: limits::SandboxLimiter,
    /// `operator[subtask]`, the tag of every log line from this guest.
    log_target: std::sync::Arc<str>,
}

/// The wasmtime engine and linker shared by every job of a [`crate::Engine`].
#[derive(Clone)]
pub struct GuestRuntime {
    engine: wasmtime::Engine,
    linker: std::sync::Arc<Linker<HostState>>,
    consume_fuel: bool,
    cache: Option<cache::ComponentCache>,
}

impl GuestRuntime {
    /// A runtime whose guests run under epoch deadlines, and under fuel
    /// limits too when `consume_fuel` (every call then costs ~15% more).
    pub fn new(consume_fuel: bool) -> Result<Self> {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.consume_fuel(consume_fuel);
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
        limits::start_epoch_ticker(&engine)
            .map_err(|e| Error::Usage(format!("cannot start the epoch ticker thread: {e}")))?;
        Ok(GuestRuntime { engine, linker: std::sync::Arc::new(linker), consume_fuel, cache: None })
    }

    /// Keeps compiled components in `cache` (see [`cache`]).
    pub fn with_cache(mut self, cache: cache::ComponentCache) -> Self {
        self.cache = Some(cache);
        self
    }

    pub(crate) fn cache(&self) -> Option<&cache::ComponentCache> {
        self.cache.as_ref()
    }

    /// Whether guests can be given fuel limits.
    pub fn consumes_fuel(&self) -> bool {
        self.consume_fuel
    }

    pub(crate) fn engine(&self) -> &wasmtime::Engine {
        &self.engine
    }

    pub(crate) fn linker(&self) -> &Linker<HostState> {
        &self.linker
    }
}
