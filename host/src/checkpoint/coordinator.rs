//! The checkpoint coordinator: one async task per job on the engine's I/O
//! runtime.
//!
//! Checkpoint n: trigger (ask every source subtask to inject `Barrier(n)`),
//! collect an acknowledgement from every source subtask (what it has left
//! to read; one that already read everything counts with nothing left) and
//! from every operator subtask (their state is durable by then), write
//! `chk-n/_metadata` last, commit the output every sink staged for n, tell
//! the sinks, and have checkpoints beyond
//! `num_retained` subsumed. One checkpoint is in flight at a time; one that times out
//! or is declined is aborted and its files removed, and more than
//! `tolerable_failed` failures in a row fail the job. Once an operator
//! subtask has finished (all its inputs ended) no further checkpoint can
//! complete (it cannot acknowledge one), so none is triggered; one it had
//! not acknowledged is dropped without counting as a failure (Flink ≥ 1.14
//! checkpoints past finished tasks, FLIP-147; Weir does not yet).
//!
//! With incremental checkpoints a subtask acknowledges only what changed
//! since its snapshot in the previous complete checkpoint; the coordinator
//! keeps each subtask's *chain* (the chunks of its last full snapshot and the
//! deltas since, per handle and key group) as of the newest complete
//! checkpoint, and writes the whole chain into every `_metadata`, so each
//! checkpoint is self-describing.
//!
//! What is deleted, and when (subsumption, the shared files the retained
//! checkpoints reference, retention when the job ends), is
//! `lifecycle::Retained`'s: the coordinator tells it what completed and
//! when the job ended. A job that
//! finished first writes a last checkpoint marked `end_of_input` holding
//! only the sink's staged output, so that a crash while committing it can
//! be repaired by a restore instead of replaying input into duplicates.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedReceiver;

use super::CheckpointConfig;
use super::chains::{self, Chains};
use super::lifecycle::Retained;
use super::metadata::{
    CheckpointMetadata, ChunkData, GraphFingerprint, OperatorSnapshot, SinkSnapshot, SourceSnapshot, Split, StateFile,
    SubtaskSnapshot, extend_lineage,
};
use super::retention::JobEnd;
use super::stats::{self, CheckpointStats, CheckpointStatus, SharedHistory};
use super::storage::{CheckpointLocation, CheckpointStorage};
use super::writer::TaskEvent;
use crate::error::{Error, Result};
use crate::util::{micros, now_ms};

/// Requests from the job's handle.
pub(crate) enum Command {
    /// Take a checkpoint now (or as soon as the one in flight ends); the
    /// reply carries its id once complete.
    Trigger(std::sync::mpsc::Sender<Result<u64>>),
    /// Every task has ended this way: apply retention and stop.
    Shutdown(JobEnd),
}

/// Commits the output a complete checkpoint's sinks staged (final file
/// names), one entry per sink in job order.
/// Holds the sources back while a commit takes longer than a checkpoint
/// interval: when a sink publishes more slowly than the job produces (a
/// broker's acknowledgements), the output waiting for the next commit would
/// otherwise grow without bound, and checkpoints, each of which waits for
/// the previous commit, would come further and further apart. A commit
/// that keeps up holds nothing back, so processing and publishing overlap.
#[derive(Default)]
pub(crate) struct CommitGate {
    /// When the commit in progress started (ms since the Unix epoch), 0
    /// when none is.
    started_ms: std::sync::atomic::AtomicU64,
    /// The checkpoint interval, ms (0: no checkpoints, never hold back).
    interval_ms: std::sync::atomic::AtomicU64,
}

impl CommitGate {
    pub(crate) fn new(interval: Option<Duration>) -> Self {
        let gate = CommitGate::default();
        let interval_ms = interval.map_or(0, |i| i.as_millis().max(1) as u64);
        gate.interval_ms.store(interval_ms, std::sync::atomic::Ordering::Relaxed);
        gate
    }

    fn begin(&self) {
        self.started_ms.store(now_ms().max(1), std::sync::atomic::Ordering::Release);
    }

    fn end(&self) {
        self.started_ms.store(0, std::sync::atomic::Ordering::Release);
    }

