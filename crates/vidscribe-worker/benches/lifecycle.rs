//! Batch lifecycle benchmark: batches of 100, 1 000 and 10 000 jobs run through
//! create → add → start → claim → complete with the instant transcriber on a real SQLite
//! file, outputs and snapshots written as in production. Prints jobs/s and the cost per
//! transition for each size; a flat cost per transition means nothing grows with batch size.
//!
//! `cargo bench -p vidscribe-worker --bench lifecycle [-- 100 1000 10000]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use vidscribe_core::{BatchId, BatchSettings, BatchStatus, JobId, OutputFormat, SessionId};
use vidscribe_store::sqlite::SqliteStore;
use vidscribe_store::{DynStore, NewJob, Store};
use vidscribe_worker::testing::InstantTranscriber;
use vidscribe_worker::{DataDir, Engine, EngineConfig};

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![100, 1_000, 10_000] } else { sizes };
    println!("{:>8} {:>10} {:>10} {:>10} {:>14} {:>12}", "jobs", "add_s", "run_s", "jobs/s", "µs/transition", "events");
    for n in sizes {
        run(n).await;
    }
}

async fn run(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path());
    data.create().unwrap();
    let store: DynStore = Arc::new(SqliteStore::open(&data.database()).await.unwrap());
    let id = BatchId::new();
    let settings = BatchSettings::new(id, Some(format!("bench {n}")), Some(16), Some("instant".into()), None, Some(vec![OutputFormat::Txt])).unwrap();
    store.create_batch(id, &settings).await.unwrap();

    let t0 = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let jobs = chunk
            .iter()
            .map(|i| {
                let job_id = JobId::new();
                NewJob {
                    job_id,
                    session_id: SessionId::new(),
                    original_filename: format!("f{i}.wav"),
                    session_name: format!("F{i}_0101_0000"),
                    file_path: format!("uploads/{job_id}.wav"),
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
    loop {
        if store.batch_summary(id).await.unwrap().status == BatchStatus::Completed {
            break;
        }
        let _ = tokio::time::timeout(Duration::from_millis(200), events.recv()).await;
    }
    let run_s = t1.elapsed().as_secs_f64();
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
    store.close().await;
}
