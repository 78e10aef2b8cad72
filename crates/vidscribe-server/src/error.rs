//! API errors: `{"success": false, "error": "<message>", "code": "<code>"}`. The status is
//! the code's ([`Code::http_status`]), so one code always answers with one status.
//! 5xx bodies are generic; the cause is logged once, where the error is created.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use vidscribe_core::{Code, CoreError};
use vidscribe_store::StoreError;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    pub fn status(&self) -> StatusCode {
        status_of(self.code)
    }

    pub fn unauthorized() -> Self {
        Self::new(Code::Unauthorized, "missing or invalid bearer token")
    }

    /// Our own fault: logs the cause once and answers a generic 500.
    pub fn internal(context: &str, cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "{context}");
        Self::new(Code::Internal, "internal server error")
    }

    /// The database is down or cannot be written: logs the cause, answers 503. The request
    /// changed nothing and may be tried again.
    pub fn store_unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "database unavailable");
        Self::new(
            Code::StoreUnavailable,
            "the database cannot be written right now; nothing was changed, try again later",
        )
    }
}

/// The registry's statuses are all valid HTTP statuses (tested), so the fallback is never taken.
pub fn status_of(code: Code) -> StatusCode {
    StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e.code() {
            Code::Internal => Self::internal("store error", &e),
            Code::StoreUnavailable => Self::store_unavailable(&e),
            code => Self::new(code, e.to_string()),
        }
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        // Every domain error is a malformed request (its code is a 400): illegal transitions
        // are refused by the store, as `wrong_state`.
        Self::new(e.code(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "success": false, "error": self.message, "code": self.code });
        (self.status(), Json(body)).into_response()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status().as_u16(), self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registry_status_is_a_real_http_status() {
        for code in Code::ALL {
            let status = StatusCode::from_u16(code.http_status()).expect("a valid status");
            assert!(status.is_client_error() || status.is_server_error(), "{code}: {status}");
            assert_eq!(status_of(*code), status);
        }
    }

    #[tokio::test]
    async fn the_envelope_carries_the_message_the_code_and_the_codes_status() {
        let resp = ApiError::new(Code::BatchNotPending, "batch x is processing").into_response();
        assert_eq!(resp.status(), StatusCode::CONFLICT);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"success": false, "error": "batch x is processing", "code": "batch_not_pending"})
        );
    }

    #[test]
    fn store_and_core_errors_keep_their_codes() {
        let e: ApiError = StoreError::BatchNotFound("b".into()).into();
        assert_eq!((e.status(), e.code), (StatusCode::NOT_FOUND, Code::BatchNotFound));
        let e: ApiError = StoreError::Corrupt("half a row".into()).into();
        assert_eq!(
            (e.status(), e.code, e.message.as_str()),
            (StatusCode::INTERNAL_SERVER_ERROR, Code::Internal, "internal server error")
        );
        let e: ApiError = "nope".parse::<vidscribe_core::BatchId>().unwrap_err().into();
        assert_eq!((e.status(), e.code), (StatusCode::BAD_REQUEST, Code::InvalidId));
    }
}
