//! The canonical transcript of one job. `transcript.json` is this structure serialised;
//! every other output format (txt, srt, vtt, …) is rendered from it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Word {
    pub start: f64,
    pub end: f64,
    /// The word as the model spelled it, including its leading space if any.
    pub word: String,
    #[serde(default)]
    pub probability: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub id: usize,
    /// Seconds from the start of the media.
    pub start: f64,
    pub end: f64,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub words: Option<Vec<Word>>,
    #[serde(default)]
    pub avg_logprob: f32,
    #[serde(default)]
    pub no_speech_prob: f32,
    #[serde(default)]
    pub compression_ratio: f32,
    #[serde(default)]
    pub temperature: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    /// ISO 639-1 code, detected or given; `"unknown"` when it was to be detected and no
    /// window had sound to detect it from.
    pub language: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_probability: Option<f32>,
    /// Media duration in seconds.
    pub duration: f64,
    /// Model name (e.g. `tiny.en`) or the directory it was loaded from.
    pub model: String,
    pub segments: Vec<Segment>,
    /// What the user should know about how the media was read (e.g. audio that ends before
    /// the video does): the job completed, but not quite as an ordinary file would.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Seconds of audio the model was given, when voice activity detection kept only the
    /// speech (`None` with detection off: the model was given all of `duration`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speech_seconds: Option<f64>,
}

impl Transcript {
    /// The whole text, segments joined by single spaces.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for seg in &self.segments {
            let t = seg.text.trim();
            if t.is_empty() {
                continue;
            }
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(t);
        }
        out
    }

    pub fn word_count(&self) -> usize {
        self.segments.iter().map(|s| s.text.split_whitespace().count()).sum()
    }
}
