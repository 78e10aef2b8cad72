//! Media errors. Each has a stable code (what the API and job rows carry) and a message that
//! names the file — its name only, never the server's directory layout — and the reason.

use std::io;

use vidscribe_core::{FailureCode, TranscribeError};

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("'{file}' is not an audio or video file: {reason}")]
    NotMedia { file: String, reason: String },
    #[error("'{file}' has no audio stream")]
    NoAudioStream { file: String },
    #[error("'{file}' is truncated: {reason}")]
    Truncated { file: String, reason: String },
    #[error("'{file}' is corrupt: {reason}")]
    Corrupt { file: String, reason: String },
    #[error("'{file}' uses an unsupported audio codec ({codec})")]
    UnsupportedCodec { file: String, codec: String },
    #[error("'{file}' ({format}) needs ffmpeg to be decoded, and ffmpeg was not found ({tool}); install ffmpeg or set VIDSCRIBE_FFMPEG")]
    FfmpegMissing { file: String, format: String, tool: String },
    #[error("ffmpeg could not decode '{file}': {reason}")]
    FfmpegFailed { file: String, reason: String },
    #[error("could not read '{file}': {source}")]
    Io {
        file: String,
        #[source]
        source: io::Error,
    },
}

impl MediaError {
    pub fn code(&self) -> FailureCode {
        match self {
            MediaError::NotMedia { .. } => FailureCode::NotMedia,
            MediaError::NoAudioStream { .. } => FailureCode::NoAudioStream,
            MediaError::Truncated { .. } => FailureCode::Truncated,
            MediaError::Corrupt { .. } => FailureCode::CorruptMedia,
            MediaError::UnsupportedCodec { .. } => FailureCode::UnsupportedCodec,
            MediaError::FfmpegMissing { .. } => FailureCode::FfmpegMissing,
            MediaError::FfmpegFailed { .. } => FailureCode::FfmpegFailed,
            MediaError::Io { .. } => FailureCode::Io,
        }
    }
}

impl From<MediaError> for TranscribeError {
    fn from(e: MediaError) -> Self {
        let message = e.to_string();
        match e {
            // A read error may be a full disk or a flaky mount: another attempt can succeed.
            MediaError::Io { .. } => TranscribeError::Engine { code: FailureCode::Io, message },
            // Everything else is a property of the file (or of this installation) and
            // retrying the same job would fail the same way.
            other => TranscribeError::Media { code: other.code(), message },
        }
    }
}

/// The file name shown in messages: the last path component only.
pub(crate) fn display_name(path: &std::path::Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "(unnamed)".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_retryable_engine_errors_and_the_rest_are_media_errors() {
        let io = MediaError::Io { file: "a.mp4".into(), source: io::Error::other("disk") };
        let t: TranscribeError = io.into();
        assert!(t.is_retryable());
        assert_eq!(t.code(), "io");
        let bad = MediaError::NoAudioStream { file: "a.mp4".into() };
        let t: TranscribeError = bad.into();
        assert!(!t.is_retryable());
        assert_eq!(t.code(), "no_audio_stream");
        assert_eq!(t.to_string(), "'a.mp4' has no audio stream");
    }

    #[test]
    fn the_ffmpeg_missing_message_says_ffmpeg_is_needed_for_the_format() {
        let e =
            MediaError::FfmpegMissing { file: "talk.webm".into(), format: "webm/opus".into(), tool: "ffmpeg".into() };
        assert_eq!(e.code(), "ffmpeg_missing");
        let m = e.to_string();
        assert!(m.contains("talk.webm") && m.contains("needs ffmpeg") && m.contains("webm/opus"), "{m}");
    }

    #[test]
    fn display_names_never_contain_directories() {
        assert_eq!(display_name(std::path::Path::new("/srv/data/uploads/x.mp4")), "x.mp4");
    }
}
