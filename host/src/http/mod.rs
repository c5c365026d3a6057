//! The REST API, the web dashboard and the Prometheus endpoint, for `weir
//! run --http ADDR` and for embedders.
//!
//! ```no_run
//! use weir_host::{Engine, JobSpec, http};
//!
//! let spec = JobSpec::from_file("examples/wordcount/job.toml")?;
//! let jobs = http::Jobs::new();
//! let server = http::serve("127.0.0.1:8081", jobs.clone())?;
//! println!("dashboard on http://{}/", server.local_addr());
//! let job = Engine::new()?.start(spec)?;
//! jobs.add(job.observer()); // shown until removed, also once it has ended
//! let report = job.wait()?;
//! server.shutdown();
//! # Ok::<(), weir_host::Error>(())
//! ```
//!
//! Endpoints (all JSON unless noted; `host/openapi.json` is the contract,
//! also served at `GET /openapi.json`):
//!
//! | | |
//! |---|---|
//! | `GET /` | the dashboard (HTML, plain JS, no build step) |
//! | `GET /jobs` | every registered job: id, name, status |
//! | `GET /jobs/{id}` | status, elapsed, restarts, failures by kind, operators with events and rates |
//! | `GET /jobs/{id}/checkpoints` | counts, summary (min/avg/max), latest, history |
//! | `GET /jobs/{id}/checkpoints/{n}` | one checkpoint, per operator and subtask |
//! | `POST /jobs/{id}/checkpoints` | takes a checkpoint now; answers `201` once it is complete |
//! | `POST /jobs/{id}/cancel` | asks the job to stop; answers `202` |
//! | `GET /metrics` | Prometheus text format, every metric named `weir_*` |
//!
//! Errors are `{"error": "..."}` with a 4xx or 5xx status.
//!
//! Without a token ([`serve`], [`serve_on`]) the server listens on
//! loopback only and asks no one for anything. On any other address it
//! needs a token ([`serve_with`], [`serve_on_with`] and an [`Access`]):
//! every endpoint but `/metrics` (which may opt in) then answers `401`
//! unless the request carries `Authorization: Bearer TOKEN`, or, for the
//! dashboard page only, `/?token=TOKEN` (a browser cannot add a header
//! when it opens a page; the page's script then sends the header itself).
//!
//! ```no_run
//! use weir_host::http;
//!
//! let access = http::Access::from_token_file("/etc/weir/http-token")?;
//! let server = http::serve_with("0.0.0.0:8081", http::Jobs::new(), access)?;
//! // curl -H "Authorization: Bearer $(cat /etc/weir/http-token)" http://HOST:8081/jobs
//! # Ok::<(), weir_host::Error>(())
//! ```
//!
//! Either way the two `POST`s refuse requests a browser marks as
//! cross-site, so that another web page cannot cancel a job through a
//! dashboard open on this machine.
//!
//! The server runs on its own tokio runtime ([`serve`]) or on one the
//! embedder gives ([`serve_on`]). It only reads counters and statistics and
//! sends commands; no guest code ever runs on it, and the one call that
//! waits (triggering a checkpoint) waits on the runtime's blocking pool.

mod api;
mod auth;
mod prometheus;

pub use auth::Access;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::checkpoint::stats::{CheckpointHistory, CheckpointStatus};
use crate::error::{Error, Result};
use crate::exec::{JobMetrics, JobObserver, JobOutcome};
use crate::job::graph::JobGraph;

