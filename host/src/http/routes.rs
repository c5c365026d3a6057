//! The endpoints: which path and method reach which handler, and the
//! handlers themselves (JSON in `api`, metrics in `prometheus`).

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::registry::{Entry, Snapshot};
use super::server::ServerState;
use super::{Access, DASHBOARD_JS, DASHBOARD_PAGE, OPENAPI_JSON, api, auth, percent_encode, prometheus};
use crate::error::Error;

pub(super) fn router(state: Arc<ServerState>, access: Access) -> Router {
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
pub(super) async fn dashboard() -> Response {
    let headers = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    (headers, DASHBOARD_PAGE.as_str()).into_response()
}

pub(super) fn static_file(body: &'static str, content_type: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// A JSON answer; API answers are never cached (they change every second).
pub(super) fn json(status: StatusCode, value: &impl serde::Serialize) -> Response {
    match serde_json::to_string(value) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")], body)
            .into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot encode the answer: {e}")),
    }
}

pub(super) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = serde_json::json!({ "error": message.into() });
    (status, [(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")], body.to_string())
        .into_response()
}

/// Refuses a state-changing request that a browser sent on behalf of
/// another site (`Sec-Fetch-Site: cross-site`): a page elsewhere must not
/// cancel jobs through a dashboard open on loopback. Clients other than
/// browsers send no such header.
pub(super) fn refuse_cross_site(headers: &HeaderMap) -> Option<Response> {
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let null_origin = headers.get(header::ORIGIN).is_some_and(|v| v.as_bytes() == b"null");
    (site.eq_ignore_ascii_case("cross-site") || null_origin)
        .then(|| error(StatusCode::FORBIDDEN, "cross-site requests may not change a job"))
}

pub(super) fn unknown_job(id: &str) -> Response {
    error(StatusCode::NOT_FOUND, format!("no job with id '{id}'"))
}

pub(super) fn bad_path(rejection: PathRejection) -> Response {
    error(StatusCode::BAD_REQUEST, format!("bad path: {}", rejection.body_text()))
}

pub(super) async fn list_jobs(State(state): State<Arc<ServerState>>) -> Response {
    let jobs: Vec<api::JobSummary> = state.jobs.all().iter().map(|e| api::JobSummary::of(&e.snapshot())).collect();
    json(StatusCode::OK, &api::JobList { jobs })
}

/// The job a `GET /jobs/{id}...` names, or the answer refusing the request
/// (a bad path, an unknown job).
fn registered_job(
    state: &ServerState,
    id: Result<Path<String>, PathRejection>,
) -> Result<(String, Entry), Box<Response>> {
    let Path(id) = id.map_err(|rejection| Box::new(bad_path(rejection)))?;
    let entry = state.jobs.get(&id).ok_or_else(|| Box::new(unknown_job(&id)))?;
    Ok((id, entry))
}

pub(super) async fn job_details(
    State(state): State<Arc<ServerState>>,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let entry = match registered_job(&state, id) {
        Ok((_, entry)) => entry,
        Err(refused) => return *refused,
    };
    let (snapshot, rates) = state.view(&entry);
    json(StatusCode::OK, &api::JobDetails::of(&snapshot, &rates))
}

pub(super) async fn checkpoints(
    State(state): State<Arc<ServerState>>,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let entry = match registered_job(&state, id) {
        Ok((_, entry)) => entry,
        Err(refused) => return *refused,
    };
    json(StatusCode::OK, &api::CheckpointsOverview::of(&entry.observer.checkpoint_stats()))
}

pub(super) async fn checkpoint_details(
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
pub(super) fn running_job_for_post(
    state: &ServerState,
    headers: &HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<(String, Entry), Box<Response>> {
    let id = id.map_err(|rejection| Box::new(bad_path(rejection)))?;
    if let Some(refused) = refuse_cross_site(headers) {
        return Err(Box::new(refused));
    }
    let (id, entry) = registered_job(state, Ok(id))?;
    if !entry.observer.is_running() {
        return Err(Box::new(error(StatusCode::CONFLICT, format!("job '{id}' has already ended"))));
    }
    Ok((id, entry))
}

pub(super) async fn trigger_checkpoint(
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

pub(super) async fn cancel(
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

pub(super) async fn metrics(State(state): State<Arc<ServerState>>) -> Response {
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
