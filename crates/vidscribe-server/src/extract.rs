//! Extractors whose rejections speak our envelope: JSON bodies and ids in paths.

use axum::extract::{FromRef, FromRequest, FromRequestParts, Path, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use futures::StreamExt;
use serde::de::DeserializeOwned;
use vidscribe_core::{BatchId, Code, JobId};

use crate::body::BodyClock;
use crate::error::ApiError;
use crate::state::AppState;

/// A JSON body. Non-JSON content type → 415 `unsupported_media_type`; malformed JSON or wrong
/// field types → 400 `invalid_json`; over [`JSON_BODY_LIMIT`] → 413 `body_too_large`. An empty body (with any content type) reads as `{}`, as the
/// system Vidscribe replaces accepted `POST /api/batch/create` without a body.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

/// Largest JSON body: axum's default body limit, which these routes had before they read
/// their bodies themselves.
const JSON_BODY_LIMIT: usize = 2 * 1024 * 1024;

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    AppState: FromRef<S>,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type =
            req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(|s| s.to_ascii_lowercase());
        // Read chunk by chunk under the slow-body guard, so a client trickling a JSON body
        // gets 408 instead of holding the request open.
        let mut clock = BodyClock::json(&AppState::from_ref(state).config);
        let mut body = req.into_body().into_data_stream();
        let mut bytes = Vec::new();
        while let Some(chunk) = clock.read(body.next()).await? {
            let chunk = chunk.map_err(|e| ApiError::new(Code::InvalidBody, format!("cannot read the body: {e}")))?;
            clock.count(chunk.len());
            if bytes.len() + chunk.len() > JSON_BODY_LIMIT {
                // Its own code, not `invalid_body`: a code has one status, and this is a 413.
                return Err(ApiError::new(
                    Code::BodyTooLarge,
                    format!("the JSON body is larger than {JSON_BODY_LIMIT} bytes"),
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return serde_json::from_str("{}")
                .map(ApiJson)
                .map_err(|e| ApiError::new(Code::InvalidJson, format!("a request body is required: {e}")));
        }
        let is_json = content_type.as_deref().is_some_and(|ct| {
            let mime = ct.split(';').next().unwrap_or("").trim();
            mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
        });
        if !is_json {
            return Err(ApiError::new(
                Code::UnsupportedMediaType,
                "the request body must be JSON (Content-Type: application/json)",
            ));
        }
        serde_json::from_slice(&bytes)
            .map(ApiJson)
            .map_err(|e| ApiError::new(Code::InvalidJson, format!("invalid JSON body: {e}")))
    }
}

/// `{id}` of a batch route, parsed; a malformed id → 400 `invalid_id`.
#[derive(Debug, Clone, Copy)]
pub struct BatchPath(pub BatchId);

/// `{id}` and `{job_id}` of a job route.
#[derive(Debug, Clone, Copy)]
pub struct JobPath(pub BatchId, pub JobId);

fn invalid_id(message: String) -> ApiError {
    ApiError::new(Code::InvalidId, message)
}

impl<S: Send + Sync> FromRequestParts<S> for BatchPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(params) = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|e| invalid_id(e.body_text()))?;
        let raw = params.iter().find(|(k, _)| k == "id").map(|(_, v)| v.as_str()).unwrap_or("");
        raw.parse().map(BatchPath).map_err(|e: vidscribe_core::CoreError| invalid_id(e.to_string()))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for JobPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(params) = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|e| invalid_id(e.body_text()))?;
        let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
        let batch: BatchId = get("id").parse().map_err(|e: vidscribe_core::CoreError| invalid_id(e.to_string()))?;
        let job: JobId = get("job_id").parse().map_err(|e: vidscribe_core::CoreError| invalid_id(e.to_string()))?;
        Ok(JobPath(batch, job))
    }
}
