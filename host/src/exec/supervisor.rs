//! The supervisor: runs a job's attempts one after another. When an attempt
//! fails and the restart strategy allows, the job is restored in process
//! from its newest complete checkpoint (or started over when it has none):
//! new guest instances (nothing of a trapped store is reused), the source
//! rewound, staged sink output discarded. When the strategy gives up, the
//! job fails with the cause and the "fails" retention column applies.
//!
//! [`RunningJob`] is the embedder's handle on all of it.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::restart::{RestartStrategy, Restarts};
use super::{Attempt, AttemptControl, AttemptEnd, JobMetrics, Prepared};
use crate::checkpoint::lease::Lease;
use crate::checkpoint::retention::JobEnd;
use crate::checkpoint::stats::{CheckpointHistory, SharedHistory};
use crate::checkpoint::storage::CheckpointLocation;
use crate::error::{Error, Result};
use crate::job::graph::JobGraph;

/// How a job ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    /// The source was exhausted and every event reached the sink.
    Finished,
    /// [`RunningJob::cancel`] stopped it.
    Cancelled,
}

/// The outcome of a job that did not fail.
#[derive(Debug, Clone)]
pub struct JobReport {
    pub status: JobStatus,
    /// Counters of the last attempt.
    pub metrics: JobMetrics,
    /// Restarts after failures.
    pub restarts: u32,
}

/// Prepares the next attempt of a job after a restart: reads the restore
/// point, reopens and rewinds the source, cleans up the sink.
pub(crate) trait AttemptFactory: Send {
    /// `owned`: the complete checkpoints the job owns now, oldest first;
    /// the newest is the restore point.
    fn prepare(&mut self, attempt: u32, owned: Vec<CheckpointLocation>) -> Result<Prepared>;

    /// Applies retention to owned checkpoints when the job ends between
    /// attempts (cancelled during a restart delay).
    fn release(&mut self, owned: Vec<CheckpointLocation>, end: JobEnd);
}

/// State shared by the handle and the supervisor thread.
struct Control {
    cancelled: AtomicBool,
    restarts: AtomicU32,
    current: Mutex<Option<AttemptControl>>,
    /// Set when the job's lease went to another host: no restart then.
    lease_lost: Mutex<Option<Error>>,
    /// Failed attempts by `Error::kind`.
    failures: Mutex<std::collections::BTreeMap<&'static str, u64>>,
    /// The last failure's message, while the job restarts.
    last_error: Mutex<Option<String>>,
    /// The supervisor is done: the job ended, however.
    ended: AtomicBool,
    /// How it ended; set just before `ended`.
    outcome: Mutex<Option<JobOutcome>>,
}

/// How a job ended, as a [`JobObserver`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    Finished,
    Cancelled,
    /// The job failed (after its restart strategy gave up): the error.
    Failed(String),
}

impl Control {
    fn current(&self) -> Option<AttemptControl> {
        self.current.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        if let Some(attempt) = self.current() {
            attempt.cancel();
        }
    }
}

/// A job that is running. Dropping the handle does not stop the job; call
/// [`RunningJob::cancel`] and then [`RunningJob::wait`].
pub struct RunningJob {
    observer: JobObserver,
    supervisor: JoinHandle<Result<JobReport>>,
}

/// Cancels a running job from anywhere (a signal handler, another thread).
#[derive(Clone)]
pub struct CancelHandle(Arc<Control>);

impl CancelHandle {
    /// Asks the job to stop; in-flight work stops and `wait` returns
    /// [`JobStatus::Cancelled`].
    pub fn cancel(&self) {
        self.0.cancel();
    }
}

impl RunningJob {
    pub fn id(&self) -> &str {
        self.observer.id()
    }

    pub fn name(&self) -> &str {
        self.observer.name()
    }

    /// The counters of the attempt running now (of the last one, once the
    /// job has ended).
    pub fn metrics(&self) -> JobMetrics {
        self.observer.metrics()
    }

    /// Restarts after failures so far.
    pub fn restarts(&self) -> u32 {
        self.observer.restarts()
    }

    /// Whether the job is between attempts, and why (see
    /// [`JobObserver::restarting`]).
    pub fn restarting(&self) -> Option<Restarting> {
        self.observer.restarting()
    }

