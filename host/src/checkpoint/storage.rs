//! Where checkpoints live: one `object_store` backend chosen by URL, and the
//! directory layout inside it (DESIGN.md, a contract).
//!
//! ```text
//! <dir>/<job-id>/chk-<n>/_metadata     written last, atomically, never overwritten
//! <dir>/<job-id>/chk-<n>/<files>       state exclusive to checkpoint n
//! <dir>/<job-id>/shared/<files>        files shared by several checkpoints
//! <dir>/<job-id>/taskowned/<files>     owned by tasks, never deleted by retention
//! ```
//!
//! `dir` is a plain path (the default), `file:///abs/path`,
//! `s3://bucket/prefix` (credentials, region and endpoint from the usual
//! `AWS_*` environment variables) or `memory://name` (one store per name and
//! process, for tests and embedders). Callers never branch on the backend.

use std::collections::HashMap;
use std::path::Path as FsPath;
use std::sync::{Arc, Mutex, OnceLock};

use futures_util::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use super::metadata::StateFile;
use crate::error::{Error, Result};

pub const METADATA_FILE: &str = "_metadata";
pub const SHARED_DIR: &str = "shared";
pub const TASK_OWNED_DIR: &str = "taskowned";

/// A checkpoint root (`dir` in the job file) opened on its backend.
#[derive(Clone)]
pub struct CheckpointStorage {
    store: Arc<dyn ObjectStore>,
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

/// One `chk-<n>` directory: which storage, which job directory, which id.
#[derive(Debug, Clone)]
pub struct CheckpointLocation {
    pub storage: CheckpointStorage,
    /// The job directory's name (normally the job id).
    pub job_dir: String,
    pub checkpoint_id: u64,
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

fn storage_error(what: impl std::fmt::Display, e: impl std::fmt::Display) -> Error {
    Error::Storage(format!("{what}: {e}"))
}

impl CheckpointStorage {
    /// Opens a checkpoint root. A relative plain path is taken relative to
    /// `base` (the job file's directory, or the working directory).
    pub fn open(dir: &str, base: &FsPath) -> Result<Self> {
        let display = dir.to_owned();
        if let Some(rest) = dir.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(Error::Storage(format!("{dir}: no bucket in the URL")));
            }
            let store = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map_err(|e| storage_error(dir, e))?;
            return Ok(CheckpointStorage { store: Arc::new(store), root: Path::from(prefix), display });
        }
        if let Some(name) = dir.strip_prefix("memory://") {
            let mut stores = memory_stores().lock().unwrap_or_else(|p| p.into_inner());
            let store = stores
                .entry(name.to_owned())
                .or_insert_with(|| Arc::new(object_store::memory::InMemory::new()))
                .clone();
            return Ok(CheckpointStorage { store, root: Path::default(), display });
        }
        let local = match dir.strip_prefix("file://") {
            Some(path) => FsPath::new(path).to_owned(),
            None if dir.contains("://") => {
                return Err(Error::Storage(format!(
                    "{dir}: unsupported URL (use a path, file://, s3:// or memory://)"
                )));
            }
            None => base.join(dir),
        };
        let absolute = std::path::absolute(&local).map_err(|e| storage_error(local.display(), e))?;
        // object_store's paths have no `..`: it would become a directory
        // literally named `%2E%2E`. Resolve it here, by name (the
        // directory need not exist yet).
        let absolute = absolute.components().fold(std::path::PathBuf::new(), |mut path, part| {
            match part {
                std::path::Component::ParentDir => {
                    path.pop();
                }
                std::path::Component::CurDir => {}
                other => path.push(other),
            }
            path
        });
        Ok(CheckpointStorage {
            store: Arc::new(object_store::local::LocalFileSystem::new()),
            root: Path::from(absolute.to_string_lossy().trim_start_matches('/')),
            display,
        })
    }

    /// Opens the storage holding a checkpoint given as its `chk-<n>`
    /// directory or its `_metadata` file (path or URL), as `weir run -s` and
    /// `weir checkpoints inspect` take it.
    pub fn locate(reference: &str, base: &FsPath) -> Result<CheckpointLocation> {
        let trimmed = reference.trim_end_matches('/');
        let trimmed = trimmed.strip_suffix(METADATA_FILE).unwrap_or(trimmed).trim_end_matches('/');
        let bad = || {
            Error::Storage(format!(
                "{reference}: not a checkpoint: expected <dir>/<job-id>/chk-<n> or its {METADATA_FILE} file"
            ))
        };
        let (job_path, chk) = trimmed.rsplit_once('/').ok_or_else(bad)?;
        let checkpoint_id = parse_checkpoint_dir(chk).ok_or_else(bad)?;
        let (root, job_dir) = job_path.rsplit_once('/').unwrap_or((".", job_path));
        // `s3://bucket/job/chk-1` has root `s3://bucket`; a relative
        // `job/chk-1` has root `.`.
        let root = if root.is_empty() { "/" } else { root };
        if job_dir.is_empty() {
            return Err(bad());
        }
        Ok(CheckpointLocation { storage: Self::open(root, base)?, job_dir: job_dir.to_owned(), checkpoint_id })
    }

