//! Sending events from one subtask to the subtasks of the next stage, along
//! one [`Edge`]: forward, rebalance, key-by or broadcast.
//!
//! A router packs events into per-target batches and sends a batch when it
//! is full, when the task asks ([`Router::flush`], before it would block
//! waiting for input, so a slow source still gets low latency), and at the
//! end. Sending blocks while the target's channel is full: that is the
//! backpressure that bounds a job's memory.

use crossbeam_channel::Sender;
use weir_wire::DecodeError;
use weir_wire::batch::{self, BatchReader, BatchWriter, NO_KEY_GROUP};

use super::message::{Message, Origin};
use crate::job::graph::{Edge, key_group_of, subtask_for_key_group};

/// Why a router could not take events.
#[derive(Debug)]
pub(crate) enum RouteError {
    /// A downstream subtask is gone: the job is stopping.
    Disconnected,
    /// A guest's output batch is malformed.
    BadBatch(DecodeError),
}

pub(crate) struct Router {
    edge: Edge,
    /// Per writer: where the events it holds came from.
    origins: Vec<Option<Origin>>,
    /// Where the events routed now come from (the input batch being
    /// processed), for [`Router::push`].
    inherited: Option<Origin>,
    /// One per downstream subtask reachable from this subtask (one for
    /// `Forward`).
    targets: Vec<Sender<Message>>,
    /// One per target for `KeyBy`; a single shared one otherwise.
    writers: Vec<BatchWriter>,
    /// Round-robin position for `Rebalance`.
    next_target: usize,
    batch_size: usize,
    max_parallelism: u32,
}

impl Router {
    pub(crate) fn new(edge: Edge, targets: Vec<Sender<Message>>, batch_size: usize, max_parallelism: u32) -> Self {
        let writers = match edge {
            Edge::KeyBy => targets.len(),
            Edge::Forward | Edge::Rebalance | Edge::Broadcast => 1,
        };
        // Room for a full batch of small events, so that steady state does
        // not reallocate.
        let capacity = batch_size * 48;
        Router {
            edge,
            origins: vec![None; writers],
            inherited: None,
            writers: (0..writers).map(|_| BatchWriter::with_capacity(capacity)).collect(),
            targets,
            next_target: 0,
            batch_size,
            max_parallelism,
        }
    }

    /// Routes one event read at source position `position`.
    #[inline]
    pub(crate) fn push_from(
        &mut self,
        position: u64,
        timestamp: i64,
        key: &[u8],
        value: &[u8],
    ) -> Result<(), RouteError> {
        self.inherited = Some(Origin { first: position, last: position });
        self.push(timestamp, key, value)
    }

    /// Routes one event.
    #[inline]
    pub(crate) fn push(&mut self, timestamp: i64, key: &[u8], value: &[u8]) -> Result<(), RouteError> {
        let (writer, key_group) = match self.edge {
            Edge::KeyBy => {
                let key_group = key_group_of(key, self.max_parallelism);
                let target = subtask_for_key_group(key_group, self.targets.len() as u32, self.max_parallelism);
                (target as usize, key_group)
            }
            Edge::Forward | Edge::Rebalance | Edge::Broadcast => (0, NO_KEY_GROUP),
        };
        self.writers[writer].push(key_group, timestamp, key, value);
        self.origins[writer] = Origin::union(self.origins[writer], self.inherited);
        if self.writers[writer].len() >= self.batch_size {
            self.send_writer(writer)?;
        }
        Ok(())
    }

