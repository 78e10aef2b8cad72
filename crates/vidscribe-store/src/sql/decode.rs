//! Rows → domain values, written once for both backends through [`Cells`].

use vidscribe_core::progress::StatusCounts;
use vidscribe_core::{
    Attempt, BatchId, BatchSettings, Event, EventData, EventKind, Job, JobId, OutputFormat, SessionId,
};

use super::query::Cells;
use crate::batch_row::BatchRow;
use crate::error::{Result, StoreError};

pub(crate) const JOB_COLUMNS: &str =
    "id, batch_id, original_filename, session_name, session_id, file_path, results_path, \
     status, stage, progress, media_duration, attempts, worker, heartbeat_at, created_at, started_at, completed_at, \
     error_message, error_code, warning";

pub(crate) const BATCH_COLUMNS: &str = "id, name, max_concurrent, status, model, language, formats, created_at, \
     started_at, completed_at, error_message, n_queued, n_processing, n_completed, n_failed, n_skipped, n_cancelled, \
     media_queued, n_queued_unknown, media_done, eta_since, vad";

pub(crate) const ATTEMPT_COLUMNS: &str = "attempt, worker, started_at, ended_at, outcome, error_message";

/// The log's columns; `data` as text on both (it is `jsonb` in PostgreSQL).
pub(crate) const EVENT_COLUMNS: &str = "seq, kind, batch_id, job_id, at, CAST(data AS TEXT) AS data";

pub(crate) fn job(r: &impl Cells) -> Result<Job> {
    Ok(Job {
        job_id: JobId::from_uuid(r.id("id")?),
        batch_id: BatchId::from_uuid(r.id("batch_id")?),
        original_filename: r.text("original_filename")?,
        session_name: r.text("session_name")?,
        status: r.parsed("status")?,
        stage: r.opt_parsed("stage")?,
        progress: r.real("progress")?,
        media_duration: r.opt_real("media_duration")?,
        attempts: r.count("attempts")? as u32,
        worker: r.opt_text("worker")?,
        heartbeat_at: r.opt_time("heartbeat_at")?,
        created_at: r.time("created_at")?,
        started_at: r.opt_time("started_at")?,
        completed_at: r.opt_time("completed_at")?,
        error_message: r.opt_text("error_message")?,
        error_code: r.opt_parsed("error_code")?,
        warning: r.opt_text("warning")?,
        session_id: SessionId::from_uuid(r.id("session_id")?),
        results_path: r.text("results_path")?,
        file_path: r.text("file_path")?,
        history: Vec::new(),
    })
}

pub(crate) fn batch(r: &impl Cells) -> Result<BatchRow> {
    let formats = r.text("formats")?;
    let formats = if formats.is_empty() {
        Vec::new()
    } else {
        OutputFormat::parse_list(&formats).map_err(|e| StoreError::Corrupt(e.to_string()))?
    };
    let name = r.text("name")?;
    let max_concurrent = r.count("max_concurrent")?.max(1) as u32;
    Ok(BatchRow {
        id: BatchId::from_uuid(r.id("id")?),
        status: r.parsed("status")?,
        settings: BatchSettings {
            name: name.clone(),
            max_concurrent,
            model: r.text("model")?,
            language: r.opt_text("language")?,
            formats,
            vad: r.flag("vad")?,
        },
        name,
        max_concurrent,
        created_at: r.time("created_at")?,
        started_at: r.opt_time("started_at")?,
        completed_at: r.opt_time("completed_at")?,
        error_message: r.opt_text("error_message")?,
        counts: StatusCounts {
            queued: r.count("n_queued")?,
            processing: r.count("n_processing")?,
            completed: r.count("n_completed")?,
            failed: r.count("n_failed")?,
            skipped: r.count("n_skipped")?,
            cancelled: r.count("n_cancelled")?,
        },
        media_queued: r.real("media_queued")?,
        queued_unknown: r.count("n_queued_unknown")?,
        media_done: r.real("media_done")?,
        eta_since: r.opt_time("eta_since")?,
    })
}

pub(crate) fn attempt(r: &impl Cells) -> Result<Attempt> {
    Ok(Attempt {
        attempt: r.count("attempt")? as u32,
        worker: r.text("worker")?,
        started_at: r.time("started_at")?,
        ended_at: r.opt_time("ended_at")?,
        outcome: r.opt_text("outcome")?,
        error_message: r.opt_text("error_message")?,
    })
}

pub(crate) fn event(r: &impl Cells) -> Result<Event> {
    let kind = r.text("kind")?;
    let kind = EventKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("bad event kind '{kind}'")))?;
    let data = EventData::from_json(kind, &r.text("data")?)
        .map_err(|e| StoreError::Corrupt(format!("bad event data: {e}")))?;
    Ok(Event { seq: r.int("seq")?, at: r.time("at")?, data })
}

/// `(progress, media_duration)` of a running job.
pub(crate) fn running(r: &impl Cells) -> Result<(f64, Option<f64>)> {
    Ok((r.real("progress")?, r.opt_real("media_duration")?))
}
