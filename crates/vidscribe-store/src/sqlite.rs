//! The embedded default store: one SQLite file in WAL mode.
//!
//! All writes of this process go through ONE connection behind an async mutex and run as
//! `BEGIN IMMEDIATE` transactions, so the write lock is taken up front (no deferred
//! read→write upgrade that SQLite would answer with SQLITE_BUSY). Other processes on the
//! same file are serialised by SQLite's own lock and the busy timeout. Events are
//! published while the mutex is still held, right after COMMIT, so subscribers receive
//! them in sequence order. Reads use a separate pool and never wait for writers.

mod writer;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, Row, Sqlite, SqliteConnection, Transaction};
use tokio::sync::Mutex;
use uuid::Uuid;
use vidscribe_core::BatchStatus;

use crate::error::{Result, StoreError};
use crate::hub::EventHub;
use crate::sql::query::{driver, parse_ts, ts, Arg, Stmt};
use crate::sql::{Backend, Dialect, SqlStore};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteBackend {
    writer: Mutex<writer::WriterConn>,
    readers: SqlitePool,
    hub: EventHub,
}

/// The store on one SQLite file.
pub type SqliteStore = SqlStore<SqliteBackend>;

impl SqlStore<SqliteBackend> {
    /// Opens (creating if needed) the database file and runs migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        Self::open_with(SqliteConnectOptions::new().filename(path)).await
    }

    /// `sqlite://path/to/file.db` or `sqlite:file.db`.
    pub async fn open_url(url: &str) -> Result<Self> {
        Self::open_with(SqliteConnectOptions::from_str(url)?).await
    }

    async fn open_with(options: SqliteConnectOptions) -> Result<Self> {
        if let Some(parent) = options.get_filename().parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(sqlx::Error::Io)?;
        }
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
            // database file; at the default it came every ~50 transactions and its fsyncs
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
        let b = SqliteBackend { writer: Mutex::new(writer::WriterConn::new(conn)), readers, hub: EventHub::default() };
        Ok(SqlStore { b })
    }
}

#[async_trait]
impl Backend for SqliteBackend {
    type Db = Sqlite;
    type Tx<'a> = writer::WriteTx<'a>;

    const SQL: Dialect = Dialect::Sqlite;

    async fn reader(&self) -> Result<PoolConnection<Self::Db>> {
        Ok(self.readers.acquire().await?)
    }

    async fn snapshot(&self) -> Result<Transaction<'static, Self::Db>> {
        Ok(self.readers.begin().await?)
    }

    async fn write(&self) -> Result<Self::Tx<'_>> {
        writer::WriteTx::lock(self.writer.lock().await, &self.hub).await
    }

    /// One statement (which also carries this transaction's `BEGIN IMMEDIATE`): the oldest
    /// started batch with spare concurrency first and, inside it, the oldest runnable job.
    /// The correlated subquery walks the (batch_id, status, seqno) index, so a claim costs
    /// the same with 10 or 10 000 queued jobs.
    async fn pick(_: &mut Self::Tx<'_>) -> Result<Option<(String, Arg)>> {
        let pick = format!(
            "SELECT s FROM (
                SELECT (SELECT j.seqno FROM jobs j
                        WHERE j.batch_id = b.id AND j.status = $1
                          AND {runnable}
                        ORDER BY j.seqno LIMIT 1) AS s
                FROM batches b
                WHERE b.status = $7 AND b.n_queued > 0 AND b.n_processing < b.max_concurrent
                ORDER BY b.started_at, b.id
             ) WHERE s IS NOT NULL LIMIT 1",
            runnable = Self::SQL.runnable("j")
        );
        Ok(Some((pick, BatchStatus::Processing.into())))
    }

    fn hub(&self) -> &EventHub {
        &self.hub
    }

    async fn close(&self) {
        self.readers.close().await;
        self.writer.lock().await.close().await;
    }
}

// Ids are TEXT (hyphenated), times fixed-width RFC 3339 TEXT, flags 0/1.
driver!(SqliteConnection, SqliteRow, SqliteArguments<'static>,
    id: |u: Uuid| u.to_string(), time: |t: Option<DateTime<Utc>>| t.map(ts), {
    fn opt_int(&self, col: &str) -> Result<Option<i64>> {
        Ok(self.try_get(col)?)
    }

    fn opt_id(&self, col: &str) -> Result<Option<Uuid>> {
        self.opt_text(col)?
            .map(|s| Uuid::parse_str(&s).map_err(|_| StoreError::Corrupt(format!("bad {col} '{s}'"))))
            .transpose()
    }

    fn opt_time(&self, col: &str) -> Result<Option<DateTime<Utc>>> {
        self.opt_text(col)?.as_deref().map(parse_ts).transpose()
    }

    fn flag(&self, col: &str) -> Result<bool> {
        Ok(self.try_get::<i64, _>(col)? != 0)
    }
});

#[cfg(test)]
mod tests;
