//! Batch-level operations.
//!
//! Lock order (PostgreSQL; free of deadlocks): a transaction locks job rows first and the
//! batch row last. The one exception, the claim, locks the batch row first but then only
//! *skips* locked job rows, never waits for one.

use std::collections::HashMap;

use vidscribe_core::{
    Attempt, Batch, BatchId, BatchSettings, BatchStatus, BatchSummary, BatchTransition, Code, EventData, Job, JobId,
    JobStatus,
};

use super::decode::{self, ATTEMPT_COLUMNS, BATCH_COLUMNS, JOB_COLUMNS};
use super::query::{now, stmt, Cells, Conn, Stmt, WriteTx};
use super::{in_tx, Backend, SqlStore};
use crate::batch_row::{list_summaries, BatchRow};
use crate::error::{Result, StoreError};
use crate::types::{DeletedBatch, NewJob};

/// The batch row; `lock` takes its row lock (after any job rows, see the lock order).
pub(super) async fn batch_row<C: Conn + ?Sized>(c: &mut C, id: BatchId, lock: &str) -> Result<BatchRow> {
    let sql = format!("SELECT {BATCH_COLUMNS} FROM batches WHERE id = $1{lock}");
    decode::batch(&c.one(stmt!(sql, id), || StoreError::BatchNotFound(id.to_string())).await?)
}

/// The batch's running jobs, as [`decode::running`] reads them.
pub(super) fn running_stmt(id: BatchId) -> Stmt {
    stmt!("SELECT progress, media_duration FROM jobs WHERE batch_id = $1 AND status = $2", id, JobStatus::Processing)
}

pub(super) async fn summary<C: Conn + ?Sized>(c: &mut C, id: BatchId) -> Result<BatchSummary> {
    let row = batch_row(c, id, "").await?;
    Ok(row.summary(&c.all(running_stmt(id), decode::running).await?))
}

/// Appends the batch's event: its summary as this transaction leaves it.
pub(super) async fn emit_batch<T: WriteTx>(tx: &mut T, id: BatchId) -> Result<BatchSummary> {
    let summary = summary(tx, id).await?;
    tx.event(EventData::Batch(summary.clone()));
    Ok(summary)
}

fn not_pending(what: &str, status: BatchStatus) -> StoreError {
    StoreError::WrongState { code: Code::BatchNotPending, message: format!("{what}; this batch is {status}") }
}

impl<B: Backend> SqlStore<B> {
    pub(super) async fn create_batch(&self, id: BatchId, s: &BatchSettings) -> Result<Batch> {
        let formats: Vec<&str> = s.formats.iter().map(|f| f.as_str()).collect();
        let now = now();
        in_tx!(self, |tx| {
            tx.run(stmt!(
                // `$9 = 1`: a boolean in PostgreSQL, 0/1 in SQLite.
                "INSERT INTO batches (id, name, max_concurrent, status, model, language, formats, created_at, vad)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9 = 1)",
                id,
                &s.name,
                s.max_concurrent,
                BatchStatus::Pending,
                &s.model,
                s.language.as_deref(),
                formats.join(","),
                now,
                i64::from(s.vad)
            ))
            .await?;
            emit_batch(&mut tx, id).await?;
            Ok(())
        })?;
        self.get_batch(id).await
    }