    /// Failed attempts so far, by [`Error::kind`] (a guest trap, a breached
    /// limit, a storage error...).
    pub fn failures(&self) -> std::collections::BTreeMap<&'static str, u64> {
        self.observer.failures()
    }

    /// The job's checkpoint statistics: counts and the recent history,
    /// across restarts (and, for checkpoints still on disk, across hosts).
    pub fn checkpoint_stats(&self) -> CheckpointHistory {
        self.observer.checkpoint_stats()
    }

    /// A handle that reads the checkpoint statistics and metrics and can
    /// trigger checkpoints or cancel the job; cheap to clone and `Send`: for
    /// a server thread that watches a job while another thread waits for it.
    pub fn observer(&self) -> JobObserver {
        self.observer.clone()
    }

    /// True once the job has ended ([`RunningJob::wait`] will not block).
    pub fn is_finished(&self) -> bool {
        self.supervisor.is_finished()
    }

    pub fn cancel(&self) {
        self.observer.cancel();
    }

    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle(self.observer.control.clone())
    }

    /// Takes a checkpoint now (after the one in flight, if any) and blocks
    /// until it is complete; returns its id. Needs a `[checkpoint]`
    /// configuration.
    pub fn trigger_checkpoint(&self) -> Result<u64> {
        self.observer.trigger_checkpoint()
    }

    /// Blocks until the job has ended and its end is settled: output
    /// committed (finished jobs) and retention applied. A failure is
    /// returned as the error that made the job give up.
    pub fn wait(self) -> Result<JobReport> {
        self.supervisor
            .join()
            .unwrap_or_else(|_| Err(Error::Usage("internal error: the job supervisor panicked (see the log)".into())))
    }
}

/// A job between attempts: see [`JobObserver::restarting`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restarting {
    /// The restart being prepared (1 for the first).
    pub attempt: u32,
    /// What made the previous attempt fail (or the last preparation).
    pub last_error: String,
}

/// What [`RunningJob::observer`] returns: a view of a job that does not own
/// it (the owner still `wait`s for it).
#[derive(Clone)]
pub struct JobObserver {
    id: String,
    name: String,
    control: Arc<Control>,
    history: SharedHistory,
    graph: Arc<JobGraph>,
}

