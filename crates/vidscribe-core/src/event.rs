//! Events: one per durable change, numbered by a monotonic sequence from the store.
//!
//! An event's payload is typed ([`EventData`]); its kind, batch and job are read from the
//! payload, so they cannot disagree with it. The wire forms: the SSE `event:` is the kind,
//! `data:` is the payload's JSON and `id:` the sequence number; the log stores the kind and
//! the payload's JSON in its `kind` and `data` columns, and the kind says how to read it back.

use chrono::{DateTime, Utc};
use serde::de::Error as _;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::{BatchId, JobId};
use crate::model::{BatchSummary, Job};
use crate::transcript::Segment;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A batch changed; data is its summary with `progress`.
    Batch,
    /// A job changed; data is the job object (with `batch_id`).
    Job,
    /// A batch was deleted; data is `{"batch_id": …}`.
    Deleted,
    /// A running job committed the segments of a decoded window; data is [`JobSegments`].
    Segments,
}

impl EventKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::Batch => "batch",
            EventKind::Job => "job",
            EventKind::Deleted => "deleted",
            EventKind::Segments => "segments",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "batch" => Some(EventKind::Batch),
            "job" => Some(EventKind::Job),
            "deleted" => Some(EventKind::Deleted),
            "segments" => Some(EventKind::Segments),
            _ => None,
        }
    }
}

/// What changed. Its JSON is the bare object (a batch summary, a job, `{"batch_id": …}`),
/// with no tag: the kind travels beside it, so reading it back needs the kind
/// ([`EventData::from_json`], [`EventData::from_value`]).
#[derive(Debug, Clone, PartialEq)]
pub enum EventData {
    /// The batch's summary after the change.
    Batch(BatchSummary),
    /// The job after the change. Boxed: a job is several times the size of the others.
    Job(Box<Job>),
    /// The batch and everything in it are gone.
    Deleted { batch_id: BatchId },
    /// New segments of a running job's transcript.
    Segments(Box<JobSegments>),
}

/// Segments a running job committed: `segments` are its transcript's segments `first..`,
/// in media time, and `done_seconds` the media time decoding has reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSegments {
    pub batch_id: BatchId,
    pub job_id: JobId,
    pub first: usize,
    pub segments: Vec<Segment>,
    pub done_seconds: f64,
}

/// The JSON of [`EventData::Deleted`].
#[derive(Serialize, Deserialize)]
struct DeletedData {
    batch_id: BatchId,
}

impl EventData {
    pub fn kind(&self) -> EventKind {
        match self {
            EventData::Batch(_) => EventKind::Batch,
            EventData::Job(_) => EventKind::Job,
            EventData::Deleted { .. } => EventKind::Deleted,
            EventData::Segments(_) => EventKind::Segments,
        }
    }

    /// The batch the event belongs to (a job's own batch for a job event).
    pub fn batch_id(&self) -> BatchId {
        match self {
            EventData::Batch(b) => b.batch_id,
            EventData::Job(j) => j.batch_id,
            EventData::Deleted { batch_id } => *batch_id,
            EventData::Segments(s) => s.batch_id,
        }
    }

    /// The job, for a job event.
    pub fn job_id(&self) -> Option<JobId> {
        match self {
            EventData::Job(j) => Some(j.job_id),
            EventData::Segments(s) => Some(s.job_id),
            EventData::Batch(_) | EventData::Deleted { .. } => None,
        }
    }

    /// Reads the JSON of a payload of `kind` (the log's `data` column, an SSE `data:`).
    pub fn from_json(kind: EventKind, json: &str) -> serde_json::Result<Self> {
        Ok(match kind {
            EventKind::Batch => EventData::Batch(serde_json::from_str(json)?),
            EventKind::Job => EventData::Job(Box::new(serde_json::from_str(json)?)),
            EventKind::Deleted => {
                let DeletedData { batch_id } = serde_json::from_str(json)?;
                EventData::Deleted { batch_id }
            }
            EventKind::Segments => EventData::Segments(Box::new(serde_json::from_str(json)?)),
        })
    }

