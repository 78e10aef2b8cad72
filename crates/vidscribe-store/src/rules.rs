//! Decisions shared by every backend, kept free of SQL so they are tested once.

use std::time::Duration;

use vidscribe_core::progress::StatusCounts;
use vidscribe_core::{BatchStatus, BatchTransition, FailureCode, Job, JobStatus, JobTransition};

/// How a processing batch ends once none of its jobs is queued or running:
/// all failed → `failed` ("All jobs failed"); some failed → `completed` with
/// "k of n jobs failed"; nothing ran (all skipped/cancelled) → `cancelled`; else `completed`.
/// `None` while work remains, and for a batch that is not processing.
pub fn batch_outcome(status: BatchStatus, c: &StatusCounts) -> Option<(BatchTransition, Option<String>)> {
    if status != BatchStatus::Processing || c.queued > 0 || c.processing > 0 {
        return None;
    }
    Some(if c.failed > 0 && c.completed == 0 {
        (BatchTransition::Fail, Some("All jobs failed".to_string()))
    } else if c.failed > 0 {
        (BatchTransition::Complete, Some(format!("{} of {} jobs failed", c.failed, c.total())))
    } else if c.completed == 0 {
        (BatchTransition::CancelProcessing, None)
    } else {
        (BatchTransition::Complete, None)
    })
}

/// Delay before a retryable failure is tried again: 2 s, 4 s, 8 s … capped at 60 s.
pub fn retry_backoff(attempt: u32) -> Duration {
    Duration::from_secs(2u64.saturating_pow(attempt.clamp(1, 6)).min(60))
}

/// How a claimed attempt ends: the one description both backends turn into their SQL, so
/// which outcome a completion, failure, cancel or release leads to is decided here only.
#[derive(Debug, Clone, PartialEq)]
pub struct Finish<'a> {
    pub transition: JobTransition,
    /// The attempt row's outcome.
    pub outcome: &'a str,
    /// `(code, message)` for the job row.
    pub error: Option<(FailureCode, std::borrow::Cow<'a, str>)>,
    pub media_duration: Option<f64>,
    /// For the user, on a completed job (NULL otherwise).
    pub warning: Option<&'a str>,
    /// Retry backoff: not claimable for this long.
    pub not_before: Option<Duration>,
    /// Change of the job's automatic-attempt count.
    pub auto_attempts_delta: i32,
}

impl<'a> Finish<'a> {
    fn to(transition: JobTransition, outcome: &'a str) -> Self {
        Finish {
            transition,
            outcome,
            error: None,
            media_duration: None,
            warning: None,
            not_before: None,
            auto_attempts_delta: 0,
        }
    }

    pub fn completed(media_duration: Option<f64>, warning: Option<&'a str>) -> Self {
        Finish { media_duration, warning, ..Self::to(JobTransition::Complete, "completed") }
    }

    /// Retry-or-fail: a retryable failure with automatic attempts left goes back to the queue
    /// after [`retry_backoff`]; anything else fails the job for good.
    pub fn failed(failure: &'a crate::types::Failure, attempt: u32, auto_attempts: u32) -> Self {
        if failure.retryable && auto_attempts < failure.max_attempts {
            let wait = retry_backoff(attempt);
            let message = format!("attempt {attempt} failed: {}; retrying in {} s", failure.message, wait.as_secs());
            Finish {
                error: Some((failure.code, message.into())),
                not_before: Some(wait),
                ..Self::to(JobTransition::Backoff, "failed")
            }
        } else {
            Finish {
                error: Some((failure.code, failure.message.as_str().into())),
                ..Self::to(JobTransition::Fail, "failed")
            }
        }
    }

    pub fn cancelled() -> Self {
        Finish {
            error: Some((FailureCode::Cancelled, "Cancelled by user".into())),
            ..Self::to(JobTransition::Cancel, "cancelled")
        }
    }

    /// Handing a job back on shutdown does not count against its automatic attempts.
    pub fn released() -> Self {
        Finish { auto_attempts_delta: -1, ..Self::to(JobTransition::Release, "released") }
    }

    /// `(code, message)`, the message borrowed, for binding.
    pub fn error(&self) -> Option<(FailureCode, &str)> {
        self.error.as_ref().map(|(c, m)| (*c, m.as_ref()))
    }
}

/// How one job going `from → to` moves its batch's media counters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MediaDelta {
    /// Change of `media_queued` (Σ known durations of queued jobs).
    pub queued_seconds: f64,
    /// Change of `n_queued_unknown` (queued jobs without a known duration).
    pub queued_unknown: i64,
    /// Change of `media_done`: a job that ends adds `duration × progress` as it ended, so a
    /// completed job counts whole and a failed or cancelled one only the part transcribed.
    pub done_seconds: f64,
}

