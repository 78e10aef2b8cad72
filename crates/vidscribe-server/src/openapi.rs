//! `/api/openapi.json`, built from the route table in [`crate::routes`] (the same table the
//! router is built from) plus the schemas of the objects API.md defines.

use serde_json::{json, Map, Value};

use crate::state::AppState;

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
    let job = json!({
        "type": "object",
        "properties": {
            "job_id": uuid, "batch_id": uuid, "original_filename": {"type": "string"},
            "session_name": {"type": "string"},
            "status": {"type": "string", "enum": ["queued","processing","completed","failed","skipped","cancelled"]},
            "stage": {"type": ["string","null"], "enum": ["waiting","loading_model","decoding","transcribing","writing","done", null]},
            "progress": {"type": "number", "minimum": 0, "maximum": 1},
            "media_duration": nullable("number"), "attempts": {"type": "integer"},
            "worker": nullable("string"), "heartbeat_at": ts_null, "created_at": ts,
            "started_at": ts_null, "completed_at": ts_null, "error_message": nullable("string"),
            "error_code": nullable("string"), "warning": nullable("string"), "session_id": uuid,
            "results_path": {"type": "string"}, "file_path": {"type": "string"}
        }
    });
    let batch_status = json!({"type": "string", "enum": ["pending","processing","completed","failed","cancelled"]});
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
            "formats": {"type": "array", "items": {"type": "string", "enum": ["txt","srt","vtt","json"]}},
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
                "error": {"type": "string"}, "code": {"type": "string"}
            }
        },
        "CreateBatch": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "max_concurrent": {"type": "integer", "minimum": 1, "maximum": 16},
                "model": {"type": "string"}, "language": {"type": "string"},
                "formats": {"type": "array", "items": {"type": "string", "enum": ["txt","srt","vtt","json"]}}
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

fn error_response(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema_ref("Error") } } })
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
            responses.insert("400".into(), error_response("Invalid input"));
            responses.insert("401".into(), error_response("Missing or wrong bearer token"));
            responses.insert("404".into(), error_response("Unknown id"));
            responses.insert("409".into(), error_response("Wrong state"));
            responses.insert("500".into(), error_response("Internal error (generic message)"));
        }
        if doc.request == Some("multipart") {
            responses.insert("408".into(), error_response("Upload body arrived too slowly (upload_timeout)"));
            responses.insert("413".into(), error_response("Upload too large"));
            responses.insert("415".into(), error_response("Not a media file"));
        }
        if doc.request.is_some_and(|r| r.starts_with("json:")) {
            responses.insert("408".into(), error_response("Body arrived too slowly (body_timeout)"));
            responses.insert("415".into(), error_response("Body is not JSON"));
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
