//! Where a job's events go: the sink half of the connector API
//! ([`SinkConnector`], [`SinkWriter`]) and every built-in sink, each in its
//! own file (`files`, `console`, and the write-ahead `kafka` and `nats`).
//! A subtask's writer is chained to the operator subtask it reads (no
//! channel in between).
//!
//! Sinks take part in checkpoints in two phases, like Flink's two-phase
//! commit sinks: at a barrier a writer stages what it wrote
//! ([`SinkWriter::prepare_commit`]); when the checkpoint is complete the
//! coordinator commits the staged output by name
//! ([`SinkConnector::commit`]), which is idempotent so that a restore can
//! repeat it. This module may not touch the checkpoint storage itself: it
//! gets at checkpoint files through [`CheckpointFiles`] and [`StagedFiles`].

mod console;
mod files;
pub(crate) mod kafka;
pub(crate) mod nats;
mod write_ahead;

use std::sync::Arc;

pub(crate) use files::FilesConnector;
pub(crate) use kafka::KafkaPublisher;
pub use kafka::{KafkaDelivery, KafkaSink};
pub(crate) use nats::NatsPublisher;
pub use nats::NatsSink;
pub use write_ahead::{Publisher, StagedEvent, WriteAheadSink};

use weir_wire::batch::EventRef;

use crate::error::Result;

/// A kind of sink, as an embedder adds one (`SinkSpec::Custom`); the
/// built-in kinds are connectors of this shape too. A connector is made
/// once per job attempt and shared by its writers and the coordinator.
///
/// The protocol is Flink's two-phase commit: writers stage output at each
/// barrier ([`SinkWriter::prepare_commit`]) and name it; once the
/// checkpoint's `_metadata` is written, the coordinator commits what was
/// named ([`commit`](Self::commit)); a restore commits the restored
/// checkpoint's staged output again ([`restore`](Self::restore)), so a crash
/// between `_metadata` and the commit loses nothing. Both must therefore be
/// idempotent.
pub trait SinkConnector: Send + Sync {
    /// Names the sink in messages: "output directory out/".
    fn describe(&self) -> String;

    /// At the job's start, before any restore: refuses settings that could
    /// not keep the sink's promise.
    fn check_start(&self, _start: &StartCheck) -> Result<()> {
        Ok(())
    }

    /// Opens the writer of one of the sink's subtasks.
    fn open(&self, context: SinkContext) -> Result<Box<dyn SinkWriter>>;

    /// Makes the output staged for a complete checkpoint visible
    /// (idempotent). Runs on a blocking thread of the I/O runtime.
    fn commit(&self, checkpoint: &Staged<'_>) -> Result<()>;

    /// Brings the sink to the state of a restored checkpoint (`None`: a
    /// restart before any checkpoint) with its `lineage`, the ids whose
    /// output is part of its history: its staged output committed, anything
    /// staged or committed after it discarded or refused.
    fn restore(&self, checkpoint: Option<&Staged<'_>>, lineage: &[(u64, u64)]) -> Result<()>;

    /// The highest checkpoint id any of its output is tagged with (0 for
    /// none), so that a job's new checkpoints never reuse one.
    fn highest_checkpoint_tag(&self) -> Result<u64> {
        Ok(0)
    }

    /// Before a fresh start: refuses output that already holds another run's.
    fn check_unused(&self) -> Result<()> {
        Ok(())
    }
}

/// What a sink may check at the job's start.
#[derive(Debug, Clone)]
pub struct StartCheck {
    /// The longest wait before a restart (zero without restarts): how long
    /// after a crash the restored output may be published again, less the
    /// restore itself.
    pub max_restart_delay: std::time::Duration,
}

/// A complete checkpoint's output, as one sink staged it.
pub struct Staged<'a> {
    pub checkpoint_id: u64,
    /// What its writers named in [`SinkWriter::prepare_commit`].
    pub names: &'a [String],
    /// The checkpoint's own files (`None` for a job without checkpoints).
    pub files: Option<&'a dyn StagedFiles>,
}

/// Where writers may put files into the job's checkpoints (the checkpoint
/// storage implements it; a sink never sees paths or object stores).
pub trait CheckpointFiles: Send + Sync {
    /// Writes `name` into checkpoint `checkpoint_id`, durably.
    fn write(&self, checkpoint_id: u64, name: &str, bytes: Vec<u8>) -> Result<()>;
}

/// The files of one complete checkpoint, as a committing sink reads them.
pub trait StagedFiles: Send + Sync {
    /// The file `name` a writer wrote into this checkpoint.
    fn read(&self, name: &str) -> Result<Vec<u8>>;

