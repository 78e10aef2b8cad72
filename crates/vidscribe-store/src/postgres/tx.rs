//! One transition = one transaction; its events are appended just before COMMIT.
//!
//! Why an advisory lock around the append: an identity/sequence value is taken when a row
//! is inserted, not when its transaction commits, so with plain inserts transaction A
//! could take seq 10, B seq 11, and B commit first. A reader that saw 11 and moved on
//! would never publish 10. Instead of re-reading gaps after a grace window (which either
//! delays every event or can still miss a slow commit), every transaction takes
//! `pg_advisory_xact_lock(<key of this schema>)` right before inserting its events and
//! holds it until it commits. PostgreSQL makes a commit visible before it releases the
//! transaction's locks, so the next appender takes its numbers only after the previous one
//! is visible: sequence numbers become visible strictly in order, and "read everything
//! above the last seq I published" is exact. Rolled-back transactions leave permanent gaps,
//! which are harmless. The lock is held only for the append and the commit (the rows and
//! the event payloads are prepared before it is taken), so it costs one short critical
//! section per transition, and nothing waits on it while holding it (no deadlock).

use std::hash::BuildHasher;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, Transaction};
use vidscribe_core::EventData;

use super::PgBackend;
use crate::error::{Result, StoreError};
use crate::sql::query::{Conn, Stmt};

pub struct Tx<'s> {
    backend: &'s PgBackend,
    tx: Transaction<'static, Postgres>,
    events: Vec<EventData>,
    deferred: Vec<Stmt>,
}

impl<'s> Tx<'s> {
    pub(super) async fn begin(backend: &'s PgBackend) -> Result<Tx<'s>> {
        let tx = begin(&backend.pool).await?;
        Ok(Tx { backend, tx, events: Vec::new(), deferred: Vec::new() })
    }
}

#[async_trait]
impl Conn for Tx<'_> {
    type Row = PgRow;

    async fn rows(&mut self, s: Stmt) -> Result<Vec<PgRow>> {
        (*self.tx).rows(s).await
    }

    async fn run(&mut self, s: Stmt) -> Result<u64> {
        (*self.tx).run(s).await
    }
}

#[async_trait]
impl crate::sql::query::WriteTx for Tx<'_> {
    fn event(&mut self, data: EventData) {
        self.events.push(data);
    }

    fn defer(&mut self, stmt: Stmt) {
        self.deferred.push(stmt);
    }

    async fn relax_durability(&mut self) -> Result<()> {
        sqlx::query("SET LOCAL synchronous_commit TO OFF").execute(&mut *self.tx).await?;
        Ok(())
    }

    /// The deferred statements, then the events under the append lock, then COMMIT.
    async fn commit(mut self) -> Result<()> {
        for s in std::mem::take(&mut self.deferred) {
            (*self.tx).run(s).await?;
        }
        if self.events.is_empty() {
            self.tx.commit().await?;
            return Ok(());
        }
        let kinds: Vec<&str> = self.events.iter().map(|e| e.kind().as_str()).collect();
        let batches: Vec<uuid::Uuid> = self.events.iter().map(|e| e.batch_id().as_uuid()).collect();
        let jobs: Vec<Option<uuid::Uuid>> = self.events.iter().map(|e| e.job_id().map(|j| j.as_uuid())).collect();
        let data = self
            .events
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<Vec<String>, _>>()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(self.backend.event_lock_key)
            .execute(&mut *self.tx)
            .await?;
        let max_seq: i64 = sqlx::query_scalar(
            "WITH ins AS (
                INSERT INTO events (kind, batch_id, job_id, at, data)
                SELECT k, b, j, now(), d::jsonb
                FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::text[]) WITH ORDINALITY AS e(k, b, j, d, n)
                ORDER BY n
                RETURNING seq
             ), m AS (SELECT max(seq) AS s FROM ins)
             SELECT s FROM m, LATERAL pg_notify($5, s::text)",
        )
        .bind(&kinds)
        .bind(&batches)
        .bind(&jobs)
        .bind(&data)
        .bind(super::EVENT_CHANNEL)
        .fetch_one(&mut *self.tx)
        .await?;
        self.tx.commit().await?;
        self.backend.feed.committed(max_seq).await;
        Ok(())
    }

    async fn rollback(self) -> Result<()> {
        self.tx.rollback().await?;
        Ok(())
    }
}

