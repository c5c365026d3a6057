//! [`Harness`]: runs an operator natively, without a host, for unit tests.
//!
//! The harness drives the same [`Runtime`] the export glue uses, so what
//! passes here behaves the same inside a component: events go through the
//! batch framing, state through snapshot chunks.
//!
//! ```
//! use weir_guest::testing::Harness;
//! use weir_guest::{Context, Event, OpenContext, Operator, Result};
//!
//! struct Upper;
//!
//! impl Operator for Upper {
//!     fn open(_ctx: &mut OpenContext) -> Result<Self> {
//!         Ok(Upper)
//!     }
//!     fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
//!         ctx.emit(event.key(), event.value_str()?.to_uppercase());
//!         Ok(())
//!     }
//! }
//!
//! let mut harness = Harness::<Upper>::new()?;
//! assert_eq!(harness.process("k", "hi", 0)?, [("k", "HI")]);
//! assert!(harness.process("k", [0xff], 0).is_err());
//! # Ok::<(), weir_guest::Error>(())
//! ```
//!
//! Incremental snapshots are tested by merging them onto a full one with
//! [`merge_snapshots`], as the host does before a restore:
//!
//! ```
//! # use weir_guest::{Context, Event, OpenContext, Operator, Result, ValueState};
//! # pub struct Counter { count: ValueState<u64> }
//! # impl Operator for Counter {
//! #     fn open(ctx: &mut OpenContext) -> Result<Self> {
//! #         Ok(Counter { count: ctx.keyed_value("count")? })
//! #     }
//! #     fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
//! #         let n = self.count.get(ctx).copied().unwrap_or(0) + 1;
//! #         self.count.set(ctx, n);
//! #         ctx.emit(event.key(), n.to_string().as_bytes());
//! #         Ok(())
//! #     }
//! # }
//! use weir_guest::testing::{Harness, merge_snapshots};
//!
//! let mut harness = Harness::<Counter>::new()?;
//! harness.process("apple", "", 3)?;
//! harness.process("pear", "", 5)?;
//! let base = harness.snapshot()?;
//!
//! harness.process("apple", "", 3)?;
//! let delta = harness.snapshot_incremental()?;
//! assert!(delta.incremental);
//! assert_eq!(delta.chunks.len(), 1); // only key group 3 changed
//!
//! let mut restored = Harness::<Counter>::restore(merge_snapshots(base, [delta])?)?;
//! assert_eq!(restored.process("apple", "", 3)?, [("apple", "3")]);
//! assert_eq!(restored.process("pear", "", 5)?, [("pear", "2")]);
//! # Ok::<(), weir_guest::Error>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use weir_wire::batch::{BatchReader, BatchWriter, MAIN_OUTPUT, NO_TIMESTAMP, TAGGED_VERSION};
use weir_wire::state::{Kind, VERSION, chunk_version, merge};

use crate::runtime::Runtime;
use crate::state::{Chunk, Snapshot, SnapshotMode, kind_name};
use crate::{Context, Error, Operator, OperatorInfo, Result};

pub use weir_wire::batch::NO_KEY_GROUP;

