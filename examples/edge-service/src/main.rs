//! An edge ingest service that embeds Weir.
//!
//! Clients post events over HTTP. The service writes them to its own
//! durable log on local disk, and a running Weir job (the `counter`
//! component, keyed by event key) consumes them through an embedded
//! source, writing running counts to a `files` sink with exactly-once
//! output and checkpointing its state to S3 (or any checkpoint URL).
//!
//! ```text
//!            POST /events                      feeding thread
//! client ───────────────▶ ingest log (disk) ─────────────────▶ Feeder ─▶ job ─▶ files sink, table
//!                          positions 1, 2, …      ▲ replays after a rewind      │
//!                                                 └──────── checkpoints ────────┘ (S3)
//! ```
//!
//! The pieces, one module each:
//!
//! - [`log`]: the durable ingest log. Positions are record numbers in it.
//! - [`feed`]: the thread that feeds logged events to the job and honours
//!   the replay duty (after a restore, resend everything after the restored
//!   position).
//! - [`table`]: a custom sink (the connector API): the newest count per
//!   key, committed with each checkpoint and served at `GET /counts`.
//! - [`http`]: the axum handlers.
//! - this file: configuration, start (resuming from the newest checkpoint)
//!   and the clean shutdown (drain, final checkpoint, cancel).
//!
//! See README.md for a walk-through.

mod feed;
mod http;
mod log;
mod table;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use weir_host::checkpoint::retention::JobEnd;
use weir_host::job::EmbeddedSource;
use weir_host::{
    CheckpointConfig, Engine, JobSpec, JobStatus, OperatorSpec, Retention, RunningJob, SinkNode, SinkSpec, StartFrom,
    StartOptions,
};

/// Events the embedded source buffers before the feeding thread blocks.
const QUEUE_CAPACITY: usize = 4096;
/// How long the shutdown waits for the job to take in every logged event.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

/// Every flag can also be set through the environment variable named.
/// The checkpoint store's own settings are the usual `AWS_*` variables
/// (`AWS_ENDPOINT`, `AWS_ALLOW_HTTP=true` for a local server,
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_DEFAULT_REGION`).
#[derive(Debug, Parser)]
#[command(about = "An HTTP ingest service running a Weir job, with checkpoints in S3")]
struct Config {
    /// Address to listen on (port 0: any free port; the address is printed).
    #[arg(long, env = "EDGE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where the ingest log lives.
    #[arg(long, env = "EDGE_DATA_DIR", default_value = "edge-data")]
    data_dir: PathBuf,
    /// The files sink's directory (default: `<data-dir>/out`).
    #[arg(long, env = "EDGE_OUTPUT")]
    output: Option<PathBuf>,
    /// Checkpoint root: `s3://bucket/prefix`, a path, or `file:///...`.
    #[arg(long, env = "EDGE_CHECKPOINTS")]
    checkpoints: String,
    /// Time between checkpoints, in milliseconds.
    #[arg(long, env = "EDGE_CHECKPOINT_INTERVAL_MS", default_value_t = 2000)]
    checkpoint_interval_ms: u64,
    /// What happens to the checkpoints when the service shuts down (the job
    /// is cancelled): no-externalized, delete-on-cancellation or
    /// retain-on-cancellation.
    #[arg(long, env = "EDGE_RETENTION", default_value = "delete-on-cancellation", value_parser = parse_retention)]
    retention: Retention,
    /// The counter component.
    #[arg(long, env = "EDGE_COMPONENT", default_value = "target/wasm32-wasip2/release/counter.wasm")]
    component: PathBuf,
    /// Counter subtasks.
    #[arg(long, env = "EDGE_PARALLELISM", default_value_t = 2)]
    parallelism: u32,
    /// The job's id: it names the job's directory under the checkpoint root,
    /// and a restarted service resumes the job of that id.
    #[arg(long, env = "EDGE_JOB_ID", default_value = "edge-counter")]
    job_id: String,
}

