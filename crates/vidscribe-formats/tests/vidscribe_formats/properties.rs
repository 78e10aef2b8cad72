//! Property tests: whatever segments the model produces, SRT and VTT stay well-formed.

use proptest::prelude::*;
use vidscribe_core::{OutputFormat, Segment, Transcript, Word};
use vidscribe_formats::{build_cues, render, MAX_LINES, MAX_LINE_CHARS};

fn time() -> impl Strategy<Value = f64> {
    prop_oneof![
        8 => 0.0..4_000.0f64,
        1 => Just(f64::NAN),
        1 => Just(-1.0),
        1 => Just(f64::INFINITY),
        1 => Just(1e300),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof!["[a-zA-Z ,.!?]{0,200}", "\\PC{0,120}", Just("<b>&amp;</b> --> \n\n 1\n00:00:01,000 --> x".to_string()),]
}

fn segment() -> impl Strategy<Value = Segment> {
    (time(), time(), text(), proptest::option::of(proptest::collection::vec((time(), time(), "\\PC{0,15}"), 0..20)))
        .prop_map(|(start, end, text, words)| Segment {
            id: 0,
            start,
            end,
            text,
            words: words.map(|ws| {
                ws.into_iter().map(|(start, end, word)| Word { start, end, word, probability: 0.5 }).collect()
            }),
            avg_logprob: 0.0,
            no_speech_prob: 0.0,
            compression_ratio: 0.0,
            temperature: 0.0,
        })
}

fn transcript() -> impl Strategy<Value = Transcript> {
    (time(), proptest::collection::vec(segment(), 0..12)).prop_map(|(duration, segments)| Transcript {
        language: "en".into(),
        language_probability: None,
        duration,
        model: "tiny".into(),
        segments,
        warnings: Vec::new(),
        speech_seconds: None,
    })
}

/// Parses `HH:MM:SS<sep>mmm` strictly into milliseconds.
fn parse_ts(s: &str, sep: char) -> Option<u64> {
    let (hms, ms) = s.split_once(sep)?;
    let parts: Vec<&str> = hms.split(':').collect();
    if parts.len() != 3 || ms.len() != 3 || parts[1].len() != 2 || parts[2].len() != 2 || parts[0].len() < 2 {
        return None;
    }
    let all_digits = parts.iter().chain([&ms]).all(|p| p.bytes().all(|b| b.is_ascii_digit()));
    let (h, m, sec, milli): (u64, u64, u64, u64) =
        (parts[0].parse().ok()?, parts[1].parse().ok()?, parts[2].parse().ok()?, ms.parse().ok()?);
    (all_digits && m < 60 && sec < 60).then_some(h * 3_600_000 + m * 60_000 + sec * 1000 + milli)
}

/// Checks one document's timing lines; returns (start, end) of every cue.
fn timings(doc: &str, sep: char) -> Vec<(u64, u64)> {
    doc.lines()
        .filter(|l| l.contains(" --> "))
        .map(|l| {
            let (a, b) = l.split_once(" --> ").unwrap();
            let a = parse_ts(a, sep).unwrap_or_else(|| panic!("bad timestamp in {l:?}"));
            let b = parse_ts(b, sep).unwrap_or_else(|| panic!("bad timestamp in {l:?}"));
            (a, b)
        })
        .collect()
}

fn limit_ms(t: &Transcript) -> Option<u64> {
    (t.duration.is_finite() && t.duration > 0.0).then(|| (t.duration * 1000.0).round() as u64)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300)))]

    #[test]
    fn subtitles_are_well_formed_and_monotonic(t in transcript()) {
        let cues = build_cues(&t);
        for c in &cues {
            prop_assert!(!c.lines.is_empty() && c.lines.len() <= MAX_LINES);
            for l in &c.lines {
                prop_assert!(!l.is_empty() && l.chars().count() <= MAX_LINE_CHARS && !l.contains('\n'));
            }
        }
        let srt = render(OutputFormat::Srt, &t);
        let vtt = render(OutputFormat::Vtt, &t);
        prop_assert!(vtt.starts_with("WEBVTT\n\n"));
        for (doc, sep) in [(&srt, ','), (&vtt, '.')] {
            let ts = timings(doc, sep);
            prop_assert_eq!(ts.len(), cues.len(), "one timing line per cue in {}", doc);
            let mut prev_end = 0;
            for (start, end) in ts {
                prop_assert!(end > start, "end after start");
                prop_assert!(end - start <= 7_000, "at most 7 s");
                prop_assert!(start >= prev_end, "monotonic, no overlap");
                if let Some(limit) = limit_ms(&t) {
                    prop_assert!(end <= limit, "within the duration");
                }
                prev_end = end;
            }
        }
        // SRT cues are numbered 1..n, each block separated by one blank line.
        let blocks: Vec<&str> = srt.split("\n\n").filter(|b| !b.is_empty()).collect();
        prop_assert_eq!(blocks.len(), cues.len());
        for (i, b) in blocks.iter().enumerate() {
            prop_assert_eq!(b.lines().next().unwrap(), (i + 1).to_string());
        }
    }
}
