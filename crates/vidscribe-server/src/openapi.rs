//! `/api/openapi.json`, built from the route table in [`crate::routes`] (the same table the
//! router is built from) plus the schemas of the objects API.md defines. Every enum in it
//! (statuses, stages, formats, error codes) is listed from the core type that defines it, so
//! the document cannot name a value the code does not have, or miss one it does.

use axum::http::StatusCode;
use serde_json::{json, Map, Value};
use vidscribe_core::{BatchStatus, Code, FailureCode, JobStage, JobStatus, OutputFormat};

use crate::state::AppState;

/// Error statuses only a route that reads a request body can answer: 408 (too slow), 413
/// (too large), 415 (wrong content type or not media). Every other status of the registry
/// can come from any `/api` route (a bad id, the token, a missing batch, the store).
const BODY_STATUSES: [u16; 3] = [408, 413, 415];

fn string_enum<'a>(values: impl IntoIterator<Item = &'a str>) -> Value {
    json!({ "type": "string", "enum": values.into_iter().collect::<Vec<_>>() })
}

fn nullable_string_enum<'a>(values: impl IntoIterator<Item = &'a str>) -> Value {
    let mut values: Vec<Value> = values.into_iter().map(Value::from).collect();
    values.push(Value::Null);
    json!({ "type": ["string", "null"], "enum": values })
}

/// `code: description` lines, so a reader of the document sees what each value means.
fn code_lines<'a>(codes: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    codes.into_iter().map(|(c, d)| format!("`{c}`: {d}")).collect::<Vec<_>>().join("\n")
}

/// The registry's codes that answer with `status`.
fn codes_with_status(status: u16) -> impl Iterator<Item = Code> {
    Code::ALL.iter().copied().filter(move |c| c.http_status() == status)
}