    pub(super) async fn add_jobs(&self, batch_id: BatchId, jobs: Vec<NewJob>) -> Result<Vec<Job>> {
        let now = now();
        let sql = format!(
            "INSERT INTO jobs (id, batch_id, original_filename, session_name, session_id, file_path, results_path,
                               status, media_duration, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {JOB_COLUMNS}"
        );
        in_tx!(self, |tx| {
            let batch = batch_row(&mut tx, batch_id, B::SQL.for_update()).await?;
            if batch.status != BatchStatus::Pending {
                return Err(not_pending("videos can only be added to a pending batch", batch.status));
            }
            let mut out = Vec::with_capacity(jobs.len());
            for j in &jobs {
                let insert = stmt!(
                    sql.clone(),
                    j.job_id,
                    batch_id,
                    &j.original_filename,
                    &j.session_name,
                    j.session_id,
                    &j.file_path,
                    Job::results_path_for(j.session_id),
                    JobStatus::Queued,
                    j.media_duration,
                    now
                );
                let job = decode::job(&tx.one(insert, || super::corrupt("job insert")).await?)?;
                tx.event(EventData::Job(Box::new(job.clone())));
                out.push(job);
            }
            let media: f64 = jobs.iter().filter_map(|j| j.media_duration).sum();
            let unknown = jobs.iter().filter(|j| j.media_duration.is_none()).count();
            let sql = "UPDATE batches SET n_queued = n_queued + $2, media_queued = media_queued + $3,
                    n_queued_unknown = n_queued_unknown + $4
             WHERE id = $1";
            tx.run(stmt!(sql, batch_id, jobs.len(), media, unknown)).await?;
            emit_batch(&mut tx, batch_id).await?;
            Ok(out)
        })
    }

    pub(super) async fn start_batch(&self, batch_id: BatchId) -> Result<BatchSummary> {
        let t = BatchTransition::Start;
        let now = now();
        in_tx!(self, |tx| {
            let batch = batch_row(&mut tx, batch_id, B::SQL.for_update()).await?;
            if batch.status != t.from() {
                return Err(not_pending("only a pending batch can be started", batch.status));
            }
            if batch.counts.total() == 0 {
                return Err(StoreError::Invalid {
                    code: Code::EmptyBatch,
                    message: "add at least one video before starting the batch".into(),
                });
            }
            let sql = "UPDATE batches SET status = $3, started_at = $4, eta_since = $4 WHERE id = $1 AND status = $2";
            tx.run(stmt!(sql, batch_id, t.from(), t.to(), now)).await?;
            emit_batch(&mut tx, batch_id).await
        })
    }

    pub(super) async fn batch_summary(&self, batch_id: BatchId) -> Result<BatchSummary> {
        summary(&mut *self.b.snapshot().await?, batch_id).await
    }

