//! The `embedded` source: events handed over in process by the program that
//! embeds the host (an ingest service), through a [`Feeder`]. Position: the
//! embedder's own position of the last event emitted (an offset in its
//! durable log), so a checkpoint records how far into *its* input the job is.
//!
//! The embedder's contract is documented on [`EmbeddedSource`]; this is how
//! it is kept.
//!
//! - One [`EmbeddedSource`] handle (cloned into the job spec) and one
//!   [`Feeder`] share an `Inner`: a bounded queue under a mutex, with two
//!   condition variables (events arrived; room, a rewind or a close).
//! - The engine opens a new reader (`SourceSpec::open`) for every attempt of
//!   the job, and calls `seek` on it when the attempt restores a checkpoint.
//!   The open is a *rewind*: the generation goes up and the queue is
//!   emptied. Emptying the queue under the same lock that bumps the
//!   generation is the generation tagging: everything queued before a
//!   rewind is discarded, nothing queued after it belongs to an older
//!   generation. Where the new generation's input starts is settled by the
//!   `seek` (the checkpoint's position) or, without one, by the reader's
//!   first `emit` (0); until then it is pending and feeders wait, so that a
//!   restore shows them one rewind, straight to the checkpoint (the engine
//!   reads the checkpoint's state between the open and the seek). A `seek`
//!   after that is a rewind of its own.
//! - The feeder remembers the generation it last saw and the position of the
//!   last event it sent. When the generation moved and the rewind position
//!   differs from that position, its next call reports the rewind instead of
//!   taking an event: events after the rewind position were lost (queued
//!   and discarded, or emitted by the failed attempt after its checkpoint)
//!   and must come again. When they are equal, nothing was lost and the
//!   feeder goes on silently (a fresh start, a restart right after a
//!   checkpoint).
//! - A reader whose generation is no longer current belongs to another job
//!   (or attempt) using the same handle: it fails instead of stealing
//!   events.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use weir_wire::batch::NO_TIMESTAMP;

use super::{Emit, Emitted, Source, SourceError};
use crate::error::{Error, Result};

/// How long an idle reader waits for events before it hands control back
/// to its task (which injects barriers and notices a cancel in between).
const IDLE_WAIT: Duration = Duration::from_millis(20);

/// A source fed in process by the embedding program: the input of an
/// ingest service, a message consumer, a test. Put it in a job as
/// [`SourceSpec::Embedded`](crate::job::SourceSpec::Embedded) and feed it
/// through the [`Feeder`] created with it. Job files cannot name it: it
/// exists for embedders.
///
/// # The contract
///
/// - **Positions are the embedder's.** Every event carries a position:
///   an offset or sequence number in the embedder's own *durable* record of
///   its input (a log on disk, a Kafka partition). Positions start at 1 and
///   strictly increase; they need not be contiguous. The job's checkpoints
///   record the position of the last event the source emitted before the
///   barrier, and that is all a checkpoint knows about the input.
/// - **Replay duty.** When the job restores (at its start from a
///   checkpoint, or after a failure in this process), the source is
///   *rewound*: events queued but not yet emitted are discarded, and the
///   feeder reports a [`Rewind`] with the position after which the embedder
///   must send *every* event again, in order. [`Feeder::send`] reports it as
///   [`FeedError::Rewound`] without taking the event; [`Feeder::take_rewind`]
///   and [`Feeder::wait_rewind`] report it to an embedder that has nothing
///   to send. So the embedder must be able to read its input again from any
///   position a checkpoint may hold: the newest complete checkpoint's, at
///   least. While the job prepares an attempt (reads the checkpoint), the
///   feeder waits: where the input resumes is not known yet. A rewind that
///   loses nothing (a fresh start; a restore of a checkpoint at the last
///   position sent) is not reported.
/// - **Nothing twice.** Because the queue is emptied at a rewind and the
///   feeder refuses positions at or before its own position, an event is
///   emitted once per generation, and a restored job sees each event after
///   its checkpoint exactly once.
/// - **One writer.** The feeder is not `Clone` and needs `&mut self`: one
///   thread sends, in position order.
/// - **End of input.** [`Feeder::finish`] ends the input after the last
///   event sent: the job finishes once it has processed everything. The end
///   survives rewinds; events before it must still be sent again after one.
/// - **Backpressure.** The queue holds `capacity` events; [`Feeder::send`]
///   blocks while it is full, [`Feeder::try_send`] fails with
///   [`FeedError::Full`] and [`Feeder::send_timeout`] waits a bounded time.
///   From async code, send from a dedicated thread or `spawn_blocking`.
/// - One handle feeds one job at a time; a reader opened by another job
///   makes the first job's source fail.
///
/// # Example
///
/// A job fed from an in-memory "log", with the replay loop an embedder
/// writes once: send everything after the feeder's position, start over
/// when the job rewinds.
///
/// ```
/// use weir_host::job::{EmbeddedSource, FeedError, Feeder};
/// use weir_host::operator::NativeOperator;
/// use weir_host::{Engine, JobSpec, JobStatus, OperatorSpec, SinkSpec};
/// # use weir_guest::{Context, Event, OpenContext, Operator, Result};
/// # struct Identity;
/// # impl Operator for Identity {
/// #     fn open(_: &mut OpenContext) -> Result<Self> { Ok(Identity) }
/// #     fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
/// #         ctx.emit(event.key(), event.value());
/// #         Ok(())
/// #     }
/// # }
///
/// /// Sends every logged event after the feeder's position, then ends the
/// /// input; starts over from the rewind position whenever the job asks.
/// fn feed(feeder: &mut Feeder, log: &[(u64, &str, &str)]) -> Result<(), FeedError> {
///     'replay: loop {
///         let start = log.partition_point(|(position, ..)| *position <= feeder.position());
///         for &(position, key, value) in &log[start..] {
///             match feeder.send(position, key, value, None) {
///                 Ok(()) => {}
///                 Err(FeedError::Rewound(_)) => continue 'replay,
///                 Err(e) => return Err(e),
///             }
///         }
///         match feeder.finish() {
///             Err(FeedError::Rewound(_)) => continue 'replay,
///             done => return done,
///         }
///     }
/// }
///
/// let (source, mut feeder) = EmbeddedSource::new(1024);
/// let out = tempfile::tempdir()?;
/// let job = JobSpec::new("ingest", source.into(), SinkSpec::files(out.path()))
///     .operator(OperatorSpec::native("identity", "identity"));
/// let engine = Engine::new()?.with_native(NativeOperator::sdk::<Identity>("identity"));
/// let running = engine.start(job)?;
///
/// // A job that may restart (a failure, its restart strategy) rewinds even
/// // after `finish`: then keep serving `feeder.wait_rewind` until it ends.
/// feed(&mut feeder, &[(1, "a", "x"), (2, "b", "y"), (5, "a", "z")])?;
/// let report = running.wait()?;
/// assert_eq!(report.status, JobStatus::Finished);
/// assert_eq!(report.metrics.source_events, 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct EmbeddedSource {
    inner: Arc<Inner>,
}

