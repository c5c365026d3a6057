//! Where a job's events come from: the source half of the connector API
//! ([`SourceConnector`], [`SourceReader`]) and every built-in source, each
//! in its own file. The source task (`exec::source_task`) drives a
//! [`SourceReader`] and knows nothing of files, generators or brokers.
//!
//! A source is replayable by position (a byte offset, a sequence number, a
//! partition's offset): that is what lets a checkpoint restart it exactly
//! where it was. The `embedded` source is replayed by the embedder, which
//! owns its positions.
//!
//! A parallel source is cut into [`Split`]s, ranges of positions; a
//! checkpoint records what each subtask has left of its splits. A bounded
//! source's subtask reads its splits one after the other ([`InOrder`]); a
//! broker's reads all of them at once (a Kafka partition is a split that
//! never ends). A restore at another parallelism deals the splits left over
//! to the new subtasks ([`SourceConnector::deal`]).

mod embedded;
mod generator;
pub(crate) mod kafka;
mod lines;
pub(crate) mod nats;

use std::collections::VecDeque;
use std::sync::Arc;

pub use embedded::{EmbeddedSource, FeedError, Feeder, Rewind};
pub(crate) use generator::GeneratorSource;
pub use generator::GeneratorSpec;
pub use kafka::{KafkaSource, KafkaStart};
pub use lines::LineFormat;
pub(crate) use lines::LinesSource;
pub use nats::NatsSource;

use crate::error::Result;

/// The positions `next..end` of a source, still to be read. For `lines`,
/// the lines that *start* in that byte range (a reader opening inside a
/// line skips to the next one); for `generator`, those sequence numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Split {
    pub next: u64,
    pub end: u64,
}

impl Split {
    pub fn is_empty(&self) -> bool {
        self.next >= self.end
    }

    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.next)
    }

    /// `parts` splits of about the same length covering this one (some
    /// empty when it is shorter than `parts`).
    pub fn divide(self, parts: u32) -> Vec<Split> {
        let parts = u128::from(parts.max(1));
        let (start, len) = (u128::from(self.next), u128::from(self.len()));
        let at = |i: u128| (start + len * i / parts) as u64;
        (0..parts).map(|i| Split { next: at(i), end: at(i + 1) }).collect()
    }

    /// Deals `left` (what a checkpoint's subtasks had left) to `parallelism`
    /// subtasks: round-robin, after cutting the largest split in two while
    /// there are fewer than subtasks, so that a scale-up has work for each.
    pub fn deal(left: impl IntoIterator<Item = Split>, parallelism: u32) -> Vec<Vec<Split>> {
        let mut splits: Vec<Split> = left.into_iter().filter(|s| !s.is_empty()).collect();
        while splits.len() < parallelism as usize {
            let Some((largest, _)) = splits.iter().enumerate().max_by_key(|(_, s)| s.len()) else { break };
            if splits[largest].len() < 2 {
                break;
            }
            let halves = splits[largest].divide(2);
            splits[largest] = halves[0];
            splits.insert(largest + 1, halves[1]);
        }
        let mut dealt = vec![Vec::new(); parallelism as usize];
        for (i, split) in splits.into_iter().enumerate() {
            dealt[i % parallelism as usize].push(split);
        }
        dealt
    }
}

/// What one call to [`SourceReader::emit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Emitted {
    pub events: usize,
    /// The input has no more events.
    pub exhausted: bool,
}

/// Where a source puts its events: the executor's router implements it
/// (batching, partitioning, sending downstream); sources know only this.
pub trait Emit {
    /// One event, read at source position `position` (kept for messages:
    /// "which input made this fail").
    fn push_from(&mut self, position: u64, timestamp: i64, key: &[u8], value: &[u8]) -> Result<(), Disconnected>;

    /// Sends what is batched so far.
    fn flush(&mut self) -> Result<(), Disconnected>;
}

/// The events cannot go downstream any more: the job is stopping.
#[derive(Debug)]
pub struct Disconnected;

/// Why a source stopped emitting.
#[derive(Debug)]
pub enum SourceError {
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

/// One source subtask's reader, opened for an [`Assignment`] of splits.
/// It runs on the subtask's own thread; a checkpoint barrier is injected
/// between two calls of [`emit`](Self::emit), after [`left`](Self::left)
/// is recorded.
pub trait SourceReader: Send {
    /// Pushes up to `max_events` events into `out`. A reader of a broker
    /// waits a little (~100 ms) when nothing has arrived and returns no
    /// events rather than block: barriers and stops come between calls.
    fn emit(&mut self, out: &mut dyn Emit, max_events: usize) -> Result<Emitted, SourceError>;

    /// What is left to read: the checkpoint records it at every barrier,
    /// and a restore hands it back, dealt again if the parallelism changed.
    fn left(&self) -> Vec<Split>;

