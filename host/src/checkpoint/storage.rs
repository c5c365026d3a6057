//! Where checkpoints live: one `object_store` backend chosen by URL, and the
//! directory layout inside it (DESIGN.md, a contract).
//!
//! ```text
//! <dir>/<job-id>/chk-<n>/_metadata     written last, atomically, never overwritten
//! <dir>/<job-id>/chk-<n>/<files>       state exclusive to checkpoint n
//! <dir>/<job-id>/shared/<files>        files shared by several checkpoints
//! ```
//!
//! `dir` is a plain path (the default), `file:///abs/path`,
//! `s3://bucket/prefix` (credentials, region and endpoint from the usual
//! `AWS_*` environment variables) or `memory://name[/prefix]` (one store per
//! name and process, for tests and embedders). Callers never branch on the
//! backend.
//!
//! Only a `NotFound` answer means "absent" ([`Error::NotFound`]). Every other
//! failure is an [`Error::Storage`] that names the operation and the path: a
//! store that could not be asked (a 503, a timeout, a permission error) says
//! nothing about what exists, so callers stop instead of concluding.
//!
//! A checkpoint is addressed by a [`CheckpointLocation`]: the checkpoints a
//! job writes are `<job>/chk-<n>`, but a checkpoint copied elsewhere under
//! any name (`backups/before-upgrade/`) is one too, found by
//! [`CheckpointStorage::locate`]. Its exclusive files are in its own
//! directory and its shared files in `../shared/`, so a copied job
//! directory restores wherever it is.

use std::collections::HashMap;
use std::path::Path as FsPath;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures_util::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use super::metadata::{CheckpointMetadata, StateFile};
use crate::error::{Error, Result};

pub const METADATA_FILE: &str = "_metadata";
pub const SHARED_DIR: &str = "shared";
/// Overrides how often S3 requests are retried after a 5xx or a 429
/// (object_store's default: 10 times within 3 minutes).
pub const MAX_RETRIES_VAR: &str = "WEIR_STORAGE_MAX_RETRIES";

/// A checkpoint root (`dir` in the job file) opened on its backend.
#[derive(Clone)]
pub struct CheckpointStorage {
    store: Arc<dyn ObjectStore>,
    /// Which store this is (`file`, `s3://bucket`, `memory://name`): with
    /// `root`, tells whether two opened storages are the same place.
    backend: String,
    /// The root inside the store.
    root: Path,
    /// The URL or path as the user wrote it, for messages.
    display: String,
}

impl std::fmt::Debug for CheckpointStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display)
    }
}

/// One checkpoint directory: which storage, which job directory, which
/// name, which id. Built by [`CheckpointStorage::checkpoint`] (the
/// `chk-<n>` of a job) or [`CheckpointStorage::locate`] (any checkpoint
/// directory, under any name); paths inside it come from its methods, so
/// no other code joins them by hand.
#[derive(Debug, Clone)]
pub struct CheckpointLocation {
    storage: CheckpointStorage,
    /// The directory holding the checkpoint and its `shared/` (normally the
    /// job id); empty when that is the storage root itself.
    job_dir: String,
    /// The checkpoint directory's own name: `chk-<id>`, or any other for a
    /// copy.
    name: String,
    checkpoint_id: u64,
}

impl CheckpointLocation {
    pub fn storage(&self) -> &CheckpointStorage {
        &self.storage
    }

    /// The job directory this checkpoint is in (empty when the storage root).
    pub fn job_dir(&self) -> &str {
        &self.job_dir
    }

    pub fn id(&self) -> u64 {
        self.checkpoint_id
    }

    /// Whether this is `chk-<id>` of `job` in `storage`: a checkpoint the
    /// job wrote itself (not a copy elsewhere, not another job's).
    pub fn is_of_job(&self, storage: &CheckpointStorage, job: &str) -> bool {
        self.storage.backend == storage.backend
            && self.storage.root == storage.root
            && self.job_dir == job
            && self.name == checkpoint_dir_name(self.checkpoint_id)
    }

