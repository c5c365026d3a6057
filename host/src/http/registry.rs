//! The registry of jobs a server shows ([`Jobs`]), and the point-in-time
//! view of one job ([`Snapshot`]) that the JSON and the metrics are made of.

use std::sync::{Arc, Mutex};

use crate::checkpoint::stats::CheckpointHistory;
use crate::exec::{JobMetrics, JobObserver, JobOutcome};
use crate::job::graph::JobGraph;

/// The jobs a server shows: a registry the embedder adds jobs to and removes
/// them from while the server runs. Cheap to clone; clones share the jobs.
#[derive(Clone, Default)]
pub struct Jobs {
    inner: Arc<Mutex<Vec<Entry>>>,
}

#[derive(Clone)]
pub(super) struct Entry {
    pub(super) observer: JobObserver,
    /// A cancel came through the API.
    pub(super) cancel_requested: bool,
}

impl Jobs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Shows a job (replacing one with the same id), while it runs and
    /// after it has ended, until [`Jobs::remove`].
    pub fn add(&self, observer: JobObserver) {
        self.insert(Entry { observer, cancel_requested: false });
    }

    pub(super) fn insert(&self, entry: Entry) {
        let mut jobs = self.lock();
        match jobs.iter_mut().find(|e| e.observer.id() == entry.observer.id()) {
            Some(existing) => *existing = entry,
            None => jobs.push(entry),
        }
    }

    /// Stops showing a job; false if it was not shown.
    pub fn remove(&self, id: &str) -> bool {
        let mut jobs = self.lock();
        let before = jobs.len();
        jobs.retain(|e| e.observer.id() != id);
        jobs.len() != before
    }

    /// The ids of the jobs shown, in the order they were added.
    pub fn ids(&self) -> Vec<String> {
        self.lock().iter().map(|e| e.observer.id().to_owned()).collect()
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn get(&self, id: &str) -> Option<Entry> {
        self.lock().iter().find(|e| e.observer.id() == id).cloned()
    }

    pub(super) fn all(&self) -> Vec<Entry> {
        self.lock().clone()
    }

    pub(super) fn mark_cancel_requested(&self, id: &str) {
        if let Some(entry) = self.lock().iter_mut().find(|e| e.observer.id() == id) {
            entry.cancel_requested = true;
        }
    }
}

/// A point-in-time view of one job: what the JSON and the metrics are made
/// of (so that both are pure functions, tested without a running job).
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) status: &'static str,
    pub(crate) running: bool,
    pub(crate) error: Option<String>,
    pub(crate) metrics: JobMetrics,
    pub(crate) graph: Option<JobGraph>,
    pub(crate) restarts: u32,
    pub(crate) failures: std::collections::BTreeMap<&'static str, u64>,
    pub(crate) checkpoints: CheckpointHistory,
}

impl Entry {
    pub(super) fn status(&self) -> &'static str {
        match self.observer.outcome() {
            Some(JobOutcome::Finished) => return "FINISHED",
            Some(JobOutcome::Cancelled) => return "CANCELED",
            Some(JobOutcome::Failed(_)) => return "FAILED",
            None => {}
        }
        if !self.observer.is_running() {
            return "ENDED";
        }
        if self.cancel_requested {
            return "CANCELLING";
        }
        // Between two attempts the job has no counters (and every running
        // attempt has at least one operator).
        if self.observer.metrics().operators.is_empty() { "RESTARTING" } else { "RUNNING" }
    }

    pub(super) fn snapshot(&self) -> Snapshot {
        Snapshot {
            id: self.observer.id().to_owned(),
            name: self.observer.name().to_owned(),
            status: self.status(),
            running: self.observer.is_running(),
            error: match self.observer.outcome() {
                Some(JobOutcome::Failed(error)) => Some(error),
                _ => None,
            },
            // The last attempt's counters stay readable once the job ended.
            metrics: self.observer.metrics(),
            graph: Some(self.observer.graph().clone()),
            restarts: self.observer.restarts(),
            failures: self.observer.failures(),
            checkpoints: self.observer.checkpoint_stats(),
        }
    }
}
