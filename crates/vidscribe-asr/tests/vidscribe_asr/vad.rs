//! Voice activity detection on real speech separated by long stretches of room tone.

use std::path::Path;

use vidscribe_core::{CancelFlag, Transcript};
use vidscribe_formats::wer::wer;
use vidscribe_media::testdata::GappedSpeech;

use crate::support::{request, transcribe_with, transcriber};

fn run(path: &Path, vad: bool) -> Transcript {
    let mut req = request(path, "tiny.en");
    req.vad = vad;
    req.word_timestamps = true;
    transcribe_with(transcriber(), &req, &CancelFlag::new(), &|_, _| {}).unwrap()
}

/// The text of the segments that start inside `from..to` (media seconds).
pub fn text_between(t: &Transcript, from: f64, to: f64) -> String {
    t.segments.iter().filter(|s| s.start >= from && s.start < to).map(|s| s.text.trim()).collect::<Vec<_>>().join(" ")
}

#[test]
fn speech_between_long_silences_is_found_in_media_time_and_the_gaps_stay_empty() {
    let audio = GappedSpeech::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gaps.wav");
    audio.write_wav(&path);
    let total = audio.seconds();

    let with = run(&path, true);
    let without = run(&path, false);
    let expected = audio.reference();
    let (w_on, w_off) = (wer(&expected, &with.text()), wer(&expected, &without.text()));
    let heard = with.speech_seconds.expect("the gate says how much it passed on");
    eprintln!("VAD on: WER {:.1}%, {heard:.1} s of {total:.1} s to the model: {:?}", w_on * 100.0, with.text());
    eprintln!("VAD off: WER {:.1}%: {:?}", w_off * 100.0, without.text());

    // The model heard the passages, each with 0.4 s of padding on both sides, and nothing else.
    let speech = audio.speech_seconds();
    assert!(heard <= speech + 4.0 * 0.4 + 0.1, "{heard} s passed of {total} s");
    assert!(heard >= speech - 1.0, "speech was cut: {heard} s passed");
    assert!((with.duration - total).abs() < 0.05, "duration is media time: {} vs {total}", with.duration);
    assert_eq!(without.speech_seconds, None);
    // Accuracy is unchanged.
    assert!(w_on <= w_off + 0.005, "VAD hurt WER: {w_on} vs {w_off}");
    assert!(w_on <= 0.08, "{}", with.text());
    // The times are the media's: each passage's text lies where it plays, and its first word
    // starts when it does.
    let words: Vec<_> = with.segments.iter().flat_map(|s| s.words.iter().flatten()).collect();
    for p in &audio.passages {
        let text = text_between(&with, p.start - 0.5, p.end);
        assert!(wer(&p.reference, &text) <= 0.1, "passage at {} s: {text:?}; {:#?}", p.start, with.segments);
        let first = words.iter().find(|w| w.start >= p.start - 0.5).expect("words of the passage");
        assert!((first.start - p.start).abs() < 0.6, "first word at {} s; the passage at {} s", first.start, p.start);
    }
    // Nothing in the pauses (past the padding kept around speech).
    for (from, to) in audio.pauses() {
        let inside = text_between(&with, from + 0.5, to - 0.5);
        assert!(inside.is_empty(), "text in the pause {from}..{to}: {inside:?}");
    }
    for s in &with.segments {
        assert!(s.start <= s.end && s.end <= total + 0.01, "{s:?}");
    }
}
