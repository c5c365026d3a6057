//! `weir run JOB.toml`: start a job, print its progress, wait for the end.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use weir_host::{Engine, EngineConfig, JobMetrics, JobSpec, JobStatus, RestoreMode, StartFrom, StartOptions};

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

    /// Seconds between two progress lines.
    #[arg(long, default_value_t = 2.0, value_name = "SECONDS")]
    progress_interval: f64,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Mode {
    NoClaim,
    Claim,
}

pub fn run(args: RunArgs) -> Result<()> {
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
    let engine = Engine::with_config(EngineConfig { consume_fuel, ..EngineConfig::default() })?;
    let job = engine.start_with(spec, options).with_context(|| format!("cannot start {}", args.job.display()))?;
    tracing::info!("job '{}' ({}) running; Ctrl-C cancels it", job.name(), job.id());

    let cancel = job.cancel_handle();
    ctrlc::set_handler(move || cancel.cancel()).context("cannot install the Ctrl-C / SIGTERM handler")?;

    let interval = Duration::from_secs_f64(args.progress_interval.max(0.1));
    let mut last_print = std::time::Instant::now();
    while !job.is_finished() {
        std::thread::sleep(Duration::from_millis(50).min(interval));
        if last_print.elapsed() >= interval {
            tracing::info!("{}", progress_line(&job.metrics()));
            last_print = std::time::Instant::now();
        }
    }
    let name = job.name().to_owned();
    let report = job.wait().with_context(|| format!("job '{name}' failed"))?;
    let verdict = match report.status {
        JobStatus::Finished => "finished",
        JobStatus::Cancelled => "cancelled",
    };
    let restarts = match report.restarts {
        0 => String::new(),
        n => format!(" after {n} restart(s)"),
    };
    tracing::info!("job '{name}' {verdict}{restarts}: {}", progress_line(&report.metrics));
    Ok(())
}

/// `12.0s | source 1.20M ev (100k ev/s) | tokenizer 1.20M→6.10M | counter 6.10M→6.10M | sink 6.10M`
fn progress_line(m: &JobMetrics) -> String {
    let mut line = format!(
        "{:.1}s | source {} ev ({} ev/s)",
        m.elapsed.as_secs_f64(),
        human(m.source_events as f64),
        human(m.source_rate())
    );
    for op in &m.operators {
        line += &format!(" | {} {}→{}", op.name, human(op.events_in as f64), human(op.events_out as f64));
    }
    line += &format!(" | sink {}", human(m.sink_events as f64));
    line
}

fn human(n: f64) -> String {
    match n {
        n if n >= 1e9 => format!("{:.2}G", n / 1e9),
        n if n >= 1e6 => format!("{:.2}M", n / 1e6),
        n if n >= 1e4 => format!("{:.0}k", n / 1e3),
        n => format!("{n:.0}"),
    }
}
