//! Keyed state: how long snapshots, checkpoints and restores take for 10 MB,
//! 100 MB and 1 GB of it, what checkpoints cost a running job, and how small
//! an incremental checkpoint is.
//!
//! State comes from the `store` guest (the last value of every key): `n` MiB
//! of state is `n × 1024` keys with 1 KiB values. Directly through
//! [`GuestInstance`], every key is written once; through a job, a generator
//! draws keys at random and the job runs until it has seen 4 × as many
//! events as keys (98% of the keys present; the figures give the measured
//! size).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::json;
use weir_guest::OperatorInfo;
use weir_guest::runtime::Runtime;
use weir_host::checkpoint::metadata::CheckpointMetadata;
use weir_host::checkpoint::stats::{CheckpointStats, SubtaskStats};
use weir_host::guest::cache::ComponentCache;
use weir_host::guest::{GuestInstance, GuestRuntime, InstanceContext, LoadedComponent};
use weir_host::job::graph::key_group_of;
use weir_host::operator::SnapshotMode;
use weir_host::{OperatorSpec, RestoreMode, RunningJob, StartFrom, StartOptions};
use weir_wire::batch::{BatchWriter, NO_TIMESTAMP};

use crate::natives::store;

use crate::harness::{
    Bench, Code, Timing, big_state_limits, checkpoints, dir_size, emit, events_in, files_under, generator,
    generator_job, median, newest_checkpoint, progress, read_metadata, stop, wait_for, with_fields,
};

/// Bytes of every value: a MiB of values is 1024 keys.
const VALUE_SIZE: usize = 1024;
/// Key groups of every job and instance here (the engine's default).
const MAX_PARALLELISM: u32 = 128;
/// Events per batch fed to an instance directly (the jobs' default).
const BATCH: usize = 256;
/// A generator that does not run out while a scenario measures.
const ENDLESS: u64 = u64::MAX / 2;
/// Parallelism of the `store` operator in the jobs: one subtask per core.
const PARALLELISM: u32 = 2;

/// State sizes measured, MiB.
fn sizes(bench: &Bench) -> Vec<u64> {
    bench.state_mib.clone().unwrap_or_else(|| bench.size(vec![10, 100, 1024], vec![1, 4]))
}

/// The state size of the throughput scenario, MiB.
fn throughput_size(bench: &Bench) -> u64 {
    bench.size(100, 4)
}

/// `key-<i>`: the generator source names its keys the same way, so a job's
/// key space `0..keys` is a prefix of a bigger one.
fn write_key(i: u64, out: &mut Vec<u8>) {
    out.clear();
    let _ = write!(out, "key-{i}");
}

/// Feeds events for `keys` to `process` in packed batches; each value is
/// 1 KiB, distinct per key and per `round`.
fn feed(keys: impl Iterator<Item = u64>, round: u8, mut process: impl FnMut(Vec<u8>) -> Result<()>) -> Result<()> {
    let mut writer = BatchWriter::with_capacity(BATCH * (VALUE_SIZE + 48));
    let mut key = Vec::with_capacity(24);
    let mut value = vec![b'a' + round % 26; VALUE_SIZE];
    for i in keys {
        write_key(i, &mut key);
        value[..8].copy_from_slice(&i.to_le_bytes());
        writer.push(key_group_of(&key, MAX_PARALLELISM), NO_TIMESTAMP, &key, &value);
        if writer.len() == BATCH {
            process(writer.take())?;
        }
    }
    if !writer.is_empty() {
        process(writer.take())?;
    }
    Ok(())
}

/// What the snapshot scenario needs of an instance, Wasm or native.
trait Instance {
    fn process(&mut self, batch: Vec<u8>) -> Result<()>;
    /// Takes a snapshot; whether it came back incremental, and its bytes.
    fn snapshot(&mut self, checkpoint_id: u64, mode: SnapshotMode) -> Result<(bool, u64)>;
}

impl Instance for GuestInstance {
    fn process(&mut self, batch: Vec<u8>) -> Result<()> {
        GuestInstance::process(self, 0, &batch)?;
        Ok(())
    }

    fn snapshot(&mut self, checkpoint_id: u64, mode: SnapshotMode) -> Result<(bool, u64)> {
        let snapshot = GuestInstance::snapshot(self, checkpoint_id, mode)?;
        Ok((snapshot.incremental, snapshot.chunks.iter().map(|c| c.data.len() as u64).sum()))
    }
}

