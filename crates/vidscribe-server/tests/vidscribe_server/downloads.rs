//! Transcript downloads and the batch ZIP.

use std::io::Read;

use crate::common::{batch_with_jobs, is_done, spawn, Options, WAIT};

#[tokio::test]
async fn every_output_format_can_be_downloaded_even_if_not_requested() {
    let app = spawn(Options::default()).await;
    let batch = app.client.create_batch(serde_json::json!({ "formats": ["srt"] })).await;
    let job = app.client.add_video(&batch, "talk.wav", crate::common::media()).await;
    app.client.start(&batch).await.ok();
    app.client.wait_for_batch(&batch, WAIT, is_done).await;
    for (ext, ctype, needle) in [
        ("txt", "text/plain", "Instant transcript"),
        ("srt", "application/x-subrip", "-->"),
        ("vtt", "text/vtt", "WEBVTT"),
        ("json", "application/json", "\"segments\""),
    ] {
        let resp = app
            .client
            .request(reqwest::Method::GET, &format!("/api/batch/{batch}/jobs/{job}/transcript.{ext}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{ext}");
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with(ctype), "{ext}");
        assert!(resp.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
        let text = resp.text().await.unwrap();
        assert!(text.contains(needle), "{ext}: {text}");
    }
    let r = app.client.get(&format!("/api/batch/{batch}/jobs/{job}/transcript.docx")).await.unwrap();
    assert_eq!(r.status, 404);
    app.stop().await;
}

#[tokio::test]
async fn a_transcript_of_an_unfinished_job_is_409() {
    let app = spawn(Options { job_delay: None, ..Options::default() }).await;
    let (batch, jobs) = batch_with_jobs(&app, 1, 1).await;
    let r = app.client.get(&format!("/api/batch/{batch}/jobs/{}/transcript.txt", jobs[0])).await.unwrap();
    assert_eq!((r.status, r.code()), (409, "job_not_completed"));
    let r = app.client.get(&format!("/api/batch/{batch}/download")).await.unwrap();
    assert_eq!((r.status, r.code()), (404, "no_results"));
    app.stop().await;
}

#[tokio::test]
async fn the_zip_lists_every_output_of_every_completed_job() {
    let app = spawn(Options::default()).await;
    let (batch, jobs) = batch_with_jobs(&app, 3, 2).await;
    app.client.start(&batch).await.ok();
    let done = app.client.wait_for_batch(&batch, WAIT, is_done).await;
    let resp = app.client.request(reqwest::Method::GET, &format!("/api/batch/{batch}/download")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/zip");
    assert!(resp.headers()["content-disposition"].to_str().unwrap().contains(".zip"));
    let bytes = resp.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let names: Vec<String> = zip.file_names().map(str::to_string).collect();
    let done_jobs = done["jobs"].as_array().unwrap();
    assert_eq!(done_jobs.len(), jobs.len(), "{done}");
    // Five files per job (four outputs and metadata.json), nothing else.
    assert_eq!(names.len(), 5 * jobs.len(), "{names:?}");
    for job in done_jobs {
        let id = job["job_id"].as_str().unwrap();
        let folder = format!(
            "{}_{}",
            vidscribe_core::session::safe_component(job["session_name"].as_str().unwrap()),
            &id[id.len() - 8..]
        );
        for file in ["transcript.txt", "subtitles.srt", "subtitles.vtt", "transcript.json", "metadata.json"] {
            let entry = format!("{folder}/{file}");
            assert!(names.contains(&entry), "{entry} missing from {names:?}");
        }
    }
    let first = names.iter().find(|n| n.ends_with("transcript.txt")).unwrap().clone();
    let mut text = String::new();
    zip.by_name(&first).unwrap().read_to_string(&mut text).unwrap();
    assert!(text.contains("Instant transcript"));
    app.stop().await;
}