/// One operator instance under test.
///
/// The `process*` and [`finish`](Harness::finish) methods return what the
/// operator emitted to its main output; what it emitted to side outputs is
/// kept apart, for [`side_output`](Harness::side_output). `process`,
/// `process_at`, `process_all` and `process_batch` feed input 0 (the single
/// input [`OperatorInfo::new`] declares); the `process_input*` methods take
/// the input's index, for operators with several inputs:
///
/// ```
/// use weir_guest::testing::{Harness, NO_KEY_GROUP};
/// use weir_guest::{Context, Event, InputInfo, OpenContext, Operator, OperatorInfo, Result};
///
/// /// Tags every event with the input it came from; "?" goes to side output "odd".
/// struct Tag;
///
/// impl Operator for Tag {
///     fn open(_ctx: &mut OpenContext) -> Result<Self> {
///         Ok(Tag)
///     }
///     fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
///         if event.value() == b"?" {
///             return ctx.emit_to("odd", event.key(), event.input_name());
///         }
///         ctx.emit(event.key(), event.input_name());
///         Ok(())
///     }
/// }
///
/// let info = OperatorInfo::new("tag")
///     .with_inputs([InputInfo::new("left"), InputInfo::broadcast("right")])
///     .with_side_outputs(["odd"]);
/// let mut harness = Harness::<Tag>::with_info(info)?;
/// assert_eq!(harness.process("a", "x", 3)?, [("a", "left")]);
/// assert_eq!(harness.process_input(1, "b", "x", NO_KEY_GROUP)?, [("b", "right")]);
/// assert!(harness.process_input(1, "c", "?", NO_KEY_GROUP)?.is_empty());
/// assert_eq!(harness.side_output("odd"), [("c", "right")]);
/// assert!(harness.side_output("odd").is_empty()); // taken
/// # Ok::<(), weir_guest::Error>(())
/// ```
pub struct Harness<O> {
    runtime: Runtime<O>,
    info: OperatorInfo,
    checkpoint_id: u64,
    /// What was emitted to each side output and not yet taken, by tag.
    side_outputs: Vec<Vec<Output>>,
}

impl<O: Operator> Harness<O> {
    /// A fresh instance with [`OperatorInfo::new("test")`](OperatorInfo::new):
    /// subtask 0 of 1, owning key groups `0..128`, one input, no side
    /// outputs.
    pub fn new() -> Result<Self> {
        Self::restore_with_info(OperatorInfo::new("test"), Vec::new())
    }

    /// A fresh instance with this info (name, config, key groups, inputs,
    /// side outputs...).
    pub fn with_info(info: OperatorInfo) -> Result<Self> {
        Self::restore_with_info(info, Vec::new())
    }

    /// An instance restored from chunks returned by [`Harness::snapshot`].
    pub fn restore(chunks: Vec<Chunk>) -> Result<Self> {
        Self::restore_with_info(OperatorInfo::new("test"), chunks)
    }

    /// An instance with this info, restored from these chunks.
    pub fn restore_with_info(info: OperatorInfo, chunks: Vec<Chunk>) -> Result<Self> {
        let runtime = Runtime::init(info.clone(), chunks)?;
        let side_outputs = vec![Vec::new(); info.side_outputs().len()];
        Ok(Harness { runtime, info, checkpoint_id: 0, side_outputs })
    }

    /// Processes one event of input 0 without a timestamp. `key_group` is
    /// what the host would have hashed the key into; pass [`NO_KEY_GROUP`]
    /// for an unkeyed input.
    pub fn process(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>, key_group: u16) -> Result<Vec<Output>> {
        self.process_input_at(0, key, value, key_group, NO_TIMESTAMP)
    }

    /// Processes one event of input 0 with a timestamp (milliseconds since
    /// the epoch).
    pub fn process_at(
        &mut self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        key_group: u16,
        timestamp: i64,
    ) -> Result<Vec<Output>> {
        self.process_input_at(0, key, value, key_group, timestamp)
    }

