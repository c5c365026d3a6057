//! Which complete checkpoints reference which files of the job's `shared/`
//! directory, so that a shared file is deleted exactly when the last
//! checkpoint referencing it is.
//!
//! Incremental checkpoints reference the files of earlier ones (a full
//! snapshot and the deltas after it). Flink's shared state registry went
//! through several bugs that deleted files still in use (FLINK-24611 and
//! its follow-ups: a file registered by a checkpoint that was then aborted,
//! or re-used by a checkpoint still in flight when an older one was
//! subsumed). Weir avoids those by construction:
//!
//! - A checkpoint's references are registered only once its `_metadata` is
//!   written: an aborted checkpoint never registers anything; the files it
//!   wrote itself are deleted with it (they are new, named for it, and
//!   nothing else can reference them).
//! - A checkpoint in flight only builds on the newest complete checkpoint,
//!   which is always retained (`num_retained` is at least 1), so subsuming
//!   older ones never removes a file it needs.
//! - Every complete checkpoint found in the job's directory at start is
//!   registered, owned or not: one this job does not own pins its files
//!   forever (from this job's point of view).
//! - If any `_metadata` cannot be read at start, the registry does not know
//!   every reference and deletes no shared file at all (a leak that
//!   `weir checkpoints gc` can clean later, never a loss).

use std::collections::{BTreeSet, HashMap};

use super::metadata::{CheckpointMetadata, StateFile};
use super::storage::CheckpointStorage;

/// References from complete checkpoints to shared files.
#[derive(Debug, Default)]
pub(crate) struct SharedFiles {
    /// File name -> ids of the complete checkpoints referencing it.
    references: HashMap<String, BTreeSet<u64>>,
    /// Checkpoint id -> the shared files it references.
    by_checkpoint: HashMap<u64, Vec<String>>,
    /// `false` when some checkpoint's references are unknown: then nothing
    /// is ever reported unreferenced.
    complete: bool,
    /// The statistics of the checkpoints `load` read, oldest first (for a
    /// job's checkpoint history after a restart of the host).
    pub(crate) loaded_stats: Vec<super::stats::CheckpointStats>,
}

impl SharedFiles {
    /// Registers every complete checkpoint in `job`'s directory.
    pub(crate) async fn load(storage: &CheckpointStorage, job: &str) -> Self {
        let mut shared = SharedFiles { complete: true, ..Default::default() };
        let listed = match storage.list_checkpoints(job).await {
            Ok(listed) => listed,
            Err(e) => {
                tracing::warn!("cannot list the checkpoints of job {job}: shared files will not be deleted ({e})");
                shared.complete = false;
                return shared;
            }
        };
        for (id, complete) in listed {
            if !complete {
                continue;
            }
            let location = storage.checkpoint(job, id);
            let metadata = match location.read_metadata().await {
                Ok(bytes) => CheckpointMetadata::decode(&bytes).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match metadata {
                Ok(metadata) => {
                    shared.add(id, &metadata);
                    shared.loaded_stats.extend(metadata.stats);
                }
                Err(e) => {
                    tracing::warn!(
                        "cannot read {}: its shared files are unknown, so none will be deleted ({e})",
                        location.describe()
                    );
                    shared.complete = false;
                }
            }
        }
        shared
    }

    /// Deletes every file of `job`'s `shared/` directory that no complete
    /// checkpoint references, if all references are known. For a job that
    /// has stopped (its checkpoints were just deleted by retention).
    pub(crate) async fn delete_unreferenced(storage: &CheckpointStorage, job: &str) {
        let shared = SharedFiles::load(storage, job).await;
        if !shared.complete {
            return;
        }
        let objects = match storage.shared_objects(job).await {
            Ok(objects) => objects,
            Err(e) => {
                tracing::warn!("cannot list the shared files of job {job}: {e}");
                return;
            }
        };
        for (path, _) in objects {
            let name = path.filename().unwrap_or_default();
            if !shared.references.contains_key(name)
                && let Err(e) = storage.delete(&path).await
            {
                tracing::warn!("cannot delete unreferenced shared file {path}: {e}");
            }
        }
        storage.remove_empty_job_dir(job);
    }

    /// Records the shared files checkpoint `id` references.
    pub(crate) fn add(&mut self, id: u64, metadata: &CheckpointMetadata) {
        let names: Vec<String> = metadata
            .files()
            .into_iter()
            .filter_map(|file| match file {
                StateFile::Shared(name) => Some(name),
                StateFile::Exclusive(_) => None,
            })
            .collect();
        for name in &names {
            self.references.entry(name.clone()).or_default().insert(id);
        }
        self.by_checkpoint.insert(id, names);
    }

    /// Checkpoint `id` was deleted: returns the shared files no complete
    /// checkpoint references any more, which the caller deletes.
    pub(crate) fn remove(&mut self, id: u64) -> Vec<String> {
        let mut unreferenced = Vec::new();
        for name in self.by_checkpoint.remove(&id).unwrap_or_default() {
            if let Some(ids) = self.references.get_mut(&name) {
                ids.remove(&id);
                if ids.is_empty() {
                    self.references.remove(&name);
                    unreferenced.push(name);
                }
            }
        }
        if self.complete { unreferenced } else { Vec::new() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::metadata::{ChunkData, ChunkRef, KindTag, OperatorSnapshot, SubtaskSnapshot};

    fn metadata_referencing(names: &[&str]) -> CheckpointMetadata {
        let chunks = names
            .iter()
            .map(|name| ChunkRef {
                handle: "count".into(),
                kind: KindTag::KeyedValue,
                key_group: Some(0),
                data: ChunkData::File { file: StateFile::Shared((*name).into()), offset: 0, len: 1, crc32c: 0 },
            })
            .collect();
        let mut metadata = crate::checkpoint::metadata::tests::sample();
        metadata.operators =
            vec![OperatorSnapshot { name: "op".into(), subtasks: vec![SubtaskSnapshot { subtask: 0, chunks }] }];
        metadata
    }

    #[test]
    fn a_file_is_released_with_the_last_checkpoint_referencing_it() {
        let mut shared = SharedFiles { complete: true, ..Default::default() };
        shared.add(1, &metadata_referencing(&["base"]));
        shared.add(2, &metadata_referencing(&["base", "delta2"]));
        shared.add(3, &metadata_referencing(&["base", "delta2", "delta3"]));
        assert!(shared.remove(1).is_empty());
        assert_eq!(shared.remove(2), Vec::<String>::new());
        let mut released = shared.remove(3);
        released.sort();
        assert_eq!(released, ["base", "delta2", "delta3"]);
    }

    #[test]
    fn an_incomplete_registry_releases_nothing() {
        let mut shared = SharedFiles { complete: false, ..Default::default() };
        shared.add(1, &metadata_referencing(&["base"]));
        assert!(shared.remove(1).is_empty());
    }
}
