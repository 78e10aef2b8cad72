//! The seam between the batch engine and the speech engine.
//!
//! The worker runs a [`Transcriber`] on a blocking thread for each job. The real one
//! (Whisper on CTranslate2) lives in `vidscribe-asr`; scheduling tests may use an instant one.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::codes::FailureCode;
use crate::status::JobStage;
use crate::transcript::{Segment, Transcript};

/// What to transcribe and how.
#[derive(Debug, Clone)]
pub struct TranscribeRequest {
    pub media_path: PathBuf,
    /// A registry name (`tiny.en`, `base`) or a path to a CTranslate2 Whisper model directory.
    pub model: String,
    /// ISO 639-1 code; `None` means detect.
    pub language: Option<String>,
    pub beam_size: usize,
    /// Chunks of the audio decoded per model call (1: one 30 s window at a time, each
    /// conditioned on the text before it; see the engine's batched decoding). `None`: the
    /// model's own default, measured per model.
    pub batch_size: Option<usize>,
    pub word_timestamps: bool,
    /// Threads of the model instance the job runs on: all the worker's cores for the instance
    /// its batched jobs share, cores / slots for a job's own one (batch size 1).
    pub threads: usize,
    /// Voice activity detection: only the stretches with speech reach the model.
    pub vad: bool,
    /// An earlier attempt's committed work to continue from, instead of starting at zero.
    pub resume: Option<Resume>,
}

/// Where a transcription has got to: what a later attempt needs to carry on from there.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Checkpoint {
    /// Media seconds decoding has reached; the segments handed over so far are all before it.
    pub done_seconds: f64,
    /// The engine's own state at that point, in its own format (only the engine that wrote it
    /// reads it back). `None`: this engine cannot resume.
    pub state: Option<String>,
}

/// An earlier attempt's committed work: its segments, in order, and the engine state
/// ([`Checkpoint::state`]) written with the last of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Resume {
    pub segments: Vec<Segment>,
    pub state: String,
}

/// Progress callback: the current stage and the fraction done (audio seconds done / duration, 0..=1).
pub type ProgressFn<'a> = dyn Fn(JobStage, f64) + Send + Sync + 'a;

/// Live transcript callback: the segments a decoded window added (media time, in order, their
/// ids counting on from the segments before them) and the checkpoint just after them. A
/// resumed transcription's first call continues after [`Resume::segments`], or, when the
/// engine could not use them, starts again at id 0.
pub type SegmentsFn<'a> = dyn Fn(&[Segment], &Checkpoint) + Send + Sync + 'a;

/// Set when the job is cancelled; the transcriber checks it between windows and stops.
#[derive(Debug, Clone, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TranscribeError {
    /// The cancel flag was seen; partial work was discarded.
    #[error("cancelled")]
    Cancelled,
    /// The input cannot be decoded (not media, no audio stream, truncated…). Retrying will not help.
    #[error("{message}")]
    Media { code: FailureCode, message: String },
    /// The model could not be fetched, verified or loaded.
    #[error("{message}")]
    Model { code: FailureCode, message: String },
    /// Inference or I/O failed; may succeed on another attempt.
    #[error("{message}")]
    Engine { code: FailureCode, message: String },
}

impl TranscribeError {
    /// Whether another attempt could succeed (deterministic failures are not retried).
    pub fn is_retryable(&self) -> bool {
        matches!(self, TranscribeError::Engine { .. })
    }
}

impl TranscribeError {
    /// The job's `error_code` when this ends it.
    pub fn code(&self) -> FailureCode {
        match self {
            TranscribeError::Cancelled => FailureCode::Cancelled,
            TranscribeError::Media { code, .. }
            | TranscribeError::Model { code, .. }
            | TranscribeError::Engine { code, .. } => *code,
        }
    }
}

/// A speech-to-text engine. Blocking: the worker calls it from a blocking thread.
pub trait Transcriber: Send + Sync + 'static {
    fn transcribe(
        &self,
        request: &TranscribeRequest,
        progress: &ProgressFn<'_>,
        cancel: &CancelFlag,
    ) -> Result<Transcript, TranscribeError>;

    /// [`transcribe`](Self::transcribe), handing each window's segments to `segments` as they
    /// are decoded. An engine that cannot do that hands them all over at the end.
    fn transcribe_live(
        &self,
        request: &TranscribeRequest,
        progress: &ProgressFn<'_>,
        segments: &SegmentsFn<'_>,
        cancel: &CancelFlag,
    ) -> Result<Transcript, TranscribeError> {
        let t = self.transcribe(request, progress, cancel)?;
        segments(&t.segments, &Checkpoint { done_seconds: t.duration, state: None });
        Ok(t)
    }
}

impl<T: Transcriber + ?Sized> Transcriber for Arc<T> {
    fn transcribe(
        &self,
        request: &TranscribeRequest,
        progress: &ProgressFn<'_>,
        cancel: &CancelFlag,
    ) -> Result<Transcript, TranscribeError> {
        (**self).transcribe(request, progress, cancel)
    }

    fn transcribe_live(
        &self,
        request: &TranscribeRequest,
        progress: &ProgressFn<'_>,
        segments: &SegmentsFn<'_>,
        cancel: &CancelFlag,
    ) -> Result<Transcript, TranscribeError> {
        (**self).transcribe_live(request, progress, segments, cancel)
    }
}
