//! Transcript builders shared by the tests.

use vidscribe_core::{Segment, Transcript, Word};

pub fn segment(id: usize, start: f64, end: f64, text: &str) -> Segment {
    Segment {
        id,
        start,
        end,
        text: text.to_string(),
        words: None,
        avg_logprob: -0.2,
        no_speech_prob: 0.01,
        compression_ratio: 1.2,
        temperature: 0.0,
    }
}

/// A segment whose words are given as (start, end, word) with Whisper's leading spaces.
pub fn segment_with_words(id: usize, words: &[(f64, f64, &str)]) -> Segment {
    let text: String = words.iter().map(|w| w.2).collect();
    let mut s = segment(id, words[0].0, words[words.len() - 1].1, &text);
    s.words =
        Some(words.iter().map(|&(start, end, w)| Word { start, end, word: w.to_string(), probability: 0.9 }).collect());
    s
}

pub fn transcript(duration: f64, segments: Vec<Segment>) -> Transcript {
    Transcript {
        language: "en".into(),
        language_probability: Some(0.98),
        duration,
        model: "tiny.en".into(),
        segments,
        warnings: Vec::new(),
        speech_seconds: None,
    }
}

pub fn jfk() -> Transcript {
    transcript(
        11.0,
        vec![segment(
            0,
            0.0,
            10.5,
            " And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.",
        )],
    )
}
