//! What every scenario shares: the engine (components and native operators
//! registered once), job building blocks, timing, medians, files, and the
//! JSON lines the results are printed as.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use weir_host::checkpoint::metadata::CheckpointMetadata;
use weir_host::operator::NativeOperator;

use crate::natives::{counter, store, tokenizer};
use weir_host::{
    CheckpointConfig, Engine, EngineConfig, GeneratorSpec, JobMetrics, JobReport, JobSpec, JobStatus, Limits,
    OperatorSpec, RestartStrategy, Retention, RunningJob, SinkSpec, SourceSpec,
};

/// How an operator runs: the component in its sandbox, or the same SDK
/// operator compiled natively into this binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Wasm,
    Native,
}

impl Code {
    pub fn label(self) -> &'static str {
        match self {
            Code::Wasm => "wasm",
            Code::Native => "native",
        }
    }
}

/// The harness: one engine for every job, so that Wasm and native runs
/// share everything but the operators' code.
pub struct Bench {
    pub engine: Engine,
    /// Where the `.wasm` components are.
    pub guests: PathBuf,
    /// Scratch space: inputs, checkpoints, the compiled-component cache.
    pub work: PathBuf,
    /// Tiny sizes and one run: a smoke test of the harness.
    pub quick: bool,
    /// Runs per figure; the median is reported.
    pub runs: usize,
    /// Keyed state sizes of the state scenarios, MiB, instead of the
    /// defaults (for profiling one size).
    pub state_mib: Option<Vec<u64>>,
    /// Runs only this code in the Wasm-against-native scenarios (for
    /// profiling one of the two).
    pub only: Option<Code>,
}

impl Bench {
    pub fn new(guests: PathBuf, work: PathBuf, quick: bool, runs: usize) -> Result<Self> {
        std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
        // Absolute and without `..`: checkpoint directories are handed to
        // object_store, which does not resolve `..` (it writes a directory
        // named `%2E%2E` instead).
        let work = work.canonicalize().with_context(|| format!("cannot resolve {}", work.display()))?;
        let config = EngineConfig { cache_dir: Some(work.join("component-cache")), ..EngineConfig::default() };
        let engine = new_engine(config)?;
        Ok(Bench { engine, guests, work, quick, runs, state_mib: None, only: None })
    }

    /// The component of guest `name`, which must have been built.
    pub fn component(&self, name: &str) -> Result<PathBuf> {
        let path = self.guests.join(format!("{name}.wasm"));
        if !path.exists() {
            bail!("{} is missing: run `cargo xtask build-guests`", path.display());
        }
        Ok(path)
    }

    /// Operator `name` (also the name of its component and of its native
    /// registration), run as `code`.
    pub fn operator(&self, name: &str, code: Code) -> Result<OperatorSpec> {
        Ok(match code {
            Code::Wasm => OperatorSpec::new(name, self.component(name)?),
            Code::Native => OperatorSpec::native(name, name),
        })
    }

    /// A fresh, empty directory under the work directory.
    pub fn scratch(&self, name: &str) -> Result<PathBuf> {
        let dir = self.work.join(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(dir)
    }

    /// `full` normally, `quick` with `--quick`.
    pub fn size<T>(&self, full: T, quick: T) -> T {
        if self.quick { quick } else { full }
    }

    /// Runs a job to its end; its wall and CPU time (start-up included)
    /// and its report.
    pub fn run_to_end(&self, spec: JobSpec) -> Result<Finished> {
        let name = spec.name.clone();
        let started = Timing::start()?;
        let job = self.engine.start(spec).with_context(|| format!("job {name} failed to start"))?;
        let observer = job.observer();
        let report = job.wait().with_context(|| format!("job {name} failed"))?;
        let timing = started.stop()?;
        if report.status != JobStatus::Finished {
            bail!("job {name} ended {:?}, not finished", report.status);
        }
        // The checkpoint a job writes after its input ended was not taken
        // while it ran.
        let history = observer.checkpoint_stats();
        let last_at_end = history.latest_completed().is_some_and(|c| c.end_of_input);
        let checkpoints = history.completed - u64::from(last_at_end);
        Ok(Finished { timing, report, checkpoints })
    }
}

/// A job run to its end by [`Bench::run_to_end`].
pub struct Finished {
    pub timing: Timing,
    pub report: JobReport,
    /// Checkpoints completed while the job read its input: an end-to-end
    /// figure counts only if the job took ten or more (issue 17).
    pub checkpoints: u64,
}

/// Wall time and this process's CPU time (every thread's, user and
/// system) over a stretch of a scenario. On a shared machine wall time
/// depends on what else runs; events per CPU-second much less so.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub wall: f64,
    pub cpu: f64,
}

