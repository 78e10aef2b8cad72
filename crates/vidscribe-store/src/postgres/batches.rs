//! Batch-level operations.

use std::collections::HashMap;

use sqlx::Row;
use uuid::Uuid;
use vidscribe_core::{Batch, BatchId, BatchSettings, BatchStatus, BatchSummary, EventKind, Job, JobId, JobStatus};

use super::jobs::{emit_batch, emit_job};
use super::rows::{self, JOB_COLUMNS};
use super::tx::in_tx;
use super::PgStore;
use crate::error::{Result, StoreError};
use crate::types::{DeletedBatch, NewJob};

pub(super) async fn create(store: &PgStore, id: BatchId, s: &BatchSettings) -> Result<Batch> {
    let formats: Vec<&str> = s.formats.iter().map(|f| f.as_str()).collect();
    in_tx!(store, |tx| {
        sqlx::query(
            "INSERT INTO batches (id, name, max_concurrent, status, model, language, formats, created_at)
             VALUES ($1, $2, $3, 'pending', $4, $5, $6, now())",
        )
        .bind(id.as_uuid())
        .bind(&s.name)
        .bind(s.max_concurrent as i32)
        .bind(&s.model)
        .bind(&s.language)
        .bind(formats.join(","))
        .execute(tx.conn())
        .await?;
        emit_batch(&mut tx, id).await?;
        Ok(())
    })?;
    get(store, id).await
}

pub(super) async fn add_jobs(store: &PgStore, batch_id: BatchId, jobs: Vec<NewJob>) -> Result<Vec<Job>> {
    in_tx!(store, |tx| {
        let batch = rows::batch_row_for_update(tx.conn(), batch_id).await?;
        if batch.status != BatchStatus::Pending {
            return Err(StoreError::WrongState {
                code: vidscribe_core::Code::BatchNotPending,
                message: format!("videos can only be added to a pending batch; this batch is {}", batch.status),
            });
        }
        let mut out = Vec::with_capacity(jobs.len());
        let mut media = 0.0;
        let mut unknown = 0i32;
        for j in &jobs {
            let row = sqlx::query(&format!(
                "INSERT INTO jobs (id, batch_id, original_filename, session_name, session_id, file_path, results_path,
                                   status, media_duration, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', $8, now()) RETURNING {JOB_COLUMNS}"
            ))
            .bind(j.job_id.as_uuid())
            .bind(batch_id.as_uuid())
            .bind(&j.original_filename)
            .bind(&j.session_name)
            .bind(j.session_id.as_uuid())
            .bind(&j.file_path)
            .bind(Job::results_path_for(j.session_id))
            .bind(j.media_duration)
            .fetch_one(tx.conn())
            .await?;
            let job = rows::job_from_row(&row)?;
            media += j.media_duration.unwrap_or(0.0);
            unknown += i32::from(j.media_duration.is_none());
            emit_job(&mut tx, &job)?;
            out.push(job);
        }
        sqlx::query(
            "UPDATE batches SET n_queued = n_queued + $2, media_queued = media_queued + $3,
                    n_queued_unknown = n_queued_unknown + $4
             WHERE id = $1",
        )
        .bind(batch_id.as_uuid())
        .bind(jobs.len() as i32)
        .bind(media)
        .bind(unknown)
        .execute(tx.conn())
        .await?;
        emit_batch(&mut tx, batch_id).await?;
        Ok(out)
    })
}

