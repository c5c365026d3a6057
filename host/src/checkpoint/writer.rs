//! From a subtask's snapshot to durable bytes: small state goes inline into
//! `_metadata`; larger state becomes one data file per subtask, uploaded on
//! the I/O runtime while the subtask goes on processing. The acknowledgement
//! reaches the coordinator only once the file is durable.
//!
//! With incremental checkpoints the data file goes to the job's `shared/`
//! directory under a name no other snapshot uses, because later checkpoints
//! will reference it too; otherwise it is exclusive to `chk-<n>/`.

use std::sync::Arc;

use tokio::sync::mpsc::UnboundedSender;

use std::time::{Duration, Instant};

use crate::util::micros;

use super::metadata::{ChunkData, ChunkRef, StateFile, SubtaskSnapshot};
use super::stats::SubtaskStats;
use super::storage::CheckpointStorage;
use crate::operator::Snapshot;

/// What tasks tell the coordinator.
#[derive(Debug)]
pub(crate) enum TaskEvent {
    /// Subtask `subtask` of source `source` injected barrier
    /// `checkpoint_id` with `left` still to read.
    SourceAck { checkpoint_id: u64, source: usize, subtask: u32, left: Vec<crate::sources::Split>, max_timestamp: i64 },
    /// A subtask's state for `checkpoint_id` is durable (or inline).
    /// `incremental`: `snapshot` holds only what changed since the
    /// subtask's snapshot in the previous complete checkpoint, and
    /// `deltas[i]` tells whether chunk `i` is a delta (`wit/STATE.md`).
    SubtaskAck {
        checkpoint_id: u64,
        operator: usize,
        snapshot: SubtaskSnapshot,
        incremental: bool,
        deltas: Vec<bool>,
        /// Its timings and what it wrote; the coordinator adds the rest.
        stats: SubtaskStats,
        /// Per sink chained to the subtask: its output staged so far.
        staged: Vec<(usize, Vec<String>)>,
    },
    /// A subtask could not take its part of `checkpoint_id`.
    Declined { checkpoint_id: u64, reason: String },
    /// A source subtask read all its splits and ended its output: it has
    /// nothing left for any later checkpoint.
    SourceExhausted { source: usize, subtask: u32 },
    /// An operator subtask processed all its input and finished; `staged`
    /// is its sinks' output not yet committed.
    OperatorFinished { operator: usize, subtask: u32, staged: Vec<(usize, Vec<String>)> },
}

/// How long a subtask's part of a checkpoint took before the upload.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SnapshotTimings {
    /// First barrier in to the last (inputs blocked meanwhile).
    pub(crate) alignment: Duration,
    /// The guest's `snapshot` call.
    pub(crate) sync: Duration,
}

/// Shared by every task of a job. Cheap to clone.
#[derive(Clone)]
pub(crate) struct CheckpointWriter {
    inner: Arc<WriterInner>,
}

struct WriterInner {
    /// `None` when the job takes no checkpoints: only sink events flow.
    storage: Option<(CheckpointStorage, String)>,
    inline_threshold: usize,
    /// Data files go to `shared/` (incremental checkpoints).
    shared_files: bool,
    runtime: tokio::runtime::Handle,
    events: UnboundedSender<TaskEvent>,
}

impl CheckpointWriter {
    pub(crate) fn new(
        storage: Option<(CheckpointStorage, String)>,
        inline_threshold: usize,
        shared_files: bool,
        runtime: tokio::runtime::Handle,
        events: UnboundedSender<TaskEvent>,
    ) -> Self {
        CheckpointWriter { inner: Arc::new(WriterInner { storage, inline_threshold, shared_files, runtime, events }) }
    }

    /// Tells the coordinator something. A closed channel means the job is
    /// ending; there is no one left to tell.
    pub(crate) fn send(&self, event: TaskEvent) {
        let _ = self.inner.events.send(event);
    }

