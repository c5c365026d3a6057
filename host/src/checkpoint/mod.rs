//! Checkpoints: what they contain, where they live, who takes them, and
//! what is deleted when.
//!
//! - [`metadata`]: the `_metadata` format (versioned, checksummed).
//! - [`storage`]: the object store behind a checkpoint directory, chosen by
//!   URL, and the directory layout.
//! - `coordinator`: triggers checkpoints, collects acknowledgements, writes
//!   `_metadata` last, commits sink output, enforces retention.
//! - `writer`: turns a subtask's snapshot into inline chunks or a data file,
//!   uploaded off the subtask's thread.
//! - [`restore`]: reads a checkpoint back and hands each new subtask the
//!   state of the key groups it owns.
//! - [`retention`]: the policy table of DESIGN.md, as code.
//! - [`lease`]: one writer per job, through a conditionally created object.
//! - [`lifecycle`]: garbage collection of a directory no job is writing.
//! - [`stats`]: what each checkpoint cost, per subtask; kept in memory and
//!   in `_metadata`.
//! - `shared`: which checkpoints reference which `shared/` files (incremental
//!   checkpoints), so that a file goes with the last checkpoint using it.
//!
//! This module never calls into a guest: subtasks snapshot their guests and
//! hand the bytes over; the coordinator only moves bytes and files.

pub(crate) mod coordinator;
pub mod lease;
pub mod lifecycle;
pub mod metadata;
#[cfg(test)]
mod metadata_props;
pub mod restore;
pub mod retention;
pub(crate) mod shared;
pub mod stats;
pub mod storage;
pub(crate) mod writer;

use std::time::Duration;

pub use retention::Retention;

/// Size under which a subtask's state is stored inside `_metadata` instead
/// of a data file of its own (Flink's `state.storage.fs.memory-threshold`).
pub const DEFAULT_INLINE_THRESHOLD: usize = 20 * 1024;
/// With incremental checkpoints, every this many checkpoints a subtask takes
/// a full snapshot again, which bounds the chain of deltas a restore reads.
pub const DEFAULT_FULL_EVERY: u32 = 10;
/// A checkpoint not complete after this long is aborted.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// The `[checkpoint]` table of a job file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointConfig {
    /// Checkpoint root: a path, `file://`, `s3://bucket/prefix` or `memory://name`.
    pub dir: String,
    /// Time between the starts of two checkpoints.
    pub interval: Duration,
    pub timeout: Duration,
    /// Least time between the end of one checkpoint and the start of the next.
    pub min_pause: Duration,
    /// Consecutive failed checkpoints tolerated before the job fails.
    pub tolerable_failed: u32,
    pub retention: Retention,
    /// Complete checkpoints kept while the job runs (older ones are subsumed).
    pub num_retained: u32,
    pub inline_threshold_bytes: usize,
    /// How long the job's single-writer lease lasts without renewal: how
    /// long another host must wait after this one vanished.
    pub lease_ttl: Duration,
    /// Subtasks hand over only what changed since their previous snapshot
    /// (deltas, kept in the job's `shared/` directory and referenced by
    /// later checkpoints) instead of their whole state every time.
    pub incremental: bool,
    /// With `incremental`: at most this many checkpoints in a row build on
    /// one full snapshot; then a subtask snapshots in full again.
    pub full_every: u32,
}

impl CheckpointConfig {
    /// Checkpoints every `interval` into `dir`, other settings at their defaults.
    pub fn new(dir: impl Into<String>, interval: Duration) -> Self {
        CheckpointConfig {
            dir: dir.into(),
            interval,
            timeout: DEFAULT_TIMEOUT,
            min_pause: Duration::ZERO,
            tolerable_failed: 0,
            retention: Retention::default(),
            num_retained: 1,
            inline_threshold_bytes: DEFAULT_INLINE_THRESHOLD,
            lease_ttl: lease::DEFAULT_LEASE_TTL,
            incremental: false,
            full_every: DEFAULT_FULL_EVERY,
        }
    }
}

/// What a restored job may do with the checkpoint it starts from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RestoreMode {
    /// The new job never deletes the restored checkpoint's files.
    #[default]
    NoClaim,
    /// The new job owns the restored checkpoint and may subsume it.
    Claim,
}

/// Where a job starts from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StartFrom {
    /// No state: the source from its beginning.
    #[default]
    Fresh,
    /// A checkpoint's `chk-<n>` directory or `_metadata` file (path or URL).
    Checkpoint { path: String, mode: RestoreMode },
    /// The newest complete checkpoint of the job's id in its checkpoint
    /// directory (claimed), or fresh when there is none.
    Resume,
}

/// How a job is started: [`crate::Engine::start_with`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartOptions {
    pub from: StartFrom,
    /// Start even when the checkpoint holds state of an operator the job no
    /// longer has (that state is dropped).
    pub allow_non_restored_state: bool,
}