    /// Whether sources should wait: a commit has been running for longer
    /// than a checkpoint interval.
    pub(crate) fn holds_back(&self) -> bool {
        let started = self.started_ms.load(std::sync::atomic::Ordering::Acquire);
        let interval = self.interval_ms.load(std::sync::atomic::Ordering::Relaxed);
        started != 0 && interval != 0 && now_ms().saturating_sub(started) > interval
    }
}

/// Called on a blocking thread with the checkpoint's location (`None`
/// without storage), id and sinks.
pub(crate) type Committer =
    std::sync::Arc<dyn Fn(Option<CheckpointLocation>, u64, Vec<SinkSnapshot>) -> Result<()> + Send + Sync>;

/// Everything the coordinator needs, fixed at job start.
pub(crate) struct CoordinatorSetup {
    pub(crate) config: Option<CheckpointConfig>,
    pub(crate) storage: Option<CheckpointStorage>,
    pub(crate) job_id: String,
    pub(crate) job_name: String,
    pub(crate) graph: GraphFingerprint,
    /// Name and subtasks of each source, in job order.
    pub(crate) sources: Vec<(String, u32)>,
    /// Subtasks per operator, in job order.
    pub(crate) parallelism: Vec<u32>,
    /// The sinks' names, in job order.
    pub(crate) sinks: Vec<String>,
    pub(crate) first_checkpoint_id: u64,
    /// The lineage of the checkpoint the attempt restored (empty for a
    /// fresh start): this attempt's checkpoints extend it.
    pub(crate) lineage: Vec<(u64, u64)>,
    /// Complete checkpoints this job owns from before it started (resume,
    /// claim), oldest first.
    pub(crate) retained: Vec<CheckpointLocation>,
    /// Makes the output staged for a complete checkpoint visible (the
    /// sink's business: the coordinator only says when and which files).
    pub(crate) commit: Committer,
    /// One per source subtask: where to ask for a barrier.
    pub(crate) source_barriers: Vec<((usize, u32), crossbeam_channel::Sender<u64>)>,
    /// One per operator subtask: told the id of every completed checkpoint
    /// (sinks commit; incremental snapshots build on it).
    pub(crate) completion_notices: Vec<crossbeam_channel::Sender<u64>>,
    /// Fails the job (stops its tasks) with the coordinator's error.
    pub(crate) fail: Box<dyn Fn(Error) + Send + Sync>,
    /// The job's checkpoint statistics, across its attempts.
    pub(crate) history: SharedHistory,
    /// Told when a commit runs, so that sources can wait for a slow one.
    pub(crate) gate: std::sync::Arc<CommitGate>,
}

struct Pending {
    id: u64,
    triggered: Instant,
    trigger_time_ms: u64,
    /// What each source subtask that acknowledged had left, and the
    /// highest timestamp it had read.
    sources: BTreeMap<(usize, u32), (Vec<Split>, i64)>,
    subtasks: BTreeMap<(usize, u32), Ack>,
    stats: CheckpointStats,
    /// Per sink (job order), the output staged for it.
    staged: Vec<Vec<String>>,
    reply: Option<std::sync::mpsc::Sender<Result<u64>>>,
}

/// One subtask's part of a pending checkpoint.
struct Ack {
    snapshot: SubtaskSnapshot,
    incremental: bool,
    /// Per chunk of `snapshot`: is it a delta?
    deltas: Vec<bool>,
    stats: stats::SubtaskStats,
}

pub(crate) struct Coordinator {
    setup: CoordinatorSetup,
    events: UnboundedReceiver<TaskEvent>,
    commands: UnboundedReceiver<Command>,
    next_id: u64,
    pending: Option<Pending>,
    retained: Retained,
    chains: Chains,
    failed_in_a_row: u32,
    /// Source subtasks that read everything.
    exhausted: std::collections::BTreeSet<(usize, u32)>,
    /// Every source subtask read everything: no checkpoint can be taken.
    source_exhausted: bool,
    /// An operator subtask finished: no checkpoint can complete.
    finishing: bool,
    /// Per sink, the output its finished writers staged.
    finished_staged: Vec<Vec<String>>,
    last_trigger: Instant,
    last_completion: Instant,
    waiting_trigger: Option<std::sync::mpsc::Sender<Result<u64>>>,
}

