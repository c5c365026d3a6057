//! `weir run JOB.toml`: start a job, print its progress, wait for the end;
//! with `--http ADDR`, serve the REST API, the dashboard and the metrics
//! meanwhile.
//!
//! Progress: on a terminal (text logs), a live line rewritten in place
//! (throughput, counts, the last checkpoint); otherwise a log line every
//! `--progress-interval` seconds (with `--log-format json`, an event whose
//! fields carry the figures).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use weir_host::checkpoint::stats::CheckpointStats;
use weir_host::{Engine, EngineConfig, JobMetrics, JobSpec, JobStatus, RestoreMode, StartFrom, StartOptions, http};

use super::LogFormat;

/// How often the live line is redrawn.
const LIVE_EVERY: Duration = Duration::from_millis(250);
/// The live line's throughput is over this much of the recent past.
const THROUGHPUT_WINDOW: Duration = Duration::from_secs(2);

#[derive(clap::Args)]
pub struct RunArgs {
    /// The job file.
    job: PathBuf,

    /// Restores from this checkpoint: a `chk-<n>` directory or its
    /// `_metadata` file, a local path or a URL.
    #[arg(short = 's', long = "from-checkpoint", value_name = "PATH", conflicts_with = "resume")]
    from_checkpoint: Option<String>,

    /// Continues the job under its id from its newest complete checkpoint
    /// (or from the start when it has none), owning its earlier checkpoints.
    #[arg(long)]
    resume: bool,

    /// With -s: `no-claim` never deletes the restored checkpoint; `claim`
    /// owns it, so retention may subsume it.
    #[arg(long, value_enum, default_value = "no-claim", requires = "from_checkpoint")]
    restore_mode: Mode,

    /// Starts even if the checkpoint holds state of an operator the job no
    /// longer has (that state is dropped).
    #[arg(long)]
    allow_non_restored_state: bool,

    /// Runs the job under this id instead of the job file's (or a fresh one).
    #[arg(long)]
    job_id: Option<String>,

    /// Seconds between two progress lines (when stderr is not a terminal).
    #[arg(long, default_value_t = 2.0, value_name = "SECONDS")]
    progress_interval: f64,

    /// Serves the REST API, the web dashboard (at /) and Prometheus metrics
    /// (at /metrics) on this address while the job runs, e.g.
    /// 127.0.0.1:8081; port 0 picks a free port (the log says which). An
    /// address other than loopback needs --http-token-file.
    #[arg(long, value_name = "ADDR")]
    http: Option<String>,

    /// Every endpoint but /metrics needs the token in this file (read once,
    /// surrounding whitespace removed): `Authorization: Bearer TOKEN`, or
    /// /?token=TOKEN to open the dashboard in a browser.
    #[arg(long, value_name = "FILE", requires = "http")]
    http_token_file: Option<PathBuf>,