pub(super) async fn start(store: &PgStore, batch_id: BatchId) -> Result<BatchSummary> {
    in_tx!(store, |tx| {
        let batch = rows::batch_row_for_update(tx.conn(), batch_id).await?;
        if batch.status != BatchStatus::Pending {
            return Err(StoreError::WrongState {
                code: vidscribe_core::Code::BatchNotPending,
                message: format!("only a pending batch can be started; this batch is {}", batch.status),
            });
        }
        if batch.counts.total() == 0 {
            return Err(StoreError::Invalid {
                code: vidscribe_core::Code::EmptyBatch,
                message: "add at least one video before starting the batch".into(),
            });
        }
        sqlx::query(
            "UPDATE batches SET status = 'processing', started_at = now(), eta_since = now() WHERE id = $1 AND status = 'pending'",
        )
        .bind(batch_id.as_uuid())
        .execute(tx.conn())
        .await?;
        emit_batch(&mut tx, batch_id).await
    })
}

pub(super) async fn get(store: &PgStore, batch_id: BatchId) -> Result<Batch> {
    // One REPEATABLE READ transaction, so the batch row and its jobs are one snapshot.
    let mut tx = super::tx::begin(&store.pool).await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
    let row = rows::batch_row(&mut tx, batch_id).await?;
    let job_rows = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE batch_id = $1 ORDER BY seqno"))
        .bind(batch_id.as_uuid())
        .fetch_all(&mut *tx)
        .await?;
    let mut jobs = job_rows.iter().map(rows::job_from_row).collect::<Result<Vec<_>>>()?;
    let attempt_rows = sqlx::query(
        "SELECT a.job_id, a.attempt, a.worker, a.started_at, a.ended_at, a.outcome, a.error_message
         FROM job_attempts a JOIN jobs j ON j.id = a.job_id WHERE j.batch_id = $1 ORDER BY a.job_id, a.attempt",
    )
    .bind(batch_id.as_uuid())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut by_job: HashMap<Uuid, Vec<vidscribe_core::Attempt>> = HashMap::new();
    for r in &attempt_rows {
        let id: Uuid = r.try_get("job_id")?;
        by_job.entry(id).or_default().push(rows::attempt_from_row(r)?);
    }
    for j in &mut jobs {
        if let Some(h) = by_job.remove(&j.job_id.as_uuid()) {
            j.history = h;
        }
    }
    let running: Vec<(f64, Option<f64>)> =
        jobs.iter().filter(|j| j.status == JobStatus::Processing).map(|j| (j.progress, j.media_duration)).collect();
    Ok(Batch {
        batch_id: row.id,
        name: row.name.clone(),
        max_concurrent: row.max_concurrent,
        status: row.status,
        created_at: row.created_at,
        started_at: row.started_at,
        completed_at: row.completed_at,
        total_duration: row.total_duration(),
        error_message: row.error_message.clone(),
        model: row.settings.model.clone(),
        language: row.settings.language.clone(),
        formats: row.settings.formats.clone(),
        progress: row.progress(&running),
        jobs,
    })
}