impl Instance for Runtime<store::Store> {
    fn process(&mut self, batch: Vec<u8>) -> Result<()> {
        Runtime::process(self, 0, &batch).map_err(|e| anyhow!("native store: process: {e}"))?;
        Ok(())
    }

    fn snapshot(&mut self, checkpoint_id: u64, mode: SnapshotMode) -> Result<(bool, u64)> {
        let mode = match mode {
            SnapshotMode::Full => weir_guest::runtime::SnapshotMode::Full,
            SnapshotMode::Incremental => weir_guest::runtime::SnapshotMode::Incremental,
        };
        let snapshot =
            Runtime::snapshot(self, checkpoint_id, mode).map_err(|e| anyhow!("native store: snapshot: {e}"))?;
        Ok((snapshot.incremental, snapshot.chunks.iter().map(|c| c.data.len() as u64).sum()))
    }
}

/// Snapshot figures of one instance holding `keys` keys.
struct SnapshotFigures {
    full_ms: f64,
    full_bytes: u64,
    incremental_ms: f64,
    incremental_bytes: u64,
    /// Whether the instance answered the incremental request with changes
    /// only (an SDK may always answer with its full state).
    incremental_answered: bool,
}

/// Fills `instance` with `keys` keys, then times `runs` full snapshots and
/// `runs` incremental ones, each after changing 1% of the keys.
fn measure_snapshots(instance: &mut dyn Instance, keys: u64, runs: usize) -> Result<SnapshotFigures> {
    feed(0..keys, 0, |batch| instance.process(batch))?;
    let mut checkpoint_id = 0;
    let (mut full_ms, mut full_bytes) = (Vec::new(), 0);
    for _ in 0..runs {
        checkpoint_id += 1;
        let started = Instant::now();
        let (_, bytes) = instance.snapshot(checkpoint_id, SnapshotMode::Full)?;
        full_ms.push(started.elapsed().as_secs_f64() * 1e3);
        full_bytes = bytes;
    }
    let (mut incremental_ms, mut incremental_bytes, mut answered) = (Vec::new(), Vec::new(), true);
    for run in 0..runs {
        feed((0..keys).step_by(100), 1 + run as u8, |batch| instance.process(batch))?;
        checkpoint_id += 1;
        let started = Instant::now();
        let (incremental, bytes) = instance.snapshot(checkpoint_id, SnapshotMode::Incremental)?;
        incremental_ms.push(started.elapsed().as_secs_f64() * 1e3);
        incremental_bytes.push(bytes as f64);
        answered &= incremental;
    }
    Ok(SnapshotFigures {
        full_ms: median(&full_ms),
        full_bytes,
        incremental_ms: median(&incremental_ms),
        incremental_bytes: median(&incremental_bytes) as u64,
        incremental_answered: answered,
    })
}

/// One `store` instance driven directly: snapshot time per MiB of state,
/// Wasm ([`GuestInstance`]) against native (the SDK's `Runtime`), and the
/// size of an incremental snapshot after 1% of the keys changed.
pub fn snapshot(bench: &Bench) -> Result<()> {
    let runtime = GuestRuntime::new(false, true)?.with_cache(ComponentCache::new(bench.work.join("component-cache")));
    let component = LoadedComponent::load(&runtime, "store", &bench.component("store")?)?;
    let context = InstanceContext::new("store", 0, 1, MAX_PARALLELISM, true);
    for mib in sizes(bench) {
        progress(&format!("snapshots of {mib} MiB of state, one instance"));
        let keys = mib * 1024;
        let mut guest = GuestInstance::new(&component, &context, Vec::new(), &big_state_limits())?;
        let wasm = measure_snapshots(&mut guest, keys, bench.runs)?;
        drop(guest);
        let info = OperatorInfo::new("store")
            .with_subtask(0, 1)
            .with_max_parallelism(MAX_PARALLELISM)
            .with_key_groups(context.key_groups.clone());
        let mut native =
            Runtime::<store::Store>::init(info, Vec::new()).map_err(|e| anyhow!("native store: init: {e}"))?;
        let native = measure_snapshots(&mut native, keys, bench.runs)?;
        emit(json!({
            "scenario": "snapshot", "mib": mib, "keys": keys, "changed_keys": keys.div_ceil(100), "runs": bench.runs,
            "wasm_full_ms": wasm.full_ms, "wasm_full_bytes": wasm.full_bytes,
            "wasm_incremental_ms": wasm.incremental_ms, "wasm_incremental_bytes": wasm.incremental_bytes,
            "wasm_incremental_answered": wasm.incremental_answered,
            "native_full_ms": native.full_ms, "native_full_bytes": native.full_bytes,
            "native_incremental_ms": native.incremental_ms, "native_incremental_bytes": native.incremental_bytes,
            "native_incremental_answered": native.incremental_answered,
        }));
    }
    Ok(())
}

