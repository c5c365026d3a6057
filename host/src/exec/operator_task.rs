//! An operator subtask: owns one operator instance (a sandboxed guest or
//! native code), reads its input channels, calls it once per batch and hands the output on, to the next
//! stage's router or, for the last operator, to its sink writer.
//!
//! Checkpoint barriers are aligned: once `Barrier(n)` arrives on an input,
//! that input is not read again until every other open input has delivered
//! `Barrier(n)` too (an input that ended counts as aligned). Then the guest
//! is snapshotted, the barrier goes downstream, and the state is handed to
//! the checkpoint writer, which uploads it while this subtask goes on.
//!
//! With incremental checkpoints the subtask asks for only the changes since
//! its previous snapshot, but only when that snapshot is part of the newest
//! complete checkpoint (it hears of completions on `completions`); after a
//! start, a restore, an aborted checkpoint or `full_every` deltas in a row
//! it asks for the full state. A restored job's first checkpoint is therefore
//! always full, which is what `no-claim` requires.

use crossbeam_channel::{Receiver, Select};
use weir_wire::batch::{self, BatchReader};

use super::router::{RouteError, Router};
use super::{Message, Origin, Shared, TaskExit};
use std::time::Duration;

use super::LoadedOperator;
use crate::checkpoint::writer::{CheckpointWriter, SnapshotTimings, TaskEvent};
use crate::error::{Error, GuestFailure, Result};
use crate::operator::InstanceContext;
use crate::operator::{OperatorInstance, Snapshot, SnapshotMode, StateChunk};
use crate::sinks::Sink;

/// Where an operator subtask's output goes.
pub(crate) enum Output {
    Router(Router),
    Sink(Box<dyn Sink>),
}

pub(crate) struct OperatorTask {
    pub(crate) code: LoadedOperator,
    pub(crate) context: InstanceContext,
    /// Index of this operator in the job, for its counters and checkpoints.
    pub(crate) operator_index: usize,
    pub(crate) limits: crate::job::Limits,
    /// State this subtask starts with (empty for a fresh start).
    pub(crate) restored: Vec<StateChunk>,
    /// One channel per upstream subtask feeding this one.
    pub(crate) inputs: Vec<Receiver<Message>>,
    pub(crate) output: Output,
    pub(crate) writer: CheckpointWriter,
    /// Ids of completed checkpoints: the chained sink commits, incremental
    /// snapshots build on them.
    pub(crate) completions: Receiver<u64>,
    pub(crate) snapshots: SnapshotPolicy,
    /// Names source positions `first..=last` for error messages.
    pub(crate) describe_positions: std::sync::Arc<dyn Fn(u64, u64) -> String + Send + Sync>,
}

/// Whether snapshots may be incremental.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SnapshotPolicy {
    Full,
    Incremental { full_every: u32 },
}

/// What this subtask's snapshots so far allow the next one to be.
#[derive(Debug, Default)]
struct SnapshotHistory {
    /// The checkpoint of the previous snapshot.
    last_snapshot: Option<u64>,
    /// The newest checkpoint known to be complete.
    last_complete: Option<u64>,
    /// Incremental snapshots since the last full one.
    deltas_in_a_row: u32,
}

impl SnapshotHistory {
    fn next_mode(&self, policy: SnapshotPolicy) -> SnapshotMode {
        match policy {
            SnapshotPolicy::Incremental { full_every }
                if self.last_snapshot.is_some()
                    && self.last_snapshot == self.last_complete
                    && self.deltas_in_a_row + 1 < full_every =>
            {
                SnapshotMode::Incremental
            }
            _ => SnapshotMode::Full,
        }
    }

    fn taken(&mut self, checkpoint_id: u64, incremental: bool) {
        self.last_snapshot = Some(checkpoint_id);
        self.deltas_in_a_row = if incremental { self.deltas_in_a_row + 1 } else { 0 };
    }
}

/// Which inputs may be read now.
struct Alignment {
    /// No `End` yet.
    open: Vec<bool>,
    /// Delivered the barrier being aligned; not read until it completes.
    blocked: Vec<bool>,
    /// The checkpoint being aligned.
    checkpoint: Option<u64>,
    /// When its first barrier arrived.
    started: Option<std::time::Instant>,
}

impl Alignment {
    fn new(inputs: usize) -> Self {
        Alignment { open: vec![true; inputs], blocked: vec![false; inputs], checkpoint: None, started: None }
    }