/// The sending side of an [`EmbeddedSource`]: one per source, used by one
/// thread. See [`EmbeddedSource`] for the contract.
///
/// ```
/// use std::time::Duration;
/// use weir_host::job::{EmbeddedSource, FeedError};
///
/// let (source, mut feeder) = EmbeddedSource::new(2);
/// // Positions are the embedder's: here, offsets in its log.
/// feeder.send(10, "sensor-1", "21.5", Some(1_700_000_000_000))?;
/// feeder.try_send(25, "sensor-2", "19.0", None)?;
/// assert_eq!(feeder.position(), 25);
/// // They only go up.
/// assert_eq!(feeder.try_send(25, "x", "y", None), Err(FeedError::NotIncreasing { position: 25, last: 25 }));
/// // No job reads the queue yet: it is full (two events), and `send` would block.
/// assert_eq!(feeder.try_send(40, "sensor-1", "21.7", None), Err(FeedError::Full));
/// let waited = feeder.send_timeout(40, "sensor-1", "21.7", None, Duration::from_millis(10));
/// assert_eq!(waited, Err(FeedError::Timeout));
/// // No job has rewound the source.
/// assert_eq!(feeder.take_rewind(), None);
/// assert_eq!(source.emitted(), 0);
/// # Ok::<(), FeedError>(())
/// ```
pub struct Feeder {
    inner: Arc<Inner>,
    cursor: Cursor,
}

/// Where a feeder is.
#[derive(Debug)]
struct Cursor {
    /// The generation the feeder last saw.
    generation: u64,
    /// The position of the last event sent in that generation (or the
    /// rewind position, before the first).
    position: u64,
}

/// The job went back in its input: every event after `after` must be sent
/// again, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rewind {
    /// Counts the rewinds of the source (every attempt's start and every
    /// restore is one), for logs.
    pub generation: u64,
    /// The position of the last event the job keeps (0: none); the next
    /// event sent must be the first one after it.
    pub after: u64,
}

/// Why a [`Feeder`] did not take an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    /// The job rewound: the event was not taken; send every event after
    /// `after` again, starting with the first one.
    #[error("the job rewound its input (generation {}): send every event after position {} again", .0.generation, .0.after)]
    Rewound(Rewind),
    /// Positions must strictly increase (and start at 1).
    #[error("position {position} does not follow the feeder's position {last}: positions must strictly increase")]
    NotIncreasing { position: u64, last: u64 },
    /// [`Feeder::finish`] ended the input at `end`; no event after it is taken.
    #[error("the input ended after position {end}: no event after it can be sent")]
    Finished { end: u64 },
    /// [`Feeder::try_send`]: the queue is full, or the job is preparing an
    /// attempt; the event was not taken.
    #[error("the embedded source's queue is full")]
    Full,
    /// [`Feeder::send_timeout`] or [`Feeder::wait_rewind`] waited in vain.
    #[error("timed out")]
    Timeout,
    /// [`EmbeddedSource::close`] was called.
    #[error("the embedded source is closed")]
    Closed,
}

