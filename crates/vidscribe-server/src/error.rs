//! API errors: `{"success": false, "error": "<message>", "code": "<code>"}` with a correct status.
//! 5xx bodies are generic; the cause is logged once, where the error is created.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use vidscribe_core::{CoreError, ErrorCode};
use vidscribe_store::{ErrorKind, StoreError};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "missing or invalid bearer token")
    }

    /// Our own fault: logs the cause once and answers a generic 500.
    pub fn internal(context: &str, cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "{context}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal server error")
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let code = ErrorCode::code(&e);
        match e.kind() {
            ErrorKind::NotFound => Self::new(StatusCode::NOT_FOUND, code, e.to_string()),
            ErrorKind::Conflict => Self::new(StatusCode::CONFLICT, code, e.to_string()),
            ErrorKind::Invalid => Self::new(StatusCode::BAD_REQUEST, code, e.to_string()),
            ErrorKind::Internal => Self::internal("store error", &e),
            ErrorKind::Unavailable => {
                tracing::error!(error = %e, "database unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    code,
                    "the database cannot be written right now; nothing was changed, try again later",
                )
            }
        }
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        // Every domain error is a malformed request: illegal transitions are refused by the
        // store, as `wrong_state`.
        Self::bad_request(e.code().as_str(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "success": false, "error": self.message, "code": self.code });
        (self.status, Json(body)).into_response()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl std::error::Error for ApiError {}
