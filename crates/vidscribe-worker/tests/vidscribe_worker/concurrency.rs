use std::collections::HashSet;
use std::time::Duration;

use vidscribe_core::{BatchStatus, JobStatus};

use super::support::*;

#[tokio::test]
async fn max_concurrent_bounds_running_jobs_per_batch() {
    let env = Env::new().await;
    let (batch, _) = env.started_batch(6, 2).await;
    // More slots than the batch allows: the batch limit must hold, not the slot count.
    let engine = env.engine(Duration::from_millis(150), 4);
    wait_for(Duration::from_secs(30), "batch completed", || {
        let store = env.store.clone();
        async move { (store.batch_summary(batch).await.unwrap().status == BatchStatus::Completed).then_some(()) }
    })
    .await;
    engine.shutdown().await;
    let events = env.events(batch).await;
    assert_eq!(max_processing_at_once(&events), 2, "exactly two at a time, never more");
}

#[tokio::test]
async fn eight_workers_on_one_sqlite_file_never_claim_the_same_job_twice() {
    let env = Env::new().await;
    // A batch limit of 4 under 8 claimers: the limit, not the number of claimers, must bound it.
    let (batch, jobs) = env.started_batch(200, 4).await;
    // Eight independent stores (separate connections, as separate processes would have).
    let mut handles = Vec::new();
    for w in 0..8 {
        let store = open_store(env.dir.path().to_path_buf()).await;
        handles.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            let name = format!("w{w}");
            loop {
                match store.claim(&name, Duration::from_secs(30)).await.unwrap() {
                    Some(claim) => {
                        mine.push(claim.job_id);
                        store.complete(&claim, None).await.unwrap();
                    }
                    // Nothing claimable: the batch is at its limit (try again) or finished.
                    None if store.batch_summary(batch).await.unwrap().status.is_terminal() => break,
                    None => tokio::task::yield_now().await,
                }
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), jobs.len(), "every job claimed once");
    assert_eq!(unique.len(), jobs.len(), "no job claimed twice");
    let b = env.store.get_batch(batch).await.unwrap();
    assert!(b.jobs.iter().all(|j| j.status == JobStatus::Completed && j.attempts == 1));
    assert_eq!(b.status, BatchStatus::Completed);
    let events = env.events(batch).await;
    let most = max_processing_at_once(&events);
    assert!((2..=4).contains(&most), "at most the batch's 4 at once, and the claimers did overlap: {most}");
}

#[tokio::test]
async fn a_stale_worker_cannot_overwrite_a_newer_state() {
    let env = Env::new().await;
    let (batch, _) = env.started_batch(1, 1).await;
    let first = env.store.claim("old", Duration::from_millis(50)).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(env.store.requeue_expired(3).await.unwrap(), 1);
    let second = env.store.claim("new", Duration::from_secs(30)).await.unwrap().unwrap();
    assert_eq!(second.attempt, 2);
    // The old worker wakes up and tries to finish: refused, nothing changes.
    let err = env.store.complete(&first, None).await.unwrap_err();
    assert_eq!(err.code(), "lease_lost");
    assert_eq!(
        env.store.heartbeat(&first, Duration::from_secs(1), None, Some(0.9)).await.unwrap(),
        vidscribe_store::Heartbeat::Lost
    );
    env.store.complete(&second, None).await.unwrap();
    let job = &env.store.get_batch(batch).await.unwrap().jobs[0];
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(job.worker.as_deref(), Some("new"));
    assert_eq!(job.history.len(), 2);
    assert_eq!(job.history[0].outcome.as_deref(), Some("lease_expired"));
}

#[tokio::test]
async fn a_job_whose_worker_keeps_dying_fails_with_a_clear_message() {
    let env = Env::new().await;
    let (batch, _) = env.started_batch(1, 1).await;
    for _ in 0..2 {
        env.store.claim("doomed", Duration::from_millis(10)).await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        env.store.requeue_expired(2).await.unwrap();
    }
    let job = &env.store.get_batch(batch).await.unwrap().jobs[0];
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.error_code.map(|c| c.as_str()), Some("worker_lost"));
    assert!(job.error_message.as_deref().unwrap().contains("stopped responding 2 times"), "{:?}", job.error_message);
    assert_eq!(env.store.batch_summary(batch).await.unwrap().status, BatchStatus::Failed);
}
