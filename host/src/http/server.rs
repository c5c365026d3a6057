//! Running the server: binding (loopback, or a token), its own runtime or
//! the embedder's, sampling counters for rates and histograms, and a
//! graceful shutdown.

use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::registry::{Entry, Jobs, Snapshot};
use super::routes::router;
use super::{Access, RATE_WINDOW, SAMPLE_EVERY, SHUTDOWN_GRACE, api, prometheus};
use crate::checkpoint::stats::CheckpointHistory;
use crate::error::{Error, Result};
use crate::exec::JobMetrics;

/// A running server. Dropping it stops the server without waiting;
/// [`ServerHandle::shutdown`] waits for it.
pub struct ServerHandle {
    addr: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    stopped: std::sync::mpsc::Receiver<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServerHandle {
    /// The address the server listens on (with the real port when it was
    /// asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections, lets requests in flight finish for up
    /// to a second, and returns once the server is gone. Blocks: call it
    /// outside async code.
    pub fn shutdown(mut self) {
        let _ = self.stop.send(true);
        let _ = self.stopped.recv_timeout(SHUTDOWN_GRACE + Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Serves `jobs` on `addr` (e.g. `127.0.0.1:8081`; port 0 picks a free
/// port, see [`ServerHandle::local_addr`]) from a runtime of its own, on
/// one thread named `weir-http`. Without a token: refuses an address other
/// than loopback (see [`serve_with`]).
pub fn serve(addr: impl ToSocketAddrs, jobs: Jobs) -> Result<ServerHandle> {
    serve_with(addr, jobs, Access::default())
}

/// [`serve`] for the clients `access` admits: with a token, `addr` may be
/// any address.
///
/// ```no_run
/// use weir_host::http;
///
/// let access = http::Access::with_token("s3cret")?.metrics_need_token(true);
/// let server = http::serve_with("0.0.0.0:8081", http::Jobs::new(), access)?;
/// # Ok::<(), weir_host::Error>(())
/// ```
pub fn serve_with(addr: impl ToSocketAddrs, jobs: Jobs, access: Access) -> Result<ServerHandle> {
    let listener = bind(addr, &access)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("weir-http")
        .build()
        .map_err(Error::host("start the HTTP server's runtime"))?;
    let (mut handle, start) = prepare(listener, jobs, access)?;
    let thread = std::thread::Builder::new()
        .name("weir-http".into())
        .spawn(move || {
            runtime.block_on(start.run());
            // Not `drop`, which would wait for a checkpoint trigger still
            // blocking on the pool.
            runtime.shutdown_timeout(SHUTDOWN_GRACE);
        })
        .map_err(Error::host("start the HTTP server's thread"))?;
    handle.thread = Some(thread);
    Ok(handle)
}

/// [`serve`] on an existing tokio runtime (which needs its I/O and time
/// drivers enabled).
pub fn serve_on(runtime: &tokio::runtime::Handle, addr: impl ToSocketAddrs, jobs: Jobs) -> Result<ServerHandle> {
    serve_on_with(runtime, addr, jobs, Access::default())
}

/// [`serve_with`] on an existing tokio runtime.
pub fn serve_on_with(
    runtime: &tokio::runtime::Handle,
    addr: impl ToSocketAddrs,
    jobs: Jobs,
    access: Access,
) -> Result<ServerHandle> {
    let listener = bind(addr, &access)?;
    let (handle, start) = prepare(listener, jobs, access)?;
    runtime.spawn(start.run());
    Ok(handle)
}

/// Listens on `addr`, once `access` allows it (checked before binding, so
/// that a refused address is never listened on, not even briefly).
pub(super) fn bind(addr: impl ToSocketAddrs, access: &Access) -> Result<TcpListener> {
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs().map_err(Error::host("resolve the HTTP address"))?.collect();
    access.check_address(&addrs)?;
    let listener = TcpListener::bind(&addrs[..]).map_err(|e| {
        let shown: Vec<String> = addrs.iter().map(ToString::to_string).collect();
        Error::host(format!("listen on {}", shown.join(", ")))(e)
    })?;
    listener.set_nonblocking(true).map_err(Error::host("configure the HTTP listener"))?;
    Ok(listener)
}

/// A server ready to run on whichever runtime.
pub(super) struct Start {
    listener: TcpListener,
    state: Arc<ServerState>,
    access: Access,
    stop: tokio::sync::watch::Receiver<bool>,
    stopped: std::sync::mpsc::Sender<()>,
}

pub(super) fn prepare(listener: TcpListener, jobs: Jobs, access: Access) -> Result<(ServerHandle, Start)> {
    let addr = listener.local_addr().map_err(Error::host("tell the HTTP listener's address"))?;
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let (stopped, stopped_rx) = std::sync::mpsc::channel();
    let state = Arc::new(ServerState { jobs, samples: Mutex::default(), histograms: Mutex::default() });
    let handle = ServerHandle { addr, stop: stop_tx, stopped: stopped_rx, thread: None };
    Ok((handle, Start { listener, state, access, stop, stopped }))
}

impl Start {
    pub(super) async fn run(self) {
        let Start { listener, state, access, stop, stopped } = self;
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(e) => {
                tracing::error!("the HTTP server cannot start: {e}");
                let _ = stopped.send(());
                return;
            }
        };
        let sampler = tokio::spawn(sample_forever(state.clone(), stop.clone()));
        let mut graceful = stop.clone();
        let server = axum::serve(listener, router(state, access)).with_graceful_shutdown(async move {
            let _ = graceful.wait_for(|stop| *stop).await;
        });
        let mut deadline = stop;
        tokio::select! {
            result = server => if let Err(e) = result {
                tracing::error!("the HTTP server failed: {e}");
            },
            _ = async {
                let _ = deadline.wait_for(|stop| *stop).await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } => {}
        }
        sampler.abort();
        let _ = stopped.send(());
    }
}

/// What the handlers share.
pub(super) struct ServerState {
    pub(super) jobs: Jobs,
    /// Recent counters per job id, oldest first.
    samples: Mutex<HashMap<String, VecDeque<(Instant, JobMetrics)>>>,
    /// Checkpoint histograms per job id, for `/metrics`.
    pub(super) histograms: Mutex<HashMap<String, prometheus::CheckpointHistograms>>,
}

impl ServerState {
    pub(super) fn sample(&self) {
        let entries = self.jobs.all();
        let now = Instant::now();
        let mut samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        samples.retain(|id, _| entries.iter().any(|e| e.observer.id() == id));
        for entry in &entries {
            let window = samples.entry(entry.observer.id().to_owned()).or_default();
            window.push_back((now, entry.observer.metrics()));
            while window.len() > RATE_WINDOW + 1 {
                window.pop_front();
            }
        }
        drop(samples);
        self.histograms
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|id, _| entries.iter().any(|e| e.observer.id() == id));
        for entry in &entries {
            self.ingest(entry.observer.id(), &entry.observer.checkpoint_stats());
        }
    }

    /// Adds the newly completed checkpoints to the job's histograms.
    pub(super) fn ingest(&self, id: &str, history: &CheckpointHistory) {
        let mut histograms = self.histograms.lock().unwrap_or_else(|p| p.into_inner());
        histograms.entry(id.to_owned()).or_default().ingest(history);
    }

    /// The oldest recent sample of a job's counters, to take rates from.
    pub(super) fn rate_base(&self, id: &str) -> Option<(Instant, JobMetrics)> {
        let samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        samples.get(id).and_then(|window| window.front().cloned())
    }

    pub(super) fn view(&self, entry: &Entry) -> (Snapshot, api::Rates) {
        let snapshot = entry.snapshot();
        let rates = api::Rates::between(self.rate_base(&snapshot.id), Instant::now(), &snapshot.metrics);
        (snapshot, rates)
    }
}

pub(super) async fn sample_forever(state: Arc<ServerState>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(SAMPLE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => state.sample(),
            _ = stop.wait_for(|stop| *stop) => return,
        }
    }
}