    /// The checkpoint's directory in the store.
    pub fn dir(&self) -> Path {
        self.storage.job_path(&self.job_dir).join(self.name.as_str())
    }

    pub fn metadata_path(&self) -> Path {
        self.dir().join(METADATA_FILE)
    }

    /// Where a data file this checkpoint references lives.
    pub fn file(&self, file: &StateFile) -> Path {
        match file {
            StateFile::Exclusive(name) => self.dir().join(name.as_str()),
            StateFile::Shared(name) => self.storage.job_path(&self.job_dir).join(SHARED_DIR).join(name.as_str()),
        }
    }

    /// The checkpoint directory as a person would write it.
    pub fn describe(&self) -> String {
        // `file:///` must not lose the slashes of its scheme.
        let trimmed = self.storage.display.trim_end_matches('/');
        let root = if trimmed.ends_with(':') { format!("{trimmed}//") } else { trimmed.to_owned() };
        match self.job_dir.as_str() {
            "" => format!("{root}/{}", self.name),
            job => format!("{root}/{job}/{}", self.name),
        }
    }

    /// `_metadata`'s full path as a person would write it.
    pub fn describe_metadata(&self) -> String {
        format!("{}/{METADATA_FILE}", self.describe())
    }

    /// Reads the raw `_metadata`; [`Error::NotFound`] when it does not exist.
    pub async fn read_metadata(&self) -> Result<Vec<u8>> {
        self.storage.get(&self.metadata_path()).await
    }

    /// Writes `_metadata`: atomically, and refusing to replace an existing
    /// one (a complete checkpoint is never overwritten).
    pub async fn write_metadata(&self, bytes: Vec<u8>) -> Result<()> {
        let path = self.metadata_path();
        let options = PutOptions::from(PutMode::Create);
        self.storage
            .store
            .put_opts(&path, PutPayload::from(bytes), options)
            .await
            .map_err(|e| storage_error(&self.storage, "write", &path, e))?;
        Ok(())
    }

    /// Every object in the checkpoint's directory, with its size.
    pub async fn objects(&self) -> Result<Vec<(Path, u64)>> {
        self.storage.objects_under(&self.dir()).await
    }

    /// Deletes the checkpoint directory: `_metadata` first, so that a delete
    /// interrupted halfway leaves an aborted checkpoint (ignored, cleaned by
    /// `gc`), never a complete one with missing files.
    pub async fn delete(&self) -> Result<()> {
        self.storage.delete(&self.metadata_path()).await?;
        for (path, _) in self.objects().await? {
            self.storage.delete(&path).await?;
        }
        // A local directory left empty is removed so that `ls` shows only
        // real checkpoints.
        self.storage.remove_empty_local_dir(&self.dir());
        Ok(())
    }
}

/// Makes `memory://<name>` resolve to `store` in this process: how tests
/// and embedders plug in a store of their own (a fault-injecting wrapper,
/// another backend). Replaces any store registered under the name.
pub fn register_store(name: &str, store: Arc<dyn ObjectStore>) {
    memory_stores().lock().unwrap_or_else(|p| p.into_inner()).insert(name.to_owned(), store);
}

/// `memory://` stores, one per name, living as long as the process.
fn memory_stores() -> &'static Mutex<HashMap<String, Arc<dyn ObjectStore>>> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<dyn ObjectStore>>>> = OnceLock::new();
    STORES.get_or_init(Default::default)
}

/// `NotFound` is absence; anything else is a failure to ask. The path is
/// named as a person would write it ([`CheckpointStorage::show`]).
fn storage_error(storage: &CheckpointStorage, operation: &'static str, path: &Path, e: object_store::Error) -> Error {
    let path = storage.show(path);
    match e {
        object_store::Error::NotFound { .. } => Error::NotFound { path },
        source => Error::Storage { operation, path, source },
    }
}

fn bad_location(location: &str, reason: impl Into<String>) -> Error {
    Error::StorageLocation { location: location.to_owned(), reason: reason.into() }
}

