//! Job-level operations: the worker's lease protocol and the user's cancel/retry.

use std::time::Duration;

use sqlx::Row;
use uuid::Uuid;
use vidscribe_core::{BatchId, BatchStatus, BatchSummary, EventKind, Job, JobId, JobStage, JobStatus};

use super::rows::{self, BATCH_COLUMNS, JOB_COLUMNS};
use super::tx::{in_tx, Tx};
use super::PgStore;
use crate::error::{Result, StoreError};
use crate::rules::{self, Finish};
use crate::types::{Claim, Failure, Heartbeat};

pub(super) fn emit_job(tx: &mut Tx<'_>, job: &Job) -> Result<()> {
    let data = serde_json::to_value(job).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    tx.event(EventKind::Job, job.batch_id, Some(job.job_id), data);
    Ok(())
}

pub(super) async fn emit_batch(tx: &mut Tx<'_>, batch_id: BatchId) -> Result<BatchSummary> {
    let summary = rows::summary(tx.conn(), batch_id).await?;
    let data = serde_json::to_value(&summary).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    tx.event(EventKind::Batch, batch_id, None, data);
    Ok(summary)
}

/// Seconds as a PostgreSQL interval parameter (`$n * interval '1 millisecond'`).
fn millis(d: Duration) -> f64 {
    d.as_millis() as f64
}

/// The batch event for a batch row this transaction already holds (saves re-reading it).
async fn emit_batch_row(tx: &mut Tx<'_>, batch: &rows::BatchRow) -> Result<()> {
    let running = rows::running(tx.conn(), batch.id).await?;
    let data = serde_json::to_value(batch.summary(&running)).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    tx.event(EventKind::Batch, batch.id, None, data);
    Ok(())
}

/// Moves the batch counters for one job going `from → to` (this takes the batch row lock,
/// after the job row's), then closes the batch if that was its last unfinished job.
/// Emits the batch event when counts of finished jobs changed. Returns the batch row.
/// `job` is the row as the transition left it.
async fn account(tx: &mut Tx<'_>, job: &Job, from: JobStatus, to: JobStatus) -> Result<rows::BatchRow> {
    let m = rules::media_delta(job, from, to);
    // Column names come from the status enum, never from input.
    let sql = format!(
        "UPDATE batches SET n_{from} = n_{from} - 1, n_{to} = n_{to} + 1,
                media_queued = GREATEST(0, media_queued + $2),
                n_queued_unknown = GREATEST(0, n_queued_unknown + $3), media_done = media_done + $4
         WHERE id = $1 RETURNING {BATCH_COLUMNS}",
        from = from.as_str(),
        to = to.as_str()
    );
    let row = sqlx::query(&sql)
        .bind(job.batch_id.as_uuid())
        .bind(m.queued_seconds)
        .bind(m.queued_unknown as i32)
        .bind(m.done_seconds)
        .fetch_optional(tx.conn())
        .await?
        .ok_or_else(|| StoreError::BatchNotFound(job.batch_id.to_string()))?;
    let mut batch = rows::batch_from_row(&row)?;
    if to.is_terminal() || from.is_terminal() {
        batch = close_if_done(tx, batch).await?;
        emit_batch_row(tx, &batch).await?;
    }
    Ok(batch)
}

async fn close_if_done(tx: &mut Tx<'_>, batch: rows::BatchRow) -> Result<rows::BatchRow> {
    if batch.status != BatchStatus::Processing {
        return Ok(batch);
    }
    let Some((status, message)) = rules::batch_outcome(&batch.counts) else { return Ok(batch) };
    let row = sqlx::query(&format!(
        "UPDATE batches SET status = $2, error_message = $3, completed_at = now()
         WHERE id = $1 AND status = 'processing' RETURNING {BATCH_COLUMNS}"
    ))
    .bind(batch.id.as_uuid())
    .bind(status.as_str())
    .bind(message)
    .fetch_optional(tx.conn())
    .await?;
    match row {
        Some(r) => rows::batch_from_row(&r),
        None => Ok(batch),
    }
}

