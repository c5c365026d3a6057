//! One writer per job: a lease object `<dir>/<job-id>/_lease`.
//!
//! A host creates it with a conditional put (`PutMode::Create`: exactly one
//! of several racing hosts wins, on a local disk and on S3 alike), renews it
//! every third of its time-to-live while the job runs, and deletes it when
//! the job ends. A host that finds a lease refuses to start and names the
//! owner, unless the lease is stale: expired, or held by a process on this
//! same host that no longer exists (so `kill -9` and an immediate
//! `--resume` work without waiting for the expiry). A renewal that finds
//! someone else's lease fails the job: it must stop writing.

use std::sync::Arc;
use std::time::Duration;

use crate::util::now_ms;

use object_store::path::Path;
use serde::{Deserialize, Serialize};

use super::storage::CheckpointStorage;
use crate::error::{Error, Result};

/// Lease time-to-live when `[checkpoint]` does not say.
pub use crate::job::checkpointing::DEFAULT_LEASE_TTL;
pub const LEASE_FILE: &str = "_lease";

/// What the lease object holds (JSON, so that a person can read it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecord {
    pub host: String,
    pub pid: u32,
    /// The process's start time (Linux clock ticks since boot), so that a
    /// reused pid is not mistaken for the owner.
    pub process_start: Option<u64>,
    /// Unique per acquisition: tells this run's lease from any other.
    pub token: String,
    pub expires_at_ms: u64,
}

impl LeaseRecord {
    fn describe(&self) -> String {
        format!("{} (pid {})", self.host, self.pid)
    }

    /// Expired, or its process is known to be gone.
    fn is_stale(&self, now_ms: u64) -> bool {
        if now_ms > self.expires_at_ms {
            return true;
        }
        self.host == host_name() && process_start(self.pid).is_none_or(|start| Some(start) != self.process_start)
    }
}