    /// [`from_json`](Self::from_json) for a payload already parsed (a `jsonb` column).
    pub fn from_value(kind: EventKind, value: serde_json::Value) -> serde_json::Result<Self> {
        Ok(match kind {
            EventKind::Batch => EventData::Batch(serde_json::from_value(value)?),
            EventKind::Job => EventData::Job(Box::new(serde_json::from_value(value)?)),
            EventKind::Deleted => {
                let DeletedData { batch_id } = serde_json::from_value(value)?;
                EventData::Deleted { batch_id }
            }
            EventKind::Segments => EventData::Segments(Box::new(serde_json::from_value(value)?)),
        })
    }
}

impl Serialize for EventData {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Written through a `serde_json::Value`, whose objects keep their keys sorted: the
        // payloads have always gone out that way (they used to be stored as `Value`s), as the
        // SSE snapshot still does, and clients that compare the bytes keep seeing the same.
        let value = match self {
            EventData::Batch(b) => serde_json::to_value(b),
            EventData::Job(j) => serde_json::to_value(j),
            EventData::Deleted { batch_id } => serde_json::to_value(DeletedData { batch_id: *batch_id }),
            EventData::Segments(s) => serde_json::to_value(s),
        }
        .map_err(S::Error::custom)?;
        value.serialize(serializer)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Monotonic per store (a rolled-back transaction may leave a gap); SSE `id:`.
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub data: EventData,
}

impl Event {
    pub fn kind(&self) -> EventKind {
        self.data.kind()
    }

    pub fn batch_id(&self) -> BatchId {
        self.data.batch_id()
    }

    pub fn job_id(&self) -> Option<JobId> {
        self.data.job_id()
    }
}

/// The JSON shape of an [`Event`]: the row of the log, kind and ids included.
#[derive(Serialize)]
struct EventOut<'a> {
    seq: i64,
    kind: EventKind,
    batch_id: BatchId,
    job_id: Option<JobId>,
    at: &'a DateTime<Utc>,
    data: &'a EventData,
}