/// What a source handle and its feeder share.
struct Inner {
    capacity: usize,
    state: Mutex<State>,
    /// Events arrived, or the input ended: an idle reader waits on it.
    arrived: Condvar,
    /// Room in the queue, a rewind, a close: the feeder waits on it.
    changed: Condvar,
}

struct State {
    /// Bumped by every rewind (a reader opened, a reader sought).
    generation: u64,
    /// Where the current generation's input starts: after this position.
    /// `None` while the job prepares an attempt: its reader is open, but
    /// whether it restores a checkpoint (`seek`) or starts from the
    /// beginning (its first `emit`) is not known yet. Feeders wait.
    after: Option<u64>,
    /// Events of the current generation not yet emitted, in order.
    queue: VecDeque<QueuedEvent>,
    /// The position of the last event the current reader emitted.
    emitted: u64,
    /// [`Feeder::finish`]: the input ends after this position.
    end: Option<u64>,
    closed: bool,
}

struct QueuedEvent {
    position: u64,
    timestamp: i64,
    key: Vec<u8>,
    value: Vec<u8>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a new generation whose input begins after `after` (`None`:
    /// not known yet); returns it.
    fn rewind(&self, state: &mut State, after: Option<u64>) -> u64 {
        state.generation += 1;
        state.after = after;
        state.emitted = after.unwrap_or(0);
        state.queue.clear();
        self.changed.notify_all();
        state.generation
    }

    /// The input of the current reader starts after `after`: settles a
    /// pending generation, or rewinds to a new one; returns the generation.
    fn resolve(&self, state: &mut State, after: u64) -> u64 {
        if state.after.is_some() {
            return self.rewind(state, Some(after));
        }
        state.after = Some(after);
        state.emitted = after;
        self.changed.notify_all();
        state.generation
    }
}

impl EmbeddedSource {
    /// A source whose queue holds up to `capacity` events (at least 1:
    /// [`JobSpec::validate`](crate::JobSpec::validate) refuses 0), and its
    /// feeder.
    pub fn new(capacity: usize) -> (EmbeddedSource, Feeder) {
        let inner = Arc::new(Inner {
            capacity,
            state: Mutex::new(State {
                generation: 0,
                after: Some(0),
                queue: VecDeque::new(),
                emitted: 0,
                end: None,
                closed: false,
            }),
            arrived: Condvar::new(),
            changed: Condvar::new(),
        });
        let feeder = Feeder { inner: inner.clone(), cursor: Cursor { generation: 0, position: 0 } };
        (EmbeddedSource { inner }, feeder)
    }

    /// Events the queue holds before [`Feeder::send`] blocks.
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }

    /// Ends the feeding side for good: a [`Feeder`] call blocked now, and
    /// every later one, fails with [`FeedError::Closed`]. For shutting down
    /// a feeding thread, typically after cancelling the job (keep a clone of
    /// the handle for it). Events already queued are still emitted; the job
    /// itself goes on until it is cancelled.
    pub fn close(&self) {
        let mut state = self.inner.lock();
        state.closed = true;
        self.inner.changed.notify_all();
        self.inner.arrived.notify_all();
    }

    /// The position of the last event the job's source has emitted into
    /// the job (before the first: the rewind position, or 0 while the job
    /// prepares an attempt). Once it equals
    /// the position of the last event sent, every event sent is in the job,
    /// and a checkpoint triggered now covers them all (unless the job
    /// restarts meanwhile: see [`EmbeddedSource::generation`]).
    pub fn emitted(&self) -> u64 {
        self.inner.lock().emitted
    }

    /// Counts the rewinds so far (as [`Rewind::generation`]). Read it before
    /// [`EmbeddedSource::emitted`] and again after a checkpoint: when it has
    /// not moved, the checkpoint was taken by the same attempt, after the
    /// events counted.
    pub fn generation(&self) -> u64 {
        self.inner.lock().generation
    }

    /// Opens a reader for a new attempt of the job: a rewind to a position
    /// known at its `seek` (a restore) or its first `emit` (the beginning).
    pub(crate) fn open(&self) -> EmbeddedReader {
        let mut state = self.inner.lock();
        let generation = self.inner.rewind(&mut state, None);
        EmbeddedReader { inner: self.inner.clone(), generation, position: 0, batch: Vec::new() }
    }
}

impl fmt::Debug for EmbeddedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedSource")
            .field("capacity", &self.inner.capacity)
            .field("handle", &Arc::as_ptr(&self.inner))
            .finish()
    }
}

