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
//!
//! Files: `registry` (the [`Jobs`] shown), `server` (binding, runtimes,
//! sampling, shutdown), `routes` (paths and handlers), `api` (the JSON
//! shapes), `prometheus` (the text format), `auth` (the token).

mod api;
mod auth;
mod prometheus;
mod registry;
mod routes;
mod server;

pub use auth::Access;
pub use registry::Jobs;
pub(crate) use registry::Snapshot;
pub use server::{ServerHandle, serve, serve_on, serve_on_with, serve_with};

use std::collections::BTreeSet;
use std::sync::LazyLock;
use std::time::Duration;

use routes::error;

use crate::checkpoint::stats::{CheckpointHistory, CheckpointStatus};

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
