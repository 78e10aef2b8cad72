//! Batches and jobs as the API shows them (field names from the system Vidscribe replaces).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::codes::FailureCode;
use crate::error::CoreError;
use crate::ids::{BatchId, JobId, SessionId};
use crate::progress::BatchProgress;
use crate::status::{BatchStatus, JobStage, JobStatus};

/// An output file a job can produce. All are rendered from the canonical transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    Txt,
    Srt,
    Vtt,
    Json,
}

impl OutputFormat {
    pub const ALL: [OutputFormat; 4] = [OutputFormat::Txt, OutputFormat::Srt, OutputFormat::Vtt, OutputFormat::Json];

    pub const fn as_str(self) -> &'static str {
        match self {
            OutputFormat::Txt => "txt",
            OutputFormat::Srt => "srt",
            OutputFormat::Vtt => "vtt",
            OutputFormat::Json => "json",
        }
    }

    /// The file name inside `results/<session_id>/`.
    pub const fn file_name(self) -> &'static str {
        match self {
            OutputFormat::Txt => "transcript.txt",
            OutputFormat::Srt => "subtitles.srt",
            OutputFormat::Vtt => "subtitles.vtt",
            OutputFormat::Json => "transcript.json",
        }
    }

    pub const fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Txt => "text/plain; charset=utf-8",
            OutputFormat::Srt => "application/x-subrip; charset=utf-8",
            OutputFormat::Vtt => "text/vtt; charset=utf-8",
            OutputFormat::Json => "application/json",
        }
    }

    /// Parses a comma-separated list such as `srt,vtt`; duplicates are dropped.
    pub fn parse_list(list: &str) -> Result<Vec<OutputFormat>, CoreError> {
        let mut out = Vec::new();
        for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let f: OutputFormat = part.parse()?;
            if !out.contains(&f) {
                out.push(f);
            }
        }
        if out.is_empty() {
            return Err(CoreError::InvalidInput("at least one output format is required".into()));
        }
        Ok(out)
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OutputFormat {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "txt" => Ok(OutputFormat::Txt),
            "srt" => Ok(OutputFormat::Srt),
            "vtt" => Ok(OutputFormat::Vtt),
            "json" => Ok(OutputFormat::Json),
            _ => Err(CoreError::InvalidInput(format!(
                "unknown output format '{}' (expected txt, srt, vtt or json)",
                s.chars().take(32).collect::<String>()
            ))),
        }
    }
}

/// What a batch is created with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchSettings {
    pub name: String,
    pub max_concurrent: u32,
    pub model: String,
    pub language: Option<String>,
    pub formats: Vec<OutputFormat>,
    /// Voice activity detection: only the stretches with speech are transcribed. On by
    /// default: it left the corpus WER unchanged and skips long pauses (README, "Voice
    /// activity detection"). Stored batches from before it existed read as off.
    #[serde(default)]
    pub vad: bool,
}

impl BatchSettings {
    pub const MAX_CONCURRENT_LIMIT: u32 = 16;
    pub const DEFAULT_MODEL: &'static str = "base";

    /// Validates user-supplied settings; `None` fields take defaults.
    pub fn new(
        id: BatchId,
        name: Option<String>,
        max_concurrent: Option<i64>,
        model: Option<String>,
        language: Option<String>,
        formats: Option<Vec<OutputFormat>>,
    ) -> Result<Self, CoreError> {
        let name = match name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()) {
            Some(n) if n.chars().count() > 200 => {
                return Err(CoreError::InvalidInput("name must be at most 200 characters".into()))
            }
            Some(n) if n.chars().any(char::is_control) => {
                return Err(CoreError::InvalidInput("name must not contain control characters".into()))
            }
            Some(n) => n,
            None => format!("Batch {}", id.short()),
        };
        let max_concurrent = match max_concurrent {
            None => 2,
            Some(n) if (1..=Self::MAX_CONCURRENT_LIMIT as i64).contains(&n) => n as u32,
            Some(n) => {
                return Err(CoreError::InvalidInput(format!(
                    "max_concurrent must be between 1 and {} (got {n})",
                    Self::MAX_CONCURRENT_LIMIT
                )))
            }
        };
        let model = model
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| Self::DEFAULT_MODEL.to_string());
        if model.len() > 512 || model.chars().any(char::is_control) {
            return Err(CoreError::InvalidInput("model must be a model name or directory path".into()));
        }
        let language = match language.map(|l| l.trim().to_ascii_lowercase()).filter(|l| !l.is_empty() && l != "auto") {
            Some(l) if l.len() >= 2 && l.len() <= 8 && l.chars().all(|c| c.is_ascii_alphabetic() || c == '-') => {
                Some(l)
            }
            Some(l) => {
                return Err(CoreError::InvalidInput(format!(
                    "language '{}' is not a language code",
                    l.chars().take(16).collect::<String>()
                )))
            }
            None => None,
        };
        let formats = match formats {
            Some(f) if f.is_empty() => return Err(CoreError::InvalidInput("formats must not be empty".into())),
            Some(mut f) => {
                f.sort();
                f.dedup();
                f
            }
            None => OutputFormat::ALL.to_vec(),
        };
        Ok(Self { name, max_concurrent, model, language, formats, vad: true })
    }
}

