//! Cleaning up a checkpoint directory that no job is writing:
//! [`collect_garbage`], behind `weir checkpoints gc` and callable by
//! embedders.
//!
//! Garbage is an aborted checkpoint (a `chk-<n>` without `_metadata`), a
//! file in a complete checkpoint's directory that its `_metadata` does not
//! reference, and a file in `shared/` that no complete checkpoint
//! references. The whole directory is read first and nothing is deleted
//! until all of it was read: a store that cannot be asked about one object
//! (a 503, a timeout) stops the collection before any delete, because
//! "could not ask" is not "absent". A checkpoint whose `_metadata` is
//! damaged keeps the job's shared files (its references are unknown).

use object_store::path::Path;

use super::lease;
use super::metadata::StateFile;
use super::restore;
use super::storage::{CheckpointStorage, METADATA_FILE};
use crate::error::{Error, Result};

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
