//! Batch and job routes that only talk to the store.

use std::time::Instant;

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use vidscribe_core::{BatchId, BatchSettings, BatchStatus, Code, JobStatus, OutputFormat};

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, BatchPath, JobPath};
use crate::state::AppState;

/// Body of `POST /api/batch/create`; every field optional.
#[derive(Debug, Default, Deserialize)]
pub struct CreateBatch {
    #[serde(default)]
    pub name: Option<String>,
    /// 1..=16; a number or a numeric string (forms send strings).
    #[serde(default)]
    pub max_concurrent: Option<Value>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    /// `["srt","vtt"]` or `"srt,vtt"`.
    #[serde(default)]
    pub formats: Option<Value>,
    /// `true`/`false`, or the strings forms send.
    #[serde(default)]
    pub vad: Option<Value>,
}

fn parse_max_concurrent(v: Option<Value>) -> ApiResult<Option<i64>> {
    let bad = || ApiError::new(Code::InvalidInput, "max_concurrent must be an integer between 1 and 16");
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(bad),
        Some(Value::String(s)) => s.trim().parse::<i64>().map(Some).map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

fn parse_formats(v: Option<Value>) -> ApiResult<Option<Vec<OutputFormat>>> {
    let bad = || ApiError::new(Code::InvalidInput, "formats must be a list of txt, srt, vtt, json");
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(OutputFormat::parse_list(&s)?)),
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                let s = item.as_str().ok_or_else(bad)?;
                out.push(s.parse::<OutputFormat>()?);
            }
            Ok(Some(out))
        }
        Some(_) => Err(bad()),
    }
}

fn parse_flag(name: &str, v: Option<Value>) -> ApiResult<Option<bool>> {
    let bad = || ApiError::new(Code::InvalidInput, format!("{name} must be true or false"));
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(Value::String(s)) => match s.trim() {
            "true" | "1" | "on" => Ok(Some(true)),
            "false" | "0" | "off" => Ok(Some(false)),
            _ => Err(bad()),
        },
        Some(_) => Err(bad()),
    }
}

#[tracing::instrument(skip_all)]
pub async fn create(State(state): State<AppState>, ApiJson(body): ApiJson<CreateBatch>) -> ApiResult<Json<Value>> {
    let id = BatchId::new();
    let vad = parse_flag("vad", body.vad)?;
    let mut settings = BatchSettings::new(
        id,
        body.name,
        parse_max_concurrent(body.max_concurrent)?,
        body.model,
        body.language,
        parse_formats(body.formats)?,
    )?;
    settings.vad = vad.unwrap_or(settings.vad);
    let batch = state.store.create_batch(id, &settings).await?;
    tracing::info!(batch_id = %id, name = %batch.name, "batch created");
    Ok(Json(json!({
        "success": true,
        "batch_id": id,
        "message": "Batch created successfully",
        "batch": batch,
    })))
}

#[tracing::instrument(skip_all, fields(batch_id = %id))]
pub async fn start(State(state): State<AppState>, BatchPath(id): BatchPath) -> ApiResult<Json<Value>> {
    let summary = state.store.start_batch(id).await?;
    tracing::info!(jobs = summary.total_jobs, "batch started");
    Ok(Json(json!({ "success": true, "message": "Batch processing started", "batch": summary })))
}

#[tracing::instrument(skip_all, fields(batch_id = %id))]
pub async fn get_one(State(state): State<AppState>, BatchPath(id): BatchPath) -> ApiResult<Json<Value>> {
    let batch = state.store.get_batch(id).await?;
    Ok(Json(json!({ "success": true, "batch": batch })))
}

pub async fn list(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let batches = state.store.list_batches().await?;
    Ok(Json(json!({ "success": true, "batches": batches })))
}

#[tracing::instrument(skip_all, fields(batch_id = %id))]
pub async fn cancel(State(state): State<AppState>, BatchPath(id): BatchPath) -> ApiResult<Json<Value>> {
    let running = state.store.cancel_batch(id).await?;
    tracing::info!(running = running.len(), "batch cancelled");
    Ok(Json(json!({ "success": true, "message": "Batch cancelled", "running_jobs": running })))
}

