//! The source task: drives a [`Source`] on its own thread, enforces the
//! rate limit, injects checkpoint barriers when the coordinator asks
//! (recording the source's position), and ends its output when the input
//! is exhausted.

use std::time::{Duration, Instant};

use super::router::Router;
use super::{Shared, TaskExit};
use crate::checkpoint::writer::{CheckpointWriter, TaskEvent};
use crate::error::Result;
use crate::sources::{Source, SourceError};

pub(crate) struct SourceTask {
    pub(crate) source: Box<dyn Source>,
    pub(crate) router: Router,
    pub(crate) rate_limit: Option<u64>,
    pub(crate) batch_size: usize,
    /// Checkpoint ids whose barrier the coordinator wants injected.
    pub(crate) barriers: crossbeam_channel::Receiver<u64>,
    pub(crate) writer: CheckpointWriter,
}

impl SourceTask {
    pub(crate) fn run(mut self, shared: &Shared) -> Result<TaskExit> {
        let started = Instant::now();
        let mut emitted: u64 = 0;
        loop {
            if shared.is_stopping() {
                return Ok(TaskExit::Stopped);
            }
            while let Ok(checkpoint_id) = self.barriers.try_recv() {
                let position = self.source.position();
                if self.router.barrier(checkpoint_id).is_err() {
                    return Ok(TaskExit::Stopped);
                }
                self.writer.send(TaskEvent::SourceAck { checkpoint_id, position });
            }
            let mut budget = self.batch_size;
            if let Some(rate) = self.rate_limit {
                // Events allowed so far at `rate` per second, with a burst
                // of one batch.
                let allowed = (started.elapsed().as_secs_f64() * rate as f64) as u64 + self.batch_size as u64;
                if emitted >= allowed {
                    if self.router.flush().is_err() {
                        return Ok(TaskExit::Stopped);
                    }
                    let wait = Duration::from_secs_f64((emitted + 1 - allowed) as f64 / rate as f64);
                    std::thread::sleep(wait.min(Duration::from_millis(50)));
                    continue;
                }
                budget = budget.min((allowed - emitted) as usize);
            }
            match self.source.emit(&mut self.router, budget) {
                Ok(done) => {
                    emitted += done.events as u64;
                    shared.counters.source_events.add(done.events as u64);
                    if done.exhausted {
                        // No barrier can follow `End`: later checkpoints
                        // could never complete.
                        self.writer.send(TaskEvent::SourceExhausted);
                        return Ok(match self.router.finish() {
                            Ok(()) => TaskExit::Done,
                            Err(_) => TaskExit::Stopped,
                        });
                    }
                }
                Err(SourceError::Failed(e)) => return Err(e),
                Err(SourceError::Disconnected) => return Ok(TaskExit::Stopped),
            }
        }
    }
}
