//! The Vidscribe domain: what a batch and a job are, which state changes are legal,
//! how progress and ETA are computed, and the events a change produces.
//!
//! This crate does no I/O; every other crate depends on it and it depends on none of them.

pub mod codes;
pub mod error;
pub mod event;
pub mod ids;
pub mod layout;
pub mod model;
pub mod progress;
pub mod session;
pub mod status;
pub mod transcribe;
pub mod transcript;
pub mod transition;

pub use codes::{Code, FailureCode};
pub use error::CoreError;
pub use event::{Event, EventData, EventKind, JobSegments};
pub use ids::{BatchId, JobId, SessionId};
pub use model::{Attempt, Batch, BatchSettings, BatchSummary, Job, OutputFormat};
pub use progress::BatchProgress;
pub use status::{BatchStatus, JobStage, JobStatus};
pub use transcribe::{
    CancelFlag, Checkpoint, ProgressFn, Resume, SegmentsFn, TranscribeError, TranscribeRequest, Transcriber,
};
pub use transcript::{Segment, Transcript, Word};
pub use transition::{BatchTransition, JobTransition};
