//! PostgreSQL backend: one database shared by any number of API and worker nodes.
//!
//! The operations are the one implementation in `sql/`; what this module adds for many nodes:
//!
//! - **Claims** lock the batch row `FOR UPDATE` and the job `FOR UPDATE SKIP LOCKED` in
//!   one short transaction; the batch row's `n_processing` counter is the truth for
//!   `max_concurrent`, so the limit holds across all nodes.
//! - **Row locks** in every read-then-update ([`Backend::FOR_UPDATE`]); the lock order is
//!   in `sql/batches.rs`.
//! - **Leases** are compared with the database clock (`now()`), so nodes with skewed
//!   clocks agree on who is expired; any node may re-queue expired jobs.
//! - **Events** are numbered in commit order (an advisory lock around the append, see
//!   `postgres/tx.rs`) and announced with `NOTIFY vidscribe_events`. Every `PgStore`
//!   runs a feed task that reads new rows of the event table by sequence number and
//!   publishes them, in order and once each, on its local [`EventHub`]; it is woken by
//!   its own commits, by `LISTEN` (reconnecting with backoff) and by a polling fallback.
//!   So a browser connected to API node A sees jobs run by worker node B live.
//! - **Conflicts**: a transaction aborted by a serialization failure or deadlock runs again.

mod feed;
mod tx;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{ConnectOptions, PgConnection, Postgres, Row, Transaction, TypeInfo, ValueRef};
use tokio::task::JoinHandle;
use uuid::Uuid;
use vidscribe_core::{BatchId, BatchStatus};

use crate::error::{Result, StoreError};
use crate::hub::EventHub;
use crate::sql::query::{driver, stmt, Arg, Cells, Conn, Stmt};
use crate::sql::{Backend, Dialect, SqlStore};

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

pub struct PgBackend {
    pool: PgPool,
    hub: EventHub,
    feed: Arc<feed::Feed>,
    /// Advisory lock key serialising event appends of this schema (see `tx.rs`).
    event_lock_key: i64,
    tasks: Vec<JoinHandle<()>>,
}

/// The store on a PostgreSQL database.
pub type PgStore = SqlStore<PgBackend>;

impl SqlStore<PgBackend> {
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
        Ok(SqlStore { b: PgBackend { pool, hub, feed, event_lock_key, tasks } })
    }

    /// The pool, for tests and tools that need to look at the tables directly.
    pub fn pool(&self) -> &PgPool {
        &self.b.pool
    }
}

impl Drop for PgBackend {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

#[async_trait]
impl Backend for PgBackend {
    const SQL: Dialect = Dialect::Postgres;

    type Db = Postgres;
    type Tx<'a> = tx::Tx<'a>;

    async fn write(&self) -> Result<Self::Tx<'_>> {
        tx::Tx::begin(self).await
    }

    async fn reader(&self) -> Result<PoolConnection<Self::Db>> {
        Ok(self.pool.acquire().await?)
    }

    /// One REPEATABLE READ transaction: a batch row and its jobs read as one snapshot.
    async fn snapshot(&self) -> Result<Transaction<'static, Self::Db>> {
        let mut tx = tx::begin(&self.pool).await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
        Ok(tx)
    }

    /// 1. Lock the oldest processing batch that has a runnable queued job and a free slot.
    ///    This is a *blocking* `FOR UPDATE`: claimers of the same batch queue up on its row
    ///    for the few milliseconds a claim takes, and PostgreSQL re-checks the condition on
    ///    the newest row version once the lock is granted, so a batch that filled up
    ///    meanwhile is passed over. The counter on the locked row is therefore the truth for
    ///    `max_concurrent` on every node.
    /// 2. Take its oldest runnable job with `FOR UPDATE SKIP LOCKED` (never waits: a job row
    ///    locked by a cancel or retry in flight is simply not this claim's).
    async fn pick(tx: &mut Self::Tx<'_>) -> Result<Option<(String, Arg)>> {
        let sql = format!(
            "SELECT b.id FROM batches b
             WHERE b.status = $1 AND b.n_queued > 0 AND b.n_processing < b.max_concurrent
               AND EXISTS (SELECT 1 FROM jobs j WHERE j.batch_id = b.id AND j.status = $2 AND {runnable})
             ORDER BY b.started_at, b.id
             LIMIT 1
             FOR UPDATE OF b",
            runnable = Self::SQL.runnable("j")
        );
        let batch = tx.optional(stmt!(sql, BatchStatus::Processing, vidscribe_core::JobStatus::Queued)).await?;
        let Some(batch) = batch else { return Ok(None) };
        let pick = format!(
            "SELECT seqno FROM jobs WHERE batch_id = $7 AND status = $1 AND {} ORDER BY seqno LIMIT 1{}",
            Self::SQL.runnable("jobs"),
            Self::SQL.skip_locked()
        );
        Ok(Some((pick, BatchId::from_uuid(batch.id("id")?).into())))
    }

    fn retry_after(&self, e: &StoreError, attempt: u32) -> Option<Duration> {
        tx::conflict_retry(e, attempt)
    }

    fn hub(&self) -> &EventHub {
        &self.hub
    }

    async fn close(&self) {
        for t in &self.tasks {
            t.abort();
        }
        self.pool.close().await;
    }
}

// Native types: uuid, timestamptz, boolean; counters are `integer`, sequences `bigint`.
driver!(PgConnection, PgRow, PgArguments, id: |u: Uuid| u, time: |t: Option<DateTime<Utc>>| t, {
    fn opt_int(&self, col: &str) -> Result<Option<i64>> {
        let raw = self.try_get_raw(col)?;
        Ok(match raw.type_info().name() {
            "INT4" => self.try_get::<Option<i32>, _>(col)?.map(i64::from),
            "INT2" => self.try_get::<Option<i16>, _>(col)?.map(i64::from),
            _ => self.try_get(col)?,
        })
    }

    fn opt_id(&self, col: &str) -> Result<Option<Uuid>> {
        Ok(self.try_get(col)?)
    }

    fn opt_time(&self, col: &str) -> Result<Option<DateTime<Utc>>> {
        Ok(self.try_get(col)?)
    }

    fn flag(&self, col: &str) -> Result<bool> {
        Ok(self.try_get(col)?)
    }
});
