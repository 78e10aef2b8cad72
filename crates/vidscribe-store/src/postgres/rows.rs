//! Row ↔ domain conversions and the read queries shared by several operations.
//!
//! `BatchRow` mirrors the SQLite module's (the progress/summary rules live in core and
//! `rules.rs`; only the decoding differs).

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;
use vidscribe_core::progress::StatusCounts;
use vidscribe_core::{
    Attempt, BatchId, BatchSettings, BatchSummary, Event, EventKind, Job, JobId, JobStage, JobStatus, OutputFormat,
    SessionId,
};

pub(super) use crate::batch_row::BatchRow;
use crate::error::{Result, StoreError};
use crate::types::WorkerInfo;

pub(super) const JOB_COLUMNS: &str =
    "id, batch_id, original_filename, session_name, session_id, file_path, results_path, \
     status, stage, progress, media_duration, attempts, worker, heartbeat_at, created_at, started_at, completed_at, \
     error_message, error_code, warning";

pub(super) const BATCH_COLUMNS: &str = "id, name, max_concurrent, status, model, language, formats, created_at, \
     started_at, completed_at, error_message, n_queued, n_processing, n_completed, n_failed, n_skipped, n_cancelled, \
     media_queued, n_queued_unknown, media_done, eta_since";

fn parse<T: std::str::FromStr>(s: &str, what: &str) -> Result<T> {
    s.parse().map_err(|_| StoreError::Corrupt(format!("bad {what} '{s}'")))
}

pub(super) fn job_from_row(row: &PgRow) -> Result<Job> {
    let stage: Option<String> = row.try_get("stage")?;
    Ok(Job {
        job_id: JobId::from_uuid(row.try_get("id")?),
        batch_id: BatchId::from_uuid(row.try_get("batch_id")?),
        original_filename: row.try_get("original_filename")?,
        session_name: row.try_get("session_name")?,
        status: parse::<JobStatus>(row.try_get::<&str, _>("status")?, "job status")?,
        stage: stage.as_deref().map(|s| parse::<JobStage>(s, "stage")).transpose()?,
        progress: row.try_get("progress")?,
        media_duration: row.try_get("media_duration")?,
        attempts: row.try_get::<i32, _>("attempts")? as u32,
        worker: row.try_get("worker")?,
        heartbeat_at: row.try_get("heartbeat_at")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        completed_at: row.try_get("completed_at")?,
        error_message: row.try_get("error_message")?,
        error_code: row.try_get("error_code")?,
        warning: row.try_get("warning")?,
        session_id: SessionId::from_uuid(row.try_get("session_id")?),
        results_path: row.try_get("results_path")?,
        file_path: row.try_get("file_path")?,
        history: Vec::new(),
    })
}

fn count(row: &PgRow, col: &str) -> Result<u64> {
    Ok(row.try_get::<i32, _>(col)?.max(0) as u64)
}

pub(super) fn batch_from_row(row: &PgRow) -> Result<BatchRow> {
    let formats: String = row.try_get("formats")?;
    let formats = if formats.is_empty() {
        Vec::new()
    } else {
        OutputFormat::parse_list(&formats).map_err(|e| StoreError::Corrupt(e.to_string()))?
    };
    let name: String = row.try_get("name")?;
    let max_concurrent = row.try_get::<i32, _>("max_concurrent")?.max(1) as u32;
    Ok(BatchRow {
        id: BatchId::from_uuid(row.try_get("id")?),
        status: parse(row.try_get::<&str, _>("status")?, "batch status")?,
        settings: BatchSettings {
            name: name.clone(),
            max_concurrent,
            model: row.try_get("model")?,
            language: row.try_get("language")?,
            formats,
        },
        name,
        max_concurrent,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        completed_at: row.try_get("completed_at")?,
        error_message: row.try_get("error_message")?,
        counts: StatusCounts {
            queued: count(row, "n_queued")?,
            processing: count(row, "n_processing")?,
            completed: count(row, "n_completed")?,
            failed: count(row, "n_failed")?,
            skipped: count(row, "n_skipped")?,
            cancelled: count(row, "n_cancelled")?,
        },
        media_queued: row.try_get("media_queued")?,
        queued_unknown: count(row, "n_queued_unknown")?,
        media_done: row.try_get("media_done")?,
        eta_since: row.try_get("eta_since")?,
    })
}

pub(super) async fn batch_row(conn: &mut PgConnection, id: BatchId) -> Result<BatchRow> {
    let row = sqlx::query(&format!("SELECT {BATCH_COLUMNS} FROM batches WHERE id = $1"))
        .bind(id.as_uuid())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::BatchNotFound(id.to_string()))?;
    batch_from_row(&row)
}

