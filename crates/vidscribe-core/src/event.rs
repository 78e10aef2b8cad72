//! Events: one per durable change, numbered by a monotonic sequence from the store.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{BatchId, JobId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A batch changed; data is its summary with `progress`.
    Batch,
    /// A job changed; data is the job object (with `batch_id`).
    Job,
    /// A batch was deleted; data is `{"batch_id": …}`.
    Deleted,
}

impl EventKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::Batch => "batch",
            EventKind::Job => "job",
            EventKind::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "batch" => Some(EventKind::Batch),
            "job" => Some(EventKind::Job),
            "deleted" => Some(EventKind::Deleted),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Monotonic per store (a rolled-back transaction may leave a gap); SSE `id:`.
    pub seq: i64,
    pub kind: EventKind,
    pub batch_id: BatchId,
    pub job_id: Option<JobId>,
    pub at: DateTime<Utc>,
    pub data: serde_json::Value,
}
