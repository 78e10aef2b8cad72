//! Domain errors. Each carries a stable code from the registry ([`crate::codes`]) that
//! clients may match on; the human message may change, the code may not.

use crate::codes::Code;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CoreError {
    #[error("'{value}' is not a valid {what}")]
    InvalidId { what: &'static str, value: String },
    #[error("{0}")]
    InvalidInput(String),
}

impl CoreError {
    /// The stable code; its [`Code::http_status`] is the status of the API's answer.
    pub fn code(&self) -> Code {
        match self {
            CoreError::InvalidId { .. } => Code::InvalidId,
            CoreError::InvalidInput(_) => Code::InvalidInput,
        }
    }
}
