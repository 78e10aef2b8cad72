//! `POST /api/batch/add-video`: a multipart upload streamed to disk, size-limited, sniffed by
//! content, probed, and only then accepted as a job. Every rejection removes what was written.

use std::path::{Path, PathBuf};

use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::{Multipart, State};
use axum::http::header::CONTENT_LENGTH;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::Utc;
use serde_json::{json, Value};
use tokio::io::{AsyncWriteExt, BufWriter};
use vidscribe_core::{session, BatchId, BatchStatus, Code, Job, JobId, SessionId};
use vidscribe_store::NewJob;

use crate::body::BodyClock;
use crate::error::{ApiError, ApiResult};
use crate::media;
use crate::state::AppState;

/// How far past the limit an over-size body is still read (and discarded), so the client gets
/// the 413 answer instead of a reset connection; beyond it the connection is cut.
pub const DRAIN_ALLOWANCE: u64 = 8 * 1024 * 1024;

/// Longest accepted text field (`batch_id`, `session_name`).
const MAX_TEXT_FIELD: usize = 4096;

/// Removes a file when dropped, unless disarmed: every early return cleans up after itself.
struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            if let Err(e) = std::fs::remove_file(&p) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(path = %p.display(), error = %e, "could not remove rejected upload");
                }
            }
        }
    }
}

struct Upload {
    path: PathBuf,
    guard: RemoveOnDrop,
    size: u64,
    head: Vec<u8>,
    original_filename: String,
}

fn too_large(limit: u64) -> ApiError {
    ApiError::new(Code::FileTooLarge, format!("the upload exceeds the limit of {}", human_bytes(limit)))
}

pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} bytes")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

fn multipart_error(e: MultipartError, limit: u64) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(limit)
    } else {
        ApiError::new(Code::InvalidMultipart, format!("malformed multipart body: {}", e.body_text()))
    }
}

/// Characters that are not control characters to Rust but rewrite how the rest of a line is
/// shown: bidirectional overrides, embeddings, isolates and marks (`evil\u{202E}4pm.exe`
/// reads as `evilexe.mp4`), and the Unicode line and paragraph separators.
fn is_layout_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
}

/// The client's file name as a display label only: no directories, no control characters
/// (nor bidi overrides or line separators), at most 255 characters, never empty, `.` or `..`.
pub fn display_filename(raw: Option<&str>) -> String {
    let raw = raw.unwrap_or("");
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base.chars().filter(|c| !c.is_control() && !is_layout_control(*c)).take(255).collect();
    let clean = clean.trim().to_string();
    if clean.is_empty() || clean == "." || clean == ".." {
        "upload".to_string()
    } else {
        clean
    }
}

async fn read_text(mut field: Field<'_>, name: &str, limit: u64, clock: &mut BodyClock) -> ApiResult<String> {
    let mut buf = Vec::new();
    while let Some(chunk) = clock.read(field.chunk()).await?.map_err(|e| multipart_error(e, limit))? {
        clock.count(chunk.len());
        buf.extend_from_slice(&chunk);
        if buf.len() > MAX_TEXT_FIELD {
            return Err(ApiError::new(Code::InvalidInput, format!("field '{name}' is too long")));
        }
    }
    String::from_utf8(buf).map_err(|_| ApiError::new(Code::InvalidInput, format!("field '{name}' is not UTF-8")))
}

/// Checks that a batch exists (404) and still takes uploads (409).
async fn check_pending(state: &AppState, raw: &str) -> ApiResult<BatchId> {
    let id: BatchId = raw.parse()?;
    let summary = state.store.batch_summary(id).await?;
    if summary.status != BatchStatus::Pending {
        return Err(ApiError::new(
            Code::BatchNotPending,
            format!("batch {id} is {}; videos can only be added before it starts", summary.status),
        ));
    }
    Ok(id)
}

