//! Where a job's events come from. Each kind of source has its own file;
//! this module holds the trait the source task drives.
//!
//! A source is replayable by position (a byte offset, a sequence number):
//! that is what lets a checkpoint restart it exactly where it was. The
//! `embedded` source is replayed by the embedder, which owns its positions.
//!
//! A parallel source is cut into [`Split`]s, ranges of positions; each
//! subtask reads its splits one after the other, and a checkpoint records
//! what is left of each. A restore at another parallelism deals the splits
//! left over to the new subtasks, cutting the largest in two until every
//! subtask has one.

mod embedded;
mod generator;
mod lines;

pub use embedded::{EmbeddedSource, FeedError, Feeder, Rewind};
pub(crate) use generator::GeneratorSource;
pub use generator::GeneratorSpec;
pub use lines::LineFormat;
pub(crate) use lines::LinesSource;

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
