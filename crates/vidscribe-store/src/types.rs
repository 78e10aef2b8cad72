//! Values passed to and returned by the store.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use vidscribe_core::{BatchId, BatchSettings, FailureCode, Job, JobId, Resume, Segment, SessionId};

/// A job to add to a pending batch (the upload is already on disk).
#[derive(Debug, Clone)]
pub struct NewJob {
    pub job_id: JobId,
    pub session_id: SessionId,
    pub original_filename: String,
    pub session_name: String,
    /// Relative to the data directory.
    pub file_path: String,
    pub media_duration: Option<f64>,
}

/// A job leased to a worker.
#[derive(Debug, Clone)]
pub struct Claim {
    pub job: Job,
    pub batch_id: BatchId,
    pub job_id: JobId,
    pub worker: String,
    /// Which attempt this is (1-based); fences every later update of this claim.
    pub attempt: u32,
    pub settings: BatchSettings,
    pub lease_expires_at: DateTime<Utc>,
}

/// What a heartbeat tells the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heartbeat {
    /// Keep going.
    Continue,
    /// Someone cancelled the job: stop and call `finish_cancelled`.
    CancelRequested,
    /// The lease is no longer ours (it expired and someone else took over): stop silently.
    Lost,
}

/// Why a job failed.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The job's `error_code`.
    pub code: FailureCode,
    pub message: String,
    /// Deterministic failures (unreadable media) are not retried.
    pub retryable: bool,
    /// Automatic attempts allowed before a retryable failure becomes final.
    pub max_attempts: u32,
}

/// What `delete_batch` removed, for the caller to delete from disk.
#[derive(Debug, Clone, Default)]
pub struct DeletedBatch {
    pub file_paths: Vec<String>,
    pub results_paths: Vec<String>,
}

/// A worker process as it last reported itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerInfo {
    pub name: String,
    pub slots: u32,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    /// Jobs it is processing right now.
    pub running_jobs: Vec<JobId>,
}

/// A job's live transcript as committed: by the running attempt, or left by an earlier one
/// for the next to resume from.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LiveTranscript {
    pub segments: Vec<Segment>,
    /// The media time decoding had reached (`None` before the first commit).
    pub done_seconds: Option<f64>,
    /// The engine's checkpoint written with the last segments ([`vidscribe_core::Checkpoint::state`]).
    pub resume_state: Option<String>,
}

impl LiveTranscript {
    /// What a new attempt can carry on from, if the engine left a checkpoint.
    pub fn into_resume(self) -> Option<Resume> {
        let state = self.resume_state?;
        Some(Resume { segments: self.segments, state })
    }
}
