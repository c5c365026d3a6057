//! `flink`: the keyed job on Apache Flink 2.3 and on Weir, side by side in
//! one run (issue 17): N events over 10 k keys → keyBy → a running count
//! per key → discard, checkpoints every second, at parallelism 1 and 2,
//! runs alternating. N = 250 M, so that Weir's faster run still lasts for
//! the ten checkpoints an end-to-end benchmark must take.
//!
//! - Flink: `bench/flink/FlinkPeerJob.java` (DataStream API, heap state),
//!   compiled here with `javac` against the jars of PyPI's `apache-flink`
//!   (`WEIR_FLINK_HOME`: the `pyflink` directory, which `cargo xtask bench`
//!   installs), run in a local MiniCluster. Its figure is the counting
//!   operator's first → last record over all subtasks, as Flink users
//!   quote it: JVM and cluster start excluded.
//! - Weir: the whole `weir run` process (`WEIR_BIN`) on the same job: the
//!   `generator` source ×p (the same keys and 16-byte values the Java job
//!   makes) → the `counter` component ×p (key_by) → discard.
//!
//! Where Flink cannot run (no `java`, no `WEIR_FLINK_HOME`), its result says
//! why instead of giving a figure.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::harness::{Bench, emit, median, progress};

const KEYS: u64 = 10_000;

