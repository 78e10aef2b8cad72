//! The one store implementation, generic over the backend.
//!
//! Every operation (batches, jobs, the lease protocol, events, workers) is written here once,
//! in SQL both databases run, against [`Backend`]: the connections, a few dialect fragments,
//! and the one operation whose SQL truly differs, taking the next job. Each backend module
//! keeps only what is its own: SQLite's single writer and its statement scripts, PostgreSQL's
//! row locks, ordered event append, NOTIFY feed and conflict retries.

mod batches;
pub(crate) mod decode;
mod dialect;
pub(crate) mod jobs;
mod log;
pub(crate) mod query;

pub(crate) use log::events_after;

use std::time::Duration;

use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::Transaction;
use tokio::sync::broadcast;
use vidscribe_core::{Batch, BatchId, BatchSettings, BatchSummary, Checkpoint, Event, Job, JobId, JobStage, Segment};

pub use self::dialect::Dialect;
use self::query::{Arg, Cells, Conn, WriteTx};
use crate::error::{Result, StoreError};
use crate::hub::EventHub;
use crate::types::{Claim, DeletedBatch, Failure, Heartbeat, LiveTranscript, NewJob, WorkerInfo};
use crate::Store;

/// What a database brings to the one implementation.
#[async_trait]
pub trait Backend: Send + Sync + Sized + 'static {
    type Db: sqlx::Database<Row: Cells, Connection: Conn<Row = <Self::Db as sqlx::Database>::Row>>;
    type Tx<'a>: WriteTx<Row = <Self::Db as sqlx::Database>::Row>
    where
        Self: 'a;

    const SQL: Dialect;

    async fn reader(&self) -> Result<PoolConnection<Self::Db>>;
    /// A read-only transaction: one consistent snapshot.
    async fn snapshot(&self) -> Result<Transaction<'static, Self::Db>>;
    async fn write(&self) -> Result<Self::Tx<'_>>;

    /// The subquery choosing the `seqno` of the job to claim: the oldest runnable queued job
    /// of the oldest started batch with a free slot. It may use `$1` (the queued status) and
    /// binds the value returned with it as `$7`; `None` when there is nothing to claim.
    async fn pick(tx: &mut Self::Tx<'_>) -> Result<Option<(String, Arg)>>;

    /// Whether to run a transaction the database aborted again, after what pause.
    fn retry_after(&self, _e: &StoreError, _attempt: u32) -> Option<Duration> {
        None
    }

    fn hub(&self) -> &EventHub;

    async fn close(&self);
}

/// The store over one backend: `SqliteStore` and `PgStore` are this.
pub struct SqlStore<B> {
    pub(crate) b: B,
}

/// Runs `$body` inside one write transaction: COMMIT (events appended, then published) on
/// `Ok`, ROLLBACK on `Err`. A transaction the database aborted for a conflict with another
/// ([`Backend::retry_after`]) runs again from BEGIN, so `$body` must not consume what it
/// captures.
macro_rules! in_tx {
    ($store:expr, |$tx:ident| $body:block) => {{
        let mut attempt: u32 = 1;
        loop {
            let outcome: $crate::error::Result<_> = async {
                let mut $tx = $crate::sql::Backend::write(&$store.b).await?;
                let result: $crate::error::Result<_> = async { $body }.await;
                match result {
                    Ok(v) => {
                        $crate::sql::query::WriteTx::commit($tx).await?;
                        Ok(v)
                    }
                    Err(e) => {
                        let _ = $crate::sql::query::WriteTx::rollback($tx).await;
                        Err(e)
                    }
                }
            }
            .await;
            match outcome {
                Err(e) => match $crate::sql::Backend::retry_after(&$store.b, &e, attempt) {
                    Some(pause) => {
                        ::tokio::time::sleep(pause).await;
                        attempt += 1;
                    }
                    None => break Err(e),
                },
                ok => break ok,
            }
        }
    }};
}
pub(crate) use in_tx;

/// `impl Store`: each method is the inherent one of the same name (in `batches.rs`,
/// `jobs.rs`, `log.rs`).
macro_rules! store_impl {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)+) => {
        #[async_trait]
        impl<B: Backend> Store for SqlStore<B> {
            $(async fn $name(&self, $($arg: $ty),*) -> Result<$ret> {
                SqlStore::$name(self, $($arg),*).await
            })+

            fn subscribe(&self) -> broadcast::Receiver<Event> {
                self.b.hub().subscribe()
            }

            async fn close(&self) {
                self.b.close().await
            }
        }
    };
}

store_impl! {
    create_batch(id: BatchId, settings: &BatchSettings) -> Batch;
    add_jobs(batch_id: BatchId, jobs: Vec<NewJob>) -> Vec<Job>;
    start_batch(batch_id: BatchId) -> BatchSummary;
    get_batch(batch_id: BatchId) -> Batch;
    get_job(batch_id: BatchId, job_id: JobId) -> Job;
    batch_summary(batch_id: BatchId) -> BatchSummary;
    list_batches() -> Vec<BatchSummary>;
    cancel_batch(batch_id: BatchId) -> Vec<JobId>;
    cancel_job(batch_id: BatchId, job_id: JobId) -> Job;
    retry_job(batch_id: BatchId, job_id: JobId) -> Job;
    delete_batch(batch_id: BatchId) -> DeletedBatch;
    claim(worker: &str, lease: Duration) -> Option<Claim>;
    heartbeat(claim: &Claim, lease: Duration, stage: Option<JobStage>, progress: Option<f64>) -> Heartbeat;
    add_segments(claim: &Claim, first: usize, segments: &[Segment], at: &Checkpoint) -> bool;
    segments(batch_id: BatchId, job_id: JobId) -> LiveTranscript;
    complete_with_warning(claim: &Claim, media_duration: Option<f64>, warning: Option<&str>) -> Job;
    fail(claim: &Claim, failure: Failure) -> Job;
    finish_cancelled(claim: &Claim) -> Job;
    release(claim: &Claim) -> Job;
    requeue_expired(max_attempts: u32) -> usize;
    events_after(after: i64, batch: Option<BatchId>, limit: i64) -> Vec<Event>;
    last_event_seq() -> i64;
    register_worker(name: &str, slots: u32) -> ();
    list_workers() -> Vec<WorkerInfo>;
}

pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("{what}: no row"))
}
