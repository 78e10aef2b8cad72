//! PostgreSQL backend: one database shared by any number of API and worker nodes.
//!
//! Semantics are those of the SQLite store (see `sqlite.rs`): every transition is one
//! short transaction that updates rows with `WHERE status = <expected>` (worker calls are
//! also fenced by worker name and attempt number), keeps the batch counters on the batch
//! row, and appends its event rows. What changes with many nodes:
//!
//! - **Claims** lock the batch row `FOR UPDATE` and the job `FOR UPDATE SKIP LOCKED` in
//!   one short transaction; the batch row's `n_processing` counter is the truth for
//!   `max_concurrent`, so the limit holds across all nodes (`postgres/jobs.rs`).
//! - **Leases** are compared with the database clock (`now()`), so nodes with skewed
//!   clocks agree on who is expired; any node may re-queue expired jobs.
//! - **Events** are numbered in commit order (an advisory lock around the append, see
//!   `postgres/tx.rs`) and announced with `NOTIFY vidscribe_events`. Every `PgStore`
//!   runs a feed task that reads new rows of the event table by sequence number and
//!   publishes them, in order and once each, on its local [`EventHub`]; it is woken by
//!   its own commits, by `LISTEN` (reconnecting with backoff) and by a polling fallback.
//!   So a browser connected to API node A sees jobs run by worker node B live.
//!
//! Lock order (to stay free of deadlocks): a transaction locks job rows first and the
//! batch row last. The one exception, the claim, locks the batch row first but then only
//! *skips* locked job rows, never waits for one.

mod batches;
mod feed;
mod jobs;
mod rows;
mod tx;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::ConnectOptions;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use vidscribe_core::{Batch, BatchId, BatchSettings, BatchSummary, Event, Job, JobId, JobStage};

use crate::error::Result;
use crate::hub::EventHub;
use crate::types::{Claim, DeletedBatch, Failure, Heartbeat, NewJob, WorkerInfo};
use crate::Store;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The channel every node LISTENs on; the payload is the newest sequence number.
pub const EVENT_CHANNEL: &str = "vidscribe_events";

/// Connection settings beyond the URL.
#[derive(Debug, Clone)]
pub struct PgConfig {
    /// Pool size of this process (the LISTEN connection is extra).
    pub max_connections: u32,
    /// How often the event feed reads the table even when no NOTIFY arrived.
    pub poll_interval: Duration,
}

impl Default for PgConfig {
    fn default() -> Self {
        Self { max_connections: 10, poll_interval: Duration::from_secs(1) }
    }
}

pub struct PgStore {
    pool: PgPool,
    hub: EventHub,
    feed: Arc<feed::Feed>,
    /// Advisory lock key serialising event appends of this schema (see `tx.rs`).
    event_lock_key: i64,
    tasks: Vec<JoinHandle<()>>,
}

impl PgStore {
    /// `postgres://user@host:port/db` (any libpq-style URL sqlx accepts, including
    /// `?options=-c search_path=…`). Runs migrations and starts the event feed.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, PgConfig::default()).await
    }

    pub async fn connect_with(url: &str, config: PgConfig) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)?.disable_statement_logging();
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections.max(2))
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await?;
        MIGRATOR.run(&pool).await?;
        // Per schema, so independent deployments (or test schemas) in one database do not
        // serialise each other's event appends.
        let event_lock_key: i64 =
            sqlx::query_scalar("SELECT hashtext('vidscribe.events.' || current_schema())::bigint")
                .fetch_one(&pool)
                .await?;
        let last: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM events").fetch_one(&pool).await?;
        let hub = EventHub::default();
        let feed = Arc::new(feed::Feed::new(last.unwrap_or(0)));
        // LISTEN holds its connection for good: give it its own one-connection pool.
        let listen_pool = PgPoolOptions::new().max_connections(1).min_connections(0).connect_lazy_with(options);
        let tasks = vec![
            tokio::spawn(feed::pump(pool.clone(), hub.clone(), feed.clone(), config.poll_interval)),
            tokio::spawn(feed::listen(listen_pool, feed.clone())),
        ];
        Ok(Self { pool, hub, feed, event_lock_key, tasks })
    }

    /// The pool, for tests and tools that need to look at the tables directly.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn begin(&self) -> Result<tx::Tx<'_>> {
        tx::Tx::begin(self).await
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

