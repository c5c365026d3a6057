//! The feeding thread: moves logged events into the job, and replays the log
//! whenever the job rewinds.
//!
//! The whole replay duty fits in one loop, because the [`Feeder`] keeps the
//! cursor: [`Feeder::position`] is the position of the last event handed
//! over, or, right after a rewind, the position the job restored. So the
//! loop always does the same thing: read the log after `feeder.position()`,
//! send what it finds, and when a send says [`FeedError::Rewound`], go round
//! again: the position has moved back and the next read starts there.
//!
//! One thread, and only this one, sends: positions must arrive in order.
//! It blocks when the job is slower than the input (the source's queue is
//! full): the log absorbs the difference, HTTP clients are not slowed down.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};
use weir_host::job::{FeedError, Feeder};

use crate::log::IngestLog;

/// Records read from the log at a time.
const READ_BATCH: usize = 512;
/// How long the thread waits for an append before it looks for a rewind
/// (and for the stop flag) again.
const IDLE_POLL: Duration = Duration::from_millis(50);

/// What the feeding thread shares with the rest of the service.
#[derive(Default)]
pub struct FeedStatus {
    /// The position of the last event handed to the job's source.
    pub fed: AtomicU64,
    /// Rewinds seen (restores in this process, after the start).
    pub rewinds: AtomicU64,
    /// Set to stop the thread (with `EmbeddedSource::close` for a send
    /// that is blocked).
    pub stop: AtomicBool,
    /// Set by the thread when it ends.
    pub done: AtomicBool,
}

/// Starts the feeding thread. It ends when `status.stop` is set or the
/// source is closed, or with an error when the log cannot be read or the
/// job refuses an event.
pub fn spawn(log: Arc<IngestLog>, feeder: Feeder, status: Arc<FeedStatus>) -> Result<JoinHandle<Result<()>>> {
    std::thread::Builder::new()
        .name("edge-feed".into())
        .spawn(move || {
            let result = run(&log, feeder, &status);
            if let Err(e) = &result {
                tracing::error!("feeding stopped: {e:#}");
            }
            status.done.store(true, Ordering::SeqCst);
            result
        })
        .context("cannot start the feeding thread")
}

fn run(log: &IngestLog, mut feeder: Feeder, status: &FeedStatus) -> Result<()> {
    status.fed.store(feeder.position(), Ordering::Relaxed);
    while !status.stop.load(Ordering::Relaxed) {
        // A rewind while there was nothing to send: the loop below would
        // not see it, but the events after it must come again all the same.
        if let Some(rewind) = feeder.take_rewind() {
            on_rewind(status, rewind.after);
        }
        let records = log.wait_after(feeder.position(), READ_BATCH, IDLE_POLL)?;
        for record in records {
            let position = record.position;
            match feeder.send(position, record.key, record.value, record.timestamp) {
                Ok(()) => status.fed.store(position, Ordering::Relaxed),
                // Read again from the new position.
                Err(FeedError::Rewound(rewind)) => {
                    on_rewind(status, rewind.after);
                    break;
                }
                Err(FeedError::Closed) => return Ok(()),
                Err(e) => return Err(e).with_context(|| format!("the job refused logged event {position}")),
            }
        }
    }
    Ok(())
}

fn on_rewind(status: &FeedStatus, after: u64) {
    status.rewinds.fetch_add(1, Ordering::Relaxed);
    status.fed.store(after, Ordering::Relaxed);
    tracing::info!("the job restored position {after}: replaying the ingest log after it");
}