/// Where a checkpoint's time went, from the host's checkpoint statistics:
/// the slowest subtask's alignment, `snapshot` call (sync: the subtask
/// processes nothing meanwhile) and upload (async: copying into one file,
/// checksums, writing it).
#[derive(Debug, Clone, Copy)]
struct Phases {
    alignment_ms: f64,
    sync_ms: f64,
    async_ms: f64,
}

impl Phases {
    fn of(stats: &CheckpointStats) -> Self {
        let slowest = |f: fn(&SubtaskStats) -> u64| stats.subtasks.iter().map(f).max().unwrap_or(0) as f64 / 1e3;
        Phases {
            alignment_ms: slowest(|s| s.alignment_us),
            sync_ms: slowest(|s| s.sync_us),
            async_ms: slowest(|s| s.async_us),
        }
    }
}

/// A complete checkpoint of a `store` job, kept on disk.
pub struct StateCheckpoint {
    pub mib: u64,
    pub keys: u64,
    /// Its id; a job restored from it numbers its own checkpoints after it.
    pub id: u64,
    /// Its `chk-<n>` directory.
    pub path: PathBuf,
    /// The source position it was taken at.
    pub position: u64,
}

/// The `store` operator as the jobs here run it.
fn store_operator(bench: &Bench) -> Result<OperatorSpec> {
    Ok(bench.operator("store", Code::Wasm)?.parallelism(PARALLELISM).key_by(true).limits(big_state_limits()))
}

/// Starts generator → store ×2 → discard over `keys` keys with checkpoints
/// (taken only when triggered) into a fresh directory, and waits until the
/// state is filled. Returns the job, its checkpoint directory and its id.
fn start_filled_job(bench: &Bench, mib: u64) -> Result<(RunningJob, PathBuf, String)> {
    let keys = mib * 1024;
    let id = format!("state-{mib}mib");
    let dir = bench.scratch(&format!("checkpoints-{id}"))?;
    let mut spec =
        generator_job(&format!("bench-{id}"), generator(ENDLESS, keys, VALUE_SIZE), vec![store_operator(bench)?])
            .checkpoint(checkpoints(&dir, Duration::from_secs(24 * 3600), false));
    spec.id = Some(id.clone());
    let job = bench.engine.start(spec)?;
    let fill = keys * 4;
    wait_for(&job, Duration::from_secs(900), "its state filled", |m| events_in(m, 0) >= fill)?;
    Ok((job, dir, id))
}

/// Takes the checkpoint the other scenarios restore from.
fn take_checkpoint(bench: &Bench, mib: u64) -> Result<StateCheckpoint> {
    let (job, dir, id) = start_filled_job(bench, mib)?;
    let taken = job.trigger_checkpoint();
    stop(job)?;
    taken?;
    let (checkpoint_id, path) = newest_checkpoint(&dir, &id)?;
    let position = source_position(&read_metadata(&path)?);
    Ok(StateCheckpoint { mib, keys: mib * 1024, id: checkpoint_id, path, position })
}