/// The S3 retry settings: object_store's, unless `WEIR_STORAGE_MAX_RETRIES`
/// says otherwise.
fn retry_config() -> Result<object_store::RetryConfig> {
    let mut config = object_store::RetryConfig::default();
    if let Ok(value) = std::env::var(MAX_RETRIES_VAR) {
        config.max_retries = value.trim().parse().map_err(|_| {
            bad_location(&format!("{MAX_RETRIES_VAR}={value}"), "expected a number of retries, such as 3")
        })?;
        if config.max_retries == 0 {
            config.retry_timeout = Duration::ZERO;
        }
    }
    Ok(config)
}

impl CheckpointStorage {
    /// Opens a checkpoint root. A relative plain path is taken relative to
    /// `base` (the job file's directory, or the working directory).
    pub fn open(dir: &str, base: &FsPath) -> Result<Self> {
        let display = dir.to_owned();
        if let Some(rest) = dir.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad_location(dir, "no bucket in the URL"));
            }
            let store = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_retry(retry_config()?)
                .build()
                .map_err(|e| bad_location(dir, e.to_string()))?;
            let backend = format!("s3://{bucket}");
            return Ok(CheckpointStorage { store: Arc::new(store), backend, root: Path::from(prefix), display });
        }
        if let Some(rest) = dir.strip_prefix("memory://") {
            let (name, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let mut stores = memory_stores().lock().unwrap_or_else(|p| p.into_inner());
            let store = stores
                .entry(name.to_owned())
                .or_insert_with(|| Arc::new(object_store::memory::InMemory::new()))
                .clone();
            let backend = format!("memory://{name}");
            return Ok(CheckpointStorage { store, backend, root: Path::from(prefix), display });
        }
        let local = match dir.strip_prefix("file://") {
            Some(path) => FsPath::new(path).to_owned(),
            None if dir.contains("://") => {
                return Err(bad_location(dir, "unsupported URL (use a path, file://, s3:// or memory://)"));
            }
            None => base.join(dir),
        };
        if local.as_os_str().is_empty() {
            return Err(bad_location(dir, "an empty path"));
        }
        let absolute = std::path::absolute(&local).map_err(|e| bad_location(dir, e.to_string()))?;
        // object_store's paths have no `..`: it would become a directory
        // literally named `%2E%2E`. Resolve it here, by name (the
        // directory need not exist yet).
        let absolute = crate::util::normalize_lexically(&absolute);
        Ok(CheckpointStorage {
            store: Arc::new(object_store::local::LocalFileSystem::new()),
            backend: "file".into(),
            root: Path::from(absolute.to_string_lossy().trim_start_matches('/')),
            display,
        })
    }

    /// Finds the checkpoint in a checkpoint directory given under any name,
    /// or its `_metadata` file (path or URL), as `weir run -s` and `weir
    /// checkpoints inspect` take it. `chk-<n>` names its id; under any
    /// other name the id is read from `_metadata`.
    pub async fn locate(reference: &str, base: &FsPath) -> Result<CheckpointLocation> {
        let trimmed = reference.trim_end_matches('/');
        let trimmed = trimmed.strip_suffix(METADATA_FILE).unwrap_or(trimmed).trim_end_matches('/');
        let Some((parent, name)) = split_last(trimmed) else {
            return Err(bad_location(reference, "a storage root, not a checkpoint directory inside it"));
        };
        if name.is_empty() || name == "." || name == ".." {
            return Err(bad_location(reference, "not a checkpoint directory or _metadata file"));
        }
        // The parent is the job directory: opened from its own parent, so
        // that a checkpoint given by path is the same place as the job's
        // own `chk-<n>` (and shares its `shared/`).
        let (root, job_dir) = match split_last(&parent) {
            Some((root, job)) if !job.is_empty() && job != "." && job != ".." => (root, job),
            _ => (parent.clone(), String::new()),
        };
        let storage = Self::open(&root, base)?;
        let mut location = CheckpointLocation { storage, job_dir, name, checkpoint_id: 0 };
        location.checkpoint_id = match parse_checkpoint_dir(&location.name) {
            Some(id) => id,
            // Under another name, the id is the metadata's (as Flink's -s).
            None => {
                let bytes = location.storage.read_checkpoint_metadata(&location).await?;
                CheckpointMetadata::decode(&bytes)
                    .map_err(|e| Error::Restore(format!("{}: {e}", location.describe_metadata())))?
                    .checkpoint_id
            }
        };
        Ok(location)
    }

    /// Reads `_metadata` of `location`, telling "nothing at all there"
    /// apart from "a directory without `_metadata`" in the error.
    pub(crate) async fn read_checkpoint_metadata(&self, location: &CheckpointLocation) -> Result<Vec<u8>> {
        match location.read_metadata().await {
            Err(Error::NotFound { .. }) => {
                let anything = self.store.list(Some(&location.dir())).try_next().await;
                let reason = match anything {
                    Ok(None) => format!("{} does not exist", location.describe()),
                    Ok(Some(_)) => format!(
                        "{} does not exist: {} is not a complete checkpoint (an aborted one, or not a checkpoint)",
                        location.describe_metadata(),
                        location.describe()
                    ),
                    Err(e) => return Err(storage_error(&location.storage, "list", &location.dir(), e)),
                };
                Err(Error::Restore(reason))
            }
            other => other,
        }
    }

    pub fn display(&self) -> &str {
        &self.display
    }

    fn job_path(&self, job: &str) -> Path {
        match job {
            "" => self.root.clone(),
            job => self.root.clone().join(job),
        }
    }

    /// Checkpoint `id` of `job`: its `chk-<id>` directory.
    pub fn checkpoint(&self, job: &str, id: u64) -> CheckpointLocation {
        CheckpointLocation {
            storage: self.clone(),
            job_dir: job.to_owned(),
            name: checkpoint_dir_name(id),
            checkpoint_id: id,
        }
    }

    pub async fn put_file(&self, path: &Path, bytes: Vec<u8>) -> Result<()> {
        self.put_parts(path, vec![bytes.into()]).await
    }

    /// Writes one file made of `parts`, in order, without joining them in
    /// memory first.
    pub async fn put_parts(&self, path: &Path, parts: Vec<bytes::Bytes>) -> Result<()> {
        self.store
            .put(path, parts.into_iter().collect::<PutPayload>())
            .await
            .map_err(|e| storage_error(self, "write", path, e))?;
        Ok(())
    }

    /// Reads a whole object; [`Error::NotFound`] when it does not exist.
    pub async fn get(&self, path: &Path) -> Result<Vec<u8>> {
        let result = self.store.get(path).await.map_err(|e| storage_error(self, "read", path, e))?;
        let bytes = result.bytes().await.map_err(|e| storage_error(self, "read", path, e))?;
        Ok(bytes.to_vec())
    }

    /// A file at the top of a job's directory (`_lease`).
    pub fn job_file(&self, job: &str, name: &str) -> Path {
        self.job_path(job).join(name)
    }

    /// Creates an object only if none exists (a conditional put: of several
    /// racing writers exactly one wins). `false` if it already existed.
    pub async fn create(&self, path: &Path, bytes: Vec<u8>) -> Result<bool> {
        match self.store.put_opts(path, PutPayload::from(bytes), PutOptions::from(PutMode::Create)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(storage_error(self, "create", path, e)),
        }
    }

    /// The size of an object; [`Error::NotFound`] when it does not exist.
    pub async fn size(&self, path: &Path) -> Result<u64> {
        let meta = self.store.head(path).await.map_err(|e| storage_error(self, "look up", path, e))?;
        Ok(meta.size)
    }

    pub async fn get_range(&self, path: &Path, offset: u64, len: u64) -> Result<Vec<u8>> {
        let end = offset
            .checked_add(len)
            .ok_or_else(|| bad_location(path.as_ref(), format!("bad byte range {offset}..+{len}")))?;
        let bytes = self.store.get_range(path, offset..end).await.map_err(|e| storage_error(self, "read", path, e))?;
        // Without a copy when the store read into a buffer of its own (the
        // local store does): restoring a gigabyte copied it once more here.
        Ok(Vec::from(bytes))
    }

    /// Every `chk-<n>` directory of a job, with whether it is complete (has
    /// `_metadata`), sorted by id. A directory counts as aborted only when
    /// the store answers that its `_metadata` does not exist; any other
    /// answer fails the listing.
    pub async fn list_checkpoints(&self, job: &str) -> Result<Vec<(u64, bool)>> {
        let prefix = self.job_path(job);
        let listing =
            self.store.list_with_delimiter(Some(&prefix)).await.map_err(|e| storage_error(self, "list", &prefix, e))?;
        let mut found = Vec::new();
        for dir in listing.common_prefixes {
            let Some(id) = dir.filename().and_then(parse_checkpoint_dir) else { continue };
            let metadata = dir.clone().join(METADATA_FILE);
            let complete = match self.store.head(&metadata).await {
                Ok(_) => true,
                Err(object_store::Error::NotFound { .. }) => false,
                Err(e) => return Err(storage_error(self, "look up", &metadata, e)),
            };
            found.push((id, complete));
        }
        found.sort_unstable();
        Ok(found)
    }

    /// The complete checkpoints of a job, oldest first.
    pub async fn complete_checkpoints(&self, job: &str) -> Result<Vec<CheckpointLocation>> {
        Ok(self
            .list_checkpoints(job)
            .await?
            .into_iter()
            .filter(|&(_, complete)| complete)
            .map(|(id, _)| self.checkpoint(job, id))
            .collect())
    }

    /// The job directories under the root.
    pub async fn list_jobs(&self) -> Result<Vec<String>> {
        let listing = self
            .store
            .list_with_delimiter(Some(&self.root))
            .await
            .map_err(|e| storage_error(self, "list", &self.root, e))?;
        let mut jobs: Vec<String> =
            listing.common_prefixes.iter().filter_map(|p| p.filename().map(str::to_owned)).collect();
        jobs.sort();
        Ok(jobs)
    }

    /// Whether the root exists: a local directory that exists, or a prefix
    /// with at least one object under it (an object store has no empty
    /// directories).
    pub async fn exists(&self) -> Result<bool> {
        if let Some(local) = self.local_dir(&self.root) {
            return Ok(local.is_dir());
        }
        match self.store.list(Some(&self.root)).try_next().await {
            Ok(first) => Ok(first.is_some()),
            Err(e) => Err(storage_error(self, "list", &self.root, e)),
        }
    }

    /// An object's path as a person would write it: `/abs/path` on the local
    /// disk, `s3://bucket/key` or `memory://name/key` elsewhere (an object
    /// store's own paths are relative to its root).
    pub(crate) fn show(&self, path: &Path) -> String {
        match self.local_dir(path) {
            Some(local) => local.display().to_string(),
            None => format!("{}/{path}", self.backend),
        }
    }

    /// The local directory of a path, when the store is the local disk.
    fn local_dir(&self, dir: &Path) -> Option<std::path::PathBuf> {
        let remote = self.display.contains("://") && !self.display.starts_with("file://");
        (!remote).then(|| std::path::PathBuf::from(format!("/{dir}")))
    }

    /// Every object in the job's `shared/` directory.
    pub async fn shared_objects(&self, job: &str) -> Result<Vec<(Path, u64)>> {
        self.objects_under(&self.job_path(job).join(SHARED_DIR)).await
    }

    async fn objects_under(&self, prefix: &Path) -> Result<Vec<(Path, u64)>> {
        self.store
            .list(Some(prefix))
            .map_ok(|meta| (meta.location, meta.size))
            .try_collect()
            .await
            .map_err(|e| storage_error(self, "list", prefix, e))
    }

    /// Deletes an object; one already gone is fine.
    pub async fn delete(&self, path: &Path) -> Result<()> {
        match self.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(storage_error(self, "delete", path, e)),
        }
    }

    /// Removes an empty local directory left after deleting its objects.
    pub fn remove_empty_local_dir(&self, dir: &Path) {
        if let Some(local) = self.local_dir(dir) {
            let _ = std::fs::remove_dir(local);
        }
    }

    /// Removes the job directory if nothing is left in it (local only).
    pub fn remove_empty_job_dir(&self, job: &str) {
        self.remove_empty_local_dir(&self.job_path(job).join(SHARED_DIR));
        self.remove_empty_local_dir(&self.job_path(job));
    }
}

