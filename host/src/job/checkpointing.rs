//! The `[checkpoint]` table of a job: when checkpoints are taken, where they
//! go and how many are kept. Plain data; `checkpoint` does the work.

use std::time::Duration;

use super::retention::Retention;

/// Size under which a subtask's state is stored inside `_metadata` instead
/// of a data file of its own (Flink's `state.storage.fs.memory-threshold`).
pub const DEFAULT_INLINE_THRESHOLD: usize = 20 * 1024;
/// With incremental checkpoints, every this many checkpoints a subtask takes
/// a full snapshot again, which bounds the chain of deltas a restore reads.
pub const DEFAULT_FULL_EVERY: u32 = 10;
/// A checkpoint not complete after this long is aborted.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a job's single-writer lease lasts without renewal.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(30);

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
            lease_ttl: DEFAULT_LEASE_TTL,
            incremental: false,
            full_every: DEFAULT_FULL_EVERY,
        }
    }
}
