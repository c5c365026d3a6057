//! `cargo xtask bench`: runs the benchmarks, prints one set of tables and
//! writes it to BENCHMARKS.md with the date, the machine and the command.
//!
//! Micro figures come from criterion (`host/benches/boundary.rs`,
//! `host/benches/instantiate.rs`), read back from its `estimates.json`
//! files. End-to-end figures come from `weir-bench` (`bench/`), which embeds
//! the engine, runs every scenario Wasm against native and prints one JSON
//! object per result; this file only turns them into tables and says which
//! of issue 5's targets are met. `--quick` shortens everything (tiny sizes,
//! one run: a smoke test of the harness, for CI) and writes nothing.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::{build_guests, cargo, root, run, step, target_dir};

struct Settings {
    /// criterion's warm-up and measurement time per benchmark, seconds.
    warm_up_secs: f64,
    measurement_secs: f64,
    /// Runs of each end-to-end figure (the median is reported).
    runs: usize,
}

pub fn run_bench(args: &[String]) -> Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    let settings = if quick {
        Settings { warm_up_secs: 0.1, measurement_secs: 0.2, runs: 1 }
    } else {
        Settings { warm_up_secs: 1.0, measurement_secs: 3.0, runs: 3 }
    };
    let guests = build_guests()?;
    let harness = build_harness()?;

    step("micro-benchmarks (criterion): crossing into a guest, starting a subtask");
    let mut command = cargo();
    command
        .args(["bench", "--quiet", "-p", "weir-host"])
        .args(["--bench", "boundary", "--bench", "instantiate", "--bench", "languages", "--"])
        .args(["--warm-up-time", &settings.warm_up_secs.to_string()])
        .args(["--measurement-time", &settings.measurement_secs.to_string()])
        .env("WEIR_GUEST_DIR", &guests);
    if quick {
        command.args(["--nresamples", "1000"]);
    }
    run(&mut command)?;
    let micro = micro_tables()?;

    step("end to end (weir-bench): the engine, Wasm against native");
    let work = target_dir().join("bench");
    let records = run_harness(&harness, &guests, &work, quick, settings.runs)?;
    let e2e = end_to_end_tables(&records, settings.runs)?;
    let machine = machine_line(&records);

    let table = format!("{machine}{e2e}\n{micro}");
    println!("\n{table}");
    if quick {
        eprintln!("(--quick: figures not written to BENCHMARKS.md)");
        return Ok(());
    }
    write_benchmarks_md(&table)
}

/// The smoke of the harness that `cargo xtask test` (CI) runs: every
/// end-to-end scenario at its smallest, and the tables rendered from them, so
/// that a broken benchmark is found before someone needs its figures.
/// Criterion's micro-benchmarks are not part of it.
pub fn smoke(guests: &Path) -> Result<()> {
    let harness = build_harness()?;
    step("benchmark harness smoke (weir-bench --quick)");
    let work = target_dir().join("bench-smoke");
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let records = run_harness(&harness, guests, &work, true, 1)?;
    end_to_end_tables(&records, 1)?;
    Ok(())
}

/// Builds `weir-bench`; returns its path.
fn build_harness() -> Result<PathBuf> {
    step("building the benchmark harness (release)");
    run(cargo().args(["build", "--quiet", "--release", "--package", "weir-bench", "--bin", "weir-bench"]))?;
    // The `flink` scenario times the `weir` binary itself.
    run(cargo().args(["build", "--quiet", "--release", "--package", "weir-host", "--bin", "weir"]))?;
    let path = target_dir().join("release/weir-bench");
    if !path.exists() {
        bail!("expected build output {} is missing", path.display());
    }
    Ok(path)
}