    /// Routes every event of a packed batch (a guest's output, made from
    /// input of `origin`) and returns how many there were. On unkeyed edges
    /// the batch is checked and passed on as it is, without re-packing.
    pub(crate) fn push_batch(&mut self, mut bytes: Vec<u8>, origin: Option<Origin>) -> Result<usize, RouteError> {
        self.inherited = origin;
        match self.edge {
            Edge::KeyBy => {
                let mut count = 0;
                for event in BatchReader::new(&bytes).map_err(RouteError::BadBatch)? {
                    let event = event.map_err(RouteError::BadBatch)?;
                    self.push(event.timestamp, event.key, event.value)?;
                    count += 1;
                }
                Ok(count)
            }
            Edge::Forward | Edge::Rebalance | Edge::Broadcast => {
                let count = batch::stamp_key_groups(&mut bytes, NO_KEY_GROUP).map_err(RouteError::BadBatch)?;
                if count > 0 {
                    // Keep event order: anything pushed singly goes first.
                    self.flush()?;
                    self.send_unkeyed(bytes, origin)?;
                }
                Ok(count)
            }
        }
    }

    /// Sends every partly filled batch.
    pub(crate) fn flush(&mut self) -> Result<(), RouteError> {
        for writer in 0..self.writers.len() {
            if !self.writers[writer].is_empty() {
                self.send_writer(writer)?;
            }
        }
        Ok(())
    }

    /// Flushes, then tells every target that this input has ended.
    pub(crate) fn finish(&mut self) -> Result<(), RouteError> {
        self.broadcast(|| Message::End)
    }

    /// Flushes, then sends watermark `watermark` to every target.
    pub(crate) fn watermark(&mut self, watermark: i64) -> Result<(), RouteError> {
        self.broadcast(|| Message::Watermark(watermark))
    }

    /// Flushes, then tells every target this sender is idle.
    pub(crate) fn idle(&mut self) -> Result<(), RouteError> {
        self.broadcast(|| Message::Idle)
    }

    /// Flushes, then sends checkpoint barrier `checkpoint_id` to every
    /// target: every event routed before it is ahead of it in each channel.
    pub(crate) fn barrier(&mut self, checkpoint_id: u64) -> Result<(), RouteError> {
        self.broadcast(|| Message::Barrier(checkpoint_id))
    }

    fn broadcast(&mut self, message: impl Fn() -> Message) -> Result<(), RouteError> {
        self.flush()?;
        for target in 0..self.targets.len() {
            self.send(target, message())?;
        }
        Ok(())
    }

    fn send_writer(&mut self, writer: usize) -> Result<(), RouteError> {
        let bytes = self.writers[writer].take();
        let origin = self.origins[writer].take();
        match self.edge {
            Edge::KeyBy => self.send(writer, Message::Batch(bytes, origin)),
            Edge::Forward | Edge::Rebalance | Edge::Broadcast => self.send_unkeyed(bytes, origin),
        }
    }

    /// An unkeyed batch: to the next target in turn, or to every target
    /// for a broadcast.
    fn send_unkeyed(&mut self, bytes: Vec<u8>, origin: Option<Origin>) -> Result<(), RouteError> {
        if self.edge == Edge::Broadcast {
            let last = self.targets.len().saturating_sub(1);
            for target in 0..last {
                self.send(target, Message::Batch(bytes.clone(), origin))?;
            }
            return self.send(last, Message::Batch(bytes, origin));
        }
        let target = self.pick_target();
        self.send(target, Message::Batch(bytes, origin))
    }

    fn pick_target(&mut self) -> usize {
        let target = self.next_target;
        self.next_target = (self.next_target + 1) % self.targets.len();
        target
    }

    fn send(&self, target: usize, message: Message) -> Result<(), RouteError> {
        self.targets[target].send(message).map_err(|_| RouteError::Disconnected)
    }
}

/// What sources see of a router: single events and a flush.
impl crate::sources::Emit for Router {
    #[inline]
    fn push_from(
        &mut self,
        position: u64,
        timestamp: i64,
        key: &[u8],
        value: &[u8],
    ) -> Result<(), crate::sources::Disconnected> {
        // Pushing single events fails only when a downstream subtask is
        // gone (a bad batch needs `push_batch`).
        Router::push_from(self, position, timestamp, key, value).map_err(|_| crate::sources::Disconnected)
    }