/// The OpenAPI 3 description of the endpoints.
pub const OPENAPI_JSON: &str = include_str!("../../openapi.json");
const INDEX_HTML: &str = include_str!("dashboard/index.html");
const DASHBOARD_JS: &str = include_str!("dashboard/dashboard.js");
/// The page as served: the script inlined, so that a browser that opened
/// `/?token=TOKEN` needs no second request that it could not add the token
/// to (a `<script src>` sends no `Authorization` header).
static DASHBOARD_PAGE: LazyLock<String> = LazyLock::new(|| {
    INDEX_HTML.replacen(r#"<script src="dashboard.js"></script>"#, &format!("<script>\n{DASHBOARD_JS}</script>"), 1)
});

/// How often the server samples each job's counters (for rates and the
/// checkpoint histograms).
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// Rates are taken over this much of the recent past.
const RATE_WINDOW: usize = 5;
/// How long a shutdown waits for requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// The jobs a server shows: a registry the embedder adds jobs to and removes
/// them from while the server runs. Cheap to clone; clones share the jobs.
#[derive(Clone, Default)]
pub struct Jobs {
    inner: Arc<Mutex<Vec<Entry>>>,
}

#[derive(Clone)]
struct Entry {
    observer: JobObserver,
    /// A cancel came through the API.
    cancel_requested: bool,
}

impl Jobs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Shows a job (replacing one with the same id), while it runs and
    /// after it has ended, until [`Jobs::remove`].
    pub fn add(&self, observer: JobObserver) {
        self.insert(Entry { observer, cancel_requested: false });
    }

    fn insert(&self, entry: Entry) {
        let mut jobs = self.lock();
        match jobs.iter_mut().find(|e| e.observer.id() == entry.observer.id()) {
            Some(existing) => *existing = entry,
            None => jobs.push(entry),
        }
    }

    /// Stops showing a job; false if it was not shown.
    pub fn remove(&self, id: &str) -> bool {
        let mut jobs = self.lock();
        let before = jobs.len();
        jobs.retain(|e| e.observer.id() != id);
        jobs.len() != before
    }

    /// The ids of the jobs shown, in the order they were added.
    pub fn ids(&self) -> Vec<String> {
        self.lock().iter().map(|e| e.observer.id().to_owned()).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, id: &str) -> Option<Entry> {
        self.lock().iter().find(|e| e.observer.id() == id).cloned()
    }

    fn all(&self) -> Vec<Entry> {
        self.lock().clone()
    }

    fn mark_cancel_requested(&self, id: &str) {
        if let Some(entry) = self.lock().iter_mut().find(|e| e.observer.id() == id) {
            entry.cancel_requested = true;
        }
    }
}

/// A point-in-time view of one job: what the JSON and the metrics are made
/// of (so that both are pure functions, tested without a running job).
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) status: &'static str,
    pub(crate) running: bool,
    pub(crate) error: Option<String>,
    pub(crate) metrics: JobMetrics,
    pub(crate) graph: Option<JobGraph>,
    pub(crate) restarts: u32,
    pub(crate) failures: std::collections::BTreeMap<&'static str, u64>,
    pub(crate) checkpoints: CheckpointHistory,
}

impl Entry {
    fn status(&self) -> &'static str {
        match self.observer.outcome() {
            Some(JobOutcome::Finished) => return "FINISHED",
            Some(JobOutcome::Cancelled) => return "CANCELED",
            Some(JobOutcome::Failed(_)) => return "FAILED",
            None => {}
        }
        if !self.observer.is_running() {
            return "ENDED";
        }
        if self.cancel_requested {
            return "CANCELLING";
        }
        // Between two attempts the job has no counters (and every running
        // attempt has at least one operator).
        if self.observer.metrics().operators.is_empty() { "RESTARTING" } else { "RUNNING" }
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            id: self.observer.id().to_owned(),
            name: self.observer.name().to_owned(),
            status: self.status(),
            running: self.observer.is_running(),
            error: match self.observer.outcome() {
                Some(JobOutcome::Failed(error)) => Some(error),
                _ => None,
            },
            // The last attempt's counters stay readable once the job ended.
            metrics: self.observer.metrics(),
            graph: Some(self.observer.graph().clone()),
            restarts: self.observer.restarts(),
            failures: self.observer.failures(),
            checkpoints: self.observer.checkpoint_stats(),
        }
    }
}

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
        .map_err(|e| Error::Usage(format!("cannot start the HTTP server's runtime: {e}")))?;
    let (mut handle, start) = prepare(listener, jobs, access)?;
    let thread = std::thread::Builder::new()
        .name("weir-http".into())
        .spawn(move || {
            runtime.block_on(start.run());
            // Not `drop`, which would wait for a checkpoint trigger still
            // blocking on the pool.
            runtime.shutdown_timeout(SHUTDOWN_GRACE);
        })
        .map_err(|e| Error::Usage(format!("cannot start the HTTP server's thread: {e}")))?;
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
fn bind(addr: impl ToSocketAddrs, access: &Access) -> Result<TcpListener> {
    let addrs: Vec<SocketAddr> =
        addr.to_socket_addrs().map_err(|e| Error::Usage(format!("cannot resolve the HTTP address: {e}")))?.collect();
    access.check_address(&addrs)?;
    let listener = TcpListener::bind(&addrs[..]).map_err(|e| {
        let shown: Vec<String> = addrs.iter().map(ToString::to_string).collect();
        Error::Usage(format!("cannot listen on {}: {e}", shown.join(", ")))
    })?;
    listener.set_nonblocking(true).map_err(|e| Error::Usage(format!("cannot configure the HTTP listener: {e}")))?;
    Ok(listener)
}