/// `…/parent/name` → (`…/parent`, `name`), for plain paths and URLs alike;
/// `None` when `reference` is a storage root (`/`, `s3://bucket`,
/// `memory://name`). A bare relative name has parent `.`.
fn split_last(reference: &str) -> Option<(String, String)> {
    // Where the path part starts: after `s3://bucket` or `memory://name`
    // (a root), after `file://`, or at 0 for a plain path.
    let path_start = match reference.find("://") {
        Some(at) if reference.starts_with("file://") => at + 3,
        Some(at) => at + 3 + reference[at + 3..].find('/')?,
        None => 0,
    };
    let (head, path) = reference.split_at(path_start);
    match path.rsplit_once('/') {
        Some(("", "")) => None,
        Some(("", name)) if head.is_empty() || head.ends_with("://") => Some((format!("{head}/"), name.to_owned())),
        Some(("", name)) => Some((head.to_owned(), name.to_owned())),
        Some((parent, name)) => Some((format!("{head}{parent}"), name.to_owned())),
        None if head.is_empty() && !path.is_empty() => Some((".".to_owned(), path.to_owned())),
        None => None,
    }
}

/// n → `chk-<n>`.
pub fn checkpoint_dir_name(id: u64) -> String {
    format!("chk-{id}")
}

/// `chk-<n>` → n.
pub fn parse_checkpoint_dir(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("chk-")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
    }

    #[test]
    fn a_local_root_with_dot_dot_is_resolved_by_name() {
        let storage = CheckpointStorage::open("a/../b/./c", FsPath::new("/jobs/x")).unwrap();
        assert_eq!(storage.root.as_ref(), "jobs/x/b/c");
        let storage = CheckpointStorage::open("file:///data/../ckpt", FsPath::new("/")).unwrap();
        assert_eq!(storage.root.as_ref(), "ckpt");
    }

    #[test]
    fn paths_in_messages_are_written_as_a_person_would() {
        let local = CheckpointStorage::open("ckpt", FsPath::new("/jobs/x")).unwrap();
        assert_eq!(local.show(&local.job_path("j").join("chk-1")), "/jobs/x/ckpt/j/chk-1");
        let memory = CheckpointStorage::open("memory://show/prefix", FsPath::new("/")).unwrap();
        assert_eq!(memory.show(&memory.job_path("j")), "memory://show/prefix/j");
        let error = block_on(local.get(&local.job_path("nothing-here")));
        assert!(matches!(error, Err(Error::NotFound { path }) if path == "/jobs/x/ckpt/nothing-here"));
    }

    #[test]
    fn references_split_into_parent_and_name_without_leaving_a_root() {
        let split = |r: &str| split_last(r).map(|(p, n)| format!("{p}|{n}"));
        assert_eq!(split("s3://bucket/a/chk-1").as_deref(), Some("s3://bucket/a|chk-1"));
        assert_eq!(split("s3://bucket/chk-1").as_deref(), Some("s3://bucket|chk-1"));
        assert_eq!(split("s3://bucket"), None);
        assert_eq!(split("memory://m/x").as_deref(), Some("memory://m|x"));
        assert_eq!(split("file:///ckpt/chk-1").as_deref(), Some("file:///ckpt|chk-1"));
        assert_eq!(split("file:///chk-1").as_deref(), Some("file:///|chk-1"));
        assert_eq!(split("/chk-1").as_deref(), Some("/|chk-1"));
        assert_eq!(split("a/chk-1").as_deref(), Some("a|chk-1"));
        assert_eq!(split("chk-1").as_deref(), Some(".|chk-1"));
        assert_eq!(split("/"), None);
    }

    #[test]
    fn checkpoint_dirs_parse_strictly() {
        assert_eq!(parse_checkpoint_dir("chk-12"), Some(12));
        for bad in ["chk-", "chk-1a", "chk--1", "chk-+1", "shared", "chk-1/x"] {
            assert_eq!(parse_checkpoint_dir(bad), None, "{bad}");
        }
    }

    #[test]
    fn locate_accepts_a_directory_or_its_metadata_file() {
        block_on(async {
            let base = FsPath::new("/work");
            for reference in
                ["/ckpt/job-1/chk-7", "/ckpt/job-1/chk-7/", "/ckpt/job-1/chk-7/_metadata", "file:///ckpt/job-1/chk-7"]
            {
                let location = CheckpointStorage::locate(reference, base).await.unwrap();
                assert_eq!(location.id(), 7, "{reference}");
                assert_eq!(location.dir(), Path::from("ckpt/job-1/chk-7"), "{reference}");
                assert_eq!(location.file(&StateFile::Shared("s".into())), Path::from("ckpt/job-1/shared/s"));
                let own = CheckpointStorage::open("/ckpt", base).unwrap();
                assert!(location.is_of_job(&own, "job-1"), "{reference}");
                assert!(!location.is_of_job(&own, "job-2"), "{reference}");
            }
            let relative = CheckpointStorage::locate("ckpt/job-1/chk-7", base).await.unwrap();
            assert_eq!(relative.dir(), Path::from("work/ckpt/job-1/chk-7"));
            let bare = CheckpointStorage::locate("chk-3", base).await.unwrap();
            assert_eq!(bare.dir(), Path::from("work/chk-3"));
            for bad in ["s3://bucket", "memory://", "/"] {
                assert!(CheckpointStorage::locate(bad, base).await.is_err(), "{bad}");
            }
        });
    }

    #[test]
    fn a_checkpoint_under_another_name_is_found_by_its_metadata() {
        block_on(async {
            let storage = CheckpointStorage::open("memory://locate-test", FsPath::new("/")).unwrap();
            let mut metadata = crate::checkpoint::metadata::tests::sample();
            metadata.checkpoint_id = 41;
            let copy = CheckpointLocation {
                storage: storage.clone(),
                job_dir: "backups".into(),
                name: "before-upgrade".into(),
                checkpoint_id: 41,
            };
            copy.write_metadata(metadata.encode()).await.unwrap();
            let found = CheckpointStorage::locate("memory://locate-test/backups/before-upgrade", FsPath::new("/"))
                .await
                .unwrap();
            assert_eq!(found.id(), 41);
            assert_eq!(found.metadata_path(), copy.metadata_path());
            let missing = CheckpointStorage::locate("memory://locate-test/backups/nope", FsPath::new("/")).await;
            let message = missing.expect_err("refused").to_string();
            assert!(message.contains("memory://locate-test/backups/nope does not exist"), "{message}");
        });
    }

    #[test]
    fn metadata_is_never_overwritten_and_listing_tells_complete_from_aborted() {
        block_on(async {
            let storage = CheckpointStorage::open("memory://storage-test", FsPath::new("/")).unwrap();
            let first = storage.checkpoint("job", 1);
            first.write_metadata(b"first".to_vec()).await.unwrap();
            assert!(first.write_metadata(b"second".to_vec()).await.is_err());
            assert_eq!(first.read_metadata().await.unwrap(), b"first");
            let second = storage.checkpoint("job", 2);
            let file = second.file(&StateFile::Exclusive("op0-0.state".into()));
            storage.put_file(&file, b"data".to_vec()).await.unwrap();
            assert_eq!(storage.list_checkpoints("job").await.unwrap(), [(1, true), (2, false)]);
            assert_eq!(storage.get_range(&file, 1, 2).await.unwrap(), b"at");
            assert!(matches!(second.read_metadata().await, Err(Error::NotFound { .. })));
            first.delete().await.unwrap();
            second.delete().await.unwrap();
            assert!(storage.list_checkpoints("job").await.unwrap().is_empty());
            assert_eq!(storage.list_jobs().await.unwrap(), Vec::<String>::new());
        });
    }
}
