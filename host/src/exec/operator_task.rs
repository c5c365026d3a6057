//! An operator subtask: owns one guest instance, reads its input channels,
//! calls the guest once per batch and hands the output on, to the next
//! stage's router or, for the last operator, to its sink writer.

use crossbeam_channel::{Receiver, Select};
use weir_wire::batch::{self, BatchReader};

use super::router::{RouteError, Router};
use super::{Message, Shared, TaskExit};
use crate::error::{Error, Result};
use crate::guest::{GuestInstance, InstanceContext, LoadedComponent};
use crate::sinks::Sink;

/// Where an operator subtask's output goes.
pub(crate) enum Output {
    Router(Router),
    Sink(Box<dyn Sink>),
}

pub(crate) struct OperatorTask {
    pub(crate) component: LoadedComponent,
    pub(crate) context: InstanceContext,
    /// Index of this operator in the job, for its counters.
    pub(crate) operator_index: usize,
    /// One channel per upstream subtask feeding this one.
    pub(crate) inputs: Vec<Receiver<Message>>,
    pub(crate) output: Output,
}

impl OperatorTask {
    pub(crate) fn run(mut self, shared: &Shared) -> Result<TaskExit> {
        let mut guest = GuestInstance::new(&self.component, &self.context, Vec::new())?;
        let counters = &shared.counters.operators[self.operator_index].1;
        let mut open_inputs: Vec<usize> = (0..self.inputs.len()).collect();

        while !open_inputs.is_empty() {
            if shared.is_stopping() {
                return Ok(TaskExit::Stopped);
            }
            let Some((input, message)) = self.next_message(&open_inputs)? else {
                // An upstream task vanished without `End`: it failed or the
                // job is being cancelled; either way this task stops.
                return Ok(TaskExit::Stopped);
            };
            match message {
                Message::Batch(bytes) => {
                    counters
                        .events_in
                        .add(batch::event_count(&bytes).unwrap_or(0) as u64);
                    let output = guest.process(&bytes)?;
                    let Some(emitted) = self.deliver(output)? else {
                        return Ok(TaskExit::Stopped);
                    };
                    self.count_output(shared, emitted);
                }
                Message::End => open_inputs.retain(|&i| i != input),
            }
        }

        let output = guest.finish()?;
        let Some(emitted) = self.deliver(output)? else {
            return Ok(TaskExit::Stopped);
        };
        self.count_output(shared, emitted);
        match self.output {
            Output::Router(mut router) => {
                if router.finish().is_err() {
                    return Ok(TaskExit::Stopped);
                }
            }
            Output::Sink(sink) => sink.finish()?,
        }
        Ok(TaskExit::Done)
    }

    fn count_output(&self, shared: &Shared, events: usize) {
        shared.counters.operators[self.operator_index]
            .1
            .events_out
            .add(events as u64);
        if let Output::Sink(_) = self.output {
            shared.counters.sink_events.add(events as u64);
        }
    }

    /// Waits for the next message on any open input. Before blocking, sends
    /// any partly filled output batches so that events never wait for
    /// input that may be slow to come. `None` if an input disconnected.
    fn next_message(&mut self, open_inputs: &[usize]) -> Result<Option<(usize, Message)>> {
        let mut select = Select::new();
        for &input in open_inputs {
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
        let input = open_inputs[operation.index()];
        Ok(operation
            .recv(&self.inputs[input])
            .ok()
            .map(|message| (input, message)))
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
                    sink.write(&event)
                        .map_err(|e| Error::Sink(format!("{}: {e}", sink.describe())))?;
                    count += 1;
                }
                sink.end_batch()
                    .map_err(|e| Error::Sink(format!("{}: {e}", sink.describe())))?;
                Ok(Some(count))
            }
        }
    }
}