    fn readable(&self) -> Vec<usize> {
        (0..self.open.len()).filter(|&i| self.open[i] && !self.blocked[i]).collect()
    }

    fn any_open(&self) -> bool {
        self.open.iter().any(|&open| open)
    }

    /// The checkpoint whose barrier has arrived on every open input.
    fn aligned(&self) -> Option<u64> {
        let done = (0..self.open.len()).all(|i| !self.open[i] || self.blocked[i]);
        self.checkpoint.filter(|_| done)
    }

    fn release(&mut self) {
        self.blocked.fill(false);
        self.checkpoint = None;
        self.started = None;
    }
}

impl OperatorTask {
    pub(crate) fn run(mut self, shared: &Shared) -> Result<TaskExit> {
        let restored = std::mem::take(&mut self.restored);
        let mut instance = self.code.instantiate(&self.context, restored, &self.limits)?;
        let counters = &shared.counters.operators[self.operator_index].1;
        let mut alignment = Alignment::new(self.inputs.len());
        let mut history = SnapshotHistory::default();

        while alignment.any_open() {
            if shared.is_stopping() {
                return Ok(TaskExit::Stopped);
            }
            self.take_completions(&mut history);
            let Some((input, message)) = self.next_message(&alignment.readable())? else {
                // An upstream task vanished without `End`: it failed or the
                // job is being cancelled; either way this task stops.
                return Ok(TaskExit::Stopped);
            };
            match message {
                Message::Batch(bytes, origin) => {
                    counters.events_in.add(batch::event_count(&bytes).unwrap_or(0) as u64);
                    let output = instance.process(&bytes).map_err(|e| self.with_origin(e, origin))?;
                    let Some(emitted) = self.deliver(output, origin)? else { return Ok(TaskExit::Stopped) };
                    self.count_output(shared, emitted);
                }
                Message::Barrier(checkpoint_id) => {
                    if let Some(aligning) = alignment.checkpoint.filter(|&id| id != checkpoint_id) {
                        return Err(Error::Internal(format!(
                            "operator '{}' subtask {}: barrier {checkpoint_id} arrived while aligning {aligning}",
                            self.context.operator, self.context.subtask_index
                        )));
                    }
                    alignment.blocked[input] = true;
                    alignment.checkpoint = Some(checkpoint_id);
                    alignment.started.get_or_insert_with(std::time::Instant::now);
                }
                Message::End => alignment.open[input] = false,
            }
            if let Some(checkpoint_id) = alignment.aligned() {
                self.take_completions(&mut history);
                let aligning = alignment.started.map_or(Duration::ZERO, |started| started.elapsed());
                if !self.checkpoint(checkpoint_id, instance.as_mut(), &mut history, aligning)? {
                    return Ok(TaskExit::Stopped);
                }
                alignment.release();
            }
        }

        let output = instance.finish()?;
        let Some(emitted) = self.deliver(output, None)? else { return Ok(TaskExit::Stopped) };
        self.count_output(shared, emitted);
        match self.output {
            Output::Router(mut router) => {
                if router.finish().is_err() {
                    return Ok(TaskExit::Stopped);
                }
            }
            Output::Sink(sink) => {
                let staged = sink.finish()?;
                self.writer.send(TaskEvent::SinkFinished { staged });
            }
        }
        Ok(TaskExit::Done)
    }

    /// Snapshots the guest, stages sink output, forwards the barrier and
    /// hands the state to the writer. `false` if the downstream is gone.
    fn checkpoint(
        &mut self,
        checkpoint_id: u64,
        instance: &mut dyn OperatorInstance,
        history: &mut SnapshotHistory,
        aligning: Duration,
    ) -> Result<bool> {
        let started = std::time::Instant::now();
        let snapshot = instance.snapshot(checkpoint_id, history.next_mode(self.snapshots))?;
        let timings = SnapshotTimings { alignment: aligning, sync: started.elapsed() };
        self.check_snapshot(&snapshot)?;
        history.taken(checkpoint_id, snapshot.incremental);
        let staged = match &mut self.output {
            Output::Router(router) => {
                if router.barrier(checkpoint_id).is_err() {
                    return Ok(false);
                }
                Vec::new()
            }
            Output::Sink(sink) => sink.prepare_commit(checkpoint_id)?,
        };
        self.writer.submit(checkpoint_id, self.operator_index, self.context.subtask_index, snapshot, timings, staged);
        Ok(true)
    }