fn lease_lost(claim: &Claim) -> StoreError {
    StoreError::WrongState {
        code: vidscribe_core::Code::LeaseLost,
        message: format!("job {} is no longer leased to {} (attempt {})", claim.job_id, claim.worker, claim.attempt),
    }
}

pub(super) async fn get(store: &PgStore, batch_id: BatchId, job_id: JobId) -> Result<Job> {
    let mut conn = store.pool.acquire().await?;
    let mut job = rows::job(&mut conn, batch_id, job_id).await?;
    job.history = rows::history(&mut conn, job_id).await?;
    Ok(job)
}

/// One short transaction:
/// 1. lock the oldest processing batch that has a runnable queued job and a free slot
///    (`n_processing < max_concurrent`). This is a *blocking* `FOR UPDATE`: claimers of
///    the same batch queue up on its row for the few milliseconds a claim takes, and
///    PostgreSQL re-checks the condition on the newest row version once the lock is
///    granted, so a batch that filled up meanwhile is passed over for the next one. The
///    counter on the locked row is therefore the truth for `max_concurrent` on every node.
/// 2. take its oldest runnable job with `FOR UPDATE SKIP LOCKED` (never waits: a job row
///    locked by a cancel or retry in flight is simply not this claim's),
/// 3. mark it processing with a lease on the database clock, record the attempt, bump the
///    counters, append the event; COMMIT. No transaction outlives the claim.
pub(super) async fn claim(store: &PgStore, worker: &str, lease: Duration) -> Result<Option<Claim>> {
    in_tx!(store, |tx| {
        let batch_id: Option<Uuid> = sqlx::query_scalar(
            "SELECT b.id FROM batches b
             WHERE b.status = 'processing' AND b.n_queued > 0 AND b.n_processing < b.max_concurrent
               AND EXISTS (SELECT 1 FROM jobs j
                           WHERE j.batch_id = b.id AND j.status = 'queued'
                             AND (j.not_before IS NULL OR j.not_before <= now()))
             ORDER BY b.started_at, b.id
             LIMIT 1
             FOR UPDATE OF b",
        )
        .fetch_optional(tx.conn())
        .await?;
        let Some(batch_id) = batch_id else { return Ok(None) };
        // Job row: the oldest runnable one nobody else holds; the attempt row goes with it.
        let row = sqlx::query(&format!(
            "WITH j AS (
                UPDATE jobs SET status = 'processing', worker = $2, attempts = attempts + 1,
                        auto_attempts = auto_attempts + 1,
                        lease_expires_at = now() + $3 * interval '1 millisecond', heartbeat_at = now(),
                        started_at = now(), completed_at = NULL, stage = 'loading_model', progress = 0,
                        error_message = NULL, error_code = NULL, cancel_requested = false, not_before = NULL
                WHERE seqno = (SELECT seqno FROM jobs
                               WHERE batch_id = $1 AND status = 'queued'
                                 AND (not_before IS NULL OR not_before <= now())
                               ORDER BY seqno LIMIT 1 FOR UPDATE SKIP LOCKED)
                  AND status = 'queued'
                RETURNING {JOB_COLUMNS}, lease_expires_at
             ), a AS (
                INSERT INTO job_attempts (job_id, attempt, worker, started_at)
                SELECT id, attempts, worker, now() FROM j
                ON CONFLICT (job_id, attempt) DO UPDATE SET worker = excluded.worker, started_at = excluded.started_at,
                       ended_at = NULL, outcome = NULL, error_message = NULL
             )
             SELECT * FROM j"
        ))
        .bind(batch_id)
        .bind(worker)
        .bind(millis(lease))
        .fetch_optional(tx.conn())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let job = rows::job_from_row(&row)?;
        let lease_expires_at: chrono::DateTime<chrono::Utc> = row.try_get("lease_expires_at")?;
        let batch = account(&mut tx, &job, JobStatus::Queued, JobStatus::Processing).await?;
        emit_job(&mut tx, &job)?;
        Ok(Some(Claim {
            batch_id: job.batch_id,
            job_id: job.job_id,
            worker: worker.to_string(),
            attempt: job.attempts,
            settings: batch.settings,
            lease_expires_at,
            job,
        }))
    })
}