/// A [`Timing`] being taken.
pub struct Started {
    wall: Instant,
    cpu: f64,
}

impl Timing {
    pub fn start() -> Result<Started> {
        Ok(Started { wall: Instant::now(), cpu: process_cpu_seconds()? })
    }
}

impl Started {
    pub fn stop(&self) -> Result<Timing> {
        Ok(Timing { wall: self.wall.elapsed().as_secs_f64(), cpu: process_cpu_seconds()? - self.cpu })
    }
}

/// CPU time of this process so far, threads that ended included (utime
/// and stime of /proc/self/stat, in the kernel's 100 Hz ticks).
pub fn process_cpu_seconds() -> Result<f64> {
    const TICKS_PER_SECOND: f64 = 100.0;
    let stat = std::fs::read_to_string("/proc/self/stat").context("cannot read /proc/self/stat")?;
    // The command name (field 2) may hold spaces: count from after it.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |index: usize| -> Result<f64> {
        fields.get(index).and_then(|f| f.parse::<f64>().ok()).with_context(|| format!("bad /proc/self/stat: {stat}"))
    };
    // utime and stime are fields 14 and 15; `fields` starts at field 3.
    Ok((ticks(11)? + ticks(12)?) / TICKS_PER_SECOND)
}

/// The load averages over 1, 5 and 15 minutes (/proc/loadavg).
pub fn load_average() -> Result<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").context("cannot read /proc/loadavg")?;
    let mut numbers = text.split_whitespace().map(|n| n.parse::<f64>().ok());
    let mut next = || numbers.next().flatten().with_context(|| format!("bad /proc/loadavg: {text}"));
    Ok([next()?, next()?, next()?])
}

/// The engine every scenario uses: components and the native versions of
/// the same operators, registered under the components' names.
pub fn new_engine(config: EngineConfig) -> Result<Engine> {
    Ok(Engine::with_config(config)?
        .with_native(NativeOperator::sdk::<tokenizer::Tokenizer>("tokenizer"))
        .with_native(NativeOperator::sdk::<counter::Counter>("counter"))
        .with_native(NativeOperator::sdk::<store::Store>("store"))
        .with_native(NativeOperator::sdk::<window_count::WindowCount>("window-count")))
}

/// A job of generated events through `operators`, into the discard sink.
/// Failures fail the job at once (no restarts).
pub fn generator_job(name: &str, generator: GeneratorSpec, operators: Vec<OperatorSpec>) -> JobSpec {
    let mut spec = JobSpec::new(name, SourceSpec::Generator(generator), SinkSpec::Discard);
    spec.operators = operators;
    spec.restart = Some(RestartStrategy::None);
    spec
}

/// Generated events: `keys` distinct keys, `value_size`-byte values.
pub fn generator(count: u64, keys: u64, value_size: usize) -> GeneratorSpec {
    GeneratorSpec { count, keys, value_size, seed: 0, rate_limit: None }
}

/// Checkpoints into `dir` every `interval`; the newest is kept when the job
/// is cancelled (so that it can be restored and measured).
pub fn checkpoints(dir: &Path, interval: Duration, incremental: bool) -> CheckpointConfig {
    let mut config = CheckpointConfig::new(dir.display().to_string(), interval);
    config.retention = Retention::RetainOnCancellation;
    config.incremental = incremental;
    config
}

