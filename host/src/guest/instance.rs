//! One subtask's sandbox: a wasmtime `Store` with a locked-down WASI
//! context and a memory cap, the instantiated component, and the typed
//! calls of the `operator` interface.
//!
//! A trap poisons the store (wasmtime refuses every later call), so a
//! `GuestInstance` that returned a trap must be dropped, never reused.

use std::ops::Range;
use std::sync::Arc;

use wasmtime::Store;
use weir_wire::state::Kind;

use super::bindings::exports::weir::operator::operator as wit;
use super::bindings::weir::operator::host::LogLevel;
use super::bindings::weir::operator::types::{KeyGroupRange, StateKind as WitStateKind};
use super::bindings::{self, OperatorComponent};
use super::stdio::GuestStdio;
use super::{HostState, LoadedComponent};
use crate::error::{Error, Result};

/// Default cap on a subtask's linear memory.
pub const DEFAULT_MEMORY_LIMIT: usize = 256 << 20;

pub use weir_wire::state::Kind as StateKind;

/// The state of one handle for one key group (or the whole subtask), as a
/// guest's `snapshot` returned it. See `wit/STATE.md`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChunk {
    pub handle: String,
    pub kind: Kind,
    pub key_group: Option<u16>,
    pub data: Vec<u8>,
}

/// Who an instance is: handed to the guest's `init`.
#[derive(Debug, Clone)]
pub struct InstanceContext {
    pub operator: String,
    pub subtask_index: u32,
    pub parallelism: u32,
    pub max_parallelism: u32,
    /// The key groups this subtask owns, for keyed operators.
    pub key_groups: Option<Range<u16>>,
    pub config: Vec<(String, String)>,
}

/// A running guest: one per operator subtask.
pub struct GuestInstance {
    store: Store<HostState>,
    bindings: OperatorComponent,
    operator: String,
    subtask: u32,
}

impl GuestInstance {
    /// Instantiates `component` in a fresh store and calls `init` with
    /// `context` and the `restored` state chunks.
    pub fn new(component: &LoadedComponent, context: &InstanceContext, restored: Vec<StateChunk>) -> Result<Self> {
        let operator = context.operator.clone();
        let subtask = context.subtask_index;
        let fail = |message: String| Error::Guest { operator: operator.clone(), subtask, message };

        let log_target: Arc<str> = format!("{}[{}]", context.operator, context.subtask_index).into();
        // No preopened directories, no environment, no arguments, no
        // sockets or name lookups: the guest sees an empty world.
        let wasi = wasmtime_wasi::WasiCtxBuilder::new()
            .stdout(GuestStdio::new(log_target.clone(), "stdout"))
            .stderr(GuestStdio::new(log_target.clone(), "stderr"))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let limits = wasmtime::StoreLimitsBuilder::new().memory_size(DEFAULT_MEMORY_LIMIT).build();
        let state = HostState { wasi, table: Default::default(), limits, log_target };
        let mut store = Store::new(component.pre.engine(), state);
        store.limiter(|state| &mut state.limits);

        let bindings = component.pre.instantiate(&mut store).map_err(|e| fail(format!("cannot instantiate: {e:#}")))?;

        let wit_context = wit::OperatorContext {
            operator_name: context.operator.clone(),
            subtask_index: context.subtask_index,
            parallelism: context.parallelism,
            max_parallelism: context.max_parallelism,
            key_groups: context.key_groups.as_ref().map(|r| KeyGroupRange { start: r.start, end: r.end }),
            config: context.config.clone(),
        };
        let restored: Vec<wit::StateChunk> = restored.into_iter().map(to_wit_chunk).collect();
        let mut instance = GuestInstance { store, bindings, operator: context.operator.clone(), subtask };
        let result = instance.bindings.weir_operator_operator().call_init(&mut instance.store, &wit_context, &restored);
        instance.check("init", result)?;
        Ok(instance)
    }

    /// Hands one packed batch to the guest; returns the packed batch it
    /// emitted.
    // `&Vec` because that is what the generated binding lowers from; callers
    // own their batches as Vecs anyway.
    #[allow(clippy::ptr_arg)]
    pub fn process(&mut self, batch: &Vec<u8>) -> Result<Vec<u8>> {
        let result = self.bindings.weir_operator_operator().call_process(&mut self.store, batch);
        self.check("process", result)
    }

    /// Asks the guest for its full state.
    pub fn snapshot(&mut self, checkpoint_id: u64) -> Result<Vec<StateChunk>> {
        let result = self.bindings.weir_operator_operator().call_snapshot(&mut self.store, checkpoint_id);
        let chunks = self.check("snapshot", result)?;
        Ok(chunks.into_iter().map(from_wit_chunk).collect())
    }

    /// Tells the guest its input ended; returns its last events.
    pub fn finish(&mut self) -> Result<Vec<u8>> {
        let result = self.bindings.weir_operator_operator().call_finish(&mut self.store);
        self.check("finish", result)
    }

    /// Turns a trap (outer error) or a guest error (inner `Err`) into an
    /// error naming the operator, the subtask and the call.
    fn check<T>(&self, call: &str, result: wasmtime::Result<Result<T, String>>) -> Result<T> {
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(message)) => Err(self.error(format!("{call} returned an error: {message}"))),
            Err(trap) => Err(self.error(format!("trapped in {call}: {trap:#}"))),
        }
    }

    fn error(&self, message: String) -> Error {
        Error::Guest { operator: self.operator.clone(), subtask: self.subtask, message }
    }
}

fn to_wit_chunk(chunk: StateChunk) -> wit::StateChunk {
    wit::StateChunk {
        handle: chunk.handle,
        kind: match chunk.kind {
            Kind::KeyedValue => WitStateKind::KeyedValue,
            Kind::KeyedMap => WitStateKind::KeyedMap,
            Kind::KeyedList => WitStateKind::KeyedList,
            Kind::OperatorValue => WitStateKind::OperatorValue,
            Kind::OperatorList => WitStateKind::OperatorList,
        },
        key_group: chunk.key_group,
        data: chunk.data,
    }
}

fn from_wit_chunk(chunk: wit::StateChunk) -> StateChunk {
    StateChunk {
        handle: chunk.handle,
        kind: match chunk.kind {
            WitStateKind::KeyedValue => Kind::KeyedValue,
            WitStateKind::KeyedMap => Kind::KeyedMap,
            WitStateKind::KeyedList => Kind::KeyedList,
            WitStateKind::OperatorValue => Kind::OperatorValue,
            WitStateKind::OperatorList => Kind::OperatorList,
        },
        key_group: chunk.key_group,
        data: chunk.data,
    }
}

impl wasmtime_wasi::WasiView for HostState {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        wasmtime_wasi::WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl bindings::weir::operator::types::Host for HostState {}

impl bindings::weir::operator::host::Host for HostState {
    fn log(&mut self, level: LogLevel, message: String) {
        let guest = &*self.log_target;
        match level {
            LogLevel::Trace => tracing::trace!(target: "weir::guest", guest, "{message}"),
            LogLevel::Debug => tracing::debug!(target: "weir::guest", guest, "{message}"),
            LogLevel::Info => tracing::info!(target: "weir::guest", guest, "{message}"),
            LogLevel::Warn => tracing::warn!(target: "weir::guest", guest, "{message}"),
            LogLevel::Error => tracing::error!(target: "weir::guest", guest, "{message}"),
        }
    }
}
