//! Property tests of whole SRT/VTT documents, parsed back strictly the way a player reads
//! them: blocks separated by one blank line, a timing line `HH:MM:SS,mmm --> HH:MM:SS,mmm`
//! (`.` in VTT), then one or two non-empty text lines of at most 42 characters that never
//! contain `-->` (a player would take such a line for a new timing line). Text is generated
//! from an alphabet rich in the characters that break subtitle files: `-`, `>`, `<`, `&`,
//! digits, newlines, carriage returns, Unicode line separators, blank-looking segments.

use proptest::prelude::*;
use vidscribe_core::{OutputFormat, Segment, Transcript, Word};
use vidscribe_formats::{build_cues, render, MAX_LINES, MAX_LINE_CHARS};

/// Strict `HH:MM:SS<sep>mmm` (hours: two digits or more) → milliseconds.
fn parse_ts(s: &str, sep: char) -> Option<u64> {
    let (hms, ms) = s.split_once(sep)?;
    let p: Vec<&str> = hms.split(':').collect();
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    if p.len() != 3 || p[0].len() < 2 || p[1].len() != 2 || p[2].len() != 2 || ms.len() != 3 {
        return None;
    }
    if !(digits(p[0]) && digits(p[1]) && digits(p[2]) && digits(ms)) {
        return None;
    }
    let (h, m, sec, milli): (u64, u64, u64, u64) =
        (p[0].parse().ok()?, p[1].parse().ok()?, p[2].parse().ok()?, ms.parse().ok()?);
    (m < 60 && sec < 60).then(|| h * 3_600_000 + m * 60_000 + sec * 1000 + milli)
}

/// One cue as a player reads it back.
#[derive(Debug)]
struct ReadCue {
    start: u64,
    end: u64,
    lines: Vec<String>,
}

/// Reads a document the strict way; `Err` says what is malformed.
fn read_doc(doc: &str, format: OutputFormat) -> Result<Vec<ReadCue>, String> {
    let (body, sep) = match format {
        OutputFormat::Srt => (doc, ','),
        OutputFormat::Vtt => (doc.strip_prefix("WEBVTT\n\n").ok_or("no WEBVTT header")?, '.'),
        _ => unreachable!(),
    };
    if body.is_empty() {
        return Ok(Vec::new());
    }
    let blocks = body.strip_suffix("\n\n").ok_or("the document does not end with a blank line")?;
    let mut out = Vec::new();
    for (i, block) in blocks.split("\n\n").enumerate() {
        let mut lines = block.split('\n');
        if format == OutputFormat::Srt {
            let n = lines.next().ok_or("empty block")?;
            if n != (i + 1).to_string() {
                return Err(format!("block {i} is numbered {n:?}"));
            }
        }
        let timing = lines.next().ok_or("no timing line")?;
        let (a, b) = timing.split_once(" --> ").ok_or_else(|| format!("bad timing line {timing:?}"))?;
        let start = parse_ts(a, sep).ok_or_else(|| format!("bad start in {timing:?}"))?;
        let end = parse_ts(b, sep).ok_or_else(|| format!("bad end in {timing:?}"))?;
        let text: Vec<String> = lines.map(str::to_string).collect();
        for l in &text {
            if l.trim().is_empty() {
                return Err(format!("blank text line in block {block:?}"));
            }
            if l.contains("-->") {
                return Err(format!("text line {l:?} contains an arrow"));
            }
            if l.contains('\r') || l.contains('\u{2028}') || l.contains('\u{2029}') || l.contains('\u{85}') {
                return Err(format!("text line {l:?} holds a line break"));
            }
        }
        if text.is_empty() || text.len() > MAX_LINES {
            return Err(format!("{} text lines in block {block:?}", text.len()));
        }
        out.push(ReadCue { start, end, lines: text });
    }
    Ok(out)
}

fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[-> <&a-z0-9\n]{0,80}",
        2 => "[-–>—=\\- ]{0,30}",
        1 => "[a-z ]{0,20}(-{2,5}>){1,3}[a-z ]{0,20}",
        1 => "[ \t\r\n\u{2028}\u{2029}\u{85}\u{a0}\u{3000}]{0,12}",
        1 => "\\PC{0,60}",
        1 => "[a-zA-Z]{40,120}",
        1 => Just("1\n00:00:01,000 --> 00:00:02,000\n\nWEBVTT\n\nNOTE -->".to_string()),
    ]
}

fn time() -> impl Strategy<Value = f64> {
    prop_oneof![
        10 => 0.0..600.0f64,
        1 => Just(f64::NAN),
        1 => Just(-3.0),
        1 => Just(f64::INFINITY),
        1 => Just(1e12),
    ]
}

