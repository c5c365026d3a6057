//! [`Context`], handed to `process` and `finish`: emits output (to the main
//! output or a side output) and owns the state stores; [`OpenContext`],
//! handed to `open`: declares state handles and restores them from the
//! checkpoint chunks.

use std::any::Any;
use std::hash::Hash;

use weir_wire::batch::{BatchWriter, EventRef, MAIN_OUTPUT, TAGGED_VERSION};

use crate::state::{
    BroadcastMapState, Chunk, KeyHasher, ListState, MapState, Snapshot, SnapshotMode, StateValue, Store, ValueState,
    kind_name,
};
use crate::state::{BroadcastMapStore, Current, Kind, ListStore, MapStore, ValueStore};
use crate::timer::{TIMERS_HANDLE, TimeDomain, Timer, Timers};
use crate::{Error, OperatorInfo, Result, log};

/// What an operator sees while it processes events or finishes: where to
/// emit output, its [`OperatorInfo`], and the state behind its handles.
pub struct Context {
    info: OperatorInfo,
    stores: Vec<Box<dyn Store>>,
    keys: KeyHasher,
    has_keyed_state: bool,
    current: Current,
    output: BatchWriter,
    /// Restored chunks of handles `open` did not declare, returned again by
    /// every full snapshot so that no state is silently dropped (they never
    /// change, so incremental snapshots leave them out).
    unclaimed: Vec<Chunk>,
    /// Whether the stores' change tracking is relative to a snapshot this
    /// instance returned: false before the first one, and after one that
    /// failed half way.
    tracking: bool,
    /// Every timer (keyed state of the reserved handle `weir.timers`).
    timers: Timers,
    /// The indexes of the stores with a time to live.
    ttl_stores: Vec<usize>,
    /// The processing time of the last `advance`.
    now: Option<i64>,
}

impl Context {
    fn new(info: OperatorInfo) -> Self {
        Context {
            info,
            stores: Vec::new(),
            keys: KeyHasher::default(),
            has_keyed_state: false,
            current: Current::new(),
            output: BatchWriter::new(),
            unclaimed: Vec::new(),
            tracking: false,
            timers: Timers::new(),
            ttl_stores: Vec::new(),
            now: None,
        }
    }

    /// Who this instance is and its configuration.
    pub fn info(&self) -> &OperatorInfo {
        &self.info
    }

    /// Emits an event to the main output, with the timestamp of the input
    /// event being processed (none in `finish`).
    pub fn emit(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        let timestamp = self.current.timestamp();
        self.emit_with_timestamp(key, value, timestamp);
    }

    /// Emits an event to the main output with a timestamp (milliseconds
    /// since the Unix epoch).
    pub fn emit_with_timestamp(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>, timestamp: i64) {
        // MAIN_OUTPUT is also NO_KEY_GROUP (0xFFFF), what a version 1 batch
        // carries in the field: the bytes are right whichever version the
        // batch turns out to be.
        self.output.push(MAIN_OUTPUT, timestamp, key.as_ref(), value.as_ref());
    }

    /// Emits an event to side output `output`, one of
    /// [`OperatorInfo::side_outputs`] (`side_outputs` in the job file), with
    /// the timestamp of the input event being processed (none in `finish`).
    /// Events keep their order within each output.
    ///
    /// An error, naming the declared side outputs, when `output` is not one
    /// of them: the job file must declare every side output an operator uses.
    ///
    /// ```
    /// # use weir_guest::{Context, Event, OpenContext, Operator, OperatorInfo, Result};
    /// struct Sort;
    /// impl Operator for Sort {
    ///     fn open(_ctx: &mut OpenContext) -> Result<Self> {
    ///         Ok(Sort)
    ///     }
    ///     fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
    ///         match event.value_str() {
    ///             Ok(text) => ctx.emit(event.key(), text.to_uppercase()),
    ///             Err(_) => ctx.emit_to("bad", event.key(), event.value())?,
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// let info = OperatorInfo::new("sort").with_side_outputs(["bad"]);
    /// let mut harness = weir_guest::testing::Harness::<Sort>::with_info(info)?;
    /// assert_eq!(harness.process("k", "ok", 0)?, [("k", "OK")]);
    /// assert!(harness.process("k", [0xff], 0)?.is_empty());
    /// assert_eq!(harness.side_output("bad")[0].value, [0xff]);
    /// # Ok::<(), weir_guest::Error>(())
    /// ```
    pub fn emit_to(&mut self, output: &str, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        let timestamp = self.current.timestamp();
        self.emit_to_with_timestamp(output, key, value, timestamp)
    }

