//! Server configuration: what `vidscribe serve` passes in after merging defaults, the TOML
//! file, `VIDSCRIBE_*` variables and flags.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything the HTTP layer needs to know.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen; port 0 picks a free port (see [`crate::bind`]).
    pub addr: SocketAddr,
    /// The data directory: `uploads/`, `results/` and the database live under it.
    pub data_dir: PathBuf,
    /// When set, every `/api` route needs `Authorization: Bearer <token>` (GETs may pass `?token=`).
    pub auth_token: Option<String>,
    /// Allows a non-loopback bind without a token.
    pub insecure_no_auth: bool,
    /// Largest accepted upload, in bytes (default 2 GiB); larger ones get 413.
    pub max_upload_bytes: u64,
    /// Interval of the SSE keep-alive comment (at most 15 s per API.md).
    pub sse_keep_alive: Duration,
    /// Events read from the durable log per query while replaying/resyncing an SSE client.
    pub sse_replay_page: i64,
    /// How long DELETE waits for running jobs of a cancelled batch to stop before removing files.
    pub delete_wait: Duration,
    /// Slow-body guard of uploads (slow-loris): an upload's body may take this long, plus one
    /// second for every [`upload_min_rate`](Self::upload_min_rate) bytes received (the scheme
    /// of Apache's `mod_reqtimeout body=…,MinRate=…`). A client that sends slower is answered
    /// 408 `upload_timeout`, its partial file removed and its connection closed; an upload
    /// that keeps at least the minimum average rate is never cut. Default 60 s.
    pub upload_grace: Duration,
    /// Minimum average upload rate in bytes per second that extends the deadline above;
    /// 0 makes `upload_grace` a fixed limit for the whole body. Default 1 KiB/s: low enough
    /// for the dashboard's three parallel uploads over a poor mobile link.
    pub upload_min_rate: u64,
    /// The same slow-body guard for JSON bodies (`POST /api/batch/create` …), with this grace
    /// and `upload_min_rate`: 408 `body_timeout`. Default 10 s, ample for a body of a few
    /// hundred bytes.
    pub json_body_grace: Duration,
    /// How long a client may take to send a request's line and headers (HTTP/1, enforced by
    /// hyper); one that trickles them slower is disconnected, so idle half-requests cannot
    /// exhaust connections. Default 10 s: far beyond any real client, even on a poor link.
    pub header_read_timeout: Duration,
}

impl ServerConfig {
    pub const DEFAULT_ADDR: &'static str = "127.0.0.1:5001";
    pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 2 * 1024 * 1024 * 1024;
    pub const DEFAULT_UPLOAD_GRACE: Duration = Duration::from_secs(60);
    pub const DEFAULT_UPLOAD_MIN_RATE: u64 = 1024;
    pub const DEFAULT_JSON_BODY_GRACE: Duration = Duration::from_secs(10);
    pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

    /// Defaults for a data directory: `127.0.0.1:5001`, no auth, 2 GiB uploads.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            addr: Self::DEFAULT_ADDR.parse().expect("valid default address"),
            data_dir: data_dir.into(),
            auth_token: None,
            insecure_no_auth: false,
            max_upload_bytes: Self::DEFAULT_MAX_UPLOAD_BYTES,
            sse_keep_alive: Duration::from_secs(10),
            sse_replay_page: 500,
            delete_wait: Duration::from_secs(10),
            upload_grace: Self::DEFAULT_UPLOAD_GRACE,
            upload_min_rate: Self::DEFAULT_UPLOAD_MIN_RATE,
            header_read_timeout: Self::DEFAULT_HEADER_READ_TIMEOUT,
            json_body_grace: Self::DEFAULT_JSON_BODY_GRACE,
        }
    }

    pub fn with_addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    pub fn with_auth_token(mut self, token: Option<String>) -> Self {
        self.auth_token = token.filter(|t| !t.is_empty());
        self
    }

    pub fn with_max_upload_bytes(mut self, bytes: u64) -> Self {
        self.max_upload_bytes = bytes;
        self
    }

    /// The slow-upload guard: `grace` plus one second per `min_rate` bytes received.
    pub fn with_upload_timeout(mut self, grace: Duration, min_rate: u64) -> Self {
        self.upload_grace = grace;
        self.upload_min_rate = min_rate;
        self
    }

    /// Refuses what must not run: a public bind without a token (unless `insecure_no_auth`),
    /// a keep-alive above 15 s, an empty token.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.auth_token.as_deref() == Some("") {
            return Err(ConfigError::EmptyToken);
        }
        if self.auth_token.is_none() && !self.addr.ip().is_loopback() && !self.insecure_no_auth {
            return Err(ConfigError::PublicWithoutAuth(self.addr));
        }
        if self.sse_keep_alive > Duration::from_secs(15) || self.sse_keep_alive.is_zero() {
            return Err(ConfigError::KeepAlive);
        }
        if self.max_upload_bytes == 0 {
            return Err(ConfigError::UploadLimit);
        }
        if self.upload_grace.is_zero() || self.json_body_grace.is_zero() {
            return Err(ConfigError::UploadTimeout);
        }
        if self.header_read_timeout.is_zero() {
            return Err(ConfigError::HeaderReadTimeout);
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error(
        "refusing to listen on {0} without authentication: set --auth-token (or VIDSCRIBE_AUTH_TOKEN), \
         bind a loopback address, or pass --insecure-no-auth"
    )]
    PublicWithoutAuth(SocketAddr),
    #[error("the auth token must not be empty")]
    EmptyToken,
    #[error("the SSE keep-alive interval must be between 1 ms and 15 s")]
    KeepAlive,
    #[error("the upload size limit must be positive")]
    UploadLimit,
    #[error("the upload and JSON body timeouts (grace periods) must be positive")]
    UploadTimeout,
    #[error("the header read timeout must be positive")]
    HeaderReadTimeout,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_bind_without_a_token_is_refused() {
        let c = ServerConfig::new("d").with_addr("0.0.0.0:5001".parse().unwrap());
        assert_eq!(c.validate(), Err(ConfigError::PublicWithoutAuth("0.0.0.0:5001".parse().unwrap())));
        let c = c.with_auth_token(Some("t".into()));
        assert_eq!(c.validate(), Ok(()));
        let mut c = ServerConfig::new("d").with_addr("0.0.0.0:5001".parse().unwrap());
        c.insecure_no_auth = true;
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn uploads_get_a_slow_body_guard_by_default_and_it_cannot_be_zero() {
        let c = ServerConfig::new("d");
        assert_eq!((c.upload_grace, c.upload_min_rate), (Duration::from_secs(60), 1024));
        let c = c.with_upload_timeout(Duration::ZERO, 1);
        assert_eq!(c.validate(), Err(ConfigError::UploadTimeout));
        let c = c.with_upload_timeout(Duration::from_secs(1), 0);
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn loopback_needs_no_token() {
        assert_eq!(ServerConfig::new("d").validate(), Ok(()));
        let c = ServerConfig::new("d").with_addr("[::1]:0".parse().unwrap());
        assert_eq!(c.validate(), Ok(()));
    }
}
