//! The happy paths of the batch routes, and the service routes.

use std::time::Duration;

use serde_json::json;

use crate::common::{self, batch_with_jobs, is_done, media, spawn, Options, WAIT};

#[tokio::test]
async fn a_created_batch_is_pending_with_the_settings_it_was_given() {
    let app = spawn(Options { job_delay: None, ..Options::default() }).await;
    let r = app
        .client
        .post_json(
            "/api/batch/create",
            &json!({"name": "Talks", "max_concurrent": 3, "formats": ["srt", "vtt"], "language": "en", "vad": false}),
        )
        .await
        .unwrap();
    let body = r.ok();
    assert_eq!(body["message"], "Batch created successfully");
    let id = body["batch_id"].as_str().unwrap().to_string();
    let batch = app.client.batch(&id).await;
    assert_eq!(batch["status"], "pending");
    assert_eq!(batch["name"], "Talks");
    assert_eq!(batch["max_concurrent"], 3);
    assert_eq!(batch["language"], "en");
    assert_eq!(batch["vad"], false);
    assert_eq!(batch["jobs"], json!([]));
    assert_eq!(batch["progress"]["total_jobs"], 0);
    app.stop().await;
}

#[tokio::test]
async fn a_batch_created_without_a_body_takes_defaults() {
    let app = spawn(Options { job_delay: None, ..Options::default() }).await;
    let body = app.client.post("/api/batch/create").await.unwrap().ok();
    let batch = app.client.batch(body["batch_id"].as_str().unwrap()).await;
    assert_eq!(batch["max_concurrent"], 2);
    assert_eq!(batch["vad"], true, "voice activity detection is on by default");
    assert!(batch["name"].as_str().unwrap().starts_with("Batch "));
    app.stop().await;
}