pub(super) async fn list(store: &PgStore) -> Result<Vec<BatchSummary>> {
    // Two set queries (batches, then the running jobs of processing batches), not one per batch.
    let mut tx = super::tx::begin(&store.pool).await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
    let batch_rows =
        sqlx::query(&format!("SELECT {} FROM batches ORDER BY created_at DESC, id DESC", rows::BATCH_COLUMNS))
            .fetch_all(&mut *tx)
            .await?;
    let running_rows = sqlx::query(
        "SELECT j.batch_id, j.progress, j.media_duration FROM jobs j JOIN batches b ON b.id = j.batch_id
         WHERE j.status = 'processing'",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let batches = batch_rows.iter().map(rows::batch_from_row).collect::<Result<Vec<_>>>()?;
    let running = running_rows
        .iter()
        .map(|r| Ok((BatchId::from_uuid(r.try_get("batch_id")?), r.try_get("progress")?, r.try_get("media_duration")?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(crate::batch_row::list_summaries(batches, running))
}

pub(super) async fn cancel(store: &PgStore, batch_id: BatchId) -> Result<Vec<JobId>> {
    in_tx!(store, |tx| {
        // Check first without a lock, then lock job rows before the batch row (lock order).
        let batch = rows::batch_row(tx.conn(), batch_id).await?;
        batch.status.check(BatchStatus::Cancelled).map_err(|_| StoreError::WrongState {
            code: vidscribe_core::Code::WrongState,
            message: format!("a {} batch cannot be cancelled", batch.status),
        })?;
        let skipped = sqlx::query(&format!(
            "UPDATE jobs SET status = 'skipped', stage = NULL, completed_at = now()
             WHERE batch_id = $1 AND status = 'queued' RETURNING {JOB_COLUMNS}, seqno"
        ))
        .bind(batch_id.as_uuid())
        .fetch_all(tx.conn())
        .await?;
        let running: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE jobs SET cancel_requested = true WHERE batch_id = $1 AND status = 'processing' RETURNING id",
        )
        .bind(batch_id.as_uuid())
        .fetch_all(tx.conn())
        .await?;
        let mut skipped_jobs = skipped
            .iter()
            .map(|r| Ok((r.try_get::<i64, _>("seqno")?, rows::job_from_row(r)?)))
            .collect::<Result<Vec<_>>>()?;
        skipped_jobs.sort_by_key(|(s, _)| *s);
        let skipped_media: f64 = skipped_jobs.iter().map(|(_, j)| j.media_duration.unwrap_or(0.0)).sum();
        let skipped_unknown = skipped_jobs.iter().filter(|(_, j)| j.media_duration.is_none()).count() as i32;
        let done = sqlx::query(
            "UPDATE batches SET status = 'cancelled', completed_at = now(), n_skipped = n_skipped + $2,
                                n_queued = n_queued - $2, media_queued = GREATEST(0, media_queued - $3),
                                n_queued_unknown = GREATEST(0, n_queued_unknown - $4)
             WHERE id = $1 AND status IN ('pending', 'processing')",
        )
        .bind(batch_id.as_uuid())
        .bind(skipped_jobs.len() as i32)
        .bind(skipped_media)
        .bind(skipped_unknown)
        .execute(tx.conn())
        .await?;
        if done.rows_affected() == 0 {
            // It finished (or was cancelled) while we were locking its jobs.
            let now = rows::batch_row(tx.conn(), batch_id).await?;
            return Err(StoreError::WrongState {
                code: vidscribe_core::Code::WrongState,
                message: format!("a {} batch cannot be cancelled", now.status),
            });
        }
        for (_, job) in &skipped_jobs {
            emit_job(&mut tx, job)?;
        }
        emit_batch(&mut tx, batch_id).await?;
        Ok(running.into_iter().map(JobId::from_uuid).collect())
    })
}

pub(super) async fn delete(store: &PgStore, batch_id: BatchId) -> Result<DeletedBatch> {
    in_tx!(store, |tx| {
        // Lock order: the jobs, then the batch.
        let paths =
            sqlx::query("SELECT file_path, results_path FROM jobs WHERE batch_id = $1 ORDER BY seqno FOR UPDATE")
                .bind(batch_id.as_uuid())
                .fetch_all(tx.conn())
                .await?;
        let batch = rows::batch_row_for_update(tx.conn(), batch_id).await?;
        if batch.counts.processing > 0 {
            return Err(StoreError::wrong_state(
                "the batch still has running jobs; cancel it and wait for them to stop",
            ));
        }
        let mut deleted = DeletedBatch::default();
        for r in &paths {
            deleted.file_paths.push(r.try_get("file_path")?);
            deleted.results_paths.push(r.try_get("results_path")?);
        }
        sqlx::query("DELETE FROM events WHERE batch_id = $1").bind(batch_id.as_uuid()).execute(tx.conn()).await?;
        sqlx::query("DELETE FROM batches WHERE id = $1").bind(batch_id.as_uuid()).execute(tx.conn()).await?;
        tx.event(EventKind::Deleted, batch_id, None, serde_json::json!({ "batch_id": batch_id }));
        Ok(deleted)
    })
}
