//! A transcriber for scheduling tests and benchmarks: no model, configurable duration.
//!
//! It isolates the batch engine from the speech engine; user-facing tests run the real one.

use std::time::{Duration, Instant};

use vidscribe_core::{
    CancelFlag, FailureCode, JobStage, ProgressFn, Segment, TranscribeError, TranscribeRequest, Transcriber, Transcript,
};

#[derive(Debug, Clone, Default)]
pub struct InstantTranscriber {
    /// How long each job "transcribes" (0 = instant).
    pub delay: Duration,
    /// Files whose name contains this fail with a non-retryable media error.
    pub fail_marker: Option<String>,
}

impl InstantTranscriber {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_delay(delay: Duration) -> Self {
        Self { delay, ..Self::default() }
    }
}

impl Transcriber for InstantTranscriber {
    fn transcribe(
        &self,
        req: &TranscribeRequest,
        progress: &ProgressFn<'_>,
        cancel: &CancelFlag,
    ) -> Result<Transcript, TranscribeError> {
        let name = req.media_path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
        if let Some(marker) = &self.fail_marker {
            if name.contains(marker.as_str()) {
                return Err(TranscribeError::Media {
                    code: FailureCode::NotMedia,
                    message: format!("{name}: not a media file"),
                });
            }
        }
        progress(JobStage::Transcribing, 0.0);
        if !self.delay.is_zero() {
            let start = Instant::now();
            let step = Duration::from_millis(20);
            while start.elapsed() < self.delay {
                if cancel.is_cancelled() {
                    return Err(TranscribeError::Cancelled);
                }
                std::thread::sleep(step.min(self.delay));
                progress(JobStage::Transcribing, (start.elapsed().as_secs_f64() / self.delay.as_secs_f64()).min(1.0));
            }
        }
        if cancel.is_cancelled() {
            return Err(TranscribeError::Cancelled);
        }
        progress(JobStage::Transcribing, 1.0);
        Ok(Transcript {
            language: req.language.clone().unwrap_or_else(|| "en".into()),
            language_probability: None,
            duration: self.delay.as_secs_f64().max(1.0),
            model: "instant".into(),
            segments: vec![Segment {
                id: 0,
                start: 0.0,
                end: 1.0,
                text: format!("Instant transcript of {name}."),
                words: None,
                avg_logprob: 0.0,
                no_speech_prob: 0.0,
                compression_ratio: 1.0,
                temperature: 0.0,
            }],
            warnings: Vec::new(),
            speech_seconds: None,
        })
    }
}
