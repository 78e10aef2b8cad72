//! Job-level operations: the worker's lease protocol and the user's cancel/retry.

use std::time::Duration;

use chrono::Utc;
use sqlx::Row;
use vidscribe_core::{BatchId, BatchStatus, EventKind, Job, JobId, JobStage, JobStatus};

use super::batches::in_tx;
use super::rows::{self, ts, BATCH_COLUMNS, JOB_COLUMNS};
use super::writer::{Script, WriteTx};
use super::SqliteStore;
use crate::error::{Result, StoreError};
use crate::rules::{self, Finish};
use crate::types::{Claim, Failure, Heartbeat};

pub(super) async fn emit_job(tx: &mut WriteTx<'_>, job: &Job) -> Result<()> {
    let data = serde_json::to_value(job).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    tx.event(EventKind::Job, job.batch_id, Some(job.job_id), data).await
}

pub(super) async fn emit_batch(tx: &mut WriteTx<'_>, batch_id: BatchId) -> Result<vidscribe_core::BatchSummary> {
    let summary = rows::summary(tx.conn(), batch_id).await?;
    let data = serde_json::to_value(&summary).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    tx.event(EventKind::Batch, batch_id, None, data).await?;
    Ok(summary)
}

/// Moves the batch counters for one job going `from → to`, then closes the batch if that
/// was its last unfinished job. Emits the batch event when counts of finished jobs changed.
/// `job` is the row as the transition left it.
async fn account(tx: &mut WriteTx<'_>, job: &Job, from: JobStatus, to: JobStatus) -> Result<()> {
    let m = rules::media_delta(job, from, to);
    // Column names come from the status enum, never from input.
    let sql = format!(
        "UPDATE batches SET n_{from} = n_{from} - 1, n_{to} = n_{to} + 1,
                media_queued = MAX(0, media_queued + ?2), n_queued_unknown = MAX(0, n_queued_unknown + ?3),
                media_done = media_done + ?4
         WHERE id = ?1",
        from = from.as_str(),
        to = to.as_str()
    );
    sqlx::query(&sql)
        .bind(job.batch_id.to_string())
        .bind(m.queued_seconds)
        .bind(m.queued_unknown)
        .bind(m.done_seconds)
        .execute(tx.conn())
        .await?;
    if to.is_terminal() || from.is_terminal() {
        close_if_done(tx, job.batch_id).await?;
        emit_batch(tx, job.batch_id).await?;
    }
    Ok(())
}

