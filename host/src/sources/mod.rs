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
pub(crate) use lines::LinesSource;

use crate::error::Result;
use crate::exec::router::{RouteError, Router};
use crate::job::SourceSpec;

/// What one call to [`Source::emit`] did.
pub(crate) struct Emitted {
    pub(crate) events: usize,
    /// The input has no more events.
    pub(crate) exhausted: bool,
}

/// Why a source stopped emitting.
pub(crate) enum SourceError {
    Failed(crate::Error),
    Route(RouteError),
}

impl From<RouteError> for SourceError {
    fn from(e: RouteError) -> Self {
        SourceError::Route(e)
    }
}

impl From<crate::Error> for SourceError {
    fn from(e: crate::Error) -> Self {
        SourceError::Failed(e)
    }
}

pub(crate) trait Source: Send {
    /// Pushes up to `max_events` events into `out`.
    fn emit(&mut self, out: &mut Router, max_events: usize) -> Result<Emitted, SourceError>;

    /// Where the next event comes from; recorded at every checkpoint barrier.
    fn position(&self) -> u64;

    /// Continues from a position `position` once returned (a restore).
    fn seek(&mut self, position: u64) -> Result<()>;
}

/// Opens the source a job describes. Errors (a missing input file...) are
/// reported here, before any task starts.
pub(crate) fn open(spec: &SourceSpec) -> Result<Box<dyn Source>> {
    Ok(match spec {
        SourceSpec::Lines { path, .. } => Box::new(LinesSource::open(path)?),
        SourceSpec::Generator(g) => Box::new(GeneratorSource::new(g.clone())),
        // A rewind to the start of the embedder's input; `seek` follows on
        // a restore.
        SourceSpec::Embedded(source) => Box::new(source.open()),
    })
}

/// Where the source events `first..=last` (positions as [`Source::position`]
/// counts them) came from, for a person: "which input made this fail".
pub(crate) fn describe_positions(spec: &SourceSpec, first: u64, last: u64) -> String {
    let range = |unit: &str| match first == last {
        true => format!("{unit} {first}"),
        false => format!("{unit}s {first}..={last}"),
    };
    match spec {
        SourceSpec::Lines { path, .. } => {
            format!("{}, the line(s) starting at {}", path.display(), range("byte"))
        }
        SourceSpec::Generator(_) => format!("the generator's {}", range("event")),
        SourceSpec::Embedded(_) => format!("the embedded source's {}", range("position")),
    }
}

/// The source's rate limit, in events per second.
pub(crate) fn rate_limit(spec: &SourceSpec) -> Option<u64> {
    match spec {
        SourceSpec::Lines { rate_limit, .. } => *rate_limit,
        SourceSpec::Generator(g) => g.rate_limit,
        SourceSpec::Embedded(_) => None,
    }
}
