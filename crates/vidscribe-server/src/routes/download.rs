//! Downloads: one rendered output of a job, or a ZIP of every completed job's outputs.

use std::io::{Seek, SeekFrom, Write};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use tokio_util::io::ReaderStream;
use vidscribe_core::{session, Code, Job, JobStatus, OutputFormat, Transcript};

use crate::error::{ApiError, ApiResult};
use crate::extract::{BatchPath, JobPath};
use crate::state::AppState;

/// Files of a results directory that go into the ZIP, in this order.
pub const RESULT_FILES: [&str; 5] =
    ["transcript.txt", "subtitles.srt", "subtitles.vtt", "transcript.json", "metadata.json"];

/// `<safe session name>_<job8>`: the ZIP folder of one job; never contains path syntax.
pub fn zip_folder(job: &Job) -> String {
    let safe = session::safe_component(&job.session_name);
    let safe = if safe.is_empty() { "session".to_string() } else { safe };
    format!("{safe}_{}", job.job_id.short())
}

fn attachment(name: &str) -> HeaderValue {
    // `name` comes from safe_component, so it is plain; quote it anyway.
    HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// `GET /api/batch/{id}/jobs/{job_id}/transcript.{txt,srt,vtt,json}`: rendered from
/// `transcript.json`, so formats not requested at creation can still be produced.
#[tracing::instrument(skip_all, fields(batch_id = %ids.0, job_id = %ids.1))]
pub async fn transcript(
    State(state): State<AppState>,
    ids: JobPath,
    Path(params): Path<Vec<(String, String)>>,
    request: axum::extract::Request,
) -> ApiResult<Response> {
    let JobPath(batch_id, job_id) = ids;
    let file = params.iter().find(|(k, _)| k == "file").map(|(_, v)| v.as_str()).unwrap_or("");
    if file == "media" {
        return media(&state, batch_id, job_id, request).await;
    }
    let format = match file.strip_prefix("transcript.").map(str::parse::<OutputFormat>) {
        Some(Ok(f)) => f,
        _ => {
            return Err(ApiError::new(
                Code::UnknownOutput,
                "no such output (expected transcript.txt, transcript.srt, transcript.vtt or transcript.json)",
            ))
        }
    };
    let partial = partial_requested(request.uri().query())?;
    let job = state.store.get_job(batch_id, job_id).await?;
    if job.status != JobStatus::Completed {
        if partial {
            return live_transcript(&state, &job, format).await;
        }
        return Err(ApiError::new(
            Code::JobNotCompleted,
            format!("job {job_id} is {}, not completed (?partial=1 gives what it has so far)", job.status),
        ));
    }
    let key = |name: &str| format!("{}/{name}", job.results_path);
    let body = match state.storage.get(&key(OutputFormat::Json.file_name())).await {
        Ok(bytes) => {
            let t: Transcript = serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::internal("transcript.json is not a transcript", e))?;
            if format == OutputFormat::Json {
                String::from_utf8_lossy(&bytes).into_owned()
            } else {
                vidscribe_formats::render(format, &t)
            }
        }
        // No canonical transcript (written by an older version?): serve the file if present.
        Err(e) if e.is_not_found() => match state.storage.get(&key(format.file_name())).await {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(_) => return Err(ApiError::new(Code::OutputMissing, "the outputs of this job are gone")),
        },
        Err(e) => return Err(ApiError::internal("cannot read transcript.json", e)),
    };
    let name = format!("{}.{}", zip_folder(&job), format.as_str());
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    h.insert(CONTENT_DISPOSITION, attachment(&name));
    Ok(resp)
}

/// `?partial=1`: the live transcript of a job that has not completed, instead of a 409.
fn partial_requested(query: Option<&str>) -> ApiResult<bool> {
    let value = query
        .unwrap_or("")
        .split('&')
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .find(|(k, _)| *k == "partial")
        .map(|(_, v)| v);
    match value {
        None | Some("0") | Some("false") => Ok(false),
        Some("1") | Some("true") => Ok(true),
        Some(_) => Err(ApiError::new(Code::InvalidInput, "partial must be 1 or 0")),
    }
}

