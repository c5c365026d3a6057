//! Whole jobs run to their end, Wasm against native on the same engine and
//! input: the word count at several batch sizes, and the keyed
//! generator → counter job of issue 5 (10 k keys, checkpoints every
//! second). Each job is sized to take ten checkpoints or more at its
//! interval (issue 17), and its figures say how many it took.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::json;
use weir_host::{JobSpec, SinkNode, SinkSpec, SourceSpec, Watermarks};

use crate::harness::{
    Bench, Code, Finished, Timing, checkpoints, emit, generator, generator_job, median, progress, with_fields,
};

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

/// One measured run: its rates and the checkpoints it took.
#[derive(Debug, Clone, Copy)]
struct Measured {
    rates: Rates,
    checkpoints: u64,
}

impl Measured {
    fn of(events: u64, finished: &Finished) -> Self {
        Measured { rates: Rates::of(events, finished.timing), checkpoints: finished.checkpoints }
    }
}

/// Runs `measure` for Wasm and native `runs` times, alternating which goes
/// first (the machine is shared: drift then hits both alike); returns the
/// medians of each, the median of the per-round Wasm ÷ native ratios and
/// the median checkpoints per run of each, as JSON fields. With `--only`,
/// one of the two is skipped (its figures are null).
fn paired(bench: &Bench, runs: usize, mut measure: impl FnMut(Code) -> Result<Measured>) -> Result<serde_json::Value> {
    let mut series: [Vec<f64>; 8] = Default::default();
    for run in 0..runs {
        let order = if run % 2 == 0 { [Code::Wasm, Code::Native] } else { [Code::Native, Code::Wasm] };
        let not_run = Measured { rates: Rates { wall: f64::NAN, cpu: f64::NAN }, checkpoints: 0 };
        let mut round = [not_run; 2];
        for code in order.into_iter().filter(|&code| bench.only.is_none_or(|only| only == code)) {
            round[(code == Code::Native) as usize] = measure(code)?;
        }
        let [wasm, native] = round;
        for (list, value) in series.iter_mut().zip([
            wasm.rates.wall,
            native.rates.wall,
            wasm.rates.wall / native.rates.wall,
            wasm.rates.cpu,
            native.rates.cpu,
            wasm.rates.cpu / native.rates.cpu,
            wasm.checkpoints as f64,
            native.checkpoints as f64,
        ]) {
            list.push(value);
        }
    }
    let [wasm, native, ratio, wasm_cpu, native_cpu, ratio_cpu, checkpoints_wasm, checkpoints_native] =
        series.map(|list| median(&list));
    Ok(json!({
        "wasm_eps": wasm, "native_eps": native, "ratio": ratio,
        "wasm_eps_cpu": wasm_cpu, "native_eps_cpu": native_cpu, "ratio_cpu": ratio_cpu,
        "checkpoints_wasm": checkpoints_wasm, "checkpoints_native": checkpoints_native,
        "runs": runs,
    }))
}

/// Checkpoint interval of the word count: its runs last seconds, and take
/// ten checkpoints or more at this interval.
const WORDCOUNT_CHECKPOINT_INTERVAL: Duration = Duration::from_millis(200);

/// lines → tokenizer ×2 → counter ×2 (key_by) → discard, at batch sizes 1,
/// 64, 256 and 1024, checkpoints every 200 ms; events/s counts words
/// (events into the counter).
pub fn wordcount(bench: &Bench) -> Result<()> {
    let dir = bench.scratch("wordcount-checkpoints")?;
    for batch_size in [1, 64, 256, 1024] {
        // One event per call costs some µs per hop: a twentieth of the
        // input keeps batch size 1 to seconds.
        let words = if batch_size == 1 { bench.size(2_000_000, 2_000) } else { bench.size(40_000_000, 20_000) };
        let input = bench.work.join(format!("wordcount-input-{words}.txt"));
        if !input.exists() {
            write_wordcount_input(&input, words)?;
        }
        progress(&format!("word count, batch size {batch_size}"));
        let figures = paired(bench, bench.runs, |code| {
            let mut spec = JobSpec::new("bench-wordcount", SourceSpec::lines(&input), SinkSpec::Discard)
                .operator(bench.operator("tokenizer", code)?.parallelism(2))
                .operator(bench.operator("counter", code)?.parallelism(2).key_by(true))
                .checkpoint(checkpoints(&dir, WORDCOUNT_CHECKPOINT_INTERVAL, false));
            spec.execution.batch_size = batch_size;
            spec.id = Some(format!("wordcount-{}", code.label()));
            let finished = bench.run_to_end(spec)?;
            let counted = finished.report.metrics.operators.get(1).map_or(0, |op| op.events_in);
            if counted != words as u64 {
                bail!("the word count's counter saw {counted} words, expected {words}");
            }
            Ok(Measured::of(counted, &finished))
        })?;
        let job = json!({
            "scenario": "wordcount", "batch_size": batch_size, "events": words,
            "checkpoint_interval_ms": WORDCOUNT_CHECKPOINT_INTERVAL.as_millis() as u64,
        });
        emit(with_fields(figures, job));
    }
    Ok(())
}

/// generator → counter ×2 (key_by) → discard, 150 M events over 10 k keys,
/// 16-byte values, checkpoints every second; wall time includes start-up.
pub fn keyed(bench: &Bench) -> Result<()> {
    let events: u64 = bench.size(150_000_000, 200_000);
    let keys = 10_000;
    progress(&format!("generator → counter, {events} events"));
    let dir = bench.scratch("keyed-checkpoints")?;
    let figures = paired(bench, bench.runs, |code| {
        let mut spec = generator_job(
            "bench-keyed",
            generator(events, keys, 16),
            vec![bench.operator("counter", code)?.parallelism(2).key_by(true)],
        )
        .checkpoint(checkpoints(&dir, Duration::from_secs(1), false));
        spec.id = Some(format!("keyed-{}", code.label()));
        let finished = run_generator_job(bench, spec, events)?;
        Ok(Measured::of(events, &finished))
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
    // Two generator subtasks count ~17 M events/s here (150 M took 8
    // checkpoints).
    let events: u64 = bench.size(250_000_000, 400_000);
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
            let finished = run_generator_job(bench, spec, events)?;
            round[source_parallelism as usize - 1] = events as f64 / finished.timing.wall;
            series[2 + source_parallelism as usize - 1].push(finished.checkpoints as f64);
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
    let events: u64 = bench.size(60_000_000, 300_000);
    let keys = 10_000;
    progress(&format!("generator → window-count ×2, {events} events"));
    let dir = bench.scratch("windows-checkpoints")?;
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
        let finished = run_generator_job(bench, spec, events)?;
        Ok(Measured::of(events, &finished))
    })?;
    let job = json!({ "scenario": "windows", "events": events, "keys": keys, "parallelism": 2, "size_ms": 60_000 });
    emit(with_fields(figures, job));
    Ok(())
}

/// Runs a generator job of `events` events to its end, checking that the
/// generator emitted them all.
fn run_generator_job(bench: &Bench, spec: JobSpec, events: u64) -> Result<Finished> {
    let finished = bench.run_to_end(spec)?;
    let emitted = finished.report.metrics.source_events;
    if emitted != events {
        bail!("the generator emitted {emitted} events, expected {events}");
    }
    Ok(finished)
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