/// Cancels a pending/processing batch first, waits (bounded) for its running jobs to stop so
/// no worker writes results after they are removed, then removes rows, uploads and results.
#[tracing::instrument(skip_all, fields(batch_id = %id))]
pub async fn remove(State(state): State<AppState>, BatchPath(id): BatchPath) -> ApiResult<Json<Value>> {
    let summary = state.store.batch_summary(id).await?;
    if matches!(summary.status, BatchStatus::Pending | BatchStatus::Processing) {
        match state.store.cancel_batch(id).await {
            Ok(_) => {}
            // Finished meanwhile: nothing to cancel.
            Err(vidscribe_store::StoreError::WrongState { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let deadline = Instant::now() + state.config.delete_wait;
    loop {
        let batch = state.store.get_batch(id).await?;
        let running = batch.jobs.iter().filter(|j| j.status == JobStatus::Processing).count();
        if running == 0 {
            break;
        }
        if Instant::now() >= deadline {
            tracing::warn!(running, "running jobs did not stop in time; deleting anyway");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let deleted = state.store.delete_batch(id).await?;
    // The rows are gone; files that cannot be removed now are logged, not resurrected.
    if let Err(e) =
        vidscribe_storage::remove_all(state.storage.as_ref(), &deleted.file_paths, &deleted.results_paths).await
    {
        tracing::warn!(error = %e, "could not remove every file of the deleted batch");
    }
    if let Err(e) = state.storage.delete(&vidscribe_storage::snapshot_key(id)).await {
        tracing::warn!(error = %e, "could not remove the batch snapshot");
    }
    tracing::info!(files = deleted.file_paths.len(), results = deleted.results_paths.len(), "batch deleted");
    Ok(Json(json!({ "success": true, "message": "Batch deleted" })))
}

#[tracing::instrument(skip_all, fields(batch_id = %id))]
pub async fn results(State(state): State<AppState>, BatchPath(id): BatchPath) -> ApiResult<Json<Value>> {
    let batch = state.store.get_batch(id).await?;
    let mut results = Vec::new();
    for job in batch.jobs.iter().filter(|j| j.status == JobStatus::Completed) {
        let key = format!("{}/{}", job.results_path, vidscribe_formats::METADATA_FILE_NAME);
        let metadata = match state.storage.get(&key).await {
            Ok(bytes) => serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        results.push(json!({
            "job_id": job.job_id,
            "original_filename": job.original_filename,
            "session_name": job.session_name,
            "session_id": job.session_id,
            "results_path": job.results_path,
            "completed_at": job.completed_at,
            "metadata": metadata,
        }));
    }
    Ok(Json(json!({
        "success": true,
        "batch_id": batch.batch_id,
        "batch_name": batch.name,
        "total_jobs": batch.jobs.len(),
        "completed_jobs": results.len(),
        "results": results,
    })))
}

#[tracing::instrument(skip_all, fields(batch_id = %id, job_id = %job))]
pub async fn retry_job(State(state): State<AppState>, JobPath(id, job): JobPath) -> ApiResult<Json<Value>> {
    let job = state.store.retry_job(id, job).await?;
    Ok(Json(json!({ "success": true, "message": "Job re-queued", "job": job })))
}

#[tracing::instrument(skip_all, fields(batch_id = %id, job_id = %job))]
pub async fn cancel_job(State(state): State<AppState>, JobPath(id, job): JobPath) -> ApiResult<Json<Value>> {
    let job = state.store.cancel_job(id, job).await?;
    Ok(Json(json!({ "success": true, "message": "Job cancelled", "job": job })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_concurrent_accepts_numbers_and_numeric_strings() {
        assert_eq!(parse_max_concurrent(Some(json!(3))).unwrap(), Some(3));
        assert_eq!(parse_max_concurrent(Some(json!("4"))).unwrap(), Some(4));
        assert_eq!(parse_max_concurrent(None).unwrap(), None);
        assert_eq!(parse_max_concurrent(Some(json!(1.5))).unwrap_err().code, "invalid_input");
        assert_eq!(parse_max_concurrent(Some(json!([1]))).unwrap_err().code, "invalid_input");
    }

    #[test]
    fn formats_accept_a_list_or_a_comma_string() {
        assert_eq!(
            parse_formats(Some(json!(["srt", "vtt"]))).unwrap(),
            Some(vec![OutputFormat::Srt, OutputFormat::Vtt])
        );
        assert_eq!(parse_formats(Some(json!("txt,json"))).unwrap(), Some(vec![OutputFormat::Txt, OutputFormat::Json]));
        assert!(parse_formats(Some(json!(["docx"]))).is_err());
        assert!(parse_formats(Some(json!([1]))).is_err());
    }
}
