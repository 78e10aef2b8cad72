use vidscribe_core::OutputFormat;
use vidscribe_formats::{build_cues, render, MAX_LINE_CHARS};

use super::support::{jfk, segment, segment_with_words, transcript};

fn all_text(cues: &[vidscribe_formats::Cue]) -> String {
    cues.iter().flat_map(|c| c.lines.iter().cloned()).collect::<Vec<_>>().join(" ")
}

#[test]
fn a_short_segment_becomes_one_cue_with_its_own_times() {
    let t = transcript(5.0, vec![segment(0, 0.5, 2.25, "  Hello there.  ")]);
    let cues = build_cues(&t);
    assert_eq!(cues.len(), 1);
    assert_eq!((cues[0].start_ms, cues[0].end_ms), (500, 2_250));
    assert_eq!(cues[0].lines, vec!["Hello there."]);
}

#[test]
fn long_segments_wrap_into_two_lines_of_at_most_42_characters() {
    let cues = build_cues(&jfk());
    // 108 characters: four lines at most 42 wide fill two cues, cut at the comma.
    assert_eq!(cues.len(), 2, "{cues:?}");
    for c in &cues {
        assert!(c.lines.len() <= 2, "{c:?}");
        for l in &c.lines {
            assert!(l.chars().count() <= MAX_LINE_CHARS, "{l:?} is too long");
        }
    }
    // No word is lost or reordered by cutting.
    assert_eq!(all_text(&cues), jfk().text());
}

#[test]
fn cues_are_cut_after_punctuation_when_there_is_some() {
    let cues = build_cues(&jfk());
    assert!(cues[0].lines.last().unwrap().ends_with(','), "first cue should end at the comma: {cues:?}");
}

#[test]
fn no_cue_lasts_longer_than_seven_seconds() {
    let t = transcript(60.0, vec![segment(0, 0.0, 30.0, "slow speech with few words in a very long segment here")]);
    let cues = build_cues(&t);
    // 30 s in cues of at most 7 s: five of them.
    assert_eq!(cues.len(), 5, "{cues:?}");
    for c in &cues {
        assert!(c.end_ms - c.start_ms <= 7_000, "{c:?}");
    }
    // A single word held for longer than seven seconds is cut short, not kept on screen.
    let t = transcript(60.0, vec![segment(0, 1.0, 20.0, "Hmmmm")]);
    assert_eq!(build_cues(&t)[0].end_ms, 8_000);
}

#[test]
fn without_word_times_time_is_spread_in_proportion_to_characters() {
    // 42+1+42 chars over 10 s: the first line's words end at the 42/85 mark.
    let a = "aaaa bbbb cccc dddd eeee ffff gggg hhhh ii";
    let b = "jjjj kkkk llll mmmm nnnn oooo pppp qqqq rr";
    let t = transcript(100.0, vec![segment(0, 0.0, 10.0, &format!("{a} {b} {a} {b}"))]);
    let cues = build_cues(&t);
    // 4 lines of 42 chars over 10 s: the two cues split at the half.
    assert_eq!(cues.len(), 2, "{cues:?}");
    assert_eq!(cues[0].lines, vec![a, b]);
    assert!((cues[0].end_ms as i64 - 4_970).abs() <= 30, "{cues:?}");
    assert_eq!(cues[1].end_ms, 10_000);
}

#[test]
fn word_timestamps_decide_cue_times_when_present() {
    let words: Vec<(f64, f64, &str)> = vec![
        (1.0, 1.2, " Ask"),
        (1.2, 1.4, " not"),
        (1.4, 1.6, " what"),
        (1.6, 1.8, " your"),
        (1.8, 2.4, " country"),
        (2.4, 2.6, " can"),
        (2.6, 2.8, " do"),
        (2.8, 3.0, " for"),
        (3.0, 3.3, " you."),
        (9.0, 9.2, " Ask"),
        (9.2, 9.5, " what"),
    ];
    let t = transcript(12.0, vec![segment_with_words(0, &words)]);
    let cues = build_cues(&t);
    // The pause makes the 7 s limit cut after "you.", and times come from the words.
    assert_eq!(cues.len(), 2, "{cues:?}");
    assert_eq!((cues[0].start_ms, cues[0].end_ms), (1_000, 3_300));
    assert_eq!(cues[0].lines, vec!["Ask not what your country can do for you."]);
    assert_eq!((cues[1].start_ms, cues[1].end_ms), (9_000, 9_500));
}

#[test]
fn unicode_text_is_measured_in_characters_and_long_runs_are_broken() {
    let cjk = "我们选择登月不是因为它简单而是因为它困难".repeat(4); // 80 chars, no spaces
    let t =
        transcript(20.0, vec![segment(0, 0.0, 8.0, &cjk), segment(1, 8.0, 10.0, "Ça été très élégant — naïve café")]);
    let cues = build_cues(&t);
    for c in &cues {
        for l in &c.lines {
            assert!(l.chars().count() <= MAX_LINE_CHARS, "{l:?}");
        }
    }
    let joined: String = cues
        .iter()
        .take_while(|c| c.start_ms < 8_000)
        .flat_map(|c| c.lines.concat().chars().collect::<Vec<_>>())
        .collect();
    assert_eq!(joined.replace(' ', ""), cjk);
    assert!(render(OutputFormat::Srt, &t).contains("Ça été très élégant — naïve café"));
}

