//! Job-level operations: the worker's lease protocol and the user's cancel and retry.
//!
//! Every update is fenced by the transition it performs (`WHERE status = t.from()`, and for
//! a worker's calls also its name and attempt number), so a stale caller changes nothing.

use std::time::Duration;

use vidscribe_core::codes::FailureCode;
use vidscribe_core::{
    BatchId, BatchStatus, BatchTransition, Checkpoint, Code, EventData, Job, JobId, JobSegments, JobStage, JobStatus,
    JobTransition, Segment,
};

use super::batches::{batch_row, running_stmt};
use super::decode::{self, ATTEMPT_COLUMNS, BATCH_COLUMNS, JOB_COLUMNS};
use chrono::{DateTime, Utc};

use super::query::{now, stmt, Cells, Conn, Stmt, WriteTx};
use super::{in_tx, Backend, SqlStore};
use crate::batch_row::BatchRow;
use crate::error::{Result, StoreError};
use crate::rules::{self, Finish};
use crate::types::{Claim, Failure, Heartbeat, LiveTranscript};

fn millis(d: Duration) -> f64 {
    d.as_millis() as f64
}

fn lease_lost(claim: &Claim) -> StoreError {
    StoreError::WrongState {
        code: Code::LeaseLost,
        message: format!("job {} is no longer leased to {} (attempt {})", claim.job_id, claim.worker, claim.attempt),
    }
}

async fn job_row<C: Conn + ?Sized>(c: &mut C, batch_id: BatchId, job_id: JobId, lock: &str) -> Result<Job> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 AND batch_id = $2{lock}");
    let row = c.one(stmt!(sql, job_id, batch_id), || StoreError::JobNotFound(job_id.to_string())).await?;
    decode::job(&row)
}

/// Moves the batch counters for `job` taking transition `t` (this takes the batch row lock,
/// after the job row's). When a job enters or leaves a final state, closes the batch if
/// that was its last unfinished job and appends the batch event. `job` is the row as the
/// transition left it (its final progress, a duration learned while decoding).
async fn account<T: WriteTx, B: Backend>(tx: &mut T, job: &Job, t: JobTransition) -> Result<BatchRow> {
    let (from, to) = (t.from(), t.to());
    let m = rules::media_delta(job, from, to);
    let batch_event = from.is_terminal() || to.is_terminal();
    // Column names come from the status enum, never from input.
    let sql = format!(
        "UPDATE batches SET n_{from} = n_{from} - 1, n_{to} = n_{to} + 1,
                media_queued = {g}(0, media_queued + $2), n_queued_unknown = {g}(0, n_queued_unknown + $3),
                media_done = media_done + $4
         WHERE id = $1 RETURNING {BATCH_COLUMNS}",
        g = B::SQL.greatest()
    );
    let mut stmts = vec![stmt!(sql, job.batch_id, m.queued_seconds, m.queued_unknown, m.done_seconds)];
    if batch_event {
        stmts.push(running_stmt(job.batch_id));
    }
    let rows = tx.script(stmts).await?;
    let row = rows[0].first().ok_or_else(|| StoreError::BatchNotFound(job.batch_id.to_string()))?;
    let mut batch = decode::batch(row)?;
    if batch_event {
        let running = rows[1].iter().map(decode::running).collect::<Result<Vec<_>>>()?;
        close_if_done(tx, &mut batch);
        tx.event(EventData::Batch(batch.summary(&running)));
    }
    Ok(batch)
}

/// Closes attempt `attempt` of the job.
fn end_attempt(job_id: JobId, attempt: i64, at: DateTime<Utc>, outcome: &str, error: Option<&str>) -> Stmt {
    let sql =
        "UPDATE job_attempts SET ended_at = $3, outcome = $4, error_message = $5 WHERE job_id = $1 AND attempt = $2";
    stmt!(sql, job_id, attempt, at, outcome, error)
}

/// The job row transition `t` left: appends its event, then moves the batch ([`account`]).
async fn transitioned<T: WriteTx, B: Backend>(tx: &mut T, row: &T::Row, t: JobTransition) -> Result<Job> {
    let job = decode::job(row)?;
    tx.event(EventData::Job(Box::new(job.clone())));
    account::<_, B>(tx, &job, t).await?;
    Ok(job)
}

