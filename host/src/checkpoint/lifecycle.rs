//! What happens to checkpoints, and when: the one owner of every delete.
//!
//! - While a job runs, [`Retained`] holds its complete checkpoints, oldest
//!   first, with the registry of the `shared/` files they reference:
//!   subsumption (beyond `num_retained`) and the end of an attempt delete
//!   through it, a checkpoint first, then the shared files only it used.
//! - After the job's last attempt, [`release`] applies the retention policy
//!   to what the job still owns.
//! - A directory no job is writing is cleaned by [`collect_garbage`], behind
//!   `weir checkpoints gc` and callable by embedders.
//!
//! A process that dies deletes nothing; a delete that fails is logged and
//! leaves the checkpoint tracked (or for gc), never half-forgotten.
//!
//! Garbage is an aborted checkpoint (a `chk-<n>` without `_metadata`), a
//! file in a complete checkpoint's directory that its `_metadata` does not
//! reference, and a file in `shared/` that no complete checkpoint
//! references. The whole directory is read first and nothing is deleted
//! until all of it was read: a store that cannot be asked about one object
//! (a 503, a timeout) stops the collection before any delete, because
//! "could not ask" is not "absent". A checkpoint whose `_metadata` is
//! damaged keeps the job's shared files (its references are unknown).

use std::collections::VecDeque;

use object_store::path::Path;

use super::lease;
use super::metadata::{CheckpointMetadata, StateFile};
use super::restore;
use super::shared::SharedFiles;
use super::stats::CheckpointStats;
use super::storage::{CheckpointLocation, CheckpointStorage, METADATA_FILE};
use crate::error::{Error, Result};
use crate::job::CheckpointConfig;
use crate::job::retention::JobEnd;

/// The complete checkpoints a running job owns, oldest first, and the
/// shared files they reference.
pub(crate) struct Retained {
    /// The job's own checkpoint directory (a checkpoint restored from
    /// elsewhere was never registered here and releases no shared file).
    storage: Option<CheckpointStorage>,
    job_id: String,
    config: Option<CheckpointConfig>,
    checkpoints: VecDeque<CheckpointLocation>,
    shared: SharedFiles,
}

impl Retained {
    /// The checkpoints the job owns when it starts (a resumed job owns its
    /// earlier ones).
    pub(crate) fn new(
        storage: Option<CheckpointStorage>,
        job_id: &str,
        config: Option<CheckpointConfig>,
        owned: &[CheckpointLocation],
    ) -> Self {
        Retained {
            storage,
            job_id: job_id.to_owned(),
            config,
            checkpoints: owned.iter().cloned().collect(),
            shared: SharedFiles::default(),
        }
    }

    /// Reads which shared files the job's complete checkpoints reference;
    /// returns the statistics their `_metadata` carry.
    pub(crate) async fn load(&mut self) -> Vec<CheckpointStats> {
        let Some(storage) = &self.storage else { return Vec::new() };
        self.shared = SharedFiles::load(storage, &self.job_id).await;
        std::mem::take(&mut self.shared.loaded_stats)
    }

    /// Checkpoint `id` of the job is complete (its `_metadata` written).
    pub(crate) fn add(&mut self, id: u64, metadata: &CheckpointMetadata) {
        let Some(storage) = &self.storage else { return };
        self.shared.add(id, metadata);
        self.checkpoints.push_back(storage.checkpoint(&self.job_id, id));
    }

    /// Deletes complete checkpoints beyond `num_retained`, oldest first.
    /// The new one is complete before the oldest goes (the safe order).
    pub(crate) async fn subsume(&mut self) {
        let keep = self.config.as_ref().map_or(1, |c| c.num_retained.max(1)) as usize;
        while self.checkpoints.len() > keep {
            let Some(old) = self.checkpoints.pop_front() else { break };
            if !self.delete(&old, "subsumed").await {
                // Still complete and still ours: keep tracking it so that the
                // next completion tries again instead of leaking it.
                self.checkpoints.push_front(old);
                break;
            }
        }
    }

    /// Applies the retention policy to an attempt that ended with `end`;
    /// returns the complete checkpoints the job still owns.
    pub(crate) async fn end(mut self, end: JobEnd) -> Vec<CheckpointLocation> {
        let keeps = self.config.as_ref().is_some_and(|c| c.retention.keeps_checkpoints(end));
        if !keeps {
            for location in std::mem::take(&mut self.checkpoints) {
                self.delete(&location, "job ended").await;
            }
            if let Some(storage) = &self.storage {
                storage.remove_empty_job_dir(&self.job_id);
            }
        }
        self.checkpoints.into_iter().collect()
    }

    /// Deletes a checkpoint, then the shared files only it referenced;
    /// false (with a warning) if the checkpoint could not be deleted.
    async fn delete(&mut self, location: &CheckpointLocation, why: &str) -> bool {
        if let Err(e) = location.delete().await {
            tracing::warn!("cannot delete checkpoint {}: {e}", location.describe());
            return false;
        }
        tracing::debug!("deleted checkpoint {} ({why})", location.describe());
        if self.storage.as_ref().is_some_and(|own| location.is_of_job(own, &self.job_id)) {
            for name in self.shared.remove(location.id()) {
                let path = location.file(&StateFile::Shared(name));
                if let Err(e) = location.storage().delete(&path).await {
                    // Left for `weir checkpoints gc`: nothing references it.
                    tracing::warn!("cannot delete unreferenced shared file {path}: {e}");
                }
            }
        }
        true
    }
}