/// One attempt at running a job (a retried or re-queued job has several).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub attempt: u32,
    pub worker: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// How it ended: completed, failed, cancelled, or `lease_expired` / `released`.
    pub outcome: Option<String>,
    pub error_message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub job_id: JobId,
    pub batch_id: BatchId,
    pub original_filename: String,
    pub session_name: String,
    pub status: JobStatus,
    pub stage: Option<JobStage>,
    /// 0.0..=1.0
    pub progress: f64,
    /// Seconds; known after the upload was probed.
    pub media_duration: Option<f64>,
    pub attempts: u32,
    pub worker: Option<String>,
    pub heartbeat_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub error_message: Option<String>,
    /// Why it failed or ended (the registry's wire string on the wire and in the row).
    pub error_code: Option<FailureCode>,
    /// Set on a completed job whose media was read with a caveat the user should know (audio
    /// that ends before the video, timestamp gaps kept as silence…): completed, with a warning.
    #[serde(default)]
    pub warning: Option<String>,
    pub session_id: SessionId,
    /// Relative to the data directory.
    pub results_path: String,
    /// Relative to the data directory.
    pub file_path: String,
    #[serde(default)]
    pub history: Vec<Attempt>,
}

impl Job {
    /// `uploads/<job_id>.<ext>` for an extension already known to be safe
    /// ([`crate::layout::upload_key`]).
    pub fn upload_path(job_id: JobId, ext: &str) -> String {
        crate::layout::upload_key(job_id, ext)
    }

    /// `results/<session_id>` ([`crate::layout::results_key`]).
    pub fn results_path_for(session_id: SessionId) -> String {
        crate::layout::results_key(session_id)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    pub batch_id: BatchId,
    pub name: String,
    pub max_concurrent: u32,
    pub status: BatchStatus,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// Seconds from start to completion; 0.0 until the batch finishes.
    pub total_duration: f64,
    pub error_message: Option<String>,
    pub model: String,
    pub language: Option<String>,
    pub formats: Vec<OutputFormat>,
    #[serde(default)]
    pub vad: bool,
    pub jobs: Vec<Job>,
    pub progress: BatchProgress,
}

/// One row of the batch list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchSummary {
    pub batch_id: BatchId,
    pub name: String,
    pub status: BatchStatus,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub max_concurrent: u32,
    pub error_message: Option<String>,
    pub total_jobs: u64,
    pub progress: BatchProgress,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(mc: Option<i64>) -> Result<BatchSettings, CoreError> {
        BatchSettings::new(BatchId::new(), None, mc, None, None, None)
    }

    #[test]
    fn max_concurrent_must_be_between_1_and_16() {
        assert!(settings(Some(0)).is_err());
        assert!(settings(Some(99)).is_err());
        assert_eq!(settings(Some(16)).unwrap().max_concurrent, 16);
        assert_eq!(settings(None).unwrap().max_concurrent, 2);
    }

    #[test]
    fn a_batch_without_a_name_is_named_after_its_id() {
        let id = BatchId::new();
        let s = BatchSettings::new(id, Some("  ".into()), None, None, None, None).unwrap();
        assert_eq!(s.name, format!("Batch {}", id.short()));
    }

    #[test]
    fn output_format_lists_parse_and_reject_unknowns() {
        assert_eq!(OutputFormat::parse_list("srt, vtt,srt").unwrap(), vec![OutputFormat::Srt, OutputFormat::Vtt]);
        assert!(OutputFormat::parse_list("docx").is_err());
        assert!(OutputFormat::parse_list("").is_err());
    }

    #[test]
    fn language_auto_means_detect() {
        let s = BatchSettings::new(BatchId::new(), None, None, None, Some("auto".into()), None).unwrap();
        assert_eq!(s.language, None);
        assert!(BatchSettings::new(BatchId::new(), None, None, None, Some("<script>".into()), None).is_err());
    }
}