#[tokio::test]
async fn an_upload_becomes_a_queued_job_with_its_duration_and_a_safe_path() {
    let app = spawn(Options { job_delay: None, ..Options::default() }).await;
    let batch = app.client.create_batch(json!({})).await;
    let r = app.client.add_video_raw(Some(&batch), "My Talk.mp4", Some(media()), None).await.unwrap().ok();
    assert_eq!(r["message"], "Video 'My Talk.mp4' added to batch");
    let job_id = r["job_id"].as_str().unwrap();
    let b = app.client.batch(&batch).await;
    let job = &b["jobs"][0];
    assert_eq!(job["job_id"], job_id);
    assert_eq!(job["status"], "queued");
    assert_eq!(job["original_filename"], "My Talk.mp4");
    assert!(job["session_name"].as_str().unwrap().starts_with("My Talk_"));
    // Stored by content type, not by the client's name: a WAV called .mp4 is a .wav.
    assert_eq!(job["file_path"], format!("uploads/{job_id}.wav"));
    let d = job["media_duration"].as_f64().expect("duration recorded");
    assert!((d - 1.0).abs() < 0.05, "{d}");
    assert!(app.data().join(job["file_path"].as_str().unwrap()).is_file());
    assert_eq!(app.uploads().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_started_batch_runs_every_job_to_completion() {
    let app = spawn(Options::default()).await;
    let (batch, jobs) = batch_with_jobs(&app, 3, 2).await;
    let r = app.client.start(&batch).await.ok();
    assert_eq!(r["message"], "Batch processing started");
    let done = app.client.wait_for_batch(&batch, WAIT, is_done).await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["progress"]["completed_jobs"], 3);
    assert_eq!(done["progress"]["progress_percentage"], 100.0);
    for j in done["jobs"].as_array().unwrap() {
        assert_eq!(j["status"], "completed");
        assert!(jobs.contains(&j["job_id"].as_str().unwrap().to_string()));
        assert!(app.data().join(j["results_path"].as_str().unwrap()).join("transcript.json").is_file());
    }
    let list = app.client.get("/api/batch/list").await.unwrap().ok();
    assert_eq!(list["batches"][0]["batch_id"], batch.as_str());
    assert_eq!(list["batches"][0]["total_jobs"], 3);
    let results = app.client.get(&format!("/api/batch/{batch}/results")).await.unwrap().ok();
    assert_eq!(results["completed_jobs"], 3);
    assert_eq!(results["total_jobs"], 3);
    assert_eq!(results["batch_name"], "Test batch");
    // Each completed job's metadata.json, as the worker wrote it.
    let listed = results["results"].as_array().unwrap();
    assert_eq!(listed.len(), 3);
    for r in listed {
        let meta = &r["metadata"];
        assert!(meta.is_object(), "metadata.json is read back: {r}");
        assert_eq!(meta["job_id"], r["job_id"], "{r}");
        assert_eq!(meta["batch_id"], batch.as_str(), "{r}");
        assert_eq!(meta["original_filename"], r["original_filename"], "{r}");
        assert_eq!(meta["session_name"], r["session_name"], "{r}");
        assert!((meta["media_duration"].as_f64().unwrap() - 1.0).abs() < 0.05, "{r}");
    }
    app.stop().await;
}

#[tokio::test]
async fn batches_are_listed_newest_first() {
    let app = spawn(Options { job_delay: None, ..Options::default() }).await;
    let a = app.client.create_batch(json!({"name": "first"})).await;
    let b = app.client.create_batch(json!({"name": "second"})).await;
    let list = app.client.get("/api/batch/list").await.unwrap().ok();
    let ids: Vec<&str> = list["batches"].as_array().unwrap().iter().map(|b| b["batch_id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![b.as_str(), a.as_str()]);
    app.stop().await;
}

#[tokio::test]
async fn cancelling_a_running_batch_skips_queued_jobs_and_stops_running_ones() {
    let app = spawn(Options { job_delay: Some(Duration::from_secs(30)), slots: 1, ..Options::default() }).await;
    let (batch, _) = batch_with_jobs(&app, 3, 1).await;
    app.client.start(&batch).await.ok();
    app.client
        .wait_for_batch(&batch, WAIT, |b| b["jobs"].as_array().unwrap().iter().any(|j| j["status"] == "processing"))
        .await;
    let r = app.client.post(&format!("/api/batch/{batch}/cancel")).await.unwrap().ok();
    assert_eq!(r["message"], "Batch cancelled");
    let b = app
        .client
        .wait_for_batch(&batch, WAIT, |b| {
            b["jobs"].as_array().unwrap().iter().all(|j| j["status"] != "processing" && j["status"] != "queued")
        })
        .await;
    assert_eq!(b["status"], "cancelled");
    let statuses: Vec<&str> = b["jobs"].as_array().unwrap().iter().map(|j| j["status"].as_str().unwrap()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == "cancelled").count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == "skipped").count(), 2, "{statuses:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_skipped_job_can_be_retried_and_a_queued_one_cancelled() {
    let app = spawn(Options { job_delay: None, ..Options::default() }).await;
    let (batch, jobs) = batch_with_jobs(&app, 2, 1).await;
    let r = app.client.post(&format!("/api/batch/{batch}/jobs/{}/cancel", jobs[0])).await.unwrap().ok();
    assert_eq!(r["job"]["status"], "skipped");
    let r = app.client.post(&format!("/api/batch/{batch}/jobs/{}/retry", jobs[0])).await.unwrap().ok();
    assert_eq!(r["job"]["status"], "queued");
    // A queued job cannot be retried: 409.
    let r = app.client.post(&format!("/api/batch/{batch}/jobs/{}/retry", jobs[1])).await.unwrap();
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.body["success"], false);
    app.stop().await;
}

#[tokio::test]
async fn deleting_a_running_batch_cancels_it_and_removes_its_files() {
    let app = spawn(Options { job_delay: Some(Duration::from_millis(300)), slots: 1, ..Options::default() }).await;
    let (done_batch, _) = batch_with_jobs(&app, 1, 1).await;
    app.client.start(&done_batch).await.ok();
    let finished = app.client.wait_for_batch(&done_batch, WAIT, is_done).await;
    let results_dir = app.data().join(finished["jobs"][0]["results_path"].as_str().unwrap());
    assert!(results_dir.is_dir());
    let r = app.client.delete(&format!("/api/batch/{done_batch}")).await.unwrap().ok();
    assert_eq!(r["message"], "Batch deleted");
    assert!(!results_dir.exists(), "results removed");
    assert_eq!(app.client.get(&format!("/api/batch/{done_batch}")).await.unwrap().status, 404);

    let (running, _) = batch_with_jobs(&app, 2, 1).await;
    app.client.start(&running).await.ok();
    app.client
        .wait_for_batch(&running, WAIT, |b| b["jobs"].as_array().unwrap().iter().any(|j| j["status"] == "processing"))
        .await;
    app.client.delete(&format!("/api/batch/{running}")).await.unwrap().ok();
    assert_eq!(app.client.get(&format!("/api/batch/{running}")).await.unwrap().status, 404);
    assert!(app.uploads().is_empty(), "uploads removed: {:?}", app.uploads());
    app.stop().await;
}

#[tokio::test]
async fn health_metrics_workers_and_openapi_answer() {
    let app = spawn(Options::default()).await;
    let (batch, _) = batch_with_jobs(&app, 1, 1).await;
    app.client.start(&batch).await.ok();
    app.client.wait_for_batch(&batch, WAIT, is_done).await;

    let h = app.client.get("/health").await.unwrap().ok();
    assert_eq!(h["status"], "ok");

    // The counters follow the event log asynchronously: wait until the last transition is counted.
    let completed = r#"vidscribe_job_transitions_total{to="completed"}"#;
    let scrape = || async {
        common::metric_samples(
            &app.client.http.get(app.client.url("/metrics")).send().await.unwrap().text().await.unwrap(),
        )
    };
    let m = vidscribe_server::testing::wait_until(WAIT, scrape, |m| m.get(completed) == Some(&1.0))
        .await
        .unwrap_or_else(|| panic!("{completed} never reached 1"));
    let value = |key: &str| *m.get(key).unwrap_or_else(|| panic!("no sample {key} in {m:#?}"));
    // One job went queued → processing → completed, in one batch that is now completed.
    for (status, n) in [
        ("queued", 0.0),
        ("processing", 0.0),
        ("completed", 1.0),
        ("failed", 0.0),
        ("skipped", 0.0),
        ("cancelled", 0.0),
    ] {
        assert_eq!(value(&format!("vidscribe_jobs{{status=\"{status}\"}}")), n, "jobs {status}");
    }
    for (to, n) in [
        ("queued", 1.0),
        ("processing", 1.0),
        ("completed", 1.0),
        ("failed", 0.0),
        ("skipped", 0.0),
        ("cancelled", 0.0),
    ] {
        assert_eq!(value(&format!("vidscribe_job_transitions_total{{to=\"{to}\"}}")), n, "job transitions to {to}");
    }
    for (status, n) in [("pending", 0.0), ("processing", 0.0), ("completed", 1.0), ("failed", 0.0), ("cancelled", 0.0)]
    {
        assert_eq!(value(&format!("vidscribe_batches{{status=\"{status}\"}}")), n, "batches {status}");
    }
    for (to, n) in [("pending", 1.0), ("processing", 1.0), ("completed", 1.0), ("failed", 0.0), ("cancelled", 0.0)] {
        assert_eq!(value(&format!("vidscribe_batch_transitions_total{{to=\"{to}\"}}")), n, "batch transitions to {to}");
    }
    assert_eq!(value("vidscribe_queue_depth"), 0.0);
    // The test transcriber takes 150 ms per job; the upload is one second of audio.
    let busy = value("vidscribe_processing_seconds_total");
    assert!((0.15..WAIT.as_secs_f64()).contains(&busy), "processing seconds {busy}");
    assert_eq!(value("vidscribe_audio_seconds_total"), 1.0);
    assert_eq!(value("vidscribe_workers"), 1.0);
    assert_eq!(value("vidscribe_worker_slots"), 2.0);
    assert_eq!(value("vidscribe_sse_clients"), 0.0);
    let seq = app.client.get("/health").await.unwrap().ok()["last_event_seq"].as_f64().unwrap();
    assert_eq!(value("vidscribe_last_event_seq"), seq);
    assert_eq!(m.len(), 6 + 6 + 5 + 5 + 7, "no sample unaccounted for: {m:#?}");

    let w = app.client.get("/api/workers").await.unwrap().ok();
    let workers = w["workers"].as_array().expect("workers");
    assert_eq!(workers.len(), 1, "{w}");
    assert_eq!((workers[0]["name"].as_str(), workers[0]["slots"].as_u64()), (Some("test"), Some(2)), "{w}");
    assert_eq!(workers[0]["running_jobs"], json!([]), "{w}");

    let doc = app.client.get("/api/openapi.json").await.unwrap();
    assert_eq!(doc.status, 200);
    let paths = doc.body["paths"].as_object().expect("paths");
    for p in [
        "/api/batch/create",
        "/api/batch/add-video",
        "/api/batch/{id}/start",
        "/api/batch/{id}",
        "/api/batch/list",
        "/api/batch/{id}/cancel",
        "/api/batch/{id}/results",
        "/api/batch/{id}/download",
        "/api/batch/{id}/jobs/{job_id}/retry",
        "/api/batch/{id}/jobs/{job_id}/cancel",
        "/api/batch/{id}/events",
        "/api/events",
        "/health",
        "/metrics",
    ] {
        assert!(paths.contains_key(p), "{p} not documented");
    }
    assert!(paths["/api/batch/{id}"].get("delete").is_some());
    app.stop().await;
}

#[tokio::test]
async fn the_root_redirects_to_the_dashboard() {
    let app = spawn(Options { job_delay: None, ..Options::default() }).await;
    let no_redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = no_redirect.get(app.server.url("/")).send().await.unwrap();
    assert!(r.status().is_redirection());
    assert_eq!(r.headers()["location"], "/batch");
    let page = reqwest::get(app.server.url("/batch")).await.unwrap();
    if vidscribe_server::assets::get("index.html").is_some() {
        assert_eq!(page.status(), 200);
        assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    } else {
        assert_eq!(page.status(), 404);
    }
    let missing = reqwest::get(app.server.url("/assets/../Cargo.toml")).await.unwrap();
    assert_eq!(missing.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn unknown_api_paths_answer_in_the_envelope() {
    let app = spawn(Options { job_delay: None, ..Options::default() }).await;
    let r = app.client.get("/api/nothing/here").await.unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.body["success"], false);
    app.stop().await;
}

#[tokio::test]
async fn a_real_video_is_probed_and_stored_under_its_container_extension() {
    let app = spawn(Options { job_delay: None, ..Options::default() }).await;
    let out = app.data().join("clip.mp4");
    let made = std::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=c=blue:s=64x48:d=2",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg("sine=frequency=440:duration=2")
        .args(["-shortest", "-c:v", "mpeg4", "-c:a", "aac", "-y"])
        .arg(&out)
        .status()
        .expect("ffmpeg is needed to build this video (scripts/install-system-deps installs it)");
    assert!(made.success(), "ffmpeg failed to build the test video: {made}");
    let bytes = std::fs::read(&out).unwrap();
    std::fs::remove_file(&out).unwrap();
    let batch = app.client.create_batch(json!({})).await;
    // The client's name says .mov; the content says mp4.
    let r = app.client.add_video_raw(Some(&batch), "clip.mov", Some(bytes.clone()), None).await.unwrap().ok();
    let job_id = r["job_id"].as_str().unwrap();
    assert_eq!(r["job"]["file_path"], format!("uploads/{job_id}.mp4"));
    let d = r["job"]["media_duration"].as_f64().expect("duration");
    assert!((d - 2.0).abs() < 0.2, "{d}");

    // The player in the transcript viewer streams the upload back with Range requests.
    let media = app
        .client
        .request(reqwest::Method::GET, &format!("/api/batch/{batch}/jobs/{job_id}/media"))
        .header("range", "bytes=0-99")
        .send()
        .await
        .unwrap();
    assert_eq!(media.status(), 206);
    assert_eq!(media.headers()["content-type"], "video/mp4");
    assert_eq!(media.headers()["accept-ranges"], "bytes");
    assert_eq!(media.bytes().await.unwrap().as_ref(), &bytes[..100]);
    app.stop().await;
}

#[tokio::test]
async fn json_is_compressed_for_clients_that_ask_but_event_streams_never_are() {
    let app = spawn(Options { job_delay: None, ..Options::default() }).await;
    for i in 0..5 {
        app.client.create_batch(json!({ "name": format!("batch number {i}") })).await;
    }
    let list = app
        .client
        .request(reqwest::Method::GET, "/api/batch/list")
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(list.headers().get("content-encoding").map(|v| v.to_str().unwrap()), Some("gzip"));
    let sse =
        app.client.request(reqwest::Method::GET, "/api/events").header("accept-encoding", "gzip").send().await.unwrap();
    assert!(sse.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    assert!(sse.headers().get("content-encoding").is_none());
    drop(sse);
    app.stop().await;
}
