//! Row ↔ domain conversions and the read queries shared by several operations.

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
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

/// Fixed-width RFC 3339 (milliseconds, `Z`), so text order is time order.
pub(super) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(super) fn parse_ts(s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("bad timestamp '{s}': {e}")))
}

fn opt_ts(row: &SqliteRow, col: &str) -> Result<Option<DateTime<Utc>>> {
    let v: Option<String> = row.try_get(col)?;
    v.as_deref().map(parse_ts).transpose()
}

pub(super) fn parse<T: std::str::FromStr>(s: &str, what: &str) -> Result<T> {
    s.parse().map_err(|_| StoreError::Corrupt(format!("bad {what} '{s}'")))
}

pub(super) fn job_from_row(row: &SqliteRow) -> Result<Job> {
    let stage: Option<String> = row.try_get("stage")?;
    Ok(Job {
        job_id: parse(row.try_get::<&str, _>("id")?, "job id")?,
        batch_id: parse(row.try_get::<&str, _>("batch_id")?, "batch id")?,
        original_filename: row.try_get("original_filename")?,
        session_name: row.try_get("session_name")?,
        status: parse::<JobStatus>(row.try_get::<&str, _>("status")?, "job status")?,
        stage: stage.as_deref().map(|s| parse::<JobStage>(s, "stage")).transpose()?,
        progress: row.try_get("progress")?,
        media_duration: row.try_get("media_duration")?,
        attempts: row.try_get::<i64, _>("attempts")? as u32,
        worker: row.try_get("worker")?,
        heartbeat_at: opt_ts(row, "heartbeat_at")?,
        created_at: parse_ts(row.try_get::<&str, _>("created_at")?)?,
        started_at: opt_ts(row, "started_at")?,
        completed_at: opt_ts(row, "completed_at")?,
        error_message: row.try_get("error_message")?,
        error_code: row.try_get("error_code")?,
        warning: row.try_get("warning")?,
        session_id: parse::<SessionId>(row.try_get::<&str, _>("session_id")?, "session id")?,
        results_path: row.try_get("results_path")?,
        file_path: row.try_get("file_path")?,
        history: Vec::new(),
    })
}

pub(super) fn batch_from_row(row: &SqliteRow) -> Result<BatchRow> {
    let formats: String = row.try_get("formats")?;
    let formats = if formats.is_empty() {
        Vec::new()
    } else {
        OutputFormat::parse_list(&formats).map_err(|e| StoreError::Corrupt(e.to_string()))?
    };
    let name: String = row.try_get("name")?;
    let max_concurrent = row.try_get::<i64, _>("max_concurrent")? as u32;
    Ok(BatchRow {
        id: parse(row.try_get::<&str, _>("id")?, "batch id")?,
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
        created_at: parse_ts(row.try_get::<&str, _>("created_at")?)?,
        started_at: opt_ts(row, "started_at")?,
        completed_at: opt_ts(row, "completed_at")?,
        error_message: row.try_get("error_message")?,
        counts: StatusCounts {
            queued: row.try_get::<i64, _>("n_queued")? as u64,
            processing: row.try_get::<i64, _>("n_processing")? as u64,
            completed: row.try_get::<i64, _>("n_completed")? as u64,
            failed: row.try_get::<i64, _>("n_failed")? as u64,
            skipped: row.try_get::<i64, _>("n_skipped")? as u64,
            cancelled: row.try_get::<i64, _>("n_cancelled")? as u64,
        },
        media_queued: row.try_get("media_queued")?,
        queued_unknown: row.try_get::<i64, _>("n_queued_unknown")?.max(0) as u64,
        media_done: row.try_get("media_done")?,
        eta_since: opt_ts(row, "eta_since")?,
    })
}

pub(super) async fn batch_row(conn: &mut SqliteConnection, id: BatchId) -> Result<BatchRow> {
    let row = sqlx::query(&format!("SELECT {BATCH_COLUMNS} FROM batches WHERE id = ?1"))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::BatchNotFound(id.to_string()))?;
    batch_from_row(&row)
}

/// (progress, media_duration) of the batch's running jobs.
pub(super) async fn running(conn: &mut SqliteConnection, id: BatchId) -> Result<Vec<(f64, Option<f64>)>> {
    let rows = sqlx::query("SELECT progress, media_duration FROM jobs WHERE batch_id = ?1 AND status = 'processing'")
        .bind(id.to_string())
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}

