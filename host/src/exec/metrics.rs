//! Live counters of a running job, shared between its tasks and whoever
//! watches it (the CLI's progress line, an embedder).
//!
//! Tasks add to them once per batch with relaxed atomics: they are
//! statistics, not synchronisation.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Counters of one operator, summed over its subtasks.
#[derive(Debug, Default)]
pub(crate) struct OperatorCounters {
    pub(crate) events_in: Counter,
    pub(crate) events_out: Counter,
}

/// All counters of one job.
#[derive(Debug)]
pub(crate) struct JobCounters {
    started: Instant,
    pub(crate) source_events: Counter,
    pub(crate) operators: Vec<(String, OperatorCounters)>,
    pub(crate) sink_events: Counter,
}

impl JobCounters {
    pub(crate) fn new(operator_names: impl IntoIterator<Item = String>) -> Arc<Self> {
        Arc::new(JobCounters {
            started: Instant::now(),
            source_events: Counter::default(),
            operators: operator_names.into_iter().map(|name| (name, OperatorCounters::default())).collect(),
            sink_events: Counter::default(),
        })
    }

    pub(crate) fn snapshot(&self) -> JobMetrics {
        JobMetrics {
            elapsed: self.started.elapsed(),
            source_events: self.source_events.get(),
            operators: self
                .operators
                .iter()
                .map(|(name, c)| OperatorMetrics {
                    name: name.clone(),
                    events_in: c.events_in.get(),
                    events_out: c.events_out.get(),
                })
                .collect(),
            sink_events: self.sink_events.get(),
        }
    }
}

/// A point-in-time copy of a job's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobMetrics {
    /// Time since the job started.
    pub elapsed: Duration,
    /// Events the source emitted.
    pub source_events: u64,
    /// Per operator, in job order.
    pub operators: Vec<OperatorMetrics>,
    /// Events the sink received.
    pub sink_events: u64,
}

/// Events into and out of one operator, over all its subtasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorMetrics {
    pub name: String,
    pub events_in: u64,
    pub events_out: u64,
}

impl JobMetrics {
    /// Source events per second since the start.
    pub fn source_rate(&self) -> f64 {
        self.source_events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}
