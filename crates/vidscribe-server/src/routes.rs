//! Every route, in one table. The router AND `/api/openapi.json` are built from this table,
//! so the published document cannot drift from what is served.

pub mod batch;
pub mod download;
pub mod events;
pub mod meta;
pub mod upload;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, MethodRouter};
use axum::Router;

use crate::state::AppState;

/// Documentation of one route, kept next to its handler in [`table`].
#[derive(Debug, Clone)]
pub struct RouteDoc {
    pub method: &'static str,
    /// axum syntax: `/api/batch/{id}`.
    pub path: &'static str,
    pub summary: &'static str,
    /// Request body: `json:<Schema>`, `multipart`, or none.
    pub request: Option<&'static str>,
    /// Schema of the 200 response (`#/components/schemas/<name>`), or a media type.
    pub response: &'static str,
    /// Behind the bearer token when one is configured.
    pub auth: bool,
}

pub struct Route {
    pub doc: RouteDoc,
    pub handler: MethodRouter<AppState>,
}

fn r(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    request: Option<&'static str>,
    response: &'static str,
    handler: MethodRouter<AppState>,
) -> Route {
    let auth = path.starts_with("/api/");
    Route { doc: RouteDoc { method, path, summary, request, response, auth }, handler }
}

/// The routes of API.md plus the extras (workers, health, metrics, openapi, dashboard).
pub fn table(state: &AppState) -> Vec<Route> {
    // Uploads are counted and limited by the handler itself (413 with the partial file
    // removed); the body limit only bounds how much of an over-size body is drained.
    let upload_limit =
        usize::try_from(state.config.max_upload_bytes.saturating_add(upload::DRAIN_ALLOWANCE)).unwrap_or(usize::MAX);
    vec![
        r(
            "POST",
            "/api/batch/create",
            "Create a pending batch",
            Some("json:CreateBatch"),
            "CreateBatchResponse",
            post(batch::create),
        ),
        r(
            "POST",
            "/api/batch/add-video",
            "Upload one video (multipart: file, batch_id, session_name?) to a pending batch",
            Some("multipart"),
            "AddVideoResponse",
            post(upload::add_video).layer(DefaultBodyLimit::max(upload_limit)),
        ),
        r("GET", "/api/batch/list", "Every batch, newest first", None, "BatchListResponse", get(batch::list)),
        r(
            "POST",
            "/api/batch/{id}/start",
            "Start a pending batch (400 empty_batch when it has no jobs)",
            None,
            "MessageResponse",
            post(batch::start),
        ),
        r(
            "GET",
            "/api/batch/{id}",
            "One batch with every job, read from the store",
            None,
            "BatchResponse",
            get(batch::get_one),
        ),
        r(
            "POST",
            "/api/batch/{id}/cancel",
            "Cancel a batch: queued jobs are skipped, running jobs stop",
            None,
            "MessageResponse",
            post(batch::cancel),
        ),
        r(
            "DELETE",
            "/api/batch/{id}",
            "Delete a batch (cancelled first if running) with its uploads and results",
            None,
            "MessageResponse",
            delete(batch::remove),
        ),
        r(
            "GET",
            "/api/batch/{id}/results",
            "Completed jobs with their metadata",
            None,
            "ResultsResponse",
            get(batch::results),
        ),
        r(
            "GET",
            "/api/batch/{id}/download",
            "ZIP of every completed job's outputs",
            None,
            "application/zip",
            get(download::zip),
        ),
        r(
            "POST",
            "/api/batch/{id}/jobs/{job_id}/retry",
            "Re-queue a failed, skipped or cancelled job",
            None,
            "JobResponse",
            post(batch::retry_job),
        ),
        r(
            "POST",
            "/api/batch/{id}/jobs/{job_id}/cancel",
            "Cancel one job, queued or running",
            None,
            "JobResponse",
            post(batch::cancel_job),
        ),
        r(
            "GET",
            "/api/batch/{id}/jobs/{job_id}/{file}",
            "One output: file is transcript.txt, transcript.srt, transcript.vtt or transcript.json; `media` is the upload itself (Range requests supported)",
            None,
            "text/plain",
            get(download::transcript),
        ),
        r(
            "GET",
            "/api/batch/{id}/events",
            "Server-Sent Events of one batch",
            None,
            "text/event-stream",
            get(events::batch_events),
        ),
        r(
            "GET",
            "/api/events",
            "Server-Sent Events of every batch",
            None,
            "text/event-stream",
            get(events::all_events),
        ),
        r(
            "GET",
            "/api/workers",
            "Worker processes and their running jobs",
            None,
            "WorkersResponse",
            get(meta::workers),
        ),
        r("GET", "/api/openapi.json", "This document", None, "application/json", get(meta::openapi)),
        r("GET", "/health", "Liveness and store reachability", None, "HealthResponse", get(meta::health)),
        r("GET", "/metrics", "Prometheus metrics", None, "text/plain", get(meta::metrics)),
        r("GET", "/", "Redirects to the dashboard", None, "text/html", get(crate::assets::root)),
        r("GET", "/batch", "The dashboard", None, "text/html", get(crate::assets::index)),
        r("GET", "/assets/{*path}", "Dashboard assets", None, "application/octet-stream", get(crate::assets::asset)),
    ]
}

/// Route documentation only (for the OpenAPI document).
pub fn docs(state: &AppState) -> Vec<RouteDoc> {
    table(state).into_iter().map(|r| r.doc).collect()
}

/// The router of [`table`], `/api` routes behind the token check.
pub fn build(state: &AppState) -> Router<AppState> {
    let mut api = Router::new();
    let mut open = Router::new();
    for route in table(state) {
        if route.doc.auth {
            api = api.route(route.doc.path, route.handler);
        } else {
            open = open.route(route.doc.path, route.handler);
        }
    }
    let api = api
        .fallback(meta::api_not_found)
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), crate::auth::require_token));
    open.merge(api)
}
