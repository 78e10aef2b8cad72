//! The slow-body guard shared by every route that reads a request body (uploads, JSON):
//! one rule, so a slow-loris client meets the same limit whichever route it picks.

use std::future::Future;
use std::time::Duration;

use vidscribe_core::Code;

use crate::config::ServerConfig;
use crate::error::{ApiError, ApiResult};
use crate::routes::upload::human_bytes;

/// Every read of a body must finish before `start + grace + received / min_rate`, so a
/// client trickling bytes is cut off with 408, while one that keeps the minimum average
/// rate never is (the scheme of Apache's `mod_reqtimeout body=…,MinRate=…`).
pub(crate) struct BodyClock {
    start: tokio::time::Instant,
    grace: Duration,
    min_rate: u64,
    received: u64,
    /// The stable error code of the 408.
    code: Code,
    /// What the message calls the body ("the upload").
    what: &'static str,
}

impl BodyClock {
    fn new(grace: Duration, min_rate: u64, code: Code, what: &'static str) -> Self {
        Self { start: tokio::time::Instant::now(), grace, min_rate, received: 0, code, what }
    }

    /// A multipart upload: [`ServerConfig::upload_grace`], 408 `upload_timeout`.
    pub(crate) fn upload(config: &ServerConfig) -> Self {
        Self::new(config.upload_grace, config.upload_min_rate, Code::UploadTimeout, "the upload")
    }

    /// A JSON body: [`ServerConfig::json_body_grace`] (bodies are small, so the grace is
    /// short), the same minimum rate, 408 `body_timeout`.
    pub(crate) fn json(config: &ServerConfig) -> Self {
        Self::new(config.json_body_grace, config.upload_min_rate, Code::BodyTimeout, "the request body")
    }

    pub(crate) fn count(&mut self, bytes: usize) {
        self.received = self.received.saturating_add(bytes as u64);
    }

    fn deadline(&self) -> tokio::time::Instant {
        let earned = self.received.checked_div(self.min_rate).map_or(Duration::ZERO, Duration::from_secs);
        let far = self.start + Duration::from_secs(365 * 24 * 3600);
        self.start.checked_add(self.grace.saturating_add(earned)).map_or(far, |d| d.min(far))
    }

    /// Runs one read of the body, or answers 408 when the deadline passes first.
    pub(crate) async fn read<T>(&self, next: impl Future<Output = T>) -> ApiResult<T> {
        tokio::time::timeout_at(self.deadline(), next).await.map_err(|_| {
            tracing::warn!(received = self.received, code = self.code.as_str(), "request body too slow: cut off");
            ApiError::new(
                self.code,
                format!(
                    "{} was too slow: the body must arrive within {} s plus one second per {}",
                    self.what,
                    self.grace.as_secs(),
                    human_bytes(self.min_rate.max(1))
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    #[tokio::test]
    async fn the_deadline_moves_with_the_bytes_received() {
        let config = ServerConfig::new("d").with_upload_timeout(Duration::from_secs(10), 1000);
        let mut clock = BodyClock::upload(&config);
        assert_eq!(clock.deadline() - clock.start, Duration::from_secs(10));
        clock.count(5_000);
        assert_eq!(clock.deadline() - clock.start, Duration::from_secs(15));
        clock.count(usize::MAX);
        clock.count(usize::MAX);
        assert!(clock.deadline() - clock.start <= Duration::from_secs(365 * 24 * 3600));
        let fixed = BodyClock::upload(&config.clone().with_upload_timeout(Duration::from_millis(20), 0));
        let e = fixed.read(std::future::pending::<()>()).await.unwrap_err();
        assert_eq!((e.status(), e.code), (StatusCode::REQUEST_TIMEOUT, Code::UploadTimeout));
        assert_eq!(fixed.read(async { 7 }).await.unwrap(), 7);
        let json = BodyClock::json(&ServerConfig { json_body_grace: Duration::from_millis(20), ..config });
        let e = json.read(std::future::pending::<()>()).await.unwrap_err();
        assert_eq!((e.status(), e.code), (StatusCode::REQUEST_TIMEOUT, Code::BodyTimeout));
    }
}