    /// Emits an event to side output `output` with a timestamp; see
    /// [`Context::emit_to`].
    pub fn emit_to_with_timestamp(
        &mut self,
        output: &str,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        timestamp: i64,
    ) -> Result<()> {
        let Some(tag) = self.info.side_output_index(output) else {
            return Err(undeclared_side_output(&self.info, output));
        };
        // A side output needs a version 2 batch (wit/FRAMING.md); the events
        // already written carry MAIN_OUTPUT, which means the same in it.
        if self.output.version() != TAGGED_VERSION {
            self.output.tag_outputs();
        }
        self.output.push(tag, timestamp, key.as_ref(), value.as_ref());
        Ok(())
    }

    /// The event-time watermark: what the host last passed to `advance`
    /// (it never goes back), `i64::MIN` before the first. No event at or
    /// below it is expected any more; an event-time timer fires once the
    /// watermark reaches its timestamp.
    pub fn watermark(&self) -> i64 {
        self.current.watermark()
    }

    /// The processing time in milliseconds since the Unix epoch: the `now`
    /// of the last `advance` (the host's clock), or the wall clock before
    /// the first `advance`. A processing-time timer fires once the host's
    /// clock reaches its timestamp.
    pub fn now(&self) -> i64 {
        self.now.unwrap_or_else(wall_clock_ms)
    }

    /// Registers an event-time timer for the current key: once the
    /// watermark reaches `timestamp`, [`Operator::on_timer`](crate::Operator::on_timer)
    /// is called with it, the key current again. Registering a timer that
    /// exists (same key, domain and timestamp) changes nothing.
    ///
    /// A timer at or below the current watermark fires at the next
    /// `advance` (from inside `on_timer`: in the same `advance`).
    ///
    /// # Panics
    /// Where keyed state panics: with no current key (in `finish`, for a
    /// broadcast or unkeyed input). And for an operator that declared no
    /// keyed state and did not call [`OpenContext::use_timers`].
    #[track_caller]
    pub fn register_event_timer(&mut self, timestamp: i64) {
        self.timers.register(self.current.timer_key(), TimeDomain::EventTime, timestamp);
    }

    /// Deletes an event-time timer of the current key, if there is one.
    ///
    /// # Panics
    /// As [`Context::register_event_timer`].
    #[track_caller]
    pub fn delete_event_timer(&mut self, timestamp: i64) {
        self.timers.delete(self.current.timer_key(), TimeDomain::EventTime, timestamp);
    }

    /// Registers a processing-time timer for the current key: once the
    /// host's clock reaches `timestamp` (ms since the Unix epoch), the host
    /// calls `advance` and [`Operator::on_timer`](crate::Operator::on_timer)
    /// is called with it. The SDK tells the host (`wake-at`) when its
    /// earliest processing-time timer is due.
    ///
    /// # Panics
    /// As [`Context::register_event_timer`].
    #[track_caller]
    pub fn register_processing_timer(&mut self, timestamp: i64) {
        self.timers.register(self.current.timer_key(), TimeDomain::ProcessingTime, timestamp);
    }

    /// Deletes a processing-time timer of the current key, if there is one.
    ///
    /// # Panics
    /// As [`Context::register_event_timer`].
    #[track_caller]
    pub fn delete_processing_timer(&mut self, timestamp: i64) {
        self.timers.delete(self.current.timer_key(), TimeDomain::ProcessingTime, timestamp);
    }

    /// The current key's timers of `domain` that have not fired, in
    /// timestamp order.
    ///
    /// # Panics
    /// As [`Context::register_event_timer`].
    #[track_caller]
    pub fn timers(&self, domain: TimeDomain) -> Vec<i64> {
        self.timers.of_key(self.current.timer_key(), domain)
    }

    /// Starts processing an event of an input (broadcast or not).
    pub(crate) fn enter(&mut self, event: &EventRef<'_>, broadcast: bool) {
        let keys = self.has_keyed_state.then_some(&self.keys);
        self.current.enter(event.key, event.key_group, event.timestamp, keys, broadcast);
        self.expire_current();
    }

    /// Drops what expired of the current key's state in handles with a TTL.
    fn expire_current(&mut self) {
        for &index in &self.ttl_stores {
            self.stores[index].expire_current(&self.current);
        }
    }