/// Two handles are equal when they are clones of one another (the same
/// queue), as a job spec compares them.
impl PartialEq for EmbeddedSource {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for EmbeddedSource {}

/// How long a feeder call may wait for room.
#[derive(Clone, Copy)]
enum Wait {
    No,
    Until(Instant),
    Forever,
}

impl Feeder {
    /// Hands the event at `position` to the job, blocking while the queue
    /// is full. `timestamp` is event time (milliseconds, say) for operators
    /// that use it. Fails without taking the event when the job rewound
    /// ([`FeedError::Rewound`]: resend from the rewind position), when
    /// `position` does not follow [`Feeder::position`], after the end of
    /// the input, or when the source was closed.
    pub fn send(
        &mut self,
        position: u64,
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
        timestamp: Option<i64>,
    ) -> Result<(), FeedError> {
        self.offer(position, key.into(), value.into(), timestamp, Wait::Forever)
    }

    /// [`Feeder::send`] that never blocks: [`FeedError::Full`] when the
    /// queue is full (or while the job prepares an attempt).
    pub fn try_send(
        &mut self,
        position: u64,
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
        timestamp: Option<i64>,
    ) -> Result<(), FeedError> {
        self.offer(position, key.into(), value.into(), timestamp, Wait::No)
    }

    /// [`Feeder::send`] that waits at most `timeout` for room:
    /// [`FeedError::Timeout`] then.
    pub fn send_timeout(
        &mut self,
        position: u64,
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
        timestamp: Option<i64>,
        timeout: Duration,
    ) -> Result<(), FeedError> {
        let wait = Instant::now().checked_add(timeout).map_or(Wait::Forever, Wait::Until);
        self.offer(position, key.into(), value.into(), timestamp, wait)
    }

    /// Ends the input after the last event sent: once the job has processed
    /// everything, it finishes. Reports a rewind first (resend, then finish
    /// again), and waits while the job prepares an attempt. The end does not
    /// move: calling it again, or after a rewind, keeps the first end.
    pub fn finish(&mut self) -> Result<(), FeedError> {
        let mut state = self.inner.lock();
        loop {
            self.cursor.check(&state)?;
            if state.after.is_some() {
                break;
            }
            state = self.inner.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        if state.end.is_none() {
            state.end = Some(self.cursor.position);
        }
        self.inner.arrived.notify_all();
        Ok(())
    }

    /// The position of the last event sent, or of the last rewind reported
    /// since: the next event must have a greater one. A rewind not yet
    /// reported is not reflected (see [`Feeder::take_rewind`]).
    pub fn position(&self) -> u64 {
        self.cursor.position
    }

    /// Reports a rewind that happened since the last call of any feeder
    /// method, if it moved the position (`None` otherwise); for an embedder
    /// with nothing to send, which must still resend after a rewind.
    pub fn take_rewind(&mut self) -> Option<Rewind> {
        let state = self.inner.lock();
        self.cursor.sync(&state)
    }

    /// Blocks until a rewind moves the position (or reports one that
    /// already did): [`FeedError::Timeout`] after `timeout`,
    /// [`FeedError::Closed`] when the source is closed.
    pub fn wait_rewind(&mut self, timeout: Duration) -> Result<Rewind, FeedError> {
        let until = Instant::now().checked_add(timeout);
        let mut state = self.inner.lock();
        loop {
            if let Some(rewind) = self.cursor.sync(&state) {
                return Ok(rewind);
            }
            if state.closed {
                return Err(FeedError::Closed);
            }
            state = match until {
                Some(until) => {
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(FeedError::Timeout);
                    }
                    self.inner.changed.wait_timeout(state, left).unwrap_or_else(|p| p.into_inner()).0
                }
                None => self.inner.changed.wait(state).unwrap_or_else(|p| p.into_inner()),
            };
        }
    }

    fn offer(
        &mut self,
        position: u64,
        key: Vec<u8>,
        value: Vec<u8>,
        timestamp: Option<i64>,
        wait: Wait,
    ) -> Result<(), FeedError> {
        let inner = &self.inner;
        let cursor = &mut self.cursor;
        let mut state = inner.lock();
        loop {
            cursor.check(&state)?;
            // While the job prepares an attempt, where it resumes is not
            // known: wait as for room.
            let ready = state.after.is_some();
            if ready && position <= cursor.position {
                return Err(FeedError::NotIncreasing { position, last: cursor.position });
            }
            if let Some(end) = state.end
                && ready
                && position > end
            {
                return Err(FeedError::Finished { end });
            }
            if ready && state.queue.len() < inner.capacity {
                let timestamp = timestamp.unwrap_or(NO_TIMESTAMP);
                state.queue.push_back(QueuedEvent { position, timestamp, key, value });
                cursor.position = position;
                inner.arrived.notify_all();
                return Ok(());
            }
            state = match wait {
                Wait::No => return Err(FeedError::Full),
                Wait::Until(until) => {
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(FeedError::Timeout);
                    }
                    inner.changed.wait_timeout(state, left).unwrap_or_else(|p| p.into_inner()).0
                }
                Wait::Forever => inner.changed.wait(state).unwrap_or_else(|p| p.into_inner()),
            };
        }
    }
}