/// Every error status of the registry, ascending, once.
fn error_statuses() -> Vec<u16> {
    let mut statuses: Vec<u16> = Code::ALL.iter().map(|c| c.http_status()).collect();
    statuses.sort_unstable();
    statuses.dedup();
    statuses
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn nullable(t: &str) -> Value {
    json!({ "type": [t, "null"] })
}

fn schemas() -> Value {
    let ts = json!({ "type": "string", "format": "date-time" });
    let ts_null = json!({ "type": ["string", "null"], "format": "date-time" });
    let uuid = json!({ "type": "string", "format": "uuid" });
    let progress = json!({
        "type": "object",
        "properties": {
            "total_jobs": {"type": "integer"}, "completed_jobs": {"type": "integer"},
            "failed_jobs": {"type": "integer"}, "processing_jobs": {"type": "integer"},
            "skipped_jobs": {"type": "integer"}, "queued_jobs": {"type": "integer"},
            "cancelled_jobs": {"type": "integer"},
            "progress_percentage": {"type": "number"},
            "estimated_remaining": {"type": ["string", "null"], "description": "HH:MM:SS"}
        }
    });
    let mut failure_code = nullable_string_enum(FailureCode::ALL.iter().map(|c| c.as_str()));
    failure_code["description"] = json!(format!(
        "Why the job failed or ended (null while it has not):\n{}",
        code_lines(FailureCode::ALL.iter().map(|c| (c.as_str(), c.description())))
    ));
    let formats = string_enum(OutputFormat::ALL.iter().map(|f| f.as_str()));
    let mut error_code = string_enum(Code::ALL.iter().map(|c| c.as_str()));
    error_code["description"] = json!(code_lines(Code::ALL.iter().map(|c| (c.as_str(), c.description()))));
    let job = json!({
        "type": "object",
        "properties": {
            "job_id": uuid, "batch_id": uuid, "original_filename": {"type": "string"},
            "session_name": {"type": "string"},
            "status": string_enum(JobStatus::ALL.iter().map(|s| s.as_str())),
            "stage": nullable_string_enum(JobStage::ALL.iter().map(|s| s.as_str())),
            "progress": {"type": "number", "minimum": 0, "maximum": 1},
            "media_duration": nullable("number"), "attempts": {"type": "integer"},
            "worker": nullable("string"), "heartbeat_at": ts_null, "created_at": ts,
            "started_at": ts_null, "completed_at": ts_null, "error_message": nullable("string"),
            "error_code": failure_code, "warning": nullable("string"), "session_id": uuid,
            "results_path": {"type": "string"}, "file_path": {"type": "string"}
        }
    });
    let batch_status = string_enum(BatchStatus::ALL.iter().map(|s| s.as_str()));
    let summary = json!({
        "type": "object",
        "properties": {
            "batch_id": uuid, "name": {"type": "string"}, "status": batch_status,
            "created_at": ts, "started_at": ts_null, "completed_at": ts_null,
            "max_concurrent": {"type": "integer"}, "error_message": nullable("string"),
            "total_jobs": {"type": "integer"}, "progress": schema_ref("BatchProgress")
        }
    });
    let batch = json!({
        "type": "object",
        "properties": {
            "batch_id": uuid, "name": {"type": "string"}, "max_concurrent": {"type": "integer"},
            "status": batch_status, "created_at": ts, "started_at": ts_null, "completed_at": ts_null,
            "total_duration": {"type": "number"}, "error_message": nullable("string"),
            "model": {"type": "string"}, "language": nullable("string"),
            "formats": {"type": "array", "items": formats}, "vad": {"type": "boolean"},
            "jobs": {"type": "array", "items": schema_ref("Job")},
            "progress": schema_ref("BatchProgress")
        }
    });
    let ok = |props: Value| {
        let mut p = json!({ "success": {"type": "boolean", "const": true} });
        if let (Some(p), Some(extra)) = (p.as_object_mut(), props.as_object()) {
            p.extend(extra.clone());
        }
        json!({ "type": "object", "properties": p })
    };
    json!({
        "BatchProgress": progress,
        "Job": job,
        "BatchSummary": summary,
        "Batch": batch,
        "Error": {
            "type": "object",
            "required": ["success", "error", "code"],
            "properties": {
                "success": {"type": "boolean", "const": false},
                "error": {"type": "string"}, "code": error_code
            }
        },
        "CreateBatch": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "max_concurrent": {"type": "integer", "minimum": 1, "maximum": 16},
                "model": {"type": "string"}, "language": {"type": "string"},
                "formats": {"type": "array", "items": formats},
                "vad": {"type": "boolean", "default": true}
            }
        },
        "CreateBatchResponse": ok(json!({"batch_id": uuid, "message": {"type": "string"}, "batch": schema_ref("Batch")})),
        "AddVideoResponse": ok(json!({"job_id": uuid, "message": {"type": "string"}, "job": schema_ref("Job")})),
        "MessageResponse": ok(json!({"message": {"type": "string"}})),
        "BatchResponse": ok(json!({"batch": schema_ref("Batch")})),
        "BatchListResponse": ok(json!({"batches": {"type": "array", "items": schema_ref("BatchSummary")}})),
        "JobResponse": ok(json!({"message": {"type": "string"}, "job": schema_ref("Job")})),
        "ResultsResponse": ok(json!({
            "batch_id": uuid, "batch_name": {"type": "string"}, "total_jobs": {"type": "integer"},
            "completed_jobs": {"type": "integer"},
            "results": {"type": "array", "items": {"type": "object", "properties": {
                "job_id": uuid, "original_filename": {"type": "string"}, "session_name": {"type": "string"},
                "session_id": uuid, "results_path": {"type": "string"}, "completed_at": ts_null,
                "metadata": {"type": ["object", "null"]}
            }}}
        })),
        "WorkersResponse": ok(json!({"workers": {"type": "array", "items": {"type": "object"}}})),
        "HealthResponse": ok(json!({"status": {"type": "string"}, "version": {"type": "string"}}))
    })
}