/// Runs every scenario; the JSON objects it printed, one per result.
fn run_harness(harness: &Path, guests: &Path, work: &Path, quick: bool, runs: usize) -> Result<Vec<Value>> {
    let mut command = Command::new(harness);
    command.arg("--guests").arg(guests).arg("--work").arg(work).args(["--runs", &runs.to_string()]);
    if quick {
        command.arg("--quick");
    }
    // Flink runs beside Weir in the `flink` scenario; `weir run` is timed
    // as a whole process there.
    match crate::tools::ensure_flink(&target_dir()) {
        Ok(pyflink) => {
            command.env("WEIR_FLINK_HOME", pyflink);
        }
        Err(e) => eprintln!("Apache Flink cannot be installed, its rows will say so: {e:#}"),
    }
    command.env("WEIR_BIN", target_dir().join("release/weir"));
    // The broker scenario starts its own servers, as the tests do.
    command.env("WEIR_NISSHI", crate::tools::ensure_nisshi(&target_dir())?);
    command.env("WEIR_NATS_SERVER", crate::tools::ensure_nats_server()?);
    command.arg("all").stderr(Stdio::inherit());
    let output = command.output().with_context(|| format!("cannot run {}", harness.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("{} failed ({}); its results so far:\n{stdout}", harness.display(), output.status);
    }
    // The raw results, for a closer look than the tables give.
    let results = work.join("results.jsonl");
    std::fs::write(&results, stdout.as_bytes()).with_context(|| format!("cannot write {}", results.display()))?;
    eprintln!("weir-bench results: {}", results.display());
    stdout
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).with_context(|| format!("weir-bench printed {line:?}")))
        .collect()
}

