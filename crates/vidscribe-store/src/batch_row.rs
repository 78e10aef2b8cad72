//! The batch row as both backends read it, and what is derived from it alone: progress
//! from the per-status counters plus the running jobs, total duration, the list summary.

use chrono::{DateTime, Utc};
use vidscribe_core::progress::{self, MediaTotals, StatusCounts};
use vidscribe_core::{BatchId, BatchSettings, BatchStatus, BatchSummary};

/// The batch row's own fields, before jobs and progress are attached.
pub(crate) struct BatchRow {
    pub id: BatchId,
    pub name: String,
    pub max_concurrent: u32,
    pub status: BatchStatus,
    pub settings: BatchSettings,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub error_message: Option<String>,
    pub counts: StatusCounts,
    pub media_queued: f64,
    pub media_done: f64,
    pub eta_since: Option<DateTime<Utc>>,
}

impl BatchRow {
    /// Progress from the counters plus the running jobs (at most `max_concurrent` rows).
    pub fn progress(&self, running: &[(f64, Option<f64>)]) -> vidscribe_core::BatchProgress {
        let mut media = MediaTotals { remaining_seconds: self.media_queued, done_seconds: self.media_done };
        for (p, d) in running {
            let d = d.unwrap_or(0.0);
            let p = p.clamp(0.0, 1.0);
            media.remaining_seconds += d * (1.0 - p);
            media.done_seconds += d * p;
        }
        let elapsed = if self.status == BatchStatus::Processing {
            self.eta_since.map(|s| (Utc::now() - s).num_milliseconds() as f64 / 1000.0)
        } else {
            None
        };
        progress::compute(self.counts, running.iter().map(|(p, _)| *p), media, elapsed)
    }

    pub fn total_duration(&self) -> f64 {
        match (self.started_at, self.completed_at) {
            (Some(s), Some(c)) if self.status.is_terminal() => ((c - s).num_milliseconds().max(0) as f64) / 1000.0,
            _ => 0.0,
        }
    }

    pub fn summary(&self, running: &[(f64, Option<f64>)]) -> BatchSummary {
        BatchSummary {
            batch_id: self.id,
            name: self.name.clone(),
            status: self.status,
            created_at: self.created_at,
            started_at: self.started_at,
            completed_at: self.completed_at,
            max_concurrent: self.max_concurrent,
            error_message: self.error_message.clone(),
            total_jobs: self.counts.total(),
            progress: self.progress(running),
        }
    }
}
