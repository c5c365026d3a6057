//! The embedding entry point: an [`Engine`] starts jobs and hands back a
//! [`RunningJob`] to watch, checkpoint, cancel and wait for.
//!
//! Starting a job does everything that can fail because of the job's
//! description before any task runs: validation, loading and checking every
//! component, reading and checking the checkpoint it restores from, opening
//! the source and the sink. So a bad job file fails fast with one clear
//! error instead of a half-started job.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::checkpoint::lease::Lease;
use crate::checkpoint::lifecycle;
use crate::checkpoint::metadata::{GraphFingerprint, OperatorFingerprint, SourceSnapshot};
use crate::checkpoint::restore::{self, Restored};
use crate::checkpoint::retention::JobEnd;
use crate::checkpoint::sink_files::{JobCheckpointFiles, LocationFiles};
use crate::checkpoint::stats::SharedHistory;
use crate::checkpoint::storage::{CheckpointLocation, CheckpointStorage};
use crate::checkpoint::{StartFrom, StartOptions};
use crate::error::{Error, Result};
use crate::exec::LoadedOperator;
use crate::exec::restart::RestartStrategy;
use crate::exec::supervisor::{AttemptFactory, JobIdentity, supervise};
use crate::exec::{CheckpointPlan, JobReport, Prepared, RunningJob, SourceSplits};
use crate::guest::cache::ComponentCache;
use crate::guest::{GuestRuntime, LoadedComponent};
use crate::job::graph::JobGraph;
use crate::job::{Assignment, JobSpec, OperatorCode, SourceNode, Split};
use crate::operator::NativeOperator;
use crate::sinks::{CheckpointFiles, SinkConnector, SinkContext, Staged, StartCheck};
use crate::util::random_hex;

/// Runs jobs. One engine can run many jobs, one after another or at the
/// same time; they share the wasmtime engine and the I/O runtime that
/// uploads checkpoints. Cloning is cheap.
///
/// ```no_run
/// use weir_host::{Engine, JobSpec, JobStatus};
///
/// let engine = Engine::new()?;
/// let job = engine.start(JobSpec::from_file("examples/wordcount/job.toml")?)?;
/// println!("started job {}", job.id());
/// let report = job.wait()?;
/// assert_eq!(report.status, JobStatus::Finished);
/// # Ok::<(), weir_host::Error>(())
/// ```
#[derive(Clone)]
pub struct Engine {
    guests: GuestRuntime,
    io: Arc<tokio::runtime::Runtime>,
    /// Native operators job files may name (`native = "..."`).
    natives: Arc<HashMap<String, NativeOperator>>,
}

/// Settings fixed for the life of an [`Engine`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// Lets operators have fuel limits (`limits.fuel`). Every guest call
    /// then costs ~15% more, so it is off unless a job needs it.
    pub consume_fuel: bool,
    /// Where compiled components are kept between runs; `None` compiles
    /// every time. Default: [`ComponentCache::default_dir`].
    pub cache_dir: Option<PathBuf>,
    /// Instantiate subtasks from wasmtime's pooling allocator (pre-reserved,
    /// recycled slots; see [`crate::guest::POOLED_INSTANCES`]). On by
    /// default; off lifts its per-instance slot limits at some cost per
    /// instantiation.
    pub pooling: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig { consume_fuel: false, cache_dir: ComponentCache::default_dir(), pooling: true }
    }
}

impl Engine {
    pub fn new() -> Result<Self> {
        Self::with_config(EngineConfig::default())
    }

    pub fn with_config(config: EngineConfig) -> Result<Self> {
        // Two workers: uploads and the coordinators wait on I/O; guest
        // calls never run here.
        let io = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("weir-io")
            .enable_all()
            .build()
            .map_err(Error::host("start the I/O runtime"))?;
        let mut guests = GuestRuntime::new(config.consume_fuel, config.pooling)?;
        if let Some(dir) = config.cache_dir {
            guests = guests.with_cache(ComponentCache::new(dir));
        }
        Ok(Engine { guests, io: Arc::new(io), natives: Arc::default() })
    }

