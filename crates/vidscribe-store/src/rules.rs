//! Decisions shared by every backend, kept free of SQL so they are tested once.

use std::time::Duration;

use vidscribe_core::progress::StatusCounts;
use vidscribe_core::BatchStatus;

/// How a processing batch ends once none of its jobs is queued or running:
/// all failed → `failed` ("All jobs failed"); some failed → `completed` with
/// "k of n jobs failed"; nothing ran (all skipped/cancelled) → `cancelled`; else `completed`.
/// `None` while work remains.
pub fn batch_outcome(c: &StatusCounts) -> Option<(BatchStatus, Option<String>)> {
    if c.queued > 0 || c.processing > 0 {
        return None;
    }
    if c.failed > 0 && c.completed == 0 {
        Some((BatchStatus::Failed, Some("All jobs failed".to_string())))
    } else if c.failed > 0 {
        Some((BatchStatus::Completed, Some(format!("{} of {} jobs failed", c.failed, c.total()))))
    } else if c.completed == 0 {
        Some((BatchStatus::Cancelled, None))
    } else {
        Some((BatchStatus::Completed, None))
    }
}

/// Delay before a retryable failure is tried again: 2 s, 4 s, 8 s … capped at 60 s.
pub fn retry_backoff(attempt: u32) -> Duration {
    Duration::from_secs(2u64.saturating_pow(attempt.clamp(1, 6)).min(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(completed: u64, failed: u64, skipped: u64) -> StatusCounts {
        StatusCounts { completed, failed, skipped, ..Default::default() }
    }

    #[test]
    fn a_batch_with_some_failures_completes_with_a_count() {
        assert_eq!(batch_outcome(&counts(2, 1, 0)), Some((BatchStatus::Completed, Some("1 of 3 jobs failed".into()))));
    }

    #[test]
    fn a_batch_whose_jobs_all_failed_fails() {
        assert_eq!(batch_outcome(&counts(0, 3, 0)), Some((BatchStatus::Failed, Some("All jobs failed".into()))));
    }

    #[test]
    fn a_batch_with_work_left_does_not_end() {
        let c = StatusCounts { queued: 1, completed: 2, ..Default::default() };
        assert_eq!(batch_outcome(&c), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(retry_backoff(1), Duration::from_secs(2));
        assert_eq!(retry_backoff(3), Duration::from_secs(8));
        assert_eq!(retry_backoff(30), Duration::from_secs(60));
    }
}