pub(super) async fn heartbeat(
    store: &PgStore,
    claim: &Claim,
    lease: Duration,
    stage: Option<JobStage>,
    progress: Option<f64>,
) -> Result<Heartbeat> {
    in_tx!(store, |tx| {
        // Heartbeats are the most frequent writes (≤ 2/s per running job) and losing the
        // last ones in a database crash is harmless (the lease just looks older), so they
        // do not wait for a WAL flush.
        sqlx::query("SET LOCAL synchronous_commit TO OFF").execute(tx.conn()).await?;
        let before = sqlx::query(
            "SELECT stage, progress, cancel_requested FROM jobs
             WHERE id = $1 AND status = 'processing' AND worker = $2 AND attempts = $3 FOR UPDATE",
        )
        .bind(claim.job_id.as_uuid())
        .bind(&claim.worker)
        .bind(claim.attempt as i32)
        .fetch_optional(tx.conn())
        .await?;
        let Some(before) = before else { return Ok(Heartbeat::Lost) };
        let old_stage: Option<String> = before.try_get("stage")?;
        let old_progress: f64 = before.try_get("progress")?;
        let cancel: bool = before.try_get("cancel_requested")?;
        let new_progress = progress.map(|p| p.clamp(0.0, 1.0)).unwrap_or(old_progress);
        let new_stage = stage.map(|s| s.as_str().to_string()).or(old_stage.clone());
        let row = sqlx::query(&format!(
            "UPDATE jobs SET lease_expires_at = now() + $2 * interval '1 millisecond', heartbeat_at = now(), stage = $3, progress = $4
             WHERE id = $1 AND status = 'processing' RETURNING {JOB_COLUMNS}"
        ))
        .bind(claim.job_id.as_uuid())
        .bind(millis(lease))
        .bind(&new_stage)
        .bind(new_progress)
        .fetch_one(tx.conn())
        .await?;
        if new_stage != old_stage || (new_progress - old_progress).abs() > f64::EPSILON {
            let job = rows::job_from_row(&row)?;
            emit_job(&mut tx, &job)?;
        }
        Ok(if cancel { Heartbeat::CancelRequested } else { Heartbeat::Continue })
    })
}

/// Ends the claimed attempt: `processing → to`, fenced by worker and attempt number.
async fn finish(store: &PgStore, claim: &Claim, f: Finish<'_>) -> Result<Job> {
    JobStatus::Processing.check(f.to)?;
    let (stage, progress_sql, completed_sql) = match f.to {
        JobStatus::Completed => (Some(JobStage::Done.as_str()), "1.0", "now()"),
        JobStatus::Queued => (None, "0.0", "NULL"),
        _ => (None, "progress", "now()"),
    };
    in_tx!(store, |tx| {
        let row = sqlx::query(&format!(
            "WITH j AS (
                UPDATE jobs SET status = $4, stage = $5, progress = {progress_sql}, completed_at = {completed_sql},
                    error_code = $6, error_message = $7, lease_expires_at = NULL,
                    media_duration = COALESCE($8, media_duration),
                    not_before = CASE WHEN $9::float8 IS NULL THEN NULL ELSE now() + $9 * interval '1 millisecond' END,
                    auto_attempts = GREATEST(0, auto_attempts + $10), cancel_requested = false, warning = $12
             WHERE id = $1 AND status = 'processing' AND worker = $2 AND attempts = $3 RETURNING {JOB_COLUMNS}
             ), a AS (
                UPDATE job_attempts SET ended_at = now(), outcome = $11, error_message = $7
                WHERE job_id = $1 AND attempt = $3 AND EXISTS (SELECT 1 FROM j)
             )
             SELECT * FROM j"
        ))
        .bind(claim.job_id.as_uuid())
        .bind(&claim.worker)
        .bind(claim.attempt as i32)
        .bind(f.to.as_str())
        .bind(stage)
        .bind(f.error().map(|e| e.0))
        .bind(f.error().map(|e| e.1))
        .bind(f.media_duration)
        .bind(f.not_before.map(millis))
        .bind(f.auto_attempts_delta)
        .bind(f.outcome)
        .bind(f.warning)
        .fetch_optional(tx.conn())
        .await?
        .ok_or_else(|| lease_lost(claim))?;
        let job = rows::job_from_row(&row)?;
        // `job` is the updated row: a duration learned while decoding counts in the sums.
        emit_job(&mut tx, &job)?;
        account(&mut tx, &job, JobStatus::Processing, f.to).await?;
        Ok(job)
    })
}

