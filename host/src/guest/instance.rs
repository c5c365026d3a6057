//! One subtask's sandbox: a wasmtime `Store` with a locked-down WASI
//! context and a memory cap, the instantiated component, and the typed
//! calls of the `operator` interface.
//!
//! A trap poisons the store (wasmtime refuses every later call), so a
//! `GuestInstance` that returned a trap must be dropped, never reused.

use std::sync::Arc;

use wasmtime::Store;
use weir_wire::state::Kind;

use super::component::Pre;
use super::limits::{LimitBreach, Limits, SandboxLimiter, deadline_ticks};
use super::stdio::GuestStdio;
use super::{HostState, LoadedComponent};
use super::{bindings, bindings_v1};
use crate::error::{Error, GuestFailure, Limit, Result};
use crate::operator::{InstanceContext, OperatorInstance, Snapshot, SnapshotMode, StateChunk};

/// An instance's exports, as the world version it targets.
enum Bound {
    V2(bindings::OperatorComponent),
    V1(bindings_v1::OperatorComponent),
}

/// What `snapshot` returned, whichever the world version.
struct WitSnapshot {
    incremental: bool,
    chunks: Vec<StateChunk>,
}

/// The conversions between the host's types and one world version's
/// generated ones: the two versions' types are distinct Rust types of the
/// same shape.
macro_rules! conversions {
    ($module:ident => $name:ident, $($broadcast:tt)*) => {
        mod $name {
            use crate::guest::$module::exports::weir::operator::operator as wit;
            use crate::guest::$module::weir::operator::types::{KeyGroupRange, SnapshotMode, StateKind};
            use crate::operator::{InstanceContext, StateChunk};
            use weir_wire::state::Kind;

            pub(super) fn mode(mode: crate::operator::SnapshotMode) -> SnapshotMode {
                match mode {
                    crate::operator::SnapshotMode::Full => SnapshotMode::Full,
                    crate::operator::SnapshotMode::Incremental => SnapshotMode::Incremental,
                }
            }

            pub(super) fn key_groups(context: &InstanceContext) -> Option<KeyGroupRange> {
                context.key_groups.as_ref().map(|r| KeyGroupRange { start: r.start, end: r.end })
            }

            /// `None` for a kind this world version does not know.
            pub(super) fn to_wit(chunk: StateChunk) -> Option<wit::StateChunk> {
                let kind = match chunk.kind {
                    Kind::KeyedValue => StateKind::KeyedValue,
                    Kind::KeyedMap => StateKind::KeyedMap,
                    Kind::KeyedList => StateKind::KeyedList,
                    Kind::OperatorValue => StateKind::OperatorValue,
                    Kind::OperatorList => StateKind::OperatorList,
                    $($broadcast)*
                };
                Some(wit::StateChunk { handle: chunk.handle, kind, key_group: chunk.key_group, data: chunk.data })
            }

            pub(super) fn snapshot(snapshot: wit::StateSnapshot) -> super::WitSnapshot {
                super::WitSnapshot {
                    incremental: snapshot.incremental,
                    chunks: snapshot.chunks.into_iter().map(from_wit).collect(),
                }
            }

            fn from_wit(chunk: wit::StateChunk) -> StateChunk {
                let kind = match chunk.kind {
                    StateKind::KeyedValue => Kind::KeyedValue,
                    StateKind::KeyedMap => Kind::KeyedMap,
                    StateKind::KeyedList => Kind::KeyedList,
                    StateKind::OperatorValue => Kind::OperatorValue,
                    StateKind::OperatorList => Kind::OperatorList,
                    #[allow(unreachable_patterns)]
                    _ => Kind::BroadcastMap,
                };
                StateChunk { handle: chunk.handle, kind, key_group: chunk.key_group, data: chunk.data }
            }
        }
    };
}
conversions!(bindings => convert_v2, Kind::BroadcastMap => StateKind::BroadcastMap,);
conversions!(bindings_v1 => convert_v1, Kind::BroadcastMap => return None,);

/// A running guest: one per operator subtask.
pub struct GuestInstance {
    store: Store<HostState>,
    bindings: Bound,
    operator: String,
    subtask: u32,
    limits: Limits,
    deadline_ticks: u64,
    /// Set by the first trap: the store refuses every later call.
    poisoned: bool,
}