    /// Refuses chunks that break `wit/STATE.md`'s rules for the mode the
    /// snapshot claims, before they can reach a checkpoint.
    fn check_snapshot(&self, snapshot: &Snapshot) -> Result<()> {
        for chunk in &snapshot.chunks {
            let version = weir_wire::state::chunk_version(&chunk.data).map_err(|e| {
                self.guest_error(
                    GuestFailure::Returned,
                    format!("snapshot returned a malformed chunk for state '{}': {e}", chunk.handle),
                )
            })?;
            if version == weir_wire::state::DELTA_VERSION && !(snapshot.incremental && chunk.kind.is_keyed()) {
                return Err(self.guest_error(
                    GuestFailure::Returned,
                    format!(
                        "snapshot returned a delta chunk for state '{}' in {}: deltas are allowed only for keyed \
                     state in an incremental snapshot",
                        chunk.handle,
                        if snapshot.incremental { "an incremental snapshot" } else { "a full snapshot" }
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Notes completed checkpoints; the chained sink commits their output.
    fn take_completions(&mut self, history: &mut SnapshotHistory) {
        while let Ok(checkpoint_id) = self.completions.try_recv() {
            history.last_complete = Some(checkpoint_id);
            if let Output::Sink(sink) = &mut self.output {
                sink.committed(checkpoint_id);
            }
        }
    }

    fn count_output(&self, shared: &Shared, events: usize) {
        shared.counters.operators[self.operator_index].1.events_out.add(events as u64);
        if let Output::Sink(_) = self.output {
            shared.counters.sink_events.add(events as u64);
        }
    }

    /// Waits for the next message on one of `readable`. Before blocking,
    /// sends any partly filled output batches so that events never wait for
    /// input that may be slow to come. `None` if an input disconnected.
    fn next_message(&mut self, readable: &[usize]) -> Result<Option<(usize, Message)>> {
        if readable.is_empty() {
            // Alignment releases as soon as every open input is blocked, so
            // this cannot happen; waiting on nothing would hang forever.
            return Err(Error::Internal(format!(
                "operator '{}' subtask {}: every input is blocked",
                self.context.operator, self.context.subtask_index
            )));
        }
        let mut select = Select::new();
        for &input in readable {
            select.recv(&self.inputs[input]);
        }
        let operation = match select.try_select() {
            Ok(operation) => operation,
            Err(_) => {
                if let Output::Router(router) = &mut self.output
                    && router.flush().is_err()
                {
                    return Ok(None);
                }
                select.select()
            }
        };
        let input = readable[operation.index()];
        Ok(operation.recv(&self.inputs[input]).ok().map(|message| (input, message)))
    }

    /// Passes a guest's output (made from input of `origin`) on. `None` if
    /// the downstream is gone.
    fn deliver(&mut self, output: Vec<u8>, origin: Option<Origin>) -> Result<Option<usize>> {
        let (operator, subtask) = (&self.context.operator, self.context.subtask_index);
        let bad_output = |e: weir_wire::DecodeError| {
            Error::guest(operator, subtask, GuestFailure::Returned, format!("emitted a malformed batch: {e}"))
        };
        match &mut self.output {
            Output::Router(router) => match router.push_batch(output, origin) {
                Ok(count) => Ok(Some(count)),
                Err(RouteError::Disconnected) => Ok(None),
                Err(RouteError::BadBatch(e)) => Err(bad_output(e)),
            },
            Output::Sink(sink) => {
                let mut count = 0;
                let reader = BatchReader::new(&output).map_err(&bad_output)?;
                for event in reader {
                    let event = event.map_err(&bad_output)?;
                    sink.write(&event).map_err(|source| Error::SinkIo { what: sink.describe(), source })?;
                    count += 1;
                }
                sink.end_batch().map_err(|source| Error::SinkIo { what: sink.describe(), source })?;
                Ok(Some(count))
            }
        }
    }

    /// A guest's failure on a batch says which source input the batch was
    /// made of, so that a user can find the event that broke it.
    fn with_origin(&self, error: Error, origin: Option<Origin>) -> Error {
        match (error, origin) {
            (Error::Guest { operator, subtask, failure, message }, Some(origin)) => {
                let input = (self.describe_positions)(origin.first, origin.last);
                Error::Guest { operator, subtask, failure, message: format!("{message} (on input from {input})") }
            }
            (error, _) => error,
        }
    }

    fn guest_error(&self, failure: GuestFailure, message: String) -> Error {
        Error::guest(&self.context.operator, self.context.subtask_index, failure, message)
    }
}
