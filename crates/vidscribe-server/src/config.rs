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
}

impl ServerConfig {
    pub const DEFAULT_ADDR: &'static str = "127.0.0.1:5001";
    pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 2 * 1024 * 1024 * 1024;

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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_bind_without_a_token_is_refused() {
        let c = ServerConfig::new("d").with_addr("0.0.0.0:5001".parse().unwrap());
        assert!(matches!(c.validate(), Err(ConfigError::PublicWithoutAuth(_))));
        let c = c.with_auth_token(Some("t".into()));
        assert_eq!(c.validate(), Ok(()));
        let mut c = ServerConfig::new("d").with_addr("0.0.0.0:5001".parse().unwrap());
        c.insecure_no_auth = true;
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn loopback_needs_no_token() {
        assert_eq!(ServerConfig::new("d").validate(), Ok(()));
        let c = ServerConfig::new("d").with_addr("[::1]:0".parse().unwrap());
        assert_eq!(c.validate(), Ok(()));
    }
}