/// Median time of one criterion benchmark, in nanoseconds.
fn criterion_median(id: &str) -> Result<f64> {
    let path = target_dir().join("criterion").join(id).join("new/estimates.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let json: Value = serde_json::from_str(&text).with_context(|| format!("bad JSON in {}", path.display()))?;
    json["median"]["point_estimate"].as_f64().with_context(|| format!("no median in {}", path.display()))
}

fn micro_tables() -> Result<String> {
    let noop = criterion_median("boundary/noop")?;
    let mut out = String::new();
    writeln!(out, "### Crossing into a guest (criterion medians)\n")?;
    writeln!(out, "Keyed running count, 16-byte keys, 64-byte values, 10,000 keys. ns/event includes the call.")?;
    writeln!(out, "An empty call (`noop`) costs **{noop:.0} ns**.\n")?;
    writeln!(
        out,
        "| batch size | `list<record>` ns/event | packed `list<u8>` ns/event | record ÷ packed | SDK counter via `GuestInstance` ns/event |"
    )?;
    writeln!(out, "|---:|---:|---:|---:|---:|")?;
    for n in [1usize, 64, 256] {
        let records = criterion_median(&format!("boundary/records/{n}"))? / n as f64;
        let packed = criterion_median(&format!("boundary/packed/{n}"))? / n as f64;
        let sdk = criterion_median(&format!("sdk-counter/packed/{n}"))? / n as f64;
        writeln!(out, "| {n} | {records:.0} | {packed:.0} | {:.1}x | {sdk:.0} |", records / packed)?;
    }

    writeln!(out, "\n### Starting a subtask (criterion medians, the `counter` component)\n")?;
    writeln!(out, "| step | median | target |")?;
    writeln!(out, "|---|---:|---|")?;
    let compile = criterion_median("instantiate/compile")?;
    let cached = criterion_median("instantiate/load-cached")?;
    let pooling = criterion_median("instantiate/pooling")?;
    let no_pooling = criterion_median("instantiate/no-pooling")?;
    writeln!(
        out,
        "| compile from bytes (`LoadedComponent::load`, no cache), once per job | {} | |",
        duration(compile)
    )?;
    writeln!(out, "| load from the on-disk compiled cache, once per job | {} | |", duration(cached))?;
    writeln!(
        out,
        "| instantiate from `InstancePre` + `init`, pooling allocator, per subtask | {} | ≤ 50 µs: {} |",
        duration(pooling),
        at_most(pooling / 1e3, 50.0)
    )?;
    writeln!(out, "| the same without the pooling allocator | {} | |", duration(no_pooling))?;
    out += &languages_table()?;
    Ok(out)
}

/// The counter in each language (`host/benches/languages.rs`; criterion
/// stores the group `languages/process` as `languages_process`).
fn languages_table() -> Result<String> {
    let sizes_path = target_dir().join("criterion/languages-snapshot-bytes.json");
    let sizes: Value = serde_json::from_str(
        &std::fs::read_to_string(&sizes_path).with_context(|| format!("cannot read {}", sizes_path.display()))?,
    )
    .with_context(|| format!("bad JSON in {}", sizes_path.display()))?;
    let per_event = |language: &str| criterion_median(&format!("languages_process/{language}")).map(|ns| ns / 256.0);
    let (rust, native) = (per_event("rust")?, per_event("native")?);
    let mut out = String::new();
    writeln!(
        out,
        "
### The counter in each language (criterion medians)
"
    )?;
    writeln!(
        out,
        "`examples/counter` and its ports (`counter-py`, `counter-js`, `counter-c`) through `GuestInstance`, and the Rust \
         one compiled natively: batches of 256 events over 10,000 keys; instantiate = pooling allocator, component \
         from the compiled cache, `init` included; snapshot = a full snapshot of 10,000 counts of 1.\n"
    )?;
    writeln!(
        out,
        "| language | ns/event | ÷ Rust component | ÷ native | events/s ÷ Rust component's | target | instantiate | snapshot |"
    )?;
    writeln!(out, "|---|---:|---:|---:|---:|---|---:|---:|")?;
    for language in ["native", "rust", "c", "python", "javascript"] {
        let ns = per_event(language)?;
        let instantiate = match language {
            "native" => "—".to_owned(),
            _ => duration(criterion_median(&format!("languages_instantiate/{language}"))?),
        };
        let snapshot = sizes[language].as_f64().with_context(|| format!("no snapshot size for {language}"))?;
        // Issue 17's targets: the throughput of a port against Rust's.
        let throughput = rust / ns;
        let target = match language {
            "python" => format!("≥ 0.1: {}", at_least(throughput, 0.1)),
            "javascript" => format!("≥ 0.05: {}", at_least(throughput, 0.05)),
            _ => String::new(),
        };
        writeln!(
            out,
            "| {language} | {ns:.0} | {:.2} | {:.1} | {throughput:.3} | {target} | {instantiate} | {} |",
            ns / rust,
            ns / native,
            size(snapshot)
        )?;
    }
    Ok(out)
}

/// The results of one scenario.
fn scenario<'a>(records: &'a [Value], name: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["scenario"] == name).collect()
}

/// A ratio field that may be missing (null: a CPU time too short for the
/// kernel's 10 ms ticks, as in `--quick`), formatted.
fn ratio_or_dash(record: &Value, field: &str, decimals: usize) -> String {
    match record[field].as_f64() {
        Some(value) if value.is_finite() && value > 0.0 => format!("{:.*}", decimals, value),
        _ => "—".into(),
    }
}

/// The checkpoints a Wasm-against-native scenario took per run, medians:
/// "Wasm / native", flagged when fewer than the ten an end-to-end figure
/// needs (issue 17).
fn checkpoints_per_run(record: &Value) -> Result<String> {
    let (wasm, native) = (num(record, "checkpoints_wasm")?, num(record, "checkpoints_native")?);
    Ok(format!("{wasm} / {native}{}", too_few_checkpoints(wasm.min(native))))
}

/// A count of checkpoints taken, flagged as [`checkpoints_per_run`] does.
fn checkpoints_taken(taken: f64) -> String {
    format!("{taken}{}", too_few_checkpoints(taken))
}

fn too_few_checkpoints(taken: f64) -> &'static str {
    if taken < 10.0 { " (**fewer than 10**)" } else { "" }
}

/// The result of `list` for `mib` MiB of state.
fn by_size<'a>(list: &[&'a Value], mib: f64) -> Option<&'a Value> {
    list.iter().find(|r| r["mib"].as_f64() == Some(mib)).copied()
}