fn segment() -> impl Strategy<Value = Segment> {
    (
        time(),
        time(),
        hostile_text(),
        proptest::option::of(proptest::collection::vec((time(), time(), hostile_text()), 0..12)),
    )
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
    (time(), proptest::collection::vec(segment(), 0..8)).prop_map(|(duration, segments)| Transcript {
        language: "en".into(),
        language_probability: None,
        duration,
        model: "tiny".into(),
        segments,
        warnings: Vec::new(),
        speech_seconds: None,
    })
}

fn check(t: &Transcript) -> Result<(), TestCaseError> {
    let cues = build_cues(t);
    for format in [OutputFormat::Srt, OutputFormat::Vtt] {
        let doc = render(format, t);
        let read = read_doc(&doc, format).map_err(|e| TestCaseError::fail(format!("{format:?}: {e}\n{doc}")))?;
        prop_assert_eq!(read.len(), cues.len(), "one block per cue");
        let mut prev_end = 0;
        for (r, c) in read.iter().zip(&cues) {
            prop_assert_eq!((r.start, r.end), (c.start_ms, c.end_ms));
            prop_assert!(r.end > r.start, "empty cue {:?}", r);
            prop_assert!(r.end - r.start <= 7_000, "longer than 7 s: {:?}", r);
            prop_assert!(r.start >= prev_end, "out of order: {:?}", r);
            prev_end = r.end;
            if format == OutputFormat::Srt {
                // SRT is plain text: what is shown is what the cue holds (arrows defused).
                prop_assert_eq!(r.lines.len(), c.lines.len());
            }
        }
    }
    for c in &cues {
        prop_assert!(!c.lines.is_empty() && c.lines.len() <= MAX_LINES, "{:?}", c);
        for l in &c.lines {
            prop_assert!(!l.trim().is_empty(), "blank line in {:?}", c);
            prop_assert!(l.chars().count() <= MAX_LINE_CHARS, "line too long in {:?}", c);
            prop_assert!(!l.chars().any(|ch| ch == '\n' || ch == '\r'), "{:?}", c);
        }
    }
    Ok(())
}

proptest! {
    // `PROPTEST_CASES` asks for more (bench/fuzz).
    #![proptest_config(ProptestConfig::with_cases(std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)))]

    #[test]
    fn srt_and_vtt_documents_read_back_strictly(t in transcript()) {
        check(&t)?;
    }
}

fn one_segment(text: &str) -> Transcript {
    Transcript {
        language: "en".into(),
        language_probability: None,
        duration: 10.0,
        model: "tiny".into(),
        segments: vec![Segment {
            id: 0,
            start: 0.0,
            end: 4.0,
            text: text.into(),
            words: None,
            avg_logprob: 0.0,
            no_speech_prob: 0.0,
            compression_ratio: 0.0,
            temperature: 0.0,
        }],
        warnings: Vec::new(),
        speech_seconds: None,
    }
}

/// Found by `srt_and_vtt_documents_read_back_strictly`: replacing `-->` by `->` once turned
/// `--->` into a new `-->`, a line SRT players read as a timing line.
#[test]
fn arrows_made_of_more_dashes_are_defused_in_srt() {
    for text in ["--->", "a ----> b", "x --->--> y", "------>>"] {
        let t = one_segment(text);
        let srt = render(OutputFormat::Srt, &t);
        let cues = read_doc(&srt, OutputFormat::Srt).unwrap_or_else(|e| panic!("{text:?}: {e}\n{srt}"));
        assert_eq!(cues.len(), 1, "{srt}");
        assert_eq!(srt.matches("-->").count(), 1, "only the timing arrow: {srt}");
        let vtt = render(OutputFormat::Vtt, &t);
        read_doc(&vtt, OutputFormat::Vtt).unwrap_or_else(|e| panic!("{text:?}: {e}\n{vtt}"));
        assert_eq!(vtt.matches("-->").count(), 1, "{vtt}");
    }
}

#[test]
fn the_strict_reader_rejects_what_players_would_misread() {
    assert!(read_doc("1\n00:00:00,000 --> 00:00:01,000\na --> b\n\n", OutputFormat::Srt).is_err());
    assert!(read_doc("1\n00:00:00,000 --> 00:00:01,000\n\n\n", OutputFormat::Srt).is_err());
    assert!(read_doc("1\n0:00:00,000 --> 00:00:01,000\nx\n\n", OutputFormat::Srt).is_err());
    assert!(read_doc("WEBVTT\n\n00:00:00,000 --> 00:00:01.000\nx\n\n", OutputFormat::Vtt).is_err());
    let ok = read_doc("1\n00:00:00,000 --> 00:00:01,500\nx\ny\n\n", OutputFormat::Srt).unwrap();
    assert_eq!((ok[0].start, ok[0].end, ok[0].lines.len()), (0, 1500, 2));
}
