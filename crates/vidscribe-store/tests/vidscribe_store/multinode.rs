//! Several nodes on one PostgreSQL: three worker engines (each with its own `PgStore`, as
//! separate machines would have) and an API node that only watches. Store-level stand-in
//! for the multi-process acceptance test of the `vidscribe` binary.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use vidscribe_core::{BatchStatus, Event, JobStatus};
use vidscribe_worker::testing::InstantTranscriber;
use vidscribe_worker::{Engine, EngineConfig, EngineHandle};

use super::support::*;

fn node_config(data_dir: &std::path::Path, name: &str, snapshots: bool) -> EngineConfig {
    let mut c = EngineConfig::new(data_dir);
    c.worker_name = name.to_string();
    c.slots = 2;
    c.lease = Duration::from_secs(1);
    c.heartbeat_interval = Duration::from_millis(100);
    c.poll_interval = Duration::from_millis(100);
    c.reap_interval = Duration::from_millis(200);
    c.max_attempts = 3;
    c.write_snapshots = snapshots;
    c.cores = 2;
    c
}

fn node_of(worker: &str) -> &str {
    worker.split('/').next().unwrap_or(worker)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_worker_nodes_share_a_batch_within_its_limit_and_survive_a_crashed_node() {
    const JOBS: usize = 20;
    const LIMIT: u32 = 4;
    let backend = Backend::postgres().await;
    let data = tempfile::tempdir().unwrap();

    // The API node: creates the batch and watches, runs no jobs.
    let api = backend.open().await;
    let mut watcher = api.subscribe();
    let (id, jobs) = pending_batch(&api, JOBS, LIMIT).await;
    // The engines open each upload before transcribing it: the files must exist.
    for j in &api.get_batch(id).await.unwrap().jobs {
        let path = data.path().join(&j.file_path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"not really a video").unwrap();
    }

    let transcriber = Arc::new(InstantTranscriber::with_delay(Duration::from_millis(250)));
    let mut nodes: HashMap<&str, EngineHandle> = HashMap::new();
    for (i, name) in ["node-a", "node-b", "node-c"].into_iter().enumerate() {
        let store = backend.open().await;
        nodes.insert(name, Engine::start(store, transcriber.clone(), node_config(data.path(), name, i == 0)));
    }
    api.start_batch(id).await.unwrap();

    // Kill node-c (no release, no final write: its lease just stops being renewed) once it
    // has finished a job and is in the middle of another.
    let victim = eventually("node-c to be mid-job after finishing one", Duration::from_secs(20), || async {
        let batch = api.get_batch(id).await.unwrap();
        let on_c = |s: JobStatus| {
            batch
                .jobs
                .iter()
                .filter(move |j| j.status == s && j.worker.as_deref().is_some_and(|w| node_of(w) == "node-c"))
        };
        if on_c(JobStatus::Completed).count() >= 1 {
            on_c(JobStatus::Processing).find(|j| j.progress > 0.0 && j.progress < 0.6).map(|j| j.job_id)
        } else {
            None
        }
    })
    .await;
    drop(nodes.remove("node-c"));

    let batch = eventually("the batch to complete", Duration::from_secs(60), || async {
        let b = api.get_batch(id).await.unwrap();
        (b.status != BatchStatus::Processing).then_some(b)
    })
    .await;
    for (_, node) in nodes.drain() {
        node.shutdown().await;
    }

    assert_eq!(batch.status, BatchStatus::Completed, "{:?}", batch.error_message);
    assert!(batch.jobs.iter().all(|j| j.status == JobStatus::Completed));
    let events = all_events(&api).await;
    assert_monotonic(&events);

    let max = max_processing_at_once(&events, id);
    assert!(max <= LIMIT as usize, "{max} jobs processing at once across 3 nodes with max_concurrent = {LIMIT}");
    let completions = entries_into(&events, id, JobStatus::Completed);
    assert_eq!(completions.len(), JOBS);
    assert!(completions.values().all(|&n| n == 1), "every job completed exactly once: {completions:?}");
    assert_eq!(completions.keys().copied().collect::<HashSet<_>>(), jobs.iter().copied().collect());

    let ran_on: HashSet<String> = events
        .iter()
        .filter_map(job_of)
        .filter(|j| j.status == JobStatus::Processing)
        .filter_map(|j| j.worker.as_deref().map(|w| node_of(w).to_string()))
        .collect();
    assert_eq!(
        ran_on,
        ["node-a", "node-b", "node-c"].map(String::from).into_iter().collect(),
        "jobs spread over all nodes"
    );

    let rerun = batch.jobs.iter().find(|j| j.job_id == victim).unwrap();
    assert_eq!(rerun.history.len(), 2, "the crashed node's job ran again: {:?}", rerun.history);
    assert_eq!(rerun.history[0].outcome.as_deref(), Some("lease_expired"));
    assert_eq!(node_of(&rerun.history[0].worker), "node-c");
    assert_ne!(node_of(rerun.worker.as_deref().unwrap()), "node-c");

    // The API node's subscriber heard every transition, in order, from nodes it never ran.
    let last = api.last_event_seq().await.unwrap();
    let mut heard: Vec<Event> = Vec::new();
    while heard.last().map(|e| e.seq) != Some(last) {
        let e = tokio::time::timeout(Duration::from_secs(5), watcher.recv()).await.expect("event").expect("not lagged");
        heard.push(e);
    }
    assert_eq!(heard.iter().map(|e| e.seq).collect::<Vec<_>>(), events.iter().map(|e| e.seq).collect::<Vec<_>>());
    assert!(heard.iter().filter_map(batch_of).any(|b| b.status == BatchStatus::Completed));

    // The snapshot node kept results/batches/<id>.json current.
    let snapshot_path = data.path().join("results").join("batches").join(format!("{id}.json"));
    let snapshot = eventually("the final snapshot", Duration::from_secs(5), || async {
        let text = std::fs::read_to_string(&snapshot_path).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        (v["status"] == "completed").then_some(v)
    })
    .await;
    assert_eq!(snapshot["jobs"].as_array().unwrap().len(), JOBS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_made_on_one_node_reaches_subscribers_of_another_live() {
    let backend = Backend::postgres().await;
    let node_a = backend.open().await;
    let node_b = backend.open().await;
    let mut on_a = node_a.subscribe();
    let (id, _) = started_batch(&node_b, 1, 1).await;
    let claim = node_b.claim("node-b/1", Duration::from_secs(30)).await.unwrap().unwrap();
    let started = std::time::Instant::now();
    node_b.complete(&claim, None).await.unwrap();
    let last = node_b.last_event_seq().await.unwrap();
    loop {
        let e =
            tokio::time::timeout(Duration::from_secs(3), on_a.recv()).await.expect("NOTIFY reached node A").unwrap();
        if e.seq == last {
            let batch = batch_of(&e).expect("the last event is the batch's");
            assert_eq!((batch.batch_id, batch.status), (id, BatchStatus::Completed));
            break;
        }
    }
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "live (LISTEN/NOTIFY), not the 1 s poll: {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_node_requeues_the_jobs_of_a_dead_one() {
    let backend = Backend::postgres().await;
    let dead = backend.open().await;
    let alive = backend.open().await;
    let (id, jobs) = started_batch(&dead, 2, 2).await;
    let _lost = dead.claim("dead/1", Duration::from_millis(50)).await.unwrap().unwrap();
    let _lost2 = dead.claim("dead/2", Duration::from_millis(50)).await.unwrap().unwrap();
    dead.close().await;
    drop(dead);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Two nodes reaping at once never re-queue a job twice.
    let other = backend.open().await;
    let (a, b) = tokio::join!(alive.requeue_expired(3), other.requeue_expired(3));
    assert_eq!(a.unwrap() + b.unwrap(), 2);
    let batch = alive.get_batch(id).await.unwrap();
    assert!(batch.jobs.iter().all(|j| j.status == JobStatus::Queued && j.attempts == 1));
    assert_eq!(batch.progress.queued_jobs, 2);
    let c = alive.claim("alive/1", Duration::from_secs(30)).await.unwrap().unwrap();
    assert_eq!(c.job_id, jobs[0]);
    assert_eq!(c.attempt, 2);
}