/// A number field of a result.
fn num(record: &Value, field: &str) -> Result<f64> {
    record[field].as_f64().with_context(|| format!("weir-bench result {record} has no number `{field}`"))
}

fn end_to_end_tables(records: &[Value], runs: usize) -> Result<String> {
    let mut out = String::new();
    let keyed = scenario(records, "keyed");
    let keyed = keyed.first().context("weir-bench printed no `keyed` result")?;
    writeln!(
        out,
        "### Wasm ÷ native through the engine (`weir-bench`, medians of {runs} runs; the keyed job: {})\n",
        num(keyed, "runs")?
    )?;
    writeln!(
        out,
        "Same engine, same input; native = the same SDK operator compiled into the host \
         (`NativeOperator::sdk`). Wall time of each job from start to end, start-up included; \
         per CPU-second: events per second of the process's CPU time, which other load on the \
         machine disturbs much less. Targets are judged on wall time.\n"
    )?;
    writeln!(
        out,
        "| job | batch size | Wasm events/s | native events/s | Wasm ÷ native | Wasm ÷ native per CPU-second | checkpoints per run (Wasm / native) | target |"
    )?;
    writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---|")?;
    for r in scenario(records, "wordcount") {
        writeln!(
            out,
            "| word count: lines → tokenizer ×2 → counter ×2 (key_by) → discard, {} words, checkpoints every {} ms | {} | {} | {} | {:.2} | {} | {} | |",
            count(num(r, "events")?),
            num(r, "checkpoint_interval_ms")?,
            num(r, "batch_size")?,
            rate(num(r, "wasm_eps")?),
            rate(num(r, "native_eps")?),
            num(r, "ratio")?,
            ratio_or_dash(r, "ratio_cpu", 2),
            checkpoints_per_run(r)?
        )?;
    }
    let wasm = num(keyed, "wasm_eps")?;
    let ratio = num(keyed, "ratio")?;
    writeln!(
        out,
        "| generator → counter ×2 (key_by) → discard, {} events, {} keys, checkpoints every 1 s | 256 | {} | {} | {ratio:.2} | {} | {} | ≥ 0.85: {} |",
        count(num(keyed, "events")?),
        count(num(keyed, "keys")?),
        rate(wasm),
        rate(num(keyed, "native_eps")?),
        ratio_or_dash(keyed, "ratio_cpu", 2),
        checkpoints_per_run(keyed)?,
        at_least(ratio, 0.85)
    )?;
    writeln!(out)?;
    let flink = scenario(records, "flink");
    if flink.is_empty() {
        bail!("weir-bench printed no `flink` result");
    }
    writeln!(out, "### Against Apache Flink 2.3 (`weir-bench flink`, medians of {} runs)\n", num(flink[0], "runs")?)?;
    writeln!(
        out,
        "The keyed job on both, alternating in one run: {} keys, 16-byte values, a running count per key, \
         checkpoints every 1 s. Flink: `bench/flink/FlinkPeerJob.java` (DataStream, heap state, PyPI's \
         apache-flink jars, local MiniCluster), timed from the counting operator's first to its last record \
         (JVM start excluded); Weir: the whole `weir run` process (generator ×p → counter ×p → discard).\n",
        count(num(flink[0], "keys")?)
    )?;
    writeln!(
        out,
        "| events, parallelism | Flink events/s | Weir events/s | Weir ÷ Flink | checkpoints (Flink / Weir) | target |"
    )?;
    writeln!(out, "|---|---:|---:|---:|---:|---|")?;
    for r in &flink {
        let parallelism = num(r, "parallelism")?;
        let what = format!("{}, p={parallelism}", count(num(r, "events")?));
        let weir = rate(num(r, "weir_eps")?);
        match r["flink_error"].as_str() {
            Some(why) => writeln!(out, "| {what} | not run: {why} | {weir} | | | |")?,
            None => {
                let ratio = num(r, "ratio")?;
                let target =
                    if parallelism == 2.0 { format!("≥ 3: {}", at_least(ratio, 3.0)) } else { String::new() };
                writeln!(
                    out,
                    "| {what} | {} | {weir} | {ratio:.2} | {} / {} | {target} |",
                    rate(num(r, "flink_eps")?),
                    num(r, "flink_checkpoints")?,
                    num(r, "weir_checkpoints")?
                )?;
            }
        }
    }
    writeln!(out)?;

    let sources = scenario(records, "sources");
    let sources = sources.first().context("weir-bench printed no `sources` result")?;
    writeln!(out, "### A parallel source (`weir-bench sources`, medians of {} runs)\n", num(sources, "runs")?)?;
    writeln!(
        out,
        "The keyed job (generator → counter ×2 (key_by) → discard, {} events, {} keys, Wasm, checkpoints \
         every 1 s) with its generator read by one subtask, then by two, each generating its own range of \
         the sequence. Runs alternate; wall time of the whole job.\n",
        count(num(sources, "events")?),
        count(num(sources, "keys")?)
    )?;
    writeln!(out, "| source subtasks | events/s | checkpoints taken | ratio to one |")?;
    writeln!(out, "|---:|---:|---:|---:|")?;
    writeln!(
        out,
        "| 1 | {} | {} | 1.00 |",
        rate(num(sources, "one_source_eps")?),
        checkpoints_taken(num(sources, "checkpoints_one")?)
    )?;
    let ratio = num(sources, "ratio")?;
    writeln!(
        out,
        "| 2 | {} | {} | {ratio:.2} (target > 1: {}) |\n",
        rate(num(sources, "two_sources_eps")?),
        checkpoints_taken(num(sources, "checkpoints_two")?),
        at_least(ratio, 1.0)
    )?;

    let windows = scenario(records, "windows");
    let windows = windows.first().context("weir-bench printed no `windows` result")?;
    writeln!(out, "### The windowed count (`weir-bench windows`, medians of {} runs)\n", num(windows, "runs")?)?;
    writeln!(
        out,
        "generator → window-count ×2 (key_by) → discard, {} events over {} keys, 60 s tumbling windows of \
         event time, watermarks every 200 ms of event time, checkpoints every 1 s; the same operator \
         compiled natively as the baseline.\n",
        count(num(windows, "events")?),
        count(num(windows, "keys")?),
    )?;
    writeln!(
        out,
        "| Wasm events/s | native events/s | Wasm ÷ native | Wasm ÷ native per CPU-second | checkpoints per run (Wasm / native) |"
    )?;
    writeln!(out, "|---:|---:|---:|---:|---:|")?;
    writeln!(
        out,
        "| {} | {} | {:.2} | {} | {} |\n",
        rate(num(windows, "wasm_eps")?),
        rate(num(windows, "native_eps")?),
        num(windows, "ratio")?,
        ratio_or_dash(windows, "ratio_cpu", 2),
        checkpoints_per_run(windows)?
    )?;

    let brokers = scenario(records, "brokers");
    if brokers.is_empty() {
        bail!("weir-bench printed no `brokers` result");
    }
    writeln!(
        out,
        "### Broker → counter → broker (`weir-bench brokers`, medians of {} runs)\n",
        num(brokers[0], "runs")?
    )?;
    writeln!(
        out,
        "Weir: the broker source ×2 (Kafka) or ×1 (NATS) → the `counter` component ×2 (key_by) → the broker \
         sink, checkpoints every {} ms (the sinks publish each completed checkpoint's output); the \
         baseline: a plain loop with the same client that consumes, counts in a `HashMap` and produces, \
         against the same server in the same run, runs alternating. Time: from the start until the output \
         holds a record per input event; {} keys, 16-byte values.\n",
        num(brokers[0], "checkpoint_interval_ms")?,
        count(num(brokers[0], "keys")?)
    )?;
    writeln!(
        out,
        "| broker | Weir's sink | events | Weir events/s | loop events/s | Weir ÷ loop | checkpoints per run |"
    )?;
    writeln!(out, "|---|---|---:|---:|---:|---:|---:|")?;
    for r in &brokers {
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {:.2} | {} |",
            r["broker"].as_str().unwrap_or("?"),
            r["weir_sink"].as_str().unwrap_or("?"),
            count(num(r, "events")?),
            rate(num(r, "weir_eps")?),
            rate(num(r, "loop_eps")?),
            num(r, "ratio")?,
            num(r, "checkpoints")?
        )?;
    }
    writeln!(out)?;

    writeln!(out, "### Keyed state: snapshot and checkpoint (the `store` guest, 1 KiB values)\n")?;
    writeln!(
        out,
        "Snapshot: one instance holding every key once, `GuestInstance::snapshot(Full)` against the SDK's \
         `Runtime` natively. Checkpoint: generator → store ×2 (key_by) → discard running flat out, \
         `RunningJob::trigger_checkpoint()` until complete (local disk), and from the host's checkpoint \
         statistics the slowest subtask's `snapshot` call (sync: it processes nothing meanwhile) and upload \
         (async: one file per subtask, checksums, the write).\n"
    )?;
    writeln!(
        out,
        "| keyed state | snapshot, Wasm | Wasm ms/MiB | snapshot, native | Wasm ÷ native time | checkpoint end to end | of which sync | of which async |"
    )?;
    writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|")?;
    let snapshots = scenario(records, "snapshot");
    let checkpoints = scenario(records, "checkpoint");
    let restores = scenario(records, "restore");
    for s in &snapshots {
        let mib = num(s, "mib")?;
        let bytes = num(s, "wasm_full_bytes")?;
        let wasm_ms = num(s, "wasm_full_ms")?;
        let native_ms = num(s, "native_full_ms")?;
        let checkpoint = by_size(&checkpoints, mib);
        let field = |name: &str| checkpoint.and_then(|c| c[name].as_f64()).map_or("—".into(), millis);
        writeln!(
            out,
            "| {} | {} | {:.2} | {} | {:.2} | {} | {} | {} |",
            size(bytes),
            millis(wasm_ms),
            wasm_ms / (bytes / f64::from(1 << 20)),
            millis(native_ms),
            wasm_ms / native_ms,
            field("ms"),
            field("sync_ms"),
            field("async_ms"),
        )?;
    }

    writeln!(out, "\n### Restore\n")?;
    writeln!(
        out,
        "A job restored from the checkpoint above whose input is already exhausted, from `start_with` to \
         the end of `wait` (state read, checked, handed to two new instances, which decode it; then torn \
         down), against `cat`-ing the checkpoint's files to /dev/null; both with the files dropped from the \
         page cache first (`dd iflag=nocache`). Last column: the restore with the files in the page cache.\n"
    )?;
    writeln!(
        out,
        "| keyed state | restore | `cat` | restore ÷ `cat` | target: ≤ 1.5 at 1 GiB | restore, files cached |"
    )?;
    writeln!(out, "|---:|---:|---:|---:|---|---:|")?;
    let largest = restores.iter().filter_map(|r| r["mib"].as_f64()).fold(0.0, f64::max);
    for r in &restores {
        let ratio = num(r, "ratio")?;
        let verdict = if num(r, "mib")? == largest { at_most(ratio, 1.5) } else { String::new() };
        writeln!(
            out,
            "| {} | {} | {} | {ratio:.1} | {verdict} | {} |",
            size(num(r, "file_bytes")?),
            millis(num(r, "restore_cold_ms")?),
            millis(num(r, "cat_cold_ms")?),
            millis(num(r, "restore_warm_ms")?),
        )?;
    }

    writeln!(out, "\n### Incremental checkpoints: size after 1% of the keys changed\n")?;
    writeln!(out, "| measured on | keyed state | full | incremental | incremental ÷ full | target: ≤ 0.03 |")?;
    writeln!(out, "|---|---:|---:|---:|---:|---|")?;
    for s in &snapshots {
        let full = num(s, "wasm_full_bytes")?;
        let incremental = num(s, "wasm_incremental_bytes")?;
        let answered = s["wasm_incremental_answered"].as_bool().unwrap_or(false);
        writeln!(
            out,
            "| `GuestInstance` snapshots{} | {} | {} | {} | {:.4} | {} |",
            if answered { "" } else { " (the guest answered in full)" },
            size(full),
            size(full),
            size(incremental),
            incremental / full,
            at_most(incremental / full, 0.03)
        )?;
    }
    let throughput = scenario(records, "throughput");
    if let Some(t) = throughput.iter().find(|t| t["workload"] == "hot-1%" && t["mode"] == "incremental") {
        let (full, newest) = (num(t, "shared_biggest_bytes")?, num(t, "shared_newest_bytes")?);
        writeln!(
            out,
            "| a job's checkpoint files (`shared/`), hot-1% updates below | {} | {} | {} | {:.4} | {} |",
            size(full),
            size(full),
            size(newest),
            newest / full,
            at_most(newest / full, 0.03)
        )?;
    }

    if let Some(first) = throughput.first() {
        writeln!(
            out,
            "\n### Throughput with a checkpoint every second, {} of keyed state\n",
            size(num(first, "mib")? * f64::from(1 << 20))
        )?;
        writeln!(
            out,
            "generator → store ×2 (key_by) → discard, restored from a checkpoint of that state (so that it is \
             all there from the first event). Uniform: updates spread over every key; hot-1%: over 1% of the \
             keys. One job per row, measured in {} alternating {}-second windows: with a checkpoint triggered \
             every second, and without; the ratio is the median over the pairs, so that other load on the \
             machine hits both sides alike. Per CPU-second: the same ratio for events per second of the \
             process's CPU time (blind to cores a checkpoint leaves idle). Sync / async: the slowest subtask's \
             `snapshot` call and upload, medians over the job's checkpoints.\n",
            num(first, "pairs")? * 2.0,
            num(first, "window_s")?,
        )?;
        writeln!(
            out,
            "| updates | checkpoints | taken | events/s without | events/s with | with ÷ without | per CPU-second | written per checkpoint | sync / async | target: loss ≤ 2% |"
        )?;
        writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|---|")?;
        for t in &throughput {
            let ratio = num(t, "ratio")?;
            let phases = match (t["sync_ms"].as_f64(), t["async_ms"].as_f64()) {
                (Some(sync), Some(upload)) => format!("{} / {}", millis(sync), millis(upload)),
                _ => "—".into(),
            };
            writeln!(
                out,
                "| {} | {} | {} | {} | {} | {ratio:.3} | {} | {} | {phases} | {} |",
                t["workload"].as_str().unwrap_or("?"),
                t["mode"].as_str().unwrap_or("?"),
                num(t, "checkpoints")?,
                rate(num(t, "eps_none")?),
                rate(num(t, "eps")?),
                ratio_or_dash(t, "ratio_cpu", 3),
                t["checkpointed_bytes"].as_f64().map_or("—".into(), size),
                at_least(ratio, 0.98),
            )?;
        }
    }

    if let Some(m) = scenario(records, "memory").first() {
        let (idle, native, wasm) = (num(m, "idle_kib")?, num(m, "native_kib")?, num(m, "wasm_kib")?);
        let subtasks = num(m, "subtasks")?;
        writeln!(
            out,
            "\n### Peak memory of the host (VmHWM), generator → counter ×{subtasks} (key_by) → discard, {} events, \
             checkpoints every 1 s ({} per run)\n",
            count(num(m, "events")?),
            checkpoints_per_run(m)?
        )?;
        writeln!(out, "| process | VmHWM |")?;
        writeln!(out, "|---|---:|")?;
        writeln!(out, "| engine only, no job | {} |", size(idle * 1024.0))?;
        writeln!(out, "| the job, native operators | {} |", size(native * 1024.0))?;
        writeln!(out, "| the job, Wasm components | {} |", size(wasm * 1024.0))?;
        writeln!(
            out,
            "| the {subtasks} sandboxes (Wasm − native): linear memories, stores, code | {} ({} per subtask) |",
            size((wasm - native) * 1024.0),
            size((wasm - native) * 1024.0 / subtasks)
        )?;
    }
    Ok(out)
}