    /// /metrics needs the token too (Prometheus: `authorization:
    /// credentials_file`).
    #[arg(long, requires = "http_token_file")]
    http_metrics_need_token: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Mode {
    NoClaim,
    Claim,
}

pub fn run(args: RunArgs, log_format: LogFormat) -> Result<()> {
    let mut spec = JobSpec::from_file(&args.job)?;
    if args.job_id.is_some() {
        spec.id = args.job_id;
    }
    let from = match (args.from_checkpoint, args.resume) {
        (Some(path), _) => {
            let mode = match args.restore_mode {
                Mode::NoClaim => RestoreMode::NoClaim,
                Mode::Claim => RestoreMode::Claim,
            };
            StartFrom::Checkpoint { path, mode }
        }
        (None, true) => StartFrom::Resume,
        (None, false) => StartFrom::Fresh,
    };
    let options = StartOptions { from, allow_non_restored_state: args.allow_non_restored_state };
    let consume_fuel = spec.operators.iter().any(|op| op.limits.fuel.is_some());
    // Listening first: a taken port fails before the job starts.
    let server = match &args.http {
        Some(addr) => {
            let access = match &args.http_token_file {
                Some(path) => http::Access::from_token_file(path)
                    .context("--http-token-file")?
                    .metrics_need_token(args.http_metrics_need_token),
                None => http::Access::default(),
            };
            let jobs = http::Jobs::new();
            let server =
                http::serve_with(addr.as_str(), jobs.clone(), access).with_context(|| format!("--http {addr}"))?;
            Some((jobs, server))
        }
        None => None,
    };
    let engine = Engine::with_config(EngineConfig { consume_fuel, ..EngineConfig::default() })?;
    let job = engine.start_with(spec, options).with_context(|| format!("cannot start {}", args.job.display()))?;
    tracing::info!("job '{}' ({}) running; Ctrl-C cancels it", job.name(), job.id());
    if let Some((jobs, server)) = &server {
        jobs.add(job.observer());
        let addr = server.local_addr();
        // Never the token itself: logs are read by more people than may
        // cancel the job.
        let how = if args.http_token_file.is_some() { " (token required; dashboard: /?token=TOKEN)" } else { "" };
        tracing::info!(address = %addr, "REST API, dashboard and metrics on http://{addr}/{how}");
    }

    let cancel = job.cancel_handle();
    ctrlc::set_handler(move || cancel.cancel()).context("cannot install the Ctrl-C / SIGTERM handler")?;

    let live = log_format == LogFormat::Text && super::live_line_possible();
    let interval = if live { LIVE_EVERY } else { Duration::from_secs_f64(args.progress_interval.max(0.1)) };
    let mut throughput = Throughput::default();
    let mut last_print = Instant::now();
    while !job.is_finished() {
        std::thread::sleep(Duration::from_millis(50).min(interval));
        let metrics = job.metrics();
        throughput.add(&metrics);
        if last_print.elapsed() < interval {
            continue;
        }
        last_print = Instant::now();
        let checkpoints = job.checkpoint_stats();
        let latest = checkpoints.latest_completed();
        // Between attempts the counters are the failed attempt's or none:
        // say what is going on instead.
        if let Some(restarting) = job.restarting() {
            let line = restarting_line(&restarting);
            match (live, log_format) {
                (true, _) => super::show_live_line(&format!("▶ {}", shorten(&line, 76))),
                (false, LogFormat::Text) => tracing::info!("{line}"),
                (false, LogFormat::Json) => tracing::info!(
                    attempt = restarting.attempt,
                    last_error = %restarting.last_error,
                    "restarting"
                ),
            }
            continue;
        }
        if live {
            super::show_live_line(&live_line(&metrics, throughput.rate(), latest, job.restarts()));
        } else {
            log_progress(log_format, "progress", &metrics, throughput.rate(), latest);
        }
    }
    super::clear_live_line();
    let name = job.name().to_owned();
    let last_checkpoint = job.checkpoint_stats().latest_completed().cloned();
    let result = job.wait();
    if let Some((_jobs, server)) = server {
        server.shutdown();
    }
    let report = result.with_context(|| format!("job '{name}' failed"))?;
    let verdict = match report.status {
        JobStatus::Finished => "finished",
        JobStatus::Cancelled => "cancelled",
    };
    let restarts = match report.restarts {
        0 => String::new(),
        n => format!(" after {n} restart(s)"),
    };
    let rate = report.metrics.source_rate();
    log_progress(
        log_format,
        &format!("job '{name}' {verdict}{restarts}"),
        &report.metrics,
        rate,
        last_checkpoint.as_ref(),
    );
    Ok(())
}

/// Source events per second over the last [`THROUGHPUT_WINDOW`].
#[derive(Default)]
struct Throughput {
    samples: VecDeque<(Instant, u64)>,
}

impl Throughput {
    fn add(&mut self, metrics: &JobMetrics) {
        let now = Instant::now();
        // Counters restart with each attempt.
        if self.samples.back().is_some_and(|&(_, events)| events > metrics.source_events) {
            self.samples.clear();
        }
        self.samples.push_back((now, metrics.source_events));
        while self.samples.len() > 2 && self.samples.front().is_some_and(|&(at, _)| now - at > THROUGHPUT_WINDOW) {
            self.samples.pop_front();
        }
    }

