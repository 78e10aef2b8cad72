//! Durable state of batches and jobs.
//!
//! Every state change is ONE transaction that updates the row with
//! `WHERE status = <expected>` and appends an event row; the event is published to
//! in-process subscribers only after the commit, so nobody hears of a state that is
//! not already durable. Per-transition cost is independent of batch size: batch rows
//! keep per-status counters instead of being recomputed from all their jobs.

mod batch_row;
pub mod error;
pub mod follow;
pub mod hub;
pub mod postgres;
pub mod rules;
mod sql;
pub mod sqlite;
pub mod types;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::broadcast;
use vidscribe_core::{Batch, BatchId, BatchSettings, BatchSummary, Checkpoint, Event, Job, JobId, JobStage, Segment};

pub use error::{Result, StoreError};
pub use hub::EventHub;
pub use sql::SqlStore;
pub use types::{Claim, DeletedBatch, Failure, Heartbeat, LiveTranscript, NewJob, WorkerInfo};

/// The storage backend behind the engine, API and CLI.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    // ---- batches (API side) ----

    /// Creates a `pending` batch.
    async fn create_batch(&self, id: BatchId, settings: &BatchSettings) -> Result<Batch>;

    /// Adds queued jobs to a `pending` batch (409 `batch_not_pending` otherwise), in one transaction.
    async fn add_jobs(&self, batch_id: BatchId, jobs: Vec<NewJob>) -> Result<Vec<Job>>;

    /// `pending → processing`; 400 `empty_batch` when it has no jobs.
    async fn start_batch(&self, batch_id: BatchId) -> Result<BatchSummary>;

    /// The batch with every job, read from the database (never a cache).
    async fn get_batch(&self, batch_id: BatchId) -> Result<Batch>;

    async fn get_job(&self, batch_id: BatchId, job_id: JobId) -> Result<Job>;

    async fn batch_summary(&self, batch_id: BatchId) -> Result<BatchSummary>;

    /// Newest first.
    async fn list_batches(&self) -> Result<Vec<BatchSummary>>;

    /// Queued jobs → `skipped` at once; running ones are flagged and end `cancelled` when
    /// their worker notices; the batch → `cancelled` and stays so. Returns running job ids.
    async fn cancel_batch(&self, batch_id: BatchId) -> Result<Vec<JobId>>;

    /// A queued job → `skipped`; a running one is flagged to stop (→ `cancelled`).
    async fn cancel_job(&self, batch_id: BatchId, job_id: JobId) -> Result<Job>;

    /// `failed | skipped | cancelled → queued`; re-opens a finished batch.
    async fn retry_job(&self, batch_id: BatchId, job_id: JobId) -> Result<Job>;

    /// Removes the batch, its jobs and their events' rows; returns the files to delete.
    /// The caller cancels a running batch first.
    async fn delete_batch(&self, batch_id: BatchId) -> Result<DeletedBatch>;

    // ---- jobs (worker side) ----

    /// Claims the oldest runnable queued job whose batch is processing and below its
    /// `max_concurrent` (counted across all nodes), leasing it to `worker`.
    async fn claim(&self, worker: &str, lease: Duration) -> Result<Option<Claim>>;

    /// Renews the lease and records stage/progress. Tells the worker whether to stop.
    async fn heartbeat(
        &self,
        claim: &Claim,
        lease: Duration,
        stage: Option<JobStage>,
        progress: Option<f64>,
    ) -> Result<Heartbeat>;

    /// Commits segments `first..` of the claimed job's live transcript (replacing any from
    /// `first` on) and the checkpoint after them, durably, with their `segments` event.
    /// Fenced like a heartbeat: `false` (and nothing written) when the job is no longer ours.
    async fn add_segments(&self, claim: &Claim, first: usize, segments: &[Segment], at: &Checkpoint) -> Result<bool>;

    /// A job's live transcript: the segments committed so far and the checkpoint after them.
    /// They outlive the attempt that wrote them (the next one resumes from there) until the
    /// job is retried.
    async fn segments(&self, batch_id: BatchId, job_id: JobId) -> Result<LiveTranscript>;

    /// `processing → completed`. Fails with `lease_lost` if the job is no longer ours.
    async fn complete(&self, claim: &Claim, media_duration: Option<f64>) -> Result<Job> {
        self.complete_with_warning(claim, media_duration, None).await
    }

    /// `processing → completed` with a warning about the media for the user (see
    /// [`vidscribe_core::Job::warning`]).
    async fn complete_with_warning(
        &self,
        claim: &Claim,
        media_duration: Option<f64>,
        warning: Option<&str>,
    ) -> Result<Job>;

    /// `processing → failed`, or `→ queued` with backoff when retryable and attempts remain.
    async fn fail(&self, claim: &Claim, failure: Failure) -> Result<Job>;

    /// `processing → cancelled` after the worker saw the cancel request.
    async fn finish_cancelled(&self, claim: &Claim) -> Result<Job>;

    /// `processing → queued` without penalty: the worker is shutting down gracefully.
    async fn release(&self, claim: &Claim) -> Result<Job>;

    /// Every `processing` job whose lease expired → `queued` (attempts kept, so the next
    /// claim counts one more), or `failed` once `max_attempts` is reached. Returns how many.
    async fn requeue_expired(&self, max_attempts: u32) -> Result<usize>;

    // ---- events ----

    /// Events with `seq > after`, oldest first, optionally for one batch.
    async fn events_after(&self, after: i64, batch: Option<BatchId>, limit: i64) -> Result<Vec<Event>>;

    /// The newest sequence number (0 when there is none).
    async fn last_event_seq(&self) -> Result<i64>;

    /// Live events, published after commit, in sequence order.
    fn subscribe(&self) -> broadcast::Receiver<Event>;

    // ---- workers ----

    /// Records (or refreshes) a worker process and its slot count.
    async fn register_worker(&self, name: &str, slots: u32) -> Result<()>;

    async fn list_workers(&self) -> Result<Vec<WorkerInfo>>;

    /// Closes the pools.
    async fn close(&self);
}

pub type DynStore = Arc<dyn Store>;

/// Opens the store a URL names: `sqlite://path/to/file.db` (created if missing) or
/// `postgres://…`.
pub async fn open(url: &str) -> Result<DynStore> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::open_url(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(postgres::PgStore::connect(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(url.chars().take(80).collect()))
    }
}