/// How busy the machine was with other work while weir-bench ran.
fn machine_line(records: &[Value]) -> String {
    let Some(machine) = scenario(records, "machine").first().copied() else { return String::new() };
    let one_minute = |field: &str| machine[field][0].as_f64().map_or("?".into(), |l| format!("{l:.1}"));
    format!(
        "Load average (1 min) when `weir-bench` started and ended: {} and {}, on {} cores.\n\n",
        one_minute("load_average_before"),
        one_minute("load_average_after"),
        machine["cores"]
    )
}

/// "met", or how far below a `≥ target` the value is.
fn at_least(value: f64, target: f64) -> String {
    if value >= target { "met".into() } else { format!("**missed** by {:.0}%", (1.0 - value / target) * 100.0) }
}

/// "met", or how far above a `≤ target` the value is.
fn at_most(value: f64, target: f64) -> String {
    if value <= target { "met".into() } else { format!("**missed**: {:.1}x the target", value / target) }
}

/// Nanoseconds, in a readable unit.
fn duration(ns: f64) -> String {
    match ns {
        ns if ns >= 1e6 => format!("{:.1} ms", ns / 1e6),
        ns if ns >= 1e3 => format!("{:.1} µs", ns / 1e3),
        ns => format!("{ns:.0} ns"),
    }
}