/// The error response of `status`: the envelope, its `code` one of the registry's codes
/// with that status.
fn error_response(status: u16) -> Value {
    let codes: Vec<&str> = codes_with_status(status).map(|c| c.as_str()).collect();
    let reason = StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error");
    json!({
        "description": format!("{reason}: {}", codes.join(", ")),
        "content": { "application/json": { "schema": {
            "allOf": [schema_ref("Error"), { "properties": { "code": { "enum": codes } } }]
        }}}
    })
}

/// The OpenAPI 3.1 document of every route the router serves.
pub fn document(state: &AppState) -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for doc in crate::routes::docs(state) {
        let mut op = Map::new();
        op.insert("summary".into(), json!(doc.summary));
        let params: Vec<Value> = doc
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| {
                let name = name.trim_start_matches('*');
                json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } })
            })
            .collect();
        if !params.is_empty() {
            op.insert("parameters".into(), Value::Array(params));
        }
        match doc.request {
            Some("multipart") => {
                op.insert(
                    "requestBody".into(),
                    json!({
                        "required": true,
                        "content": { "multipart/form-data": { "schema": {
                            "type": "object", "required": ["file", "batch_id"],
                            "properties": {
                                "file": {"type": "string", "format": "binary"},
                                "batch_id": {"type": "string", "format": "uuid"},
                                "session_name": {"type": "string"}
                            }
                        }}}
                    }),
                );
            }
            Some(r) if r.starts_with("json:") => {
                op.insert(
                    "requestBody".into(),
                    json!({
                        "content": { "application/json": { "schema": schema_ref(&r[5..]) } }
                    }),
                );
            }
            _ => {}
        }
        let ok = if doc.response.contains('/') {
            json!({ "description": "OK", "content": { doc.response: {} } })
        } else {
            json!({ "description": "OK", "content": { "application/json": { "schema": schema_ref(doc.response) } } })
        };
        let mut responses = Map::new();
        responses.insert("200".into(), ok);
        if doc.path.starts_with("/api/") {
            for status in error_statuses() {
                if doc.request.is_some() || !BODY_STATUSES.contains(&status) {
                    responses.insert(status.to_string(), error_response(status));
                }
            }
        }
        op.insert("responses".into(), Value::Object(responses));
        if doc.auth {
            op.insert("security".into(), json!([{ "bearer": [] }]));
        }
        let path = doc.path.replace("{*path}", "{path}");
        let entry = paths.entry(path).or_insert_with(|| json!({}));
        if let Some(obj) = entry.as_object_mut() {
            obj.insert(doc.method.to_ascii_lowercase(), Value::Object(op));
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Vidscribe",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Batch video transcription with live progress. Errors: {\"success\": false, \"error\", \"code\"}."
        },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::config::ServerConfig;

    async fn doc() -> Value {
        let dir = tempfile::tempdir().unwrap();
        let store = vidscribe_store::sqlite::SqliteStore::open(&dir.path().join("vidscribe.db")).await.unwrap();
        document(&AppState::new(Arc::new(store), ServerConfig::new(dir.path())))
    }

    fn strings(v: &Value) -> Vec<Value> {
        v.as_array().unwrap_or_else(|| panic!("not an array: {v}")).clone()
    }

    fn wire<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Value> {
        values.into_iter().map(Value::from).collect()
    }

    #[tokio::test]
    async fn the_enums_of_the_document_are_those_of_the_code() {
        let d = doc().await;
        let s = &d["components"]["schemas"];
        assert_eq!(strings(&s["Error"]["properties"]["code"]["enum"]), wire(Code::ALL.iter().map(|c| c.as_str())));
        let mut failures = wire(FailureCode::ALL.iter().map(|c| c.as_str()));
        failures.push(Value::Null);
        assert_eq!(strings(&s["Job"]["properties"]["error_code"]["enum"]), failures);
        assert_eq!(strings(&s["Job"]["properties"]["status"]["enum"]), wire(JobStatus::ALL.iter().map(|x| x.as_str())));
        let mut stages = wire(JobStage::ALL.iter().map(|x| x.as_str()));
        stages.push(Value::Null);
        assert_eq!(strings(&s["Job"]["properties"]["stage"]["enum"]), stages);
        let batch_statuses = wire(BatchStatus::ALL.iter().map(|x| x.as_str()));
        assert_eq!(strings(&s["Batch"]["properties"]["status"]["enum"]), batch_statuses);
        assert_eq!(strings(&s["BatchSummary"]["properties"]["status"]["enum"]), batch_statuses);
        let formats = wire(OutputFormat::ALL.iter().map(|x| x.as_str()));
        assert_eq!(strings(&s["CreateBatch"]["properties"]["formats"]["items"]["enum"]), formats);
        for code in Code::ALL {
            let text = s["Error"]["properties"]["code"]["description"].as_str().unwrap();
            assert!(text.contains(&format!("`{code}`: {}", code.description())), "{code} not described");
        }
    }

    /// Each `/api` operation answers every status of the registry (the body statuses only
    /// where there is a body), each listing exactly the registry's codes of that status; so
    /// every code appears, under its own status.
    #[tokio::test]
    async fn every_api_operation_lists_each_error_status_with_its_codes() {
        let d = doc().await;
        let mut seen: BTreeSet<String> = BTreeSet::new();
        for (path, ops) in d["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                let responses = op["responses"].as_object().unwrap();
                let errors: Vec<u16> =
                    responses.keys().map(|k| k.parse::<u16>().unwrap()).filter(|s| *s >= 400).collect();
                if !path.starts_with("/api/") {
                    assert!(errors.is_empty(), "{method} {path}: {errors:?}");
                    continue;
                }
                let has_body = op.get("requestBody").is_some();
                let expected: Vec<u16> =
                    error_statuses().into_iter().filter(|s| has_body || !BODY_STATUSES.contains(s)).collect();
                assert_eq!(errors, expected, "{method} {path}");
                for status in errors {
                    let codes = &responses[&status.to_string()]["content"]["application/json"]["schema"]["allOf"][1]
                        ["properties"]["code"]["enum"];
                    let listed = strings(codes);
                    assert_eq!(listed, wire(codes_with_status(status).map(|c| c.as_str())), "{method} {path} {status}");
                    seen.extend(listed.iter().map(|c| c.as_str().unwrap().to_string()));
                }
            }
        }
        let all: BTreeSet<String> = Code::ALL.iter().map(|c| c.to_string()).collect();
        assert_eq!(seen, all, "every code is documented under some operation");
    }

    fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// The document puts 408, 413 and 415 only on routes with a request body. That holds while
    /// the codes of those statuses are produced only where a body is read: the slow-body
    /// guard, the JSON extractor and the upload handler. A handler that starts answering one
    /// elsewhere fails here, and the document's rule must change with it.
    #[test]
    fn body_status_codes_are_produced_only_where_a_body_is_read() {
        let by_name: HashMap<String, Code> = Code::ALL.iter().map(|c| (format!("{c:?}"), *c)).collect();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let body_readers = ["body.rs", "extract.rs", "routes/upload.rs"].map(|f| src.join(f));
        let mut named = 0;
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            for (i, _) in text.match_indices("Code::") {
                let name: String =
                    text[i + 6..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                let Some(code) = by_name.get(&name) else { continue };
                named += 1;
                if BODY_STATUSES.contains(&code.http_status()) && file != &src.join("openapi.rs") {
                    assert!(body_readers.contains(file), "{code} ({}) in {}", code.http_status(), file.display());
                }
            }
        }
        assert!(named > 20, "the scan found the codes the server names ({named})");
    }
}