impl JobObserver {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The counters of the attempt running now (of the last one, once the
    /// job has ended).
    pub fn metrics(&self) -> JobMetrics {
        self.control.current().map(|attempt| attempt.metrics()).unwrap_or_default()
    }

    pub fn restarts(&self) -> u32 {
        self.control.restarts.load(Ordering::Relaxed)
    }

    /// Failed attempts so far, by [`Error::kind`].
    pub fn failures(&self) -> std::collections::BTreeMap<&'static str, u64> {
        self.control.failures.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// While the job is between a failed attempt and the next (waiting for
    /// the restart delay, or restoring): which restart comes, and why.
    /// `None` while an attempt runs and once the job has ended.
    pub fn restarting(&self) -> Option<Restarting> {
        if self.control.current().is_some() || !self.is_running() {
            return None;
        }
        let last_error = self.control.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone()?;
        Some(Restarting { attempt: self.restarts(), last_error })
    }

    /// Checkpoint counts and the recent history (see [`CheckpointHistory`]).
    pub fn checkpoint_stats(&self) -> CheckpointHistory {
        self.history.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Takes a checkpoint now (after the one in flight, if any) and blocks
    /// until it is complete; returns its id.
    pub fn trigger_checkpoint(&self) -> Result<u64> {
        match self.control.current() {
            Some(attempt) => attempt.trigger_checkpoint(),
            None => Err(Error::Usage("the job is between attempts or has ended".into())),
        }
    }

    pub fn cancel(&self) {
        self.control.cancel();
    }

    /// Whether the job is still running (or between restarts).
    pub fn is_running(&self) -> bool {
        !self.control.ended.load(Ordering::SeqCst)
    }

    /// How the job ended; `None` while it runs.
    pub fn outcome(&self) -> Option<JobOutcome> {
        self.control.outcome.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The job's operators, their parallelism and their input edges.
    pub fn graph(&self) -> &JobGraph {
        &self.graph
    }
}

/// What a job's observers are told about it, fixed at its start.
pub(crate) struct JobIdentity {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) graph: JobGraph,
    pub(crate) history: SharedHistory,
}

/// Starts the supervisor thread on an already prepared first attempt.
pub(crate) fn supervise(
    job: JobIdentity,
    first: Prepared,
    factory: Box<dyn AttemptFactory>,
    strategy: RestartStrategy,
    lease: Option<(Lease, Duration)>,
) -> Result<RunningJob> {
    let JobIdentity { id, name, graph, history } = job;
    let control = Arc::new(Control {
        cancelled: AtomicBool::new(false),
        restarts: AtomicU32::new(0),
        current: Mutex::default(),
        lease_lost: Mutex::default(),
        failures: Mutex::default(),
        last_error: Mutex::default(),
        ended: AtomicBool::new(false),
        outcome: Mutex::default(),
    });
    let runtime = first.runtime.clone();
    let lease = lease.map(|(mut lease, ttl)| {
        let lost_control = control.clone();
        lease.keep_renewing(
            &runtime,
            ttl,
            Arc::new(move |error: Error| {
                tracing::error!("{error}");
                *lost_control.lease_lost.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
                if let Some(attempt) = lost_control.current() {
                    attempt.fail(Error::Lease("the lease was lost".into()));
                }
            }),
        );
        lease
    });
    let attempt = match super::start(first) {
        Ok(attempt) => attempt,
        Err(e) => {
            if let Some(lease) = lease {
                runtime.block_on(lease.release());
            }
            return Err(e);
        }
    };
    *control.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(attempt.control());
    let supervisor_control = control.clone();
    let supervisor = std::thread::Builder::new()
        .name("weir-supervisor".into())
        .spawn(move || {
            let mut factory = factory;
            let result = run(attempt, factory.as_mut(), Restarts::new(strategy), &supervisor_control);
            if let Some(lease) = lease {
                runtime.block_on(lease.release());
            }
            // Only now: the factory holds the engine, whose I/O runtime the
            // release above needs even when the embedder dropped its Engine.
            drop(factory);
            let outcome = match &result {
                Ok(report) if report.status == JobStatus::Finished => JobOutcome::Finished,
                Ok(_) => JobOutcome::Cancelled,
                Err(error) => JobOutcome::Failed(error.to_string()),
            };
            *supervisor_control.outcome.lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
            supervisor_control.ended.store(true, Ordering::SeqCst);
            result
        })
        .map_err(|e| {
            control.cancel();
            Error::host("start the job supervisor")(e)
        })?;
    let observer = JobObserver { id, name, control, history, graph: Arc::new(graph) };
    Ok(RunningJob { observer, supervisor })
}

fn run(
    mut attempt: Attempt,
    factory: &mut dyn AttemptFactory,
    mut restarts: Restarts,
    control: &Control,
) -> Result<JobReport> {
    let mut number = 0;
    loop {
        let started = Instant::now();
        let end = attempt.join();
        let metrics = attempt.control().metrics();
        let report =
            |status, restarts: &Restarts| JobReport { status, metrics: metrics.clone(), restarts: restarts.total() };
        if let Some(lost) = take_lost_lease(control) {
            // Another host owns the job now: stop, delete nothing.
            let _ = attempt.settle(JobEnd::Restarting);
            return Err(lost);
        }
        let mut error = match end {
            AttemptEnd::Finished => {
                attempt.settle(JobEnd::Finished)?;
                return Ok(report(JobStatus::Finished, &restarts));
            }
            AttemptEnd::Cancelled => {
                if let Err(e) = attempt.settle(JobEnd::Cancelled) {
                    tracing::warn!("while cancelling: {e}");
                }
                return Ok(report(JobStatus::Cancelled, &restarts));
            }
            AttemptEnd::Failed(error) => error,
        };
        count_failure(control, &error);
        let Some(mut delay) = restarts.next_delay(started) else {
            if let Err(e) = attempt.settle(JobEnd::Failed) {
                tracing::warn!("while failing: {e}");
            }
            return Err(gave_up(&restarts, error));
        };
        let owned = attempt.settle(JobEnd::Restarting)?;
        *control.current.lock().unwrap_or_else(|p| p.into_inner()) = None;
        // Until an attempt runs again: a failure to prepare one (a
        // checkpoint that cannot be read right now, an input file gone) is
        // a failure like any other, and the restart strategy decides.
        attempt = loop {
            control.restarts.store(restarts.total(), Ordering::Relaxed);
            tracing::warn!("job failed: {error}; restart {} in {delay:?}", restarts.total());
            if sleep_unless_cancelled(delay, control) {
                factory.release(owned, JobEnd::Cancelled);
                return Ok(report(JobStatus::Cancelled, &restarts));
            }
            if let Some(lost) = take_lost_lease(control) {
                return Err(lost);
            }
            number += 1;
            match factory.prepare(number, owned.clone()).and_then(super::start) {
                Ok(next) => break next,
                Err(e) => {
                    tracing::warn!("cannot restart the job: {e}");
                    count_failure(control, &e);
                    error = e;
                    match restarts.next_delay(Instant::now()) {
                        Some(next) => delay = next,
                        None => {
                            // "Fails" retention, as for a failed attempt.
                            factory.release(owned, JobEnd::Failed);
                            return Err(gave_up(&restarts, error));
                        }
                    }
                }
            }
        };
        *control.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(attempt.control());
        // A cancel that came while the attempt was being prepared.
        if control.cancelled.load(Ordering::SeqCst) {
            control.cancel();
        }
    }
}

fn take_lost_lease(control: &Control) -> Option<Error> {
    control.lease_lost.lock().unwrap_or_else(|p| p.into_inner()).take()
}

fn count_failure(control: &Control, error: &Error) {
    *control.failures.lock().unwrap_or_else(|p| p.into_inner()).entry(error.kind()).or_insert(0) += 1;
    *control.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error.to_string());
}

fn gave_up(restarts: &Restarts, error: Error) -> Error {
    match restarts.total() {
        0 => error,
        n => Error::GaveUp { restarts: n, cause: Box::new(error) },
    }
}

/// Sleeps `delay` in short steps; true if the job was cancelled meanwhile.
fn sleep_unless_cancelled(delay: Duration, control: &Control) -> bool {
    let until = Instant::now() + delay;
    while Instant::now() < until {
        if control.cancelled.load(Ordering::SeqCst) {
            return true;
        }
        std::thread::sleep((until - Instant::now()).min(Duration::from_millis(20)));
    }
    control.cancelled.load(Ordering::SeqCst)
}
