//! The single write connection and its transaction guard.

use sqlx::{Connection, Executor, SqliteConnection};
use tokio::sync::MutexGuard;
use vidscribe_core::{BatchId, Event, EventKind, JobId};

use crate::error::Result;
use crate::hub::EventHub;

pub(super) struct WriterConn {
    conn: Option<SqliteConnection>,
    /// A transaction was begun but neither committed nor rolled back (its future was
    /// dropped mid-way); the next user rolls it back first.
    dirty: bool,
}

impl WriterConn {
    pub(super) fn new(conn: SqliteConnection) -> Self {
        Self { conn: Some(conn), dirty: false }
    }

    pub(super) async fn close(&mut self) {
        if let Some(c) = self.conn.take() {
            let _ = c.close().await;
        }
    }
}

/// One `BEGIN IMMEDIATE … COMMIT`, collecting the events it appends.
pub(super) struct WriteTx<'a> {
    guard: MutexGuard<'a, WriterConn>,
    hub: &'a EventHub,
    events: Vec<Event>,
}

impl<'a> WriteTx<'a> {
    pub(super) async fn begin(mut guard: MutexGuard<'a, WriterConn>, hub: &'a EventHub) -> Result<WriteTx<'a>> {
        // Marked before BEGIN: a future dropped while BEGIN is in flight must still leave
        // the next user a ROLLBACK to do (a ROLLBACK outside a transaction is harmless).
        let dirty = std::mem::replace(&mut guard.dirty, true);
        let conn = guard.conn.as_mut().ok_or(sqlx::Error::PoolClosed)?;
        if dirty {
            let _ = conn.execute("ROLLBACK").await;
        }
        conn.execute("BEGIN IMMEDIATE").await?;
        Ok(WriteTx { guard, hub, events: Vec::new() })
    }

    pub(super) fn conn(&mut self) -> &mut SqliteConnection {
        self.guard.conn.as_mut().expect("writer connection open while a transaction is running")
    }

    /// Appends an event row; it is published after COMMIT.
    pub(super) async fn event(
        &mut self,
        kind: EventKind,
        batch_id: BatchId,
        job_id: Option<JobId>,
        data: serde_json::Value,
    ) -> Result<()> {
        let at = chrono::Utc::now();
        let text = data.to_string();
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO events (kind, batch_id, job_id, at, data) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING seq",
        )
        .bind(kind.as_str())
        .bind(batch_id.to_string())
        .bind(job_id.map(|j| j.to_string()))
        .bind(super::rows::ts(at))
        .bind(text)
        .fetch_one(self.conn())
        .await?;
        self.events.push(Event { seq, kind, batch_id, job_id, at, data });
        Ok(())
    }

    pub(super) async fn commit(mut self) -> Result<()> {
        self.conn().execute("COMMIT").await?;
        self.guard.dirty = false;
        // Still holding the writer mutex: events leave in commit order.
        for e in self.events.drain(..) {
            self.hub.publish(e);
        }
        Ok(())
    }

    pub(super) async fn rollback(mut self) -> Result<()> {
        self.conn().execute("ROLLBACK").await?;
        self.guard.dirty = false;
        Ok(())
    }
}