pub(super) async fn complete(
    store: &PgStore,
    claim: &Claim,
    media_duration: Option<f64>,
    warning: Option<&str>,
) -> Result<Job> {
    finish(store, claim, Finish::completed(media_duration, warning)).await
}

pub(super) async fn fail(store: &PgStore, claim: &Claim, failure: Failure) -> Result<Job> {
    let auto_attempts: i32 = sqlx::query_scalar("SELECT auto_attempts FROM jobs WHERE id = $1")
        .bind(claim.job_id.as_uuid())
        .fetch_optional(&store.pool)
        .await?
        .ok_or_else(|| StoreError::JobNotFound(claim.job_id.to_string()))?;
    finish(store, claim, Finish::failed(&failure, claim.attempt, auto_attempts.max(0) as u32)).await
}

pub(super) async fn finish_cancelled(store: &PgStore, claim: &Claim) -> Result<Job> {
    finish(store, claim, Finish::cancelled()).await
}

pub(super) async fn release(store: &PgStore, claim: &Claim) -> Result<Job> {
    finish(store, claim, Finish::released()).await
}

/// Re-queues (or gives up on) expired leases, one job per transaction, taking each with
/// `SKIP LOCKED`: any number of nodes may reap at once without waiting for each other or
/// handling a job twice, and no transaction holds one batch's lock while waiting for
/// another job (lock order: job, then batch).
pub(super) async fn requeue_expired(store: &PgStore, max_attempts: u32) -> Result<usize> {
    let mut n = 0;
    loop {
        let done: bool = in_tx!(store, |tx| {
            let expired = sqlx::query(
                "SELECT id, worker, attempts, auto_attempts FROM jobs
                 WHERE status = 'processing' AND lease_expires_at < now()
                 ORDER BY lease_expires_at LIMIT 1 FOR UPDATE SKIP LOCKED",
            )
            .fetch_optional(tx.conn())
            .await?;
            let Some(r) = expired else { return Ok(true) };
            let id: Uuid = r.try_get("id")?;
            let worker: Option<String> = r.try_get("worker")?;
            let attempts: i32 = r.try_get("attempts")?;
            let auto_attempts: i32 = r.try_get("auto_attempts")?;
            let give_up = auto_attempts.max(0) as u32 >= max_attempts;
            let (to, message) = if give_up {
                (
                    JobStatus::Failed,
                    Some(format!(
                        "the worker running this job stopped responding {auto_attempts} times (last: {}); giving up",
                        worker.as_deref().unwrap_or("unknown")
                    )),
                )
            } else {
                (JobStatus::Queued, None)
            };
            let row = sqlx::query(&format!(
                "UPDATE jobs SET status = $2, stage = NULL, lease_expires_at = NULL,
                        progress = CASE WHEN $2 = 'queued' THEN 0 ELSE progress END,
                        completed_at = CASE WHEN $2 = 'failed' THEN now() ELSE NULL END,
                        error_code = CASE WHEN $2 = 'failed' THEN 'worker_lost' ELSE NULL END,
                        error_message = $3
                 WHERE id = $1 AND status = 'processing' RETURNING {JOB_COLUMNS}"
            ))
            .bind(id)
            .bind(to.as_str())
            .bind(&message)
            .fetch_one(tx.conn())
            .await?;
            let job = rows::job_from_row(&row)?;
            sqlx::query(
                "UPDATE job_attempts SET ended_at = now(), outcome = 'lease_expired', error_message = $3
                 WHERE job_id = $1 AND attempt = $2",
            )
            .bind(id)
            .bind(attempts)
            .bind(&message)
            .execute(tx.conn())
            .await?;
            tracing::warn!(job_id = %id, worker = ?worker, requeued = !give_up, "job lease expired");
            emit_job(&mut tx, &job)?;
            account(&mut tx, &job, JobStatus::Processing, to).await?;
            Ok(false)
        })?;
        if done {
            return Ok(n);
        }
        n += 1;
    }
}