pub(super) async fn summary(conn: &mut SqliteConnection, id: BatchId) -> Result<BatchSummary> {
    let row = batch_row(conn, id).await?;
    let running = running(conn, id).await?;
    Ok(row.summary(&running))
}

pub(super) async fn job(conn: &mut SqliteConnection, batch_id: BatchId, job_id: JobId) -> Result<Job> {
    let row = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1 AND batch_id = ?2"))
        .bind(job_id.to_string())
        .bind(batch_id.to_string())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::JobNotFound(job_id.to_string()))?;
    job_from_row(&row)
}

pub(super) async fn history(conn: &mut SqliteConnection, job_id: JobId) -> Result<Vec<Attempt>> {
    let rows = sqlx::query(
        "SELECT attempt, worker, started_at, ended_at, outcome, error_message FROM job_attempts WHERE job_id = ?1 ORDER BY attempt",
    )
    .bind(job_id.to_string())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(attempt_from_row).collect()
}

pub(super) fn attempt_from_row(r: &SqliteRow) -> Result<Attempt> {
    Ok(Attempt {
        attempt: r.try_get::<i64, _>("attempt")? as u32,
        worker: r.try_get("worker")?,
        started_at: parse_ts(r.try_get::<&str, _>("started_at")?)?,
        ended_at: opt_ts(r, "ended_at")?,
        outcome: r.try_get("outcome")?,
        error_message: r.try_get("error_message")?,
    })
}

pub(super) async fn events_after(
    conn: &mut SqliteConnection,
    after: i64,
    batch: Option<BatchId>,
    limit: i64,
) -> Result<Vec<Event>> {
    let rows = match batch {
        Some(b) => {
            sqlx::query("SELECT seq, kind, batch_id, job_id, at, data FROM events WHERE batch_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3")
                .bind(b.to_string())
                .bind(after)
                .bind(limit)
                .fetch_all(&mut *conn)
                .await?
        }
        None => {
            sqlx::query("SELECT seq, kind, batch_id, job_id, at, data FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2")
                .bind(after)
                .bind(limit)
                .fetch_all(&mut *conn)
                .await?
        }
    };
    rows.iter()
        .map(|r| {
            let kind: &str = r.try_get("kind")?;
            let job_id: Option<String> = r.try_get("job_id")?;
            let data: &str = r.try_get("data")?;
            Ok(Event {
                seq: r.try_get("seq")?,
                kind: EventKind::parse(kind).ok_or_else(|| StoreError::Corrupt(format!("bad event kind '{kind}'")))?,
                batch_id: parse(r.try_get::<&str, _>("batch_id")?, "batch id")?,
                job_id: job_id.as_deref().map(|j| parse(j, "job id")).transpose()?,
                at: parse_ts(r.try_get::<&str, _>("at")?)?,
                data: serde_json::from_str(data).map_err(|e| StoreError::Corrupt(format!("bad event data: {e}")))?,
            })
        })
        .collect()
}

pub(super) async fn workers(conn: &mut SqliteConnection) -> Result<Vec<WorkerInfo>> {
    let rows = sqlx::query("SELECT name, slots, started_at, heartbeat_at FROM workers ORDER BY name")
        .fetch_all(&mut *conn)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let name: String = r.try_get("name")?;
        // A worker process registers as `<name>` and its slots lease jobs as `<name>/<slot>`.
        let running: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM jobs WHERE status = 'processing'
               AND (worker = ?1 OR substr(worker, 1, length(?1) + 1) = ?1 || '/')
             ORDER BY started_at, seqno",
        )
        .bind(&name)
        .fetch_all(&mut *conn)
        .await?;
        out.push(WorkerInfo {
            slots: r.try_get::<i64, _>("slots")? as u32,
            started_at: parse_ts(r.try_get::<&str, _>("started_at")?)?,
            heartbeat_at: parse_ts(r.try_get::<&str, _>("heartbeat_at")?)?,
            running_jobs: running.iter().map(|s| parse(s, "job id")).collect::<Result<_>>()?,
            name,
        });
    }
    Ok(out)
}