/// The batch row, locked until the end of the transaction.
pub(super) async fn batch_row_for_update(conn: &mut PgConnection, id: BatchId) -> Result<BatchRow> {
    let row = sqlx::query(&format!("SELECT {BATCH_COLUMNS} FROM batches WHERE id = $1 FOR UPDATE"))
        .bind(id.as_uuid())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::BatchNotFound(id.to_string()))?;
    batch_from_row(&row)
}

/// (progress, media_duration) of the batch's running jobs.
pub(super) async fn running(conn: &mut PgConnection, id: BatchId) -> Result<Vec<(f64, Option<f64>)>> {
    let rows = sqlx::query("SELECT progress, media_duration FROM jobs WHERE batch_id = $1 AND status = 'processing'")
        .bind(id.as_uuid())
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}

pub(super) async fn summary(conn: &mut PgConnection, id: BatchId) -> Result<BatchSummary> {
    let row = batch_row(conn, id).await?;
    let running = running(conn, id).await?;
    Ok(row.summary(&running))
}

pub(super) async fn job(conn: &mut PgConnection, batch_id: BatchId, job_id: JobId) -> Result<Job> {
    let row = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 AND batch_id = $2"))
        .bind(job_id.as_uuid())
        .bind(batch_id.as_uuid())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::JobNotFound(job_id.to_string()))?;
    job_from_row(&row)
}

pub(super) async fn history(conn: &mut PgConnection, job_id: JobId) -> Result<Vec<Attempt>> {
    let rows = sqlx::query(
        "SELECT attempt, worker, started_at, ended_at, outcome, error_message FROM job_attempts WHERE job_id = $1 ORDER BY attempt",
    )
    .bind(job_id.as_uuid())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(attempt_from_row).collect()
}

pub(super) fn attempt_from_row(r: &PgRow) -> Result<Attempt> {
    Ok(Attempt {
        attempt: r.try_get::<i32, _>("attempt")? as u32,
        worker: r.try_get("worker")?,
        started_at: r.try_get("started_at")?,
        ended_at: r.try_get("ended_at")?,
        outcome: r.try_get("outcome")?,
        error_message: r.try_get("error_message")?,
    })
}

pub(super) async fn events_after(
    conn: &mut PgConnection,
    after: i64,
    batch: Option<BatchId>,
    limit: i64,
) -> Result<Vec<Event>> {
    let rows = match batch {
        Some(b) => {
            sqlx::query(
                "SELECT seq, kind, batch_id, job_id, at, data FROM events WHERE batch_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            )
            .bind(b.as_uuid())
            .bind(after)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?
        }
        None => {
            sqlx::query("SELECT seq, kind, batch_id, job_id, at, data FROM events WHERE seq > $1 ORDER BY seq LIMIT $2")
                .bind(after)
                .bind(limit)
                .fetch_all(&mut *conn)
                .await?
        }
    };
    rows.iter()
        .map(|r| {
            let kind: &str = r.try_get("kind")?;
            let job_id: Option<Uuid> = r.try_get("job_id")?;
            Ok(Event {
                seq: r.try_get("seq")?,
                kind: EventKind::parse(kind).ok_or_else(|| StoreError::Corrupt(format!("bad event kind '{kind}'")))?,
                batch_id: BatchId::from_uuid(r.try_get("batch_id")?),
                job_id: job_id.map(JobId::from_uuid),
                at: r.try_get("at")?,
                data: r.try_get("data")?,
            })
        })
        .collect()
}

/// Registered workers with the jobs each is running. A worker process registers as
/// `<name>` and leases jobs as `<name>/<slot>`; both forms count as its jobs.
pub(super) async fn workers(conn: &mut PgConnection) -> Result<Vec<WorkerInfo>> {
    let rows = sqlx::query(
        "SELECT w.name, w.slots, w.started_at, w.heartbeat_at,
                COALESCE(array_agg(j.id ORDER BY j.started_at, j.seqno) FILTER (WHERE j.id IS NOT NULL), '{}') AS running
         FROM workers w
         LEFT JOIN jobs j ON j.status = 'processing'
                         AND (j.worker = w.name OR left(j.worker, length(w.name) + 1) = w.name || '/')
         GROUP BY w.name, w.slots, w.started_at, w.heartbeat_at
         ORDER BY w.name",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            let running: Vec<Uuid> = r.try_get("running")?;
            Ok(WorkerInfo {
                name: r.try_get("name")?,
                slots: r.try_get::<i32, _>("slots")?.max(0) as u32,
                started_at: r.try_get("started_at")?,
                heartbeat_at: r.try_get("heartbeat_at")?,
                running_jobs: running.into_iter().map(JobId::from_uuid).collect(),
            })
        })
        .collect()
}