    /// Lets jobs run `native` as an operator, under its name
    /// ([`OperatorSpec::native`](crate::OperatorSpec::native), or
    /// `native = "name"` in a job file). Native code runs in the host
    /// process without a sandbox: register only code you trust.
    ///
    /// ```
    /// use weir_host::Engine;
    /// use weir_host::operator::NativeOperator;
    /// # use weir_guest::{Context, Event, OpenContext, Operator, Result};
    /// # struct Identity;
    /// # impl Operator for Identity {
    /// #     fn open(_: &mut OpenContext) -> Result<Self> { Ok(Identity) }
    /// #     fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
    /// #         ctx.emit(event.key(), event.value());
    /// #         Ok(())
    /// #     }
    /// # }
    ///
    /// let engine = Engine::new()?.with_native(NativeOperator::sdk::<Identity>("identity"));
    /// # Ok::<(), weir_host::Error>(())
    /// ```
    pub fn with_native(mut self, native: NativeOperator) -> Self {
        Arc::make_mut(&mut self.natives).insert(native.name().to_owned(), native);
        self
    }

    /// Checks and starts a job from the beginning of its input.
    pub fn start(&self, spec: JobSpec) -> Result<RunningJob> {
        self.start_with(spec, StartOptions::default())
    }

    /// Checks and starts a job, possibly from a checkpoint; returns once
    /// its tasks are running.
    pub fn start_with(&self, spec: JobSpec, options: StartOptions) -> Result<RunningJob> {
        spec.validate()?;
        if let Some(op) = spec.operators.iter().find(|op| op.limits.fuel.is_some())
            && !self.guests.consumes_fuel()
        {
            return Err(Error::invalid(
                format!("operator '{}' limits.fuel", op.name),
                "needs an engine created with EngineConfig { consume_fuel: true } (the weir binary does this itself)",
            ));
        }
        let operators = self.load_operators(&spec)?;
        let storage = match &spec.checkpoint {
            Some(config) => Some(CheckpointStorage::open(&config.dir, &std::env::current_dir().unwrap_or_default())?),
            None => None,
        };
        let id = match (&spec.id, &options.from) {
            (Some(id), _) => id.clone(),
            (None, StartFrom::Resume) => {
                return Err(Error::invalid("job.id", "--resume needs a job id (set [job] id or pass --job-id)"));
            }
            (None, _) => random_hex(16),
        };

        // One writer per job: taken before anything of the job's checkpoints
        // is read, so that two hosts cannot both resume it.
        let lease = match (&storage, &spec.checkpoint) {
            (Some(storage), Some(config)) => {
                Some((self.io.block_on(Lease::acquire(storage, &id, config.lease_ttl))?, config.lease_ttl))
            }
            _ => None,
        };
        let prepared = self.prepare_first(spec, &options, operators, storage, &id);
        let (first, plan, strategy, name) = match prepared {
            Ok(prepared) => prepared,
            Err(e) => {
                if let Some((lease, _)) = lease {
                    self.io.block_on(lease.release());
                }
                return Err(e);
            }
        };
        tracing::info!(job = %name, id = %id, "starting job");
        let job = JobIdentity { graph: JobGraph::resolve(&plan.spec)?, history: plan.history.clone(), id, name };
        supervise(job, first, Box::new(plan), strategy, lease)
    }

