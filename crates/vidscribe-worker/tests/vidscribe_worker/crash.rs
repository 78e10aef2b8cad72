use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use vidscribe_core::{BatchStatus, JobStatus};

use super::support::*;

fn spawn_worker(dir: &std::path::Path, delay_ms: u64) -> Child {
    Command::new(env!("CARGO_BIN_EXE_instant-worker"))
        .args([
            "--data-dir",
            dir.to_str().unwrap(),
            "--slots",
            "2",
            "--delay-ms",
            &delay_ms.to_string(),
            "--lease-ms",
            "1500",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start worker process")
}

#[tokio::test]
async fn a_worker_process_killed_mid_batch_loses_nothing_and_completes_nothing_twice() {
    let env = Env::new().await;
    let (batch, jobs) = env.started_batch(8, 2).await;

    let mut first = spawn_worker(env.dir.path(), 700);
    // Kill it while it is in the middle of work: some done, some running.
    wait_for(Duration::from_secs(30), "some jobs done and some running", || {
        let store = env.store.clone();
        async move {
            let p = store.batch_summary(batch).await.unwrap().progress;
            (p.completed_jobs >= 1 && p.processing_jobs >= 1).then_some(())
        }
    })
    .await;
    first.kill().expect("SIGKILL"); // Child::kill is SIGKILL on Unix
    first.wait().unwrap();
    let at_kill = env.store.get_batch(batch).await.unwrap();
    let orphaned: Vec<_> =
        at_kill.jobs.iter().filter(|j| j.status == JobStatus::Processing).map(|j| j.job_id).collect();
    assert!(!orphaned.is_empty(), "the kill left jobs mid-flight");

    // A fresh process on the same data dir re-queues the dead worker's jobs and finishes.
    let mut second = spawn_worker(env.dir.path(), 50);
    wait_for(Duration::from_secs(60), "batch completed after restart", || {
        let store = env.store.clone();
        async move { (store.batch_summary(batch).await.unwrap().status == BatchStatus::Completed).then_some(()) }
    })
    .await;
    second.kill().unwrap();
    second.wait().unwrap();

    let done = env.store.get_batch(batch).await.unwrap();
    assert!(done.jobs.iter().all(|j| j.status == JobStatus::Completed));
    for id in &orphaned {
        let j = done.jobs.iter().find(|j| j.job_id == *id).unwrap();
        // Once by the killed process, once by the fresh one.
        assert_eq!(j.attempts, 2, "orphaned job was re-run once: {:?}", j.history);
        assert_eq!(j.history.len(), 2, "{:?}", j.history);
        assert_eq!(j.history[0].outcome.as_deref(), Some("lease_expired"));
    }
    // Exactly one `completed` transition per job in the durable log.
    let mut completions: HashMap<_, usize> = HashMap::new();
    for (job, status) in job_transitions(&env.events(batch).await) {
        if status == JobStatus::Completed {
            *completions.entry(job).or_default() += 1;
        }
    }
    for j in &jobs {
        assert_eq!(completions.get(j), Some(&1), "job {j} completed exactly once");
    }
    // The snapshot the killed process may have been writing is valid JSON.
    let text = std::fs::read_to_string(env.data().snapshot(batch)).expect("snapshot exists");
    let snap: serde_json::Value = serde_json::from_str(&text).expect("snapshot parses");
    assert_eq!(snap["batch_id"], batch.to_string());
}
