//! An operator subtask: owns one operator instance (a sandboxed guest or
//! native code), reads its input channels, calls it once per batch (telling
//! it which input the batch came from) and hands each of its outputs (the
//! main one, the side outputs) on: to the routers of the operators reading
//! it and to the writers of the sinks chained to this subtask.
//!
//! Time: each input channel's watermark is the highest it sent; the
//! operator's watermark is the minimum over its open channels that are not
//! idle (an ended channel has reached the end of time). When it rises, the
//! instance's `advance` fires its due timers and the watermark goes on
//! downstream; when the clock passes the instance's `wake_at`, `advance`
//! runs for its processing-time timers. At the end of the input the
//! watermark is `i64::MAX`: every event-time timer fires before `finish`.
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
use weir_wire::batch::{self, BatchReader, BatchWriter};

use super::router::{RouteError, Router};
use super::{Message, Origin, Shared, TaskExit};
use std::time::Duration;

use super::LoadedOperator;
use crate::checkpoint::writer::{CheckpointWriter, SnapshotTimings, TaskEvent};
use crate::error::{Error, GuestFailure, Result};
use crate::operator::InstanceContext;
use crate::operator::{OperatorInstance, Snapshot, SnapshotMode, StateChunk};
use crate::sinks::SinkWriter;

/// Where one output (main or side) of an operator subtask goes.
#[derive(Default)]
pub(crate) struct Port {
    pub(crate) routers: Vec<Router>,
    /// (sink index in the job, this subtask's writer of it).
    pub(crate) sinks: Vec<(usize, Box<dyn SinkWriter>)>,
}

/// Every output of an operator subtask: the main one first, then its side
/// outputs in declaration order (output tag `i` is `ports[i + 1]`).
pub(crate) struct Output {
    pub(crate) ports: Vec<Port>,
}

impl Output {
    fn routers(&mut self) -> impl Iterator<Item = &mut Router> {
        self.ports.iter_mut().flat_map(|p| p.routers.iter_mut())
    }

    fn sinks(&mut self) -> impl Iterator<Item = &mut (usize, Box<dyn SinkWriter>)> {
        self.ports.iter_mut().flat_map(|p| p.sinks.iter_mut())
    }
}

pub(crate) struct OperatorTask {
    pub(crate) code: LoadedOperator,
    pub(crate) context: InstanceContext,
    /// Index of this operator in the job, for its counters and checkpoints.
    pub(crate) operator_index: usize,
    pub(crate) limits: crate::job::Limits,
    /// State this subtask starts with (empty for a fresh start).
    pub(crate) restored: Vec<StateChunk>,
    /// One channel per upstream subtask feeding this one, over all inputs.
    pub(crate) inputs: Vec<Receiver<Message>>,
    /// For each channel of `inputs`: the operator input it belongs to.
    pub(crate) input_of: Vec<u32>,
    pub(crate) output: Output,
    pub(crate) writer: CheckpointWriter,
    /// Ids of completed checkpoints: the chained sink commits, incremental
    /// snapshots build on them.
    pub(crate) completions: Receiver<u64>,
    pub(crate) snapshots: SnapshotPolicy,
    /// Names source positions `first..=last` for error messages.
    pub(crate) describe_positions: std::sync::Arc<dyn Fn(u64, u64) -> String + Send + Sync>,
}

/// What one guest call's output became.
#[derive(Debug, Default, Clone, Copy)]
struct Emitted {
    /// Events the guest emitted, over all its outputs.
    events: usize,
    /// Events written to sinks.
    to_sinks: usize,
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

/// What waiting for input gave.
enum Next {
    Message(usize, Message),
    /// The instance's processing-time timer is due.
    Wake,
    /// An input disconnected.
    Gone,
}

/// The operator's event time: per input channel, the highest watermark it
/// sent and whether it said it is idle; the operator's own watermark.
struct Time {
    channels: Vec<i64>,
    idle: Vec<bool>,
    watermark: i64,
    /// Told downstream it is idle, and nothing advanced since.
    idle_sent: bool,
}

impl Time {
    fn new(inputs: usize) -> Self {
        Time { channels: vec![i64::MIN; inputs], idle: vec![false; inputs], watermark: i64::MIN, idle_sent: false }
    }

