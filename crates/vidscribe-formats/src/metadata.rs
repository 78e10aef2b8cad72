//! `metadata.json`: what the results page and `/results` show about one finished job.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use vidscribe_core::{BatchId, JobId, SessionId, Transcript};

pub const METADATA_FILE_NAME: &str = "metadata.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub session_name: String,
    pub session_id: SessionId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<JobId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<BatchId>,
    pub original_filename: String,
    /// Seconds of media.
    pub media_duration: f64,
    /// Wall-clock seconds the job took (decode + inference + writing).
    pub processing_time: f64,
    pub word_count: usize,
    pub segment_count: usize,
    pub model: String,
    pub language: String,
    /// processing_time / media_duration: below 1.0 is faster than real time.
    pub real_time_factor: f64,
    /// Seconds the model was given when voice activity detection kept only the speech.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speech_seconds: Option<f64>,
    pub created_at: DateTime<Utc>,
}

impl Metadata {
    /// Metadata for a finished transcript; counts, model, language and duration come from it.
    pub fn for_transcript(
        t: &Transcript,
        session_name: impl Into<String>,
        session_id: SessionId,
        original_filename: impl Into<String>,
        processing_time: f64,
        created_at: DateTime<Utc>,
    ) -> Self {
        // A zero/unknown duration would make the factor infinite, which JSON cannot carry.
        let real_time_factor =
            if t.duration.is_finite() && t.duration > 0.0 { processing_time / t.duration } else { 0.0 };
        Metadata {
            session_name: session_name.into(),
            session_id,
            job_id: None,
            batch_id: None,
            original_filename: original_filename.into(),
            media_duration: t.duration,
            processing_time,
            word_count: t.word_count(),
            segment_count: t.segments.len(),
            model: t.model.clone(),
            language: t.language.clone(),
            real_time_factor,
            speech_seconds: t.speech_seconds,
            created_at,
        }
    }
}

impl Metadata {
    /// The contents of `metadata.json`: pretty JSON and a final newline.
    pub fn to_json(&self) -> Vec<u8> {
        // Plain data with string keys and finite numbers: serialisation cannot fail.
        let mut json = serde_json::to_vec_pretty(self).unwrap_or_default();
        json.push(b'\n');
        json
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vidscribe_core::Segment;

    fn transcript(duration: f64) -> Transcript {
        Transcript {
            language: "en".into(),
            language_probability: Some(0.9),
            duration,
            model: "tiny.en".into(),
            segments: vec![Segment {
                id: 0,
                start: 0.0,
                end: 2.0,
                text: " ask not what your country".into(),
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

    #[test]
    fn metadata_counts_words_and_computes_the_real_time_factor() {
        let m = Metadata::for_transcript(&transcript(10.0), "Talk", SessionId::new(), "talk.mp4", 2.5, Utc::now());
        assert_eq!(m.word_count, 5);
        assert_eq!(m.segment_count, 1);
        assert!((m.real_time_factor - 0.25).abs() < 1e-12);
        assert_eq!(m.model, "tiny.en");
    }

    #[test]
    fn metadata_of_zero_length_media_has_a_finite_factor() {
        let m = Metadata::for_transcript(&transcript(0.0), "T", SessionId::new(), "x.mp4", 1.0, Utc::now());
        assert_eq!(m.real_time_factor, 0.0);
    }

    #[test]
    fn metadata_json_round_trips() {
        let mut m = Metadata::for_transcript(&transcript(4.0), "Talk", SessionId::new(), "talk.mp4", 1.0, Utc::now());
        m.job_id = Some(JobId::new());
        // The worker stores these bytes as `metadata.json` (storage writes them atomically).
        let json = m.to_json();
        assert_eq!(json.last(), Some(&b'\n'));
        let back: Metadata = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, m);
    }
}
