//! Reading a checkpoint back: find it, check it against the job, and give
//! each new subtask exactly the state it owns.
//!
//! Keyed state travels by key group: a new subtask gets every chunk whose
//! key group falls in its range, whichever old subtask wrote it, so a job
//! restores with another parallelism without losing or duplicating a key.
//! Operator (non-keyed) state follows the subtask index when parallelism is
//! unchanged; on rescale, `operator-list` entries are dealt round-robin and
//! `operator-value` state is refused (it cannot be split or merged safely).
//!
//! Restore planning is here too: which checkpoints a job may start from
//! ([`plan`], newest first, each with the checkpoints the job then owns),
//! how to fall back past a damaged one ([`first_restorable`]), and which id
//! the job's next checkpoint takes ([`first_checkpoint_id`]).

use std::collections::{BTreeMap, HashMap};

use futures_util::{StreamExt, TryStreamExt};

use weir_wire::state::{ChunkReader, ChunkWriter, Entry, Kind};

use super::metadata::{CheckpointMetadata, ChunkData, KindTag};
use super::storage::{CheckpointLocation, CheckpointStorage};
use super::{RestoreMode, StartFrom};
use crate::error::{Error, Result};
use crate::job::JobSpec;
use crate::job::graph::key_group_range;
use crate::operator::StateChunk;

/// Chunk reads one subtask's restore keeps in flight.
const READS_IN_FLIGHT: usize = 8;

/// A checkpoint read and checked, ready to hand out state.
#[derive(Debug, Clone)]
pub struct Restored {
    pub location: CheckpointLocation,
    pub metadata: CheckpointMetadata,
}

/// Reads a checkpoint's `_metadata` and checks every data file it names:
/// the file exists and holds every byte range the metadata declares. No
/// range is read (or allocated for) before this check, so a damaged or
/// crafted `_metadata` cannot make the host read past a file or allocate
/// from an absurd length.
///
/// A damaged checkpoint (missing or short files, bad metadata) is an
/// [`Error::Restore`]; a store that could not be asked is an
/// [`Error::Storage`], which says nothing about the checkpoint.
pub async fn open(location: &CheckpointLocation) -> Result<Restored> {
    let metadata = read(location).await?;
    let storage = location.storage();
    let mut sizes = std::collections::HashMap::new();
    for file in metadata.files() {
        let path = location.file(&file);
        let size = match storage.size(&path).await {
            Ok(size) => size,
            Err(Error::NotFound { .. }) => {
                return Err(Error::Restore(format!("{}: state file {path} is missing", location.describe())));
            }
            Err(e) => return Err(e),
        };
        sizes.insert(file, (path, size));
    }
    for chunk in metadata.chunks() {
        if let ChunkData::File { file, offset, len, .. } = &chunk.data {
            let Some((path, size)) = sizes.get(file) else { continue };
            if offset.checked_add(*len).is_none_or(|end| end > *size) {
                return Err(Error::Restore(format!(
                    "state file {path} is truncated: the checkpoint declares bytes {offset}..+{len} of state '{}', \
                     the file has {size}",
                    chunk.handle
                )));
            }
        }
    }
    Ok(Restored { location: location.clone(), metadata })
}

/// Reads and decodes a checkpoint's `_metadata`. One that does not exist or
/// does not decode is an [`Error::Restore`] naming its full path; a failure
/// to read it is an [`Error::Storage`].
pub async fn read(location: &CheckpointLocation) -> Result<CheckpointMetadata> {
    let bytes = location.storage().read_checkpoint_metadata(location).await?;
    let where_ = location.describe_metadata();
    let metadata = CheckpointMetadata::decode(&bytes).map_err(|e| Error::Restore(format!("{where_}: {e}")))?;
    if metadata.checkpoint_id != location.id() {
        return Err(Error::Restore(format!(
            "{where_}: holds checkpoint {} but lives in chk-{}",
            metadata.checkpoint_id,
            location.id()
        )));
    }
    Ok(metadata)
}

