//! Batch lifecycle benchmark: batches of 100, 1 000 and 10 000 jobs run through
//! create → add → start → claim → complete with the instant transcriber on a real SQLite
//! file, outputs and snapshots written as in production. Prints jobs/s and the cost per
//! transition for each size; a flat cost per transition means nothing grows with batch size.
//!
//! `cargo bench -p vidscribe-worker --bench lifecycle [-- 100 1000 10000]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::broadcast::error::RecvError;
use vidscribe_core::{BatchId, BatchSettings, BatchStatus, EventData, Job, JobId, OutputFormat, SessionId};
use vidscribe_store::sqlite::SqliteStore;
use vidscribe_store::{DynStore, NewJob};
use vidscribe_worker::testing::InstantTranscriber;
use vidscribe_worker::{DataDir, Engine, EngineConfig};

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![100, 1_000, 10_000] } else { sizes };
    println!("{:>8} {:>10} {:>10} {:>10} {:>14} {:>12}", "jobs", "add_s", "run_s", "jobs/s", "µs/transition", "events");
    // Each size's directory is removed only at the end: deleting tens of thousands of files
    // right before the next size would make ext4 scan past the recently freed inodes on every
    // file the next run creates, charging one size's cleanup to the next one's timing.
    let mut dirs = Vec::new();
    for n in sizes {
        dirs.push(run(n).await);
    }
    drop(dirs);
}

async fn run(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path());
    data.create().unwrap();
    let store: DynStore = Arc::new(SqliteStore::open(&data.database()).await.unwrap());
    let id = BatchId::new();
    let settings = BatchSettings::new(
        id,
        Some(format!("bench {n}")),
        Some(16),
        Some("instant".into()),
        None,
        Some(vec![OutputFormat::Txt]),
    )
    .unwrap();
    store.create_batch(id, &settings).await.unwrap();

    let t0 = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let jobs = chunk
            .iter()
            .map(|i| {
                let job_id = JobId::new();
                let file_path = Job::upload_path(job_id, "wav");
                // The engine opens the upload before transcribing: it must exist.
                std::fs::write(data.abs(&file_path).unwrap(), b"RIFF").unwrap();
                NewJob {
                    job_id,
                    session_id: SessionId::new(),
                    original_filename: format!("f{i}.wav"),
                    session_name: format!("F{i}_0101_0000"),
                    file_path,
                    media_duration: Some(1.0),
                }
            })
            .collect();
        store.add_jobs(id, jobs).await.unwrap();
    }
    let add_s = t0.elapsed().as_secs_f64();

    let mut config = EngineConfig::new(dir.path());
    config.slots = 8;
    config.write_snapshots = std::env::var_os("BENCH_NO_SNAPSHOTS").is_none();
    config.poll_interval = Duration::from_millis(50);
    let t1 = Instant::now();
    store.start_batch(id).await.unwrap();
    let engine = Engine::start(store.clone(), Arc::new(InstantTranscriber::new()), config);
    let mut events = store.subscribe();
    // Watch the batch events (each carries the batch summary) rather than re-reading the
    // batch after every event, so the observer adds no load of its own; read it only when
    // the feed lagged or went quiet.
    loop {
        let status = match tokio::time::timeout(Duration::from_millis(500), events.recv()).await {
            Ok(Ok(e)) => match e.data {
                EventData::Batch(b) if b.batch_id == id => Some(b.status),
                _ => None,
            },
            Ok(Err(RecvError::Lagged(_))) | Err(_) => Some(store.batch_summary(id).await.unwrap().status),
            Ok(Err(RecvError::Closed)) => panic!("event feed closed"),
        };
        if status.is_some_and(|s| s.is_terminal()) {
            break;
        }
    }
    let run_s = t1.elapsed().as_secs_f64();
    let summary = store.batch_summary(id).await.unwrap();
    assert_eq!(summary.status, BatchStatus::Completed, "batch ended {:?}: {:?}", summary.status, summary.error_message);
    engine.shutdown().await;
    let events = store.last_event_seq().await.unwrap();
    // claim (queued→processing) and complete (processing→completed) per job
    let transitions = 2 * n;
    println!(
        "{:>8} {:>10.3} {:>10.3} {:>10.0} {:>14.1} {:>12}",
        n,
        add_s,
        run_s,
        n as f64 / run_s,
        run_s * 1e6 / transitions as f64,
        events
    );
    if let Some(path) = std::env::var_os("BENCH_JSONL") {
        // The same row, machine-readable, for bench/report.
        let line = serde_json::json!({ "bench": "lifecycle", "jobs": n, "add_s": add_s, "run_s": run_s, "transitions": transitions, "events": events });
        std::io::Write::write_all(
            &mut std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap(),
            format!("{line}\n").as_bytes(),
        )
        .unwrap();
    }
    store.close().await;
    dir
}