fn millis(ms: f64) -> String {
    if ms >= 100.0 { format!("{ms:.0} ms") } else { format!("{ms:.1} ms") }
}

fn rate(per_second: f64) -> String {
    if per_second >= 1e6 { format!("{:.2} M", per_second / 1e6) } else { format!("{:.0} k", per_second / 1e3) }
}

fn count(n: f64) -> String {
    match n {
        n if n >= 1e6 => format!("{} M", n / 1e6),
        n if n >= 1e3 => format!("{} k", n / 1e3),
        n => format!("{n}"),
    }
}

fn size(bytes: f64) -> String {
    match bytes {
        b if b >= f64::from(1 << 30) => format!("{:.2} GiB", b / f64::from(1 << 30)),
        b if b >= f64::from(1 << 20) => format!("{:.1} MiB", b / f64::from(1 << 20)),
        b if b >= 1024.0 => format!("{:.1} KiB", b / 1024.0),
        b => format!("{b:.0} B"),
    }
}

/// Replaces the generated part of BENCHMARKS.md (between the markers),
/// keeping the hand-written analysis around it.
fn write_benchmarks_md(table: &str) -> Result<()> {
    const START: &str = "<!-- cargo xtask bench: start -->";
    const END: &str = "<!-- cargo xtask bench: end -->";
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            let line = info.lines().find(|l| l.starts_with("model name"))?;
            Some(line.split_once(':')?.1.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let generated = format!(
        "{START}\nMade by `cargo xtask bench` on {date}: {cpu}, {cores} cores. The machine is shared \
         and noisy: compare figures of one run with each other, not across runs.\n\n{table}{END}"
    );
    let path = root().join("BENCHMARKS.md");
    let old = std::fs::read_to_string(&path).unwrap_or_else(|_| format!("# Benchmarks\n\n{START}\n{END}\n"));
    let text = match (old.find(START), old.find(END)) {
        (Some(start), Some(end)) if start < end => {
            format!("{}{generated}{}", &old[..start], &old[end + END.len()..])
        }
        _ => format!("{old}\n{generated}\n"),
    };
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