/// The complete checkpoints of `job` whose metadata and files check out
/// ([`open`]), newest first; damaged ones are skipped with a warning. A
/// storage failure stops the search: a checkpoint that could not be read
/// is not known to be damaged, and falling back past it would lose it.
pub async fn candidates(storage: &CheckpointStorage, job: &str) -> Result<Vec<Restored>> {
    let mut found = Vec::new();
    for location in storage.complete_checkpoints(job).await?.into_iter().rev() {
        match open(&location).await {
            Ok(restored) => found.push(restored),
            Err(Error::Restore(why)) => tracing::warn!("skipping damaged checkpoint {}: {why}", location.id()),
            Err(e) => return Err(e),
        }
    }
    Ok(found)
}

/// A checkpoint a job may start from, and the complete checkpoints the job
/// owns when it does (retention treats them as its own).
pub struct Candidate {
    pub restored: Restored,
    pub owned: Vec<CheckpointLocation>,
}

/// Where a job may start from, newest first: nothing (fresh), the
/// checkpoint `-s` names (claimed or not), or, resuming, every complete
/// checkpoint of the job that checks out. `storage` is the job's own
/// checkpoint directory; `cwd` resolves a relative `-s` path.
pub async fn plan(
    storage: Option<&CheckpointStorage>,
    job: &str,
    from: &StartFrom,
    cwd: &std::path::Path,
) -> Result<Vec<Candidate>> {
    match from {
        StartFrom::Fresh => Ok(Vec::new()),
        StartFrom::Checkpoint { path, mode } => {
            let location = CheckpointStorage::locate(path, cwd).await?;
            let restored = open(&location).await?;
            // Claimed, the checkpoint becomes the job's: its retention may
            // subsume it.
            let owned = if *mode == RestoreMode::Claim { vec![restored.location.clone()] } else { Vec::new() };
            Ok(vec![Candidate { restored, owned }])
        }
        StartFrom::Resume => {
            let Some(storage) = storage else {
                return Err(Error::invalid("checkpoint", "--resume needs a [checkpoint] section with a dir"));
            };
            let found = candidates(storage, job).await?;
            if found.is_empty() {
                tracing::info!("no complete checkpoint of job {job} in {}: starting fresh", storage.display());
            }
            // Resuming owns every earlier complete checkpoint, as if the
            // job had never stopped.
            let complete = storage.complete_checkpoints(job).await?;
            Ok(found
                .into_iter()
                .map(|restored| {
                    let id = restored.metadata.checkpoint_id;
                    let owned = complete.iter().filter(|c| c.id() <= id).cloned().collect();
                    Candidate { restored, owned }
                })
                .collect())
        }
    }
}

/// Tries `candidates` in order (newest first) with `attempt` until one
/// works: a candidate whose state turns out damaged ([`Error::Restore`]) is
/// skipped with a warning for the next; any other error (storage, a bad
/// input file) stops the search, since it says nothing about the
/// checkpoint. With one candidate its own error is the answer; with more,
/// one that names every damaged one. `describe` names a candidate (its id).
pub(crate) fn first_restorable<C, T>(
    candidates: Vec<C>,
    describe: impl Fn(&C) -> String,
    mut attempt: impl FnMut(C) -> Result<T>,
) -> Result<T> {
    let count = candidates.len();
    let mut damaged = Vec::new();
    for candidate in candidates {
        let name = describe(&candidate);
        match attempt(candidate) {
            Err(Error::Restore(why)) if count > 1 => {
                tracing::warn!("skipping damaged checkpoint {name}: {why}");
                damaged.push(format!("{name}: {why}"));
            }
            other => return other,
        }
    }
    Err(Error::Restore(format!("no checkpoint could be restored: {}", damaged.join("; "))))
}

