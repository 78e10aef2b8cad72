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

use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use vidscribe_core::{BatchId, EventKind, JobId};

use super::PgStore;
use crate::error::Result;

struct PendingEvent {
    kind: EventKind,
    batch_id: BatchId,
    job_id: Option<JobId>,
    data: serde_json::Value,
}

pub(super) struct Tx<'s> {
    store: &'s PgStore,
    tx: Transaction<'static, Postgres>,
    events: Vec<PendingEvent>,
}

impl<'s> Tx<'s> {
    pub(super) async fn begin(store: &'s PgStore) -> Result<Tx<'s>> {
        let tx = begin(&store.pool).await?;
        Ok(Tx { store, tx, events: Vec::new() })
    }

    pub(super) fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    /// Queues an event row; it is inserted right before COMMIT and published after it.
    pub(super) fn event(&mut self, kind: EventKind, batch_id: BatchId, job_id: Option<JobId>, data: serde_json::Value) {
        self.events.push(PendingEvent { kind, batch_id, job_id, data });
    }

    pub(super) async fn commit(mut self) -> Result<()> {
        if self.events.is_empty() {
            self.tx.commit().await?;
            return Ok(());
        }
        let kinds: Vec<&str> = self.events.iter().map(|e| e.kind.as_str()).collect();
        let batches: Vec<uuid::Uuid> = self.events.iter().map(|e| e.batch_id.as_uuid()).collect();
        let jobs: Vec<Option<uuid::Uuid>> = self.events.iter().map(|e| e.job_id.map(|j| j.as_uuid())).collect();
        let data: Vec<String> = self.events.iter().map(|e| e.data.to_string()).collect();
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(self.store.event_lock_key).execute(&mut *self.tx).await?;
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
        self.store.feed.committed(max_seq).await;
        Ok(())
    }

    pub(super) async fn rollback(self) -> Result<()> {
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

/// Runs `$body` inside one transaction: COMMIT (events appended, then published) on
/// `Ok`, ROLLBACK on `Err`.
macro_rules! in_tx {
    ($store:expr, |$tx:ident| $body:block) => {{
        let mut $tx = $store.begin().await?;
        let result: $crate::error::Result<_> = async { $body }.await;
        match result {
            Ok(v) => {
                $tx.commit().await?;
                Ok(v)
            }
            Err(e) => {
                let _ = $tx.rollback().await;
                Err(e)
            }
        }
    }};
}
pub(super) use in_tx;