    /// Time moved (`advance`): raises the watermark, sets the processing
    /// time, and drops what expired by the watermark in handles with a TTL.
    pub(crate) fn advance_time(&mut self, watermark: i64, now: i64) {
        self.current.advance_watermark(watermark);
        self.now = Some(self.now.map_or(now, |before| before.max(now)));
        self.expire_all();
    }

    fn expire_all(&mut self) {
        let time = self.current.operator_time();
        for &index in &self.ttl_stores {
            self.stores[index].expire_all(time);
        }
    }

    /// Removes the next timer due at the current watermark and processing
    /// time and makes its key current (an event-time timer's output gets
    /// its timestamp by default; a processing-time timer's none).
    pub(crate) fn next_due_timer(&mut self) -> Option<Timer> {
        let watermark = self.current.watermark();
        let now = self.now.unwrap_or(i64::MIN);
        let (timer, hash, key_group) = self.timers.pop_due(watermark, now, &self.keys)?;
        let timestamp = match timer.domain {
            TimeDomain::EventTime => timer.timestamp,
            TimeDomain::ProcessingTime => weir_wire::batch::NO_TIMESTAMP,
        };
        self.current.enter_timer(&timer.key, hash, key_group, timestamp);
        self.expire_current();
        Some(timer)
    }

    /// The earliest processing-time timer: what `wake-at` asks for.
    pub(crate) fn earliest_processing_timer(&self) -> Option<i64> {
        self.timers.earliest_processing()
    }

    /// Replaces the default timestamp of output events until the current
    /// event or timer ends; returns the previous one.
    pub(crate) fn replace_timestamp(&mut self, timestamp: i64) -> i64 {
        self.current.replace_timestamp(timestamp)
    }

    pub(crate) fn leave(&mut self) {
        self.current.leave();
    }

    /// The events emitted since the last call, as a batch; an empty batch
    /// costs no allocation.
    pub(crate) fn take_output(&mut self) -> Vec<u8> {
        if self.output.is_empty() { Vec::new() } else { self.output.take() }
    }

    pub(crate) fn discard_output(&mut self) {
        self.output.reset();
    }

    /// Every handle's chunks, in declaration order, then (in a full
    /// snapshot) the unclaimed ones.
    ///
    /// An incremental snapshot is relative to the previous snapshot call; an
    /// instance that has made none (or whose previous one failed) has nothing
    /// to be relative to, and answers with its complete state instead, which
    /// the contract always allows.
    pub(crate) fn snapshot(&mut self, mode: SnapshotMode) -> Result<Snapshot> {
        let mode = if self.tracking { mode } else { SnapshotMode::Full };
        self.tracking = false;
        // What expired is left out of every snapshot (STATE.md, "State TTL").
        self.expire_all();
        let mut chunks = Vec::new();
        for store in &mut self.stores {
            store.snapshot(mode, &mut chunks)?;
        }
        self.timers.snapshot(mode, &mut chunks)?;
        if mode == SnapshotMode::Full {
            chunks.extend(self.unclaimed.iter().cloned());
        }
        self.tracking = true;
        Ok(Snapshot { incremental: mode == SnapshotMode::Incremental, chunks })
    }

    #[track_caller]
    pub(crate) fn store<S: Store>(&self, index: usize) -> (&S, &Current) {
        let store = self.stores.get(index).and_then(|store| (&**store as &dyn Any).downcast_ref());
        (store.unwrap_or_else(|| foreign_handle()), &self.current)
    }

    #[track_caller]
    pub(crate) fn store_mut<S: Store>(&mut self, index: usize) -> (&mut S, &Current) {
        let store = self.stores.get_mut(index).and_then(|store| (&mut **store as &mut dyn Any).downcast_mut());
        (store.unwrap_or_else(|| foreign_handle()), &self.current)
    }
}

/// A TTL must be at least one millisecond.
fn check_ttl(name: &str, ttl_ms: i64) -> Result<i64> {
    if ttl_ms < 1 {
        return Err(Error::msg(format!("state `{name}`: the time to live must be at least 1 ms, not {ttl_ms}")));
    }
    Ok(ttl_ms)
}

fn undeclared_side_output(info: &OperatorInfo, output: &str) -> Error {
    let declared = match info.side_outputs() {
        [] => "it declares none".to_owned(),
        names => {
            let names: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
            format!("it declares {}", names.join(", "))
        }
    };
    Error::msg(format!(
        "operator '{}' emitted to side output `{output}`, which the job file does not declare for it \
         ({declared}): add it to the operator's side_outputs",
        info.name()
    ))
}