    /// Processes several `(key, value, key_group)` events of input 0 as one
    /// batch.
    pub fn process_all<K, V>(&mut self, events: impl IntoIterator<Item = (K, V, u16)>) -> Result<Vec<Output>>
    where
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        self.process_input_all(0, events)
    }

    /// Processes a packed batch of input 0 as the host would pass it
    /// (`wit/FRAMING.md`).
    pub fn process_batch(&mut self, batch: &[u8]) -> Result<Vec<Output>> {
        self.process_input_batch(0, batch)
    }

    /// Processes one event of input `input` (an index into
    /// [`OperatorInfo::inputs`]) without a timestamp. A broadcast input's
    /// events carry no key group: pass [`NO_KEY_GROUP`] (anything else is an
    /// error, as the host never sends it).
    pub fn process_input(
        &mut self,
        input: u32,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        key_group: u16,
    ) -> Result<Vec<Output>> {
        self.process_input_at(input, key, value, key_group, NO_TIMESTAMP)
    }

    /// Processes one event of input `input` with a timestamp.
    pub fn process_input_at(
        &mut self,
        input: u32,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        key_group: u16,
        timestamp: i64,
    ) -> Result<Vec<Output>> {
        self.check_key_group(input, key_group)?;
        let mut batch = BatchWriter::new();
        batch.push(key_group, timestamp, key.as_ref(), value.as_ref());
        self.process_input_batch(input, batch.as_bytes())
    }

    /// Processes several `(key, value, key_group)` events of input `input`
    /// as one batch.
    pub fn process_input_all<K, V>(
        &mut self,
        input: u32,
        events: impl IntoIterator<Item = (K, V, u16)>,
    ) -> Result<Vec<Output>>
    where
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let mut batch = BatchWriter::new();
        for (key, value, key_group) in events {
            self.check_key_group(input, key_group)?;
            batch.push(key_group, NO_TIMESTAMP, key.as_ref(), value.as_ref());
        }
        self.process_input_batch(input, batch.as_bytes())
    }

    /// Processes several `(key, value, key_group, timestamp)` events of
    /// input 0 as one batch.
    pub fn process_all_at<K, V>(&mut self, events: impl IntoIterator<Item = (K, V, u16, i64)>) -> Result<Vec<Output>>
    where
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let mut batch = BatchWriter::new();
        for (key, value, key_group, timestamp) in events {
            self.check_key_group(0, key_group)?;
            batch.push(key_group, timestamp, key.as_ref(), value.as_ref());
        }
        self.process_input_batch(0, batch.as_bytes())
    }

    /// Time moves, as when the host calls `advance`: the watermark rises to
    /// `watermark` (a lower one is ignored) and the clock is `now`; every
    /// due timer fires (see [`Runtime::advance`]). Returns what the timers
    /// emitted to the main output; side outputs' events are kept for
    /// [`Harness::side_output`].
    ///
    /// The host ends a bounded input with `advance(i64::MAX, now)`, then
    /// `finish`.
    pub fn advance(&mut self, watermark: i64, now: i64) -> Result<Vec<Output>> {
        let output = self.runtime.advance(watermark, now)?;
        self.split_output(&output)
    }

    /// The wake-up time the instance last asked the host for (`wake-at`):
    /// its earliest processing-time timer, or `None`.
    pub fn wake_at(&self) -> Option<i64> {
        self.runtime.wake_at()
    }

    /// Processes a packed batch of input `input` as the host would pass it.
    pub fn process_input_batch(&mut self, input: u32, batch: &[u8]) -> Result<Vec<Output>> {
        let output = self.runtime.process(input, batch)?;
        self.split_output(&output)
    }

    /// Takes what the operator emitted to side output `name` since the
    /// previous call, oldest first.
    ///
    /// # Panics
    /// When the info does not declare `name` (a typo in a test).
    #[track_caller]
    pub fn side_output(&mut self, name: &str) -> Vec<Output> {
        match self.info.side_output_index(name) {
            Some(tag) => std::mem::take(&mut self.side_outputs[usize::from(tag)]),
            None => panic!(
                "side output `{name}` is not declared (declared: {:?}): add it with \
                 OperatorInfo::with_side_outputs",
                self.info.side_outputs()
            ),
        }
    }

    fn check_key_group(&self, input: u32, key_group: u16) -> Result<()> {
        match self.info.inputs().get(input as usize) {
            Some(info) if info.is_broadcast() && key_group != NO_KEY_GROUP => Err(Error::msg(format!(
                "input {input} (`{}`) is broadcast: its events carry no key group (pass NO_KEY_GROUP, \
                 not {key_group})",
                info.name()
            ))),
            _ => Ok(()),
        }
    }

    /// The main output's events of a batch the operator returned; its side
    /// outputs' go to their buffers.
    fn split_output(&mut self, batch: &[u8]) -> Result<Vec<Output>> {
        let mut main = Vec::new();
        for (tag, output) in decode_output(batch)? {
            if tag == MAIN_OUTPUT {
                main.push(output);
            } else {
                let buffer = self.side_outputs.get_mut(usize::from(tag)).ok_or_else(|| {
                    Error::msg(format!("the SDK wrote an event with output tag {tag}, which names no side output"))
                })?;
                buffer.push(output);
            }
        }
        Ok(main)
    }

    /// Takes a full snapshot (as at a checkpoint barrier); pass the chunks
    /// to [`Harness::restore`] to continue from it.
    pub fn snapshot(&mut self) -> Result<Vec<Chunk>> {
        Ok(self.snapshot_with(SnapshotMode::Full)?.chunks)
    }

    /// Takes an incremental snapshot: what changed since the previous
    /// snapshot (full on the instance's first one; see
    /// [`Runtime::snapshot`]). Restore from it with [`merge_snapshots`].
    pub fn snapshot_incremental(&mut self) -> Result<Snapshot> {
        self.snapshot_with(SnapshotMode::Incremental)
    }

    /// Takes a snapshot in `mode`, as the host asks for it.
    pub fn snapshot_with(&mut self, mode: SnapshotMode) -> Result<Snapshot> {
        self.checkpoint_id += 1;
        self.runtime.snapshot(self.checkpoint_id, mode)
    }

    /// Ends the input: runs [`Operator::finish`]. Returns the main output's
    /// events; side outputs' are kept for [`Harness::side_output`].
    pub fn finish(&mut self) -> Result<Vec<Output>> {
        let output = self.runtime.finish()?;
        self.split_output(&output)
    }

    /// The operator instance.
    pub fn operator(&self) -> &O {
        self.runtime.operator()
    }

    /// The instance's context: with the operator's handles, reads its state
    /// (`harness.operator().count.get(harness.context())`), outside any
    /// event, as in `finish`.
    pub fn context(&self) -> &Context {
        self.runtime.context()
    }

    /// The info the instance was created with.
    pub fn info(&self) -> &OperatorInfo {
        &self.info
    }
}

