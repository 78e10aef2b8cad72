//! The event log and the worker registry.

use vidscribe_core::{BatchId, Event, JobId, JobStatus};

use super::decode::{self, EVENT_COLUMNS};
use super::query::{now, stmt, Cells, Conn};
use super::{in_tx, Backend, SqlStore};
use crate::error::Result;
use crate::types::WorkerInfo;

/// Events with `seq > after`, oldest first, optionally of one batch (also the PostgreSQL
/// feed's read).
pub(crate) async fn events_after<C: Conn + ?Sized>(
    c: &mut C,
    after: i64,
    batch: Option<BatchId>,
    limit: i64,
) -> Result<Vec<Event>> {
    let stmt = match batch {
        Some(b) => {
            let sql =
                format!("SELECT {EVENT_COLUMNS} FROM events WHERE batch_id = $1 AND seq > $2 ORDER BY seq LIMIT $3");
            stmt!(sql, b, after, limit)
        }
        None => stmt!(format!("SELECT {EVENT_COLUMNS} FROM events WHERE seq > $1 ORDER BY seq LIMIT $2"), after, limit),
    };
    c.all(stmt, decode::event).await
}

impl<B: Backend> SqlStore<B> {
    pub(super) async fn events_after(&self, after: i64, batch: Option<BatchId>, limit: i64) -> Result<Vec<Event>> {
        events_after(&mut *self.b.reader().await?, after, batch, limit).await
    }

    pub(super) async fn last_event_seq(&self) -> Result<i64> {
        let mut c = self.b.reader().await?;
        let row =
            c.one(stmt!("SELECT COALESCE(MAX(seq), 0) AS seq FROM events"), || super::corrupt("MAX(seq)")).await?;
        row.int("seq")
    }

    pub(super) async fn register_worker(&self, name: &str, slots: u32) -> Result<()> {
        let now = now();
        in_tx!(self, |tx| {
            let sql = "INSERT INTO workers (name, slots, started_at, heartbeat_at) VALUES ($1, $2, $3, $3)
             ON CONFLICT (name) DO UPDATE SET slots = excluded.slots, heartbeat_at = excluded.heartbeat_at";
            tx.run(stmt!(sql, name, slots, now)).await?;
            Ok(())
        })
    }

    /// Each worker with the jobs it runs now: two set queries, matched here.
    pub(super) async fn list_workers(&self) -> Result<Vec<WorkerInfo>> {
        let mut s = self.b.snapshot().await?;
        let workers = s.rows(stmt!("SELECT name, slots, started_at, heartbeat_at FROM workers ORDER BY name")).await?;
        let sql = "SELECT id, worker FROM jobs WHERE status = $1 ORDER BY started_at, seqno";
        let running =
            s.all(stmt!(sql, JobStatus::Processing), |r| Ok((JobId::from_uuid(r.id("id")?), r.opt_text("worker")?)));
        let running = running.await?;
        workers
            .iter()
            .map(|w| {
                let name = w.text("name")?;
                // A worker process registers as `<name>`; its slots lease jobs as `<name>/<slot>`.
                let slot_prefix = format!("{name}/");
                let running_jobs = running
                    .iter()
                    .filter(|(_, by)| by.as_deref().is_some_and(|by| by == name || by.starts_with(&slot_prefix)))
                    .map(|(id, _)| *id)
                    .collect();
                Ok(WorkerInfo {
                    slots: w.count("slots")? as u32,
                    started_at: w.time("started_at")?,
                    heartbeat_at: w.time("heartbeat_at")?,
                    running_jobs,
                    name,
                })
            })
            .collect()
    }
}