/// The segments a job has committed so far, in the format asked for. JSON says it is partial
/// and how far decoding got; the other formats are rendered from the segments.
async fn live_transcript(state: &AppState, job: &Job, format: OutputFormat) -> ApiResult<Response> {
    let live = state.store.segments(job.batch_id, job.job_id).await?;
    let (segments, done) = (live.segments, live.done_seconds);
    let mut resp = if format == OutputFormat::Json {
        axum::Json(serde_json::json!({
            "partial": true,
            "status": job.status,
            "done_seconds": done.unwrap_or(0.0),
            "duration": job.media_duration,
            "segments": segments,
        }))
        .into_response()
    } else {
        let t = Transcript {
            language: String::new(),
            language_probability: None,
            duration: done.unwrap_or(0.0),
            model: String::new(),
            segments,
            warnings: Vec::new(),
            speech_seconds: None,
        };
        vidscribe_formats::render(format, &t).into_response()
    };
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    h.insert(axum::http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// `GET /api/batch/{id}/download`: the ZIP is written to an unlinked temporary file in the data
/// directory (never built in memory), one result file at a time, then streamed.
#[tracing::instrument(skip_all, fields(batch_id = %id))]
pub async fn zip(State(state): State<AppState>, BatchPath(id): BatchPath) -> ApiResult<Response> {
    let batch = state.store.get_batch(id).await?;
    let mut entries: Vec<(String, String)> = Vec::new();
    for job in batch.jobs.iter().filter(|j| j.status == JobStatus::Completed) {
        let folder = zip_folder(job);
        for f in RESULT_FILES {
            entries.push((format!("{folder}/{f}"), format!("{}/{f}", job.results_path)));
        }
    }
    let tmp_dir = state.data.tmp();
    tokio::fs::create_dir_all(&tmp_dir).await.map_err(|e| ApiError::internal("cannot create the tmp directory", e))?;
    let tmp = tmp_dir.join(format!("download-{}.zip", uuid::Uuid::now_v7()));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| ApiError::internal("cannot create the zip", e));
    // Unlinked at once: the open handle keeps the data until the response is streamed.
    let _ = std::fs::remove_file(&tmp);
    let mut zip = zip::ZipWriter::new(file?);
    let mut n = 0;
    for (name, key) in entries {
        let bytes = match state.storage.get(&key).await {
            Ok(b) => b,
            // Formats not requested for this batch are simply not there.
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(ApiError::internal("cannot read a result file", e)),
        };
        zip = tokio::task::spawn_blocking(move || add_entry(zip, &name, &bytes))
            .await
            .map_err(|e| ApiError::internal("zip task failed", e))?
            .map_err(|e| ApiError::internal("cannot write the zip", e))?;
        n += 1;
    }
    if n == 0 {
        return Err(ApiError::new(Code::NoResults, "this batch has no completed jobs to download"));
    }
    let (file, len) = tokio::task::spawn_blocking(move || finish_zip(zip))
        .await
        .map_err(|e| ApiError::internal("zip task failed", e))?
        .map_err(|e| ApiError::internal("cannot write the zip", e))?;
    tracing::info!(entries = n, bytes = len, "zip download");
    let stream = ReaderStream::with_capacity(tokio::fs::File::from_std(file), 64 * 1024);
    let safe_batch = session::safe_component(&batch.name);
    let name = format!("{}_{}.zip", if safe_batch.is_empty() { "batch" } else { &safe_batch }, id.short());
    let mut resp = Body::from_stream(stream).into_response();
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/zip"));
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(CONTENT_DISPOSITION, attachment(&name));
    Ok(resp)
}

type Zip = zip::ZipWriter<std::fs::File>;

fn add_entry(mut zip: Zip, name: &str, bytes: &[u8]) -> std::io::Result<Zip> {
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o644);
    zip.start_file(name, options).map_err(std::io::Error::other)?;
    zip.write_all(bytes)?;
    Ok(zip)
}

fn finish_zip(zip: Zip) -> std::io::Result<(std::fs::File, u64)> {
    let mut file = zip.finish().map_err(std::io::Error::other)?;
    file.flush()?;
    let len = file.seek(SeekFrom::End(0))?;
    file.seek(SeekFrom::Start(0))?;
    Ok((file, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zip_folders_are_safe_names() {
        for name in ["../../etc/passwd", "<script>alert(1)</script>", "..", ""] {
            let job = test_job(name);
            let folder = zip_folder(&job);
            assert!(
                !folder.contains('/') && !folder.contains('\\') && !folder.contains("..") && !folder.starts_with('.'),
                "{folder}"
            );
            assert!(folder.ends_with(&job.job_id.short()));
        }
    }

    fn test_job(session_name: &str) -> Job {
        let v = serde_json::json!({
            "job_id": vidscribe_core::JobId::new(), "batch_id": vidscribe_core::BatchId::new(),
            "original_filename": "x.mp4", "session_name": session_name, "status": "completed",
            "stage": null, "progress": 1.0, "media_duration": null, "attempts": 1, "worker": null,
            "heartbeat_at": null, "created_at": chrono::Utc::now(), "started_at": null, "completed_at": null,
            "error_message": null, "error_code": null, "session_id": vidscribe_core::SessionId::new(),
            "results_path": "results/x", "file_path": "uploads/x.mp4"
        });
        serde_json::from_value(v).unwrap()
    }
}

/// `GET /api/batch/{id}/jobs/{job_id}/media`: the uploaded file, with HTTP Range support so
/// the transcript viewer's player can seek. The stored name is `<job_id>.<sniffed ext>`,
/// so the content type comes from content sniffing at upload, never from the client.
async fn media(
    state: &AppState,
    batch_id: vidscribe_core::BatchId,
    job_id: vidscribe_core::JobId,
    request: axum::extract::Request,
) -> ApiResult<Response> {
    use tower::ServiceExt as _;
    let job = state.store.get_job(batch_id, job_id).await?;
    let local = match state.storage.local_file(&job.file_path).await {
        Ok(f) => f,
        Err(e) if e.is_not_found() => {
            return Err(ApiError::new(Code::MediaMissing, "the uploaded file of this job is gone"))
        }
        Err(e) => return Err(ApiError::internal("cannot read the upload", e)),
    };
    // ServeFile opens the file here; a temporary copy may be unlinked once it is open.
    let response = tower_http::services::ServeFile::new(local.path())
        .oneshot(request)
        .await
        .map_err(|e| ApiError::internal("cannot serve the upload", e))?;
    drop(local);
    Ok(response.map(Body::new).into_response())
}
