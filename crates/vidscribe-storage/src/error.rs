use std::io;

use vidscribe_core::FailureCode;

/// Storage failures, with stable codes for job errors and API responses.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("'{key}' is not a path inside the data directory")]
    InvalidKey { key: String },
    #[error("'{key}' does not exist")]
    NotFound { key: String },
    #[error("cannot {action} '{key}': {source}")]
    Io {
        action: &'static str,
        key: String,
        #[source]
        source: io::Error,
    },
}

impl StorageError {
    pub(crate) fn io(action: &'static str, key: &str, source: io::Error) -> Self {
        if source.kind() == io::ErrorKind::NotFound && action == "read" {
            return Self::NotFound { key: key.to_string() };
        }
        Self::Io { action, key: key.to_string(), source }
    }

    /// Stable machine-readable code (a job's `error_code` when it cannot read its upload).
    pub fn code(&self) -> FailureCode {
        match self {
            Self::InvalidKey { .. } => FailureCode::InvalidStorageKey,
            Self::NotFound { .. } => FailureCode::StorageNotFound,
            Self::Io { source, .. } => match source.kind() {
                io::ErrorKind::StorageFull => FailureCode::StorageFull,
                io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => FailureCode::StorageDenied,
                _ => FailureCode::StorageIo,
            },
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }
}

impl From<StorageError> for io::Error {
    fn from(e: StorageError) -> Self {
        let kind = match &e {
            StorageError::InvalidKey { .. } => io::ErrorKind::InvalidInput,
            StorageError::NotFound { .. } => io::ErrorKind::NotFound,
            StorageError::Io { source, .. } => source.kind(),
        };
        io::Error::new(kind, e)
    }
}
