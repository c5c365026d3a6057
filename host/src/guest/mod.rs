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
pub use instance::GuestInstance;
// Defined by `operator`, re-exported where guest code has always found them.
pub use crate::operator::{InstanceContext, StateChunk, StateKind};
pub use limits::Limits;

use wasmtime::component::Linker;

use crate::error::{Error, Result};

/// Generated bindings of `wit/operator.wit`, `weir:operator@0.2.0`.
pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "operator-component",
    });
}

/// Generated bindings of `wit/v0.1/operator.wit`, `weir:operator@0.1.0`:
/// components built against it keep running (one input, no side outputs,
/// no broadcast state).
pub(crate) mod bindings_v1 {
    wasmtime::component::bindgen!({
        path: "../wit/v0.1",
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
    /// The guest's earliest processing-time timer (`host.wake-at`).
    wake_at: Option<i64>,
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
    /// Instances come from wasmtime's pooling allocator when `pooling`.
    pub fn new(consume_fuel: bool, pooling: bool) -> Result<Self> {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.consume_fuel(consume_fuel);
        // Linear memories start as copy-on-write mappings of the module's
        // data segments (the default, said out loud: instantiation then
        // costs a mapping, not a copy of the guest's static data).
        config.memory_init_cow(true);
        // `perf` cannot name JIT-compiled guest code by itself: with
        // WEIR_PERF_MAP=1 wasmtime writes /tmp/perf-<pid>.map, which
        // `perf report` reads, so a profile shows the guest's functions.
        if std::env::var_os("WEIR_PERF_MAP").is_some_and(|v| !v.is_empty() && v != "0") {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        if pooling {
            config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pooling_config()));
        }
        let engine = wasmtime::Engine::new(&config).map_err(Error::host("create the wasmtime engine"))?;
        let mut linker = Linker::new(&engine);
        // WASI p2 is linked because Rust's std (and every other language's
        // runtime) imports it; what it can reach is decided per store by the
        // locked-down `WasiCtx` in `instance.rs`.
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(Error::host("link WASI"))?;
        bindings::OperatorComponent::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s| s)
            .map_err(Error::host("link the weir host interface"))?;
        bindings_v1::OperatorComponent::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s| s)
            .map_err(Error::host("link the weir 0.1 host interface"))?;
        limits::start_epoch_ticker(&engine).map_err(Error::host("start the epoch ticker thread"))?;
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

/// Subtasks (component instances) alive at once in one engine with the
/// pooling allocator. Each reserves address space for its memories up
/// front (4 GiB plus guard pages each, virtual only), none of it resident
/// until used.
pub const POOLED_INSTANCES: u32 = 1000;

/// The pooling allocator keeps a fixed number of pre-reserved slots for
/// instances, memories and tables and recycles them: instantiating a
/// subtask then maps nothing new, and a slot's memory is reset to the
/// module's copy-on-write image when it is reused.
///
/// Slot limits are generous enough for the components the SDKs produce
/// (a Python component has a dozen core instances and large tables); a
/// component beyond them fails to instantiate with wasmtime's message
/// naming the limit, and `EngineConfig::pooling = false` lifts them.
fn pooling_config() -> wasmtime::PoolingAllocationConfig {
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_component_instances(POOLED_INSTANCES)
        .total_core_instances(POOLED_INSTANCES * 20)
        .total_memories(POOLED_INSTANCES * 2)
        .total_tables(POOLED_INSTANCES * 20)
        .total_stacks(POOLED_INSTANCES)
        .max_memories_per_module(1)
        .max_tables_per_module(4)
        .table_elements(100_000)
        .max_core_instance_size(4 << 20)
        .max_component_instance_size(4 << 20)
        // Keep a recycled slot's first pages resident instead of returning
        // them to the kernel: a reused slot then does not fault them in.
        .linear_memory_keep_resident(1 << 20)
        .table_keep_resident(64 << 10);
    pool
}