/// Milliseconds since the Unix epoch by the wall clock (0 if it is before).
fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
}

#[track_caller]
fn foreign_handle() -> ! {
    panic!("a state handle was used with a Context other than the one of the instance that declared it")
}

/// What `open` gets: the instance's [`OperatorInfo`] and the means to declare
/// state handles. Declaring a handle loads its restored state, if any.
///
/// Keyed handles (`keyed_*`) need a keyed input: declaring one when
/// [`OperatorInfo::key_groups`] is `None` (`key_by = false`) is an error.
pub struct OpenContext {
    ctx: Context,
    /// Restored chunks not yet claimed by a declaration.
    restored: Vec<Chunk>,
}

impl OpenContext {
    /// Loads the restored timers; the other chunks wait for `open` to
    /// declare their handles.
    pub(crate) fn new(info: OperatorInfo, restored: Vec<Chunk>) -> Result<Self> {
        let mut ctx = Context::new(info);
        let (timers, restored): (Vec<Chunk>, Vec<Chunk>) =
            restored.into_iter().partition(|chunk| chunk.handle == TIMERS_HANDLE);
        for chunk in &timers {
            if chunk.kind != Kind::KeyedMap {
                return Err(Error::msg(format!(
                    "the restored checkpoint holds the timers (`{TIMERS_HANDLE}`) as {}, not keyed-map",
                    kind_name(chunk.kind)
                )));
            }
            ctx.timers.restore(chunk.key_group, &chunk.data, &ctx.keys)?;
        }
        // Timers belong to event keys: track the key of every event.
        ctx.has_keyed_state |= !ctx.timers.is_empty();
        Ok(OpenContext { ctx, restored })
    }

    /// Who this instance is and its configuration.
    pub fn info(&self) -> &OperatorInfo {
        self.ctx.info()
    }

    /// Declares a value per key.
    pub fn keyed_value<T: StateValue>(&mut self, name: &str) -> Result<ValueState<T>> {
        self.declare(ValueStore::<T>::keyed(name, None)).map(ValueState::new)
    }

    /// Declares a map per key.
    pub fn keyed_map<K, V>(&mut self, name: &str) -> Result<MapState<K, V>>
    where
        K: StateValue + Hash + Eq,
        V: StateValue,
    {
        self.declare(MapStore::<K, V>::keyed(name, None)).map(MapState::new)
    }

    /// Declares a list per key.
    pub fn keyed_list<T: StateValue>(&mut self, name: &str) -> Result<ListState<T>> {
        self.declare(ListStore::<T>::keyed(name, None)).map(ListState::new)
    }

    /// Declares a value per key whose value expires `ttl_ms` milliseconds
    /// (of event time) after it was written: see [the TTL section of the
    /// crate docs](crate#state-ttl). A checkpoint of a handle with a TTL
    /// restores only into a handle with a TTL (the layout differs).
    pub fn keyed_value_with_ttl<T: StateValue>(&mut self, name: &str, ttl_ms: i64) -> Result<ValueState<T>> {
        let ttl_ms = check_ttl(name, ttl_ms)?;
        self.declare(ValueStore::<T>::keyed(name, Some(ttl_ms))).map(ValueState::new)
    }

    /// Declares a map per key whose entries each expire `ttl_ms`
    /// milliseconds (of event time) after they were written.
    pub fn keyed_map_with_ttl<K, V>(&mut self, name: &str, ttl_ms: i64) -> Result<MapState<K, V>>
    where
        K: StateValue + Hash + Eq,
        V: StateValue,
    {
        let ttl_ms = check_ttl(name, ttl_ms)?;
        self.declare(MapStore::<K, V>::keyed(name, Some(ttl_ms))).map(MapState::new)
    }

    /// Declares a list per key whose elements each expire `ttl_ms`
    /// milliseconds (of event time) after they were pushed.
    pub fn keyed_list_with_ttl<T: StateValue>(&mut self, name: &str, ttl_ms: i64) -> Result<ListState<T>> {
        let ttl_ms = check_ttl(name, ttl_ms)?;
        self.declare(ListStore::<T>::keyed(name, Some(ttl_ms))).map(ListState::new)
    }

