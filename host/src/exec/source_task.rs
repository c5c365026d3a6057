//! A source subtask: reads its splits through its reader on its own
//! thread, enforces the rate limit, waits while a slow commit holds it back
//! ([`CommitGate`]), injects checkpoint barriers when the
//! coordinator asks (recording what is left of its splits and the highest
//! timestamp it read), makes watermarks from its events' timestamps, says
//! when it is idle, and ends its output when its splits are read.
//!
//! A watermark is sent right after the event that moved it into the next
//! [`Watermarks::interval_ms`] of event time, not on a wall-clock timer as
//! Flink's auto-watermarks are: so where watermarks fall among the events of
//! one subtask, and which events are late, depends only on the input, the
//! same in a failure-free run and in one resumed from a checkpoint (which
//! records the highest timestamp read).

use std::time::{Duration, Instant};

use super::router::Router;
use super::{Shared, TaskExit};
use crate::checkpoint::coordinator::CommitGate;
use crate::checkpoint::writer::{CheckpointWriter, TaskEvent};
use crate::error::Result;
use crate::job::Watermarks;
use crate::sources::{Disconnected, Emit, SourceError, SourceReader};

pub(crate) struct SourceTask {
    /// Index of the source in the job, and of this subtask.
    pub(crate) source: usize,
    pub(crate) subtask: u32,
    /// Opened up front, so that a missing file fails the start.
    pub(crate) reader: Box<dyn SourceReader>,
    /// One router per node reading this source.
    pub(crate) outputs: Fanout,
    pub(crate) rate_limit: Option<u64>,
    pub(crate) batch_size: usize,
    /// Checkpoint ids whose barrier the coordinator wants injected.
    pub(crate) barriers: crossbeam_channel::Receiver<u64>,
    pub(crate) writer: CheckpointWriter,
    /// Says when a slow commit should hold this subtask back.
    pub(crate) gate: std::sync::Arc<CommitGate>,
}

impl SourceTask {
    pub(crate) fn run(mut self, shared: &Shared) -> Result<TaskExit> {
        let started = Instant::now();
        let mut emitted: u64 = 0;
        let mut time = SourceTime { last_event: Instant::now(), idle: false };
        let mut exhausted = false;
        // A restored watermark goes first: nothing after it is older.
        if self.outputs.restored_watermark().is_err() {
            return Ok(TaskExit::Stopped);
        }
        loop {
            if shared.is_stopping() {
                return Ok(TaskExit::Stopped);
            }
            while let Ok(checkpoint_id) = self.barriers.try_recv() {
                let left = self.reader.left();
                if self.outputs.barrier(checkpoint_id).is_err() {
                    return Ok(TaskExit::Stopped);
                }
                let (source, subtask, max_timestamp) = (self.source, self.subtask, self.outputs.max_timestamp);
                self.writer.send(TaskEvent::SourceAck { checkpoint_id, source, subtask, left, max_timestamp });
                self.reader.barrier(checkpoint_id);
            }
            if self.gate.holds_back() {
                // A sink publishes more slowly than the job produces: what
                // is on its way downstream goes, nothing new is read, and
                // the wait does not count as idleness (which would move
                // watermarks past this subtask's events).
                if self.outputs.flush().is_err() {
                    return Ok(TaskExit::Stopped);
                }
                std::thread::sleep(Duration::from_millis(2));
                time.last_event = Instant::now();
                continue;
            }
            if exhausted {
                // Every split read. No barrier can follow `End`: the
                // coordinator counts this subtask as done with nothing left.
                self.writer.send(TaskEvent::SourceExhausted { source: self.source, subtask: self.subtask });
                return Ok(match self.outputs.finish() {
                    Ok(()) => TaskExit::Done,
                    Err(_) => TaskExit::Stopped,
                });
            }
            let mut budget = self.batch_size;
            if let Some(rate) = self.rate_limit {
                // Events allowed so far at `rate` per second, with a burst
                // of one batch.
                let allowed = (started.elapsed().as_secs_f64() * rate as f64) as u64 + self.batch_size as u64;
                if emitted >= allowed {
                    if self.outputs.flush().is_err() || self.tick(&mut time).is_err() {
                        return Ok(TaskExit::Stopped);
                    }
                    let wait = Duration::from_secs_f64((emitted + 1 - allowed) as f64 / rate as f64);
                    std::thread::sleep(wait.min(Duration::from_millis(50)));
                    continue;
                }
                budget = budget.min((allowed - emitted) as usize);
            }
            match self.reader.emit(&mut self.outputs, budget) {
                Ok(done) => {
                    emitted += done.events as u64;
                    shared.counters.source_events.add(done.events as u64);
                    if done.events > 0 {
                        time.last_event = Instant::now();
                        time.idle = false;
                    }
                    if self.tick(&mut time).is_err() {
                        return Ok(TaskExit::Stopped);
                    }
                    exhausted = done.exhausted;
                }
                Err(SourceError::Failed(e)) => return Err(e),
                Err(SourceError::Disconnected) => return Ok(TaskExit::Stopped),
            }
        }
    }

