//! The bad-input table of issue 8: each row a test.

use serde_json::json;
use vidscribe_server::testing::{not_media_bytes, ApiClient};

use crate::common::{batch_with_jobs, media, spawn, Options};

fn no_engine() -> Options {
    Options { job_delay: None, ..Options::default() }
}

#[tokio::test]
async fn an_upload_without_a_file_is_400_missing_file() {
    let app = spawn(no_engine()).await;
    let batch = app.client.create_batch(json!({})).await;
    let r = app.client.add_video_raw(Some(&batch), "x.wav", None, None).await.unwrap();
    assert_eq!((r.status, r.code()), (400, "missing_file"), "{}", r.body);
    assert_eq!(r.body["success"], false);
    assert!(r.body["error"].as_str().unwrap().contains("file"));
    app.stop().await;
}

#[tokio::test]
async fn an_upload_without_a_batch_id_is_400_and_keeps_no_file() {
    let app = spawn(no_engine()).await;
    let r = app.client.add_video_raw(None, "x.wav", Some(media()), None).await.unwrap();
    assert_eq!((r.status, r.code()), (400, "missing_batch_id"), "{}", r.body);
    assert!(app.uploads().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn an_upload_to_an_unknown_batch_is_404() {
    let app = spawn(no_engine()).await;
    let unknown = vidscribe_core::BatchId::new().to_string();
    let r = app.client.add_video_raw(Some(&unknown), "x.wav", Some(media()), None).await.unwrap();
    assert_eq!((r.status, r.code()), (404, "batch_not_found"), "{}", r.body);
    assert!(app.uploads().is_empty());
    let r = app.client.get(&format!("/api/batch/{unknown}")).await.unwrap();
    assert_eq!((r.status, r.code()), (404, "batch_not_found"));
    let r = app.client.post(&format!("/api/batch/{unknown}/start")).await.unwrap();
    assert_eq!(r.status, 404);
    let r = app.client.get(&format!("/api/batch/{unknown}/events")).await.unwrap();
    assert_eq!(r.status, 404);
    app.stop().await;
}

#[tokio::test]
async fn a_malformed_id_is_400_invalid_id() {
    let app = spawn(no_engine()).await;
    for path in ["/api/batch/not-a-uuid", "/api/batch/..%2F..%2Fetc%2Fpasswd", "/api/batch/123/results"] {
        let r = app.client.get(path).await.unwrap();
        assert_eq!((r.status, r.code()), (400, "invalid_id"), "{path}: {}", r.body);
    }
    let batch = app.client.create_batch(json!({})).await;
    let r = app.client.post(&format!("/api/batch/{batch}/jobs/nope/retry")).await.unwrap();
    assert_eq!((r.status, r.code()), (400, "invalid_id"));
    let r = app.client.add_video_raw(Some("nope"), "x.wav", Some(media()), None).await.unwrap();
    assert_eq!((r.status, r.code()), (400, "invalid_id"));
    assert!(app.uploads().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn adding_to_a_started_batch_is_409_and_the_file_is_not_kept() {
    let app = spawn(Options { job_delay: Some(std::time::Duration::from_secs(30)), ..Options::default() }).await;
    let (batch, _) = batch_with_jobs(&app, 1, 1).await;
    app.client.start(&batch).await.ok();
    let before = app.uploads();
    // batch_id after the file (the file is streamed first, then removed)…
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(media()).file_name("late.wav"))
        .text("batch_id", batch.clone());
    let r = app
        .client
        .send(app.client.request(reqwest::Method::POST, "/api/batch/add-video").multipart(form))
        .await
        .unwrap();
    assert_eq!((r.status, r.code()), (409, "batch_not_pending"), "{}", r.body);
    assert_eq!(app.uploads(), before);
    // …and batch_id before the file (refused before a byte is written).
    let form = reqwest::multipart::Form::new()
        .text("batch_id", batch.clone())
        .part("file", reqwest::multipart::Part::bytes(media()).file_name("late.wav"));
    let r = app
        .client
        .send(app.client.request(reqwest::Method::POST, "/api/batch/add-video").multipart(form))
        .await
        .unwrap();
    assert_eq!(r.status, 409);
    assert_eq!(app.uploads(), before);
    // Starting twice is also a state conflict.
    assert_eq!(app.client.start(&batch).await.status, 409);
    app.stop().await;
}

#[tokio::test]
async fn a_non_media_file_is_415_whatever_its_name_and_is_removed() {
    let app = spawn(no_engine()).await;
    let batch = app.client.create_batch(json!({})).await;
    let r = app.client.add_video_raw(Some(&batch), "holiday.mp4", Some(not_media_bytes()), None).await.unwrap();
    assert_eq!((r.status, r.code()), (415, "unsupported_media"), "{}", r.body);
    assert!(r.body["error"].as_str().unwrap().contains("holiday.mp4"));
    // A truncated WAV sniffs as WAV but does not probe: also 415.
    let mut truncated = media();
    truncated.truncate(20);
    let r = app.client.add_video_raw(Some(&batch), "cut.wav", Some(truncated), None).await.unwrap();
    assert_eq!(r.status, 415, "{}", r.body);
    assert!(app.uploads().is_empty(), "{:?}", app.uploads());
    assert_eq!(app.client.batch(&batch).await["jobs"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn an_over_size_upload_is_413_and_the_partial_file_is_removed() {
    let app = spawn(Options { max_upload_bytes: 64 * 1024, job_delay: None, ..Options::default() }).await;
    let batch = app.client.create_batch(json!({})).await;
    let big = vidscribe_server::testing::wav_bytes(10.0, 16_000); // 320 kB
    let r = app.client.add_video_raw(Some(&batch), "big.wav", Some(big), None).await.unwrap();
    assert_eq!((r.status, r.code()), (413, "file_too_large"), "{}", r.body);
    assert!(app.uploads().is_empty(), "{:?}", app.uploads());
    // Under the limit is fine.
    let small = vidscribe_server::testing::wav_bytes(1.0, 16_000);
    app.client.add_video_raw(Some(&batch), "small.wav", Some(small), None).await.unwrap().ok();
    app.stop().await;
}

#[tokio::test]
async fn hostile_session_names_are_stored_safely_and_never_become_paths() {
    let app = spawn(Options::default()).await;
    let batch = app.client.create_batch(json!({})).await;
    for (given, expected) in
        [("../../etc/passwd", "etc_passwd"), ("<script>alert(1)</script>", "script_alert_1_script")]
    {
        let r = app.client.add_video_raw(Some(&batch), "a.wav", Some(media()), Some(given)).await.unwrap().ok();
        let job = &r["job"];
        assert_eq!(job["session_name"], expected);
        assert!(job["results_path"].as_str().unwrap().starts_with("results/"));
        assert!(!job["results_path"].as_str().unwrap().contains(".."));
    }
    // Hostile file names are labels only.
    let r = app
        .client
        .add_video_raw(Some(&batch), "../../<img src=x onerror=alert(1)>.wav", Some(media()), None)
        .await
        .unwrap()
        .ok();
    let job_id = r["job_id"].as_str().unwrap();
    assert_eq!(r["job"]["file_path"], format!("uploads/{job_id}.wav"));
    assert!(!r["job"]["session_name"].as_str().unwrap().contains('<'));
    app.client.start(&batch).await.ok();
    app.client.wait_for_batch(&batch, crate::common::WAIT, crate::common::is_done).await;
    let bytes = app
        .client
        .request(reqwest::Method::GET, &format!("/api/batch/{batch}/download"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    // Three jobs, five files each: the names below are checked, not an empty archive.
    assert_eq!(zip.len(), 15, "{:?}", zip.file_names().collect::<Vec<_>>());
    for name in zip.file_names() {
        assert!(
            !name.contains("..") && !name.starts_with('/') && !name.contains('<') && !name.contains('\\'),
            "{name}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn invalid_json_is_400_in_our_envelope_and_non_json_is_415() {
    let app = spawn(no_engine()).await;
    let rb = app
        .client
        .request(reqwest::Method::POST, "/api/batch/create")
        .header("content-type", "application/json")
        .body("{\"name\": ");
    let r = app.client.send(rb).await.unwrap();
    assert_eq!((r.status, r.code()), (400, "invalid_json"), "{}", r.body);
    assert_eq!(r.body["success"], false);
    let rb = app
        .client
        .request(reqwest::Method::POST, "/api/batch/create")
        .header("content-type", "application/json")
        .body("{\"name\": 5}");
    assert_eq!(app.client.send(rb).await.unwrap().status, 400);
    let rb = app
        .client
        .request(reqwest::Method::POST, "/api/batch/create")
        .header("content-type", "text/plain")
        .body("name=x");
    let r = app.client.send(rb).await.unwrap();
    assert_eq!((r.status, r.code()), (415, "unsupported_media_type"), "{}", r.body);
    app.stop().await;
}

#[tokio::test]
async fn max_concurrent_of_0_or_99_is_400() {
    let app = spawn(no_engine()).await;
    for n in [json!(0), json!(99), json!(-1), json!("many")] {
        let r = app.client.post_json("/api/batch/create", &json!({ "max_concurrent": n })).await.unwrap();
        assert_eq!(r.status, 400, "{n}: {}", r.body);
        assert_eq!(r.body["success"], false);
    }
    let r = app.client.post_json("/api/batch/create", &json!({ "formats": ["docx"] })).await.unwrap();
    assert_eq!(r.status, 400);
    for v in [json!("maybe"), json!(2), json!([true])] {
        let r = app.client.post_json("/api/batch/create", &json!({ "vad": v })).await.unwrap();
        assert_eq!((r.status, r.code()), (400, "invalid_input"), "{v}: {}", r.body);
        assert_eq!(r.body["error"], "vad must be true or false", "{v}");
    }
    app.stop().await;
}

#[tokio::test]
async fn starting_an_empty_batch_is_400_empty_batch() {
    let app = spawn(no_engine()).await;
    let batch = app.client.create_batch(json!({})).await;
    let r = app.client.start(&batch).await;
    assert_eq!((r.status, r.code()), (400, "empty_batch"), "{}", r.body);
    assert_eq!(app.client.batch(&batch).await["status"], "pending");
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_401_and_the_right_one_passes() {
    let app = spawn(Options { token: Some("s3cret".into()), job_delay: None, ..Options::default() }).await;
    let base = app.client.base.clone();
    for token in [None, Some("wrong".to_string())] {
        let c = ApiClient::new(base.clone(), token);
        let r = c.get("/api/batch/list").await.unwrap();
        assert_eq!((r.status, r.code()), (401, "unauthorized"), "{}", r.body);
        let r = c.post_json("/api/batch/create", &json!({})).await.unwrap();
        assert_eq!(r.status, 401);
        let r = c.get("/api/events").await.unwrap();
        assert_eq!(r.status, 401);
    }
    app.client.get("/api/batch/list").await.unwrap().ok();
    // SSE (and other GETs) may pass ?token=.
    let anon = ApiClient::new(base.clone(), None);
    let mut sse = anon.sse("/api/events?token=s3cret", None).await.expect("sse with query token");
    let first = sse.next(std::time::Duration::from_secs(5)).await.expect("snapshot");
    assert_eq!(first.event, "snapshot");
    // /health stays open.
    anon.get("/health").await.unwrap().ok();
    app.stop().await;
}
