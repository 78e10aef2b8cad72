//! Live events: snapshot first, every transition delivered, GET after an event shows that
//! state, Last-Event-ID replay exactly once in order, keep-alives. The follower behind the
//! streams (its resync on lag or a missed event) is tested with the store, where it lives.

use std::collections::HashMap;
use std::time::Duration;

use vidscribe_core::EventData;
use vidscribe_server::testing::SseEvent;

use crate::common::{batch_rank, batch_with_jobs, is_done, job_rank, spawn, Options, WAIT};

/// Reads events until the batch event says the batch is finished.
async fn read_until_done(sse: &mut vidscribe_server::testing::SseClient) -> Vec<SseEvent> {
    let mut out = Vec::new();
    loop {
        let e = sse.next(WAIT).await.expect("an event before the deadline");
        let finished = e.event == "batch" && is_done(&e.json());
        out.push(e);
        if finished {
            return out;
        }
    }
}

#[tokio::test]
async fn a_subscriber_gets_a_snapshot_then_every_transition_in_order() {
    // Heartbeats inside the jobs, so progress events are part of the stream.
    let app = spawn(Options {
        job_delay: Some(Duration::from_millis(400)),
        heartbeat: Duration::from_millis(100),
        ..Options::default()
    })
    .await;
    let (batch, jobs) = batch_with_jobs(&app, 3, 2).await;
    let mut sse = app.client.sse(&format!("/api/batch/{batch}/events"), None).await.unwrap();
    let snapshot = sse.next(WAIT).await.unwrap();
    assert_eq!(snapshot.event, "snapshot");
    assert_eq!(snapshot.json()["status"], "pending");
    assert_eq!(snapshot.json()["jobs"].as_array().unwrap().len(), 3);
    let start_seq = snapshot.seq().expect("snapshot carries the cursor");

    app.client.start(&batch).await.ok();
    let events = read_until_done(&mut sse).await;

    // Exactly the durable log, in order.
    let log = app.store.events_after(start_seq, Some(batch.parse().unwrap()), 10_000).await.unwrap();
    let got: Vec<i64> = events.iter().map(|e| e.seq().unwrap()).collect();
    let want: Vec<i64> = log.iter().map(|e| e.seq).collect();
    assert_eq!(got, want[..got.len()].to_vec());
    assert!(got.windows(2).all(|w| w[0] < w[1]));
    // Each on the wire: `event:` its kind and `data:` its payload, byte for byte the JSON
    // the payload has always had (a `serde_json::Value` of the object, keys sorted).
    for (e, stored) in events.iter().zip(&log) {
        assert_eq!(e.event, stored.kind().as_str());
        let json = match &stored.data {
            EventData::Batch(b) => serde_json::to_value(b).unwrap(),
            EventData::Job(j) => serde_json::to_value(j).unwrap(),
            EventData::Deleted { batch_id } => serde_json::json!({ "batch_id": batch_id }),
            EventData::Segments(s) => serde_json::to_value(s).unwrap(),
        };
        assert_eq!(e.data, json.to_string(), "event {}", stored.seq);
    }

    // Batch: pending → processing → completed.
    let mut batch_statuses: Vec<String> = events
        .iter()
        .filter(|e| e.event == "batch")
        .map(|e| e.json()["status"].as_str().unwrap().to_string())
        .collect();
    batch_statuses.dedup();
    assert_eq!(batch_statuses, ["processing", "completed"]);
    // Each job: queued → processing → completed, progress rising within [0, 1].
    let mut per_job: HashMap<String, Vec<(String, f64)>> = HashMap::new();
    for e in events.iter().filter(|e| e.event == "job") {
        let j = e.json();
        assert_eq!(j["batch_id"], batch.as_str());
        per_job
            .entry(j["job_id"].as_str().unwrap().to_string())
            .or_default()
            .push((j["status"].as_str().unwrap().to_string(), j["progress"].as_f64().unwrap()));
    }
    assert_eq!(per_job.len(), 3);
    for id in &jobs {
        let seen = &per_job[id];
        let mut statuses: Vec<&str> = seen.iter().map(|(s, _)| s.as_str()).collect();
        statuses.dedup();
        if statuses.first() == Some(&"queued") {
            statuses.remove(0);
        }
        assert_eq!(statuses, ["processing", "completed"], "job {id}: {seen:?}");
        let progress: Vec<f64> = seen.iter().map(|(_, p)| *p).collect();
        assert!(progress.iter().all(|p| (0.0..=1.0).contains(p)));
        assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
        assert_eq!(progress.last(), Some(&1.0));
    }
    app.stop().await;
}