impl GuestInstance {
    /// Instantiates `component` in a fresh store under `limits` and calls
    /// `init` with `context` and the `restored` state chunks.
    pub fn new(
        component: &LoadedComponent,
        context: &InstanceContext,
        restored: Vec<StateChunk>,
        limits: &Limits,
    ) -> Result<Self> {
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
        let limiter = SandboxLimiter::new(limits.memory_bytes);
        let state = HostState { wasi, table: Default::default(), limiter, log_target, wake_at: None };
        let mut store = Store::new(component.pre.engine(), state);
        store.limiter(|state| &mut state.limiter);
        store.epoch_deadline_trap();
        store.set_hostcall_fuel(limits.max_hostcall_bytes);

        let deadline_ticks = deadline_ticks(limits.call_timeout);
        let describe = |call: &str, e: wasmtime::Error| {
            let (failure, message) = describe_trap(call, &e, limits);
            Error::guest(&context.operator, context.subtask_index, failure, message)
        };
        arm(&mut store, deadline_ticks, limits.fuel).map_err(|e| describe("instantiate", e))?;
        // Instantiation runs guest code too (start functions, data segments).
        let bound = match &component.pre {
            Pre::V2(pre) => Bound::V2(pre.instantiate(&mut store).map_err(|e| describe("instantiate", e))?),
            Pre::V1(pre) => Bound::V1(pre.instantiate(&mut store).map_err(|e| describe("instantiate", e))?),
        };
        let mut instance = GuestInstance {
            store,
            bindings: bound,
            operator: context.operator.clone(),
            subtask: context.subtask_index,
            limits: limits.clone(),
            deadline_ticks,
            poisoned: false,
        };
        instance.arm()?;
        let result = match &instance.bindings {
            Bound::V2(b) => {
                use bindings::exports::weir::operator::operator as wit;
                let wit_context = wit::OperatorContext {
                    operator_name: context.operator.clone(),
                    subtask_index: context.subtask_index,
                    parallelism: context.parallelism,
                    max_parallelism: context.max_parallelism,
                    key_groups: convert_v2::key_groups(context),
                    config: context.config.clone(),
                    inputs: context
                        .inputs
                        .iter()
                        .map(|(name, broadcast)| bindings::weir::operator::types::InputInfo {
                            name: name.clone(),
                            broadcast: *broadcast,
                        })
                        .collect(),
                    side_outputs: context.side_outputs.clone(),
                };
                let restored: Vec<wit::StateChunk> = restored.into_iter().filter_map(convert_v2::to_wit).collect();
                b.weir_operator_operator().call_init(&mut instance.store, &wit_context, &restored)
            }
            Bound::V1(b) => {
                use bindings_v1::exports::weir::operator::operator as wit;
                if let Some(chunk) = restored.iter().find(|c| c.kind == Kind::BroadcastMap) {
                    return Err(instance.error(
                        GuestFailure::Returned,
                        format!(
                            "the checkpoint holds broadcast state '{}', which a weir:operator@0.1.0 component \
                             cannot take: rebuild it with a current SDK",
                            chunk.handle
                        ),
                    ));
                }
                if context.inputs.len() > 1 || !context.side_outputs.is_empty() {
                    return Err(instance.error(
                        GuestFailure::Returned,
                        "is a weir:operator@0.1.0 component: it cannot tell inputs apart or emit to side outputs; \
                         rebuild it with a current SDK to give it several inputs or side_outputs"
                            .into(),
                    ));
                }
                let wit_context = wit::OperatorContext {
                    operator_name: context.operator.clone(),
                    subtask_index: context.subtask_index,
                    parallelism: context.parallelism,
                    max_parallelism: context.max_parallelism,
                    key_groups: convert_v1::key_groups(context),
                    config: context.config.clone(),
                };
                let restored: Vec<wit::StateChunk> = restored.into_iter().filter_map(convert_v1::to_wit).collect();
                b.weir_operator_operator().call_init(&mut instance.store, &wit_context, &restored)
            }
        };
        instance.check("init", result)?;
        Ok(instance)
    }

    /// Hands one packed batch to the guest; returns the packed batch it
    /// emitted.
    #[allow(clippy::ptr_arg)] // see `OperatorInstance::process`
    pub fn process(&mut self, input: u32, batch: &Vec<u8>) -> Result<Vec<u8>> {
        self.arm()?;
        let result = match &self.bindings {
            Bound::V2(b) => b.weir_operator_operator().call_process(&mut self.store, input, batch),
            Bound::V1(b) => b.weir_operator_operator().call_process(&mut self.store, batch),
        };
        let output = self.check("process", result)?;
        self.check_emitted("process", output)
    }

