//! Whole jobs run to their end, Wasm against native on the same engine and
//! input: the word count at several batch sizes, and the keyed
//! generator → counter job of issue 5 (10 M events, 10 k keys, checkpoints
//! every second).

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::json;
use weir_host::{JobSpec, SinkNode, SinkSpec, SourceSpec, Watermarks};

use crate::harness::{Bench, Code, Timing, checkpoints, emit, generator, generator_job, median, progress, with_fields};

/// Words per line of the generated word-count input.
const WORDS_PER_LINE: usize = 10;

/// Events/s of a run: per second of wall time, and per second of this
/// process's CPU time.
#[derive(Debug, Clone, Copy)]
struct Rates {
    wall: f64,
    cpu: f64,
}

impl Rates {
    fn of(events: u64, timing: Timing) -> Self {
        Rates { wall: events as f64 / timing.wall, cpu: events as f64 / timing.cpu }
    }
}

/// Runs `measure` for Wasm and native `runs` times, alternating which goes
/// first (the machine is shared: drift then hits both alike); returns the
/// medians of each and the median of the per-round Wasm ÷ native ratios,
/// as JSON fields. With `--only`, one of the two is skipped (its figures
/// are null).
fn paired(bench: &Bench, runs: usize, mut measure: impl FnMut(Code) -> Result<Rates>) -> Result<serde_json::Value> {
    let mut series: [Vec<f64>; 6] = Default::default();
    for run in 0..runs {
        let order = if run % 2 == 0 { [Code::Wasm, Code::Native] } else { [Code::Native, Code::Wasm] };
        let mut round = [Rates { wall: f64::NAN, cpu: f64::NAN }; 2];
        for code in order.into_iter().filter(|&code| bench.only.is_none_or(|only| only == code)) {
            round[(code == Code::Native) as usize] = measure(code)?;
        }
        let [wasm, native] = round;
        for (list, value) in series.iter_mut().zip([
            wasm.wall,
            native.wall,
            wasm.wall / native.wall,
            wasm.cpu,
            native.cpu,
            wasm.cpu / native.cpu,
        ]) {
            list.push(value);
        }
    }
    let [wasm, native, ratio, wasm_cpu, native_cpu, ratio_cpu] = series.map(|list| median(&list));
    Ok(json!({
        "wasm_eps": wasm, "native_eps": native, "ratio": ratio,
        "wasm_eps_cpu": wasm_cpu, "native_eps_cpu": native_cpu, "ratio_cpu": ratio_cpu,
        "runs": runs,
    }))
}

/// lines → tokenizer ×2 → counter ×2 (key_by) → discard, at batch sizes 1,
/// 64, 256 and 1024; events/s counts words (events into the counter).
pub fn wordcount(bench: &Bench) -> Result<()> {
    for batch_size in [1, 64, 256, 1024] {
        // One event per call costs some µs per hop: a tenth of the input
        // keeps batch size 1 to seconds.
        let words = if batch_size == 1 { bench.size(1_000_000, 2_000) } else { bench.size(10_000_000, 20_000) };
        let input = bench.work.join(format!("wordcount-input-{words}.txt"));
        if !input.exists() {
            write_wordcount_input(&input, words)?;
        }
        progress(&format!("word count, batch size {batch_size}"));
        let figures = paired(bench, bench.runs, |code| {
            let mut spec = JobSpec::new("bench-wordcount", SourceSpec::lines(&input), SinkSpec::Discard)
                .operator(bench.operator("tokenizer", code)?.parallelism(2))
                .operator(bench.operator("counter", code)?.parallelism(2).key_by(true));
            spec.execution.batch_size = batch_size;
            let (timing, report) = bench.run_to_end(spec)?;
            let counted = report.metrics.operators.get(1).map_or(0, |op| op.events_in);
            if counted != words as u64 {
                bail!("the word count's counter saw {counted} words, expected {words}");
            }
            Ok(Rates::of(counted, timing))
        })?;
        emit(with_fields(figures, json!({ "scenario": "wordcount", "batch_size": batch_size, "events": words })));
    }
    Ok(())
}

/// generator → counter ×2 (key_by) → discard, 10 M events over 10 k keys,
/// 16-byte values, checkpoints every second; wall time includes start-up.
pub fn keyed(bench: &Bench) -> Result<()> {
    let events: u64 = bench.size(10_000_000, 200_000);
    let keys = 10_000;
    progress(&format!("generator → counter, {events} events"));
    let dir = bench.scratch("keyed-checkpoints")?;
    // The job of issue 5's two targets, and a short one: more runs.
    let runs = if bench.quick { bench.runs } else { bench.runs.max(5) };
    let figures = paired(bench, runs, |code| {
        let mut spec = generator_job(
            "bench-keyed",
            generator(events, keys, 16),
            vec![bench.operator("counter", code)?.parallelism(2).key_by(true)],
        )
        .checkpoint(checkpoints(&dir, Duration::from_secs(1), false));
        spec.id = Some(format!("keyed-{}", code.label()));
        let (timing, report) = bench.run_to_end(spec)?;
        if report.metrics.source_events != events {
            bail!("the generator emitted {} events, expected {events}", report.metrics.source_events);
        }
        Ok(Rates::of(events, timing))
    })?;
    let job = json!({
        "scenario": "keyed", "events": events, "keys": keys, "parallelism": 2, "checkpoint_interval_ms": 1000,
    });
    emit(with_fields(figures, job));
    Ok(())
}

