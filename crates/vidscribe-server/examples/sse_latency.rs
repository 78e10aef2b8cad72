//! `cargo run --release -p vidscribe-server --features testing --example sse-latency [-- JOBS]`
//!
//! Measures the delay from commit to SSE delivery: the store publishes each event right after
//! its transaction commits; an in-process subscriber timestamps it there, an SSE client over
//! real HTTP timestamps it on arrival, and the difference per event gives p50/p99/max.
//! Also checks, for every job event, that a GET issued right after it shows that state (or a
//! later one). With `BENCH_JSONL=PATH`, the result (p95 included) is also appended to PATH as a
//! JSON line (read by bench/report).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vidscribe_server::testing::{wav_bytes, TestServer};
use vidscribe_server::{AppState, ServerConfig};
use vidscribe_store::DynStore;
use vidscribe_worker::testing::InstantTranscriber;
use vidscribe_worker::{Engine, EngineConfig};

fn rank(s: &str) -> u8 {
    match s {
        "queued" => 0,
        "processing" => 1,
        _ => 2,
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let jobs: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(30);
    let dir = tempfile::tempdir()?;
    let store: DynStore = Arc::new(vidscribe_store::sqlite::SqliteStore::open(&dir.path().join("vidscribe.db")).await?);
    let state = AppState::new(store.clone(), ServerConfig::new(dir.path()));
    let mut ec = EngineConfig::new(dir.path());
    ec.slots = 2;
    // Slower than a job: see the note in tests/vidscribe_server/load.rs (store BEGIN vs abort).
    ec.heartbeat_interval = Duration::from_secs(60);
    ec.poll_interval = Duration::from_millis(100);
    let engine = Engine::start(store.clone(), Arc::new(InstantTranscriber::with_delay(Duration::from_millis(300))), ec);
    let server = TestServer::start(state).await?;
    let client = server.client();

    let batch = client.create_batch(serde_json::json!({ "name": "latency", "max_concurrent": 2 })).await;
    for i in 0..jobs {
        client.add_video(&batch, &format!("clip{i}.wav"), wav_bytes(1.0, 16_000)).await;
    }

    // Commit-side timestamps.
    let committed: Arc<Mutex<HashMap<i64, Instant>>> = Arc::default();
    let mut rx = store.subscribe();
    let c2 = committed.clone();
    let recorder = tokio::spawn(async move {
        while let Ok(e) = rx.recv().await {
            c2.lock().unwrap().insert(e.seq, Instant::now());
        }
    });

    let mut sse = client.sse(&format!("/api/batch/{batch}/events"), None).await?;
    sse.next(Duration::from_secs(10)).await.expect("snapshot");
    let started = Instant::now();
    client.start(&batch).await.ok();
    let mut delays = Vec::new();
    let mut get_checks = 0;
    loop {
        let e = sse.next(Duration::from_secs(120)).await.expect("event");
        let arrived = Instant::now();
        if let Some(at) = e.seq().and_then(|s| committed.lock().unwrap().get(&s).copied()) {
            delays.push(arrived.saturating_duration_since(at).as_secs_f64() * 1000.0);
        }
        let data = e.json();
        if e.event == "job" {
            let b = client.batch(&batch).await;
            let job = b["jobs"].as_array().unwrap().iter().find(|j| j["job_id"] == data["job_id"]).unwrap().clone();
            let (seen, now) = (data["status"].as_str().unwrap(), job["status"].as_str().unwrap());
            assert!(rank(now) >= rank(seen), "event said {seen}, GET said {now}");
            get_checks += 1;
        }
        if e.event == "batch" && matches!(data["status"].as_str(), Some("completed" | "failed" | "cancelled")) {
            break;
        }
    }
    let elapsed = started.elapsed();
    delays.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "sse-latency: {jobs} jobs, {} events in {elapsed:.2?}; commit→SSE delay p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; \
         {get_checks} GETs right after job events all showed that state or a later one",
        delays.len(),
        pct(&delays, 0.50),
        pct(&delays, 0.99),
        delays.last().copied().unwrap_or(f64::NAN),
    );
    if let Some(path) = std::env::var_os("BENCH_JSONL") {
        use std::io::Write;
        let line = serde_json::json!({
            "bench": "sse_latency", "jobs": jobs, "events": delays.len(), "elapsed_s": elapsed.as_secs_f64(),
            "p50_ms": pct(&delays, 0.50), "p95_ms": pct(&delays, 0.95), "p99_ms": pct(&delays, 0.99),
            "max_ms": delays.last().copied(), "get_checks": get_checks,
        });
        writeln!(std::fs::OpenOptions::new().create(true).append(true).open(path)?, "{line}")?;
    }
    recorder.abort();
    engine.shutdown().await;
    server.stop().await;
    store.close().await;
    Ok(())
}
