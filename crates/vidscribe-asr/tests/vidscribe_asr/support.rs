use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use vidscribe_asr::{default_cache_dir, WhisperTranscriber};
use vidscribe_core::{CancelFlag, JobStage, TranscribeError, TranscribeRequest, Transcriber, Transcript};

pub const THREADS: usize = 2;

/// A fixture from scripts/fetch-test-data; fails the test when it is not there.
pub fn fixture(name: &str) -> PathBuf {
    let path = vidscribe_media::testdata::path(name);
    assert!(path.exists(), "test fixture {} is missing: run scripts/fetch-test-data", path.display());
    path
}

pub fn reference(name: &str) -> String {
    let path = fixture(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The transcriber every test shares; models are fetched into the user's cache on first use.
pub fn transcriber() -> &'static WhisperTranscriber {
    static SHARED: OnceLock<WhisperTranscriber> = OnceLock::new();
    SHARED.get_or_init(|| WhisperTranscriber::new(default_cache_dir()))
}

/// Held while a test runs inference.
pub fn cpu() -> MutexGuard<'static, ()> {
    static CPU: Mutex<()> = Mutex::new(());
    CPU.lock().unwrap_or_else(PoisonError::into_inner)
}

pub fn request(media: &Path, model: &str) -> TranscribeRequest {
    TranscribeRequest {
        media_path: media.to_path_buf(),
        model: model.to_string(),
        language: None,
        beam_size: 5,
        batch_size: Some(1),
        word_timestamps: false,
        threads: THREADS,
        vad: false,
        resume: None,
    }
}

/// Transcribes `media` with `model` through the `Transcriber` trait, recording progress.
pub fn transcribe_with(
    transcriber: &WhisperTranscriber,
    request: &TranscribeRequest,
    cancel: &CancelFlag,
    on_progress: &(dyn Fn(JobStage, f64) + Send + Sync),
) -> Result<Transcript, TranscribeError> {
    let _cpu = cpu();
    transcriber.transcribe(request, on_progress, cancel)
}

pub fn transcribe(media: &Path, model: &str) -> Transcript {
    transcribe_with(transcriber(), &request(media, model), &CancelFlag::new(), &|_, _| {})
        .unwrap_or_else(|e| panic!("transcribing {} with {model} failed: {e}", media.display()))
}