    fn flush(&mut self) -> Result<(), crate::sources::Disconnected> {
        Router::flush(self).map_err(|_| crate::sources::Disconnected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::{Receiver, unbounded};

    fn router(edge: Edge, targets: usize, batch_size: usize) -> (Router, Vec<Receiver<Message>>) {
        let (senders, receivers) = (0..targets).map(|_| unbounded()).unzip();
        (Router::new(edge, senders, batch_size, 128), receivers)
    }

    fn drain(receiver: &Receiver<Message>) -> Vec<(u16, Vec<u8>)> {
        let mut events = Vec::new();
        while let Ok(message) = receiver.try_recv() {
            if let Message::Batch(bytes, _) = message {
                for event in BatchReader::new(&bytes).unwrap() {
                    let event = event.unwrap();
                    events.push((event.key_group, event.key.to_vec()));
                }
            }
        }
        events
    }

    #[test]
    fn key_by_sends_each_key_to_the_owner_of_its_key_group() {
        let (mut router, receivers) = router(Edge::KeyBy, 3, 4);
        for i in 0..100 {
            router.push(0, format!("k{}", i % 17).as_bytes(), b"").unwrap();
        }
        router.finish().unwrap();
        let mut total = 0;
        for (subtask, receiver) in receivers.iter().enumerate() {
            for (key_group, key) in drain(receiver) {
                assert_eq!(key_group, key_group_of(&key, 128));
                assert_eq!(subtask_for_key_group(key_group, 3, 128) as usize, subtask);
                total += 1;
            }
        }
        assert_eq!(total, 100);
    }

    #[test]
    fn rebalance_spreads_batches_and_keeps_events() {
        let (mut router, receivers) = router(Edge::Rebalance, 2, 10);
        for i in 0..100u32 {
            router.push(0, &i.to_le_bytes(), b"v").unwrap();
        }
        router.flush().unwrap();
        let counts: Vec<usize> = receivers.iter().map(|r| drain(r).len()).collect();
        assert_eq!(counts, [50, 50]);
    }

    #[test]
    fn broadcast_sends_every_event_to_every_target() {
        let (mut router, receivers) = router(Edge::Broadcast, 3, 4);
        for i in 0..10u32 {
            router.push(0, &i.to_le_bytes(), b"v").unwrap();
        }
        let mut writer = BatchWriter::new();
        writer.push(5, 0, b"a", b"1");
        router.push_batch(writer.finish(), None).unwrap();
        router.flush().unwrap();
        for receiver in &receivers {
            assert_eq!(drain(receiver).len(), 11);
        }
    }

    #[test]
    fn push_batch_passes_unkeyed_output_through_and_checks_it() {
        let (mut router, receivers) = router(Edge::Forward, 1, 10);
        let mut writer = BatchWriter::new();
        writer.push(5, 0, b"a", b"1");
        assert_eq!(router.push_batch(writer.finish(), None).unwrap(), 1);
        assert_eq!(drain(&receivers[0]), [(NO_KEY_GROUP, b"a".to_vec())]);
        assert!(matches!(router.push_batch(b"garbage".to_vec(), None), Err(RouteError::BadBatch(_))));
    }

    #[test]
    fn a_barrier_follows_every_event_routed_before_it_on_every_channel() {
        let (mut router, receivers) = router(Edge::KeyBy, 2, 100);
        for i in 0..10 {
            router.push(0, format!("k{i}").as_bytes(), b"").unwrap();
        }
        router.barrier(7).unwrap();
        for receiver in &receivers {
            let messages: Vec<Message> = receiver.try_iter().collect();
            assert!(matches!(messages.last(), Some(Message::Barrier(7))));
            assert!(messages[..messages.len() - 1].iter().all(|m| matches!(m, Message::Batch(..))));
        }
    }

    #[test]
    fn a_vanished_target_is_reported() {
        let (mut router, receivers) = router(Edge::Forward, 1, 1);
        drop(receivers);
        assert!(matches!(router.push(0, b"k", b"v"), Err(RouteError::Disconnected)));
    }
}