    /// Says once when the subtask has had no event for `idle_timeout_ms`.
    fn tick(&mut self, time: &mut SourceTime) -> Result<(), Disconnected> {
        let Some(watermarks) = self.outputs.watermarks else { return Ok(()) };
        if let Some(timeout) = watermarks.idle_timeout_ms
            && !time.idle
            && time.last_event.elapsed() >= Duration::from_millis(timeout)
        {
            time.idle = true;
            return self.outputs.each(|r| r.idle());
        }
        Ok(())
    }
}

/// When a source subtask last read an event.
struct SourceTime {
    last_event: Instant,
    /// Told downstream it is idle, and has read nothing since.
    idle: bool,
}

/// What a source emits into: one router per node reading it. Every event
/// goes to each.
pub(crate) struct Fanout {
    pub(crate) routers: Vec<Router>,
    /// The highest event timestamp pushed (`i64::MIN`, "none", before),
    /// or restored from the checkpoint.
    pub(crate) max_timestamp: i64,
    pub(crate) watermarks: Option<Watermarks>,
    /// The last watermark sent.
    sent: i64,
}

impl Fanout {
    /// `max_timestamp`: restored from a checkpoint, or `i64::MIN`.
    pub(crate) fn new(routers: Vec<Router>, watermarks: Option<Watermarks>, max_timestamp: i64) -> Self {
        let mut fanout = Fanout { routers, max_timestamp, watermarks, sent: i64::MIN };
        fanout.sent = fanout.current_watermark().unwrap_or(i64::MIN);
        fanout
    }

    /// What the events so far guarantee: the highest timestamp less the
    /// delay (`None` without watermarks or before any timestamp).
    fn current_watermark(&self) -> Option<i64> {
        let watermarks = self.watermarks?;
        (self.max_timestamp > i64::MIN).then(|| self.max_timestamp.saturating_sub(watermarks.delay_ms as i64))
    }

    /// Sends the watermark a restored subtask starts from.
    fn restored_watermark(&mut self) -> Result<(), Disconnected> {
        match self.current_watermark() {
            Some(watermark) => self.each(|r| r.watermark(watermark)),
            None => Ok(()),
        }
    }

    /// After an event: sends the watermark when it moved into a new
    /// interval of event time since the last one sent.
    #[inline]
    fn maybe_watermark(&mut self) -> Result<(), Disconnected> {
        let (Some(watermarks), Some(watermark)) = (self.watermarks, self.current_watermark()) else { return Ok(()) };
        let interval = watermarks.interval_ms.max(1) as i64;
        if watermark > self.sent && watermark.div_euclid(interval) > self.sent.div_euclid(interval) {
            self.sent = watermark;
            return self.each(|r| r.watermark(watermark));
        }
        Ok(())
    }

    fn each(
        &mut self,
        f: impl Fn(&mut Router) -> std::result::Result<(), super::router::RouteError>,
    ) -> Result<(), Disconnected> {
        for router in &mut self.routers {
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
        self.max_timestamp = self.max_timestamp.max(timestamp);
        for router in &mut self.routers {
            // Pushing single events fails only when a downstream subtask
            // is gone.
            router.push_from(position, timestamp, key, value).map_err(|_| Disconnected)?;
        }
        self.maybe_watermark()
    }

    fn flush(&mut self) -> Result<(), Disconnected> {
        self.each(|r| r.flush())
    }
}

#[cfg(test)]
mod tests {
    use crossbeam_channel::unbounded;

    use super::*;
    use crate::exec::Message;
    use crate::job::graph::Edge;

    /// Where watermarks fall among the events: after the event that moves
    /// them into a new interval, from the restored highest timestamp on.
    #[test]
    fn watermarks_follow_the_events_that_move_them_into_a_new_interval() {
        let run = |max_timestamp: i64, timestamps: &[i64]| -> Vec<String> {
            let (tx, rx) = unbounded();
            let router = Router::new(Edge::Forward, vec![tx], 1000, 128);
            let watermarks = Watermarks { delay_ms: 5, idle_timeout_ms: None, interval_ms: 10 };
            let mut fanout = Fanout::new(vec![router], Some(watermarks), max_timestamp);
            fanout.restored_watermark().unwrap();
            for (i, &ts) in timestamps.iter().enumerate() {
                fanout.push_from(i as u64, ts, b"k", b"v").unwrap();
            }
            fanout.flush().unwrap();
            rx.try_iter()
                .map(|message| match message {
                    Message::Watermark(w) => format!("w{w}"),
                    Message::Batch(bytes, _) => format!("{}ev", weir_wire::batch::event_count(&bytes).unwrap()),
                    _ => "other".into(),
                })
                .collect()
        };
        // 105 → watermark 100 (a first interval); 108 → 103, same interval;
        // 104 (out of order) changes nothing; 116 → 111, the next one.
        assert_eq!(run(i64::MIN, &[105, 108, 104, 116]), ["1ev", "w100", "3ev", "w111"]);
        // Restored at a highest timestamp of 108: its watermark goes first,
        // and 112 (→ 107) is in the same interval.
        assert_eq!(run(108, &[112, 121]), ["w103", "2ev", "w116"]);
    }
}