/// The keyed job with its generator read by one subtask and by two (a
/// parallel source: each subtask generates its own range of the sequence),
/// counter ×2 either way, Wasm, checkpoints every second; runs alternate.
/// Long enough for ten checkpoints or more at the slower setting.
pub fn sources(bench: &Bench) -> Result<()> {
    let events: u64 = bench.size(100_000_000, 400_000);
    let keys = 10_000;
    progress(&format!("generator ×1 and ×2 → counter ×2, {events} events"));
    let mut series: [Vec<f64>; 5] = Default::default();
    for run in 0..bench.runs.max(1) {
        let order: [u32; 2] = if run % 2 == 0 { [1, 2] } else { [2, 1] };
        let mut round = [f64::NAN; 2];
        for source_parallelism in order {
            let dir = bench.scratch("sources-checkpoints")?;
            let mut spec = generator_job(
                "bench-sources",
                generator(events, keys, 16),
                vec![bench.operator("counter", Code::Wasm)?.parallelism(2).key_by(true)],
            )
            .checkpoint(checkpoints(&dir, Duration::from_secs(1), false));
            spec.sources[0].parallelism = source_parallelism;
            spec.id = Some(format!("sources-{source_parallelism}"));
            let (timing, taken) = run_counting_checkpoints(bench, spec, events)?;
            round[source_parallelism as usize - 1] = events as f64 / timing.wall;
            series[2 + source_parallelism as usize - 1].push(taken as f64);
        }
        series[0].push(round[0]);
        series[1].push(round[1]);
        series[4].push(round[1] / round[0]);
    }
    let [one, two, checkpoints_one, checkpoints_two, ratio] = series.map(|list| median(&list));
    emit(json!({
        "scenario": "sources", "events": events, "keys": keys, "runs": bench.runs.max(1),
        "one_source_eps": one, "two_sources_eps": two, "ratio": ratio,
        "checkpoints_one": checkpoints_one, "checkpoints_two": checkpoints_two,
    }));
    Ok(())
}

/// The windowed count (issue 15): generator → window-count ×2 (key_by, 60 s
/// tumbling windows of event time, the generator's timestamps in order,
/// watermarks every 200 ms of event time) → discard, Wasm against native,
/// checkpoints every second. Long enough for ten checkpoints or more.
pub fn windows(bench: &Bench) -> Result<()> {
    let events: u64 = bench.size(30_000_000, 300_000);
    let keys = 10_000;
    progress(&format!("generator → window-count ×2, {events} events"));
    let dir = bench.scratch("windows-checkpoints")?;
    let mut checkpoints_taken = Vec::new();
    let figures = paired(bench, bench.runs.max(1), |code| {
        let mut spec = generator_job(
            "bench-windows",
            generator(events, keys, 16),
            vec![bench.operator("window-count", code)?.parallelism(2).key_by(true).side_outputs(["late"])],
        )
        .checkpoint(checkpoints(&dir, Duration::from_secs(1), false));
        spec.sources[0].watermarks = Some(Watermarks::bounded(0));
        spec.sinks.push(SinkNode::new("late", SinkSpec::Discard).inputs(["window-count.late"]));
        spec.id = Some(format!("windows-{}", code.label()));
        let (timing, taken) = run_counting_checkpoints(bench, spec, events)?;
        checkpoints_taken.push(taken as f64);
        Ok(Rates::of(events, timing))
    })?;
    let job = json!({
        "scenario": "windows", "events": events, "keys": keys, "parallelism": 2, "size_ms": 60_000,
        "checkpoints": median(&checkpoints_taken),
    });
    emit(with_fields(figures, job));
    Ok(())
}

/// Runs a generator job of `events` events to its end; its timing and the
/// checkpoints it took while reading (the end-of-input one, taken after
/// the input, left out).
fn run_counting_checkpoints(bench: &Bench, spec: JobSpec, events: u64) -> Result<(Timing, u64)> {
    let name = spec.name.clone();
    let started = Timing::start()?;
    let job = bench.engine.start(spec).with_context(|| format!("job {name} failed to start"))?;
    let observer = job.observer();
    let report = job.wait().with_context(|| format!("job {name} failed"))?;
    let timing = started.stop()?;
    if report.metrics.source_events != events {
        bail!("the generator emitted {} events, expected {events}", report.metrics.source_events);
    }
    Ok((timing, observer.checkpoint_stats().completed.saturating_sub(1)))
}

/// Deterministic text of `words` words drawn from a skewed vocabulary of
/// 10,000 words, ten words per line (the same text `cargo xtask bench` used
/// before this harness). Kept between runs of the harness.
fn write_wordcount_input(path: &Path, words: usize) -> Result<()> {
    let mut text = String::with_capacity(words * 8);
    let mut state: u64 = 42;
    for i in 0..words {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let r = (state >> 33) % 10_000;
        let _ = write!(text, "w{}", r * r / 10_000);
        text.push(if i % WORDS_PER_LINE == WORDS_PER_LINE - 1 { '\n' } else { ' ' });
    }
    // Written aside, then renamed: an existing input is always complete.
    let partial = path.with_extension("partial");
    std::fs::write(&partial, text).with_context(|| format!("cannot write {}", partial.display()))?;
    std::fs::rename(&partial, path)
        .with_context(|| format!("cannot rename {} to {}", partial.display(), path.display()))
}