/// The complete state that a full snapshot `base` followed by `snapshots`
/// (full or incremental, oldest first) amounts to, as version 1 chunks ready
/// for [`Harness::restore`]: what the host hands `init` when it restores
/// from a chain of checkpoints.
///
/// Chunks are grouped by (handle, key group). A full snapshot replaces
/// everything (several chunks of one group in it are concatenated). In an
/// incremental one, a chunk is applied to its group with
/// [`weir_wire::state::merge`] (a version 1 chunk replaces the group, a delta
/// changes it) and a group it does not name is unchanged. Groups left empty
/// are omitted, as a full snapshot omits them; the order of the chunks (and
/// of the entries in them) is unspecified.
pub fn merge_snapshots(base: Vec<Chunk>, snapshots: impl IntoIterator<Item = Snapshot>) -> Result<Vec<Chunk>> {
    let mut chains = Chains::new();
    add_full(&mut chains, base)?;
    for snapshot in snapshots {
        if !snapshot.incremental {
            chains.clear();
            add_full(&mut chains, snapshot.chunks)?;
            continue;
        }
        let mut named = BTreeSet::new();
        for chunk in snapshot.chunks {
            if !named.insert((chunk.handle.clone(), chunk.key_group)) {
                return Err(merge_error(&chunk, "an incremental snapshot holds it twice"));
            }
            let chain = chain_of(&mut chains, &chunk)?;
            chain.push(chunk.data);
        }
    }
    let mut out = Vec::new();
    for ((handle, key_group), (kind, chain)) in chains {
        let chain: Vec<&[u8]> = chain.iter().map(Vec::as_slice).collect();
        let data = merge(kind, &chain).map_err(|e| {
            Error::msg(format!("state `{handle}` (key group {key_group:?}): cannot merge its snapshots: {e}"))
        })?;
        if data != [VERSION] {
            out.push(Chunk { handle, kind, key_group, data });
        }
    }
    Ok(out)
}