#[tokio::test]
async fn a_get_right_after_an_event_shows_that_state_or_a_later_one() {
    let app = spawn(Options { job_delay: Some(Duration::from_millis(200)), ..Options::default() }).await;
    let (batch, _) = batch_with_jobs(&app, 3, 3).await;
    let mut sse = app.client.sse(&format!("/api/batch/{batch}/events"), None).await.unwrap();
    sse.next(WAIT).await.unwrap();
    app.client.start(&batch).await.ok();
    let mut checked = 0;
    loop {
        let e = sse.next(WAIT).await.expect("event");
        let data = e.json();
        let now = app.client.batch(&batch).await;
        match e.event.as_str() {
            "job" => {
                let job =
                    now["jobs"].as_array().unwrap().iter().find(|j| j["job_id"] == data["job_id"]).unwrap().clone();
                let (seen, got) = (data["status"].as_str().unwrap(), job["status"].as_str().unwrap());
                assert!(job_rank(got) >= job_rank(seen), "event said {seen}, GET said {got}");
                if got == seen {
                    assert!(job["progress"].as_f64().unwrap() >= data["progress"].as_f64().unwrap());
                }
                checked += 1;
            }
            "batch" => {
                let (seen, got) = (data["status"].as_str().unwrap(), now["status"].as_str().unwrap());
                assert!(batch_rank(got) >= batch_rank(seen), "event said {seen}, GET said {got}");
                if is_done(&data) {
                    break;
                }
            }
            _ => {}
        }
    }
    assert!(checked >= 6);
    app.stop().await;
}

#[tokio::test]
async fn reconnecting_with_last_event_id_replays_every_missed_event_once_in_order() {
    let app = spawn(Options { job_delay: Some(Duration::from_millis(200)), slots: 1, ..Options::default() }).await;
    let (batch, _) = batch_with_jobs(&app, 3, 1).await;
    let path = format!("/api/batch/{batch}/events");
    let mut sse = app.client.sse(&path, None).await.unwrap();
    let snapshot = sse.next(WAIT).await.unwrap();
    app.client.start(&batch).await.ok();
    // Read a few events, then drop the stream mid-batch.
    let mut seen: Vec<SseEvent> = Vec::new();
    while seen.len() < 3 {
        seen.push(sse.next(WAIT).await.unwrap());
    }
    drop(sse);
    let last = seen.last().unwrap().seq().unwrap();
    app.client.wait_for_batch(&batch, WAIT, is_done).await;

    // Header form.
    let mut again = app.client.sse(&path, Some(last)).await.unwrap();
    let replay = read_until_done(&mut again).await;
    assert!(replay.iter().all(|e| e.event != "snapshot"), "a resume sends no snapshot");
    let log = app.store.events_after(last, Some(batch.parse().unwrap()), 10_000).await.unwrap();
    let got: Vec<i64> = replay.iter().map(|e| e.seq().unwrap()).collect();
    let want: Vec<i64> = log.iter().map(|e| e.seq).collect();
    assert_eq!(got, want, "every missed event, once, in order");
    // Nothing more arrives (no duplicates later), and the stream stays open.
    again.expect_quiet(Duration::from_millis(300)).await;

    // Query form, from the snapshot's cursor: the whole run.
    let mut from_start =
        app.client.sse(&format!("{path}?last_event_id={}", snapshot.seq().unwrap()), None).await.unwrap();
    let all = read_until_done(&mut from_start).await;
    let seqs: Vec<i64> = all.iter().map(|e| e.seq().unwrap()).collect();
    assert_eq!(&seqs[..seen.len()], &seen.iter().map(|e| e.seq().unwrap()).collect::<Vec<_>>()[..]);
    assert_eq!(&seqs[seen.len()..], &got[..]);
    app.stop().await;
}

#[tokio::test]
async fn the_global_stream_starts_with_the_list_and_carries_every_batch() {
    let app = spawn(Options::default()).await;
    let (a, _) = batch_with_jobs(&app, 1, 1).await;
    let (b, _) = batch_with_jobs(&app, 1, 1).await;
    let mut sse = app.client.sse("/api/events", None).await.unwrap();
    let snapshot = sse.next(WAIT).await.unwrap();
    assert_eq!(snapshot.event, "snapshot");
    assert_eq!(snapshot.json()["batches"].as_array().unwrap().len(), 2);
    app.client.start(&a).await.ok();
    app.client.start(&b).await.ok();
    let mut finished = std::collections::HashSet::new();
    while finished.len() < 2 {
        let e = sse.next(WAIT).await.expect("event");
        if e.event == "batch" && is_done(&e.json()) {
            finished.insert(e.json()["batch_id"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(finished, [a, b].into_iter().collect());
    app.stop().await;
}

#[tokio::test]
async fn an_idle_stream_gets_keep_alive_comments() {
    let app = spawn(Options { keep_alive: Duration::from_millis(100), job_delay: None, ..Options::default() }).await;
    let mut sse = app.client.sse("/api/events", None).await.unwrap();
    assert_eq!(sse.next(WAIT).await.unwrap().event, "snapshot");
    // No event, the stream still open, and a comment every 100 ms (not a flood).
    sse.expect_quiet(Duration::from_millis(450)).await;
    assert!((2..=6).contains(&sse.comments()), "comments: {}", sse.comments());
    app.stop().await;
}

#[tokio::test]
async fn shutting_the_server_down_ends_open_streams() {
    let app = spawn(Options { job_delay: None, ..Options::default() }).await;
    let mut sse = app.client.sse("/api/events", None).await.unwrap();
    assert_eq!(sse.next(WAIT).await.unwrap().event, "snapshot");
    app.server.state.shutdown.cancel();
    // A clean end of the body, not a timeout on a stream left hanging.
    sse.expect_closed(Duration::from_secs(5)).await;
    app.stop().await;
}