#[derive(Deserialize)]
struct EventIn {
    seq: i64,
    kind: EventKind,
    batch_id: BatchId,
    job_id: Option<JobId>,
    at: DateTime<Utc>,
    data: serde_json::Value,
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        EventOut {
            seq: self.seq,
            kind: self.kind(),
            batch_id: self.batch_id(),
            job_id: self.job_id(),
            at: &self.at,
            data: &self.data,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Event {
    /// Reads `data` as the payload its `kind` names; ids that disagree with it are an error.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = EventIn::deserialize(deserializer)?;
        let data = EventData::from_value(raw.kind, raw.data).map_err(D::Error::custom)?;
        if data.batch_id() != raw.batch_id || data.job_id() != raw.job_id {
            return Err(D::Error::custom(format!(
                "event {}: batch_id/job_id {}/{:?} disagree with its data ({}/{:?})",
                raw.seq,
                raw.batch_id,
                raw.job_id,
                data.batch_id(),
                data.job_id()
            )));
        }
        Ok(Event { seq: raw.seq, at: raw.at, data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::SessionId;
    use crate::progress::BatchProgress;
    use crate::status::{BatchStatus, JobStage, JobStatus};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn job(batch_id: BatchId) -> Job {
        let job_id = JobId::new();
        let session_id = SessionId::new();
        Job {
            job_id,
            batch_id,
            original_filename: "Zoë — 東京.mp4".into(),
            session_name: "s".into(),
            status: JobStatus::Processing,
            stage: Some(JobStage::Transcribing),
            progress: 0.1 + 0.2,
            media_duration: Some(312.4),
            attempts: 1,
            worker: Some("w/0".into()),
            heartbeat_at: Some(at("2025-01-02T03:04:05.678901Z")),
            created_at: at("2025-01-02T03:04:00Z"),
            started_at: Some(at("2025-01-02T03:04:01Z")),
            completed_at: None,
            error_message: None,
            error_code: None,
            warning: None,
            session_id,
            results_path: Job::results_path_for(session_id),
            file_path: Job::upload_path(job_id, "mp4"),
            history: Vec::new(),
        }
    }

    fn summary(batch_id: BatchId) -> BatchSummary {
        BatchSummary {
            batch_id,
            name: "talks".into(),
            status: BatchStatus::Processing,
            created_at: at("2025-01-02T03:04:00Z"),
            started_at: Some(at("2025-01-02T03:04:01Z")),
            completed_at: None,
            max_concurrent: 2,
            error_message: None,
            total_jobs: 3,
            progress: BatchProgress {
                total_jobs: 3,
                queued_jobs: 2,
                processing_jobs: 1,
                progress_percentage: 10.0,
                estimated_remaining: Some("00:01:02".into()),
                ..BatchProgress::default()
            },
        }
    }

    fn every_kind() -> Vec<Event> {
        let batch_id = BatchId::new();
        let at = at("2025-01-02T03:04:05.123456Z");
        vec![
            Event { seq: 1, at, data: EventData::Batch(summary(batch_id)) },
            Event { seq: 2, at, data: EventData::Job(Box::new(job(batch_id))) },
            Event { seq: 3, at, data: EventData::Deleted { batch_id } },
        ]
    }

    #[test]
    fn an_event_round_trips_through_its_json_for_every_kind() {
        for e in every_kind() {
            let json = serde_json::to_string(&e).unwrap();
            let back: Event = serde_json::from_str(&json).unwrap();
            assert_eq!(back, e, "{json}");
            assert_eq!(serde_json::to_string(&back).unwrap(), json);
        }
    }

    #[test]
    fn kind_and_ids_come_from_the_data_and_are_written_beside_it() {
        let [batch, job, deleted] = <[Event; 3]>::try_from(every_kind()).unwrap();
        let b = batch.batch_id();
        assert_eq!((batch.kind(), batch.job_id()), (EventKind::Batch, None));
        let EventData::Job(j) = &job.data else { unreachable!() };
        assert_eq!((job.kind(), job.batch_id(), job.job_id()), (EventKind::Job, b, Some(j.job_id)));
        assert_eq!((deleted.kind(), deleted.batch_id(), deleted.job_id()), (EventKind::Deleted, b, None));
        let v = serde_json::to_value(&job).unwrap();
        assert_eq!(v["kind"], "job");
        assert_eq!(v["batch_id"], b.to_string());
        assert_eq!(v["job_id"], j.job_id.to_string());
        assert_eq!(v["seq"], 2);
    }

    #[test]
    fn the_payload_json_is_the_bare_object_with_sorted_keys() {
        let [batch, job, deleted] = <[Event; 3]>::try_from(every_kind()).unwrap();
        let EventData::Batch(s) = &batch.data else { unreachable!() };
        let EventData::Job(j) = &job.data else { unreachable!() };
        // Byte for byte what a `serde_json::Value` of the object writes (sorted keys), as
        // the payloads were written when they were stored as `Value`s.
        assert_eq!(serde_json::to_string(&batch.data).unwrap(), serde_json::to_value(s).unwrap().to_string());
        assert_eq!(serde_json::to_string(&job.data).unwrap(), serde_json::to_value(j).unwrap().to_string());
        assert_eq!(
            serde_json::to_string(&deleted.data).unwrap(),
            format!("{{\"batch_id\":\"{}\"}}", deleted.batch_id())
        );
        let json = serde_json::to_string(&job.data).unwrap();
        assert!(json.starts_with("{\"attempts\":1,\"batch_id\":"), "{json}");
    }

    #[test]
    fn a_payload_is_read_back_by_its_kind() {
        for e in every_kind() {
            let json = serde_json::to_string(&e.data).unwrap();
            assert_eq!(EventData::from_json(e.kind(), &json).unwrap(), e.data);
            let value = serde_json::from_str(&json).unwrap();
            assert_eq!(EventData::from_value(e.kind(), value).unwrap(), e.data);
        }
        // A job read as a batch summary lacks the summary's fields.
        let [_, job, _] = <[Event; 3]>::try_from(every_kind()).unwrap();
        let json = serde_json::to_string(&job.data).unwrap();
        assert!(EventData::from_json(EventKind::Batch, &json).is_err());
    }

    #[test]
    fn an_event_whose_ids_disagree_with_its_data_or_whose_kind_is_unknown_is_rejected() {
        let [_, job, _] = <[Event; 3]>::try_from(every_kind()).unwrap();
        let mut v = serde_json::to_value(&job).unwrap();
        v["batch_id"] = serde_json::json!(BatchId::new());
        assert!(serde_json::from_value::<Event>(v).unwrap_err().to_string().contains("disagree"));
        let mut v = serde_json::to_value(&job).unwrap();
        v["job_id"] = serde_json::Value::Null;
        assert!(serde_json::from_value::<Event>(v).unwrap_err().to_string().contains("disagree"));
        let mut v = serde_json::to_value(&job).unwrap();
        v["kind"] = "progress".into();
        assert!(serde_json::from_value::<Event>(v).is_err());
    }
}
