use std::time::{Duration, Instant};

use vidscribe_core::{BatchStatus, JobStatus};

use super::support::*;

#[tokio::test]
async fn cancelling_a_running_batch_stops_the_running_job_within_two_seconds() {
    let env = Env::new().await;
    let (batch, jobs) = env.started_batch(4, 1).await;
    let engine = env.engine(Duration::from_secs(30), 2);
    wait_for(Duration::from_secs(10), "first job running", || {
        let store = env.store.clone();
        let job = jobs[0];
        async move { (store.get_job(batch, job).await.unwrap().status == JobStatus::Processing).then_some(()) }
    })
    .await;

    let asked = Instant::now();
    let running = env.store.cancel_batch(batch).await.unwrap();
    assert_eq!(running, vec![jobs[0]]);
    // Queued jobs are skipped at once; the batch is cancelled at once.
    let b = env.store.get_batch(batch).await.unwrap();
    assert_eq!(b.status, BatchStatus::Cancelled);
    assert!(b.jobs[1..].iter().all(|j| j.status == JobStatus::Skipped));

    wait_for(Duration::from_secs(2), "running job cancelled", || {
        let store = env.store.clone();
        let job = jobs[0];
        async move { (store.get_job(batch, job).await.unwrap().status == JobStatus::Cancelled).then_some(()) }
    })
    .await;
    let took = asked.elapsed();
    assert!(took < Duration::from_secs(2), "stopped after {took:?}");

    // Nothing else ever starts, and the batch stays cancelled.
    tokio::time::sleep(Duration::from_millis(500)).await;
    engine.shutdown().await;
    let events = env.events(batch).await;
    for j in &jobs[1..] {
        assert!(
            !events.iter().filter_map(job_of).any(|e| e.job_id == *j && e.status == JobStatus::Processing),
            "a skipped job started"
        );
    }
    let b = env.store.get_batch(batch).await.unwrap();
    assert_eq!(b.status, BatchStatus::Cancelled);
    assert_eq!(b.progress.skipped_jobs, 3);
    assert_eq!(b.progress.cancelled_jobs, 1);
    assert!(!env.data().abs(&b.jobs[0].results_path).unwrap().exists(), "partial results removed");
}

#[tokio::test]
async fn cancelling_one_job_leaves_the_others_running() {
    let env = Env::new().await;
    let (batch, jobs) = env.started_batch(3, 1).await;
    let engine = env.engine(Duration::from_millis(300), 1);
    // The last job is still queued: it is skipped at once.
    let skipped = env.store.cancel_job(batch, jobs[2]).await.unwrap();
    assert_eq!(skipped.status, JobStatus::Skipped);
    let s = env.batch_ended(batch, "batch done").await;
    engine.shutdown().await;
    assert_eq!(s.status, BatchStatus::Completed);
    assert_eq!(s.progress.completed_jobs, 2);
    assert_eq!(s.progress.skipped_jobs, 1);
    assert_eq!(s.progress.progress_percentage, 100.0);
    // A skipped job can be retried; the batch re-opens and runs it.
    let engine = env.engine(Duration::ZERO, 1);
    env.store.retry_job(batch, jobs[2]).await.unwrap();
    wait_for(Duration::from_secs(20), "retried job completed", || {
        let store = env.store.clone();
        let job = jobs[2];
        async move { (store.get_job(batch, job).await.unwrap().status == JobStatus::Completed).then_some(()) }
    })
    .await;
    engine.shutdown().await;
    assert_eq!(env.store.batch_summary(batch).await.unwrap().status, BatchStatus::Completed);
}

#[tokio::test]
async fn cancel_and_retry_are_refused_in_the_wrong_state() {
    let env = Env::new().await;
    let (batch, jobs) = env.started_batch(1, 1).await;
    let err = env.store.retry_job(batch, jobs[0]).await.unwrap_err();
    assert_eq!(err.code().http_status(), 409, "{err}");
    let (pending, _) = env.pending_batch(1, 1).await;
    let err = env.store.add_jobs(batch, vec![]).await.unwrap_err();
    assert_eq!(err.code(), "batch_not_pending");
    let (empty, _) = env.pending_batch(0, 1).await;
    let err = env.store.start_batch(empty).await.unwrap_err();
    assert_eq!(err.code(), "empty_batch");
    env.store.cancel_batch(pending).await.unwrap();
    let err = env.store.cancel_batch(pending).await.unwrap_err();
    assert_eq!(err.code().http_status(), 409, "{err}");
    let err = env.store.get_batch(vidscribe_core::BatchId::new()).await.unwrap_err();
    assert_eq!(err.code().http_status(), 404, "{err}");
}

#[tokio::test]
async fn shutdown_hands_running_jobs_back_and_a_restart_finishes_them() {
    let env = Env::new().await;
    let (batch, jobs) = env.started_batch(1, 1).await;
    let engine = env.engine(Duration::from_secs(30), 1);
    wait_for(Duration::from_secs(10), "job running", || {
        let store = env.store.clone();
        let job = jobs[0];
        async move { (store.get_job(batch, job).await.unwrap().status == JobStatus::Processing).then_some(()) }
    })
    .await;
    engine.shutdown().await;
    let job = env.store.get_job(batch, jobs[0]).await.unwrap();
    assert_eq!(job.status, JobStatus::Queued, "released, not lost and not cancelled");
    let engine = env.engine(Duration::ZERO, 1);
    wait_for(Duration::from_secs(10), "job completed after restart", || {
        let store = env.store.clone();
        let job = jobs[0];
        async move { (store.get_job(batch, job).await.unwrap().status == JobStatus::Completed).then_some(()) }
    })
    .await;
    engine.shutdown().await;
}
