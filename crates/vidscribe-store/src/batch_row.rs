//! The batch row as both backends read it, and what is derived from it alone: progress
//! from the per-status counters plus the running jobs, total duration, the list summary.

use chrono::{DateTime, Utc};
use vidscribe_core::progress::{self, MediaCounters, StatusCounts};
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
    /// Σ media seconds of the queued jobs whose duration is known.
    pub media_queued: f64,
    /// Queued jobs whose duration is unknown (`n_queued_unknown`).
    pub queued_unknown: u64,
    /// Media seconds got through since `eta_since` (see [`MediaCounters::done_seconds`]).
    pub media_done: f64,
    /// Start of the ETA's throughput window: set when the batch starts, and again (with
    /// `media_done` back to 0) when a retry re-opens a finished batch.
    pub eta_since: Option<DateTime<Utc>>,
}

impl BatchRow {
    /// Progress from the counters plus the running jobs (at most `max_concurrent` rows),
    /// each `(fraction, media duration)`.
    pub fn progress(&self, running: &[(f64, Option<f64>)]) -> vidscribe_core::BatchProgress {
        self.progress_at(running, Utc::now())
    }

    /// [`BatchRow::progress`] as seen at `now`.
    ///
    /// The ETA is throughput over the window since `eta_since` (see the module docs of
    /// [`vidscribe_core::progress`] for why a re-opened batch starts a new window), and only
    /// while the batch is processing: a pending or finished batch has no ETA. Unknown
    /// durations are estimated by [`progress::media_totals`].
    pub fn progress_at(&self, running: &[(f64, Option<f64>)], now: DateTime<Utc>) -> vidscribe_core::BatchProgress {
        let counters = MediaCounters {
            queued_seconds: self.media_queued,
            queued_unknown: self.queued_unknown,
            done_seconds: self.media_done,
        };
        let media = progress::media_totals(counters, self.counts.queued, running);
        let elapsed = if self.status == BatchStatus::Processing {
            self.eta_since.map(|s| (now - s).num_milliseconds() as f64 / 1000.0)
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

/// The list both backends serve: each batch's summary with its own running jobs, from the
/// batch rows and every running job as `(batch, progress, duration)` (two set queries).
pub(crate) fn list_summaries(
    batches: impl IntoIterator<Item = BatchRow>,
    running: impl IntoIterator<Item = (BatchId, f64, Option<f64>)>,
) -> Vec<BatchSummary> {
    let mut by_batch: std::collections::HashMap<BatchId, Vec<(f64, Option<f64>)>> = std::collections::HashMap::new();
    for (batch, progress, duration) in running {
        by_batch.entry(batch).or_default().push((progress, duration));
    }
    batches.into_iter().map(|b| b.summary(by_batch.get(&b.id).map_or(&[], Vec::as_slice))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use vidscribe_core::BatchSettings;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-01-01T12:00:00Z").unwrap().with_timezone(&Utc)
    }

    /// A processing batch whose throughput window opened at `t0`.
    fn row(counts: StatusCounts, media_queued: f64, queued_unknown: u64, media_done: f64) -> BatchRow {
        let id = BatchId::new();
        let settings = BatchSettings::new(id, Some("b".into()), Some(4), None, None, None).unwrap();
        BatchRow {
            id,
            name: settings.name.clone(),
            max_concurrent: 4,
            status: BatchStatus::Processing,
            settings,
            created_at: t0(),
            started_at: Some(t0()),
            completed_at: None,
            error_message: None,
            counts,
            media_queued,
            queued_unknown,
            media_done,
            eta_since: Some(t0()),
        }
    }

    fn counts(queued: u64, processing: u64, completed: u64, failed: u64) -> StatusCounts {
        StatusCounts { queued, processing, completed, failed, ..Default::default() }
    }

    #[test]
    fn the_eta_is_media_throughput_since_the_window_opened() {
        // Done: a 60 s job and half of a 120 s one = 120 s in 60 s wall → 2 s/s.
        // Remaining: 300 s queued + 60 s of the running one = 360 s → 180 s.
        let b = row(counts(2, 1, 1, 0), 300.0, 0, 60.0);
        let p = b.progress_at(&[(0.5, Some(120.0))], t0() + Duration::seconds(60));
        assert_eq!(p.estimated_remaining.as_deref(), Some("00:03:00"));
        assert_eq!(p.progress_percentage, 37.5);
        // Three times as long for the same work: a third of the throughput.
        let p = b.progress_at(&[(0.5, Some(120.0))], t0() + Duration::seconds(180));
        assert_eq!(p.estimated_remaining.as_deref(), Some("00:09:00"));
    }

    #[test]
    fn a_queued_job_of_unknown_duration_counts_as_the_average_known_one() {
        // Known still to run: 200 s queued (one job) and the running 100 s job: average 150 s.
        let b = row(counts(2, 1, 1, 0), 200.0, 1, 100.0);
        let p = b.progress_at(&[(0.5, Some(100.0))], t0() + Duration::seconds(30));
        // Done 150 s in 30 s → 5 s/s; remaining 200 + 150 + 50 = 400 s → 80 s.
        assert_eq!(p.estimated_remaining.as_deref(), Some("00:01:20"));
    }

    #[test]
    fn with_only_unknown_durations_left_the_eta_is_unknown_not_zero() {
        let b = row(counts(2, 0, 3, 0), 0.0, 2, 300.0);
        let p = b.progress_at(&[], t0() + Duration::seconds(30));
        assert_eq!(p.estimated_remaining, None);
        assert_eq!(p.progress_percentage, 60.0);
    }

    #[test]
    fn only_a_processing_batch_has_an_eta_and_only_after_its_window_opened() {
        let mut b = row(counts(1, 0, 1, 0), 10.0, 0, 10.0);
        let later = t0() + Duration::seconds(10);
        assert_eq!(b.progress_at(&[], later).estimated_remaining.as_deref(), Some("00:00:10"));
        b.eta_since = Some(later - Duration::seconds(2));
        assert_eq!(
            b.progress_at(&[], later).estimated_remaining.as_deref(),
            Some("00:00:02"),
            "measured from eta_since"
        );
        b.eta_since = None;
        assert_eq!(b.progress_at(&[], later).estimated_remaining, None);
        b.eta_since = Some(t0());
        for status in [BatchStatus::Pending, BatchStatus::Cancelled, BatchStatus::Completed] {
            b.status = status;
            assert_eq!(b.progress_at(&[], later).estimated_remaining, None, "{status}");
        }
    }
}
