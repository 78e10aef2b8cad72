//! Store errors, each with a stable code from the registry ([`vidscribe_core::codes`]);
//! the code decides the HTTP status.

use vidscribe_core::{Code, CoreError};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("batch {0} not found")]
    BatchNotFound(String),
    #[error("job {0} not found")]
    JobNotFound(String),
    /// Valid, but not in this state (a 409 code: `wrong_state`, `batch_not_pending`, `lease_lost`).
    #[error("{message}")]
    WrongState { code: Code, message: String },
    /// The request is wrong whatever the state (a 400 code: `empty_batch`, `invalid_input`).
    #[error("{message}")]
    Invalid { code: Code, message: String },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("unsupported database URL '{0}' (expected sqlite://… or postgres://…)")]
    UnsupportedUrl(String),
}

impl StoreError {
    pub fn wrong_state(message: impl Into<String>) -> Self {
        StoreError::WrongState { code: Code::WrongState, message: message.into() }
    }

    /// The database itself is failing, not the request: connection lost or refused, or it
    /// cannot write (SQLite: read-only, I/O error, disk full, cannot open; Postgres: class 08
    /// connection errors, 53 insufficient resources, 57P0x shutdown, 25006 read-only).
    pub fn is_unavailable(&self) -> bool {
        let StoreError::Database(e) = self else { return false };
        match e {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
            sqlx::Error::Database(db) => {
                let code = db.code().unwrap_or_default();
                // SQLite reports its (extended) result code as a number: the primary code is
                // the low byte. 8 READONLY, 10 IOERR, 13 FULL, 14 CANTOPEN.
                if let Ok(n) = code.parse::<i64>() {
                    return matches!(n & 0xff, 8 | 10 | 13 | 14);
                }
                code.starts_with("08") || code.starts_with("53") || code.starts_with("57P0") || code == "25006"
            }
            _ => false,
        }
    }

    /// True for errors worth retrying (a busy or lost database connection).
    pub fn is_transient(&self) -> bool {
        let StoreError::Database(e) = self else { return false };
        match e {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
            sqlx::Error::Database(db) => {
                let msg = db.message();
                msg.contains("locked") || msg.contains("busy") || db.code().as_deref() == Some("40001")
            }
            _ => false,
        }
    }

    /// The stable code; its [`Code::http_status`] is the status of the API's answer: 404 for
    /// the not-found variants, 503 `store_unavailable` when the database is down, read-only or
    /// full (nothing was changed; the request may succeed later), 500 `internal` for our faults.
    pub fn code(&self) -> Code {
        match self {
            StoreError::BatchNotFound(_) => Code::BatchNotFound,
            StoreError::JobNotFound(_) => Code::JobNotFound,
            StoreError::WrongState { code, .. } | StoreError::Invalid { code, .. } => *code,
            StoreError::UnsupportedUrl(_) => Code::UnsupportedDatabaseUrl,
            StoreError::Database(_) if self.is_unavailable() => Code::StoreUnavailable,
            StoreError::Database(_) | StoreError::Migrate(_) | StoreError::Corrupt(_) => Code::Internal,
        }
    }
}

impl From<CoreError> for StoreError {
    fn from(e: CoreError) -> Self {
        StoreError::Invalid { code: e.code(), message: e.to_string() }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