/// `pool.begin()`, carried through even when the caller's future is dropped half-way.
///
/// sqlx's `begin` is not cancellation-safe: dropped after it sent BEGIN but before the
/// server answered, it has not yet counted the transaction, so its rollback guard does
/// nothing, and the connection goes back to the pool inside a transaction nobody owns.
/// Every later user of that connection then runs inside it: plain writes stay
/// uncommitted until some later COMMIT on that connection, and a REPEATABLE READ read fails
/// ("SET TRANSACTION ISOLATION LEVEL must be called before any query"). On its own task the
/// BEGIN always completes; if nobody is left to use the transaction, it is dropped there,
/// counted, and rolled back before the connection is reused.
pub(super) async fn begin(pool: &PgPool) -> Result<Transaction<'static, Postgres>> {
    let pool = pool.clone();
    let tx = tokio::spawn(async move { pool.begin().await }).await.map_err(|_| sqlx::Error::WorkerCrashed)??;
    Ok(tx)
}

/// Tries of one transaction that PostgreSQL keeps aborting for conflicts with others.
/// A few: each conflict means another transaction made progress, so a retry normally wins;
/// one that keeps losing reports the error instead of spinning.
pub(super) const CONFLICT_ATTEMPTS: u32 = 4;

/// PostgreSQL aborted the transaction because of a concurrent one, not because of what it
/// does: 40001 serialization_failure (REPEATABLE READ / SERIALIZABLE conflicts) or 40P01
/// deadlock_detected. Nothing of it was committed, so running it again from the start is safe.
pub(super) fn is_conflict(e: &StoreError) -> bool {
    let StoreError::Database(sqlx::Error::Database(db)) = e else { return false };
    matches!(db.code().as_deref(), Some("40001" | "40P01"))
}

/// The pause before try `attempt + 1`: 5, 10, 20 ms plus up to as much again at random, so
/// two transactions that conflicted do not retry in lockstep and collide again.
fn conflict_backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(5 << attempt.saturating_sub(1).min(4));
    // Each RandomState has fresh keys: random enough for jitter, without a dependency.
    let jitter = std::collections::hash_map::RandomState::new().hash_one(attempt) % (base.as_micros() as u64 + 1);
    base + Duration::from_micros(jitter)
}

