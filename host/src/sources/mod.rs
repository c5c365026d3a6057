//! Where a job's events come from. Each kind of source has its own file;
//! this module holds the trait the source task drives.
//!
//! A source is replayable by position (a byte offset, a sequence number):
//! that is what lets a checkpoint restart it exactly where it was. The
//! `embedded` source is replayed by the embedder, which owns its positions.

mod embedded;
mod generator;
mod lines;

pub use embedded::{EmbeddedSource, FeedError, Feeder, Rewind};
pub(crate) use generator::GeneratorSource;
pub use generator::GeneratorSpec;
pub(crate) use lines::LinesSource;

use crate::error::Result;

/// What one call to [`Source::emit`] did.
pub(crate) struct Emitted {
    pub(crate) events: usize,
    /// The input has no more events.
    pub(crate) exhausted: bool,
}

/// Where a source puts its events: the executor's router implements it
/// (batching, partitioning, sending downstream); sources know only this.
pub(crate) trait Emit {
    /// One event, read at source position `position` (kept for messages:
    /// "which input made this fail").
    fn push_from(&mut self, position: u64, timestamp: i64, key: &[u8], value: &[u8]) -> Result<(), Disconnected>;

    /// Sends what is batched so far.
    fn flush(&mut self) -> Result<(), Disconnected>;
}

/// The events cannot go downstream any more: the job is stopping.
#[derive(Debug)]
pub(crate) struct Disconnected;

/// Why a source stopped emitting.
pub(crate) enum SourceError {
    Failed(crate::Error),
    Disconnected,
}

impl From<Disconnected> for SourceError {
    fn from(_: Disconnected) -> Self {
        SourceError::Disconnected
    }
}

impl From<crate::Error> for SourceError {
    fn from(e: crate::Error) -> Self {
        SourceError::Failed(e)
    }
}

pub(crate) trait Source: Send {
    /// Pushes up to `max_events` events into `out`.
    fn emit(&mut self, out: &mut dyn Emit, max_events: usize) -> Result<Emitted, SourceError>;

    /// Where the next event comes from; recorded at every checkpoint barrier.
    fn position(&self) -> u64;

    /// Continues from a position `position` once returned (a restore).
    fn seek(&mut self, position: u64) -> Result<()>;
}
