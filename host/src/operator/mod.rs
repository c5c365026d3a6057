//! What an operator subtask *is* to the executor: something that takes
//! packed batches, returns packed batches, and hands over its state at a
//! checkpoint. Two kinds implement it:
//!
//! - a sandboxed WebAssembly component ([`crate::guest::GuestInstance`]),
//!   the normal case;
//! - native Rust code ([`NativeOperator`]), for embedders who trust their
//!   own operators and for the benchmarks' baseline.
//!
//! Both speak the same byte formats (`wit/FRAMING.md` for batches,
//! `wit/STATE.md` for state), so a checkpoint taken by one restores into the
//! other, and the executor, the checkpoints and the routing cannot tell them
//! apart. This module owns the trait and the native side; it knows nothing of
//! wasmtime, channels or storage.

mod native;

pub use native::NativeOperator;
pub use weir_wire::state::Kind as StateKind;

use std::ops::Range;

use crate::error::Result;

/// The state of one handle for one key group (or the whole subtask), as an
/// operator's `snapshot` returned it. `data` is laid out as `wit/STATE.md`
/// says: a full (version 1) chunk or, in an incremental snapshot, a delta
/// (version 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChunk {
    pub handle: String,
    pub kind: StateKind,
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
    /// The operator's inputs, input 0 first: the name of what feeds it and
    /// whether it is broadcast. One input named `input` by default.
    pub inputs: Vec<(String, bool)>,
    /// The side outputs it may emit to (output tag `i` is `side_outputs[i]`).
    pub side_outputs: Vec<String>,
}

impl InstanceContext {
    /// Subtask `subtask_index` of `parallelism`; a keyed one owns its range of
    /// `max_parallelism` key groups (the executor's assignment). No config.
    pub fn new(
        operator: impl Into<String>,
        subtask_index: u32,
        parallelism: u32,
        max_parallelism: u32,
        keyed: bool,
    ) -> Self {
        InstanceContext {
            operator: operator.into(),
            subtask_index,
            parallelism,
            max_parallelism,
            key_groups: keyed.then(|| crate::job::graph::key_group_range(subtask_index, parallelism, max_parallelism)),
            config: Vec::new(),
            inputs: vec![("input".to_owned(), false)],
            side_outputs: Vec::new(),
        }
    }
}

/// What the executor asks a snapshot for (the WIT `snapshot-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotMode {
    /// The complete state.
    Full,
    /// What changed since the previous snapshot of this instance; asked for
    /// only when that snapshot is part of a completed checkpoint.
    Incremental,
}

/// What `snapshot` returned (the WIT `snapshot` record).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// `false`: `chunks` is the complete state. `true`: `chunks` holds what
    /// changed since the previous snapshot; anything absent is unchanged.
    pub incremental: bool,
    pub chunks: Vec<StateChunk>,
}

/// One running operator subtask, sandboxed or native. Made and used on its
/// subtask's thread, so it need not be `Send`.
///
/// The executor calls `process` for every batch, `snapshot` when a
/// checkpoint barrier has aligned, and `finish` once at the end of bounded
/// input. An error fails the attempt; the instance is then dropped.
pub trait OperatorInstance {
    /// Handles one packed batch from input `input` (an index into
    /// [`InstanceContext::inputs`]); returns the packed batch it emits
    /// (`wit/FRAMING.md`: version 2 names each event's output).
    // `&Vec`: wasmtime's generated binding lowers a `list<u8>` from one, and
    // the executor owns its batches as Vecs anyway.
    #[allow(clippy::ptr_arg)]
    fn process(&mut self, input: u32, batch: &Vec<u8>) -> Result<Vec<u8>>;

    /// The instance's state at checkpoint `checkpoint_id`.
    fn snapshot(&mut self, checkpoint_id: u64, mode: SnapshotMode) -> Result<Snapshot>;

    /// Time moved: the operator's watermark (never lower than the last
    /// one), and the clock, both ms since the Unix epoch. Fires the
    /// instance's due timers; returns what they emitted.
    fn advance(&mut self, _watermark: i64, _now: i64) -> Result<Vec<u8>> {
        Ok(Vec::new())
    }

    /// When the instance wants [`OperatorInstance::advance`] called next
    /// by the clock: its earliest processing-time timer.
    fn wake_at(&self) -> Option<i64> {
        None
    }

    /// The input ended; returns the last events.
    fn finish(&mut self) -> Result<Vec<u8>>;
}
