//! Load: 200 concurrent SSE clients plus 20 concurrent uploads; no error, no lost event.

use std::time::{Duration, Instant};

use futures::future::join_all;
use vidscribe_worker::EngineConfig;

use crate::common::{is_done, media, spawn, Options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_sse_clients_and_twenty_uploads_lose_nothing() {
    const CLIENTS: usize = 200;
    const UPLOADS: usize = 20;
    // Production heartbeat timing (the engine's default), and jobs that outlast a heartbeat,
    // so heartbeats write progress while jobs start and end around them.
    let heartbeat = EngineConfig::new(".").heartbeat_interval;
    let app =
        spawn(Options { job_delay: Some(heartbeat + heartbeat / 2), slots: 2, heartbeat, ..Options::default() }).await;
    let batch = app.client.create_batch(serde_json::json!({ "name": "load", "max_concurrent": 4 })).await;
    let path = format!("/api/batch/{batch}/events");
    let t0 = Instant::now();
    let clients = join_all((0..CLIENTS).map(|_| app.client.sse(&path, None))).await;
    let mut clients: Vec<_> = clients.into_iter().map(|c| c.expect("sse connect")).collect();
    let connected = t0.elapsed();

    let t1 = Instant::now();
    let uploads = join_all((0..UPLOADS).map(|i| {
        let c = app.client.clone();
        let b = batch.clone();
        async move { c.add_video_raw(Some(&b), &format!("clip {i}.wav"), Some(media()), None).await }
    }))
    .await;
    for u in uploads {
        u.expect("upload request").ok();
    }
    let uploaded = t1.elapsed();
    app.client.start(&batch).await.ok();

    let t2 = Instant::now();
    let results = join_all(clients.iter_mut().map(|sse| async move {
        let mut seqs = Vec::new();
        loop {
            let e = match sse.next(Duration::from_secs(60)).await {
                Ok(e) => e,
                Err(end) => return Err(format!("{end} after {} events", seqs.len())),
            };
            if e.event != "snapshot" {
                seqs.push(e.seq().unwrap());
            }
            if e.event == "batch" && is_done(&e.json()) {
                return Ok::<_, String>(seqs);
            }
        }
    }))
    .await;
    let finished = t2.elapsed();
    let log: Vec<i64> =
        app.store.events_after(0, Some(batch.parse().unwrap()), 100_000).await.unwrap().iter().map(|e| e.seq).collect();
    let mut delivered = 0;
    for r in results {
        let seqs = r.expect("client followed the batch to the end");
        // Everything after the client's snapshot, in order, exactly once.
        let from = log.iter().position(|s| *s == seqs[0]).expect("first event is in the log");
        assert_eq!(&log[from..from + seqs.len()], &seqs[..]);
        delivered += seqs.len();
    }
    println!(
        "load: {CLIENTS} SSE clients connected in {connected:?}; {UPLOADS} concurrent uploads in {uploaded:?}; \
         batch ran in {finished:?}; {} events in the log, {delivered} deliveries, none lost",
        log.len()
    );
    app.stop().await;
}
