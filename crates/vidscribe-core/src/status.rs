//! Batch and job statuses and the one table that says which changes are legal.
//!
//! Every store update carries `WHERE status = <from>` for a pair this table allows, so a
//! stale worker can never overwrite a newer state.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::CoreError;
use crate::transition::{BatchTransition, JobTransition};

macro_rules! string_enum {
    ($name:ident, $what:literal { $($variant:ident => $text:literal),+ $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = CoreError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(CoreError::InvalidInput(format!("unknown {} '{}'", $what, other))),
                }
            }
        }
    };
}

string_enum!(BatchStatus, "batch status" {
    Pending => "pending",
    Processing => "processing",
    Completed => "completed",
    Failed => "failed",
    Cancelled => "cancelled",
});

string_enum!(JobStatus, "job status" {
    Queued => "queued",
    Processing => "processing",
    Completed => "completed",
    Failed => "failed",
    Skipped => "skipped",
    Cancelled => "cancelled",
});

string_enum!(JobStage, "job stage" {
    Waiting => "waiting",
    LoadingModel => "loading_model",
    Decoding => "decoding",
    Transcribing => "transcribing",
    Writing => "writing",
    Done => "done",
});

impl BatchStatus {
    /// The batch state machine, as [`BatchTransition`] lists it:
    /// `pending → processing → completed | failed`, `pending | processing → cancelled`,
    /// and a retried job re-opens a finished batch: `completed | failed | cancelled → processing`.
    pub fn can_become(self, to: BatchStatus) -> bool {
        BatchTransition::ALL.iter().any(|t| t.from() == self && t.to() == to)
    }

    pub const fn is_terminal(self) -> bool {
        matches!(self, BatchStatus::Completed | BatchStatus::Failed | BatchStatus::Cancelled)
    }
}

impl JobStatus {
    /// The job state machine, as [`JobTransition`] lists it:
    /// `queued → processing → completed | failed`; `queued → skipped` on cancel;
    /// `processing → cancelled` when a running job is cancelled;
    /// `processing → queued` when its lease expires (worker died) or it is handed back on shutdown;
    /// `failed | skipped | cancelled → queued` on retry.
    pub fn can_become(self, to: JobStatus) -> bool {
        JobTransition::ALL.iter().any(|t| t.from() == self && t.to() == to)
    }

    /// Nothing more will happen to the job unless someone retries it.
    pub const fn is_terminal(self) -> bool {
        matches!(self, JobStatus::Completed | JobStatus::Failed | JobStatus::Skipped | JobStatus::Cancelled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every (from, to) pair of the batch machine, spelled out: the table above must agree.
    #[test]
    fn every_batch_transition_is_legal_or_illegal_as_designed() {
        use BatchStatus::*;
        let legal = [
            (Pending, Processing),
            (Processing, Completed),
            (Processing, Failed),
            (Pending, Cancelled),
            (Processing, Cancelled),
            (Completed, Processing),
            (Failed, Processing),
            (Cancelled, Processing),
        ];
        let mut checked = 0;
        for &from in BatchStatus::ALL {
            for &to in BatchStatus::ALL {
                let expected = legal.contains(&(from, to));
                assert_eq!(from.can_become(to), expected, "batch {from} -> {to}");
                checked += 1;
            }
        }
        assert_eq!(checked, 25);
    }

    #[test]
    fn every_job_transition_is_legal_or_illegal_as_designed() {
        use JobStatus::*;
        let legal = [
            (Queued, Processing),
            (Processing, Completed),
            (Processing, Failed),
            (Queued, Skipped),
            (Processing, Cancelled),
            (Processing, Queued),
            (Failed, Queued),
            (Skipped, Queued),
            (Cancelled, Queued),
        ];
        let mut checked = 0;
        for &from in JobStatus::ALL {
            for &to in JobStatus::ALL {
                let expected = legal.contains(&(from, to));
                assert_eq!(from.can_become(to), expected, "job {from} -> {to}");
                checked += 1;
            }
        }
        assert_eq!(checked, 36);
    }

    #[test]
    fn a_completed_job_cannot_be_completed_again() {
        assert!(!JobStatus::Completed.can_become(JobStatus::Completed));
        assert!(!JobStatus::Completed.can_become(JobStatus::Queued));
    }

    #[test]
    fn statuses_round_trip_through_text() {
        for &s in JobStatus::ALL {
            assert_eq!(s.as_str().parse::<JobStatus>().unwrap(), s);
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        for &s in BatchStatus::ALL {
            assert_eq!(s.as_str().parse::<BatchStatus>().unwrap(), s);
        }
        assert!("done".parse::<JobStatus>().is_err());
    }
}