pub fn flink(bench: &Bench) -> Result<()> {
    // Weir at p=2 counts ~17 M events/s here (150 M took 8 checkpoints).
    let events: u64 = bench.size(250_000_000, 200_000);
    let flink = Flink::prepare(bench);
    let weir = weir_binary()?;
    for parallelism in [1u32, 2] {
        progress(&format!("keyed count, {events} events, p={parallelism}: Flink 2.3 and Weir, alternating"));
        let job = write_weir_job(bench, events, parallelism)?;
        let (mut flink_eps, mut weir_eps, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
        let (mut flink_checkpoints, mut weir_checkpoints) = (Vec::new(), Vec::new());
        let mut flink_error = None;
        for run in 0..bench.runs.max(1) {
            let mut round = [f64::NAN; 2];
            for is_flink in [run % 2 == 0, run % 2 != 0] {
                if is_flink {
                    match flink
                        .as_ref()
                        .map_err(|e| e.to_string())
                        .and_then(|f| f.run(events, parallelism).map_err(|e| format!("{e:#}")))
                    {
                        Ok((eps, checkpoints)) => {
                            round[0] = eps;
                            flink_checkpoints.push(checkpoints as f64);
                        }
                        Err(e) => flink_error = Some(e),
                    }
                } else {
                    let (eps, checkpoints) = run_weir(&weir, &job, events)?;
                    round[1] = eps;
                    weir_checkpoints.push(checkpoints as f64);
                }
            }
            weir_eps.push(round[1]);
            if !round[0].is_nan() {
                flink_eps.push(round[0]);
                ratio.push(round[1] / round[0]);
            }
        }
        let mut result = json!({
            "scenario": "flink", "events": events, "keys": KEYS, "parallelism": parallelism,
            "runs": bench.runs.max(1), "weir_eps": median(&weir_eps), "weir_checkpoints": median(&weir_checkpoints),
        });
        match flink_error {
            Some(why) => result["flink_error"] = json!(why),
            None => {
                result["flink_eps"] = json!(median(&flink_eps));
                result["flink_checkpoints"] = json!(median(&flink_checkpoints));
                result["ratio"] = json!(median(&ratio));
            }
        }
        emit(result);
    }
    Ok(())
}

fn weir_binary() -> Result<PathBuf> {
    let path = match std::env::var_os("WEIR_BIN") {
        Some(path) => PathBuf::from(path),
        None => std::env::current_exe()?.with_file_name("weir"),
    };
    if !path.exists() {
        bail!("{} is missing: build it with `cargo build --release -p weir-host --bin weir`", path.display());
    }
    Ok(path)
}

fn write_weir_job(bench: &Bench, events: u64, parallelism: u32) -> Result<PathBuf> {
    let dir = bench.scratch(&format!("flink-peer-weir-{parallelism}"))?;
    let job = format!(
        "[job]\nname = \"keyed-peer\"\n\n[checkpoint]\ndir = \"{ckpt}\"\ninterval_ms = 1000\n\n[source]\ntype = \
         \"generator\"\ncount = {events}\nkeys = {KEYS}\nvalue_size = 16\nparallelism = {parallelism}\n\n\
         [[operators]]\nname = \"counter\"\ncomponent = \"{counter}\"\nparallelism = {parallelism}\nkey_by = \
         true\n\n[sink]\ntype = \"discard\"\n",
        ckpt = dir.join("ckpt").display(),
        counter = std::path::absolute(bench.component("counter")?)?.display(),
    );
    let path = dir.join("job.toml");
    std::fs::write(&path, job).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// The whole `weir run` process: events per second and checkpoints
/// completed (the log's "checkpoint N complete" lines).
fn run_weir(weir: &Path, job: &Path, events: u64) -> Result<(f64, u64)> {
    let started = Instant::now();
    let output = Command::new(weir).arg("run").arg(job).env("RUST_LOG", "info").output()?;
    let seconds = started.elapsed().as_secs_f64();
    let log = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!("weir run {} failed: {log}", job.display());
    }
    let checkpoints = log.lines().filter(|l| l.contains("checkpoint") && l.contains(" complete:")).count();
    Ok((events as f64 / seconds, checkpoints as u64))
}

/// The compiled Java job and how to start a JVM for it.
struct Flink {
    classpath: String,
    java_options: Vec<String>,
}

impl Flink {
    fn prepare(bench: &Bench) -> Result<Flink, String> {
        let home = std::env::var_os("WEIR_FLINK_HOME")
            .map(PathBuf::from)
            .ok_or("WEIR_FLINK_HOME is not set (`cargo xtask bench` installs apache-flink and sets it)")?;
        let lib = format!("{}/*", home.join("lib").display());
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("flink/FlinkPeerJob.java");
        let classes = bench.work.join("flink-classes");
        std::fs::create_dir_all(&classes).map_err(|e| format!("cannot create {}: {e}", classes.display()))?;
        let compiled = Command::new("javac")
            .args(["-cp", &lib, "-d"])
            .arg(&classes)
            .arg(&source)
            .output()
            .map_err(|e| format!("cannot run javac: {e}"))?;
        if !compiled.status.success() {
            return Err(format!("javac {}: {}", source.display(), String::from_utf8_lossy(&compiled.stderr)));
        }
        // The JVM options Flink's own scripts pass (`env.java.opts.all`).
        let config = std::fs::read_to_string(home.join("conf/config.yaml"))
            .map_err(|e| format!("cannot read {}: {e}", home.join("conf/config.yaml").display()))?;
        let java_options = config
            .lines()
            .find(|line| line.trim_start().starts_with("all:") && line.contains("--add-opens"))
            .map(|line| line.trim_start().trim_start_matches("all:").split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        Ok(Flink { classpath: format!("{}:{lib}", classes.display()), java_options })
    }

    /// Events per second of the counting operator, first → last record,
    /// and the checkpoints completed meanwhile (the subtasks' median).
    fn run(&self, events: u64, parallelism: u32) -> Result<(f64, u64)> {
        let output = Command::new("java")
            .args(&self.java_options)
            .args(["-cp", &self.classpath, "FlinkPeerJob", &events.to_string(), &parallelism.to_string()])
            .output()
            .context("cannot run java")?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            bail!("the Flink job failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        let (mut first, mut last, mut seen, mut checkpoints) = (u64::MAX, 0u64, 0u64, Vec::new());
        for line in stdout.lines().filter_map(|l| l.strip_prefix("FLINK-SUBTASK ")) {
            let fields: Vec<u64> = line.split_whitespace().filter_map(|f| f.parse().ok()).collect();
            let [start, end, count, taken] = fields[..] else { bail!("the Flink job printed {line:?}") };
            if count > 0 {
                first = first.min(start);
                last = last.max(end);
            }
            seen += count;
            checkpoints.push(taken as f64);
        }
        if seen != events {
            bail!("the Flink job counted {seen} events, expected {events}");
        }
        let seconds = (last.saturating_sub(first)) as f64 / 1e9;
        Ok((events as f64 / seconds.max(1e-9), median(&checkpoints) as u64))
    }
}
