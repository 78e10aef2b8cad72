//! What the engine says about a file with nothing to hear.

use vidscribe_asr::UNKNOWN_LANGUAGE;

use crate::support::{fixture, request, transcribe, transcribe_with, transcriber};
use vidscribe_core::CancelFlag;

#[test]
fn silence_has_no_detected_language() {
    // The multilingual model, asked to detect: no window has sound, so none is decoded and
    // nothing is detected. Claiming "en" would be a guess dressed as a detection.
    let t = transcribe(&fixture("silence_10s.wav"), "base");
    assert!(t.segments.is_empty(), "{:?}", t.segments);
    assert_eq!(t.language, UNKNOWN_LANGUAGE);
    assert_eq!(t.language_probability, None);
    assert!((t.duration - 10.0).abs() < 0.05, "{}", t.duration);
}

#[test]
fn silence_keeps_a_language_that_was_given_not_detected() {
    // Asked for French: that is the language it was decoded in, heard or not.
    let mut req = request(&fixture("silence_10s.wav"), "base");
    req.language = Some("fr".into());
    let t = transcribe_with(transcriber(), &req, &CancelFlag::new(), &|_, _| {}).unwrap();
    assert_eq!((t.language.as_str(), t.language_probability), ("fr", None));
    // An English-only model knows one language: English, by construction, not by detection.
    let t = transcribe(&fixture("silence_10s.wav"), "tiny.en");
    assert_eq!((t.language.as_str(), t.language_probability), ("en", None));
}
