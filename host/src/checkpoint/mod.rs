//! Checkpoints: what they contain, where they live, who takes them, and
//! what is deleted when.
//!
//! - [`metadata`]: the `_metadata` format (versioned, checksummed).
//! - [`storage`]: the object store behind a checkpoint directory, chosen by
//!   URL, and the directory layout.
//! - `chains`: what each subtask's incremental chain holds.
//! - `coordinator`: triggers checkpoints, collects acknowledgements, writes
//!   `_metadata` last, commits sink output, enforces retention.
//! - `writer`: turns a subtask's snapshot into inline chunks or a data file,
//!   uploaded off the subtask's thread.
//! - [`restore`]: reads a checkpoint back and hands each new subtask the
//!   state of the key groups it owns.
//! - [`retention`]: the policy table of DESIGN.md, as code (plain data, in
//!   `job`, re-exported here).
//! - [`lease`]: one writer per job, through a conditionally created object.
//! - [`lifecycle`]: garbage collection of a directory no job is writing.
//! - [`stats`]: what each checkpoint cost, per subtask; kept in memory and
//!   in `_metadata`.
//! - `shared`: which checkpoints reference which `shared/` files (incremental
//!   checkpoints), so that a file goes with the last checkpoint using it.
//!
//! This module never calls into a guest: subtasks snapshot their guests and
//! hand the bytes over; the coordinator only moves bytes and files.

mod chains;
pub(crate) mod coordinator;
pub mod lease;
pub mod lifecycle;
pub mod metadata;
#[cfg(test)]
mod metadata_props;
pub mod restore;
pub(crate) mod shared;
pub(crate) mod sink_files;
pub mod stats;
pub mod storage;
pub(crate) mod writer;

// Plain data a job spec holds, so they live in `job` (the bottom layer);
// re-exported where readers look for them.
pub use crate::job::checkpointing::{CheckpointConfig, DEFAULT_FULL_EVERY, DEFAULT_INLINE_THRESHOLD, DEFAULT_TIMEOUT};
pub use crate::job::retention::{self, Retention};

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
