//! The HTTP API (axum):
//!
//! - `POST /events`: a JSON array of `{"key", "value", "timestamp"?}`
//!   objects, or the same objects one per line (NDJSON). Answers once the
//!   events are in the ingest log and synced, with the positions they got.
//! - `GET /status`: the job's metrics and checkpoints, and how far the
//!   feeding is.
//! - `POST /shutdown`: a clean shutdown (what SIGTERM and Ctrl-C do too).
//!
//! Handlers never block the async runtime: appending to the log (a write
//! and an fsync) runs on tokio's blocking pool. They never talk to the job
//! either: the feeding thread moves events from the log into the job.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use weir_host::JobObserver;
use weir_host::job::EmbeddedSource;

use crate::feed::FeedStatus;
use crate::log::{IngestLog, NewEvent};

/// What the handlers share.
pub struct App {
    pub log: Arc<IngestLog>,
    pub job: JobObserver,
    pub source: EmbeddedSource,
    pub feed: Arc<FeedStatus>,
    /// The custom sink's committed table (`GET /counts`).
    pub table: crate::table::TableSink,
    /// Cleared when the shutdown starts: later posts get 503.
    pub accepting: AtomicBool,
    /// Set to `true` to start the shutdown.
    pub shutdown: tokio::sync::watch::Sender<bool>,
}

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/events", post(post_events))
        .route("/status", get(status))
        .route("/counts", get(counts))
        .route("/shutdown", post(shutdown))
        .with_state(app)
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    json_response(status, json!({ "error": message.to_string() }))
}

async fn post_events(State(app): State<Arc<App>>, body: Bytes) -> Response {
    if !app.accepting.load(Ordering::SeqCst) {
        return error(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    let events = match parse_events(&body) {
        Ok(events) if events.is_empty() => return error(StatusCode::BAD_REQUEST, "no events in the body"),
        Ok(events) => events,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let count = events.len();
    let log = app.log.clone();
    match tokio::task::spawn_blocking(move || log.append(events)).await {
        Ok(Ok((first, last))) => json_response(StatusCode::OK, json!({ "count": count, "first": first, "last": last })),
        Ok(Err(e)) => {
            tracing::error!("{e:#}");
            error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("the append task failed: {e}")),
    }
}

/// A JSON array of events, or one JSON event per line.
pub fn parse_events(body: &[u8]) -> Result<Vec<NewEvent>, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("the body is not UTF-8: {e}"))?;
    if text.trim_start().starts_with('[') {
        return serde_json::from_str(text).map_err(|e| format!("bad JSON array of events: {e}"));
    }
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| serde_json::from_str(line).map_err(|e| format!("line {}: bad event: {e}", index + 1)))
        .collect()
}

async fn status(State(app): State<Arc<App>>) -> Response {
    let metrics = app.job.metrics();
    let checkpoints = app.job.checkpoint_stats();
    let latest = checkpoints.latest_completed().map(|c| {
        json!({
            "id": c.id,
            "trigger_time_ms": c.trigger_time_ms,
            "end_to_end_us": c.end_to_end_us,
            "state_bytes": c.state_bytes,
            "checkpointed_bytes": c.checkpointed_bytes,
        })
    });
    let operators: Vec<Value> = metrics
        .operators
        .iter()
        .map(|op| json!({ "name": op.name, "events_in": op.events_in, "events_out": op.events_out }))
        .collect();
    json_response(
        StatusCode::OK,
        json!({
            "job": {
                "id": app.job.id(),
                "name": app.job.name(),
                "running": app.job.is_running(),
                "restarts": app.job.restarts(),
                "failures": app.job.failures(),
            },
            "ingest": {
                "accepting": app.accepting.load(Ordering::SeqCst),
                "log_first": app.log.first(),
                "log_last": app.log.last(),
                "fed": app.feed.fed.load(Ordering::Relaxed),
                "emitted": app.source.emitted(),
                "rewinds": app.feed.rewinds.load(Ordering::Relaxed),
            },
            "metrics": {
                "elapsed_ms": metrics.elapsed.as_millis() as u64,
                "source_events": metrics.source_events,
                "sink_events": metrics.sink_events,
                "operators": operators,
            },
            "checkpoints": {
                "completed": checkpoints.completed,
                "failed": checkpoints.failed,
                "in_progress": checkpoints.in_progress().map(|c| c.id),
                "latest_completed": latest,
            },
        }),
    )
}

/// The newest committed count of every key, and the checkpoint that
/// committed them.
async fn counts(State(app): State<Arc<App>>) -> Response {
    let table = app.table.snapshot();
    json_response(StatusCode::OK, json!({ "checkpoint": table.checkpoint, "counts": table.values }))
}

async fn shutdown(State(app): State<Arc<App>>) -> Response {
    app.accepting.store(false, Ordering::SeqCst);
    app.shutdown.send_replace(true);
    json_response(StatusCode::ACCEPTED, json!({ "shutting_down": true }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_json_arrays_or_ndjson() {
        let array = br#"[{"key":"a","value":"1"},{"key":"b","value":"2","timestamp":7}]"#;
        let events = parse_events(array).unwrap_or_default();
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].timestamp, Some(7));
        let lines = b"{\"key\":\"a\",\"value\":\"1\"}\n\n{\"key\":\"b\",\"value\":\"2\"}\n";
        assert_eq!(parse_events(lines).map(|e| e.len()), Ok(2));
        let bad = parse_events(b"{\"key\":\"a\",\"value\":\"1\"}\n{\"key\":\"b\"}").unwrap_err();
        assert!(bad.starts_with("line 2"), "{bad}");
        assert!(parse_events(br#"[{"key":"a","value":"1","extra":0}]"#).is_err());
    }
}
