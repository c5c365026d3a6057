//! How a job *runs*: one thread per subtask, bounded channels between them,
//! and the handle an embedder holds while the job runs.
//!
//! ```text
//! source subtasks ──Router──▶ op subtasks ──Router──▶ op subtasks ─▶ sink writers
//!   (one per split      one per edge     one per input,  (each output, main    (chained to the
//!    range of input)    and subtask      in any number)   or side, fans out)    subtask they write)
//! ```
//!
//! Every pair of connected subtasks has its own bounded channel of
//! [`Message`]s per edge, so a subtask with several inputs can tell them
//! apart (barrier alignment and the guest's input index need that) and a
//! full channel blocks only its sender (backpressure). Guest calls are CPU-bound and synchronous, so every
//! subtask gets an OS thread rather than an async task.
//!
//! Stopping (`shutdown.rs`): the first task that fails records its error
//! and raises the stop flag; the others see the flag or a disconnected
//! channel and end.
//! Nothing here knows about wasmtime beyond [`crate::guest`]'s API.

mod loaded;
mod message;
pub(crate) mod metrics;
mod operator_task;
pub mod restart;
pub(crate) mod router;
mod shutdown;
mod source_task;
pub(crate) mod supervisor;

use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, bounded};

pub(crate) use message::{Message, Origin};
use metrics::JobCounters;
pub use metrics::{JobMetrics, OperatorMetrics};
use operator_task::{OperatorTask, Output, Port, SnapshotPolicy};
use router::Router;
pub(crate) use shutdown::AttemptEnd;
use shutdown::Shutdown;
use source_task::{Fanout, SourceTask};
pub use supervisor::{CancelHandle, JobObserver, JobOutcome, JobReport, JobStatus, Restarting, RunningJob};

use crate::checkpoint::coordinator::{Command, CommitGate, Coordinator, CoordinatorSetup};
use crate::checkpoint::retention::JobEnd;
use crate::checkpoint::sink_files::LocationFiles;
use crate::checkpoint::storage::CheckpointLocation;
use crate::checkpoint::writer::CheckpointWriter;
use crate::error::{Error, Result};
use crate::job::JobSpec;
use crate::job::graph::{Edge, JobGraph, Output as GraphOutput, Producer};
use crate::operator::InstanceContext;
use crate::operator::StateChunk;
use crate::sinks::{SinkConnector, SinkWriter, Staged};
use crate::sources::SourceReader;
pub(crate) use loaded::LoadedOperator;

/// How a task ended when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TaskExit {
    /// All input processed and all output delivered.
    Done,
    /// Stopped early because the job is stopping.
    Stopped,
}

/// One channel an operator subtask reads, and the input it belongs to.
type InputChannel = (Receiver<Message>, u32);

/// What a task's thread runs.
type TaskBody = Box<dyn FnOnce(&Shared) -> Result<TaskExit> + Send>;

/// State shared by a job's tasks and its [`RunningJob`] handle.
pub(crate) struct Shared {
    pub(crate) counters: Arc<JobCounters>,
    shutdown: Shutdown,
}

impl Shared {
    pub(crate) fn is_stopping(&self) -> bool {
        self.shutdown.is_stopping()
    }

    fn cancel(&self) {
        self.shutdown.cancel();
    }

    fn fail(&self, error: Error) {
        self.shutdown.fail(error);
    }
}

/// One run of a job's tasks, from a fresh start or a restore to its end.
/// [`supervisor`] runs one after another while the restart strategy allows.
pub(crate) struct Attempt {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    coordinator: tokio::sync::mpsc::UnboundedSender<Command>,
    /// The coordinator's end-of-attempt outcome: the checkpoints the job
    /// still owns.
    coordinator_done: std::sync::mpsc::Receiver<Result<Vec<CheckpointLocation>>>,
}

/// What a job handle needs to reach the attempt running now.
#[derive(Clone)]
pub(crate) struct AttemptControl {
    shared: Arc<Shared>,
    coordinator: tokio::sync::mpsc::UnboundedSender<Command>,
}

impl AttemptControl {
    pub(crate) fn cancel(&self) {
        self.shared.cancel();
    }

    pub(crate) fn metrics(&self) -> JobMetrics {
        self.shared.counters.snapshot()
    }

    pub(crate) fn fail(&self, error: Error) {
        self.shared.fail(error);
    }

    pub(crate) fn trigger_checkpoint(&self) -> Result<u64> {
        let (reply, outcome) = std::sync::mpsc::channel();
        self.coordinator.send(Command::Trigger(reply)).map_err(|_| Error::Usage("the job has ended".into()))?;
        outcome.recv().map_err(|_| Error::Usage("the job has ended".into()))?
    }
}