impl Cursor {
    /// Catches up with the current generation; the rewind, when it moved
    /// the position.
    fn sync(&mut self, state: &State) -> Option<Rewind> {
        // A generation still pending is caught up with once it is settled.
        let after = state.after.filter(|_| state.generation != self.generation)?;
        self.generation = state.generation;
        if after == self.position {
            // Nothing this feeder sent was lost: go on.
            return None;
        }
        self.position = after;
        Some(Rewind { generation: state.generation, after })
    }

    /// Closed, or rewound: the checks every call makes first.
    fn check(&mut self, state: &State) -> Result<(), FeedError> {
        if state.closed {
            return Err(FeedError::Closed);
        }
        match self.sync(state) {
            Some(rewind) => Err(FeedError::Rewound(rewind)),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for Feeder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Feeder")
            .field("generation", &self.cursor.generation)
            .field("position", &self.cursor.position)
            .finish()
    }
}

/// One attempt's reading side (what `SourceSpec::open` returns).
pub(crate) struct EmbeddedReader {
    inner: Arc<Inner>,
    /// The generation this reader owns; a newer one makes it stale.
    generation: u64,
    /// The position of the last event emitted (or the rewind position).
    position: u64,
    /// Events taken off the queue, pushed into the router without the lock.
    batch: Vec<QueuedEvent>,
}

impl EmbeddedReader {
    fn stale(&self) -> Error {
        Error::Source(
            "embedded source: another job (or attempt) opened the same EmbeddedSource; a handle feeds one job \
             at a time"
                .into(),
        )
    }

    /// Whether the input has ended at this reader's position.
    fn at_end(&self, state: &State) -> bool {
        state.queue.is_empty() && state.end.is_some_and(|end| self.position >= end)
    }
}

impl Source for EmbeddedReader {
    fn emit(&mut self, out: &mut dyn Emit, max_events: usize) -> Result<Emitted, SourceError> {
        let inner = self.inner.clone();
        let mut state = inner.lock();
        if state.generation != self.generation {
            return Err(self.stale().into());
        }
        if state.after.is_none() {
            // Not sought: this attempt starts from the beginning.
            inner.resolve(&mut state, self.position);
        }
        if state.queue.is_empty() {
            if self.at_end(&state) {
                return Ok(Emitted { events: 0, exhausted: true });
            }
            // Idle: what the router holds goes downstream now (latency),
            // then wait a little for events.
            drop(state);
            out.flush()?;
            state = inner.lock();
            if state.queue.is_empty() && !state.closed {
                state = inner.arrived.wait_timeout(state, IDLE_WAIT).unwrap_or_else(|p| p.into_inner()).0;
            }
            if state.generation != self.generation {
                return Err(self.stale().into());
            }
        }
        let take = state.queue.len().min(max_events);
        self.batch.extend(state.queue.drain(..take));
        if take > 0 {
            inner.changed.notify_all();
        }
        drop(state);

        // Routing may block on backpressure: never with the lock held.
        for event in self.batch.drain(..) {
            out.push_from(event.position, event.timestamp, &event.key, &event.value)?;
            self.position = event.position;
        }
        let mut state = inner.lock();
        if state.generation == self.generation {
            state.emitted = self.position;
        }
        Ok(Emitted { events: take, exhausted: self.at_end(&state) })
    }