    pub fn display(&self) -> &str {
        &self.display
    }

    fn job_path(&self, job: &str) -> Path {
        self.root.clone().join(job)
    }

    /// The `chk-<n>` directory of a job.
    pub fn checkpoint_dir(&self, job: &str, id: u64) -> Path {
        self.checkpoint_path(job, id)
    }

    fn checkpoint_path(&self, job: &str, id: u64) -> Path {
        self.job_path(job).join(format!("chk-{id}"))
    }

    /// Where a data file of checkpoint `id` lives.
    pub fn file_path(&self, job: &str, id: u64, file: &StateFile) -> Path {
        match file {
            StateFile::Exclusive(name) => self.checkpoint_path(job, id).join(name.as_str()),
            StateFile::Shared(name) => self.job_path(job).join(SHARED_DIR).join(name.as_str()),
        }
    }

    /// Human-readable location of a checkpoint directory.
    pub fn describe(&self, job: &str, id: u64) -> String {
        format!("{}/{job}/chk-{id}", self.display.trim_end_matches('/'))
    }

    pub async fn put_file(&self, path: &Path, bytes: Vec<u8>) -> Result<()> {
        self.put_parts(path, vec![bytes.into()]).await
    }

    /// Writes one file made of `parts`, in order, without joining them in
    /// memory first.
    pub async fn put_parts(&self, path: &Path, parts: Vec<bytes::Bytes>) -> Result<()> {
        self.store.put(path, parts.into_iter().collect::<PutPayload>()).await.map_err(|e| storage_error(path, e))?;
        Ok(())
    }

    /// Writes `_metadata` of checkpoint `id`: atomically, and refusing to
    /// replace an existing one (a complete checkpoint is never overwritten).
    pub async fn put_metadata(&self, job: &str, id: u64, bytes: Vec<u8>) -> Result<()> {
        let path = self.checkpoint_path(job, id).join(METADATA_FILE);
        let options = PutOptions::from(PutMode::Create);
        self.store
            .put_opts(&path, PutPayload::from(bytes), options)
            .await
            .map_err(|e| storage_error(format!("cannot write {path}"), e))?;
        Ok(())
    }

    pub async fn get_metadata(&self, job: &str, id: u64) -> Result<Vec<u8>> {
        let path = self.checkpoint_path(job, id).join(METADATA_FILE);
        self.get(&path).await
    }