fn parse_retention(name: &str) -> Result<Retention, String> {
    Retention::parse(name).ok_or_else(|| format!("one of {}", Retention::NAMES.join(", ")))
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config = Config::parse();

    // 1. The durable input: the ingest log.
    let log = Arc::new(log::IngestLog::open(&config.data_dir)?);

    // 2. The job, resumed from its newest complete checkpoint (or fresh
    //    when it has none). The embedded source is the job's input; the
    //    feeder is how this service hands it events.
    let (source, mut feeder) = EmbeddedSource::new(QUEUE_CAPACITY);
    let output = config.output.clone().unwrap_or_else(|| config.data_dir.join("out"));
    let mut checkpoint =
        CheckpointConfig::new(&config.checkpoints, Duration::from_millis(config.checkpoint_interval_ms));
    checkpoint.retention = config.retention;
    let table = table::TableSink::open(&config.data_dir.join("table"))?;
    let mut job = JobSpec::new("edge-counter", source.clone().into(), SinkSpec::files(&output))
        .operator(OperatorSpec::new("counter", &config.component).parallelism(config.parallelism).key_by(true))
        .sink(SinkNode::new("table", SinkSpec::custom(table.clone())).inputs(["counter"]))
        .checkpoint(checkpoint);
    job.id = Some(config.job_id.clone());
    let engine = Engine::new().context("cannot start the Weir engine")?;
    let running = engine
        .start_with(job, StartOptions { from: StartFrom::Resume, ..StartOptions::default() })
        .with_context(|| format!("cannot start job {} (checkpoints in {})", config.job_id, config.checkpoints))?;

    // 3. Where the job restored: the source was rewound to the checkpoint's
    //    position while the job started, and every logged event after it
    //    must be sent again (the feeding thread does). A position past the
    //    end of the log means this is not the log the job was fed from.
    match feeder.take_rewind() {
        Some(rewind) if log.last().is_none_or(|last| last < rewind.after) => bail!(
            "the restored checkpoint is at position {}, past the end of the ingest log in {} (last: {:?}): \
             is this the job's data directory?",
            rewind.after,
            config.data_dir.display(),
            log.last()
        ),
        Some(rewind) => tracing::info!("resumed at position {}: replaying the ingest log after it", rewind.after),
        None => tracing::info!("started fresh: feeding the ingest log from position {}", log.first()),
    }

    // 4. The feeding thread, then the HTTP server until a shutdown is asked.
    let status = Arc::new(feed::FeedStatus::default());
    let feeding = feed::spawn(log.clone(), feeder, status.clone())?;
    let (shutdown, shutdown_asked) = tokio::sync::watch::channel(false);
    let app = Arc::new(http::App {
        log: log.clone(),
        job: running.observer(),
        source: source.clone(),
        feed: status.clone(),
        table,
        accepting: AtomicBool::new(true),
        shutdown,
    });
    let signal_app = app.clone();
    ctrlc::set_handler(move || {
        signal_app.accepting.store(false, Ordering::SeqCst);
        signal_app.shutdown.send_replace(true);
    })
    .context("cannot install the signal handler")?;
    serve(&config, app.clone(), shutdown_asked)?;

    // 5. The clean shutdown. The server has stopped: the log is complete.
    app.accepting.store(false, Ordering::SeqCst);
    if running.is_finished() {
        // Failed for good (its restart strategy gave up): nothing to drain.
        let report = running.wait().context("the job failed")?;
        bail!("the job ended by itself ({:?})", report.status);
    }
    let checkpoint_id = match drain_and_checkpoint(&running, &source, &log) {
        Ok(id) => id,
        // Without a final checkpoint, cancelling could delete (retention)
        // the checkpoints that the events in the log build on. Exit as a
        // crash would instead: everything stays, the next start resumes.
        Err(e) => return Err(e.context("clean shutdown failed: exiting without cancelling the job")),
    };
    tracing::info!("checkpoint {checkpoint_id} holds every logged event; cancelling the job");
    running.cancel();
    status.stop.store(true, Ordering::SeqCst);
    source.close();
    match feeding.join() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!("the feeding thread had failed: {e:#}"),
        Err(_) => tracing::warn!("the feeding thread panicked"),
    }
    let report = running.wait().context("the job failed")?;
    if report.status != JobStatus::Cancelled {
        bail!("the job ended as {:?}, not cancelled", report.status);
    }
    // The retention policy has been applied. When it deleted the
    // checkpoints, the job is over for good and its input, all of it in the
    // committed output now, is archived: the next start is a new job.
    if config.retention.keeps_checkpoints(JobEnd::Cancelled) {
        tracing::info!("checkpoints kept ({}): the next start resumes the job", config.retention.name());
    } else if let Some(archived) = log.archive()? {
        tracing::info!(
            "checkpoints deleted ({}): ingest log archived as {}",
            config.retention.name(),
            archived.display()
        );
    }
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Serves HTTP until a shutdown is asked (POST /shutdown, a signal) or the
/// job or the feeding thread ends by itself; lets requests in flight finish.
fn serve(config: &Config, app: Arc<http::App>, mut shutdown_asked: tokio::sync::watch::Receiver<bool>) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the HTTP runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let address = listener.local_addr().context("no local address")?;
        // On stdout, alone: scripts and tests read it to find the port.
        println!("listening on http://{address}");
        tracing::info!("listening on http://{address}");

        // The job fails for good only when its restart strategy gives up;
        // the feeding thread ends only on an error. Either way, stop.
        let watched = app.clone();
        let stop = async move {
            let mut interval = tokio::time::interval(Duration::from_millis(200));
            loop {
                tokio::select! {
                    _ = shutdown_asked.wait_for(|asked| *asked) => {
                        tracing::info!("shutdown asked");
                        break;
                    }
                    _ = interval.tick() => {
                        if !watched.job.is_running() || watched.feed.done.load(Ordering::SeqCst) {
                            tracing::error!("the job or the feeding thread has stopped: shutting down");
                            break;
                        }
                    }
                }
            }
            watched.accepting.store(false, Ordering::SeqCst);
        };
        axum::serve(listener, http::router(app.clone())).with_graceful_shutdown(stop).await.context("HTTP server")
    })
}

/// Waits until the job has taken in every logged event, then takes a
/// checkpoint: its completion commits the sink output of all of them.
/// Returns its id. Tried again when the job restarted in between (the
/// source's generation moved: the new attempt started from an older
/// position, and its checkpoint may not cover everything).
fn drain_and_checkpoint(running: &RunningJob, source: &EmbeddedSource, log: &log::IngestLog) -> Result<u64> {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    let last = log.last();
    tracing::info!("draining: waiting for the job to take in every logged event (up to {last:?})");
    loop {
        if running.is_finished() {
            bail!("the job ended before it took in every logged event");
        }
        if Instant::now() > deadline {
            bail!("within {DRAIN_TIMEOUT:?}, the job took in events up to {} of {last:?}", source.emitted());
        }
        let generation = source.generation();
        if last.is_some_and(|last| source.emitted() < last) {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        match running.trigger_checkpoint() {
            Ok(id) if source.generation() == generation => return Ok(id),
            Ok(id) => tracing::warn!("checkpoint {id} was taken after a restart: once more"),
            Err(e) => tracing::warn!("the final checkpoint failed ({e}): trying again"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