/// Whether to run a failed transaction again, and after what pause: only for a conflict
/// ([`is_conflict`]) and only while tries are left ([`CONFLICT_ATTEMPTS`]).
pub(super) fn conflict_retry(e: &StoreError, attempt: u32) -> Option<Duration> {
    (attempt < CONFLICT_ATTEMPTS && is_conflict(e)).then(|| {
        let pause = conflict_backoff(attempt);
        tracing::debug!(attempt, ?pause, "transaction aborted by a concurrent one, retrying: {e}");
        pause
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::postgres::{PgConfig, PgStore};
    use crate::sql::in_tx;
    use crate::sql::query::{stmt, Cells};
    use crate::Store as _;

    /// A database error with just a SQLSTATE, for the classifier.
    #[derive(Debug)]
    struct Sqlstate(&'static str);

    impl std::fmt::Display for Sqlstate {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "SQLSTATE {}", self.0)
        }
    }

    impl std::error::Error for Sqlstate {}

    impl sqlx::error::DatabaseError for Sqlstate {
        fn message(&self) -> &str {
            "test"
        }
        fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
            Some(self.0.into())
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn db_error(code: &'static str) -> StoreError {
        StoreError::Database(sqlx::Error::Database(Box::new(Sqlstate(code))))
    }

    #[test]
    fn only_serialization_failures_and_deadlocks_are_retried_and_only_a_few_times() {
        for code in ["40001", "40P01"] {
            assert!(is_conflict(&db_error(code)), "{code}");
            for attempt in 1..CONFLICT_ATTEMPTS {
                let pause = conflict_retry(&db_error(code), attempt).expect("retried");
                let base = Duration::from_millis(5 << (attempt - 1));
                assert!(pause >= base && pause <= base * 2, "attempt {attempt}: {pause:?}");
            }
            assert_eq!(conflict_retry(&db_error(code), CONFLICT_ATTEMPTS), None, "{code}: tries are bounded");
        }
        // Unique violation, a lost connection, a query error: retrying would not help.
        for code in ["23505", "08006", "42601", "40002", "25006"] {
            assert_eq!(conflict_retry(&db_error(code), 1), None, "{code}");
        }
        assert_eq!(conflict_retry(&StoreError::BatchNotFound("x".into()), 1), None);
        assert_eq!(conflict_retry(&StoreError::Database(sqlx::Error::PoolTimedOut), 1), None);
    }

    /// A store on a fresh schema of the test PostgreSQL, with a one-row table `t`.
    async fn store_with_table() -> (PgStore, String) {
        let base = std::env::var("VIDSCRIBE_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
        let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
        let pool = PgPool::connect(&base)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {base} is needed (set VIDSCRIBE_TEST_POSTGRES_URL): {e}"));
        sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&pool).await.unwrap();
        sqlx::query(&format!("CREATE TABLE {schema}.t (id int PRIMARY KEY, v int NOT NULL)"))
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query(&format!("INSERT INTO {schema}.t VALUES (1, 0)")).execute(&pool).await.unwrap();
        pool.close().await;
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
        let store = PgStore::connect_with(&url, PgConfig { max_connections: 4, ..PgConfig::default() }).await.unwrap();
        (store, schema)
    }

    async fn drop_schema(store: PgStore, schema: &str) {
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(store.pool()).await.unwrap();
        store.close().await;
    }

    /// One transaction of `in_tx!` that reads `t` in REPEATABLE READ and then, for its first
    /// `conflicts` tries, finds the row changed by another connection before it writes:
    /// PostgreSQL aborts that write with a real 40001.
    async fn increment_with_conflicts(store: &PgStore, conflicts: u32, tries: &AtomicU32) -> Result<i32> {
        in_tx!(store, |tx| {
            let n = tries.fetch_add(1, Ordering::SeqCst) + 1;
            tx.run(stmt!("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")).await?;
            tx.rows(stmt!("SELECT v FROM t WHERE id = 1")).await?;
            if n <= conflicts {
                sqlx::query("UPDATE t SET v = v + 100 WHERE id = 1").execute(store.pool()).await?;
            }
            let row = tx.rows(stmt!("UPDATE t SET v = v + 1 WHERE id = 1 RETURNING v")).await?;
            let v = row[0].int("v")? as i32;
            Ok(v)
        })
    }

    #[tokio::test]
    async fn a_real_serialization_failure_is_retried_until_the_transaction_commits() {
        let (store, schema) = store_with_table().await;
        let tries = AtomicU32::new(0);
        let v = increment_with_conflicts(&store, 2, &tries).await.expect("committed on the third try");
        assert_eq!(tries.load(Ordering::SeqCst), 3);
        // Two conflicting writers committed (+100 each), then this transaction once (+1).
        assert_eq!(v, 201);
        drop_schema(store, &schema).await;
    }

    #[tokio::test]
    async fn a_transaction_that_keeps_conflicting_gives_up_with_the_40001() {
        let (store, schema) = store_with_table().await;
        let tries = AtomicU32::new(0);
        let e = increment_with_conflicts(&store, u32::MAX, &tries).await.unwrap_err();
        assert_eq!(tries.load(Ordering::SeqCst), CONFLICT_ATTEMPTS);
        let StoreError::Database(sqlx::Error::Database(db)) = &e else { panic!("{e:?}") };
        assert_eq!(db.code().as_deref(), Some("40001"), "{e}");
        // None of the aborted tries wrote anything: only the other connection's updates.
        let v: i32 = sqlx::query_scalar("SELECT v FROM t WHERE id = 1").fetch_one(store.pool()).await.unwrap();
        assert_eq!(v, 100 * CONFLICT_ATTEMPTS as i32);
        drop_schema(store, &schema).await;
    }
}
