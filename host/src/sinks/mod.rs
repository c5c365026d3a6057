//! Where a job's events go after its last operator. Each kind has its own
//! file; the sink writer of a subtask is chained to that subtask (no channel
//! in between).
//!
//! Sinks take part in checkpoints in two phases, like Flink's two-phase
//! commit sinks: at a barrier a sink stages what it wrote
//! ([`Sink::prepare_commit`]); when the checkpoint is complete the
//! coordinator commits the staged output by name ([`commit`]), which is
//! idempotent so that a restore can repeat it.

mod console;
mod files;

pub(crate) use console::StdoutSink;
pub(crate) use files::FilesSink;

use weir_wire::batch::EventRef;

use crate::error::Result;
use crate::job::SinkSpec;

pub(crate) trait Sink: Send {
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

    /// End of input: stages the rest; returns all staged, uncommitted names.
    fn finish(self: Box<Self>) -> Result<Vec<String>>;

    /// Names the sink in error messages.
    fn describe(&self) -> String;
}

/// Drops every event (benchmarks); the job's counters still count them.
pub(crate) struct DiscardSink;

impl Sink for DiscardSink {
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

/// Opens the sink writer of one subtask of the last operator;
/// `first_checkpoint_id` is the id of the attempt's first checkpoint.
pub(crate) fn open(spec: &SinkSpec, subtask: u32, first_checkpoint_id: u64) -> Result<Box<dyn Sink>> {
    Ok(match spec {
        SinkSpec::Files { path } => Box::new(FilesSink::open(path, subtask, first_checkpoint_id)?),
        SinkSpec::Stdout => Box::new(StdoutSink::default()),
        SinkSpec::Discard => Box::new(DiscardSink),
    })
}

/// Commits staged output by name (idempotent).
pub(crate) fn commit(spec: &SinkSpec, staged: &[String]) -> Result<()> {
    match spec {
        SinkSpec::Files { path } => files::commit(path, staged),
        SinkSpec::Stdout | SinkSpec::Discard => Ok(()),
    }
}

/// Whether checkpoint `id` is in `lineage`: the ranges of checkpoint ids
/// whose output is part of a checkpoint's history (see `files.rs`).
pub fn in_lineage(lineage: &[(u64, u64)], id: u64) -> bool {
    lineage.iter().any(|&(first, last)| (first..=last).contains(&id))
}

/// Brings the sink to the state of a restored checkpoint, given by its
/// staged output and its lineage (empty: a restart before any checkpoint):
/// what it staged is committed, anything staged after it is discarded,
/// anything committed outside its lineage is moved aside. `stdout` cannot
/// take back what it printed: it is at-least-once after a restore.
pub(crate) fn restore(spec: &SinkSpec, staged: &[String], lineage: &[(u64, u64)]) -> Result<()> {
    match spec {
        SinkSpec::Files { path } => files::restore(path, staged, lineage),
        SinkSpec::Stdout | SinkSpec::Discard => Ok(()),
    }
}

/// The highest checkpoint id any output of the sink is tagged with (0 for
/// none), so that a job's new checkpoints never reuse one.
pub(crate) fn highest_checkpoint_tag(spec: &SinkSpec) -> Result<u64> {
    match spec {
        SinkSpec::Files { path } => files::highest_checkpoint_tag(path),
        SinkSpec::Stdout | SinkSpec::Discard => Ok(0),
    }
}

/// Before a fresh start: refuses output that already holds another run's.
pub(crate) fn check_unused(spec: &SinkSpec) -> Result<()> {
    match spec {
        SinkSpec::Files { path } => files::check_unused(path),
        SinkSpec::Stdout | SinkSpec::Discard => Ok(()),
    }
}