    /// Asks the guest for its state: complete, or what changed since its
    /// previous snapshot.
    pub fn snapshot(&mut self, checkpoint_id: u64, mode: SnapshotMode) -> Result<Snapshot> {
        self.arm()?;
        let result = match &self.bindings {
            Bound::V2(b) => b
                .weir_operator_operator()
                .call_snapshot(&mut self.store, checkpoint_id, convert_v2::mode(mode))
                .map(|r| r.map(convert_v2::snapshot)),
            Bound::V1(b) => b
                .weir_operator_operator()
                .call_snapshot(&mut self.store, checkpoint_id, convert_v1::mode(mode))
                .map(|r| r.map(convert_v1::snapshot)),
        };
        let snapshot = self.check("snapshot", result)?;
        if snapshot.incremental && mode == SnapshotMode::Full {
            return Err(self.error(
                GuestFailure::Returned,
                "snapshot answered with changes only when asked for its complete state".into(),
            ));
        }
        Ok(Snapshot { incremental: snapshot.incremental, chunks: snapshot.chunks })
    }

    /// Tells the guest that time moved: its watermark, and the clock. It
    /// fires its due timers; returns what they emitted. A 0.1.0 guest has
    /// no timers: nothing to call.
    pub fn advance(&mut self, watermark: i64, now: i64) -> Result<Vec<u8>> {
        if let Bound::V1(_) = self.bindings {
            return Ok(Vec::new());
        }
        self.arm()?;
        let result = match &self.bindings {
            Bound::V2(b) => b.weir_operator_operator().call_advance(&mut self.store, watermark, now),
            Bound::V1(_) => return Ok(Vec::new()),
        };
        let output = self.check("advance", result)?;
        self.check_emitted("advance", output)
    }

    /// When the guest last asked to be woken (`host.wake-at`): its
    /// earliest processing-time timer.
    pub fn wake_at(&self) -> Option<i64> {
        self.store.data().wake_at
    }

    /// Tells the guest its input ended; returns its last events.
    pub fn finish(&mut self) -> Result<Vec<u8>> {
        self.arm()?;
        let result = match &self.bindings {
            Bound::V2(b) => b.weir_operator_operator().call_finish(&mut self.store),
            Bound::V1(b) => b.weir_operator_operator().call_finish(&mut self.store),
        };
        let output = self.check("finish", result)?;
        self.check_emitted("finish", output)
    }

    /// Sets the deadline and fuel of the next call; refuses to call into a
    /// store a trap has poisoned.
    fn arm(&mut self) -> Result<()> {
        if self.poisoned {
            return Err(
                self.error(GuestFailure::Trap, "the instance trapped earlier and cannot be called again".into())
            );
        }
        arm(&mut self.store, self.deadline_ticks, self.limits.fuel)
            .map_err(|e| self.error(GuestFailure::Sandbox, format!("cannot set up the call: {e:#}")))
    }

    /// Turns a trap (outer error) or a guest error (inner `Err`) into an
    /// error naming the operator, the subtask and the call. A trap poisons
    /// the store for good.
    fn check<T>(&mut self, call: &str, result: wasmtime::Result<Result<T, String>>) -> Result<T> {
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(message)) => Err(self.error(GuestFailure::Returned, format!("{call} returned an error: {message}"))),
            Err(trap) => {
                self.poisoned = true;
                let (failure, message) = describe_trap(call, &trap, &self.limits);
                Err(self.error(failure, message))
            }
        }
    }

    /// Enforces what one call may emit.
    fn check_emitted(&self, call: &str, output: Vec<u8>) -> Result<Vec<u8>> {
        if output.len() > self.limits.max_emit_bytes {
            return Err(self.error(
                GuestFailure::Limit(Limit::Emit),
                format!(
                    "limit max_emit_bytes = {} exceeded: {call} emitted {} bytes",
                    self.limits.max_emit_bytes,
                    output.len()
                ),
            ));
        }
        let events = weir_wire::batch::event_count(&output).unwrap_or(0) as u64;
        if events > self.limits.max_emit_events {
            return Err(self.error(
                GuestFailure::Limit(Limit::Emit),
                format!(
                    "limit max_emit_events = {} exceeded: {call} emitted {events} events",
                    self.limits.max_emit_events
                ),
            ));
        }
        Ok(output)
    }

    fn error(&self, failure: GuestFailure, message: String) -> Error {
        Error::guest(&self.operator, self.subtask, failure, message)
    }
}

