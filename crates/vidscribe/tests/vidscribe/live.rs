//! The live transcript of a running job through the real binary and engine (tiny.en): the
//! SSE `segments` events, window by window, and `transcript.*?partial=1` while it runs; both
//! end as the final transcript.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use vidscribe_server::testing::ApiClient;

use crate::support::{ensure_model, fixture, Server, MODEL};

fn texts(segments: &[Value]) -> Vec<String> {
    segments.iter().map(|s| s["text"].as_str().unwrap_or("").trim().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_jobs_transcript_grows_window_by_window_and_ends_as_the_final_one() {
    ensure_model();
    let server = Server::start(&["--workers", "1"]);
    let api = ApiClient::new(server.url(), None);
    let batch = api.create_batch(json!({"name": "live", "model": MODEL, "max_concurrent": 1})).await;
    // 392 s of speech: about twenty windows.
    let job = api.add_video(&batch, "long_form.wav", std::fs::read(fixture("long_form.wav")).unwrap()).await;
    let partial = format!("/api/batch/{batch}/jobs/{job}/transcript.json?partial=1");

    // Before it runs: nothing yet, said so; without ?partial=1 still the 409; a bad value 400.
    let r = api.get(&partial).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!((r.body["partial"].clone(), r.body["status"].clone()), (json!(true), json!("queued")));
    assert_eq!(r.body["segments"], json!([]));
    let r = api.get(&format!("/api/batch/{batch}/jobs/{job}/transcript.json")).await.unwrap();
    assert_eq!((r.status, r.code()), (409, "job_not_completed"), "{}", r.body);
    let r = api.get(&format!("/api/batch/{batch}/jobs/{job}/transcript.json?partial=maybe")).await.unwrap();
    assert_eq!((r.status, r.code()), (400, "invalid_input"), "{}", r.body);

    let mut sse = api.sse(&format!("/api/batch/{batch}/events"), None).await.unwrap();
    assert!(api.start(&batch).await.is_success());
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut live: Vec<Value> = Vec::new();
    let mut commits = 0;
    let mut read_while_running: Option<(usize, Vec<String>)> = None;
    let mut last_done = 0.0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let e = sse.next(left).await.unwrap_or_else(|end| panic!("{end}; {commits} segment events so far"));
        let data = e.json();
        if e.event == "segments" {
            assert_eq!(data["job_id"], json!(job));
            assert_eq!(data["first"].as_u64(), Some(live.len() as u64), "each event continues the last: {data}");
            let done = data["done_seconds"].as_f64().unwrap();
            assert!(done >= last_done, "decoding only moves forward: {done} after {last_done}");
            last_done = done;
            live.extend(data["segments"].as_array().unwrap().iter().cloned());
            commits += 1;
            if read_while_running.is_none() {
                let r = api.get(&partial).await.unwrap();
                if r.body["status"] == "processing" {
                    let segs = r.body["segments"].as_array().unwrap().clone();
                    read_while_running = Some((segs.len(), texts(&segs)));
                }
            }
        }
        if e.event == "job" && data["status"] == "completed" {
            break;
        }
        assert_ne!(data["status"], "failed", "{data}");
    }
    eprintln!("live transcript: {commits} commits, {} segments", live.len());
    assert!(commits >= 3, "the text arrived in several commits, not at the end: {commits}");
    let (n, early) = read_while_running.expect("?partial=1 answered while the job ran");
    assert!(n >= 1, "the running job's partial transcript had text");
    assert_eq!(early[..], texts(&live)[..n], "what ?partial=1 gave is the start of the stream");

    // The final transcript is the live one, segment for segment.
    let r = api.get(&format!("/api/batch/{batch}/jobs/{job}/transcript.json")).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let final_segments = r.body["segments"].as_array().unwrap().clone();
    assert_eq!(texts(&final_segments), texts(&live));
    for (a, b) in final_segments.iter().zip(&live) {
        assert_eq!(
            (a["id"].clone(), a["start"].clone(), a["end"].clone()),
            (b["id"].clone(), b["start"].clone(), b["end"].clone())
        );
    }
    // Once completed, ?partial=1 gives the final transcript.
    let r = api.get(&partial).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(texts(r.body["segments"].as_array().unwrap()), texts(&final_segments));
    assert_eq!(r.body.get("partial"), None, "{}", r.body);
    server.stop();
}