    /// Everything of `start_with` after the lease: the restore point and
    /// the first attempt.
    fn prepare_first(
        &self,
        spec: JobSpec,
        options: &StartOptions,
        operators: Vec<LoadedOperator>,
        storage: Option<CheckpointStorage>,
        id: &str,
    ) -> Result<(Prepared, JobPlan, RestartStrategy, String)> {
        // Where to start: nothing, or candidates newest first, each with
        // the checkpoints the job then owns. With --resume a candidate whose
        // state turns out damaged is skipped for the one before it.
        let cwd = std::env::current_dir().unwrap_or_default();
        let candidates = self.io.block_on(restore::plan(storage.as_ref(), id, &options.from, &cwd))?;
        let strategy = spec.restart_strategy();
        let name = spec.name.clone();
        let digests: Vec<(String, [u8; 32])> =
            spec.operators.iter().zip(&operators).map(|(op, c)| (op.name.clone(), c.digest())).collect();
        let history = SharedHistory::default();
        let mut plan =
            JobPlan { engine: self.clone(), spec, operators, storage, id: id.to_owned(), initial: None, history };
        let first = if candidates.is_empty() {
            plan.prepare_from(0, None, Vec::new())?
        } else {
            let describe = |c: &restore::Candidate| c.restored.metadata.checkpoint_id.to_string();
            // A job that cannot take a checkpoint's state (an operator
            // removed...) is refused outright: that is no damage to skip.
            let mut refused = None;
            let prepared =
                restore::first_restorable(candidates, describe, |restore::Candidate { restored, owned }| {
                    if let Err(e) = restored.check_compatible(&plan.spec, options.allow_non_restored_state) {
                        refused = Some(e);
                        return Ok(None);
                    }
                    restored.log_changed_components(&digests);
                    // The first attempt is prepared here, so that a bad input
                    // file or output directory fails `start` itself.
                    let attempt = plan.prepare_from(0, Some(restored.clone()), owned)?;
                    plan.initial = Some(restored);
                    Ok(Some(attempt))
                })?;
            match (prepared, refused) {
                (Some(attempt), _) => attempt,
                (None, Some(refused)) => return Err(refused),
                (None, None) => return Err(Error::Internal("no attempt prepared and no reason".into())),
            }
        };
        Ok((first, plan, strategy, name))
    }

    /// Starts a job and waits for it to end.
    pub fn run(&self, spec: JobSpec) -> Result<JobReport> {
        self.start(spec)?.wait()
    }

    /// Loads each distinct component file once, however many operators use
    /// it, and finds every native operator the job names.
    fn load_operators(&self, spec: &JobSpec) -> Result<Vec<LoadedOperator>> {
        let mut loaded: HashMap<PathBuf, LoadedComponent> = HashMap::new();
        let mut operators = Vec::with_capacity(spec.operators.len());
        for (index, op) in spec.operators.iter().enumerate() {
            let operator = match &op.code {
                OperatorCode::Component(path) => match loaded.get(path) {
                    Some(component) => LoadedOperator::Component(component.clone()),
                    None => {
                        let component = LoadedComponent::load(&self.guests, &op.name, path)?;
                        loaded.insert(path.clone(), component.clone());
                        LoadedOperator::Component(component)
                    }
                },
                OperatorCode::Native(name) => match self.natives.get(name) {
                    Some(native) => LoadedOperator::Native(native.clone()),
                    None => {
                        let mut known: Vec<&str> = self.natives.keys().map(String::as_str).collect();
                        known.sort_unstable();
                        let known = if known.is_empty() { "none".to_owned() } else { known.join(", ") };
                        return Err(Error::invalid(
                            format!("operators[{index}].native"),
                            format!(
                                "operator '{}': no native operator '{name}' is registered with this engine \
                                 (registered: {known}); the weir binary runs components only",
                                op.name
                            ),
                        ));
                    }
                },
            };
            operators.push(operator);
        }
        Ok(operators)
    }
}

/// Everything fixed about a job across its attempts.
struct JobPlan {
    engine: Engine,
    spec: JobSpec,
    operators: Vec<LoadedOperator>,
    storage: Option<CheckpointStorage>,
    id: String,
    /// Where the first attempt started from; later attempts start from
    /// here too until the job has a checkpoint of its own.
    initial: Option<Restored>,
    /// Checkpoint statistics across attempts (the RunningJob reads them).
    history: SharedHistory,
}