/// A server ready to run on whichever runtime.
struct Start {
    listener: TcpListener,
    state: Arc<ServerState>,
    access: Access,
    stop: tokio::sync::watch::Receiver<bool>,
    stopped: std::sync::mpsc::Sender<()>,
}

fn prepare(listener: TcpListener, jobs: Jobs, access: Access) -> Result<(ServerHandle, Start)> {
    let addr = listener.local_addr().map_err(|e| Error::Usage(format!("the HTTP listener has no address: {e}")))?;
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let (stopped, stopped_rx) = std::sync::mpsc::channel();
    let state = Arc::new(ServerState { jobs, samples: Mutex::default(), histograms: Mutex::default() });
    let handle = ServerHandle { addr, stop: stop_tx, stopped: stopped_rx, thread: None };
    Ok((handle, Start { listener, state, access, stop, stopped }))
}

impl Start {
    async fn run(self) {
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
struct ServerState {
    jobs: Jobs,
    /// Recent counters per job id, oldest first.
    samples: Mutex<HashMap<String, VecDeque<(Instant, JobMetrics)>>>,
    /// Checkpoint histograms per job id, for `/metrics`.
    histograms: Mutex<HashMap<String, prometheus::CheckpointHistograms>>,
}

impl ServerState {
    fn sample(&self) {
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
    fn ingest(&self, id: &str, history: &CheckpointHistory) {
        let mut histograms = self.histograms.lock().unwrap_or_else(|p| p.into_inner());
        histograms.entry(id.to_owned()).or_default().ingest(history);
    }

    /// The oldest recent sample of a job's counters, to take rates from.
    fn rate_base(&self, id: &str) -> Option<(Instant, JobMetrics)> {
        let samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        samples.get(id).and_then(|window| window.front().cloned())
    }

    fn view(&self, entry: &Entry) -> (Snapshot, api::Rates) {
        let snapshot = entry.snapshot();
        let rates = api::Rates::between(self.rate_base(&snapshot.id), Instant::now(), &snapshot.metrics);
        (snapshot, rates)
    }
}

async fn sample_forever(state: Arc<ServerState>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(SAMPLE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => state.sample(),
            _ = stop.wait_for(|stop| *stop) => return,
        }
    }
}

fn router(state: Arc<ServerState>, access: Access) -> Router {
    Router::new()
        .route("/", get(dashboard))
        .route("/dashboard.js", get(|| async { static_file(DASHBOARD_JS, "text/javascript; charset=utf-8") }))
        .route("/openapi.json", get(|| async { static_file(OPENAPI_JSON, "application/json") }))
        .route("/jobs", get(list_jobs))
        .route("/jobs/{id}", get(job_details))
        .route("/jobs/{id}/checkpoints", get(checkpoints).post(trigger_checkpoint))
        .route("/jobs/{id}/checkpoints/{n}", get(checkpoint_details))
        .route("/jobs/{id}/cancel", post(cancel))
        .route("/metrics", get(metrics))
        .fallback(|method: Method, uri: Uri| async move {
            error(StatusCode::NOT_FOUND, format!("no such endpoint: {method} {}", uri.path()))
        })
        .method_not_allowed_fallback(|method: Method, uri: Uri| async move {
            error(StatusCode::METHOD_NOT_ALLOWED, format!("{method} is not allowed on {}", uri.path()))
        })
        .with_state(state)
        // Outermost, so that it also guards the 404 and 405 answers.
        .layer(axum::middleware::from_fn_with_state(access, auth::require_token))
}

/// The dashboard page. Its address may carry the token (`/?token=`):
/// `no-referrer` keeps it from leaving in a `Referer` header, should the
/// page ever link elsewhere.
async fn dashboard() -> Response {
    let headers = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    (headers, DASHBOARD_PAGE.as_str()).into_response()
}

fn static_file(body: &'static str, content_type: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// A JSON answer; API answers are never cached (they change every second).
fn json(status: StatusCode, value: &impl serde::Serialize) -> Response {
    match serde_json::to_string(value) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")], body)
            .into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot encode the answer: {e}")),
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = serde_json::json!({ "error": message.into() });
    (status, [(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")], body.to_string())
        .into_response()
}

/// Refuses a state-changing request that a browser sent on behalf of
/// another site (`Sec-Fetch-Site: cross-site`): a page elsewhere must not
/// cancel jobs through a dashboard open on loopback. Clients other than
/// browsers send no such header.
fn refuse_cross_site(headers: &HeaderMap) -> Option<Response> {
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let null_origin = headers.get(header::ORIGIN).is_some_and(|v| v.as_bytes() == b"null");
    (site.eq_ignore_ascii_case("cross-site") || null_origin)
        .then(|| error(StatusCode::FORBIDDEN, "cross-site requests may not change a job"))
}

fn unknown_job(id: &str) -> Response {
    error(StatusCode::NOT_FOUND, format!("no job with id '{id}'"))
}

fn bad_path(rejection: PathRejection) -> Response {
    error(StatusCode::BAD_REQUEST, format!("bad path: {}", rejection.body_text()))
}

async fn list_jobs(State(state): State<Arc<ServerState>>) -> Response {
    let jobs: Vec<api::JobSummary> = state.jobs.all().iter().map(|e| api::JobSummary::of(&e.snapshot())).collect();
    json(StatusCode::OK, &api::JobList { jobs })
}

async fn job_details(State(state): State<Arc<ServerState>>, id: Result<Path<String>, PathRejection>) -> Response {
    let Path(id) = match id {
        Ok(id) => id,
        Err(rejection) => return bad_path(rejection),
    };
    let Some(entry) = state.jobs.get(&id) else { return unknown_job(&id) };
    let (snapshot, rates) = state.view(&entry);
    json(StatusCode::OK, &api::JobDetails::of(&snapshot, &rates))
}

async fn checkpoints(State(state): State<Arc<ServerState>>, id: Result<Path<String>, PathRejection>) -> Response {
    let Path(id) = match id {
        Ok(id) => id,
        Err(rejection) => return bad_path(rejection),
    };
    let Some(entry) = state.jobs.get(&id) else { return unknown_job(&id) };
    json(StatusCode::OK, &api::CheckpointsOverview::of(&entry.observer.checkpoint_stats()))
}

async fn checkpoint_details(
    State(state): State<Arc<ServerState>>,
    ids: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    let Path((id, n)) = match ids {
        Ok(ids) => ids,
        Err(rejection) => return bad_path(rejection),
    };
    let Some(entry) = state.jobs.get(&id) else { return unknown_job(&id) };
    let Ok(n) = n.parse::<u64>() else {
        return error(StatusCode::BAD_REQUEST, format!("'{n}' is not a checkpoint id (a non-negative integer)"));
    };
    let history = entry.observer.checkpoint_stats();
    match history.get(n) {
        Some(stats) => json(StatusCode::OK, &api::CheckpointDetails::of(stats, Some(entry.observer.graph()))),
        None => {
            let oldest = history.checkpoints.front().map(|c| c.id);
            let hint = match oldest {
                Some(oldest) if n < oldest => format!(" (the history keeps checkpoints {oldest} and later)"),
                _ => String::new(),
            };
            error(StatusCode::NOT_FOUND, format!("job '{id}' has no checkpoint {n}{hint}"))
        }
    }
}

/// What every `POST /jobs/{id}/...` checks first: a valid path, not a
/// cross-site request, a known job that is still running. The job, or the
/// answer refusing the request.
fn running_job_for_post(
    state: &ServerState,
    headers: &HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<(String, Entry), Box<Response>> {
    let Path(id) = id.map_err(|rejection| Box::new(bad_path(rejection)))?;
    if let Some(refused) = refuse_cross_site(headers) {
        return Err(Box::new(refused));
    }
    let Some(entry) = state.jobs.get(&id) else { return Err(Box::new(unknown_job(&id))) };
    if !entry.observer.is_running() {
        return Err(Box::new(error(StatusCode::CONFLICT, format!("job '{id}' has already ended"))));
    }
    Ok((id, entry))
}

async fn trigger_checkpoint(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let (id, entry) = match running_job_for_post(&state, &headers, id) {
        Ok(job) => job,
        Err(refused) => return *refused,
    };
    // Blocks until the checkpoint is complete: on the blocking pool, never
    // on the runtime's worker.
    let observer = entry.observer.clone();
    let outcome = tokio::task::spawn_blocking(move || observer.trigger_checkpoint()).await;
    match outcome {
        Ok(Ok(n)) => {
            let location = format!("/jobs/{}/checkpoints/{n}", percent_encode(&id));
            let mut response = json(StatusCode::CREATED, &api::Triggered { id: n, status: "COMPLETED" });
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            response
        }
        // The job cannot take one (no `[checkpoint]` table, input ended,
        // between attempts, ended).
        Ok(Err(Error::Usage(message))) => error(StatusCode::CONFLICT, message),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("checkpoint failed ({}): {e}", e.kind())),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("checkpoint trigger did not finish: {e}")),
    }
}

async fn cancel(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let (id, entry) = match running_job_for_post(&state, &headers, id) {
        Ok(job) => job,
        Err(refused) => return *refused,
    };
    entry.observer.cancel();
    state.jobs.mark_cancel_requested(&id);
    json(StatusCode::ACCEPTED, &api::JobSummary { id, name: entry.observer.name().to_owned(), status: "CANCELLING" })
}

async fn metrics(State(state): State<Arc<ServerState>>) -> Response {
    let entries = state.jobs.all();
    let snapshots: Vec<Snapshot> = entries.iter().map(Entry::snapshot).collect();
    for snapshot in &snapshots {
        state.ingest(&snapshot.id, &snapshot.checkpoints);
    }
    let text = {
        let histograms = state.histograms.lock().unwrap_or_else(|p| p.into_inner());
        prometheus::render(&snapshots, &histograms)
    };
    ([(header::CONTENT_TYPE, prometheus::CONTENT_TYPE), (header::CACHE_CONTROL, "no-store")], text).into_response()
}

/// Percent-encodes a path segment (job ids are free text).
fn percent_encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(byte as char),
            _ => out += &format!("%{byte:02X}"),
        }
    }
    out
}

/// Completed checkpoints of a history, oldest first.
fn completed(history: &CheckpointHistory) -> impl Iterator<Item = &crate::checkpoint::stats::CheckpointStats> {
    history.checkpoints.iter().filter(|c| c.status == CheckpointStatus::Completed)
}

/// The ids seen so far, pruned to those still in a history.
fn prune(seen: &mut BTreeSet<u64>, history: &CheckpointHistory) {
    if let Some(oldest) = history.checkpoints.front().map(|c| c.id) {
        *seen = seen.split_off(&oldest);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_dashboard_page_inlines_its_script() {
        // A `</script` in the script would end the inlined element early.
        assert!(!super::DASHBOARD_JS.to_ascii_lowercase().contains("</script"));
        assert!(!super::DASHBOARD_PAGE.contains(r#"src="dashboard.js""#));
        assert!(super::DASHBOARD_PAGE.contains(super::DASHBOARD_JS));
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(super::percent_encode("wc-1_a.b~"), "wc-1_a.b~");
        assert_eq!(super::percent_encode("a b/c\"é"), "a%20b%2Fc%22%C3%A9");
    }
}