/// The id of the job's next checkpoint: after the restored one (if any),
/// after `tagged`, the highest id the sink's output is tagged with (so that
/// an id names one checkpoint's output, whichever run wrote it), and after
/// every complete checkpoint already in the job's directory (`_metadata`
/// is never overwritten).
pub(crate) async fn first_checkpoint_id(
    restored: Option<&Restored>,
    tagged: u64,
    storage: Option<&CheckpointStorage>,
    job: &str,
) -> Result<u64> {
    let mut first = restored.map_or(1, |r| r.metadata.checkpoint_id + 1);
    if tagged >= first {
        first = tagged + 1;
    }
    if let Some(storage) = storage {
        let existing = storage.list_checkpoints(job).await?;
        let highest = existing.iter().filter(|(_, complete)| *complete).map(|(n, _)| *n).max().unwrap_or(0);
        if highest >= first {
            tracing::info!(
                "{} already holds checkpoints up to {highest}: new checkpoints start at {}",
                storage.display(),
                highest + 1
            );
            first = highest + 1;
        }
    }
    Ok(first)
}

impl Restored {
    /// Checks that the job can take this checkpoint's state.
    pub fn check_compatible(&self, spec: &JobSpec, allow_non_restored_state: bool) -> Result<()> {
        let graph = &self.metadata.graph;
        if graph.max_parallelism != spec.execution.max_parallelism {
            return Err(Error::Restore(format!(
                "the checkpoint has max_parallelism {} but the job has {}: key groups cannot be remapped",
                graph.max_parallelism, spec.execution.max_parallelism
            )));
        }
        for (index, old) in graph.operators.iter().enumerate() {
            let has_state =
                self.metadata.operators.get(index).is_some_and(|o| o.subtasks.iter().any(|s| !s.chunks.is_empty()));
            let Some(new) = spec.operators.iter().find(|op| op.name == old.name) else {
                if has_state && !allow_non_restored_state {
                    return Err(Error::Restore(format!(
                        "the checkpoint holds state of operator '{}', which the job no longer has \
                         (use --allow-non-restored-state to drop it)",
                        old.name
                    )));
                }
                tracing::warn!("dropping the state of operator '{}', which the job no longer has", old.name);
                continue;
            };
            if new.parallelism != old.parallelism {
                let snapshot = &self.metadata.operators[index];
                if let Some(chunk) =
                    snapshot.subtasks.iter().flat_map(|s| &s.chunks).find(|c| c.kind == KindTag::OperatorValue)
                {
                    return Err(Error::Restore(format!(
                        "operator '{}' has operator-value state '{}', which cannot be rescaled from parallelism {} to {}",
                        old.name, chunk.handle, old.parallelism, new.parallelism
                    )));
                }
                tracing::info!(
                    "operator '{}' rescaled from {} to {} subtasks",
                    old.name,
                    old.parallelism,
                    new.parallelism
                );
            }
        }
        Ok(())
    }

    /// Notes changed components: allowed (that is how a fixed operator
    /// ships), but worth a line in the log.
    pub fn log_changed_components(&self, digests: &[(String, [u8; 32])]) {
        for (name, digest) in digests {
            if let Some(old) = self.metadata.graph.operators.iter().find(|o| &o.name == name)
                && &old.component_sha256 != digest
            {
                tracing::info!(
                    "operator '{name}': the component changed since checkpoint {}",
                    self.metadata.checkpoint_id
                );
            }
        }
    }

