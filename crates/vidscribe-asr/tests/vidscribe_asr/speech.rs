use std::sync::Mutex;

use vidscribe_core::{CancelFlag, JobStage};
use vidscribe_formats::wer::{corpus_wer, wer};

use crate::support::{fixture, reference, request, transcribe, transcribe_with, transcriber};

/// The JFK quote: the reference text beside jfk.wav.
fn jfk() -> String {
    reference("jfk.txt")
}

/// The measured WER, printed for the record.
fn report(what: &str, rate: f64, bound: f64, text: &str) {
    eprintln!("WER {what}: {:.1}% (bound {:.1}%): {text:?}", rate * 100.0, bound * 100.0);
}

#[test]
fn jfk_is_transcribed_within_five_percent_wer() {
    let transcript = transcribe(&fixture("jfk.wav"), "tiny.en");
    let rate = wer(&jfk(), &transcript.text());
    report("jfk.wav (tiny.en)", rate, 0.05, &transcript.text());
    assert!(rate <= 0.05, "WER {:.1}% on jfk.wav: {:?}", rate * 100.0, transcript.text());
    assert_eq!(transcript.language, "en");
    assert_eq!(transcript.model, "tiny.en");
    assert!((transcript.duration - 11.0).abs() < 0.1, "duration {}", transcript.duration);
    let first = &transcript.segments[0];
    assert!(first.avg_logprob < 0.0 && first.avg_logprob > -1.0, "avg_logprob {}", first.avg_logprob);
    assert!(first.compression_ratio > 0.5 && first.compression_ratio < 2.4);
    assert_eq!(first.temperature, 0.0);
}

#[test]
fn the_same_speech_inside_mp4_mkv_webm_and_mov_gives_the_same_text() {
    let from_wav = transcribe(&fixture("jfk.wav"), "tiny.en").text();
    for video in ["video/jfk.mp4", "video/jfk.mkv", "video/jfk.webm", "video/jfk.mov"] {
        let text = transcribe(&fixture(video), "tiny.en").text();
        let rate = wer(&jfk(), &text);
        report(video, rate, 0.05, &text);
        assert!(rate <= 0.05, "{video}: {text:?}");
        assert!(wer(&from_wav, &text) <= 0.05, "{video} differs from the wav: {text:?} vs {from_wav:?}");
    }
}

#[test]
fn the_librivox_clips_are_transcribed_within_nine_percent_aggregate_wer() {
    let mut pairs = Vec::new();
    for id in ["0870", "0880", "0890", "0920", "0930"] {
        let stem = format!("librivox/sense_and_sensibility_01_austen_64kb-{id}");
        let hypothesis = transcribe(&fixture(&format!("{stem}.wav")), "tiny.en").text();
        pairs.push((reference(&format!("{stem}.txt")), hypothesis));
    }
    assert_eq!(pairs.len(), 5);
    let rate = corpus_wer(pairs.iter().map(|(r, h)| (r.as_str(), h.as_str())));
    for (id, (r, h)) in ["0870", "0880", "0890", "0920", "0930"].iter().zip(&pairs) {
        eprintln!("WER librivox {id} (tiny.en): {:.1}%: {h:?}", wer(r, h) * 100.0);
    }
    // Measured 5.6% (4 errors in 71 words): 6 errors pass, 7 fail.
    report("librivox corpus (tiny.en)", rate, 0.09, "");
    assert!(rate <= 0.09, "aggregate WER {:.1}% over the LibriVox clips: {pairs:#?}", rate * 100.0);
}