/// (handle, key group) -> its kind and chain of chunk data, oldest first.
type Chains = BTreeMap<(String, Option<u16>), (Kind, Vec<Vec<u8>>)>;

/// Adds the chunks of a full snapshot to empty `chains`.
fn add_full(chains: &mut Chains, chunks: Vec<Chunk>) -> Result<()> {
    for chunk in chunks {
        if chunk_version(&chunk.data) != Ok(VERSION) {
            return Err(merge_error(&chunk, "a full snapshot may hold only version 1 chunks"));
        }
        let chain = chain_of(chains, &chunk)?;
        match chain.first_mut() {
            Some(data) => data.extend_from_slice(&chunk.data[1..]),
            None => chain.push(chunk.data),
        }
    }
    Ok(())
}

fn chain_of<'c>(chains: &'c mut Chains, chunk: &Chunk) -> Result<&'c mut Vec<Vec<u8>>> {
    let (kind, chain) =
        chains.entry((chunk.handle.clone(), chunk.key_group)).or_insert_with(|| (chunk.kind, Vec::new()));
    if *kind != chunk.kind {
        return Err(merge_error(chunk, &format!("it was {} before", kind_name(*kind))));
    }
    Ok(chain)
}

fn merge_error(chunk: &Chunk, why: &str) -> Error {
    Error::msg(format!(
        "state `{}` (key group {:?}, {}): cannot merge its snapshots: {why}",
        chunk.handle,
        chunk.key_group,
        kind_name(chunk.kind)
    ))
}

/// The events of an output batch with their output tag: [`MAIN_OUTPUT`]
/// for every event of a version 1 batch.
fn decode_output(batch: &[u8]) -> Result<Vec<(u16, Output)>> {
    let malformed = |e| Error::msg(format!("the SDK wrote a malformed output batch: {e}"));
    let reader = BatchReader::new(batch).map_err(malformed)?;
    let tagged = reader.version() == TAGGED_VERSION;
    reader
        .map(|event| {
            let event = event.map_err(malformed)?;
            let output = Output {
                key: event.key.to_vec(),
                value: event.value.to_vec(),
                timestamp: (event.timestamp != NO_TIMESTAMP).then_some(event.timestamp),
            };
            Ok((if tagged { event.key_group } else { MAIN_OUTPUT }, output))
        })
        .collect()
}

/// One event an operator emitted.
///
/// Compares equal to a `(key, value)` pair of strings, so that
/// `assert_eq!(outputs, [("a", "1")])` works.
#[derive(Clone, PartialEq, Eq)]
pub struct Output {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub timestamp: Option<i64>,
}

impl Output {
    /// The key as UTF-8 text.
    pub fn key_str(&self) -> Result<&str> {
        std::str::from_utf8(&self.key).map_err(|e| Error::msg(format!("output key is not UTF-8 ({e})")))
    }

    /// The value as UTF-8 text.
    pub fn value_str(&self) -> Result<&str> {
        std::str::from_utf8(&self.value).map_err(|e| Error::msg(format!("output value is not UTF-8 ({e})")))
    }
}

impl PartialEq<(&str, &str)> for Output {
    fn eq(&self, (key, value): &(&str, &str)) -> bool {
        self.key == key.as_bytes() && self.value == value.as_bytes()
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut tuple = f.debug_tuple("Output");
        tuple.field(&String::from_utf8_lossy(&self.key)).field(&String::from_utf8_lossy(&self.value));
        if let Some(timestamp) = self.timestamp {
            tuple.field(&timestamp);
        }
        tuple.finish()
    }
}