    /// The chunks subtask `subtask` of `operator` (now at `parallelism`)
    /// starts with.
    pub async fn state_for(&self, operator: &str, subtask: u32, parallelism: u32) -> Result<Vec<StateChunk>> {
        let Some(index) = self.metadata.graph.operators.iter().position(|o| o.name == operator) else {
            return Ok(Vec::new());
        };
        let old_parallelism = self.metadata.graph.operators[index].parallelism;
        let Some(snapshot) = self.metadata.operators.get(index) else { return Ok(Vec::new()) };
        let keys = key_group_range(subtask, parallelism, self.metadata.graph.max_parallelism);
        // The chunks this subtask reads, in checkpoint order, and whether
        // each is dealt (operator-list entries, when the parallelism changed).
        let mut reads = Vec::new();
        for old in &snapshot.subtasks {
            for chunk in &old.chunks {
                let kind = Kind::from(chunk.kind);
                let wanted = match chunk.key_group {
                    Some(key_group) => keys.contains(&key_group),
                    // Every subtask holds the same broadcast state: each
                    // new one gets old subtask 0's copy.
                    None if kind == Kind::BroadcastMap => old.subtask == 0,
                    None => parallelism == old_parallelism && old.subtask == subtask,
                };
                let dealing = chunk.key_group.is_none() && parallelism != old_parallelism && kind == Kind::OperatorList;
                if wanted || dealing {
                    reads.push((chunk, kind, dealing));
                }
            }
        }
        // Several reads in flight: the store reads (local files on tokio's
        // blocking pool) and the checksums then use every core, and a
        // remote store's round trips overlap. Order is kept.
        let data: Vec<Vec<u8>> =
            futures_util::stream::iter(reads.iter().map(|(chunk, ..)| self.read_chunk(operator, &chunk.data)))
                .buffered(READS_IN_FLIGHT)
                .try_collect()
                .await?;
        let mut chunks = Vec::new();
        // operator-list entries by handle, gathered from every old subtask
        // when the parallelism changed.
        let mut dealt: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
        for ((chunk, kind, dealing), data) in reads.into_iter().zip(data) {
            if dealing {
                let reader = ChunkReader::new(kind, &data).map_err(|e| self.damaged(operator, &chunk.handle, e))?;
                let entries = dealt.entry(chunk.handle.clone()).or_default();
                for entry in reader {
                    if let Entry::OperatorList { value } =
                        entry.map_err(|e| self.damaged(operator, &chunk.handle, e))?
                    {
                        entries.push(value.to_vec());
                    }
                }
            } else {
                chunks.push(StateChunk { handle: chunk.handle.clone(), kind, key_group: chunk.key_group, data });
            }
        }
        let mut chunks = self.merge_chains(operator, chunks)?;
        for (handle, entries) in dealt {
            let mut writer = ChunkWriter::new(Kind::OperatorList);
            for value in entries.iter().skip(subtask as usize).step_by(parallelism as usize) {
                writer.operator_list(value);
            }
            if writer.entries() > 0 {
                chunks.push(StateChunk { handle, kind: Kind::OperatorList, key_group: None, data: writer.finish() });
            }
        }
        Ok(chunks)
    }

    /// An incremental checkpoint holds, per (handle, key group), the full
    /// chunks of one snapshot followed by deltas, in order. Guests only read
    /// full chunks: each chain with deltas is merged into one here (the full
    /// chunks concatenated, then `weir_wire::state::merge`).
    fn merge_chains(&self, operator: &str, chunks: Vec<StateChunk>) -> Result<Vec<StateChunk>> {
        let is_delta = |c: &StateChunk| weir_wire::state::chunk_version(&c.data) == Ok(weir_wire::state::DELTA_VERSION);
        if !chunks.iter().any(is_delta) {
            return Ok(chunks);
        }
        // Chains keep their order; chains themselves are in first-seen order.
        let mut order: Vec<(String, Option<u16>)> = Vec::new();
        let mut chains: HashMap<(String, Option<u16>), Vec<StateChunk>> = HashMap::new();
        for chunk in chunks {
            let key = (chunk.handle.clone(), chunk.key_group);
            let chain = chains.entry(key.clone()).or_insert_with(|| {
                order.push(key);
                Vec::new()
            });
            chain.push(chunk);
        }
        let mut merged = Vec::with_capacity(order.len());
        for key in order {
            let Some(mut chain) = chains.remove(&key) else { continue };
            if chain.len() == 1 && !is_delta(&chain[0]) {
                merged.extend(chain.pop());
                continue;
            }
            let kind = chain[0].kind;
            if let Some(other) = chain.iter().find(|c| c.kind != kind) {
                return Err(self.damaged(operator, &other.handle, "its chunks disagree about the kind of state"));
            }
            // Several full chunks before the first delta came from one
            // snapshot and hold different entries: one base of all of them.
            let first_delta = chain.iter().position(is_delta).unwrap_or(chain.len());
            let mut base = Vec::new();
            for chunk in &chain[..first_delta] {
                if weir_wire::state::chunk_version(&chunk.data) != Ok(weir_wire::state::VERSION) {
                    return Err(self.damaged(operator, &key.0, "a chunk of its chain has an unknown layout version"));
                }
                let entries = if base.is_empty() { &chunk.data[..] } else { &chunk.data[1..] };
                base.extend_from_slice(entries);
            }
            let mut parts: Vec<&[u8]> = Vec::with_capacity(chain.len() + 1 - first_delta);
            if !base.is_empty() {
                parts.push(&base);
            }
            parts.extend(chain[first_delta..].iter().map(|c| c.data.as_slice()));
            let data = weir_wire::state::merge(kind, &parts).map_err(|e| self.damaged(operator, &key.0, e))?;
            merged.push(StateChunk { handle: key.0, kind, key_group: key.1, data });
        }
        Ok(merged)
    }