#[test]
fn long_form_audio_keeps_its_accuracy_and_its_timeline() {
    let media = fixture("long_form.wav");
    let seen = Mutex::new(Vec::new());
    let transcript = transcribe_with(transcriber(), &request(&media, "tiny.en"), &CancelFlag::new(), &|stage, f| {
        seen.lock().unwrap().push((stage, f));
    })
    .expect("long-form transcription");

    assert!(transcript.duration > 360.0, "long_form.wav should be over 6 minutes, is {}", transcript.duration);
    let rate = wer(&reference("long_form.txt"), &transcript.text());
    // Measured 3.3% of 777 words: 38 errors pass, 39 fail.
    report("long_form.wav (tiny.en)", rate, 0.05, "");
    assert!(rate <= 0.05, "WER {:.1}% on long_form.wav:\n{}", rate * 100.0, transcript.text());

    let mut previous_end = 0.0;
    for s in &transcript.segments {
        assert!(s.start >= previous_end - 1e-6, "segment {} starts at {} before {}", s.id, s.start, previous_end);
        assert!(s.end >= s.start && s.end <= transcript.duration + 1e-6, "segment {}: {}..{}", s.id, s.start, s.end);
        // The prompts follow each other with 0.5 s pauses: the segments tile the speech, no
        // segment outlasts a 30 s window and no stretch of speech is left without one.
        assert!(s.end - s.start <= 30.0 + 1e-6, "segment {} lasts {} s", s.id, s.end - s.start);
        assert!(s.start - previous_end <= 5.0, "nothing transcribed between {previous_end} and {} s", s.start);
        previous_end = s.end;
    }
    // 30 s windows over 6+ minutes: at least a segment per window, reaching the last minute.
    // (How many more the model makes is its choice: faster-whisper makes 22 with word
    // timestamps, 30 without, on this file.)
    assert!(
        transcript.segments.len() as f64 >= transcript.duration / 30.0,
        "{} segments for {} s",
        transcript.segments.len(),
        transcript.duration
    );
    assert!(previous_end > transcript.duration - 60.0, "last segment ends at {previous_end}");

    let seen = seen.into_inner().unwrap();
    let stages: Vec<JobStage> = seen.iter().map(|(s, _)| *s).collect();
    assert_eq!(stages.first(), Some(&JobStage::LoadingModel));
    let transcribing: Vec<f64> = seen.iter().filter(|(s, _)| *s == JobStage::Transcribing).map(|(_, f)| *f).collect();
    assert!(transcribing.len() >= 12, "one progress report per window, got {transcribing:?}");
    assert!(transcribing.windows(2).all(|w| w[0] <= w[1]), "progress went backwards: {transcribing:?}");
    assert!((transcribing.last().unwrap() - 1.0).abs() < 1e-9);
}

#[test]
fn ten_seconds_of_silence_yield_no_words() {
    let transcript = transcribe(&fixture("silence_10s.wav"), "tiny.en");
    assert_eq!(transcript.word_count(), 0, "silence produced {:?}", transcript.text());
    assert!((transcript.duration - 10.0).abs() < 0.1);
}

#[test]
fn word_timestamps_follow_the_speech() {
    let mut req = request(&fixture("jfk.wav"), "tiny.en");
    req.word_timestamps = true;
    let transcript = transcribe_with(transcriber(), &req, &CancelFlag::new(), &|_, _| {}).expect("jfk with words");
    let words: Vec<_> = transcript.segments.iter().flat_map(|s| s.words.clone().expect("words requested")).collect();
    let spoken: Vec<String> = words.iter().map(|w| w.word.trim().to_lowercase()).collect();
    let rate = wer(&jfk(), &spoken.join(" "));
    report("jfk.wav words (tiny.en)", rate, 0.05, &spoken.join(" "));
    assert!(rate <= 0.05, "{spoken:?}");
    let mut last = 0.0;
    for w in &words {
        assert!(w.start >= last - 1e-6 && w.end >= w.start, "{w:?} after {last}");
        last = w.end;
    }
    // "country" closes the quote near the end of the 11 s clip; "And" opens it in the first seconds.
    assert!(words[0].start < 2.0, "{:?}", words[0]);
    assert!(words.last().unwrap().end > 8.0, "{:?}", words.last());
}
