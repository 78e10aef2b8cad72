//! The named transitions of the job and batch state machines: the one table of legal
//! changes. `can_become` is derived from it, and every store update binds its
//! `WHERE status = <from>` fence and its new status from a transition, so neither the
//! SQL nor a second copy of the rules can disagree with this table.

use crate::status::{BatchStatus, JobStatus};

/// Every way a job changes status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobTransition {
    /// A worker leases a queued job.
    Claim,
    /// The worker finished it.
    Complete,
    /// It failed for good: a deterministic failure, or its automatic attempts are used up.
    Fail,
    /// A retryable failure with attempts left: back to the queue after a backoff.
    Backoff,
    /// Handed back without penalty when its worker shuts down gracefully.
    Release,
    /// Its worker stopped renewing the lease: back to the queue.
    Expire,
    /// Its lease expired once too often: failed.
    GiveUp,
    /// The worker stopped it after a cancel request.
    Cancel,
    /// Cancelled before it ran.
    Skip,
    /// A user retries a failed job.
    RetryFailed,
    /// A user retries a skipped job.
    RetrySkipped,
    /// A user retries a cancelled job.
    RetryCancelled,
}

impl JobTransition {
    pub const ALL: &'static [JobTransition] = &[
        JobTransition::Claim,
        JobTransition::Complete,
        JobTransition::Fail,
        JobTransition::Backoff,
        JobTransition::Release,
        JobTransition::Expire,
        JobTransition::GiveUp,
        JobTransition::Cancel,
        JobTransition::Skip,
        JobTransition::RetryFailed,
        JobTransition::RetrySkipped,
        JobTransition::RetryCancelled,
    ];

    pub const fn from(self) -> JobStatus {
        use JobTransition::*;
        match self {
            Claim | Skip => JobStatus::Queued,
            Complete | Fail | Backoff | Release | Expire | GiveUp | Cancel => JobStatus::Processing,
            RetryFailed => JobStatus::Failed,
            RetrySkipped => JobStatus::Skipped,
            RetryCancelled => JobStatus::Cancelled,
        }
    }

    pub const fn to(self) -> JobStatus {
        use JobTransition::*;
        match self {
            Claim => JobStatus::Processing,
            Complete => JobStatus::Completed,
            Fail | GiveUp => JobStatus::Failed,
            Backoff | Release | Expire | RetryFailed | RetrySkipped | RetryCancelled => JobStatus::Queued,
            Cancel => JobStatus::Cancelled,
            Skip => JobStatus::Skipped,
        }
    }

    /// The user's retry of a job that is `from`, if the table has one.
    pub fn retry(from: JobStatus) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.from() == from && t.to() == JobStatus::Queued && from.is_terminal())
    }
}

/// Every way a batch changes status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BatchTransition {
    /// The user starts a pending batch.
    Start,
    /// Its last job ended and at least one completed (or some failed, some completed).
    Complete,
    /// Its last job ended and every one that ran failed.
    Fail,
    /// Cancelled before it started.
    CancelPending,
    /// Cancelled while processing.
    CancelProcessing,
    /// A retried job re-opens a completed batch.
    ReopenCompleted,
    /// A retried job re-opens a failed batch.
    ReopenFailed,
    /// A retried job re-opens a cancelled batch.
    ReopenCancelled,
}

impl BatchTransition {
    pub const ALL: &'static [BatchTransition] = &[
        BatchTransition::Start,
        BatchTransition::Complete,
        BatchTransition::Fail,
        BatchTransition::CancelPending,
        BatchTransition::CancelProcessing,
        BatchTransition::ReopenCompleted,
        BatchTransition::ReopenFailed,
        BatchTransition::ReopenCancelled,
    ];

    pub const fn from(self) -> BatchStatus {
        use BatchTransition::*;
        match self {
            Start | CancelPending => BatchStatus::Pending,
            Complete | Fail | CancelProcessing => BatchStatus::Processing,
            ReopenCompleted => BatchStatus::Completed,
            ReopenFailed => BatchStatus::Failed,
            ReopenCancelled => BatchStatus::Cancelled,
        }
    }

    pub const fn to(self) -> BatchStatus {
        use BatchTransition::*;
        match self {
            Start | ReopenCompleted | ReopenFailed | ReopenCancelled => BatchStatus::Processing,
            Complete => BatchStatus::Completed,
            Fail => BatchStatus::Failed,
            CancelPending | CancelProcessing => BatchStatus::Cancelled,
        }
    }

    /// The transition that takes a batch that is `from` to `to`, if the table has one.
    pub fn between(from: BatchStatus, to: BatchStatus) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.from() == from && t.to() == to)
    }

    /// The statuses a batch may be cancelled from.
    pub fn cancellable() -> impl Iterator<Item = BatchStatus> {
        Self::ALL.iter().filter(|t| t.to() == BatchStatus::Cancelled).map(|t| t.from())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_transition_is_a_legal_change_and_each_legal_change_has_one() {
        for t in JobTransition::ALL {
            assert!(t.from().can_become(t.to()), "{t:?}");
        }
        for t in BatchTransition::ALL {
            assert!(t.from().can_become(t.to()), "{t:?}");
            assert_eq!(BatchTransition::between(t.from(), t.to()), Some(*t), "one batch transition per pair");
        }
    }

    #[test]
    fn a_user_retry_exists_exactly_for_the_ended_jobs_that_may_be_queued_again() {
        assert_eq!(JobTransition::retry(JobStatus::Failed), Some(JobTransition::RetryFailed));
        assert_eq!(JobTransition::retry(JobStatus::Skipped), Some(JobTransition::RetrySkipped));
        assert_eq!(JobTransition::retry(JobStatus::Cancelled), Some(JobTransition::RetryCancelled));
        for s in [JobStatus::Queued, JobStatus::Processing, JobStatus::Completed] {
            assert_eq!(JobTransition::retry(s), None, "{s}");
        }
        let from: Vec<BatchStatus> = BatchTransition::cancellable().collect();
        assert_eq!(from, [BatchStatus::Pending, BatchStatus::Processing]);
    }
}