    fn damaged(&self, operator: &str, handle: &str, e: impl std::fmt::Display) -> Error {
        Error::Restore(format!("{}: operator '{operator}' state '{handle}' is damaged: {e}", self.location.describe()))
    }

    async fn read_chunk(&self, operator: &str, data: &ChunkData) -> Result<Vec<u8>> {
        match data {
            ChunkData::Inline(bytes) => Ok(bytes.clone()),
            ChunkData::File { file, offset, len, crc32c } => {
                let path = self.location.file(file);
                let bytes = match self.location.storage().get_range(&path, *offset, *len).await {
                    Ok(bytes) => bytes,
                    Err(Error::NotFound { .. }) => {
                        return Err(Error::Restore(format!("operator '{operator}': state file {path} is missing")));
                    }
                    Err(e) => return Err(e),
                };
                if bytes.len() as u64 != *len {
                    return Err(Error::Restore(format!("operator '{operator}': state file {path} is truncated")));
                }
                // Off the I/O threads: a chunk can be many megabytes.
                let (computed, bytes) = tokio::task::spawn_blocking(move || (crc32c::crc32c(&bytes), bytes))
                    .await
                    .map_err(|e| Error::Restore(format!("operator '{operator}': checksumming {path} failed: {e}")))?;
                if computed != *crc32c {
                    return Err(Error::Restore(format!(
                        "operator '{operator}': state file {path} is damaged (checksum {computed:#010x}, expected {crc32c:#010x})"
                    )));
                }
                Ok(bytes)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn damaged(id: u64) -> Result<u64> {
        Err(Error::Restore(format!("checkpoint {id} is damaged")))
    }

    #[test]
    fn falling_back_skips_damage_only() {
        // Newest first: 3 and 2 are damaged, 1 restores.
        let tried = first_restorable(vec![3, 2, 1], u64::to_string, |id| if id > 1 { damaged(id) } else { Ok(id) });
        assert_eq!(tried.ok(), Some(1));

        // A storage error says nothing about the checkpoint: no fallback.
        let storage = first_restorable(vec![3, 2, 1], u64::to_string, |id| match id {
            3 => Err(Error::NotFound { path: "chk-3/_metadata".into() }),
            id => Ok(id),
        });
        assert!(matches!(storage, Err(Error::NotFound { .. })));

        // All damaged: every one is named.
        let all = first_restorable(vec![2, 1], u64::to_string, damaged).unwrap_err().to_string();
        assert!(all.contains("2: checkpoint 2 is damaged") && all.contains("1: checkpoint 1 is damaged"), "{all}");

        // One candidate: its own error, as it was.
        let one = first_restorable(vec![7], u64::to_string, damaged).unwrap_err().to_string();
        assert_eq!(one, "restore: checkpoint 7 is damaged");
    }
}