    fn position(&self) -> u64 {
        self.position
    }
}

impl EmbeddedReader {
    /// Continues from `position`, a position once recorded (a restore).
    pub(crate) fn seek(&mut self, position: u64) -> Result<()> {
        let mut state = self.inner.lock();
        if state.generation != self.generation {
            return Err(self.stale());
        }
        self.generation = self.inner.resolve(&mut state, position);
        self.position = position;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crossbeam_channel::{Receiver, unbounded};
    use weir_wire::batch::BatchReader;

    use super::*;
    use crate::exec::Message;
    use crate::exec::router::Router;
    use crate::job::graph::Edge;

    fn router() -> (Router, Receiver<Message>) {
        let (tx, rx) = unbounded();
        (Router::new(Edge::Forward, vec![tx], 4, 128), rx)
    }

    /// `key=value` of every event in the batches received so far.
    fn received(rx: &Receiver<Message>) -> Vec<String> {
        let mut events = Vec::new();
        for message in rx.try_iter() {
            if let Message::Batch(bytes, _) = message {
                for event in BatchReader::new(&bytes).unwrap() {
                    let event = event.unwrap();
                    events.push(format!(
                        "{}={}",
                        String::from_utf8_lossy(event.key),
                        String::from_utf8_lossy(event.value)
                    ));
                }
            }
        }
        events
    }

    /// Emits until the queue is empty; the last `Emitted`.
    fn emit_all(reader: &mut EmbeddedReader, out: &mut Router) -> Emitted {
        loop {
            let emitted = reader.emit(out, 100).unwrap_or_else(|_| panic!("emit failed"));
            if emitted.events == 0 || emitted.exhausted {
                out.flush().unwrap();
                return emitted;
            }
        }
    }

    /// A reader that has started from the beginning (as at its first emit).
    fn started(source: &EmbeddedSource) -> EmbeddedReader {
        let mut reader = source.open();
        reader.seek(0).unwrap();
        reader
    }

    fn send(feeder: &mut Feeder, positions: impl IntoIterator<Item = u64>) {
        for p in positions {
            feeder.send(p, format!("k{p}"), format!("v{p}"), None).unwrap();
        }
    }

    #[test]
    fn emits_in_order_and_records_the_position_of_the_last_event() {
        let (source, mut feeder) = EmbeddedSource::new(16);
        let mut reader = started(&source);
        // A fresh start moves nothing: no rewind to report.
        assert_eq!(feeder.take_rewind(), None);
        send(&mut feeder, [1, 2, 7]);
        let (mut out, rx) = router();
        let emitted = emit_all(&mut reader, &mut out);
        assert!(!emitted.exhausted);
        assert_eq!(received(&rx), ["k1=v1", "k2=v2", "k7=v7"]);
        assert_eq!((reader.position(), source.emitted(), feeder.position()), (7, 7, 7));
        assert_eq!(feeder.send(7, "k", "v", None), Err(FeedError::NotIncreasing { position: 7, last: 7 }));
        assert_eq!(feeder.send(0, "k", "v", None), Err(FeedError::NotIncreasing { position: 0, last: 7 }));
    }

    #[test]
    fn a_restore_rewinds_the_feeder_to_the_checkpointed_position() {
        let (source, mut feeder) = EmbeddedSource::new(16);
        let mut first = started(&source);
        send(&mut feeder, 1..=5);
        let (mut out, _rx) = router();
        emit_all(&mut first, &mut out);
        drop(first);

        // The next attempt restores a checkpoint taken at position 2.
        let mut second = source.open();
        second.seek(2).unwrap();
        let Err(FeedError::Rewound(rewind)) = feeder.send(6, "k6", "v6", None) else { panic!("no rewind reported") };
        assert_eq!(rewind.after, 2);
        assert_eq!(feeder.position(), 2);
        assert_eq!(source.emitted(), 2);
        send(&mut feeder, 3..=6);
        let (mut out, rx) = router();
        emit_all(&mut second, &mut out);
        assert_eq!(received(&rx), ["k3=v3", "k4=v4", "k5=v5", "k6=v6"]);
        assert_eq!(second.position(), 6);
    }

    #[test]
    fn events_queued_before_a_rewind_are_discarded_and_the_old_reader_is_stale() {
        let (source, mut feeder) = EmbeddedSource::new(16);
        let mut old = started(&source);
        send(&mut feeder, 1..=4);
        // A restart without a checkpoint: input from the start again.
        let mut new = source.open();
        let (mut out, rx) = router();
        assert!(matches!(old.emit(&mut out, 100), Err(SourceError::Failed(Error::Source(_)))));
        // Not known before the new reader is sought or starts emitting.
        assert_eq!(feeder.take_rewind(), None);
        assert_eq!(emit_all(&mut new, &mut out).events, 0);
        assert_eq!(feeder.take_rewind().map(|r| r.after), Some(0));
        assert_eq!(feeder.take_rewind(), None);
        send(&mut feeder, [1, 2]);
        emit_all(&mut new, &mut out);
        // 1..4 of the old generation are gone: nothing is emitted twice.
        assert_eq!(received(&rx), ["k1=v1", "k2=v2"]);
    }

    #[test]
    fn while_an_attempt_is_prepared_the_feeder_waits_and_sees_one_rewind() {
        let (source, mut feeder) = EmbeddedSource::new(16);
        let mut first = started(&source);
        send(&mut feeder, 1..=5);
        let (mut out, _rx) = router();
        emit_all(&mut first, &mut out);
        drop(first);

        // The next attempt's reader is open; the checkpoint is being read.
        let mut second = source.open();
        assert_eq!(feeder.try_send(6, "k6", "v6", None), Err(FeedError::Full));
        assert_eq!(feeder.wait_rewind(Duration::from_millis(5)), Err(FeedError::Timeout));
        assert_eq!(source.emitted(), 0);
        let sender = std::thread::spawn(move || {
            let sent = feeder.send(6, "k6", "v6", None);
            (feeder, sent)
        });
        std::thread::sleep(Duration::from_millis(20));
        second.seek(3).unwrap();
        // One rewind, straight to the checkpoint: no detour through 0.
        let (mut feeder, sent) = sender.join().unwrap();
        assert_eq!(sent, Err(FeedError::Rewound(Rewind { generation: 2, after: 3 })));
        assert_eq!(source.emitted(), 3);
        send(&mut feeder, 4..=6);
        let (mut out, rx) = router();
        emit_all(&mut second, &mut out);
        assert_eq!(received(&rx), ["k4=v4", "k5=v5", "k6=v6"]);
    }

    #[test]
    fn a_rewind_that_loses_nothing_is_not_reported() {
        let (source, mut feeder) = EmbeddedSource::new(16);
        let mut reader = started(&source);
        send(&mut feeder, 1..=3);
        let (mut out, _rx) = router();
        emit_all(&mut reader, &mut out);
        // Restored from a checkpoint at 3, the feeder's position: go on.
        let mut reader = source.open();
        reader.seek(3).unwrap();
        assert_eq!(feeder.take_rewind(), None);
        send(&mut feeder, [4]);
        assert_eq!(emit_all(&mut reader, &mut out).events, 0);
        assert_eq!(reader.position(), 4);
    }

    #[test]
    fn finish_ends_the_input_and_survives_a_rewind() {
        let (source, mut feeder) = EmbeddedSource::new(16);
        let mut reader = started(&source);
        send(&mut feeder, [1, 2]);
        feeder.finish().unwrap();
        assert_eq!(feeder.send(3, "k", "v", None), Err(FeedError::Finished { end: 2 }));
        let (mut out, rx) = router();
        let emitted = reader.emit(&mut out, 100).unwrap_or_else(|_| panic!("emit failed"));
        assert!(emitted.exhausted && emitted.events == 2);
        out.flush().unwrap();
        assert_eq!(received(&rx).len(), 2);

        // Restored at 1: event 2 must come again, then the input ends.
        let mut reader = source.open();
        reader.seek(1).unwrap();
        assert!(!reader.emit(&mut out, 100).unwrap_or_else(|_| panic!("emit failed")).exhausted);
        assert_eq!(feeder.take_rewind().map(|r| r.after), Some(1));
        send(&mut feeder, [2]);
        assert!(reader.emit(&mut out, 100).unwrap_or_else(|_| panic!("emit failed")).exhausted);
        // Restored at the end itself: nothing to resend.
        let mut reader = source.open();
        reader.seek(2).unwrap();
        assert_eq!(feeder.take_rewind(), None);
        assert!(reader.emit(&mut out, 100).unwrap_or_else(|_| panic!("emit failed")).exhausted);
    }

    #[test]
    fn a_full_queue_blocks_until_emitted_rewound_or_closed() {
        let (source, mut feeder) = EmbeddedSource::new(2);
        let mut reader = started(&source);
        send(&mut feeder, [1, 2]);
        assert_eq!(feeder.try_send(3, "k", "v", None), Err(FeedError::Full));
        assert_eq!(feeder.send_timeout(3, "k", "v", None, Duration::from_millis(10)), Err(FeedError::Timeout));

        // Room made by the reader wakes a blocked send.
        let sender = std::thread::spawn(move || {
            let sent = feeder.send(3, "k3", "v3", None);
            (feeder, sent)
        });
        std::thread::sleep(Duration::from_millis(20));
        let (mut out, rx) = router();
        let mut emitted = reader.emit(&mut out, 1).unwrap_or_else(|_| panic!("emit failed")).events;
        let (mut feeder, sent) = sender.join().unwrap();
        assert_eq!(sent, Ok(()));
        while emitted < 3 {
            emitted += reader.emit(&mut out, 100).unwrap_or_else(|_| panic!("emit failed")).events;
        }
        out.flush().unwrap();
        assert_eq!(received(&rx), ["k1=v1", "k2=v2", "k3=v3"]);

        // A rewind wakes it with the rewind.
        send(&mut feeder, [4, 5]);
        let sender = std::thread::spawn(move || feeder.send(6, "k", "v", None));
        std::thread::sleep(Duration::from_millis(20));
        reader.seek(3).unwrap();
        assert_eq!(sender.join().unwrap(), Err(FeedError::Rewound(Rewind { generation: 2, after: 3 })));

        // So does a close, and every later call fails.
        let (source, mut feeder) = EmbeddedSource::new(1);
        let _reader = started(&source);
        send(&mut feeder, [1]);
        let closer = source.clone();
        let sender = std::thread::spawn(move || {
            let sent = feeder.send(2, "k", "v", None);
            (feeder, sent)
        });
        std::thread::sleep(Duration::from_millis(20));
        closer.close();
        let (mut feeder, sent) = sender.join().unwrap();
        assert_eq!(sent, Err(FeedError::Closed));
        assert_eq!(feeder.wait_rewind(Duration::from_secs(1)), Err(FeedError::Closed));
        assert_eq!(feeder.finish(), Err(FeedError::Closed));
    }

    #[test]
    fn wait_rewind_reports_a_rewind_from_another_thread() {
        let (source, mut feeder) = EmbeddedSource::new(4);
        let mut reader = started(&source);
        send(&mut feeder, [1, 2]);
        assert_eq!(feeder.wait_rewind(Duration::from_millis(5)), Err(FeedError::Timeout));
        let seeker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            reader.seek(1).unwrap();
        });
        assert_eq!(feeder.wait_rewind(Duration::from_secs(5)).map(|r| r.after), Ok(1));
        seeker.join().unwrap();
    }