/// `job` is the row as it is after the transition (its final progress, and a duration
/// learned while decoding).
pub fn media_delta(job: &Job, from: JobStatus, to: JobStatus) -> MediaDelta {
    let d = job.media_duration.unwrap_or(0.0);
    let unknown = i64::from(job.media_duration.is_none());
    let (queued_seconds, queued_unknown) = match (from, to) {
        (JobStatus::Queued, JobStatus::Queued) => (0.0, 0),
        (JobStatus::Queued, _) => (-d, -unknown),
        (_, JobStatus::Queued) => (d, unknown),
        _ => (0.0, 0),
    };
    let ended = matches!(to, JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled);
    let done_seconds = if ended { d * job.progress.clamp(0.0, 1.0) } else { 0.0 };
    MediaDelta { queued_seconds, queued_unknown, done_seconds }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(completed: u64, failed: u64, skipped: u64) -> StatusCounts {
        StatusCounts { completed, failed, skipped, ..Default::default() }
    }

    #[test]
    fn a_batch_with_some_failures_completes_with_a_count() {
        assert_eq!(
            batch_outcome(BatchStatus::Processing, &counts(2, 1, 0)),
            Some((BatchTransition::Complete, Some("1 of 3 jobs failed".into())))
        );
    }

    #[test]
    fn a_batch_whose_jobs_all_failed_fails() {
        assert_eq!(
            batch_outcome(BatchStatus::Processing, &counts(0, 3, 0)),
            Some((BatchTransition::Fail, Some("All jobs failed".into())))
        );
        assert_eq!(batch_outcome(BatchStatus::Cancelled, &counts(0, 3, 0)), None, "only a processing batch ends");
    }

    #[test]
    fn a_batch_with_work_left_does_not_end() {
        let c = StatusCounts { queued: 1, completed: 2, ..Default::default() };
        assert_eq!(batch_outcome(BatchStatus::Processing, &c), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(retry_backoff(1), Duration::from_secs(2));
        assert_eq!(retry_backoff(3), Duration::from_secs(8));
        assert_eq!(retry_backoff(30), Duration::from_secs(60));
    }

    fn job(media_duration: Option<f64>, progress: f64) -> Job {
        let job_id = vidscribe_core::JobId::new();
        let session_id = vidscribe_core::SessionId::new();
        Job {
            job_id,
            batch_id: vidscribe_core::BatchId::new(),
            original_filename: "a.mp4".into(),
            session_name: "a".into(),
            session_id,
            file_path: Job::upload_path(job_id, "mp4"),
            results_path: Job::results_path_for(session_id),
            status: JobStatus::Queued,
            stage: None,
            progress,
            media_duration,
            attempts: 0,
            worker: None,
            heartbeat_at: None,
            created_at: chrono::Utc::now(),
            started_at: None,
            completed_at: None,
            error_message: None,
            error_code: None,
            warning: None,
            history: Vec::new(),
        }
    }

    #[test]
    fn a_failure_is_retried_only_while_retryable_and_attempts_remain() {
        let failure = |retryable| crate::types::Failure {
            code: FailureCode::InferenceFailed,
            message: "boom".into(),
            retryable,
            max_attempts: 3,
        };
        let transient = failure(true);
        let again = Finish::failed(&transient, 2, 1);
        assert_eq!((again.transition, again.outcome), (JobTransition::Backoff, "failed"));
        assert_eq!(again.not_before, Some(retry_backoff(2)));
        assert_eq!(again.error(), Some((FailureCode::InferenceFailed, "attempt 2 failed: boom; retrying in 4 s")));
        let exhausted = Finish::failed(&transient, 3, 3);
        assert_eq!(
            (exhausted.transition, exhausted.not_before, exhausted.error()),
            (JobTransition::Fail, None, Some((FailureCode::InferenceFailed, "boom")))
        );
        let deterministic = failure(false);
        assert_eq!(Finish::failed(&deterministic, 1, 0).transition, JobTransition::Fail);
        assert_eq!(Finish::released().auto_attempts_delta, -1);
        assert_eq!(Finish::cancelled().error(), Some((FailureCode::Cancelled, "Cancelled by user")));
    }

    fn delta(queued_seconds: f64, queued_unknown: i64, done_seconds: f64) -> MediaDelta {
        MediaDelta { queued_seconds, queued_unknown, done_seconds }
    }

    #[test]
    fn leaving_and_entering_the_queue_moves_the_queued_media() {
        use JobStatus::*;
        assert_eq!(media_delta(&job(Some(30.0), 0.0), Queued, Processing), delta(-30.0, 0, 0.0));
        assert_eq!(media_delta(&job(None, 0.0), Queued, Processing), delta(0.0, -1, 0.0));
        assert_eq!(media_delta(&job(Some(30.0), 0.0), Queued, Skipped), delta(-30.0, 0, 0.0));
        assert_eq!(media_delta(&job(Some(30.0), 0.0), Processing, Queued), delta(30.0, 0, 0.0));
        assert_eq!(media_delta(&job(None, 0.0), Failed, Queued), delta(0.0, 1, 0.0));
    }

    #[test]
    fn an_ended_job_adds_the_media_it_got_through() {
        use JobStatus::*;
        assert_eq!(media_delta(&job(Some(30.0), 1.0), Processing, Completed), delta(0.0, 0, 30.0));
        assert_eq!(media_delta(&job(Some(30.0), 0.5), Processing, Failed), delta(0.0, 0, 15.0));
        assert_eq!(media_delta(&job(Some(30.0), 0.2), Processing, Cancelled), delta(0.0, 0, 6.0));
        assert_eq!(media_delta(&job(None, 0.7), Processing, Failed), delta(0.0, 0, 0.0));
        // A failure that goes back to the queue adds nothing: the work is done again.
        assert_eq!(media_delta(&job(Some(30.0), 0.0), Processing, Queued).done_seconds, 0.0);
    }
}