impl JobPlan {
    /// An attempt restored from `restored` (or fresh), owning `owned`.
    fn prepare_from(
        &mut self,
        attempt: u32,
        restored: Option<Restored>,
        owned: Vec<CheckpointLocation>,
    ) -> Result<Prepared> {
        let spec = &self.spec;
        let io = &self.engine.io;
        let mut restored_state = Vec::new();
        let mut lineage = Vec::new();
        // What each source's subtasks had left, from the checkpoint.
        let mut left: Vec<Option<SourceSnapshot>> = vec![None; spec.sources.len()];
        // One connector per sink for the attempt: its restore, its writers
        // and the coordinator's commits share it (a Kafka producer...).
        let connectors: Vec<Arc<dyn SinkConnector>> =
            spec.sinks.iter().map(|sink| sink.spec.connector(&self.id, &sink.name, io.handle())).collect();
        let start = StartCheck { max_restart_delay: spec.restart_strategy().longest_delay() };
        for connector in &connectors {
            connector.check_start(&start)?;
        }
        match &restored {
            Some(restored) => {
                let metadata = &restored.metadata;
                tracing::info!(
                    "restoring from checkpoint {} ({})",
                    metadata.checkpoint_id,
                    restored.location.describe()
                );
                // State first: a damaged checkpoint must be refused before
                // anything (the sinks above all) has been changed for it.
                // An operator's subtasks read their state at once: one
                // after the other, a gigabyte kept one core busy and the
                // other idle (issue 17).
                for op in &spec.operators {
                    let reads =
                        (0..op.parallelism).map(|subtask| restored.state_for(&op.name, subtask, op.parallelism));
                    restored_state.push(io.block_on(futures_util::future::try_join_all(reads))?);
                }
                for (index, source) in spec.sources.iter().enumerate() {
                    match metadata.sources.iter().find(|s| s.name == source.name) {
                        Some(snapshot) => left[index] = Some(snapshot.clone()),
                        None => tracing::warn!(
                            "source '{}' is not in checkpoint {}: it starts from the beginning",
                            source.name,
                            metadata.checkpoint_id
                        ),
                    }
                }
                for (sink, connector) in spec.sinks.iter().zip(&connectors) {
                    let staged = metadata.sinks.iter().find(|s| s.name == sink.name).map(|s| &s.staged[..]);
                    let files = LocationFiles { location: &restored.location, runtime: io.handle() };
                    let staged = Staged {
                        checkpoint_id: metadata.checkpoint_id,
                        names: staged.unwrap_or_default(),
                        files: Some(&files),
                    };
                    connector.restore(Some(&staged), &metadata.lineage)?;
                }
                lineage = metadata.lineage.clone();
            }
            // A restart with nothing to restore starts over: what the
            // failed attempt staged or committed is discarded.
            None if attempt > 0 => {
                for connector in &connectors {
                    connector.restore(None, &[])?;
                }
            }
            // A fresh run must not mix its output with another run's.
            None => {
                for connector in &connectors {
                    connector.check_unused()?;
                }
            }
        }
        let mut sources = Vec::with_capacity(spec.sources.len());
        for (node, left) in spec.sources.iter().zip(left) {
            sources.push(open_source(&spec.name, node, left, io.handle())?);
        }

        let mut tagged = 0;
        for connector in &connectors {
            tagged = tagged.max(connector.highest_checkpoint_tag()?);
        }
        let first_checkpoint_id =
            io.block_on(restore::first_checkpoint_id(restored.as_ref(), tagged, self.storage.as_ref(), &self.id))?;

        let job_graph = JobGraph::resolve(spec)?;
        let checkpoint_files = self.storage.as_ref().map(|storage| {
            Arc::new(JobCheckpointFiles {
                storage: storage.clone(),
                job: self.id.clone(),
                runtime: io.handle().clone(),
            }) as Arc<dyn CheckpointFiles>
        });
        let mut sink_writers = Vec::with_capacity(spec.sinks.len());
        for (index, sink) in spec.sinks.iter().enumerate() {
            let (writers, _) = job_graph.sink_writers(index);
            let writers = (0..writers)
                .map(|subtask| {
                    connectors[index].open(SinkContext {
                        job: self.id.clone(),
                        sink: sink.name.clone(),
                        subtask,
                        first_checkpoint_id,
                        checkpoints: checkpoint_files.clone(),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            sink_writers.push(writers);
        }
        let graph = GraphFingerprint {
            max_parallelism: spec.execution.max_parallelism,
            operators: spec
                .operators
                .iter()
                .zip(&self.operators)
                .map(|(op, code)| OperatorFingerprint {
                    name: op.name.clone(),
                    component_sha256: code.digest(),
                    parallelism: op.parallelism,
                    key_by: op.key_by,
                })
                .collect(),
        };
        Ok(Prepared {
            id: self.id.clone(),
            spec: spec.clone(),
            operators: self.operators.clone(),
            sources,
            sinks: sink_writers,
            sink_connectors: connectors,
            restored: restored_state,
            checkpoints: CheckpointPlan {
                config: spec.checkpoint.clone(),
                storage: self.storage.clone(),
                first_checkpoint_id,
                lineage,
                retained: owned,
                graph,
                history: self.history.clone(),
            },
            runtime: io.handle().clone(),
            attempt,
            end_of_input: restored.as_ref().is_some_and(|r| r.metadata.end_of_input),
        })
    }
}

impl AttemptFactory for JobPlan {
    /// Restores the newest owned checkpoint, or the one before it when it
    /// turns out damaged, and so on; with none owned, the checkpoint the
    /// job started from (or nothing). A storage error is not damage: it
    /// fails the preparation (the restart strategy decides what next).
    fn prepare(&mut self, attempt: u32, owned: Vec<CheckpointLocation>) -> Result<Prepared> {
        if owned.is_empty() {
            return self.prepare_from(attempt, self.initial.clone(), owned);
        }
        // Newest first; a damaged one is kept on storage but no longer
        // owned (nothing deletes it): the attempt owns what precedes it.
        let tries: Vec<Vec<CheckpointLocation>> =
            (0..owned.len()).rev().map(|newest| owned[..=newest].to_vec()).collect();
        let describe = |tried: &Vec<CheckpointLocation>| tried.last().map(|l| l.id().to_string()).unwrap_or_default();
        restore::first_restorable(tries, describe, |tried| {
            let newest = tried.last().cloned().ok_or_else(|| Error::Internal("no checkpoint to try".into()))?;
            let restored = self.engine.io.block_on(restore::open(&newest))?;
            self.prepare_from(attempt, Some(restored), tried)
        })
    }

    fn release(&mut self, owned: Vec<CheckpointLocation>, end: JobEnd) {
        let release = lifecycle::release(&owned, self.spec.checkpoint.as_ref(), end, self.storage.as_ref(), &self.id);
        self.engine.io.block_on(release);
    }
}

/// The readers of a source's subtasks: fresh splits, or what a checkpoint's
/// subtasks had `left`, dealt again when the parallelism changed. Each is
/// opened now, so that a missing file or a broker that does not answer
/// fails the start.
fn open_source(
    job: &str,
    node: &SourceNode,
    left: Option<SourceSnapshot>,
    runtime: &tokio::runtime::Handle,
) -> Result<Vec<SourceSplits>> {
    let restored = left.is_some();
    // The highest timestamps read, which the watermarks derive from.
    // Rescaled, every subtask starts from the lowest of the old ones: none
    // of them can have promised more.
    let same = |snapshot: &SourceSnapshot| {
        snapshot.subtasks.len() == node.parallelism as usize && snapshot.max_timestamps.len() == snapshot.subtasks.len()
    };
    let max_timestamps: Vec<i64> = match &left {
        None => vec![i64::MIN; node.parallelism as usize],
        Some(snapshot) if same(snapshot) => snapshot.max_timestamps.clone(),
        Some(snapshot) => {
            vec![snapshot.max_timestamps.iter().copied().min().unwrap_or(i64::MIN); node.parallelism as usize]
        }
    };
    let left = left.map(|snapshot| snapshot.subtasks);
    if let Some(left) = left.as_ref().filter(|left| left.len() != node.parallelism as usize) {
        tracing::info!(
            "source '{}': {} split(s) left, dealt to {} subtask(s)",
            node.name,
            left.iter().map(Vec::len).sum::<usize>(),
            node.parallelism
        );
    }
    let per_subtask = node.spec.assign(job, node.parallelism, left)?;
    let all: Vec<Split> = per_subtask.iter().flatten().copied().collect();
    per_subtask
        .into_iter()
        .zip(max_timestamps)
        .enumerate()
        .map(|(subtask, (splits, max_timestamp))| {
            let assignment = Assignment {
                subtask: subtask as u32,
                parallelism: node.parallelism,
                splits,
                all: all.clone(),
                restored,
                job: job.to_owned(),
                source: node.name.clone(),
                runtime: runtime.clone(),
            };
            Ok(SourceSplits { reader: node.spec.open(assignment)?, max_timestamp })
        })
        .collect()
}
