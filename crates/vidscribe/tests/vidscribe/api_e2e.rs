//! Issue 8 acceptance against the real binary and the real Whisper engine (tiny.en):
//! create → add 4 real-speech videos (one with 8 kHz AAC) → start → follow SSE until done,
//! then check states, progress, transcripts (reference WER of every format of every job), the
//! ZIP, the on-disk batch document, and that a reconnect with Last-Event-ID yields every
//! missed event exactly once, in order.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use vidscribe_server::testing::{ApiClient, SseClient, SseEvent};

use crate::support::{assert_wer, ensure_model, fixture, json_text, max_wer, reference, subtitle_text, Server, MODEL};

/// The corpus: upload name and fixture (scored against its reference with `max_wer`).
const FILES: [(&str, &str); 4] = [
    ("jfk.mp4", "video/jfk.mp4"),
    ("jfk.mkv", "video/jfk.mkv"),
    ("librivox_0870.mp4", "video/librivox_0870.mp4"),
    // 8 kHz mono AAC: 1024-sample frames, which once left the resampler an empty last block.
    ("jfk_8k.mp4", "video/jfk_8k.mp4"),
];
const WITHIN: Duration = Duration::from_secs(600);

fn is_batch_done(e: &SseEvent) -> bool {
    e.event == "batch" && e.json()["status"] == "completed"
}

/// Reads events until the batch's `completed` event (included) or the deadline.
async fn read_until_done(sse: &mut SseClient, out: &mut Vec<SseEvent>, deadline: Instant) {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let e = sse
            .next(left)
            .await
            .unwrap_or_else(|end| panic!("{end} before the batch completed; got {} events", out.len()));
        let done = is_batch_done(&e);
        out.push(e);
        if done {
            return;
        }
    }
}

fn dedup<T: PartialEq + Clone>(v: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for x in v {
        if out.last() != Some(&x) {
            out.push(x);
        }
    }
    out
}