    /// The barrier of `checkpoint_id` was injected after [`left`](Self::left)
    /// was recorded for it (a Kafka reader commits its offsets to its
    /// consumer group here, for monitoring only).
    fn barrier(&mut self, _checkpoint_id: u64) {}
}

/// What one source subtask is to read.
#[derive(Debug, Clone)]
pub struct Assignment {
    pub subtask: u32,
    pub parallelism: u32,
    /// This subtask's splits.
    pub splits: Vec<Split>,
    /// Every subtask's splits together (a Kafka reader claims the new
    /// partitions that none of them holds).
    pub all: Vec<Split>,
    /// Restored from a checkpoint: `splits` are what it had left.
    pub restored: bool,
    /// The job's name and the source's, for client ids and consumer groups.
    pub job: String,
    pub source: String,
    /// For connectors with an async client.
    pub runtime: tokio::runtime::Handle,
}

/// A kind of source, as an embedder adds one ([`crate::SourceSpec::Custom`]);
/// the built-in kinds are the same shape. Positions are the connector's:
/// the host only stores and deals its [`Split`]s.
pub trait SourceConnector: Send + Sync {
    /// Names the source in messages: "topic words at 127.0.0.1:9092".
    fn describe(&self) -> String;

    /// A fresh start's splits, per subtask.
    fn initial_splits(&self, job: &str, parallelism: u32) -> Result<Vec<Vec<Split>>>;

    /// Deals what a checkpoint's subtasks had `left` to `parallelism`
    /// subtasks. By default splits may be cut ([`Split::deal`]).
    fn deal(&self, left: Vec<Split>, parallelism: u32) -> Result<Vec<Vec<Split>>> {
        Ok(Split::deal(left, parallelism))
    }

    /// Opens one subtask's reader. Errors (an unreachable broker, a
    /// missing file) fail the job's start.
    fn open(&self, assignment: Assignment) -> Result<Box<dyn SourceReader>>;

    /// Where the events at positions `first..=last` came from, for a person.
    fn describe_positions(&self, first: u64, last: u64) -> String {
        format!("{}, positions {first}..={last}", self.describe())
    }
}

/// A connector shared by the clones of a job spec: compared by identity.
#[derive(Clone)]
pub struct CustomSource(pub Arc<dyn SourceConnector>);

impl PartialEq for CustomSource {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::fmt::Debug for CustomSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CustomSource").field(&self.0.describe()).finish()
    }
}

/// A reader of one split of a bounded source (`lines`, `generator`,
/// `embedded`), which [`InOrder`] chains into a subtask's reader.
pub(crate) trait Source: Send {
    /// Pushes up to `max_events` events into `out`.
    fn emit(&mut self, out: &mut dyn Emit, max_events: usize) -> Result<Emitted, SourceError>;

    /// Where the next event comes from; recorded at every checkpoint barrier.
    fn position(&self) -> u64;
}

/// Opens the reader of one split.
pub(crate) type OpenSplit = Box<dyn FnMut(Split) -> Result<Box<dyn Source>> + Send>;

/// A subtask that reads its splits one after the other. The first is
/// opened up front, so that a missing file fails the start.
pub(crate) struct InOrder {
    current: Option<(Split, Box<dyn Source>)>,
    rest: VecDeque<Split>,
    open: OpenSplit,
}

impl InOrder {
    pub(crate) fn new(splits: Vec<Split>, mut open: OpenSplit) -> Result<Self> {
        let mut rest: VecDeque<Split> = splits.into();
        let current = match rest.pop_front() {
            Some(split) => Some((split, open(split)?)),
            None => None,
        };
        Ok(InOrder { current, rest, open })
    }
}

impl SourceReader for InOrder {
    fn emit(&mut self, out: &mut dyn Emit, max_events: usize) -> Result<Emitted, SourceError> {
        let Some((_, reader)) = self.current.as_mut() else { return Ok(Emitted { events: 0, exhausted: true }) };
        let done = reader.emit(out, max_events)?;
        if done.exhausted {
            self.current = None;
            if let Some(split) = self.rest.pop_front() {
                self.current = Some((split, (self.open)(split)?));
            }
        }
        Ok(Emitted { events: done.events, exhausted: self.current.is_none() })
    }

    fn left(&self) -> Vec<Split> {
        let current = self.current.as_ref().map(|(split, reader)| Split { next: reader.position(), end: split.end });
        current.into_iter().chain(self.rest.iter().copied()).filter(|s| !s.is_empty()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::Split;

    #[test]
    fn splits_divide_and_deal_without_losing_a_position() {
        let parts = Split { next: 0, end: 10 }.divide(3);
        assert_eq!(parts, [Split { next: 0, end: 3 }, Split { next: 3, end: 6 }, Split { next: 6, end: 10 }]);
        // Two subtasks' leftovers dealt to three: the largest is cut.
        let dealt = Split::deal([Split { next: 2, end: 5 }, Split { next: 6, end: 12 }], 3);
        let mut all: Vec<u64> = dealt.iter().flatten().flat_map(|s| s.next..s.end).collect();
        all.sort_unstable();
        assert_eq!(all, (2..5).chain(6..12).collect::<Vec<_>>());
        assert!(dealt.iter().all(|d| !d.is_empty()));
        // And four to one.
        let one = Split::deal(Split { next: 0, end: 100 }.divide(4), 1);
        assert_eq!(one[0].len(), 4);
    }
}