/// End-to-end checkpoint time through the engine
/// ([`RunningJob::trigger_checkpoint`], which returns once the checkpoint is
/// complete) with the job running flat out, then the restore of that
/// checkpoint against reading its files. Returns the checkpoint of the
/// throughput scenario's size.
pub fn checkpoint(bench: &Bench) -> Result<Option<StateCheckpoint>> {
    let mut kept = None;
    for mib in sizes(bench) {
        progress(&format!("checkpoints of {mib} MiB of state through a job"));
        let (job, dir, id) = start_filled_job(bench, mib)?;
        let (mut times, mut phases) = (Vec::new(), Vec::new());
        for _ in 0..bench.runs {
            let started = Instant::now();
            let taken = job.trigger_checkpoint();
            let elapsed = started.elapsed().as_secs_f64() * 1e3;
            let checkpoint_id = match taken {
                Ok(checkpoint_id) => checkpoint_id,
                Err(e) => {
                    stop(job)?;
                    return Err(e.into());
                }
            };
            times.push(elapsed);
            phases.extend(job.checkpoint_stats().get(checkpoint_id).map(Phases::of));
        }
        stop(job)?;
        let (checkpoint_id, path) = newest_checkpoint(&dir, &id)?;
        let metadata = read_metadata(&path)?;
        emit(json!({
            "scenario": "checkpoint", "mib": mib, "parallelism": PARALLELISM, "runs": bench.runs,
            "state_bytes": metadata.state_size(), "file_bytes": dir_size(&path)?,
            "ms": median(&times), "all_ms": times,
            "alignment_ms": median(&phases.iter().map(|p| p.alignment_ms).collect::<Vec<_>>()),
            "sync_ms": median(&phases.iter().map(|p| p.sync_ms).collect::<Vec<_>>()),
            "async_ms": median(&phases.iter().map(|p| p.async_ms).collect::<Vec<_>>()),
        }));
        let checkpoint =
            StateCheckpoint { mib, keys: mib * 1024, id: checkpoint_id, path, position: source_position(&metadata) };
        restore(bench, &checkpoint)?;
        if mib == throughput_size(bench) {
            kept = Some(checkpoint);
        }
    }
    Ok(kept)
}

/// Restores `checkpoint` into a job whose input is already exhausted at
/// the checkpoint's position, so that the job ends as soon as its subtasks
/// have their state back; returns the wall time from start to end.
fn restore_once(bench: &Bench, checkpoint: &StateCheckpoint) -> Result<Duration> {
    let spec = generator_job(
        "bench-restore",
        generator(checkpoint.position, checkpoint.keys, VALUE_SIZE),
        vec![store_operator(bench)?],
    );
    let options = StartOptions {
        from: StartFrom::Checkpoint { path: checkpoint.path.display().to_string(), mode: RestoreMode::NoClaim },
        allow_non_restored_state: false,
    };
    let started = Instant::now();
    let report = bench.engine.start_with(spec, options)?.wait()?;
    let elapsed = started.elapsed();
    if report.metrics.source_events != 0 {
        bail!("the restored job read {} events, expected none", report.metrics.source_events);
    }
    Ok(elapsed)
}

/// Drops `files` from the page cache (written back first), so that the
/// next read comes from the disk. `dd iflag=nocache count=0` is
/// `posix_fadvise(DONTNEED)` over the whole file.
fn evict(files: &[PathBuf]) -> Result<()> {
    for file in files {
        File::open(file).and_then(|f| f.sync_all()).with_context(|| format!("cannot write back {}", file.display()))?;
        let status = Command::new("dd")
            .arg(format!("if={}", file.display()))
            .args(["iflag=nocache", "count=0", "status=none"])
            .status()
            .context("cannot run dd")?;
        if !status.success() {
            bail!("dd could not drop {} from the page cache", file.display());
        }
    }
    Ok(())
}

/// `cat files > /dev/null`; its wall time.
fn cat(files: &[PathBuf]) -> Result<Duration> {
    let started = Instant::now();
    let status = Command::new("cat")
        .args(files)
        .stdout(File::create("/dev/null").context("cannot open /dev/null")?)
        .stderr(Stdio::inherit())
        .status()
        .context("cannot run cat")?;
    if !status.success() {
        bail!("cat failed ({status})");
    }
    Ok(started.elapsed())
}

/// Restore time of a checkpoint against `cat`-ing its files, both from the
/// disk (the files dropped from the page cache first); and the restore time
/// with the files cached.
fn restore(bench: &Bench, checkpoint: &StateCheckpoint) -> Result<()> {
    progress(&format!("restores of {} MiB of state", checkpoint.mib));
    let files = files_under(&checkpoint.path)?;
    let bytes = dir_size(&checkpoint.path)?;
    let (mut cold, mut cat_cold, mut warm, mut ratios) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..bench.runs {
        evict(&files)?;
        let read = cat(&files)?.as_secs_f64() * 1e3;
        evict(&files)?;
        let restored = restore_once(bench, checkpoint)?.as_secs_f64() * 1e3;
        warm.push(restore_once(bench, checkpoint)?.as_secs_f64() * 1e3);
        cat_cold.push(read);
        cold.push(restored);
        ratios.push(restored / read);
    }
    emit(json!({
        "scenario": "restore", "mib": checkpoint.mib, "file_bytes": bytes, "files": files.len(),
        "parallelism": PARALLELISM, "runs": bench.runs,
        "restore_cold_ms": median(&cold), "cat_cold_ms": median(&cat_cold), "ratio": median(&ratios),
        "restore_warm_ms": median(&warm),
    }));
    Ok(())
}