    /// The batch with every job, from one read snapshot.
    pub(super) async fn get_batch(&self, batch_id: BatchId) -> Result<Batch> {
        let mut s = self.b.snapshot().await?;
        let row = batch_row(&mut *s, batch_id, "").await?;
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE batch_id = $1 ORDER BY seqno");
        let mut jobs = s.all(stmt!(sql, batch_id), decode::job).await?;
        let sql = format!(
            "SELECT job_id, {ATTEMPT_COLUMNS} FROM job_attempts
             WHERE job_id IN (SELECT id FROM jobs WHERE batch_id = $1) ORDER BY job_id, attempt"
        );
        let attempts = s.all(stmt!(sql, batch_id), |r| Ok((r.id("job_id")?, decode::attempt(r)?))).await?;
        drop(s);
        let mut by_job: HashMap<uuid::Uuid, Vec<Attempt>> = HashMap::new();
        for (job_id, attempt) in attempts {
            by_job.entry(job_id).or_default().push(attempt);
        }
        for j in &mut jobs {
            j.history = by_job.remove(&j.job_id.as_uuid()).unwrap_or_default();
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
            vad: row.settings.vad,
            progress: row.progress(&running),
            jobs,
        })
    }

    /// Two set queries (the batches, then every running job) in one snapshot: the same two
    /// whatever the number of batches.
    pub(super) async fn list_batches(&self) -> Result<Vec<BatchSummary>> {
        let mut s = self.b.snapshot().await?;
        let sql = format!("SELECT {BATCH_COLUMNS} FROM batches ORDER BY created_at DESC, id DESC");
        let batches = s.all(stmt!(sql), decode::batch).await?;
        let sql = "SELECT batch_id, progress, media_duration FROM jobs WHERE status = $1";
        let running = s.all(stmt!(sql, JobStatus::Processing), |r| {
            let (progress, duration) = decode::running(r)?;
            Ok((BatchId::from_uuid(r.id("batch_id")?), progress, duration))
        });
        let running = running.await?;
        Ok(list_summaries(batches, running))
    }

    /// Queued jobs → skipped (their events in queue order), running ones flagged, the batch
    /// → cancelled. Returns the running jobs' ids.
    pub(super) async fn cancel_batch(&self, batch_id: BatchId) -> Result<Vec<JobId>> {
        let now = now();
        let cannot = |status: BatchStatus| StoreError::wrong_state(format!("a {status} batch cannot be cancelled"));
        let cancellable: Vec<BatchStatus> = BatchTransition::cancellable().collect();
        let close_sql = format!(
            "UPDATE batches SET status = $2, completed_at = $3, n_skipped = n_skipped + $4, n_queued = n_queued - $4,
                    media_queued = {g}(0, media_queued - $5), n_queued_unknown = {g}(0, n_queued_unknown - $6)
             WHERE id = $1 AND status IN ($7, $8)",
            g = B::SQL.greatest()
        );
        in_tx!(self, |tx| {
            // Checked first without a lock; the job rows are locked before the batch row.
            let batch = batch_row(&mut tx, batch_id, "").await?;
            if !cancellable.contains(&batch.status) {
                return Err(cannot(batch.status));
            }
            let sql = format!(
                "UPDATE jobs SET status = $4, stage = NULL, completed_at = $2
                 WHERE batch_id = $1 AND status = $3 RETURNING {JOB_COLUMNS}, seqno"
            );
            let skip = vidscribe_core::JobTransition::Skip;
            let skipped = stmt!(sql, batch_id, now, skip.from(), skip.to());
            let mut skipped = tx.all(skipped, |r| Ok((r.int("seqno")?, decode::job(r)?))).await?;
            let sql = "UPDATE jobs SET cancel_requested = true WHERE batch_id = $1 AND status = $2 RETURNING id";
            let running = tx.all(stmt!(sql, batch_id, JobStatus::Processing), |r| Ok(JobId::from_uuid(r.id("id")?)));
            let running = running.await?;
            skipped.sort_by_key(|(seqno, _)| *seqno);
            let media: f64 = skipped.iter().filter_map(|(_, j)| j.media_duration).sum();
            let unknown = skipped.iter().filter(|(_, j)| j.media_duration.is_none()).count();
            let close = stmt!(
                close_sql.clone(),
                batch_id,
                BatchStatus::Cancelled,
                now,
                skipped.len(),
                media,
                unknown,
                cancellable[0],
                cancellable[1]
            );
            if tx.run(close).await? == 0 {
                // It finished (or was cancelled) while its jobs were being locked.
                return Err(cannot(batch_row(&mut tx, batch_id, "").await?.status));
            }
            for (_, job) in skipped {
                tx.event(EventData::Job(Box::new(job)));
            }
            emit_batch(&mut tx, batch_id).await?;
            Ok(running)
        })
    }

    pub(super) async fn delete_batch(&self, batch_id: BatchId) -> Result<DeletedBatch> {
        in_tx!(self, |tx| {
            let sql = format!(
                "SELECT file_path, results_path FROM jobs WHERE batch_id = $1 ORDER BY seqno{}",
                B::SQL.for_update()
            );
            let paths = tx.all(stmt!(sql, batch_id), |r| Ok((r.text("file_path")?, r.text("results_path")?))).await?;
            let batch = batch_row(&mut tx, batch_id, B::SQL.for_update()).await?;
            if batch.counts.processing > 0 {
                return Err(StoreError::wrong_state(
                    "the batch still has running jobs; cancel it and wait for them to stop",
                ));
            }
            let (file_paths, results_paths) = paths.into_iter().unzip();
            tx.run(stmt!("DELETE FROM events WHERE batch_id = $1", batch_id)).await?;
            tx.run(stmt!("DELETE FROM batches WHERE id = $1", batch_id)).await?;
            tx.event(EventData::Deleted { batch_id });
            Ok(DeletedBatch { file_paths, results_paths })
        })
    }
}