async fn stream_to_disk(
    mut field: Field<'_>,
    path: &Path,
    limit: u64,
    clock: &mut BodyClock,
) -> ApiResult<(u64, Vec<u8>)> {
    let file = tokio::fs::File::create(path).await.map_err(|e| ApiError::internal("cannot create upload file", e))?;
    let mut out = BufWriter::with_capacity(256 * 1024, file);
    let mut size: u64 = 0;
    let mut head = Vec::new();
    loop {
        let chunk = match clock.read(field.chunk()).await? {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => return Err(multipart_error(e, limit)),
        };
        clock.count(chunk.len());
        size += chunk.len() as u64;
        if size > limit {
            // Read (and drop) the rest within the allowance so the client sees the answer.
            let mut drained: u64 = 0;
            while let Ok(Ok(Some(c))) = clock.read(field.chunk()).await {
                clock.count(c.len());
                drained += c.len() as u64;
                if drained > DRAIN_ALLOWANCE {
                    break;
                }
            }
            return Err(too_large(limit));
        }
        if head.len() < media::SNIFF_BYTES {
            let take = (media::SNIFF_BYTES - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
        }
        out.write_all(&chunk).await.map_err(|e| ApiError::internal("cannot write upload", e))?;
    }
    out.flush().await.map_err(|e| ApiError::internal("cannot write upload", e))?;
    Ok((size, head))
}

#[tracing::instrument(skip_all, fields(job_id, batch_id))]
pub async fn add_video(
    State(state): State<AppState>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Json<Value>> {
    let limit = state.config.max_upload_bytes;
    // A declared length far past the limit is refused before reading anything (curl's
    // `Expect: 100-continue` then never sends the body).
    let declared = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit.saturating_add(1024 * 1024)) {
        return Err(too_large(limit));
    }
    let mut multipart = multipart.map_err(|e| {
        ApiError::new(Code::UnsupportedMediaType, format!("expected a multipart/form-data upload: {}", e.body_text()))
    })?;

    let job_id = JobId::new();
    tracing::Span::current().record("job_id", tracing::field::display(job_id));
    let uploads = state.data.uploads();
    tokio::fs::create_dir_all(&uploads)
        .await
        .map_err(|e| ApiError::internal("cannot create the uploads directory", e))?;

    let mut batch_raw: Option<String> = None;
    let mut batch_checked: Option<BatchId> = None;
    let mut session_raw: Option<String> = None;
    let mut upload: Option<Upload> = None;
    let mut clock = BodyClock::upload(&state.config);

    while let Some(field) = clock.read(multipart.next_field()).await?.map_err(|e| multipart_error(e, limit))? {
        match field.name().unwrap_or("") {
            "file" => {
                if upload.is_some() {
                    return Err(ApiError::new(Code::TooManyFiles, "send one file per request"));
                }
                // When batch_id came first, refuse before writing a byte.
                if let Some(raw) = &batch_raw {
                    batch_checked = Some(check_pending(&state, raw).await?);
                }
                let original_filename = display_filename(field.file_name());
                let path = uploads.join(format!("{job_id}.part"));
                let guard = RemoveOnDrop(Some(path.clone()));
                let (size, head) = stream_to_disk(field, &path, limit, &mut clock).await?;
                upload = Some(Upload { path, guard, size, head, original_filename });
            }
            "batch_id" => batch_raw = Some(read_text(field, "batch_id", limit, &mut clock).await?.trim().to_string()),
            "session_name" => session_raw = Some(read_text(field, "session_name", limit, &mut clock).await?),
            _ => {
                // Unknown fields are read and ignored (bounded by the body limit).
                let mut field = field;
                while let Some(c) = clock.read(field.chunk()).await?.map_err(|e| multipart_error(e, limit))? {
                    clock.count(c.len());
                }
            }
        }
    }

    let Some(mut upload) = upload else {
        return Err(ApiError::new(Code::MissingFile, "no file was uploaded (multipart field 'file')"));
    };
    let batch_raw = batch_raw.filter(|s| !s.is_empty());
    let Some(batch_raw) = batch_raw else {
        return Err(ApiError::new(Code::MissingBatchId, "batch_id is required"));
    };
    let batch_id = match batch_checked {
        Some(id) if id.to_string() == batch_raw.to_ascii_lowercase() => id,
        _ => check_pending(&state, &batch_raw).await?,
    };
    tracing::Span::current().record("batch_id", tracing::field::display(batch_id));

    if upload.size == 0 {
        return Err(ApiError::new(Code::EmptyFile, format!("'{}' is empty", upload.original_filename)));
    }
    let Some(sniffed) = media::sniff(&upload.head) else {
        return Err(ApiError::new(
            Code::UnsupportedMedia,
            format!(
                "'{}' is not a video or audio file Vidscribe can read (checked by content, not by name)",
                upload.original_filename
            ),
        ));
    };
    let ext = session::safe_component(&sniffed.extension).to_ascii_lowercase();
    let file_path = Job::upload_path(job_id, &ext);
    // Probed where it was streamed (scratch space of this node), stored only once it is media.
    let media_duration = match media::probe(upload.path.clone()).await {
        Ok(d) => d,
        Err(why) => {
            return Err(ApiError::new(
                Code::UnsupportedMedia,
                format!("'{}' could not be read as media: {why}", upload.original_filename),
            ))
        }
    };
    state
        .storage
        .put_file(&file_path, &upload.path)
        .await
        .map_err(|e| ApiError::internal("cannot store the upload", e))?;
    upload.guard.disarm();

    let now = Utc::now();
    let session_name = session_raw
        .as_deref()
        .and_then(session::sanitize)
        .unwrap_or_else(|| session::from_filename(&upload.original_filename, now));
    let new_job = NewJob {
        job_id,
        session_id: SessionId::new(),
        original_filename: upload.original_filename.clone(),
        session_name,
        file_path: file_path.clone(),
        media_duration,
    };
    let jobs = match state.store.add_jobs(batch_id, vec![new_job]).await {
        Ok(jobs) => jobs,
        Err(e) => {
            // No job points at the stored file: remove it, or it would never be cleaned up.
            if let Err(e) = state.storage.delete(&file_path).await {
                tracing::warn!(error = %e, "could not remove the upload of a refused job");
            }
            return Err(e.into());
        }
    };
    let job = jobs.into_iter().next();
    tracing::info!(bytes = upload.size, ?media_duration, format = %ext, "video added");
    Ok(Json(json!({
        "success": true,
        "job_id": job_id,
        "message": format!("Video '{}' added to batch", upload.original_filename),
        "job": job,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_file_names_lose_their_directories() {
        assert_eq!(display_filename(Some("../../etc/passwd")), "passwd");
        assert_eq!(display_filename(Some("C:\\Users\\x\\talk.mp4")), "talk.mp4");
        assert_eq!(display_filename(Some("..")), "upload");
        assert_eq!(display_filename(None), "upload");
        assert_eq!(display_filename(Some("a\u{0}b\nc.mp4")), "abc.mp4");
        assert_eq!(display_filename(Some("evil\u{202E}4pm.exe.mp4")), "evil4pm.exe.mp4");
        assert_eq!(display_filename(Some("\u{2066}a\u{2069}\u{2028}b.wav")), "ab.wav");
        assert_eq!(display_filename(Some("講演 🎬 e\u{301}.wav")), "講演 🎬 e\u{301}.wav");
    }

    #[test]
    fn sizes_read_like_humans_write_them() {
        assert_eq!(human_bytes(10), "10 bytes");
        assert_eq!(human_bytes(2 * 1024 * 1024 * 1024), "2.0 GiB");
    }
}