/// After a job's last attempt (it failed for good, or was cancelled between
/// attempts): deletes the checkpoints it owns unless `config`'s retention
/// keeps them for `end`, then the shared files nothing references any more.
pub(crate) async fn release(
    owned: &[CheckpointLocation],
    config: Option<&CheckpointConfig>,
    end: JobEnd,
    storage: Option<&CheckpointStorage>,
    job_id: &str,
) {
    if config.is_some_and(|c| c.retention.keeps_checkpoints(end)) {
        return;
    }
    for location in owned {
        if let Err(e) = location.delete().await {
            tracing::warn!("cannot delete checkpoint {}: {e}", location.describe());
        }
    }
    // Incremental checkpoints leave their shared files to whoever deletes
    // the last checkpoint referencing them: here, this.
    if let Some(storage) = storage {
        SharedFiles::delete_unreferenced(storage, job_id).await;
    }
}

/// What [`collect_garbage`] removed (or, dry, would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Each removal: what it is, and where.
    pub removed: Vec<Removal>,
    /// Jobs or checkpoints left alone, and why.
    pub skipped: Vec<String>,
}

/// One thing garbage collection removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    /// "aborted checkpoint", "unreferenced file" or "unreferenced shared file".
    pub what: &'static str,
    /// The checkpoint directory or file, as a person would write it.
    pub location: String,
    /// The objects to delete.
    objects: Vec<Path>,
    /// A local directory to remove once empty.
    dir: Option<Path>,
}

/// Removes the garbage of `job` (or of every job) under `storage`; with
/// `dry_run` only reports it. Running jobs (holding their lease) are
/// skipped: their checkpoint in flight would look aborted.
///
/// Fails, deleting nothing, when any object cannot be read or listed; fails
/// when `job` names no job there, or the directory holds nothing at all.
pub async fn collect_garbage(storage: &CheckpointStorage, job: Option<&str>, dry_run: bool) -> Result<GcReport> {
    let jobs = jobs(storage, job).await?;
    let mut report = GcReport::default();
    for job in &jobs {
        plan_job(storage, job, &mut report).await?;
    }
    if !dry_run {
        for removal in &report.removed {
            for object in &removal.objects {
                storage.delete(object).await?;
            }
            if let Some(dir) = &removal.dir {
                storage.remove_empty_local_dir(dir);
            }
        }
        for job in &jobs {
            storage.remove_empty_job_dir(job);
        }
    }
    Ok(report)
}

/// The jobs to look at: `job`, which must exist, or every one.
pub async fn jobs(storage: &CheckpointStorage, job: Option<&str>) -> Result<Vec<String>> {
    let all = storage.list_jobs().await?;
    if all.is_empty() && !storage.exists().await? {
        return Err(Error::StorageLocation { location: storage.display().to_owned(), reason: "does not exist".into() });
    }
    match job {
        None => Ok(all),
        Some(job) if all.iter().any(|j| j == job) => Ok(vec![job.to_owned()]),
        Some(job) => Err(Error::StorageLocation {
            location: storage.display().to_owned(),
            reason: match all.as_slice() {
                [] => format!("holds no job '{job}' (it holds no job at all)"),
                _ => format!("holds no job '{job}' (jobs there: {})", all.join(", ")),
            },
        }),
    }
}

async fn plan_job(storage: &CheckpointStorage, job: &str, report: &mut GcReport) -> Result<()> {
    if let Some(holder) = lease::active_holder(storage, job).await? {
        report.skipped.push(format!("job {job}: it is running on {holder}"));
        return Ok(());
    }
    let mut shared_in_use = std::collections::HashSet::new();
    let mut references_known = true;
    for (id, complete) in storage.list_checkpoints(job).await? {
        let location = storage.checkpoint(job, id);
        if !complete {
            let mut objects: Vec<Path> = location.objects().await?.into_iter().map(|(path, _)| path).collect();
            objects.sort();
            let dir = Some(location.dir());
            report.removed.push(Removal { what: "aborted checkpoint", location: location.describe(), objects, dir });
            continue;
        }
        let metadata = match restore::read(&location).await {
            Ok(metadata) => metadata,
            Err(Error::Restore(why)) => {
                // Never delete around a checkpoint we cannot decode: its
                // references are unknown.
                report.skipped.push(format!("damaged checkpoint {}: {why}", location.describe()));
                references_known = false;
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut referenced = std::collections::HashSet::new();
        for file in metadata.files() {
            match file {
                StateFile::Exclusive(name) => referenced.insert(name),
                StateFile::Shared(name) => shared_in_use.insert(name),
            };
        }
        // A write-ahead sink's staged output lives beside the state: it is
        // what a restore publishes again.
        let staged: Vec<String> = metadata.sinks.iter().flat_map(|sink| sink.staged.iter().cloned()).collect();
        referenced.extend(staged);
        for (path, _) in location.objects().await? {
            let name = path.filename().unwrap_or_default();
            if name != METADATA_FILE && !referenced.contains(name) {
                let where_ = format!("{}/{name}", location.describe());
                let removal = Removal { what: "unreferenced file", location: where_, objects: vec![path], dir: None };
                report.removed.push(removal);
            }
        }
    }
    if !references_known {
        report.skipped.push(format!("the shared files of job {job}: a damaged checkpoint may reference them"));
        return Ok(());
    }
    for (path, _) in storage.shared_objects(job).await? {
        let name = path.filename().unwrap_or_default();
        if !shared_in_use.contains(name) {
            let where_ = format!("{}/{job}/shared/{name}", storage.display().trim_end_matches('/'));
            let removal =
                Removal { what: "unreferenced shared file", location: where_, objects: vec![path], dir: None };
            report.removed.push(removal);
        }
    }
    Ok(())
}