    fn rate(&self) -> f64 {
        match (self.samples.front(), self.samples.back()) {
            (Some(&(t0, e0)), Some(&(t1, e1))) if t1 > t0 => (e1 - e0) as f64 / (t1 - t0).as_secs_f64(),
            _ => 0.0,
        }
    }
}

/// One progress log line (text), or an event with the figures as fields
/// (JSON).
fn log_progress(format: LogFormat, what: &str, m: &JobMetrics, rate: f64, checkpoint: Option<&CheckpointStats>) {
    match format {
        LogFormat::Text if what == "progress" => tracing::info!("{}", progress_line(m, rate, checkpoint)),
        LogFormat::Text => tracing::info!("{what}: {}", progress_line(m, rate, checkpoint)),
        LogFormat::Json => {
            let operators: Vec<String> =
                m.operators.iter().map(|op| format!("{} {}->{}", op.name, op.events_in, op.events_out)).collect();
            tracing::info!(
                elapsed_s = m.elapsed.as_secs_f64(),
                source_events = m.source_events,
                events_per_s = rate.round(),
                sink_events = m.sink_events,
                operators = %operators.join(", "),
                checkpoint = checkpoint.map(|c| c.id),
                checkpoint_ms = checkpoint.and_then(|c| c.end_to_end_us).map(|us| us / 1000),
                checkpoint_state_bytes = checkpoint.map(|c| c.state_bytes),
                "{what}"
            );
        }
    }
}

/// `12.0s | source 1.20M ev (100k ev/s) | tokenizer 1.20M→6.10M | counter 6.10M→6.10M | sink 6.10M | checkpoint 7 (12 ms, 1.2 MiB)`
fn progress_line(m: &JobMetrics, rate: f64, checkpoint: Option<&CheckpointStats>) -> String {
    let mut line =
        format!("{:.1}s | source {} ev ({} ev/s)", m.elapsed.as_secs_f64(), human(m.source_events as f64), human(rate));
    for op in &m.operators {
        line += &format!(" | {} {}→{}", op.name, human(op.events_in as f64), human(op.events_out as f64));
    }
    line += &format!(" | sink {}", human(m.sink_events as f64));
    if let Some(c) = checkpoint {
        line += &format!(" | checkpoint {}", checkpoint_summary(c));
    }
    line
}

/// The live line, short enough for an 80-column terminal:
/// `▶ 12.3s | 5.98k ev/s | in 73.2k | out 585k | checkpoint 17 (34 ms, 1.2 MiB)`
fn live_line(m: &JobMetrics, rate: f64, checkpoint: Option<&CheckpointStats>, restarts: u32) -> String {
    let mut line = format!(
        "▶ {:.1}s | {} ev/s | in {} | out {}",
        m.elapsed.as_secs_f64(),
        human(rate),
        human(m.source_events as f64),
        human(m.sink_events as f64)
    );
    match checkpoint {
        Some(c) => line += &format!(" | checkpoint {}", checkpoint_summary(c)),
        None => line += " | no checkpoint yet",
    }
    if restarts > 0 {
        line += &format!(" | {restarts} restart(s)");
    }
    line
}

/// `restarting (attempt 2, last error: operator 'counter' subtask 0: ...)`
fn restarting_line(restarting: &weir_host::Restarting) -> String {
    format!("restarting (attempt {}, last error: {})", restarting.attempt, restarting.last_error)
}

/// At most `max` characters, with `…` when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// `17 (34 ms, 1.2 MiB)`: id, end-to-end duration, state size.
fn checkpoint_summary(c: &CheckpointStats) -> String {
    let duration = match c.end_to_end_us {
        Some(us) if us >= 10_000_000 => format!("{:.1} s", us as f64 / 1e6),
        Some(us) if us < 10_000 => format!("{:.1} ms", us as f64 / 1e3),
        Some(us) => format!("{} ms", us / 1000),
        None => "?".into(),
    };
    format!("{} ({duration}, {})", c.id, bytes(c.state_bytes))
}

fn human(n: f64) -> String {
    match n {
        n if n >= 1e9 => format!("{:.2}G", n / 1e9),
        n if n >= 1e6 => format!("{:.2}M", n / 1e6),
        n if n >= 1e4 => format!("{:.0}k", n / 1e3),
        n => format!("{n:.0}"),
    }
}

fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_show_throughput_and_the_last_checkpoint() {
        let m = JobMetrics {
            elapsed: Duration::from_millis(12_300),
            source_events: 73_200,
            operators: vec![weir_host::OperatorMetrics { name: "op".into(), events_in: 73_200, events_out: 585_000 }],
            sink_events: 585_000,
        };
        let mut c = weir_host::checkpoint::stats::CheckpointStats {
            id: 17,
            status: weir_host::checkpoint::stats::CheckpointStatus::Completed,
            trigger_time_ms: 0,
            end_to_end_us: Some(34_500),
            state_bytes: 1_300_000,
            checkpointed_bytes: 0,
            files_written: 0,
            end_of_input: false,
            subtasks: Vec::new(),
        };
        assert_eq!(
            live_line(&m, 5980.0, Some(&c), 0),
            "▶ 12.3s | 5980 ev/s | in 73k | out 585k | checkpoint 17 (34 ms, 1.2 MiB)"
        );
        assert!(live_line(&m, 5980.0, Some(&c), 0).chars().count() < 80);
        assert_eq!(
            live_line(&m, 0.0, None, 2),
            "▶ 12.3s | 0 ev/s | in 73k | out 585k | no checkpoint yet | 2 restart(s)"
        );
        let restarting = weir_host::Restarting { attempt: 2, last_error: "operator 'op' subtask 1: ".repeat(9) };
        let line = format!("▶ {}", shorten(&restarting_line(&restarting), 76));
        assert!(line.starts_with("▶ restarting (attempt 2, last error: operator 'op' subtask 1: "), "{line}");
        assert!(line.chars().count() < 80 && line.ends_with('…'), "{line}");
        c.end_to_end_us = Some(420);
        assert!(live_line(&m, 0.0, Some(&c), 0).ends_with("| checkpoint 17 (0.4 ms, 1.2 MiB)"));
        c.end_to_end_us = Some(12_000_000);
        assert_eq!(
            progress_line(&m, 6000.0, Some(&c)),
            "12.3s | source 73k ev (6000 ev/s) | op 73k→585k | sink 585k | checkpoint 17 (12.0 s, 1.2 MiB)"
        );
    }
}