/// Limits for operators holding up to a few GiB of state: the sandbox's
/// defaults (256 MiB of memory, 5 s per call, 16 MiB per host call) are
/// sized for ordinary operators, not for a benchmark's gigabyte.
pub fn big_state_limits() -> Limits {
    Limits {
        memory_bytes: 4 << 30,
        call_timeout: Duration::from_secs(300),
        max_hostcall_bytes: 4 << 30,
        ..Limits::default()
    }
}

/// Events into operator `index` so far (0 while the job is between
/// attempts).
pub fn events_in(metrics: &JobMetrics, index: usize) -> u64 {
    metrics.operators.get(index).map_or(0, |op| op.events_in)
}

/// Polls `job` until `done` holds; fails if the job ends first or after
/// `timeout`.
pub fn wait_for(job: &RunningJob, timeout: Duration, what: &str, done: impl Fn(&JobMetrics) -> bool) -> Result<()> {
    let started = Instant::now();
    loop {
        if done(&job.metrics()) {
            return Ok(());
        }
        if job.is_finished() {
            bail!("job {} ended while waiting for {what}", job.name());
        }
        if started.elapsed() > timeout {
            bail!("job {} did not reach {what} within {timeout:?}", job.name());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Cancels a job and waits for it to end.
pub fn stop(job: RunningJob) -> Result<()> {
    job.cancel();
    let name = job.name().to_owned();
    job.wait().with_context(|| format!("job {name} failed"))?;
    Ok(())
}

/// The median (upper median for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

/// `fields` (a JSON object) with the fields of `extra` added.
pub fn with_fields(mut fields: serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
    if let (Some(fields), serde_json::Value::Object(extra)) = (fields.as_object_mut(), extra) {
        fields.extend(extra);
    }
    fields
}

/// Prints one result as a JSON line on stdout (progress goes to stderr).
pub fn emit(value: serde_json::Value) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{value}");
    let _ = stdout.flush();
}

pub fn progress(message: &str) {
    eprintln!("weir-bench: {message}");
}

/// Total size of the files under `path`.
pub fn dir_size(path: &Path) -> Result<u64> {
    let mut total = 0;
    for file in files_under(path)? {
        total += std::fs::metadata(&file).with_context(|| format!("cannot stat {}", file.display()))?.len();
    }
    Ok(total)
}

/// Every file under `path`, recursively.
pub fn files_under(path: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![path.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))? {
            let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
            let kind = entry.file_type().with_context(|| format!("cannot stat {}", entry.path().display()))?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    Ok(files)
}

/// The newest complete checkpoint (`chk-<n>` with a `_metadata`) of job
/// `job_id` in checkpoint directory `dir`.
pub fn newest_checkpoint(dir: &Path, job_id: &str) -> Result<(u64, PathBuf)> {
    let job_dir = dir.join(job_id);
    let mut newest = None;
    for entry in std::fs::read_dir(&job_dir).with_context(|| format!("cannot list {}", job_dir.display()))? {
        let entry = entry.with_context(|| format!("cannot list {}", job_dir.display()))?;
        let name = entry.file_name();
        let Some(id) = name.to_str().and_then(|n| n.strip_prefix("chk-")).and_then(|n| n.parse::<u64>().ok()) else {
            continue;
        };
        if entry.path().join("_metadata").exists() && newest.as_ref().is_none_or(|(n, _)| id > *n) {
            newest = Some((id, entry.path()));
        }
    }
    newest.with_context(|| format!("no complete checkpoint in {}", job_dir.display()))
}

/// A checkpoint's `_metadata`, decoded.
pub fn read_metadata(checkpoint: &Path) -> Result<CheckpointMetadata> {
    let path = checkpoint.join("_metadata");
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    CheckpointMetadata::decode(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Peak and current resident memory of this process, in KiB (VmHWM, VmRSS
/// of /proc/self/status).
pub fn memory_kib() -> Result<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").context("cannot read /proc/self/status")?;
    let field = |name: &str| -> Result<u64> {
        let line = status.lines().find(|l| l.starts_with(name)).with_context(|| format!("no {name} in status"))?;
        let number = line[name.len()..].trim().trim_end_matches("kB").trim();
        number.parse().with_context(|| format!("bad {name} line {line:?}"))
    };
    Ok((field("VmHWM:")?, field("VmRSS:")?))
}
