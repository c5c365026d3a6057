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

    /// Starts processing an event of an input (broadcast or not).
    pub(crate) fn enter(&mut self, event: &EventRef<'_>, broadcast: bool) {
        let keys = self.has_keyed_state.then_some(&self.keys);
        self.current.enter(event.key, event.key_group, event.timestamp, keys, broadcast);
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
        let mut chunks = Vec::new();
        for store in &mut self.stores {
            store.snapshot(mode, &mut chunks)?;
        }
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
    pub(crate) fn new(info: OperatorInfo, restored: Vec<Chunk>) -> Self {
        OpenContext { ctx: Context::new(info), restored }
    }

    /// Who this instance is and its configuration.
    pub fn info(&self) -> &OperatorInfo {
        self.ctx.info()
    }

    /// Declares a value per key.
    pub fn keyed_value<T: StateValue>(&mut self, name: &str) -> Result<ValueState<T>> {
        self.declare(ValueStore::<T>::keyed(name)).map(ValueState::new)
    }

    /// Declares a map per key.
    pub fn keyed_map<K, V>(&mut self, name: &str) -> Result<MapState<K, V>>
    where
        K: StateValue + Hash + Eq,
        V: StateValue,
    {
        self.declare(MapStore::<K, V>::keyed(name)).map(MapState::new)
    }

    /// Declares a list per key.
    pub fn keyed_list<T: StateValue>(&mut self, name: &str) -> Result<ListState<T>> {
        self.declare(ListStore::<T>::keyed(name)).map(ListState::new)
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
    fn declare<S: Store>(&mut self, mut store: S) -> Result<usize> {
        let name = store.name().to_owned();
        let kind = store.kind();
        if name.is_empty() {
            return Err(Error::msg("a state handle name must not be empty"));
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
        for chunk in &mine {
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