/// Which checkpoints a throughput job takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Full,
    Incremental,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Full => "full",
            Kind::Incremental => "incremental",
        }
    }
}

/// Events counted over one window.
#[derive(Debug, Clone, Copy)]
struct Window {
    events_per_second: f64,
    /// Per second of this process's CPU time.
    events_per_cpu_second: f64,
}

/// Events/s of generator → store ×2 → discard restored from `base` (its
/// state in place from the first event), updating all its keys or a hot
/// 1% of them, with a checkpoint every second against none.
///
/// One job per workload and kind of checkpoint, measured in alternating
/// windows: checkpoints every second in one (triggered by this harness
/// through [`JobObserver::trigger_checkpoint`], the job's own interval
/// being a day), none in the next. Comparing windows of the same job a few
/// seconds apart cancels most of what else the shared machine does; the
/// ratio reported is the median over the pairs.
pub fn throughput(bench: &Bench, base: Option<StateCheckpoint>) -> Result<()> {
    let mib = throughput_size(bench);
    let base = match base {
        Some(base) if base.mib == mib => base,
        _ => {
            progress(&format!("a checkpoint of {mib} MiB of state to start the throughput runs from"));
            take_checkpoint(bench, mib)?
        }
    };
    for (workload, keys) in [("uniform", base.keys), ("hot-1%", base.keys.div_ceil(100))] {
        for kind in [Kind::Full, Kind::Incremental] {
            progress(&format!("throughput, {mib} MiB of state, {workload} updates, {} checkpoints", kind.label()));
            let figures = throughput_job(bench, &base, keys, kind)?;
            emit(with_fields(
                figures,
                json!({
                    "scenario": "throughput", "workload": workload, "mode": kind.label(), "mib": mib,
                    "keys": keys, "state_keys": base.keys, "parallelism": PARALLELISM,
                }),
            ));
        }
    }
    Ok(())
}

/// One throughput job: restore, warm up, then pairs of windows with and
/// without checkpoints; their figures as JSON fields.
fn throughput_job(bench: &Bench, base: &StateCheckpoint, keys: u64, kind: Kind) -> Result<serde_json::Value> {
    let id = "throughput";
    let dir = bench.scratch("checkpoints-throughput")?;
    let mut spec =
        generator_job("bench-throughput", generator(ENDLESS, keys, VALUE_SIZE), vec![store_operator(bench)?])
            .checkpoint(checkpoints(&dir, Duration::from_secs(24 * 3600), kind == Kind::Incremental));
    spec.id = Some(id.into());
    let options = StartOptions {
        from: StartFrom::Checkpoint { path: base.path.display().to_string(), mode: RestoreMode::NoClaim },
        allow_non_restored_state: false,
    };
    let window = Duration::from_secs_f64(bench.size(3.0, 0.5));
    let job = bench.engine.start_with(spec, options)?;
    let measured = measure_pairs(bench, &job, window);
    let history = job.checkpoint_stats();
    stop(job)?;
    let (with, without) = measured?;

    let ratios = |f: fn(&Window) -> f64| -> Vec<f64> { with.iter().zip(&without).map(|(w, n)| f(w) / f(n)).collect() };
    let wall_ratios = ratios(|w| w.events_per_second);
    let cpu_ratios = ratios(|w| w.events_per_cpu_second);
    // The job's checkpoints but its first (full, after the restore, and in
    // the warm-up): ids go on after the restored one's.
    let taken: Vec<&CheckpointStats> =
        history.checkpoints.iter().filter(|c| c.id > base.id + 1 && c.end_to_end_us.is_some()).collect();
    let phases: Vec<Phases> = taken.iter().map(|c| Phases::of(c)).collect();
    let written: Vec<f64> = taken.iter().map(|c| c.checkpointed_bytes as f64).collect();
    let pick = |f: fn(&Phases) -> f64| median(&phases.iter().map(f).collect::<Vec<_>>());
    let shared = shared_bytes_per_checkpoint(&dir.join(id).join("shared"))?;
    Ok(json!({
        "pairs": wall_ratios.len(), "window_s": window.as_secs_f64(),
        "eps_none": median(&without.iter().map(|w| w.events_per_second).collect::<Vec<_>>()),
        "eps": median(&with.iter().map(|w| w.events_per_second).collect::<Vec<_>>()),
        "ratio": median(&wall_ratios), "all_ratios": wall_ratios,
        "ratio_cpu": median(&cpu_ratios),
        "checkpoints": taken.len(),
        "checkpointed_bytes": median(&written),
        "sync_ms": pick(|p| p.sync_ms), "async_ms": pick(|p| p.async_ms),
        // What the job wrote to `shared/` (incremental checkpoints): the
        // biggest checkpoint's files (the full one the deltas build on) and
        // the newest's (a delta).
        "shared_biggest_bytes": shared.values().copied().max().unwrap_or(0),
        "shared_newest_bytes": shared.last_key_value().map_or(0, |(_, bytes)| *bytes),
    }))
}