    /// Stores a subtask's snapshot and acknowledges it once durable.
    pub(crate) fn submit(
        &self,
        checkpoint_id: u64,
        operator: usize,
        subtask: u32,
        snapshot: Snapshot,
        timings: SnapshotTimings,
        staged: Vec<(usize, Vec<String>)>,
    ) {
        let submitted = Instant::now();
        let Snapshot { incremental, chunks } = snapshot;
        let deltas: Vec<bool> = chunks
            .iter()
            .map(|c| weir_wire::state::chunk_version(&c.data) == Ok(weir_wire::state::DELTA_VERSION))
            .collect();
        let total: usize = chunks.iter().map(|c| c.data.len()).sum();
        let stats = SubtaskStats {
            subtask,
            alignment_us: micros(timings.alignment),
            sync_us: micros(timings.sync),
            checkpointed_bytes: total as u64,
            incremental,
            ..SubtaskStats::default()
        };
        let Some((storage, job)) = self.inner.storage.clone().filter(|_| total > self.inner.inline_threshold) else {
            let chunks = chunks
                .into_iter()
                .map(|c| ChunkRef {
                    handle: c.handle,
                    kind: c.kind.into(),
                    key_group: c.key_group,
                    data: ChunkData::Inline(c.data),
                })
                .collect();
            let snapshot = SubtaskSnapshot { subtask, chunks };
            self.send(TaskEvent::SubtaskAck { checkpoint_id, operator, snapshot, incremental, deltas, stats, staged });
            return;
        };

        // One file per subtask; each chunk is a checksummed byte range, so a
        // restore with another parallelism reads only the key groups it needs.
        let file = if self.inner.shared_files {
            // A random part too: after a crash, ids after the newest complete
            // checkpoint are reused, and a stray file of an aborted one must
            // never be confused with this one.
            let random = crate::util::random_hex(8);
            StateFile::Shared(format!("op{operator}-{subtask}-chk{checkpoint_id}-{random}.state"))
        } else {
            StateFile::Exclusive(format!("op{operator}-{subtask}.state"))
        };
        let path = storage.checkpoint(&job, checkpoint_id).file(&file);
        let events = self.inner.events.clone();
        // The subtask goes on processing from here. Checksumming the
        // snapshot is CPU work proportional to its size, so it runs on the
        // blocking pool (neither the subtask's thread nor an I/O worker), and
        // the chunks are written as the parts of one file, never joined.
        self.inner.runtime.spawn(async move {
            let checksummed = tokio::task::spawn_blocking(move || {
                let mut offset = 0u64;
                let mut refs = Vec::with_capacity(chunks.len());
                let mut parts = Vec::with_capacity(chunks.len());
                for chunk in chunks {
                    let len = chunk.data.len() as u64;
                    refs.push(ChunkRef {
                        handle: chunk.handle,
                        kind: chunk.kind.into(),
                        key_group: chunk.key_group,
                        data: ChunkData::File { file: file.clone(), offset, len, crc32c: crc32c::crc32c(&chunk.data) },
                    });
                    offset += len;
                    parts.push(bytes::Bytes::from(chunk.data));
                }
                (refs, parts)
            })
            .await;
            let event = match checksummed {
                Err(e) => {
                    TaskEvent::Declined { checkpoint_id, reason: format!("internal error checksumming state: {e}") }
                }
                Ok((refs, parts)) => match storage.put_parts(&path, parts).await {
                    Ok(()) => TaskEvent::SubtaskAck {
                        checkpoint_id,
                        operator,
                        snapshot: SubtaskSnapshot { subtask, chunks: refs },
                        incremental,
                        deltas,
                        stats: SubtaskStats { async_us: micros(submitted.elapsed()), files_written: 1, ..stats },
                        staged,
                    },
                    Err(e) => TaskEvent::Declined { checkpoint_id, reason: e.to_string() },
                },
            };
            let _ = events.send(event);
        });
    }
}