impl Attempt {
    pub(crate) fn control(&self) -> AttemptControl {
        AttemptControl { shared: self.shared.clone(), coordinator: self.coordinator.clone() }
    }

    /// Waits for every task thread; how the tasks ended.
    pub(crate) fn join(&mut self) -> AttemptEnd {
        for thread in std::mem::take(&mut self.threads) {
            if thread.join().is_err() {
                self.shared.fail(Error::Internal("a task panicked (see the log)".into()));
            }
        }
        self.shared.shutdown.end()
    }

    /// Tells the coordinator how the job goes on (final commit, retention,
    /// or keeping everything for a restart) and waits for it; returns the
    /// complete checkpoints the job still owns.
    pub(crate) fn settle(self, end: JobEnd) -> Result<Vec<CheckpointLocation>> {
        let stopped = || Error::Usage("internal error: the checkpoint coordinator stopped (see the log)".into());
        match self.coordinator.send(Command::Shutdown(end)) {
            Ok(()) => self.coordinator_done.recv().unwrap_or_else(|_| Err(stopped())),
            Err(_) => Err(stopped()),
        }
    }
}

/// Everything `start` needs that was prepared (and could fail) up front.
pub(crate) struct Prepared {
    pub(crate) id: String,
    pub(crate) spec: JobSpec,
    pub(crate) operators: Vec<LoadedOperator>,
    /// Per source, per subtask: what it reads.
    pub(crate) sources: Vec<Vec<SourceSplits>>,
    /// Per sink, its writers (one per subtask of each input it reads).
    pub(crate) sinks: Vec<Vec<Box<dyn SinkWriter>>>,
    /// Per sink, the connector that commits for the coordinator.
    pub(crate) sink_connectors: Vec<Arc<dyn SinkConnector>>,
    /// State per operator, per subtask (empty for a fresh start).
    pub(crate) restored: Vec<Vec<Vec<StateChunk>>>,
    /// The coordinator's settings; its channels are made here.
    pub(crate) checkpoints: CheckpointPlan,
    pub(crate) runtime: tokio::runtime::Handle,
    /// 0 for the first attempt, then one more per restart; guests see it as
    /// config `weir.attempt`.
    pub(crate) attempt: u32,
    /// Restored from a checkpoint taken after all input: its output is
    /// committed and no task needs to run.
    pub(crate) end_of_input: bool,
}

/// What one source subtask reads: its reader, already opened (so that a
/// missing file or an unreachable broker fails the start).
pub(crate) struct SourceSplits {
    pub(crate) reader: Box<dyn SourceReader>,
    /// The highest timestamp read before (`i64::MIN` on a fresh start).
    pub(crate) max_timestamp: i64,
}

/// What the coordinator is given besides channels.
pub(crate) struct CheckpointPlan {
    pub(crate) config: Option<crate::checkpoint::CheckpointConfig>,
    pub(crate) storage: Option<crate::checkpoint::storage::CheckpointStorage>,
    pub(crate) first_checkpoint_id: u64,
    /// The restored checkpoint's lineage (empty for a fresh start).
    pub(crate) lineage: Vec<(u64, u64)>,
    pub(crate) retained: Vec<crate::checkpoint::storage::CheckpointLocation>,
    pub(crate) graph: crate::checkpoint::metadata::GraphFingerprint,
    /// The job's statistics, shared by all its attempts.
    pub(crate) history: crate::checkpoint::stats::SharedHistory,
}

