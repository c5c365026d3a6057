//! A source subtask: reads its [`Split`]s one after the other on its own
//! thread, enforces the rate limit, injects checkpoint barriers when the
//! coordinator asks (recording what is left of its splits), and ends its
//! output when they are read.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::router::Router;
use super::{Shared, TaskExit};
use crate::checkpoint::writer::{CheckpointWriter, TaskEvent};
use crate::error::Result;
use crate::job::SourceSpec;
use crate::sources::{Disconnected, Emit, Source, SourceError, Split};

pub(crate) struct SourceTask {
    /// Index of the source in the job, and of this subtask.
    pub(crate) source: usize,
    pub(crate) subtask: u32,
    pub(crate) spec: SourceSpec,
    /// The reader of the first split (opened up front, so that a missing
    /// file fails the start), then the splits after it.
    pub(crate) reader: Option<Box<dyn Source>>,
    pub(crate) current: Option<Split>,
    pub(crate) splits: VecDeque<Split>,
    /// One router per node reading this source.
    pub(crate) outputs: Fanout,
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
                let left = self.left();
                if self.outputs.barrier(checkpoint_id).is_err() {
                    return Ok(TaskExit::Stopped);
                }
                let (source, subtask) = (self.source, self.subtask);
                self.writer.send(TaskEvent::SourceAck { checkpoint_id, source, subtask, left });
            }
            let Some(reader) = self.reader.as_mut() else {
                // Every split read. No barrier can follow `End`: the
                // coordinator counts this subtask as done with nothing left.
                self.writer.send(TaskEvent::SourceExhausted { source: self.source, subtask: self.subtask });
                return Ok(match self.outputs.finish() {
                    Ok(()) => TaskExit::Done,
                    Err(_) => TaskExit::Stopped,
                });
            };
            let mut budget = self.batch_size;
            if let Some(rate) = self.rate_limit {
                // Events allowed so far at `rate` per second, with a burst
                // of one batch.
                let allowed = (started.elapsed().as_secs_f64() * rate as f64) as u64 + self.batch_size as u64;
                if emitted >= allowed {
                    if self.outputs.flush().is_err() {
                        return Ok(TaskExit::Stopped);
                    }
                    let wait = Duration::from_secs_f64((emitted + 1 - allowed) as f64 / rate as f64);
                    std::thread::sleep(wait.min(Duration::from_millis(50)));
                    continue;
                }
                budget = budget.min((allowed - emitted) as usize);
            }
            match reader.emit(&mut self.outputs, budget) {
                Ok(done) => {
                    emitted += done.events as u64;
                    shared.counters.source_events.add(done.events as u64);
                    if done.exhausted {
                        self.next_split()?;
                    }
                }
                Err(SourceError::Failed(e)) => return Err(e),
                Err(SourceError::Disconnected) => return Ok(TaskExit::Stopped),
            }
        }
    }

    /// What is left to read: the rest of the current split, then the
    /// splits not started.
    fn left(&self) -> Vec<Split> {
        let current = match (&self.reader, self.current) {
            (Some(reader), Some(split)) => Some(Split { next: reader.position(), end: split.end }),
            _ => None,
        };
        current.into_iter().chain(self.splits.iter().copied()).filter(|s| !s.is_empty()).collect()
    }

    fn next_split(&mut self) -> Result<()> {
        self.reader = None;
        self.current = self.splits.pop_front();
        if let Some(split) = self.current {
            self.reader = Some(self.spec.open(split, true)?);
        }
        Ok(())
    }
}

/// What a source emits into: one router per node reading it. Every event
/// goes to each.
pub(crate) struct Fanout(pub(crate) Vec<Router>);

impl Fanout {
    fn each(
        &mut self,
        f: impl Fn(&mut Router) -> std::result::Result<(), super::router::RouteError>,
    ) -> Result<(), Disconnected> {
        for router in &mut self.0 {
            f(router).map_err(|_| Disconnected)?;
        }
        Ok(())
    }

    fn barrier(&mut self, checkpoint_id: u64) -> Result<(), Disconnected> {
        self.each(|r| r.barrier(checkpoint_id))
    }

    fn finish(&mut self) -> Result<(), Disconnected> {
        self.each(|r| r.finish())
    }
}

impl Emit for Fanout {
    #[inline]
    fn push_from(&mut self, position: u64, timestamp: i64, key: &[u8], value: &[u8]) -> Result<(), Disconnected> {
        for router in &mut self.0 {
            // Pushing single events fails only when a downstream subtask
            // is gone.
            router.push_from(position, timestamp, key, value).map_err(|_| Disconnected)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Disconnected> {
        self.each(|r| r.flush())
    }
}