    /// The minimum over open, active channels; `i64::MAX` once every one
    /// ended; `None` while every open one is idle.
    fn combined(&self, open: &[bool]) -> Option<i64> {
        let mut active = (0..self.channels.len()).filter(|&i| open[i] && !self.idle[i]).peekable();
        if active.peek().is_none() {
            return (!open.iter().any(|&o| o)).then_some(i64::MAX);
        }
        active.map(|i| self.channels[i]).min()
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
        let mut time = Time::new(self.inputs.len());

        while alignment.any_open() {
            if shared.is_stopping() {
                return Ok(TaskExit::Stopped);
            }
            self.take_completions(&mut history);
            let next = self.next_message(&alignment.readable(), instance.wake_at())?;
            let (input, message) = match next {
                Next::Message(input, message) => (input, message),
                Next::Wake => {
                    if !self.advance(shared, instance.as_mut(), time.watermark)? {
                        return Ok(TaskExit::Stopped);
                    }
                    continue;
                }
                // An upstream task vanished without `End`: it failed or the
                // job is being cancelled; either way this task stops.
                Next::Gone => return Ok(TaskExit::Stopped),
            };
            match message {
                Message::Batch(bytes, origin) => {
                    time.idle[input] = false;
                    counters.events_in.add(batch::event_count(&bytes).unwrap_or(0) as u64);
                    let output =
                        instance.process(self.input_of[input], &bytes).map_err(|e| self.with_origin(e, origin))?;
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
                Message::Watermark(watermark) => {
                    time.channels[input] = time.channels[input].max(watermark);
                    time.idle[input] = false;
                }
                Message::Idle => time.idle[input] = true,
            }
            if !self.on_time(shared, instance.as_mut(), &mut time, &alignment.open)? {
                return Ok(TaskExit::Stopped);
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
        if self.output.routers().any(|router| router.finish().is_err()) {
            return Ok(TaskExit::Stopped);
        }
        let mut staged = Vec::new();
        for port in std::mem::take(&mut self.output.ports) {
            for (sink, writer) in port.sinks {
                staged.push((sink, writer.finish()?));
            }
        }
        let (operator, subtask) = (self.operator_index, self.context.subtask_index);
        self.writer.send(TaskEvent::OperatorFinished { operator, subtask, staged });
        Ok(TaskExit::Done)
    }

    /// Raises the operator's watermark when its inputs allow, firing the
    /// instance's timers and passing the watermark on; passes idleness on
    /// when every open input is idle. `false` if the downstream is gone.
    fn on_time(
        &mut self,
        shared: &Shared,
        instance: &mut dyn OperatorInstance,
        time: &mut Time,
        open: &[bool],
    ) -> Result<bool> {
        match time.combined(open) {
            Some(watermark) if watermark > time.watermark => {
                time.watermark = watermark;
                time.idle_sent = false;
                if !self.advance(shared, instance, watermark)? {
                    return Ok(false);
                }
                // The end of time goes downstream as `End`.
                if watermark < i64::MAX && self.output.routers().any(|router| router.watermark(watermark).is_err()) {
                    return Ok(false);
                }
            }
            None if !time.idle_sent => {
                time.idle_sent = true;
                if self.output.routers().any(|router| router.idle().is_err()) {
                    return Ok(false);
                }
            }
            _ => {}
        }
        Ok(true)
    }

    /// Calls the instance's `advance` with `watermark` and the clock, and
    /// delivers what its timers emitted. `false` if the downstream is gone.
    fn advance(&mut self, shared: &Shared, instance: &mut dyn OperatorInstance, watermark: i64) -> Result<bool> {
        let output = instance.advance(watermark, crate::util::now_ms() as i64)?;
        let Some(emitted) = self.deliver(output, None)? else { return Ok(false) };
        self.count_output(shared, emitted);
        Ok(true)
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
        let mut snapshot = instance.snapshot(checkpoint_id, history.next_mode(self.snapshots))?;
        if self.context.subtask_index > 0 {
            // Every subtask holds the same broadcast state: subtask 0's
            // copy is the one kept (`wit/STATE.md`).
            snapshot.chunks.retain(|chunk| chunk.kind != crate::operator::StateKind::BroadcastMap);
        }
        let timings = SnapshotTimings { alignment: aligning, sync: started.elapsed() };
        self.check_snapshot(&snapshot)?;
        history.taken(checkpoint_id, snapshot.incremental);
        let mut staged = Vec::new();
        for (sink, writer) in self.output.sinks() {
            staged.push((*sink, writer.prepare_commit(checkpoint_id)?));
        }
        if self.output.routers().any(|router| router.barrier(checkpoint_id).is_err()) {
            return Ok(false);
        }
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

    /// Notes completed checkpoints; the chained sinks' output up to them
    /// is committed.
    fn take_completions(&mut self, history: &mut SnapshotHistory) {
        while let Ok(checkpoint_id) = self.completions.try_recv() {
            history.last_complete = Some(checkpoint_id);
            for (_, sink) in self.output.sinks() {
                sink.committed(checkpoint_id);
            }
        }
    }

    fn count_output(&self, shared: &Shared, emitted: Emitted) {
        shared.counters.operators[self.operator_index].1.events_out.add(emitted.events as u64);
        shared.counters.sink_events.add(emitted.to_sinks as u64);
    }

    /// Waits for the next message on one of `readable`. Before blocking,
    /// sends any partly filled output batches so that events never wait for
    /// input that may be slow to come. `None` if an input disconnected.
    fn next_message(&mut self, readable: &[usize], wake_at: Option<i64>) -> Result<Next> {
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
        // Milliseconds until the instance's processing-time timer is due.
        let due_in = wake_at.map(|at| at.saturating_sub(crate::util::now_ms() as i64));
        if due_in.is_some_and(|ms| ms <= 0) {
            return Ok(Next::Wake);
        }
        let operation = match select.try_select() {
            Ok(operation) => operation,
            Err(_) => {
                if self.output.routers().any(|router| router.flush().is_err()) {
                    return Ok(Next::Gone);
                }
                match due_in {
                    None => select.select(),
                    Some(ms) => match select.select_timeout(Duration::from_millis(ms as u64)) {
                        Ok(operation) => operation,
                        Err(_) => return Ok(Next::Wake),
                    },
                }
            }
        };
        let input = readable[operation.index()];
        Ok(match operation.recv(&self.inputs[input]) {
            Ok(message) => Next::Message(input, message),
            Err(_) => Next::Gone,
        })
    }

    /// Passes a guest's output (made from input of `origin`) on, each event
    /// to the output its tag names (`wit/FRAMING.md`, version 2). `None` if
    /// the downstream is gone.
    fn deliver(&mut self, output: Vec<u8>, origin: Option<Origin>) -> Result<Option<Emitted>> {
        let (operator, subtask) = (&self.context.operator, self.context.subtask_index);
        let bad_output = |e: weir_wire::DecodeError| {
            Error::guest(operator, subtask, GuestFailure::Returned, format!("emitted a malformed batch: {e}"))
        };
        let reader = BatchReader::new(&output).map_err(bad_output)?;
        let per_port: Vec<(usize, Vec<u8>)> = if reader.version() == batch::VERSION || self.output.ports.len() == 1 {
            if reader.version() == batch::TAGGED_VERSION {
                // No side outputs declared: any tag but the main one is a bug.
                for event in reader {
                    let event = event.map_err(bad_output)?;
                    if event.key_group != batch::MAIN_OUTPUT {
                        return Err(self.unknown_output(event.key_group));
                    }
                }
            }
            vec![(0, output)]
        } else {
            let mut writers: Vec<BatchWriter> = (0..self.output.ports.len()).map(|_| BatchWriter::new()).collect();
            for event in reader {
                let event = event.map_err(bad_output)?;
                let port = match event.key_group {
                    batch::MAIN_OUTPUT => 0,
                    tag if (tag as usize) + 1 < writers.len() => tag as usize + 1,
                    tag => return Err(self.unknown_output(tag)),
                };
                writers[port].push_event(&event);
            }
            writers.into_iter().enumerate().filter(|(_, w)| !w.is_empty()).map(|(i, w)| (i, w.finish())).collect()
        };
        let mut emitted = Emitted::default();
        for (port, bytes) in per_port {
            let port = &mut self.output.ports[port];
            let events = batch::event_count(&bytes).map_err(bad_output)?;
            emitted.events += events;
            for (_, sink) in &mut port.sinks {
                for event in BatchReader::new(&bytes).map_err(bad_output)? {
                    let event = event.map_err(bad_output)?;
                    sink.write(&event).map_err(|source| Error::SinkIo { what: sink.describe(), source })?;
                }
                sink.end_batch().map_err(|source| Error::SinkIo { what: sink.describe(), source })?;
                emitted.to_sinks += events;
            }
            let last = port.routers.len().saturating_sub(1);
            let mut bytes = Some(bytes);
            for (i, router) in port.routers.iter_mut().enumerate() {
                // The last router takes the batch itself; the others a copy.
                let batch = if i == last { bytes.take() } else { bytes.clone() };
                match router.push_batch(batch.unwrap_or_default(), origin) {
                    Ok(_) => {}
                    Err(RouteError::Disconnected) => return Ok(None),
                    Err(RouteError::BadBatch(e)) => return Err(bad_output(e)),
                }
            }
        }
        Ok(Some(emitted))
    }

    fn unknown_output(&self, tag: u16) -> Error {
        let declared = &self.context.side_outputs;
        self.guest_error(
            GuestFailure::Returned,
            format!(
                "emitted an event to output {tag}, which names no side output (the job file declares {}: {})",
                declared.len(),
                if declared.is_empty() { "none".to_owned() } else { declared.join(", ") }
            ),
        )
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

#[cfg(test)]
mod tests {
    use super::Time;

    #[test]
    fn the_watermark_is_the_minimum_over_open_active_channels() {
        let mut time = Time::new(3);
        let open = [true, true, true];
        assert_eq!(time.combined(&open), Some(i64::MIN), "nothing heard yet");
        time.channels = vec![10, 30, 20];
        assert_eq!(time.combined(&open), Some(10));
        // An idle channel no longer holds it back; an ended one is done.
        time.idle[0] = true;
        assert_eq!(time.combined(&open), Some(20));
        assert_eq!(time.combined(&[true, true, false]), Some(30));
        // Every open channel idle: no watermark to say.
        time.idle = vec![true, true, true];
        assert_eq!(time.combined(&open), None);
        // Every channel ended: the end of time.
        assert_eq!(time.combined(&[false, false, false]), Some(i64::MAX));
    }
}