#[async_trait]
impl Store for PgStore {
    async fn create_batch(&self, id: BatchId, settings: &BatchSettings) -> Result<Batch> {
        batches::create(self, id, settings).await
    }

    async fn add_jobs(&self, batch_id: BatchId, jobs: Vec<NewJob>) -> Result<Vec<Job>> {
        batches::add_jobs(self, batch_id, jobs).await
    }

    async fn start_batch(&self, batch_id: BatchId) -> Result<BatchSummary> {
        batches::start(self, batch_id).await
    }

    async fn get_batch(&self, batch_id: BatchId) -> Result<Batch> {
        batches::get(self, batch_id).await
    }

    async fn get_job(&self, batch_id: BatchId, job_id: JobId) -> Result<Job> {
        jobs::get(self, batch_id, job_id).await
    }

    async fn batch_summary(&self, batch_id: BatchId) -> Result<BatchSummary> {
        let mut conn = self.pool.acquire().await?;
        rows::summary(&mut conn, batch_id).await
    }

    async fn list_batches(&self) -> Result<Vec<BatchSummary>> {
        batches::list(self).await
    }

    async fn cancel_batch(&self, batch_id: BatchId) -> Result<Vec<JobId>> {
        batches::cancel(self, batch_id).await
    }

    async fn cancel_job(&self, batch_id: BatchId, job_id: JobId) -> Result<Job> {
        jobs::cancel(self, batch_id, job_id).await
    }

    async fn retry_job(&self, batch_id: BatchId, job_id: JobId) -> Result<Job> {
        jobs::retry(self, batch_id, job_id).await
    }

    async fn delete_batch(&self, batch_id: BatchId) -> Result<DeletedBatch> {
        batches::delete(self, batch_id).await
    }

    async fn claim(&self, worker: &str, lease: Duration) -> Result<Option<Claim>> {
        jobs::claim(self, worker, lease).await
    }

    async fn heartbeat(
        &self,
        claim: &Claim,
        lease: Duration,
        stage: Option<JobStage>,
        progress: Option<f64>,
    ) -> Result<Heartbeat> {
        jobs::heartbeat(self, claim, lease, stage, progress).await
    }

    async fn complete_with_warning(
        &self,
        claim: &Claim,
        media_duration: Option<f64>,
        warning: Option<&str>,
    ) -> Result<Job> {
        jobs::complete(self, claim, media_duration, warning).await
    }

    async fn fail(&self, claim: &Claim, failure: Failure) -> Result<Job> {
        jobs::fail(self, claim, failure).await
    }

    async fn finish_cancelled(&self, claim: &Claim) -> Result<Job> {
        jobs::finish_cancelled(self, claim).await
    }

    async fn release(&self, claim: &Claim) -> Result<Job> {
        jobs::release(self, claim).await
    }

    async fn requeue_expired(&self, max_attempts: u32) -> Result<usize> {
        jobs::requeue_expired(self, max_attempts).await
    }

    async fn events_after(&self, after: i64, batch: Option<BatchId>, limit: i64) -> Result<Vec<Event>> {
        let mut conn = self.pool.acquire().await?;
        rows::events_after(&mut conn, after, batch, limit).await
    }

    async fn last_event_seq(&self) -> Result<i64> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM events").fetch_one(&self.pool).await?;
        Ok(seq.unwrap_or(0))
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.hub.subscribe()
    }

    async fn register_worker(&self, name: &str, slots: u32) -> Result<()> {
        sqlx::query(
            "INSERT INTO workers (name, slots, started_at, heartbeat_at) VALUES ($1, $2, now(), now())
             ON CONFLICT (name) DO UPDATE SET slots = excluded.slots, heartbeat_at = excluded.heartbeat_at",
        )
        .bind(name)
        .bind(slots as i32)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_workers(&self) -> Result<Vec<WorkerInfo>> {
        let mut conn = self.pool.acquire().await?;
        rows::workers(&mut conn).await
    }

    async fn close(&self) {
        for t in &self.tasks {
            t.abort();
        }
        self.pool.close().await;
    }
}