    /// Says the operator uses timers. Needed only by an operator that
    /// declares no keyed state (keyed handles and windows imply it): the SDK
    /// then keeps each event's key, which timers belong to. The input must
    /// be keyed.
    pub fn use_timers(&mut self) -> Result<()> {
        if self.ctx.info.key_groups().is_none() {
            return Err(Error::msg(format!(
                "operator '{}' uses timers, which belong to event keys, but its input is not keyed: set \
                 key_by = true for this operator in the job file",
                self.ctx.info.name()
            )));
        }
        self.ctx.has_keyed_state = true;
        Ok(())
    }

    /// The watermark: `i64::MIN` in `open` (the host passes it in
    /// `advance`, and it is not part of the checkpoint).
    pub fn watermark(&self) -> i64 {
        self.ctx.watermark()
    }

    /// Declares one value for this subtask.
    pub fn operator_value<T: StateValue>(&mut self, name: &str) -> Result<ValueState<T>> {
        self.declare(ValueStore::<T>::operator(name)).map(ValueState::new)
    }

    /// Declares one list for this subtask.
    pub fn operator_list<T: StateValue>(&mut self, name: &str) -> Result<ListState<T>> {
        self.declare(ListStore::<T>::operator(name)).map(ListState::new)
    }

    /// Declares a map every subtask holds the same copy of, for what
    /// broadcast inputs carry; usable without a current key (see
    /// [`BroadcastMapState`] for the one rule: change it only for events of
    /// a broadcast input). It needs no keyed input.
    pub fn broadcast_map<K, V>(&mut self, name: &str) -> Result<BroadcastMapState<K, V>>
    where
        K: StateValue + Hash + Eq,
        V: StateValue,
    {
        self.declare(BroadcastMapStore::<K, V>::new(name)).map(BroadcastMapState::new)
    }

    /// Adds a store, loading the restored chunks that carry its name.
    pub(crate) fn declare<S: Store>(&mut self, mut store: S) -> Result<usize> {
        let name = store.name().to_owned();
        let kind = store.kind();
        if name.is_empty() {
            return Err(Error::msg("a state handle name must not be empty"));
        }
        if name.starts_with("weir.") {
            return Err(Error::msg(format!(
                "state handle `{name}`: names starting with `weir.` are reserved for the SDK (`{TIMERS_HANDLE}` \
                 holds the timers)"
            )));
        }
        // Keyed state is scoped by the event's key group, which the host sets
        // only on a keyed input: refuse it here, where the job file is at
        // fault, rather than at the first event.
        if kind.is_keyed() && self.ctx.info.key_groups().is_none() {
            return Err(Error::msg(format!(
                "operator '{}': state `{name}` is keyed ({}), but the operator's input is not keyed: set \
                 key_by = true for this operator in the job file (or declare operator state instead)",
                self.ctx.info.name(),
                kind_name(kind)
            )));
        }
        if self.ctx.stores.iter().any(|declared| declared.name() == name) {
            return Err(Error::msg(format!("state handle `{name}` is declared twice")));
        }
        let (mine, others): (Vec<Chunk>, Vec<Chunk>) =
            std::mem::take(&mut self.restored).into_iter().partition(|chunk| chunk.handle == name);
        self.restored = others;
        // Each chunk is dropped once decoded: the allocator reuses its
        // memory for the values that follow, so a restored gigabyte does not
        // grow the linear memory by a second one (issue 17).
        for chunk in mine {
            if chunk.kind != kind {
                return Err(Error::msg(format!(
                    "state handle `{name}` is declared as {} but the restored checkpoint holds it as {}",
                    kind_name(kind),
                    kind_name(chunk.kind)
                )));
            }
            store.restore(chunk.key_group, &chunk.data, &self.ctx.keys)?;
        }
        self.ctx.has_keyed_state |= kind.is_keyed();
        if store.has_ttl() {
            self.ctx.ttl_stores.push(self.ctx.stores.len());
        }
        self.ctx.stores.push(Box::new(store));
        Ok(self.ctx.stores.len() - 1)
    }

    /// Ends `open`: restored chunks nobody declared are kept for the next
    /// snapshots.
    pub(crate) fn into_context(self) -> Context {
        let OpenContext { mut ctx, restored } = self;
        let mut reported: Vec<(&str, Kind)> = Vec::new();
        for chunk in &restored {
            if !reported.contains(&(chunk.handle.as_str(), chunk.kind)) {
                reported.push((&chunk.handle, chunk.kind));
                log::warn(&format!(
                    "restored {} state `{}` is not declared by `open`; it is kept unchanged in every \
                     snapshot",
                    kind_name(chunk.kind),
                    chunk.handle
                ));
            }
        }
        ctx.unclaimed = restored;
        ctx
    }
}