#[test]
fn an_empty_transcript_renders_empty_documents() {
    let t = transcript(0.0, vec![]);
    assert_eq!(render(OutputFormat::Txt, &t), "");
    assert_eq!(render(OutputFormat::Srt, &t), "");
    assert_eq!(render(OutputFormat::Vtt, &t), "WEBVTT\n\n");
    let back: vidscribe_core::Transcript = serde_json::from_str(&render(OutputFormat::Json, &t)).unwrap();
    assert_eq!(back, t);
}

#[test]
fn whitespace_only_segments_produce_no_cues_and_no_lines() {
    let t = transcript(5.0, vec![segment(0, 0.0, 1.0, "   "), segment(1, 1.0, 2.0, " Hi ")]);
    assert_eq!(render(OutputFormat::Txt, &t), "Hi\n");
    assert_eq!(render(OutputFormat::Srt, &t), "1\n00:00:01,000 --> 00:00:02,000\nHi\n\n");
}

#[test]
fn markup_in_the_text_is_shown_as_text() {
    let t = transcript(5.0, vec![segment(0, 0.0, 2.0, "<script>alert('x')</script> & <b>bold</b> -->")]);
    let vtt = render(OutputFormat::Vtt, &t);
    assert!(vtt.contains("&lt;script&gt;alert('x')&lt;/script&gt;"), "{vtt}");
    assert!(vtt.contains("\n&amp; &lt;b&gt;bold&lt;/b&gt; --&gt;\n"), "{vtt}");
    assert_eq!(vtt.matches("-->").count(), 1, "only the timing line may contain an arrow: {vtt}");
    // SRT and TXT have no escaping: the characters are kept exactly.
    let srt = render(OutputFormat::Srt, &t);
    assert!(srt.contains("<script>alert('x')</script>\n& <b>bold</b> ->\n"), "{srt}");
    assert_eq!(srt.matches("-->").count(), 1, "an arrow in the text must not look like a timing line: {srt}");
    assert_eq!(render(OutputFormat::Txt, &t), "<script>alert('x')</script> & <b>bold</b> -->\n");
}

#[test]
fn srt_and_vtt_documents_have_the_expected_shape() {
    let t = transcript(4_000.0, vec![segment(0, 3_723.5, 3_725.25, "Late in the talk.")]);
    assert_eq!(render(OutputFormat::Srt, &t), "1\n01:02:03,500 --> 01:02:05,250\nLate in the talk.\n\n");
    assert_eq!(render(OutputFormat::Vtt, &t), "WEBVTT\n\n01:02:03.500 --> 01:02:05.250\nLate in the talk.\n\n");
}

#[test]
fn txt_has_one_trimmed_segment_per_line() {
    let t = transcript(9.0, vec![segment(0, 0.0, 1.0, "  first\nsegment "), segment(1, 1.0, 2.0, " second ")]);
    assert_eq!(render(OutputFormat::Txt, &t), "first segment\nsecond\n");
}

#[test]
fn cues_never_pass_the_transcript_duration_and_never_overlap() {
    let t = transcript(
        5.0,
        vec![
            segment(0, 0.0, 3.0, "one two three"),
            segment(1, 2.0, 4.0, "overlapping segment"),
            segment(2, 4.5, 9.0, "runs past the end"),
            segment(3, 7.0, 8.0, "entirely after the end"),
        ],
    );
    let cues = build_cues(&t);
    let mut prev = 0;
    for c in &cues {
        assert!(c.start_ms >= prev && c.end_ms > c.start_ms && c.end_ms <= 5_000, "{cues:?}");
        prev = c.end_ms;
    }
    assert!(!all_text(&cues).contains("entirely"), "{cues:?}");
    assert_eq!(cues.last().unwrap().end_ms, 5_000);
}

#[test]
fn an_unknown_duration_falls_back_to_the_last_segment_end() {
    let t = transcript(0.0, vec![segment(0, 0.0, 2.0, "hello"), segment(1, 2.0, 3.5, "world")]);
    let cues = build_cues(&t);
    assert_eq!(cues.len(), 2);
    assert_eq!(cues[1].end_ms, 3_500);
}

#[test]
fn json_output_is_the_canonical_transcript() {
    let mut t = jfk();
    t.segments.push(segment_with_words(1, &[(10.6, 10.8, " Thank"), (10.8, 10.95, " you.")]));
    let json = render(OutputFormat::Json, &t);
    assert!(json.starts_with("{\n"), "pretty printed");
    let back: vidscribe_core::Transcript = serde_json::from_str(&json).unwrap();
    assert_eq!(back, t);
}