/// Builds the channels, starts the coordinator and one thread per subtask.
pub(crate) fn start(prepared: Prepared) -> Result<Attempt> {
    let Prepared {
        id,
        spec,
        operators,
        sources,
        sinks,
        sink_connectors,
        mut restored,
        checkpoints,
        runtime,
        attempt,
        end_of_input,
    } = prepared;
    let graph = JobGraph::resolve(&spec)?;
    let exec = &spec.execution;
    let shared = Arc::new(Shared {
        counters: JobCounters::new(graph.vertices.iter().map(|v| v.name.clone())),
        shutdown: Shutdown::default(),
    });

    // For every operator input: per upstream subtask, the senders to each
    // downstream subtask it reaches; per downstream subtask, its receivers
    // (with the input they belong to).
    let mut senders: HashMap<(usize, usize), Vec<Vec<Sender<Message>>>> = HashMap::new();
    let mut receivers: Vec<Vec<Vec<InputChannel>>> =
        graph.vertices.iter().map(|v| (0..v.parallelism).map(|_| Vec::new()).collect()).collect();
    for (op, vertex) in graph.vertices.iter().enumerate() {
        for (index, input) in vertex.inputs.iter().enumerate() {
            let up = graph.parallelism(input.from.producer) as usize;
            let mut edge_senders = vec![Vec::new(); up];
            for (u, senders_of_u) in edge_senders.iter_mut().enumerate() {
                for (d, receivers_of_d) in receivers[op].iter_mut().enumerate() {
                    if input.edge == Edge::Forward && u != d {
                        continue;
                    }
                    let (tx, rx) = bounded(exec.channel_capacity);
                    senders_of_u.push(tx);
                    receivers_of_d.push((rx, index as u32));
                }
            }
            senders.insert((op, index), edge_senders);
        }
    }
    let edge_of = |op: usize, index: usize| graph.vertices[op].inputs[index].edge;
    // The routers of subtask `subtask` of whatever produces `output`.
    let mut routers_of = |output: GraphOutput, subtask: u32| -> Vec<Router> {
        graph
            .readers_of(output)
            .into_iter()
            .map(|(op, index)| {
                let targets = senders
                    .get_mut(&(op, index))
                    .map(|per_subtask| std::mem::take(&mut per_subtask[subtask as usize]))
                    .unwrap_or_default();
                Router::new(edge_of(op, index), targets, exec.batch_size, graph.max_parallelism)
            })
            .collect()
    };

    // The coordinator and what connects it to the tasks.
    let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
    let (commands_tx, commands_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut source_barriers = Vec::new();
    let mut barrier_rxs = Vec::new();
    for (source, vertex) in graph.sources.iter().enumerate() {
        for subtask in 0..vertex.parallelism {
            let (tx, rx) = crossbeam_channel::unbounded();
            source_barriers.push(((source, subtask), tx));
            barrier_rxs.push(rx);
        }
    }
    let subtasks: usize = graph.vertices.iter().map(|v| v.parallelism as usize).sum();
    let (notice_txs, notice_rxs): (Vec<_>, Vec<_>) = (0..subtasks).map(|_| crossbeam_channel::unbounded()).unzip();
    let mut notice_rxs = notice_rxs.into_iter();
    let storage_for_writer = checkpoints.storage.clone().map(|s| (s, id.clone()));
    let inline_threshold = checkpoints.config.as_ref().map_or(0, |c| c.inline_threshold_bytes);
    let snapshots = match &checkpoints.config {
        Some(config) if config.incremental => SnapshotPolicy::Incremental { full_every: config.full_every },
        _ => SnapshotPolicy::Full,
    };
    let shared_files = matches!(snapshots, SnapshotPolicy::Incremental { .. });
    let writer = CheckpointWriter::new(storage_for_writer, inline_threshold, shared_files, runtime.clone(), events_tx);
    let fail_shared = shared.clone();
    let gate = Arc::new(CommitGate::new(checkpoints.config.as_ref().map(|c| c.interval)));
    let coordinator = Coordinator::new(
        CoordinatorSetup {
            config: checkpoints.config,
            storage: checkpoints.storage,
            job_id: id.clone(),
            job_name: spec.name.clone(),
            graph: checkpoints.graph,
            sources: graph.sources.iter().map(|s| (s.name.clone(), s.parallelism)).collect(),
            parallelism: graph.vertices.iter().map(|v| v.parallelism).collect(),
            sinks: graph.sinks.iter().map(|s| s.name.clone()).collect(),
            first_checkpoint_id: checkpoints.first_checkpoint_id,
            lineage: checkpoints.lineage,
            retained: checkpoints.retained,
            commit: Arc::new(move |location, checkpoint_id, staged| {
                let runtime = tokio::runtime::Handle::current();
                let files = location.as_ref().map(|location| LocationFiles { location, runtime: &runtime });
                for (connector, staged) in sink_connectors.iter().zip(&staged) {
                    let files = files.as_ref().map(|f| f as &dyn crate::sinks::StagedFiles);
                    let staged = Staged { checkpoint_id, names: &staged.staged, files };
                    connector.commit(&staged)?;
                }
                Ok(())
            }),
            source_barriers,
            completion_notices: notice_txs,
            fail: Box::new(move |error| fail_shared.fail(error)),
            history: checkpoints.history,
            gate: gate.clone(),
        },
        events_rx,
        commands_rx,
    );
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    runtime.spawn(async move {
        let _ = done_tx.send(coordinator.run().await);
    });

    let mut threads = Vec::new();
    if end_of_input {
        tracing::info!("the checkpoint was taken at the end of the input: its output is committed, nothing to run");
        drop((senders, receivers, writer, sources, sinks));
        return Ok(Attempt { shared, threads, coordinator: commands_tx, coordinator_done: done_rx });
    }
    let mut spawn = |name: String, task: TaskBody| -> Result<()> {
        let task_shared = shared.clone();
        let task_name = name.clone();
        let thread = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || match task(&task_shared) {
                Ok(exit) => tracing::debug!(task = %task_name, ?exit, "task ended"),
                Err(error) => task_shared.fail(error),
            })
            .map_err(|e| {
                // Tasks already started must not wait forever for this one.
                shared.cancel();
                Error::host(format!("start thread {name}"))(e)
            })?;
        threads.push(thread);
        Ok(())
    };

    let mut barrier_rxs = barrier_rxs.into_iter();
    for (source, per_subtask) in sources.into_iter().enumerate() {
        let node = &spec.sources[source];
        for (subtask, splits) in per_subtask.into_iter().enumerate() {
            let subtask = subtask as u32;
            let task = SourceTask {
                source,
                subtask,
                reader: splits.reader,
                outputs: Fanout::new(
                    routers_of(GraphOutput { producer: Producer::Source(source), side: None }, subtask),
                    node.watermarks,
                    splits.max_timestamp,
                ),
                rate_limit: node.spec.rate_limit(),
                batch_size: exec.batch_size,
                barriers: barrier_rxs
                    .next()
                    .ok_or_else(|| Error::Internal("fewer barrier channels than source subtasks".into()))?,
                writer: writer.clone(),
                gate: gate.clone(),
            };
            spawn(format!("weir-{}-{subtask}", node.name), Box::new(move |shared| task.run(shared)))?;
        }
    }

    let source_specs: Vec<crate::job::SourceSpec> = spec.sources.iter().map(|s| s.spec.clone()).collect();
    let describe_positions: Arc<dyn Fn(u64, u64) -> String + Send + Sync> = Arc::new(move |first, last| {
        // Positions do not say which source they came from: name the only
        // one, or say they are positions.
        match source_specs.as_slice() {
            [only] => only.describe_positions(first, last),
            _ => format!("source positions {first}..={last}"),
        }
    });
    // Sink writers, taken per (sink, writer index).
    let mut sink_writers: Vec<Vec<Option<Box<dyn SinkWriter>>>> =
        sinks.into_iter().map(|writers| writers.into_iter().map(Some).collect()).collect();
    for (index, vertex) in graph.vertices.iter().enumerate() {
        let operator = &spec.operators[index];
        for subtask in 0..vertex.parallelism {
            let mut ports = Vec::with_capacity(1 + vertex.side_outputs.len());
            for side in std::iter::once(None).chain((0..vertex.side_outputs.len() as u16).map(Some)) {
                let output = GraphOutput { producer: Producer::Operator(index), side };
                let mut port = Port { routers: routers_of(output, subtask), sinks: Vec::new() };
                for (sink, input) in graph.sinks_of(output) {
                    let (_, first) = graph.sink_writers(sink);
                    let writer = sink_writers
                        .get_mut(sink)
                        .and_then(|w| w.get_mut((first[input] + subtask) as usize))
                        .and_then(Option::take)
                        .ok_or_else(|| Error::Internal("fewer sink writers than subtasks".into()))?;
                    port.sinks.push((sink, writer));
                }
                ports.push(port);
            }
            let mut context =
                InstanceContext::new(&vertex.name, subtask, vertex.parallelism, graph.max_parallelism, vertex.key_by);
            // `weir.attempt` tells a guest it runs after a restart (as
            // Flink's `getAttemptNumber`); `weir.` keys are reserved.
            context.config = operator
                .config
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .chain([("weir.attempt".to_owned(), attempt.to_string())])
                .collect();
            context.inputs = vertex.inputs.iter().map(|i| (i.name.clone(), i.edge == Edge::Broadcast)).collect();
            context.side_outputs = vertex.side_outputs.clone();
            let (inputs, input_of) = std::mem::take(&mut receivers[index][subtask as usize]).into_iter().unzip();
            let task = OperatorTask {
                code: operators[index].clone(),
                context,
                limits: operator.limits.clone(),
                operator_index: index,
                restored: restored
                    .get_mut(index)
                    .and_then(|subtasks| subtasks.get_mut(subtask as usize))
                    .map(std::mem::take)
                    .unwrap_or_default(),
                inputs,
                input_of,
                output: Output { ports },
                writer: writer.clone(),
                completions: notice_rxs
                    .next()
                    .ok_or_else(|| Error::Usage("internal error: fewer completion channels than subtasks".into()))?,
                snapshots,
                describe_positions: describe_positions.clone(),
            };
            spawn(format!("weir-{}-{subtask}", vertex.name), Box::new(move |shared| task.run(shared)))?;
        }
    }
    // Any sender or receiver still held here would keep a channel open
    // forever; all were moved into tasks above.
    drop((senders, receivers, writer));
    Ok(Attempt { shared, threads, coordinator: commands_tx, coordinator_done: done_rx })
}