    pub async fn get(&self, path: &Path) -> Result<Vec<u8>> {
        let result = self.store.get(path).await.map_err(|e| storage_error(format!("cannot read {path}"), e))?;
        let bytes = result.bytes().await.map_err(|e| storage_error(format!("cannot read {path}"), e))?;
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
            Err(e) => Err(storage_error(format!("cannot create {path}"), e)),
        }
    }

    /// The size of an object, or an error if it does not exist.
    pub async fn size(&self, path: &Path) -> Result<u64> {
        let meta = self.store.head(path).await.map_err(|e| storage_error(format!("cannot find {path}"), e))?;
        Ok(meta.size)
    }

    pub async fn get_range(&self, path: &Path, offset: u64, len: u64) -> Result<Vec<u8>> {
        let end = offset.checked_add(len).ok_or_else(|| Error::Storage(format!("{path}: bad range")))?;
        let bytes = self
            .store
            .get_range(path, offset..end)
            .await
            .map_err(|e| storage_error(format!("cannot read {path} bytes {offset}..{end}"), e))?;
        Ok(bytes.to_vec())
    }

    /// Every `chk-<n>` directory of a job, with whether it is complete (has
    /// `_metadata`), sorted by id.
    pub async fn list_checkpoints(&self, job: &str) -> Result<Vec<(u64, bool)>> {
        let prefix = self.job_path(job);
        let listing = self
            .store
            .list_with_delimiter(Some(&prefix))
            .await
            .map_err(|e| storage_error(format!("cannot list {prefix}"), e))?;
        let mut found = Vec::new();
        for dir in listing.common_prefixes {
            let Some(id) = dir.filename().and_then(parse_checkpoint_dir) else { continue };
            let complete = self.store.head(&dir.clone().join(METADATA_FILE)).await.is_ok();
            found.push((id, complete));
        }
        found.sort_unstable();
        Ok(found)
    }

    /// The job directories under the root.
    pub async fn list_jobs(&self) -> Result<Vec<String>> {
        let listing = self
            .store
            .list_with_delimiter(Some(&self.root))
            .await
            .map_err(|e| storage_error(format!("cannot list {}", self.display), e))?;
        let mut jobs: Vec<String> =
            listing.common_prefixes.iter().filter_map(|p| p.filename().map(str::to_owned)).collect();
        jobs.sort();
        Ok(jobs)
    }

    /// Every object under a checkpoint directory, with its size.
    pub async fn checkpoint_objects(&self, job: &str, id: u64) -> Result<Vec<(Path, u64)>> {
        self.objects_under(&self.checkpoint_path(job, id)).await
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
            .map_err(|e| storage_error(format!("cannot list {prefix}"), e))
    }

    /// Deletes a checkpoint directory: `_metadata` first, so that a delete
    /// interrupted halfway leaves an aborted checkpoint (ignored, cleaned by
    /// `gc`), never a complete one with missing files.
    pub async fn delete_checkpoint(&self, job: &str, id: u64) -> Result<()> {
        let metadata = self.checkpoint_path(job, id).join(METADATA_FILE);
        match self.store.delete(&metadata).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(storage_error(format!("cannot delete {metadata}"), e)),
        }
        for (path, _) in self.checkpoint_objects(job, id).await? {
            self.delete(&path).await?;
        }
        // A local directory left empty is removed so that `ls` shows only
        // real checkpoints.
        self.remove_empty_local_dir(&self.checkpoint_path(job, id));
        Ok(())
    }

    pub async fn delete(&self, path: &Path) -> Result<()> {
        match self.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(storage_error(format!("cannot delete {path}"), e)),
        }
    }

    /// Removes an empty local directory left after deleting its objects.
    pub fn remove_empty_local_dir(&self, dir: &Path) {
        if self.display.contains("://") && !self.display.starts_with("file://") {
            return;
        }
        let local = std::path::PathBuf::from(format!("/{dir}"));
        let _ = std::fs::remove_dir(local);
    }

    /// Removes the job directory if nothing is left in it (local only).
    pub fn remove_empty_job_dir(&self, job: &str) {
        self.remove_empty_local_dir(&self.job_path(job).join(SHARED_DIR));
        self.remove_empty_local_dir(&self.job_path(job));
    }
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
    #[test]
    fn a_local_root_with_dot_dot_is_resolved_by_name() {
        let storage = CheckpointStorage::open("a/../b/./c", FsPath::new("/jobs/x")).unwrap();
        assert_eq!(storage.root.as_ref(), "jobs/x/b/c");
        let storage = CheckpointStorage::open("file:///data/../ckpt", FsPath::new("/")).unwrap();
        assert_eq!(storage.root.as_ref(), "ckpt");
    }

    use super::*;

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
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
        let base = FsPath::new("/work");
        for reference in
            ["/ckpt/job-1/chk-7", "/ckpt/job-1/chk-7/", "/ckpt/job-1/chk-7/_metadata", "file:///ckpt/job-1/chk-7"]
        {
            let location = CheckpointStorage::locate(reference, base).unwrap();
            assert_eq!((location.job_dir.as_str(), location.checkpoint_id), ("job-1", 7), "{reference}");
            assert_eq!(location.storage.root, Path::from("ckpt"), "{reference}");
        }
        let relative = CheckpointStorage::locate("ckpt/job-1/chk-7", base).unwrap();
        assert_eq!(relative.storage.root, Path::from("work/ckpt"));
        for bad in ["/ckpt/job-1", "/ckpt/job-1/chk-x/_metadata", "chk-1", "memory:///chk-1"] {
            assert!(CheckpointStorage::locate(bad, base).is_err(), "{bad}");
        }
    }

    #[test]
    fn metadata_is_never_overwritten_and_listing_tells_complete_from_aborted() {
        block_on(async {
            let storage = CheckpointStorage::open("memory://storage-test", FsPath::new("/")).unwrap();
            storage.put_metadata("job", 1, b"first".to_vec()).await.unwrap();
            assert!(storage.put_metadata("job", 1, b"second".to_vec()).await.is_err());
            assert_eq!(storage.get_metadata("job", 1).await.unwrap(), b"first");
            let file = storage.file_path("job", 2, &StateFile::Exclusive("op0-0.state".into()));
            storage.put_file(&file, b"data".to_vec()).await.unwrap();
            assert_eq!(storage.list_checkpoints("job").await.unwrap(), [(1, true), (2, false)]);
            assert_eq!(storage.get_range(&file, 1, 2).await.unwrap(), b"at");
            storage.delete_checkpoint("job", 1).await.unwrap();
            storage.delete_checkpoint("job", 2).await.unwrap();
            assert!(storage.list_checkpoints("job").await.unwrap().is_empty());
            assert_eq!(storage.list_jobs().await.unwrap(), Vec::<String>::new());
        });
    }
}