pub(super) async fn cancel(store: &PgStore, batch_id: BatchId, job_id: JobId) -> Result<Job> {
    in_tx!(store, |tx| {
        let row = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 AND batch_id = $2 FOR UPDATE"))
            .bind(job_id.as_uuid())
            .bind(batch_id.as_uuid())
            .fetch_optional(tx.conn())
            .await?
            .ok_or_else(|| StoreError::JobNotFound(job_id.to_string()))?;
        let job = rows::job_from_row(&row)?;
        match job.status {
            JobStatus::Queued => {
                let row = sqlx::query(&format!(
                    "UPDATE jobs SET status = 'skipped', stage = NULL, completed_at = now()
                     WHERE id = $1 AND status = 'queued' RETURNING {JOB_COLUMNS}"
                ))
                .bind(job_id.as_uuid())
                .fetch_one(tx.conn())
                .await?;
                let job = rows::job_from_row(&row)?;
                emit_job(&mut tx, &job)?;
                account(&mut tx, &job, JobStatus::Queued, JobStatus::Skipped).await?;
                Ok(job)
            }
            JobStatus::Processing => {
                sqlx::query("UPDATE jobs SET cancel_requested = true WHERE id = $1 AND status = 'processing'")
                    .bind(job_id.as_uuid())
                    .execute(tx.conn())
                    .await?;
                Ok(job)
            }
            other => Err(StoreError::WrongState {
                code: vidscribe_core::Code::WrongState,
                message: format!("a {other} job cannot be cancelled"),
            }),
        }
    })
}

pub(super) async fn retry(store: &PgStore, batch_id: BatchId, job_id: JobId) -> Result<Job> {
    in_tx!(store, |tx| {
        // Lock order: the job row, then the batch row.
        let row = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 AND batch_id = $2 FOR UPDATE"))
            .bind(job_id.as_uuid())
            .bind(batch_id.as_uuid())
            .fetch_optional(tx.conn())
            .await?
            .ok_or_else(|| StoreError::JobNotFound(job_id.to_string()))?;
        let job = rows::job_from_row(&row)?;
        if !job.status.is_retryable() {
            return Err(StoreError::WrongState {
                code: vidscribe_core::Code::WrongState,
                message: format!("only failed, skipped or cancelled jobs can be retried; this job is {}", job.status),
            });
        }
        let batch = rows::batch_row_for_update(tx.conn(), batch_id).await?;
        if batch.status.is_terminal() {
            batch.status.check(BatchStatus::Processing)?;
            sqlx::query(
                "UPDATE batches SET status = 'processing', completed_at = NULL, error_message = NULL,
                        eta_since = now(), media_done = 0, started_at = COALESCE(started_at, now())
                 WHERE id = $1",
            )
            .bind(batch_id.as_uuid())
            .execute(tx.conn())
            .await?;
        }
        let row = sqlx::query(&format!(
            "UPDATE jobs SET status = 'queued', stage = NULL, progress = 0, completed_at = NULL, error_message = NULL,
                    error_code = NULL, cancel_requested = false, auto_attempts = 0, not_before = NULL, lease_expires_at = NULL
             WHERE id = $1 AND status = $2 RETURNING {JOB_COLUMNS}"
        ))
        .bind(job_id.as_uuid())
        .bind(job.status.as_str())
        .fetch_one(tx.conn())
        .await?;
        let retried = rows::job_from_row(&row)?;
        emit_job(&mut tx, &retried)?;
        account(&mut tx, &retried, job.status, JobStatus::Queued).await?;
        Ok(retried)
    })
}