    /// Fails at the first `boom` event in the process, passes the rest on.
    struct FailOnce;

    static FAILED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

    impl weir_guest::Operator for FailOnce {
        fn open(_: &mut weir_guest::OpenContext) -> weir_guest::Result<Self> {
            Ok(FailOnce)
        }

        fn process(&mut self, ctx: &mut weir_guest::Context, event: weir_guest::Event<'_>) -> weir_guest::Result<()> {
            if event.value() == b"boom" && !FAILED.swap(true, std::sync::atomic::Ordering::SeqCst) {
                return Err(weir_guest::Error::msg("boom"));
            }
            ctx.emit(event.key(), event.value());
            Ok(())
        }
    }

    /// Through the engine: a failure restarts the job in process, the new
    /// attempt reopens the source and seeks it to the checkpoint, the feeder
    /// replays from there, and the committed output holds every event once.
    #[test]
    fn an_in_process_restart_is_replayed_exactly_once() {
        use crate::operator::NativeOperator;
        use crate::{CheckpointConfig, Engine, EngineConfig, JobSpec, JobStatus, OperatorSpec, RestartStrategy};

        let out = tempfile::tempdir().unwrap();
        let (source, mut feeder) = EmbeddedSource::new(16);
        let mut job = JobSpec::new("embedded-restart", source.into(), crate::SinkSpec::files(out.path()))
            .operator(OperatorSpec::native("fail-once", "fail-once"))
            .checkpoint(CheckpointConfig::new("memory://embedded-restart", Duration::from_millis(10)));
        job.restart = Some(RestartStrategy::FixedDelay { attempts: 2, delay: Duration::from_millis(10) });
        let engine = Engine::with_config(EngineConfig { cache_dir: None, ..EngineConfig::default() })
            .unwrap()
            .with_native(NativeOperator::sdk::<FailOnce>("fail-once"));
        let running = engine.start(job).unwrap();
        let observer = running.observer();

        let log: Vec<(u64, String)> =
            (1..=300).map(|p| (p, if p == 250 { "boom".to_owned() } else { format!("v{p}") })).collect();
        let feeding = std::thread::spawn(move || {
            let mut rewinds = Vec::new();
            'feed: while observer.is_running() {
                let start = log.partition_point(|(p, _)| *p <= feeder.position());
                for (position, value) in &log[start..] {
                    if *position == 200 {
                        // Let a checkpoint or two complete mid-input.
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    match feeder.send(*position, format!("k{}", position % 7), value.clone(), None) {
                        Ok(()) => {}
                        Err(FeedError::Rewound(rewind)) => {
                            rewinds.push(rewind);
                            continue 'feed;
                        }
                        Err(e) => panic!("send: {e}"),
                    }
                }
                match feeder.finish() {
                    Ok(()) => {}
                    Err(FeedError::Rewound(rewind)) => {
                        rewinds.push(rewind);
                        continue;
                    }
                    Err(e) => panic!("finish: {e}"),
                }
                // The input is complete, but a restart rewinds it all the same.
                match feeder.wait_rewind(Duration::from_millis(20)) {
                    Ok(rewind) => rewinds.push(rewind),
                    Err(FeedError::Timeout) => {}
                    Err(e) => panic!("wait_rewind: {e}"),
                }
            }
            rewinds
        });
        let report = running.wait().unwrap();
        let rewinds = feeding.join().unwrap();
        assert_eq!((report.status, report.restarts), (JobStatus::Finished, 1));
        // One restart, one rewind: to the checkpoint, before the failing event.
        assert!(rewinds.len() == 1 && rewinds[0].after < 250, "{rewinds:?}");

        let mut lines = Vec::new();
        for entry in std::fs::read_dir(out.path()).unwrap() {
            let path = entry.unwrap().path();
            if !path.file_name().unwrap().to_string_lossy().starts_with('.') {
                lines.extend(std::fs::read_to_string(path).unwrap().lines().map(str::to_owned));
            }
        }
        lines.sort();
        let mut expected: Vec<String> = (1..=300)
            .map(|p| format!("k{}\t{}", p % 7, if p == 250 { "boom".to_owned() } else { format!("v{p}") }))
            .collect();
        expected.sort();
        assert_eq!(lines, expected);
    }

    #[test]
    fn handles_compare_by_identity_and_validation_needs_room() {
        use crate::{JobSpec, OperatorSpec, SinkSpec, SourceSpec};
        let (a, _) = EmbeddedSource::new(8);
        let (b, _) = EmbeddedSource::new(8);
        assert_eq!(SourceSpec::from(a.clone()), SourceSpec::Embedded(a.clone()));
        assert_ne!(a, b);
        assert!(format!("{a:?}").contains("capacity: 8"));
        let job = |source: EmbeddedSource| {
            JobSpec::new("j", source.into(), SinkSpec::Discard).operator(OperatorSpec::new("op", "op.wasm"))
        };
        assert!(job(a).validate().is_ok());
        let (none, _) = EmbeddedSource::new(0);
        let error = job(none).validate().unwrap_err().to_string();
        assert!(error.contains("source.capacity"), "{error}");
    }
}
