//! The checkpoint coordinator: one async task per job on the engine's I/O
//! runtime.
//!
//! Checkpoint n: trigger (ask the source to inject `Barrier(n)`), collect an
//! acknowledgement from the source and from every operator subtask (their
//! state is durable by then), write `chk-n/_metadata` last, commit the
//! sink output staged for n, tell the sinks, and subsume checkpoints beyond
//! `num_retained`. One checkpoint is in flight at a time; one that times out
//! or is declined is aborted and its files removed, and more than
//! `tolerable_failed` failures in a row fail the job.
//!
//! When the job ends, the coordinator applies retention. A job that
//! finished first writes a last checkpoint marked `end_of_input` holding
//! only the sink's staged output, so that a crash while committing it can
//! be repaired by a restore instead of replaying input into duplicates.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc::UnboundedReceiver;

use super::CheckpointConfig;
use super::metadata::{
    CheckpointMetadata, ChunkData, GraphFingerprint, OperatorSnapshot, SinkSnapshot, SourcePosition, StateFile,
    SubtaskSnapshot,
};
use super::retention::JobEnd;
use super::storage::{CheckpointLocation, CheckpointStorage};
use super::writer::TaskEvent;
use crate::error::{Error, Result};
use crate::job::SinkSpec;
use crate::sinks;

/// Requests from the job's handle.
pub(crate) enum Command {
    /// Take a checkpoint now (or as soon as the one in flight ends); the
    /// reply carries its id once complete.
    Trigger(std::sync::mpsc::Sender<Result<u64>>),
    /// Every task has ended this way: apply retention and stop.
    Shutdown(JobEnd),
}

/// Everything the coordinator needs, fixed at job start.
pub(crate) struct CoordinatorSetup {
    pub(crate) config: Option<CheckpointConfig>,
    pub(crate) storage: Option<CheckpointStorage>,
    pub(crate) job_id: String,
    pub(crate) job_name: String,
    pub(crate) graph: GraphFingerprint,
    /// Subtasks per operator, in job order.
    pub(crate) parallelism: Vec<u32>,
    pub(crate) first_checkpoint_id: u64,
    /// Complete checkpoints this job owns from before it started (resume,
    /// claim), oldest first.
    pub(crate) retained: Vec<CheckpointLocation>,
    pub(crate) sink: SinkSpec,
    pub(crate) source_barriers: crossbeam_channel::Sender<u64>,
    pub(crate) sink_notices: Vec<crossbeam_channel::Sender<u64>>,
    /// Fails the job (stops its tasks) with the coordinator's error.
    pub(crate) fail: Box<dyn Fn(Error) + Send + Sync>,
}

struct Pending {
    id: u64,
    triggered: Instant,
    trigger_time_ms: u64,
    source: Option<u64>,
    subtasks: BTreeMap<(usize, u32), SubtaskSnapshot>,
    staged: Vec<String>,
    reply: Option<std::sync::mpsc::Sender<Result<u64>>>,
}