async fn close_if_done(tx: &mut WriteTx<'_>, batch_id: BatchId) -> Result<()> {
    let batch = rows::batch_row(tx.conn(), batch_id).await?;
    if batch.status != BatchStatus::Processing {
        return Ok(());
    }
    if let Some((status, message)) = rules::batch_outcome(&batch.counts) {
        sqlx::query(
            "UPDATE batches SET status = ?2, error_message = ?3, completed_at = ?4 WHERE id = ?1 AND status = 'processing'",
        )
        .bind(batch_id.to_string())
        .bind(status.as_str())
        .bind(message)
        .bind(ts(Utc::now()))
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

fn lease_lost(claim: &Claim) -> StoreError {
    StoreError::WrongState {
        code: vidscribe_core::Code::LeaseLost,
        message: format!("job {} is no longer leased to {} (attempt {})", claim.job_id, claim.worker, claim.attempt),
    }
}

pub(super) async fn get(store: &SqliteStore, batch_id: BatchId, job_id: JobId) -> Result<Job> {
    let mut conn = store.readers.acquire().await?;
    let mut job = rows::job(&mut conn, batch_id, job_id).await?;
    job.history = rows::history(&mut conn, job_id).await?;
    Ok(job)
}

pub(super) async fn claim(store: &SqliteStore, worker: &str, lease: Duration) -> Result<Option<Claim>> {
    let now = Utc::now();
    let now_ms = now.timestamp_millis();
    let now_ts = ts(now);
    let expires = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
    // Two round trips: BEGIN + the claiming UPDATE; then the attempt row, the batch
    // counters, the event and COMMIT.
    let mut tx = store.write_lazy().await?;
    let result: Result<Option<Job>> = async {
        // Oldest started batch with spare concurrency first; inside it, the oldest runnable
        // job. The correlated subquery walks the (batch_id, status, seqno) index, so a claim
        // costs the same with 10 or 10 000 queued jobs.
        let mut s = Script::new();
        s.push(&format!(
            "UPDATE jobs SET status = 'processing', worker = ?, attempts = attempts + 1, auto_attempts = auto_attempts + 1,
                    lease_expires_ms = ?, heartbeat_at = ?, started_at = ?, completed_at = NULL,
                    stage = 'loading_model', progress = 0, error_message = NULL, error_code = NULL,
                    cancel_requested = 0, not_before_ms = NULL
             WHERE seqno = (
                SELECT s FROM (
                    SELECT (SELECT j.seqno FROM jobs j
                            WHERE j.batch_id = b.id AND j.status = 'queued'
                              AND (j.not_before_ms IS NULL OR j.not_before_ms <= ?)
                            ORDER BY j.seqno LIMIT 1) AS s
                    FROM batches b
                    WHERE b.status = 'processing' AND b.n_queued > 0 AND b.n_processing < b.max_concurrent
                    ORDER BY b.started_at, b.id
                ) WHERE s IS NOT NULL LIMIT 1)
               AND status = 'queued'
             RETURNING {JOB_COLUMNS}"
        ))
        .bind(worker.to_string())
        .bind(expires.timestamp_millis())
        .bind(now_ts.clone())
        .bind(now_ts.clone())
        .bind(now_ms);
        let rows = tx.script(s).await?;
        let Some(row) = rows[0].first() else { return Ok(None) };
        let job = rows::job_from_row(row)?;
        emit_job(&mut tx, &job).await?;
        Ok(Some(job))
    }
    .await;
    let job = match result {
        Ok(Some(job)) => job,
        Ok(None) => {
            tx.rollback().await?;
            return Ok(None);
        }
        Err(e) => {
            let _ = tx.rollback().await;
            return Err(e);
        }
    };
    let mut s = Script::new();
    s.push("INSERT OR REPLACE INTO job_attempts (job_id, attempt, worker, started_at) VALUES (?, ?, ?, ?)")
        .bind(job.job_id.to_string())
        .bind(job.attempts as i64)
        .bind(worker.to_string())
        .bind(now_ts);
    counters(&mut s, &job, JobStatus::Queued, JobStatus::Processing, Some(BATCH_COLUMNS));
    let rows = tx.commit_script(s).await?;
    let batch =
        rows::batch_from_row(rows[1].first().ok_or_else(|| StoreError::BatchNotFound(job.batch_id.to_string()))?)?;
    Ok(Some(Claim {
        batch_id: job.batch_id,
        job_id: job.job_id,
        worker: worker.to_string(),
        attempt: job.attempts,
        settings: batch.settings,
        lease_expires_at: expires,
        job,
    }))
}

/// Appends the batch-counter UPDATE for one job going `from → to` (as `account` does),
/// returning `returning` columns of the batch row when given.
fn counters(s: &mut Script, job: &Job, from: JobStatus, to: JobStatus, returning: Option<&str>) {
    let m = rules::media_delta(job, from, to);
    // Column names come from the status enum, never from input.
    let mut sql = format!(
        "UPDATE batches SET n_{from} = n_{from} - 1, n_{to} = n_{to} + 1,
                media_queued = MAX(0, media_queued + ?), n_queued_unknown = MAX(0, n_queued_unknown + ?),
                media_done = media_done + ?
         WHERE id = ?",
        from = from.as_str(),
        to = to.as_str()
    );
    if let Some(cols) = returning {
        sql.push_str(" RETURNING ");
        sql.push_str(cols);
    }
    s.push(&sql).bind(m.queued_seconds).bind(m.queued_unknown).bind(m.done_seconds).bind(job.batch_id.to_string());
}

pub(super) async fn heartbeat(
    store: &SqliteStore,
    claim: &Claim,
    lease: Duration,
    stage: Option<JobStage>,
    progress: Option<f64>,
) -> Result<Heartbeat> {
    let now = Utc::now();
    let expires = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
    in_tx!(store, |tx| {
        let before = sqlx::query("SELECT stage, progress, cancel_requested FROM jobs WHERE id = ?1 AND status = 'processing' AND worker = ?2 AND attempts = ?3")
            .bind(claim.job_id.to_string())
            .bind(&claim.worker)
            .bind(claim.attempt as i64)
            .fetch_optional(tx.conn())
            .await?;
        let Some(before) = before else { return Ok(Heartbeat::Lost) };
        let old_stage: Option<String> = before.try_get("stage")?;
        let old_progress: f64 = before.try_get("progress")?;
        let cancel: i64 = before.try_get("cancel_requested")?;
        let new_progress = progress.map(|p| p.clamp(0.0, 1.0)).unwrap_or(old_progress);
        let new_stage = stage.map(|s| s.as_str().to_string()).or(old_stage.clone());
        let row = sqlx::query(&format!(
            "UPDATE jobs SET lease_expires_ms = ?2, heartbeat_at = ?3, stage = ?4, progress = ?5
             WHERE id = ?1 AND status = 'processing' RETURNING {JOB_COLUMNS}"
        ))
        .bind(claim.job_id.to_string())
        .bind(expires.timestamp_millis())
        .bind(ts(now))
        .bind(&new_stage)
        .bind(new_progress)
        .fetch_one(tx.conn())
        .await?;
        if new_stage != old_stage || (new_progress - old_progress).abs() > f64::EPSILON {
            let job = rows::job_from_row(&row)?;
            emit_job(&mut tx, &job).await?;
        }
        Ok(if cancel != 0 { Heartbeat::CancelRequested } else { Heartbeat::Continue })
    })
}

/// Ends the claimed attempt: `processing → to`, fenced by worker and attempt number.
///
/// Two round trips: BEGIN, the fenced job UPDATE, the attempt row, the batch counters (read
/// back with RETURNING) and the batch's running jobs in one command; the batch close (when
/// this was its last unfinished job), the events and COMMIT in the next. When the fence
/// does not match (the lease is lost), the whole transaction is rolled back.
async fn finish(store: &SqliteStore, claim: &Claim, f: Finish<'_>) -> Result<Job> {
    let Finish { to, outcome, media_duration, warning, auto_attempts_delta, .. } = f;
    let error = f.error();
    // SQLite keeps the backoff as an absolute time in milliseconds.
    let not_before = f.not_before.map(|wait| Utc::now().timestamp_millis() + wait.as_millis() as i64);
    JobStatus::Processing.check(to)?;
    let now = ts(Utc::now());
    let (stage, progress_sql, completed_at) = match to {
        JobStatus::Completed => (Some(JobStage::Done.as_str()), "1.0", Some(now.clone())),
        JobStatus::Queued => (None, "0.0", None),
        _ => (None, "progress", Some(now.clone())),
    };
    // The batch event (and a possible close) only when a job enters or leaves a final state.
    let batch_event = to.is_terminal();
    let mut tx = store.write_lazy().await?;
    let result: Result<(Job, Script)> = async {
        let mut s = Script::new();
        s.push(&format!(
            "UPDATE jobs SET status = ?, stage = ?, progress = {progress_sql}, completed_at = ?,
                    error_code = ?, error_message = ?, lease_expires_ms = NULL,
                    media_duration = COALESCE(?, media_duration), warning = ?, not_before_ms = ?,
                    auto_attempts = MAX(0, auto_attempts + ?), cancel_requested = 0
             WHERE id = ? AND status = 'processing' AND worker = ? AND attempts = ? RETURNING {JOB_COLUMNS}"
        ))
        .bind(to.as_str())
        .bind(stage)
        .bind(completed_at.clone())
        .bind(error.map(|e| e.0.to_string()))
        .bind(error.map(|e| e.1.to_string()))
        .bind(media_duration)
        .bind(warning.map(str::to_string))
        .bind(not_before)
        .bind(i64::from(auto_attempts_delta))
        .bind(claim.job_id.to_string())
        .bind(claim.worker.clone())
        .bind(claim.attempt as i64);
        s.push("UPDATE job_attempts SET ended_at = ?, outcome = ?, error_message = ? WHERE job_id = ? AND attempt = ?")
            .bind(now.clone())
            .bind(outcome.to_string())
            .bind(error.map(|e| e.1.to_string()))
            .bind(claim.job_id.to_string())
            .bind(claim.attempt as i64);
        // As `rules::media_delta` does, with the job's duration and final progress read from
        // the row just updated (a duration learned while decoding counts).
        let row = "FROM jobs WHERE id = ?";
        let (queued_seconds, queued_unknown) = if to == JobStatus::Queued {
            (format!("(SELECT COALESCE(media_duration, 0.0) {row})"), format!("(SELECT media_duration IS NULL {row})"))
        } else {
            ("0.0".to_string(), "0".to_string())
        };
        let ended = matches!(to, JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled);
        let done_seconds =
            if ended { format!("(SELECT COALESCE(media_duration, 0.0) * progress {row})") } else { "0.0".to_string() };
        let mut sql = format!(
            "UPDATE batches SET n_processing = n_processing - 1, n_{to} = n_{to} + 1,
                    media_queued = MAX(0, media_queued + {queued_seconds}),
                    n_queued_unknown = MAX(0, n_queued_unknown + {queued_unknown}),
                    media_done = media_done + {done_seconds}
             WHERE id = ?",
            to = to.as_str()
        );
        if batch_event {
            sql.push_str(" RETURNING ");
            sql.push_str(BATCH_COLUMNS);
        }
        s.push(&sql);
        let subqueries = if to == JobStatus::Queued { 2 } else { 0 } + usize::from(ended);
        for _ in 0..subqueries {
            s.bind(claim.job_id.to_string());
        }
        s.bind(claim.batch_id.to_string());
        if batch_event {
            s.push("SELECT progress, media_duration FROM jobs WHERE batch_id = ? AND status = 'processing'")
                .bind(claim.batch_id.to_string());
        }
        let rows = tx.script(s).await?;
        let job = rows::job_from_row(rows[0].first().ok_or_else(|| lease_lost(claim))?)?;
        emit_job(&mut tx, &job).await?;
        let mut next = Script::new();
        if batch_event {
            let mut batch = rows::batch_from_row(
                rows[2].first().ok_or_else(|| StoreError::BatchNotFound(claim.batch_id.to_string()))?,
            )?;
            let running = rows[3]
                .iter()
                .map(|r| Ok((r.try_get::<f64, _>(0)?, r.try_get::<Option<f64>, _>(1)?)))
                .collect::<Result<Vec<_>>>()?;
            if batch.status == BatchStatus::Processing {
                if let Some((status, message)) = rules::batch_outcome(&batch.counts) {
                    next.push(
                        "UPDATE batches SET status = ?, error_message = ?, completed_at = ? WHERE id = ? AND status = 'processing'",
                    )
                    .bind(status.as_str())
                    .bind(message.clone())
                    .bind(now.clone())
                    .bind(claim.batch_id.to_string());
                    batch.status = status;
                    batch.error_message = message;
                    batch.completed_at = Some(rows::parse_ts(&now)?);
                }
            }
            let summary = batch.summary(&running);
            let data = serde_json::to_value(&summary).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            tx.event(EventKind::Batch, claim.batch_id, None, data).await?;
        }
        Ok((job, next))
    }
    .await;
    match result {
        Ok((job, next)) => {
            tx.commit_script(next).await?;
            Ok(job)
        }
        Err(e) => {
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

pub(super) async fn complete(
    store: &SqliteStore,
    claim: &Claim,
    media_duration: Option<f64>,
    warning: Option<&str>,
) -> Result<Job> {
    finish(store, claim, Finish::completed(media_duration, warning)).await
}

pub(super) async fn fail(store: &SqliteStore, claim: &Claim, failure: Failure) -> Result<Job> {
    let auto_attempts: i64 = {
        let mut conn = store.readers.acquire().await?;
        sqlx::query_scalar("SELECT auto_attempts FROM jobs WHERE id = ?1")
            .bind(claim.job_id.to_string())
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| StoreError::JobNotFound(claim.job_id.to_string()))?
    };
    finish(store, claim, Finish::failed(&failure, claim.attempt, auto_attempts.max(0) as u32)).await
}

pub(super) async fn finish_cancelled(store: &SqliteStore, claim: &Claim) -> Result<Job> {
    finish(store, claim, Finish::cancelled()).await
}

pub(super) async fn release(store: &SqliteStore, claim: &Claim) -> Result<Job> {
    finish(store, claim, Finish::released()).await
}

pub(super) async fn requeue_expired(store: &SqliteStore, max_attempts: u32) -> Result<usize> {
    let now = Utc::now();
    in_tx!(store, |tx| {
        let expired = sqlx::query(
            "SELECT id, worker, attempts, auto_attempts FROM jobs WHERE status = 'processing' AND lease_expires_ms < ?1",
        )
        .bind(now.timestamp_millis())
        .fetch_all(tx.conn())
        .await?;
        for r in &expired {
            let id: String = r.try_get("id")?;
            let worker: Option<String> = r.try_get("worker")?;
            let attempts: i64 = r.try_get("attempts")?;
            let auto_attempts: i64 = r.try_get("auto_attempts")?;
            let give_up = auto_attempts as u32 >= max_attempts;
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
                "UPDATE jobs SET status = ?2, stage = NULL, lease_expires_ms = NULL,
                        progress = CASE WHEN ?2 = 'queued' THEN 0 ELSE progress END,
                        completed_at = CASE WHEN ?2 = 'failed' THEN ?3 ELSE NULL END,
                        error_code = CASE WHEN ?2 = 'failed' THEN 'worker_lost' ELSE NULL END,
                        error_message = ?4
                 WHERE id = ?1 AND status = 'processing' RETURNING {JOB_COLUMNS}"
            ))
            .bind(&id)
            .bind(to.as_str())
            .bind(ts(now))
            .bind(&message)
            .fetch_one(tx.conn())
            .await?;
            let job = rows::job_from_row(&row)?;
            sqlx::query("UPDATE job_attempts SET ended_at = ?3, outcome = 'lease_expired', error_message = ?4 WHERE job_id = ?1 AND attempt = ?2")
                .bind(&id)
                .bind(attempts)
                .bind(ts(now))
                .bind(&message)
                .execute(tx.conn())
                .await?;
            tracing::warn!(job_id = %id, worker = ?worker, requeued = !give_up, "job lease expired");
            emit_job(&mut tx, &job).await?;
            account(&mut tx, &job, JobStatus::Processing, to).await?;
        }
        Ok(expired.len())
    })
}

pub(super) async fn cancel(store: &SqliteStore, batch_id: BatchId, job_id: JobId) -> Result<Job> {
    let now = ts(Utc::now());
    in_tx!(store, |tx| {
        let job = rows::job(tx.conn(), batch_id, job_id).await?;
        match job.status {
            JobStatus::Queued => {
                let row = sqlx::query(&format!(
                    "UPDATE jobs SET status = 'skipped', stage = NULL, completed_at = ?2 WHERE id = ?1 AND status = 'queued' RETURNING {JOB_COLUMNS}"
                ))
                .bind(job_id.to_string())
                .bind(&now)
                .fetch_one(tx.conn())
                .await?;
                let job = rows::job_from_row(&row)?;
                emit_job(&mut tx, &job).await?;
                account(&mut tx, &job, JobStatus::Queued, JobStatus::Skipped).await?;
                Ok(job)
            }
            JobStatus::Processing => {
                sqlx::query("UPDATE jobs SET cancel_requested = 1 WHERE id = ?1 AND status = 'processing'")
                    .bind(job_id.to_string())
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

pub(super) async fn retry(store: &SqliteStore, batch_id: BatchId, job_id: JobId) -> Result<Job> {
    let now = ts(Utc::now());
    in_tx!(store, |tx| {
        let job = rows::job(tx.conn(), batch_id, job_id).await?;
        if !job.status.is_retryable() {
            return Err(StoreError::WrongState {
                code: vidscribe_core::Code::WrongState,
                message: format!("only failed, skipped or cancelled jobs can be retried; this job is {}", job.status),
            });
        }
        let batch = rows::batch_row(tx.conn(), batch_id).await?;
        if batch.status.is_terminal() {
            batch.status.check(BatchStatus::Processing)?;
            sqlx::query(
                "UPDATE batches SET status = 'processing', completed_at = NULL, error_message = NULL,
                        eta_since = ?2, media_done = 0, started_at = COALESCE(started_at, ?2)
                 WHERE id = ?1",
            )
            .bind(batch_id.to_string())
            .bind(&now)
            .execute(tx.conn())
            .await?;
        }
        let row = sqlx::query(&format!(
            "UPDATE jobs SET status = 'queued', stage = NULL, progress = 0, completed_at = NULL, error_message = NULL,
                    error_code = NULL, cancel_requested = 0, auto_attempts = 0, not_before_ms = NULL, lease_expires_ms = NULL
             WHERE id = ?1 AND status = ?2 RETURNING {JOB_COLUMNS}"
        ))
        .bind(job_id.to_string())
        .bind(job.status.as_str())
        .fetch_one(tx.conn())
        .await?;
        let retried = rows::job_from_row(&row)?;
        emit_job(&mut tx, &retried).await?;
        account(&mut tx, &retried, job.status, JobStatus::Queued).await?;
        Ok(retried)
    })
}
