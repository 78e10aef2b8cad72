//! Domain errors. Each carries a stable code from the registry ([`crate::codes`]) that
//! clients may match on; the human message may change, the code may not.

use crate::codes::Code;

/// Anything with a stable machine-readable error code.
pub trait ErrorCode {
    fn code(&self) -> &'static str;
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CoreError {
    #[error("'{value}' is not a valid {what}")]
    InvalidId { what: &'static str, value: String },
    #[error("{0}")]
    InvalidInput(String),
}

impl ErrorCode for CoreError {
    fn code(&self) -> &'static str {
        CoreError::code(self).as_str()
    }
}

impl CoreError {
    pub fn code(&self) -> Code {
        match self {
            CoreError::InvalidId { .. } => Code::InvalidId,
            CoreError::InvalidInput(_) => Code::InvalidInput,
        }
    }
}
