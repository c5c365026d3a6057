//! Where a job's events go after its last operator. Each kind has its own
//! file; the sink writer of a subtask is chained to that subtask (no channel
//! in between).

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

    /// Makes everything written durable and visible.
    fn finish(self: Box<Self>) -> Result<()>;

    /// Names the sink in error messages ("file out/.part-0.inprogress").
    fn describe(&self) -> String;
}

/// Drops every event (benchmarks); the job's counters still count them.
pub(crate) struct DiscardSink;

impl Sink for DiscardSink {
    fn write(&mut self, _event: &EventRef<'_>) -> std::io::Result<()> {
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<()> {
        Ok(())
    }

    fn describe(&self) -> String {
        "discard sink".into()
    }
}

/// Opens the sink writer of one subtask of the last operator.
pub(crate) fn open(spec: &SinkSpec, subtask: u32) -> Result<Box<dyn Sink>> {
    Ok(match spec {
        SinkSpec::Files { path } => Box::new(FilesSink::open(path, subtask)?),
        SinkSpec::Stdout => Box::new(StdoutSink::default()),
        SinkSpec::Discard => Box::new(DiscardSink),
    })
}