impl OperatorInstance for GuestInstance {
    fn process(&mut self, input: u32, batch: &Vec<u8>) -> Result<Vec<u8>> {
        GuestInstance::process(self, input, batch)
    }

    fn snapshot(&mut self, checkpoint_id: u64, mode: SnapshotMode) -> Result<Snapshot> {
        GuestInstance::snapshot(self, checkpoint_id, mode)
    }

    fn advance(&mut self, watermark: i64, now: i64) -> Result<Vec<u8>> {
        GuestInstance::advance(self, watermark, now)
    }

    fn wake_at(&self) -> Option<i64> {
        GuestInstance::wake_at(self)
    }

    fn finish(&mut self) -> Result<Vec<u8>> {
        GuestInstance::finish(self)
    }
}

fn arm(store: &mut Store<HostState>, deadline_ticks: u64, fuel: Option<u64>) -> wasmtime::Result<()> {
    store.set_epoch_deadline(deadline_ticks);
    if let Some(fuel) = fuel {
        store.set_fuel(fuel)?;
    }
    Ok(())
}

/// What a trap was (a breached limit, or a trap of the guest's own) and
/// how to say it.
fn describe_trap(call: &str, trap: &wasmtime::Error, limits: &Limits) -> (GuestFailure, String) {
    let limit = |limit: Limit, message: String| (GuestFailure::Limit(limit), message);
    if let Some(breach) = trap.downcast_ref::<LimitBreach>() {
        let kind = match breach {
            LimitBreach::Memory { .. } => Limit::Memory,
            LimitBreach::Table { .. } => Limit::Tables,
        };
        return limit(kind, format!("{breach} (in {call})"));
    }
    let trapped = |message: String| (GuestFailure::Trap, message);
    match trap.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => limit(
            Limit::CallTimeout,
            format!(
                "limit call_timeout_ms = {} exceeded: {call} ran longer than that and was interrupted",
                limits.call_timeout.as_millis()
            ),
        ),
        Some(wasmtime::Trap::OutOfFuel) => {
            limit(Limit::Fuel, format!("limit fuel = {} exceeded: {call} ran out of fuel", limits.fuel.unwrap_or(0)))
        }
        Some(wasmtime::Trap::UnreachableCodeReached) => trapped(format!(
            "trapped in {call}: the guest aborted (`unreachable`: a panic or abort in the guest's code or \
             language runtime; its message, if any, is in the guest's log lines above)"
        )),
        Some(wasmtime::Trap::StackOverflow) => trapped(format!("trapped in {call}: stack overflow")),
        // Rust and C guests keep their stack in linear memory: overflowing
        // it runs off the start of memory.
        Some(wasmtime::Trap::MemoryOutOfBounds) => trapped(format!(
            "trapped in {call}: out-of-bounds memory access (in a Rust or C guest, usually a stack overflow)"
        )),
        _ => {
            // The wasm backtrace can be thousands of frames (deep recursion):
            // the message keeps the cause, the debug log keeps the trace.
            tracing::debug!("{call} trapped: {trap:?}");
            let cause = trap.chain().last().map(|e| e.to_string()).unwrap_or_else(|| trap.to_string());
            // wasmtime reports exhausted hostcall fuel only in words.
            if cause.contains("fuel allocated for hostcalls") {
                return limit(
                    Limit::Hostcall,
                    format!(
                        "limit max_hostcall_bytes = {} exceeded: {call} passed more data to the host in one call \
                         ({cause})",
                        limits.max_hostcall_bytes
                    ),
                );
            }
            trapped(format!("trapped in {call}: {cause}"))
        }
    }
}

impl wasmtime_wasi::WasiView for HostState {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        wasmtime_wasi::WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl bindings::weir::operator::types::Host for HostState {}
impl bindings_v1::weir::operator::types::Host for HostState {}

impl bindings_v1::weir::operator::host::Host for HostState {
    fn log(&mut self, level: bindings_v1::weir::operator::host::LogLevel, message: String) {
        use bindings::weir::operator::host::Host;
        use bindings_v1::weir::operator::host::LogLevel as V1;
        let level = match level {
            V1::Trace => LogLevel::Trace,
            V1::Debug => LogLevel::Debug,
            V1::Info => LogLevel::Info,
            V1::Warn => LogLevel::Warn,
            V1::Error => LogLevel::Error,
        };
        Host::log(self, level, message)
    }
}

use bindings::weir::operator::host::LogLevel;

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

    fn wake_at(&mut self, at: Option<i64>) {
        self.wake_at = at;
    }
}
