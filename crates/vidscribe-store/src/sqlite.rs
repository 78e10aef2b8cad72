//! The embedded default store: one SQLite file in WAL mode.
//!
//! All writes of this process go through ONE connection behind an async mutex and run as
//! `BEGIN IMMEDIATE` transactions, so the write lock is taken up front (no deferred
//! read→write upgrade that SQLite would answer with SQLITE_BUSY). Other processes on the
//! same file are serialised by SQLite's own lock and the busy timeout. Events are
//! published while the mutex is still held, right after COMMIT, so subscribers receive
//! them in sequence order. Reads use a separate pool and never wait for writers.

mod batches;
mod jobs;
mod rows;
mod writer;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::ConnectOptions;
use tokio::sync::{broadcast, Mutex};
use vidscribe_core::{Batch, BatchId, BatchSettings, BatchSummary, Event, Job, JobId, JobStage};

use crate::error::Result;
use crate::hub::EventHub;
use crate::types::{Claim, DeletedBatch, Failure, Heartbeat, NewJob, WorkerInfo};
use crate::Store;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    writer: Mutex<writer::WriterConn>,
    readers: SqlitePool,
    hub: EventHub,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and runs migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(sqlx::Error::Io)?;
            }
        }
        let options = SqliteConnectOptions::new().filename(path);
        Self::open_with(options).await
    }

    /// `sqlite://path/to/file.db` or `sqlite:file.db`.
    pub async fn open_url(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?;
        let filename = options.get_filename().to_path_buf();
        if let Some(parent) = filename.parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(sqlx::Error::Io)?;
            }
        }
        Self::open_with(options).await
    }

    async fn open_with(options: SqliteConnectOptions) -> Result<Self> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL in WAL mode: a commit survives a process crash (SIGKILL); only an OS
            // crash or power loss can lose the last transactions.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true)
            .pragma("temp_store", "memory")
            // Checkpoint every ~40 MB of WAL instead of every ~4 MB (1 000 pages). A checkpoint
            // runs inside the COMMIT that crosses the threshold and fsyncs the WAL and the
            // database file; at the default it came every ~50 transitions and its fsyncs
            // dominated the writer. Each transition rewrites the same few hot pages (batch row,
            // index roots, sequence), so a longer interval also copies far fewer pages in all.
            // Durability is unchanged: that is decided by WAL + synchronous=NORMAL.
            .pragma("wal_autocheckpoint", "10000")
            .disable_statement_logging();
        let mut conn = options.connect().await?;
        MIGRATOR.run(&mut conn).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            .connect_with(options.clone().read_only(true))
            .await?;
        Ok(Self { writer: Mutex::new(writer::WriterConn::new(conn)), readers, hub: EventHub::default() })
    }

    async fn write(&self) -> Result<writer::WriteTx<'_>> {
        writer::WriteTx::begin(self.writer.lock().await, &self.hub).await
    }

    /// The writer, with `BEGIN IMMEDIATE` sent as the first statement of the first script.
    async fn write_lazy(&self) -> Result<writer::WriteTx<'_>> {
        writer::WriteTx::lock(self.writer.lock().await, &self.hub).await
    }
}

#[async_trait]
impl Store for SqliteStore {
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
        let mut conn = self.readers.acquire().await?;
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
        let mut conn = self.readers.acquire().await?;
        rows::events_after(&mut conn, after, batch, limit).await
    }

    async fn last_event_seq(&self) -> Result<i64> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM events").fetch_one(&self.readers).await?;
        Ok(seq.unwrap_or(0))
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.hub.subscribe()
    }

    async fn register_worker(&self, name: &str, slots: u32) -> Result<()> {
        let mut tx = self.write().await?;
        let now = rows::ts(chrono::Utc::now());
        sqlx::query(
            "INSERT INTO workers (name, slots, started_at, heartbeat_at) VALUES (?1, ?2, ?3, ?3)
             ON CONFLICT(name) DO UPDATE SET slots = excluded.slots, heartbeat_at = excluded.heartbeat_at",
        )
        .bind(name)
        .bind(slots as i64)
        .bind(&now)
        .execute(tx.conn())
        .await?;
        tx.commit().await
    }

    async fn list_workers(&self) -> Result<Vec<WorkerInfo>> {
        let mut conn = self.readers.acquire().await?;
        rows::workers(&mut conn).await
    }

    async fn close(&self) {
        self.readers.close().await;
        let mut w = self.writer.lock().await;
        w.close().await;
    }
}

#[cfg(test)]
mod tests {
    use std::future::pending;
    use std::sync::Arc;

    use super::*;

    const AT: &str = "2025-01-01T00:00:00.000Z";

    async fn store() -> (tempfile::TempDir, Arc<SqliteStore>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("vidscribe.db")).await.expect("open");
        (dir, Arc::new(store))
    }

    async fn worker_names(store: &SqliteStore) -> Vec<String> {
        store.list_workers().await.expect("list workers").into_iter().map(|w| w.name).collect()
    }

    /// Writes a worker row inside a write transaction, then never finishes: the caller's
    /// future is dropped with the transaction open (a cancelled request, an aborted task).
    async fn write_half_way(store: &SqliteStore, lazy: bool, name: &str) {
        if lazy {
            let mut tx = store.write_lazy().await.expect("writer");
            let mut s = writer::Script::new();
            s.push("INSERT INTO workers (name, slots, started_at, heartbeat_at) VALUES (?, 1, ?, ?)")
                .bind(name.to_string())
                .bind(AT)
                .bind(AT);
            tx.script(s).await.expect("insert");
            pending::<()>().await;
        } else {
            let mut tx = store.write().await.expect("writer");
            sqlx::query("INSERT INTO workers (name, slots, started_at, heartbeat_at) VALUES (?1, 1, ?2, ?2)")
                .bind(name)
                .bind(AT)
                .execute(tx.conn())
                .await
                .expect("insert");
            pending::<()>().await;
        }
    }

    #[tokio::test]
    async fn a_write_dropped_half_way_is_rolled_back_and_the_writer_goes_on() {
        let (_dir, store) = store().await;
        for lazy in [false, true] {
            let dropped =
                tokio::time::timeout(Duration::from_millis(200), write_half_way(&store, lazy, "half-done")).await;
            assert!(dropped.is_err(), "the write was dropped with its transaction open");
            store
                .register_worker(if lazy { "after-lazy" } else { "after" }, 1)
                .await
                .expect("the next write is not wedged");
        }
        assert_eq!(worker_names(&store).await, ["after", "after-lazy"], "the half-done inserts never committed");
    }

    #[tokio::test]
    async fn a_task_aborted_while_it_holds_the_writer_does_not_wedge_it() {
        let (_dir, store) = store().await;
        let (wrote, mut has_written) = tokio::sync::mpsc::channel::<()>(1);
        let task = {
            let store = store.clone();
            tokio::spawn(async move {
                let mut tx = store.write().await.expect("writer");
                sqlx::query(
                    "INSERT INTO workers (name, slots, started_at, heartbeat_at) VALUES ('aborted', 1, ?1, ?1)",
                )
                .bind(AT)
                .execute(tx.conn())
                .await
                .expect("insert");
                wrote.send(()).await.expect("signal");
                pending::<()>().await;
            })
        };
        has_written.recv().await.expect("the task wrote its row");
        task.abort();
        assert!(task.await.expect_err("aborted").is_cancelled());
        for i in 0..3 {
            store.register_worker(&format!("next-{i}"), 1).await.expect("writes after the abort succeed");
        }
        assert_eq!(worker_names(&store).await, ["next-0", "next-1", "next-2"]);
    }
}