    /// Names the file in messages.
    fn describe(&self, name: &str) -> String;
}

/// What a writer is opened with.
#[derive(Clone)]
pub struct SinkContext {
    /// The job's id (its checkpoint directory) and the sink's name.
    pub job: String,
    pub sink: String,
    pub subtask: u32,
    /// The id the job's next checkpoint will have.
    pub first_checkpoint_id: u64,
    /// The job's checkpoints (`None` without): where a write-ahead sink
    /// stages its output.
    pub checkpoints: Option<Arc<dyn CheckpointFiles>>,
}

/// One subtask's writer, chained to the operator subtask it reads (no
/// channel in between).
pub trait SinkWriter: Send {
    /// Writes one event.
    fn write(&mut self, event: &EventRef<'_>) -> std::io::Result<()>;

    /// Called after the events of each batch.
    fn end_batch(&mut self) -> std::io::Result<()> {
        Ok(())
    }

    /// Stages everything written so far for checkpoint `checkpoint_id`;
    /// returns the names of all staged output not yet known committed.
    fn prepare_commit(&mut self, _checkpoint_id: u64) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    /// Checkpoint `checkpoint_id` is complete: output staged up to it has
    /// been committed.
    fn committed(&mut self, _checkpoint_id: u64) {}

    /// End of input: stages the rest for the job's final commit (the id
    /// after the last barrier); returns all staged, uncommitted names.
    fn finish(self: Box<Self>) -> Result<Vec<String>>;

    /// Names the sink in error messages.
    fn describe(&self) -> String;
}

/// A connector shared by the clones of a job spec: compared by identity.
#[derive(Clone)]
pub struct CustomSink(pub Arc<dyn SinkConnector>);

impl PartialEq for CustomSink {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for CustomSink {}

impl std::fmt::Debug for CustomSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CustomSink").field(&self.0.describe()).finish()
    }
}

/// Drops every event (benchmarks); the job's counters still count them.
struct Discard;

impl SinkWriter for Discard {
    fn write(&mut self, _event: &EventRef<'_>) -> std::io::Result<()> {
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    fn describe(&self) -> String {
        "discard sink".into()
    }
}

/// `stdout` and `discard`: nothing to stage, nothing to commit. `stdout`
/// cannot take back what it printed: it is at-least-once after a restore.
pub(crate) struct Unstaged {
    pub(crate) stdout: bool,
}

impl SinkConnector for Unstaged {
    fn describe(&self) -> String {
        if self.stdout { "stdout" } else { "discard sink" }.into()
    }

    fn open(&self, _context: SinkContext) -> Result<Box<dyn SinkWriter>> {
        Ok(if self.stdout { Box::new(console::StdoutSink::default()) } else { Box::new(Discard) })
    }

    fn commit(&self, _checkpoint: &Staged<'_>) -> Result<()> {
        Ok(())
    }

    fn restore(&self, _checkpoint: Option<&Staged<'_>>, _lineage: &[(u64, u64)]) -> Result<()> {
        Ok(())
    }
}

/// Whether checkpoint `id` is in `lineage`: the ranges of checkpoint ids
/// whose output is part of a checkpoint's history (see `files.rs`).
pub fn in_lineage(lineage: &[(u64, u64)], id: u64) -> bool {
    lineage.iter().any(|&(first, last)| (first..=last).contains(&id))
}