/// Waits for the restore, warms up, then measures pairs of windows: with a
/// checkpoint triggered every second, and without. Returns the windows with
/// and without checkpoints, pair by pair.
fn measure_pairs(bench: &Bench, job: &RunningJob, window: Duration) -> Result<(Vec<Window>, Vec<Window>)> {
    // Lets the last checkpoint's upload and the kernel's write-back of a
    // window settle before the next one counts.
    let settle = Duration::from_secs_f64(bench.size(0.5, 0.1));
    let pairs = bench.size(bench.runs + 2, 1);
    wait_for(job, Duration::from_secs(600), "its state restored", |m| events_in(m, 0) > 0)?;
    std::thread::sleep(Duration::from_secs_f64(bench.size(1.0, 0.3)));
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for pair in 0..pairs {
        // Alternate which goes first, against drift.
        for checkpointing in if pair % 2 == 0 { [true, false] } else { [false, true] } {
            let measured = measure_window(job, window, checkpointing)?;
            if checkpointing {
                with.push(measured)
            } else {
                without.push(measured)
            }
            std::thread::sleep(settle);
        }
    }
    Ok((with, without))
}

/// Counts the events into the operator over `window`, triggering a
/// checkpoint every second from its start when `checkpointing`.
fn measure_window(job: &RunningJob, window: Duration, checkpointing: bool) -> Result<Window> {
    let observer = job.observer();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let trigger = checkpointing.then(|| {
            scope.spawn(|| -> Result<()> {
                let mut next = Instant::now();
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    observer.trigger_checkpoint()?;
                    next += Duration::from_secs(1);
                    while Instant::now() < next && !done.load(std::sync::atomic::Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
                Ok(())
            })
        });
        let (before, started) = (events_in(&job.metrics(), 0), Timing::start()?);
        std::thread::sleep(window);
        let (after, timing) = (events_in(&job.metrics(), 0), started.stop()?);
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(trigger) = trigger {
            trigger.join().map_err(|_| anyhow!("the checkpoint trigger thread panicked"))??;
        }
        let events = after.saturating_sub(before) as f64;
        Ok(Window { events_per_second: events / timing.wall, events_per_cpu_second: events / timing.cpu })
    })
}

/// Bytes of the `shared/` files of each checkpoint, by checkpoint id (the
/// writer names them `op<o>-<s>-chk<n>-<random>.state`).
fn shared_bytes_per_checkpoint(shared: &Path) -> Result<BTreeMap<u64, u64>> {
    let mut sizes = BTreeMap::new();
    if !shared.exists() {
        return Ok(sizes);
    }
    for file in files_under(shared)? {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let Some(id) = name.split('-').find_map(|part| part.strip_prefix("chk")?.parse::<u64>().ok()) else {
            continue;
        };
        let len = std::fs::metadata(&file).with_context(|| format!("cannot stat {}", file.display()))?.len();
        *sizes.entry(id).or_insert(0) += len;
    }
    Ok(sizes)
}

/// Where the one generator subtask of a benchmark job was: the start of
/// what it had left (its count once it had read everything).
fn source_position(metadata: &CheckpointMetadata) -> u64 {
    let left = metadata.sources.first().and_then(|source| source.subtasks.first()).and_then(|left| left.first());
    left.map_or(u64::MAX, |split| split.next)
}