impl Coordinator {
    pub(crate) fn new(
        setup: CoordinatorSetup,
        events: UnboundedReceiver<TaskEvent>,
        commands: UnboundedReceiver<Command>,
    ) -> Self {
        let retained = Retained::new(setup.storage.clone(), &setup.job_id, setup.config.clone(), &setup.retained);
        let sinks = setup.sinks.len();
        Coordinator {
            next_id: setup.first_checkpoint_id,
            setup,
            events,
            commands,
            pending: None,
            retained,
            chains: Chains::new(),
            failed_in_a_row: 0,
            exhausted: Default::default(),
            source_exhausted: false,
            finishing: false,
            finished_staged: vec![Vec::new(); sinks],
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
        let loaded = self.retained.load().await;
        {
            // A new host (not a restart within this one) shows the history
            // the checkpoints on disk carry.
            let mut history = self.setup.history.lock().unwrap_or_else(|p| p.into_inner());
            if history.checkpoints.is_empty() {
                for stats in loaded {
                    history.record(stats);
                }
            }
        }
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
                        } else if self.source_exhausted || self.finishing {
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
        if self.pending.is_some() || self.source_exhausted || self.finishing || self.setup.storage.is_none() {
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
        for (subtask, barriers) in &self.setup.source_barriers {
            // A subtask that has ended (its receiver is gone) counts with
            // nothing left once its `SourceExhausted` arrives.
            if !self.exhausted.contains(subtask) {
                let _ = barriers.send(id);
            }
        }
        let pending = Pending { reply, ..Pending::empty(id, self.setup.sinks.len()) };
        stats::update(&self.setup.history, pending.stats.clone());
        self.pending = Some(pending);
    }

    async fn on_event(&mut self, event: TaskEvent) -> Result<()> {
        match event {
            TaskEvent::SourceExhausted { source, subtask } => {
                self.exhausted.insert((source, subtask));
                let all: usize = self.setup.sources.iter().map(|(_, p)| *p as usize).sum();
                self.source_exhausted = self.exhausted.len() == all;
                self.complete_if_acknowledged().await?;
            }
            TaskEvent::OperatorFinished { operator, subtask, staged } => {
                for (sink, names) in staged {
                    if let Some(finished) = self.finished_staged.get_mut(sink) {
                        finished.extend(names);
                    }
                }
                self.finishing = true;
                if let Some(pending) = self.pending.take_if(|p| !p.subtasks.contains_key(&(operator, subtask))) {
                    tracing::debug!(
                        checkpoint = pending.id,
                        "part of the job finished before checkpoint {}: dropped",
                        pending.id
                    );
                    self.delete_aborted(&pending).await;
                    if let Some(reply) = pending.reply {
                        let _ = reply.send(Err(Error::Usage("the job's input has ended".into())));
                    }
                }
            }
            TaskEvent::Declined { checkpoint_id, reason } => {
                if self.pending.as_ref().is_some_and(|p| p.id == checkpoint_id) {
                    self.fail_pending(reason).await?;
                }
            }
            TaskEvent::SourceAck { checkpoint_id, source, subtask, left, max_timestamp } => {
                if let Some(p) = self.pending.as_mut().filter(|p| p.id == checkpoint_id) {
                    p.sources.insert((source, subtask), (left, max_timestamp));
                }
                self.complete_if_acknowledged().await?;
            }
            TaskEvent::SubtaskAck { checkpoint_id, operator, snapshot, incremental, deltas, mut stats, staged } => {
                match self.pending.as_mut().filter(|p| p.id == checkpoint_id) {
                    Some(p) => {
                        for (sink, names) in staged {
                            if let Some(staged) = p.staged.get_mut(sink) {
                                staged.extend(names);
                            }
                        }
                        stats.end_to_end_us = micros(p.triggered.elapsed());
                        stats.operator =
                            self.setup.graph.operators.get(operator).map(|o| o.name.clone()).unwrap_or_default();
                        p.subtasks.insert((operator, snapshot.subtask), Ack { snapshot, incremental, deltas, stats });
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
        let sources_done = |p: &Pending| {
            self.setup.source_barriers.iter().all(|(s, _)| p.sources.contains_key(s) || self.exhausted.contains(s))
        };
        let ready = self.pending.as_ref().is_some_and(|p| sources_done(p) && p.subtasks.len() == expected);
        if !ready {
            return Ok(());
        }
        let Some(pending) = self.pending.take() else { return Ok(()) };
        let id = pending.id;
        let chains = match self.chains_after(&pending) {
            Ok(chains) => chains,
            Err(reason) => {
                self.pending = Some(pending);
                return self.fail_pending(reason).await;
            }
        };
        let mut metadata = self.metadata(&pending, &chains, false);
        metadata.stats = Some(completed_stats(&pending, &chains));
        match self.write_and_commit(metadata).await {
            Ok(()) => {
                self.chains = chains;
                self.failed_in_a_row = 0;
                self.last_completion = Instant::now();
                if let Some(reply) = pending.reply {
                    let _ = reply.send(Ok(id));
                }
                self.retained.subsume().await;
                Ok(())
            }
            Err(e) => {
                self.pending = Some(pending);
                self.fail_pending(e.to_string()).await
            }
        }
    }

    /// Every subtask's chain once `pending` completes: a full snapshot
    /// starts a new chain; an incremental one extends the subtask's chain
    /// of the newest complete checkpoint, where a full chunk replaces its
    /// (handle, key group) and a delta is appended to it.
    /// Every subtask's chain once `pending` completes.
    fn chains_after(&self, pending: &Pending) -> std::result::Result<Chains, String> {
        let acks =
            pending.subtasks.iter().map(|(&key, ack)| (key, ack.incremental.then_some(&ack.deltas[..]), &ack.snapshot));
        chains::after(&self.chains, acks)
    }

    fn metadata(&self, pending: &Pending, chains: &Chains, end_of_input: bool) -> CheckpointMetadata {
        let mut operators: Vec<OperatorSnapshot> = self
            .setup
            .graph
            .operators
            .iter()
            .map(|op| OperatorSnapshot { name: op.name.clone(), subtasks: Vec::new() })
            .collect();
        for ((operator, _), chain) in chains {
            if let Some(op) = operators.get_mut(*operator) {
                op.subtasks.push(chain.clone());
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
            sources: self
                .setup
                .sources
                .iter()
                .enumerate()
                .map(|(source, (name, parallelism))| SourceSnapshot {
                    name: name.clone(),
                    subtasks: (0..*parallelism)
                        .map(|subtask| pending.sources.get(&(source, subtask)).map(|s| s.0.clone()).unwrap_or_default())
                        .collect(),
                    // A subtask that read everything has ended its
                    // channels, which counts as the end of time.
                    max_timestamps: (0..*parallelism)
                        .map(|subtask| pending.sources.get(&(source, subtask)).map_or(i64::MAX, |s| s.1))
                        .collect(),
                })
                .collect(),
            operators,
            sinks: self
                .setup
                .sinks
                .iter()
                .zip(&pending.staged)
                .map(|(name, staged)| SinkSnapshot { name: name.clone(), staged: staged.clone() })
                .collect(),
            stats: None,
            lineage: extend_lineage(&self.setup.lineage, self.setup.first_checkpoint_id, pending.id),
        }
    }

    /// `_metadata` last; only then is the staged output committed.
    async fn write_and_commit(&mut self, metadata: CheckpointMetadata) -> Result<()> {
        let id = metadata.checkpoint_id;
        if let Some(storage) = &self.setup.storage {
            let started = Instant::now();
            storage.checkpoint(&self.setup.job_id, id).write_metadata(metadata.encode()).await?;
            if let Some(stats) = &metadata.stats {
                stats::update(&self.setup.history, stats.clone());
            }
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
            self.retained.add(id, &metadata);
        }
        // From here the checkpoint exists: a failure to commit is a job
        // failure, and a restore from it will commit again.
        crate::util::failpoint("after-metadata");
        let location = self.setup.storage.as_ref().map(|storage| storage.checkpoint(&self.setup.job_id, id));
        let commit = self.setup.commit.clone();
        let sinks = metadata.sinks.clone();
        self.setup.gate.begin();
        let committed = tokio::task::spawn_blocking(move || commit(location, id, sinks)).await;
        self.setup.gate.end();
        committed.map_err(|e| Error::Internal(format!("the commit of checkpoint {id} panicked: {e}")))??;
        for notice in &self.setup.completion_notices {
            let _ = notice.send(id);
        }
        Ok(())
    }

    async fn fail_pending(&mut self, reason: String) -> Result<()> {
        let Some(pending) = self.pending.take() else { return Ok(()) };
        tracing::warn!(checkpoint = pending.id, "checkpoint {} aborted: {reason}", pending.id);
        let failed =
            CheckpointStats { status: CheckpointStatus::Failed { reason: reason.clone() }, ..pending_stats(&pending) };
        stats::update(&self.setup.history, failed);
        self.delete_aborted(&pending).await;
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
        let location = storage.checkpoint(&self.setup.job_id, id);
        for file in files {
            let path = location.file(file);
            if let Err(e) = storage.delete(&path).await {
                tracing::warn!("cannot remove {path} of aborted checkpoint {id}: {e}");
            }
        }
        storage.remove_empty_local_dir(&location.dir());
    }

    /// Removes what an aborted checkpoint wrote: the files of the
    /// acknowledgements it received (in `shared/` too: they are new and
    /// nothing references them) and its directory.
    async fn delete_aborted(&self, pending: &Pending) {
        for ack in pending.subtasks.values() {
            self.delete_late_files(pending.id, &ack.snapshot).await;
        }
        if let Some(storage) = &self.setup.storage
            && let Err(e) = storage.checkpoint(&self.setup.job_id, pending.id).delete().await
        {
            tracing::warn!("cannot remove aborted checkpoint {}: {e}", pending.id);
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
            self.delete_aborted(&pending).await;
        }
        if end == JobEnd::Finished && result.is_ok() {
            let sinks = self.setup.sinks.len();
            let last =
                Pending { staged: std::mem::take(&mut self.finished_staged), ..Pending::empty(self.next_id, sinks) };
            let mut metadata = self.metadata(&last, &Chains::new(), true);
            metadata.stats = Some(CheckpointStats { end_of_input: true, ..completed_stats(&last, &Chains::new()) });
            result = self.write_and_commit(metadata).await;
        }
        // A finished job whose last commit failed has failed.
        let end = if end == JobEnd::Finished && result.is_err() { JobEnd::Failed } else { end };
        let owned = self.retained.end(end).await;
        result.map(|()| owned)
    }
}

impl Pending {
    fn empty(id: u64, sinks: usize) -> Self {
        let trigger_time_ms = now_ms();
        Pending {
            id,
            triggered: Instant::now(),
            trigger_time_ms,
            stats: CheckpointStats::in_progress(id, trigger_time_ms),
            sources: BTreeMap::new(),
            subtasks: BTreeMap::new(),
            staged: vec![Vec::new(); sinks],
            reply: None,
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// A pending checkpoint's statistics so far: the subtasks that acknowledged.
fn pending_stats(pending: &Pending) -> CheckpointStats {
    let subtasks: Vec<stats::SubtaskStats> = pending.subtasks.values().map(|ack| ack.stats.clone()).collect();
    CheckpointStats {
        checkpointed_bytes: subtasks.iter().map(|s| s.checkpointed_bytes).sum(),
        files_written: subtasks.iter().map(|s| s.files_written).sum(),
        subtasks,
        ..pending.stats.clone()
    }
}

/// The statistics of `pending` as it completes with `chains`.
fn completed_stats(pending: &Pending, chains: &Chains) -> CheckpointStats {
    let mut stats = pending_stats(pending);
    for (subtask, key) in stats.subtasks.iter_mut().zip(pending.subtasks.keys()) {
        subtask.state_bytes = chains.get(key).map_or(0, |chain| chain.chunks.iter().map(|c| c.data.len()).sum());
    }
    stats.state_bytes = stats.subtasks.iter().map(|s| s.state_bytes).sum();
    stats.status = CheckpointStatus::Completed;
    stats.end_to_end_us = Some(micros(pending.triggered.elapsed()));
    stats
}

#[cfg(test)]
mod tests {
    use super::CommitGate;
    use std::time::Duration;

    #[test]
    fn the_gate_holds_sources_back_only_during_a_commit_longer_than_an_interval() {
        let gate = CommitGate::new(Some(Duration::from_millis(20)));
        assert!(!gate.holds_back(), "no commit running");
        gate.begin();
        assert!(!gate.holds_back(), "a commit that may still keep up");
        std::thread::sleep(Duration::from_millis(45));
        assert!(gate.holds_back(), "a commit longer than the interval");
        gate.end();
        assert!(!gate.holds_back(), "the commit is over");
        let without_checkpoints = CommitGate::new(None);
        without_checkpoints.begin();
        std::thread::sleep(Duration::from_millis(5));
        assert!(!without_checkpoints.holds_back());
    }
}
