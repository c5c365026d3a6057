//! An operator subtask: owns one guest instance, reads its input channels,
//! calls the guest once per batch and hands the output on, to the next
//! stage's router or, for the last operator, to its sink writer.
//!
//! Checkpoint barriers are aligned: once `Barrier(n)` arrives on an input,
//! that input is not read again until every other open input has delivered
//! `Barrier(n)` too (an input that ended counts as aligned). Then the guest
//! is snapshotted, the barrier goes downstream, and the state is handed to
//! the checkpoint writer, which uploads it while this subtask goes on.

use crossbeam_channel::{Receiver, Select};
use weir_wire::batch::{self, BatchReader};

use super::router::{RouteError, Router};
use super::{Message, Shared, TaskExit};
use crate::checkpoint::writer::{CheckpointWriter, TaskEvent};
use crate::error::{Error, Result};
use crate::guest::{GuestInstance, InstanceContext, LoadedComponent, StateChunk};
use crate::sinks::Sink;

/// Where an operator subtask's output goes.
pub(crate) enum Output {
    Router(Router),
    Sink(Box<dyn Sink>),
}

pub(crate) struct OperatorTask {
    pub(crate) component: LoadedComponent,
    pub(crate) context: InstanceContext,
    /// Index of this operator in the job, for its counters and checkpoints.
    pub(crate) operator_index: usize,
    pub(crate) limits: crate::guest::Limits,
    /// State this subtask starts with (empty for a fresh start).
    pub(crate) restored: Vec<StateChunk>,
    /// One channel per upstream subtask feeding this one.
    pub(crate) inputs: Vec<Receiver<Message>>,
    pub(crate) output: Output,
    pub(crate) writer: CheckpointWriter,
    /// Ids of completed checkpoints, for the chained sink.
    pub(crate) commit_notices: Option<Receiver<u64>>,
}

/// Which inputs may be read now.
struct Alignment {
    /// No `End` yet.
    open: Vec<bool>,
    /// Delivered the barrier being aligned; not read until it completes.
    blocked: Vec<bool>,
    /// The checkpoint being aligned.
    checkpoint: Option<u64>,
}

impl Alignment {
    fn new(inputs: usize) -> Self {
        Alignment { open: vec![true; inputs], blocked: vec![false; inputs], checkpoint: None }
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
    }
}

impl OperatorTask {
    pub(crate) fn run(mut self, shared: &Shared) -> Result<TaskExit> {
        let restored = std::mem::take(&mut self.restored);
        let mut guest = GuestInstance::new(&self.component, &self.context, restored, &self.limits)?;
        let counters = &shared.counters.operators[self.operator_index].1;
        let mut alignment = Alignment::new(self.inputs.len());

        while alignment.any_open() {
            if shared.is_stopping() {
                return Ok(TaskExit::Stopped);
            }
            self.forward_commit_notices();
            let Some((input, message)) = self.next_message(&alignment.readable())? else {
                // An upstream task vanished without `End`: it failed or the
                // job is being cancelled; either way this task stops.
                return Ok(TaskExit::Stopped);
            };
            match message {
                Message::Batch(bytes) => {
                    counters.events_in.add(batch::event_count(&bytes).unwrap_or(0) as u64);
                    let output = guest.process(&bytes)?;
                    let Some(emitted) = self.deliver(output)? else { return Ok(TaskExit::Stopped) };
                    self.count_output(shared, emitted);
                }
                Message::Barrier(checkpoint_id) => {
                    if let Some(aligning) = alignment.checkpoint.filter(|&id| id != checkpoint_id) {
                        return Err(self.error(format!("barrier {checkpoint_id} arrived while aligning {aligning}")));
                    }
                    alignment.blocked[input] = true;
                    alignment.checkpoint = Some(checkpoint_id);
                }
                Message::End => alignment.open[input] = false,
            }
            if let Some(checkpoint_id) = alignment.aligned() {
                if !self.checkpoint(checkpoint_id, &mut guest)? {
                    return Ok(TaskExit::Stopped);
                }
                alignment.release();
            }
        }

        let output = guest.finish()?;
        let Some(emitted) = self.deliver(output)? else { return Ok(TaskExit::Stopped) };
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
    fn checkpoint(&mut self, checkpoint_id: u64, guest: &mut GuestInstance) -> Result<bool> {
        let chunks = guest.snapshot(checkpoint_id)?;
        let staged = match &mut self.output {
            Output::Router(router) => {
                if router.barrier(checkpoint_id).is_err() {
                    return Ok(false);
                }
                Vec::new()
            }
            Output::Sink(sink) => sink.prepare_commit(checkpoint_id)?,
        };
        self.writer.submit(checkpoint_id, self.operator_index, self.context.subtask_index, chunks, staged);
        Ok(true)
    }

    fn forward_commit_notices(&mut self) {
        if let (Some(notices), Output::Sink(sink)) = (&self.commit_notices, &mut self.output) {
            while let Ok(checkpoint_id) = notices.try_recv() {
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
            return Err(self.error("internal error: every input is blocked".into()));
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

    /// Passes a guest's output on. `None` if the downstream is gone.
    fn deliver(&mut self, output: Vec<u8>) -> Result<Option<usize>> {
        let bad_output = |e: weir_wire::DecodeError| Error::Guest {
            operator: self.context.operator.clone(),
            subtask: self.context.subtask_index,
            message: format!("emitted a malformed batch: {e}"),
        };
        match &mut self.output {
            Output::Router(router) => match router.push_batch(output) {
                Ok(count) => Ok(Some(count)),
                Err(RouteError::Disconnected) => Ok(None),
                Err(RouteError::BadBatch(e)) => Err(bad_output(e)),
            },
            Output::Sink(sink) => {
                let mut count = 0;
                let reader = BatchReader::new(&output).map_err(&bad_output)?;
                for event in reader {
                    let event = event.map_err(&bad_output)?;
                    sink.write(&event).map_err(|e| Error::Sink(format!("{}: {e}", sink.describe())))?;
                    count += 1;
                }
                sink.end_batch().map_err(|e| Error::Sink(format!("{}: {e}", sink.describe())))?;
                Ok(Some(count))
            }
        }
    }

    fn error(&self, message: String) -> Error {
        Error::Guest { operator: self.context.operator.clone(), subtask: self.context.subtask_index, message }
    }
}