/// Ends a processing batch none of whose jobs is queued or running; the UPDATE runs with
/// the COMMIT, and `batch` is changed to match.
fn close_if_done<T: WriteTx>(tx: &mut T, batch: &mut BatchRow) {
    let Some((t, message)) = rules::batch_outcome(batch.status, &batch.counts) else { return };
    let now = now();
    let sql = "UPDATE batches SET status = $3, error_message = $4, completed_at = $5 WHERE id = $1 AND status = $2";
    tx.defer(stmt!(sql, batch.id, t.from(), t.to(), message.clone(), now));
    batch.status = t.to();
    batch.error_message = message;
    batch.completed_at = Some(now);
}

impl<B: Backend> SqlStore<B> {
    pub(super) async fn get_job(&self, batch_id: BatchId, job_id: JobId) -> Result<Job> {
        let mut c = self.b.reader().await?;
        let mut job = job_row(&mut *c, batch_id, job_id, "").await?;
        let sql = format!("SELECT {ATTEMPT_COLUMNS} FROM job_attempts WHERE job_id = $1 ORDER BY attempt");
        job.history = c.all(stmt!(sql, job_id), decode::attempt).await?;
        Ok(job)
    }

    pub(super) async fn claim(&self, worker: &str, lease: Duration) -> Result<Option<Claim>> {
        let t = JobTransition::Claim;
        in_tx!(self, |tx| {
            let Some((pick, arg)) = B::pick(&mut tx).await? else { return Ok(None) };
            let sql = format!(
                "UPDATE jobs SET status = $2, worker = $3, attempts = attempts + 1, auto_attempts = auto_attempts + 1,
                        {lease_col} = {until}, heartbeat_at = $5, started_at = $5, completed_at = NULL, stage = $6,
                        progress = 0, error_message = NULL, error_code = NULL, cancel_requested = false,
                        {not_before} = NULL
                 WHERE seqno = ({pick}) AND status = $1 RETURNING {JOB_COLUMNS}",
                lease_col = B::SQL.lease(),
                until = B::SQL.after_ms("$4"),
                not_before = B::SQL.not_before()
            );
            let claiming =
                stmt!(sql, t.from(), t.to(), worker, millis(lease), now(), Some(JobStage::LoadingModel), arg);
            let Some(row) = tx.optional(claiming).await? else { return Ok(None) };
            let job = decode::job(&row)?;
            let lease_expires_at =
                Utc::now() + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
            let sql = "INSERT INTO job_attempts (job_id, attempt, worker, started_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (job_id, attempt) DO UPDATE SET worker = excluded.worker,
                    started_at = excluded.started_at, ended_at = NULL, outcome = NULL, error_message = NULL";
            tx.run(stmt!(sql, job.job_id, job.attempts, worker, job.started_at)).await?;
            // An earlier attempt's live transcript stays: this one resumes from its checkpoint.
            let batch = account::<_, B>(&mut tx, &job, t).await?;
            tx.event(EventData::Job(Box::new(job.clone())));
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
        &self,
        claim: &Claim,
        lease: Duration,
        stage: Option<JobStage>,
        progress: Option<f64>,
    ) -> Result<Heartbeat> {
        let now = now();
        in_tx!(self, |tx| {
            // The most frequent write (≤ 2/s per running job); losing the last ones in a
            // database crash is harmless (the lease just looks older).
            tx.relax_durability().await?;
            let sql = format!(
                "SELECT stage, progress, cancel_requested FROM jobs
                 WHERE id = $1 AND status = $2 AND worker = $3 AND attempts = $4{}",
                B::SQL.for_update()
            );
            let fence = stmt!(sql, claim.job_id, JobStatus::Processing, &claim.worker, claim.attempt);
            let Some(before) = tx.optional(fence).await? else { return Ok(Heartbeat::Lost) };
            let old_stage = before.opt_text("stage")?;
            let old_progress = before.real("progress")?;
            let new_progress = progress.map(|p| p.clamp(0.0, 1.0)).unwrap_or(old_progress);
            let new_stage = stage.map(|s| s.as_str().to_string()).or(old_stage.clone());
            let sql = format!(
                "UPDATE jobs SET {lease_col} = {until}, heartbeat_at = $3, stage = $4, progress = $5
                 WHERE id = $1 AND status = $6 RETURNING {JOB_COLUMNS}",
                lease_col = B::SQL.lease(),
                until = B::SQL.after_ms("$2")
            );
            let update =
                stmt!(sql, claim.job_id, millis(lease), now, new_stage.clone(), new_progress, JobStatus::Processing);
            let row = tx.one(update, || lease_lost(claim)).await?;
            if new_stage != old_stage || (new_progress - old_progress).abs() > f64::EPSILON {
                tx.event(EventData::Job(Box::new(decode::job(&row)?)));
            }
            Ok(if before.flag("cancel_requested")? { Heartbeat::CancelRequested } else { Heartbeat::Continue })
        })
    }

    pub(super) async fn add_segments(
        &self,
        claim: &Claim,
        first: usize,
        segments: &[Segment],
        at: &Checkpoint,
    ) -> Result<bool> {
        let rows: Vec<String> = segments
            .iter()
            .map(serde_json::to_string)
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let done_seconds = at.done_seconds;
        // Fully durable, unlike heartbeats: after a crash the next attempt resumes from here.
        in_tx!(self, |tx| {
            let sql = "UPDATE jobs SET partial_seconds = $5, resume_state = $6
                       WHERE id = $1 AND status = $2 AND worker = $3 AND attempts = $4 RETURNING id";
            let fence = stmt!(
                sql,
                claim.job_id,
                JobStatus::Processing,
                &claim.worker,
                claim.attempt,
                done_seconds,
                at.state.clone()
            );
            if tx.optional(fence).await?.is_none() {
                return Ok(false);
            }
            // What an attempt that did not resume wrote past `first` is not part of this one.
            tx.defer(stmt!("DELETE FROM job_segments WHERE job_id = $1 AND idx >= $2", claim.job_id, first));
            for (i, data) in rows.iter().enumerate() {
                let sql = "INSERT INTO job_segments (job_id, idx, data) VALUES ($1, $2, $3)
                           ON CONFLICT (job_id, idx) DO UPDATE SET data = excluded.data";
                tx.defer(stmt!(sql, claim.job_id, first + i, data.clone()));
            }
            tx.event(EventData::Segments(Box::new(JobSegments {
                batch_id: claim.batch_id,
                job_id: claim.job_id,
                first,
                segments: segments.to_vec(),
                done_seconds,
            })));
            Ok(true)
        })
    }

    pub(super) async fn segments(&self, batch_id: BatchId, job_id: JobId) -> Result<LiveTranscript> {
        let mut s = self.b.snapshot().await?;
        let sql =
            stmt!("SELECT partial_seconds, resume_state FROM jobs WHERE id = $1 AND batch_id = $2", job_id, batch_id);
        let row = s.one(sql, || StoreError::JobNotFound(job_id.to_string())).await?;
        let (done_seconds, resume_state) = (row.opt_real("partial_seconds")?, row.opt_text("resume_state")?);
        let sql = stmt!("SELECT data FROM job_segments WHERE job_id = $1 ORDER BY idx", job_id);
        let segments = s
            .all(sql, |r| {
                serde_json::from_str(&r.text("data")?).map_err(|e| StoreError::Corrupt(format!("segment: {e}")))
            })
            .await?;
        Ok(LiveTranscript { segments, done_seconds, resume_state })
    }

    /// Ends the claimed attempt as `f` says, fenced by worker and attempt number; when the
    /// fence does not match (the lease is lost) nothing is changed.
    async fn finish(&self, claim: &Claim, f: Finish<'_>) -> Result<Job> {
        let t = f.transition;
        let now = now();
        let (stage, progress_sql, completed_at) = match t.to() {
            JobStatus::Completed => (Some(JobStage::Done), "1.0", Some(now)),
            JobStatus::Queued => (None, "0.0", None),
            _ => (None, "progress", Some(now)),
        };
        let error = f.error();
        let job_sql = format!(
            "UPDATE jobs SET status = $5, stage = $6, progress = {progress_sql}, completed_at = $7,
                    error_code = $8, error_message = $9, {lease} = NULL, media_duration = COALESCE($10, media_duration),
                    warning = $11, {not_before} = CASE WHEN $12 IS NULL THEN NULL ELSE {after} END,
                    auto_attempts = {g}(0, auto_attempts + $13), cancel_requested = false
             WHERE id = $1 AND status = $2 AND worker = $3 AND attempts = $4 RETURNING {JOB_COLUMNS}",
            lease = B::SQL.lease(),
            not_before = B::SQL.not_before(),
            after = B::SQL.after_ms("$12"),
            g = B::SQL.greatest()
        );
        in_tx!(self, |tx| {
            let stmts = vec![
                stmt!(
                    job_sql.clone(),
                    claim.job_id,
                    t.from(),
                    &claim.worker,
                    claim.attempt,
                    t.to(),
                    stage,
                    completed_at,
                    error.map(|e| e.0),
                    error.map(|e| e.1),
                    f.media_duration,
                    f.warning,
                    f.not_before.map(millis),
                    f.auto_attempts_delta
                ),
                end_attempt(claim.job_id, claim.attempt.into(), now, f.outcome, error.map(|e| e.1)),
            ];
            let rows = tx.fenced(stmts).await?.ok_or_else(|| lease_lost(claim))?;
            transitioned::<_, B>(&mut tx, &rows[0][0], t).await
        })
    }

    pub(super) async fn complete_with_warning(
        &self,
        claim: &Claim,
        media_duration: Option<f64>,
        warning: Option<&str>,
    ) -> Result<Job> {
        self.finish(claim, Finish::completed(media_duration, warning)).await
    }

    pub(super) async fn finish_cancelled(&self, claim: &Claim) -> Result<Job> {
        self.finish(claim, Finish::cancelled()).await
    }

    /// Handed back on shutdown, without penalty.
    pub(super) async fn release(&self, claim: &Claim) -> Result<Job> {
        self.finish(claim, Finish::released()).await
    }

    pub(super) async fn fail(&self, claim: &Claim, failure: Failure) -> Result<Job> {
        let auto_attempts = {
            let mut c = self.b.reader().await?;
            let sql = stmt!("SELECT auto_attempts FROM jobs WHERE id = $1", claim.job_id);
            c.one(sql, || StoreError::JobNotFound(claim.job_id.to_string())).await?.count("auto_attempts")?
        };
        self.finish(claim, Finish::failed(&failure, claim.attempt, auto_attempts as u32)).await
    }

    /// Re-queues (or gives up on) expired leases, one job per transaction, each taken with
    /// `SKIP LOCKED` on PostgreSQL: any number of nodes may reap at once without waiting for
    /// each other or handling a job twice.
    pub(super) async fn requeue_expired(&self, max_attempts: u32) -> Result<usize> {
        let mut n = 0;
        loop {
            let now = now();
            let reaped: bool = in_tx!(self, |tx| {
                let sql = format!(
                    "SELECT id, worker, attempts, auto_attempts FROM jobs WHERE status = $1 AND {expired}
                     ORDER BY {lease} LIMIT 1{skip}",
                    expired = B::SQL.lease_expired(),
                    lease = B::SQL.lease(),
                    skip = B::SQL.skip_locked()
                );
                let Some(r) = tx.optional(stmt!(sql, JobStatus::Processing)).await? else { return Ok(false) };
                let id = JobId::from_uuid(r.id("id")?);
                let worker = r.opt_text("worker")?;
                let auto_attempts = r.count("auto_attempts")?;
                let give_up = auto_attempts >= u64::from(max_attempts);
                let t = if give_up { JobTransition::GiveUp } else { JobTransition::Expire };
                let message = give_up.then(|| {
                    format!(
                        "the worker running this job stopped responding {auto_attempts} times (last: {}); giving up",
                        worker.as_deref().unwrap_or("unknown")
                    )
                });
                let sql = format!(
                    "UPDATE jobs SET status = $3, stage = NULL, {lease} = NULL, progress = {progress},
                            completed_at = $4, error_code = $5, error_message = $6
                     WHERE id = $1 AND status = $2 RETURNING {JOB_COLUMNS}",
                    lease = B::SQL.lease(),
                    progress = if give_up { "progress" } else { "0" }
                );
                let job_update = stmt!(
                    sql,
                    id,
                    t.from(),
                    t.to(),
                    give_up.then_some(now),
                    give_up.then_some(FailureCode::WorkerLost),
                    message.clone()
                );
                let attempt_update = end_attempt(id, r.int("attempts")?, now, "lease_expired", message.as_deref());
                let rows = tx.fenced(vec![job_update, attempt_update]).await?;
                transitioned::<_, B>(&mut tx, &rows.ok_or_else(|| super::corrupt("expired job"))?[0][0], t).await?;
                tracing::warn!(job_id = %id, worker = ?worker, requeued = !give_up, "job lease expired");
                Ok(true)
            })?;
            if !reaped {
                return Ok(n);
            }
            n += 1;
        }
    }

    /// A queued job → skipped; a running one is flagged, and ends `cancelled` when its
    /// worker notices.
    pub(super) async fn cancel_job(&self, batch_id: BatchId, job_id: JobId) -> Result<Job> {
        let now = now();
        in_tx!(self, |tx| {
            let job = job_row(&mut tx, batch_id, job_id, B::SQL.for_update()).await?;
            match job.status {
                JobStatus::Queued => {
                    let t = JobTransition::Skip;
                    let sql = format!(
                        "UPDATE jobs SET status = $3, stage = NULL, completed_at = $4
                         WHERE id = $1 AND status = $2 RETURNING {JOB_COLUMNS}"
                    );
                    let row = tx.one(stmt!(sql, job_id, t.from(), t.to(), now), || super::corrupt("skip")).await?;
                    transitioned::<_, B>(&mut tx, &row, t).await
                }
                JobStatus::Processing => {
                    let sql = "UPDATE jobs SET cancel_requested = true WHERE id = $1 AND status = $2";
                    tx.run(stmt!(sql, job_id, JobStatus::Processing)).await?;
                    Ok(job)
                }
                other => Err(StoreError::wrong_state(format!("a {other} job cannot be cancelled"))),
            }
        })
    }

    /// `failed | skipped | cancelled → queued`, re-opening the batch if it had ended.
    pub(super) async fn retry_job(&self, batch_id: BatchId, job_id: JobId) -> Result<Job> {
        let now = now();
        in_tx!(self, |tx| {
            // Lock order: the job row, then the batch row.
            let job = job_row(&mut tx, batch_id, job_id, B::SQL.for_update()).await?;
            let Some(t) = JobTransition::retry(job.status) else {
                return Err(StoreError::wrong_state(format!(
                    "only failed, skipped or cancelled jobs can be retried; this job is {}",
                    job.status
                )));
            };
            let batch = batch_row(&mut tx, batch_id, B::SQL.for_update()).await?;
            if let Some(reopen) =
                BatchTransition::between(batch.status, BatchStatus::Processing).filter(|_| batch.status.is_terminal())
            {
                // A new throughput window for the ETA: the re-opened batch has done nothing yet.
                let sql = "UPDATE batches SET status = $3, completed_at = NULL, error_message = NULL, eta_since = $4,
                        media_done = 0, started_at = COALESCE(started_at, $4)
                 WHERE id = $1 AND status = $2";
                tx.run(stmt!(sql, batch_id, reopen.from(), reopen.to(), now)).await?;
            }
            let sql = format!(
                "UPDATE jobs SET status = $3, stage = NULL, progress = 0, completed_at = NULL, error_message = NULL,
                        error_code = NULL, cancel_requested = false, auto_attempts = 0, {} = NULL, {} = NULL,
                        partial_seconds = NULL, resume_state = NULL
                 WHERE id = $1 AND status = $2 RETURNING {JOB_COLUMNS}",
                B::SQL.not_before(),
                B::SQL.lease()
            );
            let row = tx.one(stmt!(sql, job_id, t.from(), t.to()), || super::corrupt("retry")).await?;
            tx.defer(stmt!("DELETE FROM job_segments WHERE job_id = $1", job_id));
            transitioned::<_, B>(&mut tx, &row, t).await
        })
    }
}