/// Who runs `job` now, if anyone: the holder of a lease that is not stale
/// (`weir checkpoints gc` leaves such a job alone, since its checkpoint in
/// flight looks aborted). Only a lease that does not exist means nobody; a
/// lease that cannot be read is an error (the job may well be running).
pub async fn active_holder(storage: &CheckpointStorage, job: &str) -> Result<Option<String>> {
    let path = storage.job_file(job, LEASE_FILE);
    let bytes = match storage.get(&path).await {
        Ok(bytes) => bytes,
        Err(Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    // An unparsable lease was not written by a live host of this version:
    // it holds nothing.
    let Ok(record) = serde_json::from_slice::<LeaseRecord>(&bytes) else { return Ok(None) };
    Ok((!record.is_stale(now_ms())).then(|| record.describe()))
}

/// A lease held by this process. Dropping it stops renewing; call
/// [`Lease::release`] to delete it.
pub(crate) struct Lease {
    storage: CheckpointStorage,
    job: String,
    path: Path,
    record: LeaseRecord,
    /// The renewal task and what stops it.
    renewal: Option<(tokio::task::JoinHandle<()>, tokio::sync::oneshot::Sender<()>)>,
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

/// Field 22 of `/proc/<pid>/stat`; `None` when the process does not exist
/// (or there is no `/proc`).
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces; fields after it are plain.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

impl Lease {
    /// Takes the lease of `job`, or says who holds it.
    pub(crate) async fn acquire(storage: &CheckpointStorage, job: &str, ttl: Duration) -> Result<Lease> {
        let path = storage.job_file(job, LEASE_FILE);
        let record = LeaseRecord {
            host: host_name(),
            pid: std::process::id(),
            process_start: process_start(std::process::id()),
            token: crate::util::random_hex(16),
            expires_at_ms: now_ms() + ttl.as_millis() as u64,
        };
        for _ in 0..2 {
            let bytes = serde_json::to_vec(&record).unwrap_or_default();
            if storage.create(&path, bytes).await? {
                tracing::debug!("acquired the lease of job {job}");
                return Ok(Lease { storage: storage.clone(), job: job.to_owned(), path, record, renewal: None });
            }
            let holder = match storage.get(&path).await {
                Ok(bytes) => serde_json::from_slice::<LeaseRecord>(&bytes).ok(),
                // Deleted between our create and our read: try again.
                Err(Error::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            match holder {
                Some(holder) if !holder.is_stale(now_ms()) => {
                    return Err(Error::Lease(format!(
                        "job {job} is already running on {}: its lease ({}/{job}/{LEASE_FILE}) is valid for another \
                         {} s; stop that run first",
                        holder.describe(),
                        storage.display(),
                        holder.expires_at_ms.saturating_sub(now_ms()).div_ceil(1000)
                    )));
                }
                holder => {
                    let who = holder.map_or_else(|| "an unreadable lease".to_owned(), |h| h.describe());
                    tracing::warn!("taking over the stale lease of job {job} from {who}");
                    storage.delete(&path).await?;
                }
            }
        }
        Err(Error::Lease(format!("job {job}: another host took the lease while this one was taking over")))
    }

    /// Renews the lease every third of `ttl` on `runtime`; calls `lost`
    /// (once) if the lease turns out to belong to someone else.
    pub(crate) fn keep_renewing(
        &mut self,
        runtime: &tokio::runtime::Handle,
        ttl: Duration,
        lost: Arc<dyn Fn(Error) + Send + Sync>,
    ) {
        let (storage, path, mut record) = (self.storage.clone(), self.path.clone(), self.record.clone());
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = runtime.spawn(async move {
            loop {
                // Stopped only between renewals: a write in flight always
                // finishes, so `release` never races a late renewal.
                tokio::select! {
                    _ = tokio::time::sleep(ttl / 3) => {}
                    _ = &mut stopped => return,
                }
                let current = match storage.get(&path).await {
                    Ok(bytes) => serde_json::from_slice::<LeaseRecord>(&bytes).ok(),
                    Err(Error::NotFound { .. }) => None,
                    // Could not ask: the lease is still ours until it
                    // expires; past that, another host may take it over,
                    // so this one must stop writing.
                    Err(e) if now_ms() < record.expires_at_ms => {
                        tracing::warn!("cannot check the job's lease (will retry): {e}");
                        continue;
                    }
                    Err(e) => {
                        lost(Error::Lease(format!(
                            "could not renew the job's lease before it expired ({e}): stopping so that only one \
                             host writes"
                        )));
                        return;
                    }
                };
                if current.as_ref().map(|c| &c.token) != Some(&record.token) {
                    let who = current.map_or_else(|| "nobody (it was deleted)".to_owned(), |c| c.describe());
                    lost(Error::Lease(format!("lost the job's lease to {who}: stopping so that only one host writes")));
                    return;
                }
                // `record` keeps the expiry the store holds until a renewal
                // is known to be written.
                let renewed = LeaseRecord { expires_at_ms: now_ms() + ttl.as_millis() as u64, ..record.clone() };
                match storage.put_file(&path, serde_json::to_vec(&renewed).unwrap_or_default()).await {
                    Ok(()) => record = renewed,
                    Err(e) if now_ms() < record.expires_at_ms => {
                        tracing::warn!("cannot renew the job's lease (will retry): {e}")
                    }
                    Err(e) => {
                        lost(Error::Lease(format!(
                            "could not renew the job's lease before it expired ({e}): stopping so that only one \
                             host writes"
                        )));
                        return;
                    }
                }
            }
        });
        self.renewal = Some((task, stop));
    }

    /// Stops renewing and deletes the lease if it is still ours.
    pub(crate) async fn release(mut self) {
        if let Some((task, stop)) = self.renewal.take() {
            let _ = stop.send(());
            let _ = task.await;
        }
        let ours = self
            .storage
            .get(&self.path)
            .await
            .ok()
            .and_then(|b| serde_json::from_slice::<LeaseRecord>(&b).ok())
            .is_some_and(|current| current.token == self.record.token);
        if ours && let Err(e) = self.storage.delete(&self.path).await {
            tracing::warn!("cannot release the job's lease: {e}");
        }
        self.storage.remove_empty_job_dir(&self.job);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
    }

    #[test]
    fn one_holder_at_a_time_and_stale_leases_are_taken_over() {
        block_on(async {
            let storage = CheckpointStorage::open("memory://lease-test", std::path::Path::new("/")).unwrap();
            let ttl = Duration::from_secs(60);
            let first = Lease::acquire(&storage, "job", ttl).await.unwrap();
            // This very process holds it: not stale, so refused, naming it.
            let err = Lease::acquire(&storage, "job", ttl).await.err().expect("second acquire refused");
            assert!(err.to_string().contains(&format!("pid {}", std::process::id())), "{err}");
            first.release().await;
            let second = Lease::acquire(&storage, "job", ttl).await.unwrap();

            // A lease of a dead process on this host is stale at once...
            let path = storage.job_file("job", LEASE_FILE);
            let dead = LeaseRecord { pid: u32::MAX - 1, ..second.record.clone() };
            storage.put_file(&path, serde_json::to_vec(&dead).unwrap()).await.unwrap();
            let third = Lease::acquire(&storage, "job", ttl).await.unwrap();
            // ...another host's only once expired.
            let remote = LeaseRecord { host: "elsewhere".into(), ..third.record.clone() };
            storage.put_file(&path, serde_json::to_vec(&remote).unwrap()).await.unwrap();
            let err = Lease::acquire(&storage, "job", ttl).await.err().expect("remote lease refused");
            assert!(err.to_string().contains("elsewhere"), "{err}");
            let expired = LeaseRecord { expires_at_ms: 1, ..remote };
            storage.put_file(&path, serde_json::to_vec(&expired).unwrap()).await.unwrap();
            assert!(Lease::acquire(&storage, "job", ttl).await.is_ok());
        });
    }

    #[test]
    fn this_process_has_a_start_time() {
        assert!(process_start(std::process::id()).is_some());
        assert_eq!(process_start(u32::MAX - 1), None);
    }
}