pub(crate) struct Coordinator {
    setup: CoordinatorSetup,
    events: UnboundedReceiver<TaskEvent>,
    commands: UnboundedReceiver<Command>,
    next_id: u64,
    pending: Option<Pending>,
    retained: VecDeque<CheckpointLocation>,
    failed_in_a_row: u32,
    source_exhausted: bool,
    finished_staged: Vec<String>,
    last_trigger: Instant,
    last_completion: Instant,
    waiting_trigger: Option<std::sync::mpsc::Sender<Result<u64>>>,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Coordinator {
    pub(crate) fn new(
        setup: CoordinatorSetup,
        events: UnboundedReceiver<TaskEvent>,
        commands: UnboundedReceiver<Command>,
    ) -> Self {
        let retained = setup.retained.iter().cloned().collect();
        Coordinator {
            next_id: setup.first_checkpoint_id,
            setup,
            events,
            commands,
            pending: None,
            retained,
            failed_in_a_row: 0,
            source_exhausted: false,
            finished_staged: Vec::new(),
            last_trigger: Instant::now(),
            last_completion: Instant::now(),
            waiting_trigger: None,
        }
    }

    /// Runs until `Shutdown`; returns the outcome of the end-of-job work
    /// (final commit, retention). An error while the job runs (a checkpoint
    /// failed more often than tolerated, committed output could not be made
    /// visible) fails the job through `fail`, and the coordinator waits for
    /// the tasks to stop and for `Shutdown` as usual.
    pub(crate) async fn run(mut self) -> Result<Vec<CheckpointLocation>> {
        loop {
            if let Some(end) = self.step().await {
                return self.shutdown(end).await;
            }
        }
    }

    /// Handles one event, command or timer. `Some` when asked to shut down.
    async fn step(&mut self) -> Option<JobEnd> {
        let result = self.step_inner().await;
        match result {
            Ok(end) => end,
            Err(e) => {
                (self.setup.fail)(e);
                None
            }
        }
    }

    async fn step_inner(&mut self) -> Result<Option<JobEnd>> {
        {
            let next_trigger = self.next_trigger();
            let deadline = self.pending.as_ref().and_then(|p| {
                self.setup.config.as_ref().map(|c| tokio::time::Instant::from_std(p.triggered + c.timeout))
            });
            tokio::select! {
                event = self.events.recv() => match event {
                    Some(event) => self.on_event(event).await?,
                    // Every task and upload is gone: wait for `Shutdown`.
                    None => match self.commands.recv().await {
                        Some(Command::Shutdown(end)) => return Ok(Some(end)),
                        Some(Command::Trigger(reply)) => {
                            let _ = reply.send(Err(Error::Usage("the job has ended".into())));
                        }
                        None => return Ok(Some(JobEnd::Failed)),
                    },
                },
                command = self.commands.recv() => match command {
                    Some(Command::Trigger(reply)) => {
                        if self.setup.storage.is_none() {
                            let _ = reply.send(Err(Error::Usage("the job has no [checkpoint] configuration".into())));
                        } else if self.source_exhausted {
                            let _ = reply.send(Err(Error::Usage("the job's input has ended".into())));
                        } else if self.pending.is_none() {
                            self.trigger(Some(reply));
                        } else {
                            self.waiting_trigger = Some(reply);
                        }
                    }
                    Some(Command::Shutdown(end)) => return Ok(Some(end)),
                    None => return Ok(Some(JobEnd::Failed)),
                },
                _ = sleep_until(next_trigger), if next_trigger.is_some() => self.trigger(None),
                _ = sleep_until(deadline), if deadline.is_some() => {
                    let timeout = self.setup.config.as_ref().map(|c| c.timeout).unwrap_or_default();
                    self.fail_pending(format!("timed out after {timeout:?}")).await?;
                }
            }
        }
        Ok(None)
    }

    /// When the next periodic checkpoint is due, if one can be taken.
    fn next_trigger(&self) -> Option<tokio::time::Instant> {
        let config = self.setup.config.as_ref()?;
        if self.pending.is_some() || self.source_exhausted || self.setup.storage.is_none() {
            return None;
        }
        if self.waiting_trigger.is_some() {
            return Some(tokio::time::Instant::now());
        }
        let due = (self.last_trigger + config.interval).max(self.last_completion + config.min_pause);
        Some(tokio::time::Instant::from_std(due))
    }

    fn trigger(&mut self, reply: Option<std::sync::mpsc::Sender<Result<u64>>>) {
        let reply = reply.or_else(|| self.waiting_trigger.take());
        let id = self.next_id;
        self.next_id += 1;
        self.last_trigger = Instant::now();
        tracing::debug!(checkpoint = id, "triggering checkpoint");
        if self.setup.source_barriers.send(id).is_err() {
            // The source has ended; this checkpoint can never complete.
            if let Some(reply) = reply {
                let _ = reply.send(Err(Error::Usage("the job's input has ended".into())));
            }
            self.source_exhausted = true;
            return;
        }
        self.pending = Some(Pending { reply, ..Pending::empty(id) });
    }

    async fn on_event(&mut self, event: TaskEvent) -> Result<()> {
        match event {
            TaskEvent::SourceExhausted => self.source_exhausted = true,
            TaskEvent::SinkFinished { staged } => self.finished_staged.extend(staged),
            TaskEvent::Declined { checkpoint_id, reason } => {
                if self.pending.as_ref().is_some_and(|p| p.id == checkpoint_id) {
                    self.fail_pending(reason).await?;
                }
            }
            TaskEvent::SourceAck { checkpoint_id, position } => {
                if let Some(p) = self.pending.as_mut().filter(|p| p.id == checkpoint_id) {
                    p.source = Some(position);
                }
                self.complete_if_acknowledged().await?;
            }
            TaskEvent::SubtaskAck { checkpoint_id, operator, snapshot, staged } => {
                match self.pending.as_mut().filter(|p| p.id == checkpoint_id) {
                    Some(p) => {
                        p.staged.extend(staged);
                        p.subtasks.insert((operator, snapshot.subtask), snapshot);
                    }
                    // The checkpoint was aborted while this upload ran: its
                    // directory was already cleaned, so the file it wrote
                    // would be left behind.
                    None => self.delete_late_files(checkpoint_id, &snapshot).await,
                }
                self.complete_if_acknowledged().await?;
            }
        }
        Ok(())
    }

    async fn complete_if_acknowledged(&mut self) -> Result<()> {
        let expected: usize = self.setup.parallelism.iter().map(|&p| p as usize).sum();
        let ready = self.pending.as_ref().is_some_and(|p| p.source.is_some() && p.subtasks.len() == expected);
        if !ready {
            return Ok(());
        }
        let Some(pending) = self.pending.take() else { return Ok(()) };
        let id = pending.id;
        let metadata = self.metadata(&pending, false);
        match self.write_and_commit(metadata).await {
            Ok(()) => {
                self.failed_in_a_row = 0;
                self.last_completion = Instant::now();
                if let Some(reply) = pending.reply {
                    let _ = reply.send(Ok(id));
                }
                self.subsume().await;
                Ok(())
            }
            Err(e) => {
                self.pending = Some(Pending { reply: pending.reply, ..Pending::empty(id) });
                self.fail_pending(e.to_string()).await
            }
        }
    }

    fn metadata(&self, pending: &Pending, end_of_input: bool) -> CheckpointMetadata {
        let mut operators: Vec<OperatorSnapshot> = self
            .setup
            .graph
            .operators
            .iter()
            .map(|op| OperatorSnapshot { name: op.name.clone(), subtasks: Vec::new() })
            .collect();
        for ((operator, _), snapshot) in &pending.subtasks {
            if let Some(op) = operators.get_mut(*operator) {
                op.subtasks.push(snapshot.clone());
            }
        }
        CheckpointMetadata {
            job_id: self.setup.job_id.clone(),
            job_name: self.setup.job_name.clone(),
            checkpoint_id: pending.id,
            trigger_time_ms: pending.trigger_time_ms,
            completion_time_ms: now_ms(),
            end_of_input,
            graph: self.setup.graph.clone(),
            source: SourcePosition { position: pending.source.unwrap_or(0) },
            operators,
            sink: SinkSnapshot { staged: pending.staged.clone() },
        }
    }

    /// `_metadata` last; only then is the staged output committed.
    async fn write_and_commit(&mut self, metadata: CheckpointMetadata) -> Result<()> {
        let id = metadata.checkpoint_id;
        if let Some(storage) = &self.setup.storage {
            let started = Instant::now();
            storage.put_metadata(&self.setup.job_id, id, metadata.encode()).await?;
            if metadata.end_of_input {
                tracing::info!(checkpoint = id, "final checkpoint {id} (end of input): committing the last output");
            } else {
                tracing::info!(
                    checkpoint = id,
                    "checkpoint {id} complete: {} bytes of state, {} data files, {:?} after trigger{}",
                    metadata.state_size(),
                    metadata.files().len(),
                    Duration::from_millis(metadata.completion_time_ms.saturating_sub(metadata.trigger_time_ms)),
                    if started.elapsed() > Duration::from_secs(1) { " (slow metadata write)" } else { "" },
                );
            }
            self.retained.push_back(CheckpointLocation {
                storage: storage.clone(),
                job_dir: self.setup.job_id.clone(),
                checkpoint_id: id,
            });
        }
        // From here the checkpoint exists: a failure to commit is a job
        // failure, and a restore from it will commit again.
        sinks::commit(&self.setup.sink, &metadata.sink.staged)?;
        for notice in &self.setup.sink_notices {
            let _ = notice.send(id);
        }
        Ok(())
    }

    async fn fail_pending(&mut self, reason: String) -> Result<()> {
        let Some(pending) = self.pending.take() else { return Ok(()) };
        tracing::warn!(checkpoint = pending.id, "checkpoint {} aborted: {reason}", pending.id);
        self.delete_aborted(pending.id).await;
        if let Some(reply) = pending.reply {
            let _ = reply.send(Err(Error::Checkpoint(format!("checkpoint {} aborted: {reason}", pending.id))));
        }
        self.failed_in_a_row += 1;
        let tolerable = self.setup.config.as_ref().map_or(0, |c| c.tolerable_failed);
        if self.failed_in_a_row > tolerable {
            return Err(Error::Checkpoint(format!(
                "{} checkpoint(s) failed in a row (tolerable_failed = {tolerable}); last: checkpoint {}: {reason}",
                self.failed_in_a_row, pending.id
            )));
        }
        Ok(())
    }

    async fn delete_late_files(&self, id: u64, snapshot: &SubtaskSnapshot) {
        let Some(storage) = &self.setup.storage else { return };
        let mut files: Vec<&StateFile> = snapshot
            .chunks
            .iter()
            .filter_map(|c| match &c.data {
                ChunkData::File { file, .. } => Some(file),
                ChunkData::Inline(_) => None,
            })
            .collect();
        files.dedup();
        for file in files {
            let path = storage.file_path(&self.setup.job_id, id, file);
            if let Err(e) = storage.delete(&path).await {
                tracing::warn!("cannot remove {path} of aborted checkpoint {id}: {e}");
            }
        }
        storage.remove_empty_local_dir(&storage.checkpoint_dir(&self.setup.job_id, id));
    }

    async fn delete_aborted(&self, id: u64) {
        if let Some(storage) = &self.setup.storage
            && let Err(e) = storage.delete_checkpoint(&self.setup.job_id, id).await
        {
            tracing::warn!("cannot remove aborted checkpoint {id}: {e}");
        }
    }

    /// Deletes complete checkpoints beyond `num_retained`, oldest first.
    async fn subsume(&mut self) {
        let keep = self.setup.config.as_ref().map_or(1, |c| c.num_retained.max(1)) as usize;
        while self.retained.len() > keep {
            let Some(old) = self.retained.pop_front() else { break };
            if !delete_checkpoint(&old, "subsumed").await {
                // Still complete and still ours: keep tracking it so that the
                // next completion tries again instead of leaking it.
                self.retained.push_front(old);
                break;
            }
        }
    }

    /// Applies `end`; returns the complete checkpoints the job still owns.
    async fn shutdown(mut self, end: JobEnd) -> Result<Vec<CheckpointLocation>> {
        // Tasks are gone; uploads may still be running. They hold the last
        // senders of `events`, so draining it waits for them.
        let mut result = Ok(());
        while let Some(event) = self.events.recv().await {
            if let Err(e) = self.on_event(event).await {
                result = Err(e);
            }
        }
        if let Some(pending) = self.pending.take() {
            tracing::debug!(checkpoint = pending.id, "aborting checkpoint in flight at shutdown");
            self.delete_aborted(pending.id).await;
        }
        if end == JobEnd::Finished && result.is_ok() {
            let last = Pending { staged: std::mem::take(&mut self.finished_staged), ..Pending::empty(self.next_id) };
            result = self.write_and_commit(self.metadata(&last, true)).await;
        }
        // A finished job whose last commit failed has failed.
        let end = if end == JobEnd::Finished && result.is_err() { JobEnd::Failed } else { end };
        let keeps = self.setup.config.as_ref().is_some_and(|c| c.retention.keeps_checkpoints(end));
        if !keeps {
            for location in std::mem::take(&mut self.retained) {
                delete_checkpoint(&location, "job ended").await;
            }
            if let Some(storage) = &self.setup.storage {
                storage.remove_empty_job_dir(&self.setup.job_id);
            }
        }
        result.map(|()| self.retained.into_iter().collect())
    }
}

impl Pending {
    fn empty(id: u64) -> Self {
        Pending {
            id,
            triggered: Instant::now(),
            trigger_time_ms: now_ms(),
            source: None,
            subtasks: BTreeMap::new(),
            staged: Vec::new(),
            reply: None,
        }
    }
}

/// Deletes a checkpoint; false (with a warning) if it could not.
async fn delete_checkpoint(location: &CheckpointLocation, why: &str) -> bool {
    let CheckpointLocation { storage, job_dir, checkpoint_id } = location;
    match storage.delete_checkpoint(job_dir, *checkpoint_id).await {
        Ok(()) => {
            tracing::debug!("deleted checkpoint {} ({why})", storage.describe(job_dir, *checkpoint_id));
            true
        }
        Err(e) => {
            tracing::warn!("cannot delete checkpoint {}: {e}", storage.describe(job_dir, *checkpoint_id));
            false
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
