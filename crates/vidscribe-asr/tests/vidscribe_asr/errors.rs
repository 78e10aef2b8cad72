use vidscribe_core::{CancelFlag, TranscribeError};

use crate::support::{fixture, request, transcribe_with, transcriber};

fn error_for(media: &str, model: &str) -> TranscribeError {
    let path = fixture(media);
    match transcribe_with(transcriber(), &request(&path, model), &CancelFlag::new(), &|_, _| {}) {
        Ok(t) => panic!("{media} should not transcribe, got {:?}", t.text()),
        Err(e) => e,
    }
}

#[test]
fn files_that_are_not_media_fail_with_media_errors() {
    for media in ["hostile/text.mp4", "hostile/truncated.mp4", "hostile/empty.mp4", "hostile/random.mkv"] {
        let err = error_for(media, "tiny.en");
        assert!(matches!(err, TranscribeError::Media { .. }), "{media}: {err:?}");
        assert!(!err.is_retryable(), "{media}: a broken file stays broken");
    }
}

#[test]
fn an_unknown_model_fails_before_decoding() {
    let err = error_for("jfk.wav", "no-such-model");
    assert_eq!(err.code(), "model_unknown", "{err:?}");
    assert!(matches!(err, TranscribeError::Model { .. }));
}

#[test]
fn an_english_only_model_refuses_another_language() {
    let mut req = request(&fixture("jfk.wav"), "tiny.en");
    req.language = Some("fr".to_string());
    let err =
        transcribe_with(transcriber(), &req, &CancelFlag::new(), &|_, _| {}).expect_err("tiny.en cannot do French");
    assert_eq!(err.code(), "language_unsupported", "{err:?}");
}
