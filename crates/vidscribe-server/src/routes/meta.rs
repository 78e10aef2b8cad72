//! Workers, health, metrics, the OpenAPI document, and the JSON 404.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use vidscribe_core::Code;

use crate::error::{status_of, ApiError, ApiResult};
use crate::state::AppState;

pub async fn workers(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let workers = state.store.list_workers().await?;
    Ok(Json(json!({ "success": true, "workers": workers })))
}

/// 200 when the store answers, 503 otherwise (the cause is logged).
pub async fn health(State(state): State<AppState>) -> Response {
    match state.store.last_event_seq().await {
        Ok(seq) => Json(json!({
            "success": true,
            "status": "ok",
            "version": env!("CARGO_PKG_VERSION"),
            "last_event_seq": seq,
        }))
        .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: store unreachable");
            let code = Code::StoreUnavailable;
            (
                status_of(code),
                Json(json!({ "success": false, "status": "unavailable", "error": "store unavailable", "code": code })),
            )
                .into_response()
        }
    }
}

pub async fn metrics(State(state): State<AppState>) -> ApiResult<Response> {
    let text = crate::metrics::render(&state).await?;
    let mut resp = text.into_response();
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    Ok(resp)
}

pub async fn openapi(State(state): State<AppState>) -> Json<Value> {
    Json(crate::openapi::document(&state))
}

pub async fn api_not_found() -> ApiError {
    ApiError::new(Code::NotFound, "no such route")
}