/// The sequenced (logged) events only: no snapshot.
fn logged(events: &[SseEvent]) -> Vec<(i64, String, Value)> {
    events
        .iter()
        .filter(|e| e.event != "snapshot")
        .map(|e| (e.seq().expect("every logged event has an id"), e.event.clone(), e.json()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_e2e_three_real_videos_over_sse_with_reconnect() {
    ensure_model();
    let t0 = Instant::now();
    let server = Server::start(&[]);
    let api = ApiClient::new(server.url(), None);
    let deadline = Instant::now() + WITHIN;

    let batch_id = api.create_batch(json!({"name": "e2e", "max_concurrent": 2, "model": MODEL})).await;
    assert_eq!(api.batch(&batch_id).await["status"], "pending");
    let path = format!("/api/batch/{batch_id}/events");

    // Subscriber 1: connected before anything happens; dropped mid-batch.
    let mut live = api.sse(&path, None).await.expect("sse");
    let snap = live.next(Duration::from_secs(10)).await.expect("snapshot");
    assert_eq!(snap.event, "snapshot");
    assert_eq!(snap.json()["status"], "pending", "snapshot: {}", snap.data);

    let mut jobs: BTreeMap<String, &str> = BTreeMap::new();
    let mut corpus: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, fx) in FILES {
        let bytes = std::fs::read(fixture(fx)).unwrap();
        let job_id = api.add_video(&batch_id, name, bytes).await;
        jobs.insert(job_id, name);
        corpus.insert(name, fx);
    }
    api.start(&batch_id).await.ok();

    // Read until the first job reports progress while processing, then drop the stream.
    let mut first: Vec<SseEvent> = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let e = live.next(left).await.expect("events before the drop");
        let j = e.json();
        let mid = e.event == "job" && j["status"] == "processing" && j["progress"].as_f64().unwrap_or(0.0) > 0.0;
        assert!(!is_batch_done(&e), "batch completed before any progress event was seen");
        first.push(e);
        if mid {
            break;
        }
    }
    drop(live);
    let last_seen = first.last().unwrap().seq().expect("id");

    // Reconnect with Last-Event-ID and follow to the end.
    let mut resumed_sse = api.sse(&path, Some(last_seen)).await.expect("sse resume");
    let mut resumed: Vec<SseEvent> = Vec::new();
    read_until_done(&mut resumed_sse, &mut resumed, deadline).await;
    // A GET right after the final event shows that state.
    let got = api.batch(&batch_id).await;
    assert_eq!(got["status"], "completed", "GET right after the completed event: {got}");
    let elapsed = t0.elapsed();

    // Full replay from the durable log.
    let mut full_sse = api.sse(&path, Some(0)).await.expect("sse replay");
    let mut full: Vec<SseEvent> = Vec::new();
    read_until_done(&mut full_sse, &mut full, Instant::now() + Duration::from_secs(30)).await;
    let full_log = logged(&full);
    let first_log = logged(&first);
    let resumed_log = logged(&resumed);
    let seqs: Vec<i64> = full_log.iter().map(|x| x.0).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "replay ids not strictly increasing: {seqs:?}");
    let missed: Vec<_> = full_log.iter().filter(|x| x.0 > last_seen).cloned().collect();
    let resumed_seqs: Vec<i64> = resumed_log.iter().map(|x| x.0).collect();
    let missed_seqs: Vec<i64> = missed.iter().map(|x| x.0).collect();
    assert_eq!(resumed_seqs, missed_seqs, "the resumed stream must carry every missed event exactly once, in order");
    assert_eq!(resumed_log, missed, "resumed events differ from the durable log");
    let mut joined = first_log.clone();
    joined.extend(resumed_log.clone());
    let tail: Vec<_> = full_log.iter().filter(|x| x.0 >= joined[0].0).cloned().collect();
    assert_eq!(
        joined.iter().map(|x| x.0).collect::<Vec<_>>(),
        tail.iter().map(|x| x.0).collect::<Vec<_>>(),
        "live+resumed ≠ durable log"
    );

    // States: batch pending → processing → completed; each job queued → processing → completed.
    let mut batch_states = vec!["pending".to_string()];
    batch_states
        .extend(joined.iter().filter(|x| x.1 == "batch").map(|x| x.2["status"].as_str().unwrap_or("?").to_string()));
    assert_eq!(dedup(batch_states), ["pending", "processing", "completed"]);
    for (job_id, name) in &jobs {
        let evs: Vec<&Value> =
            joined.iter().filter(|x| x.1 == "job" && x.2["job_id"] == job_id.as_str()).map(|x| &x.2).collect();
        let states = dedup(evs.iter().map(|j| j["status"].as_str().unwrap_or("?").to_string()));
        assert_eq!(states, ["queued", "processing", "completed"], "job {name}");
        let progress = dedup(
            evs.iter()
                .filter(|j| j["status"] == "processing")
                .map(|j| j["progress"].as_f64().expect("progress is a number")),
        );
        assert!(progress.len() >= 2, "job {name}: too few progress events: {progress:?}");
        assert!(progress.iter().all(|p| (0.0..=1.0).contains(p)), "job {name}: progress out of [0,1]: {progress:?}");
        assert!(progress.windows(2).all(|w| w[0] < w[1]), "job {name}: progress not strictly rising: {progress:?}");
        eprintln!("api_e2e: {name}: {} distinct progress values {progress:?}", progress.len());
    }
    for j in got["jobs"].as_array().unwrap() {
        assert_eq!(j["status"], "completed", "{j}");
    }

    // Transcripts downloadable and correct: every format of every job scored against the
    // reference text of its fixture.
    let mut txt_of: BTreeMap<String, String> = BTreeMap::new();
    for (job_id, name) in &jobs {
        let fx = corpus[name];
        let expected = reference(fx);
        for ext in ["txt", "srt", "vtt", "json"] {
            let resp = api
                .request(reqwest::Method::GET, &format!("/api/batch/{batch_id}/jobs/{job_id}/transcript.{ext}"))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), 200, "{name} transcript.{ext}");
            let text = resp.text().await.unwrap();
            let spoken = match ext {
                "txt" => text.clone(),
                "json" => json_text(
                    &serde_json::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{name} transcript.json: {e}")),
                ),
                _ => subtitle_text(&text),
            };
            assert_wer(&format!("api_e2e {name} transcript.{ext}"), &expected, &spoken, max_wer(fx));
            if ext == "txt" {
                txt_of.insert(job_id.clone(), text);
            }
        }
    }

    // ZIP lists all outputs of all 3 jobs.
    let resp = api.request(reqwest::Method::GET, &format!("/api/batch/{batch_id}/download")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let bytes = resp.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).expect("a ZIP");
    let names: BTreeSet<String> = (0..zip.len()).map(|i| zip.by_index(i).unwrap().name().to_string()).collect();
    for job_id in jobs.keys() {
        let job8 = &job_id[job_id.len() - 8..];
        for f in ["transcript.txt", "subtitles.srt", "subtitles.vtt", "transcript.json"] {
            assert!(
                names.iter().any(|n| n.ends_with(&format!("_{job8}/{f}"))),
                "ZIP lacks {f} of job {job_id}: {names:?}"
            );
        }
    }
    // …and each job's transcript.txt in it is the one the API serves for that job.
    for (job_id, served) in &txt_of {
        let job8 = &job_id[job_id.len() - 8..];
        let n = names.iter().find(|n| n.ends_with(&format!("_{job8}/transcript.txt"))).unwrap().clone();
        let mut zipped = String::new();
        zip.by_name(&n).unwrap().read_to_string(&mut zipped).unwrap();
        assert_eq!(&zipped, served, "{n} in the ZIP differs from the served transcript.txt of {}", jobs[job_id]);
    }

    // The on-disk batch document.
    let doc_path = server.data_dir.path().join("results/batches").join(format!("{batch_id}.json"));
    let doc: Value = serde_json::from_slice(&std::fs::read(&doc_path).unwrap()).expect("batch document parses");
    assert_eq!(doc["status"], "completed", "{}", doc_path.display());

    eprintln!(
        "api_e2e: 4 jobs completed in {elapsed:?}; {} logged events, dropped after id {last_seen}, resumed {} events",
        full_log.len(),
        resumed_log.len()
    );
    let status = server.stop();
    assert!(status.success(), "serve exit: {status:?}");
}
