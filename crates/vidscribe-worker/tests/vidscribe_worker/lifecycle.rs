use std::time::Duration;

use vidscribe_core::{BatchStatus, EventData, JobStatus};
use vidscribe_worker::testing::InstantTranscriber;

use super::support::*;

#[tokio::test]
async fn a_three_job_batch_runs_one_at_a_time_with_the_exact_event_sequence() {
    let env = Env::new().await;
    let (batch, jobs) = env.started_batch(3, 1).await;
    let engine = env.engine(Duration::from_millis(600), 2);

    // While the first job runs it is `processing` in the store AND in the JSON snapshot.
    let snapshot_path = env.data().snapshot(batch);
    wait_for(Duration::from_secs(10), "job 1 processing in store and snapshot", || {
        let store = env.store.clone();
        let path = snapshot_path.clone();
        async move {
            let b = store.get_batch(batch).await.unwrap();
            let in_store = b.jobs[0].status == JobStatus::Processing;
            let text = std::fs::read_to_string(&path).ok()?;
            let snap: serde_json::Value = serde_json::from_str(&text).expect("snapshot is always valid JSON");
            let in_snapshot = snap["jobs"][0]["status"] == "processing";
            (in_store && in_snapshot).then_some(())
        }
    })
    .await;
    let running = env.store.get_batch(batch).await.unwrap();
    let job = &running.jobs[0];
    let slots = [format!("{}/1", env.config().worker_name), format!("{}/2", env.config().worker_name)];
    assert!(
        job.worker.as_ref().is_some_and(|w| slots.contains(w)),
        "worker shown: {:?}, not one of {slots:?}",
        job.worker
    );
    assert!(job.heartbeat_at.is_some(), "heartbeat shown");
    assert_eq!(running.progress.processing_jobs, 1);

    wait_for(Duration::from_secs(20), "batch completed", || {
        let store = env.store.clone();
        async move { (store.batch_summary(batch).await.unwrap().status == BatchStatus::Completed).then_some(()) }
    })
    .await;
    engine.shutdown().await;

    let events = env.events(batch).await;
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "sequence numbers rise");

    // Job transitions in order: all queued, then each job processing → completed before the next starts.
    let transitions = job_transitions(&events);
    let mut expected = Vec::new();
    for j in &jobs {
        expected.push((*j, JobStatus::Queued));
    }
    for j in &jobs {
        expected.push((*j, JobStatus::Processing));
        expected.push((*j, JobStatus::Completed));
    }
    assert_eq!(transitions, expected);

    // Batch statuses in order.
    let batch_statuses: Vec<BatchStatus> = events
        .iter()
        .filter_map(|e| match &e.data {
            EventData::Batch(b) => Some(b.status),
            _ => None,
        })
        .fold(Vec::new(), |mut v, s| {
            if v.last() != Some(&s) {
                v.push(s)
            }
            v
        });
    assert_eq!(batch_statuses, [BatchStatus::Pending, BatchStatus::Processing, BatchStatus::Completed]);

    // Progress events of a running job rise between 0 and 1.
    for j in &jobs {
        let p: Vec<f64> = events
            .iter()
            .filter_map(job_of)
            .filter(|e| e.job_id == *j && e.status == JobStatus::Processing)
            .map(|e| e.progress)
            .collect();
        assert!(p.windows(2).all(|w| w[0] <= w[1]), "progress never goes back: {p:?}");
        assert!(p.iter().all(|x| (0.0..=1.0).contains(x)));
        assert!(p.len() >= 2, "progress was reported while running: {p:?}");
    }

    let done = env.store.get_batch(batch).await.unwrap();
    assert_eq!(done.progress.progress_percentage, 100.0);
    assert_eq!(done.progress.estimated_remaining, None);
    // Three jobs of 600 ms, one after the other: the batch cannot have taken less than 1.8 s.
    assert!((1.8..20.0).contains(&done.total_duration), "{}", done.total_duration);
    for j in &done.jobs {
        assert_eq!(j.status, JobStatus::Completed);
        assert_eq!(j.history.len(), 1, "one attempt recorded");
        let dir = env.data().abs(&j.results_path).unwrap();
        assert!(
            dir.join("transcript.txt").is_file()
                && dir.join("subtitles.srt").is_file()
                && dir.join("metadata.json").is_file()
        );
    }
    let snap: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&snapshot_path).unwrap()).unwrap();
    wait_for(Duration::from_secs(5), "final snapshot", || {
        let path = snapshot_path.clone();
        async move {
            let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).ok()?).ok()?;
            (s["status"] == "completed").then_some(())
        }
    })
    .await;
    assert_eq!(snap["batch_id"], batch.to_string());
}

#[tokio::test]
async fn a_failed_job_closes_the_batch_with_a_count_and_retry_reopens_it() {
    let env = Env::new().await;
    let (batch, jobs) = env.started_batch(3, 3).await;
    // The second file is "corrupt".
    let victim = env.store.get_batch(batch).await.unwrap().jobs[1].file_path.clone();
    // Each engine fails the victim's file as not media.
    let failing_victim = || {
        let fail_marker = Some(victim.trim_start_matches("uploads/").to_string());
        env.engine_with(InstantTranscriber { delay: Duration::from_millis(50), fail_marker }, 3)
    };
    let engine = failing_victim();
    let summary = env.batch_ended(batch, "batch finished").await;
    assert_eq!(summary.status, BatchStatus::Completed);
    assert_eq!(summary.error_message.as_deref(), Some("1 of 3 jobs failed"));
    assert_eq!(summary.progress.progress_percentage, 100.0);
    let failed = env.store.get_job(batch, jobs[1]).await.unwrap();
    assert_eq!(failed.status, JobStatus::Failed);
    assert_eq!(failed.error_code.map(|c| c.as_str()), Some("not_media"));
    assert_eq!(failed.attempts, 1, "deterministic failures are not retried automatically");

    // Retrying re-opens the batch; the job runs again and fails again, the batch closes again.
    // No engine runs in between, so the re-opened state cannot be closed again before it is read.
    engine.shutdown().await;
    let retried = env.store.retry_job(batch, jobs[1]).await.unwrap();
    assert_eq!(retried.status, JobStatus::Queued);
    let reopened = env.store.batch_summary(batch).await.unwrap();
    assert_eq!(reopened.status, BatchStatus::Processing);
    assert_eq!(reopened.error_message, None, "the failure count is cleared while it runs again");
    let engine = failing_victim();
    let again = wait_for(Duration::from_secs(20), "retried job ran", || {
        let store = env.store.clone();
        let job = jobs[1];
        async move {
            let j = store.get_job(batch, job).await.unwrap();
            (j.status == JobStatus::Failed && j.attempts == 2).then_some(j)
        }
    })
    .await;
    assert_eq!(again.history.len(), 2, "both attempts kept");
    assert_eq!(again.history[0].outcome.as_deref(), Some("failed"));
    let closed = env.batch_ended(batch, "batch closed again").await;
    assert_eq!(closed.status, BatchStatus::Completed);
    assert_eq!(closed.error_message.as_deref(), Some("1 of 3 jobs failed"));
    engine.shutdown().await;
}

#[tokio::test]
async fn a_batch_whose_jobs_all_fail_is_failed() {
    let env = Env::new().await;
    let (batch, _) = env.started_batch(2, 2).await;
    let engine = env.engine_with(InstantTranscriber { delay: Duration::ZERO, fail_marker: Some(".wav".into()) }, 2);
    let s = env.batch_ended(batch, "batch finished").await;
    engine.shutdown().await;
    assert_eq!(s.status, BatchStatus::Failed);
    assert_eq!(s.error_message.as_deref(), Some("All jobs failed"));
}

#[tokio::test]
async fn delete_removes_rows_uploads_and_results() {
    let env = Env::new().await;
    let (batch, _) = env.started_batch(2, 2).await;
    let engine = env.engine(Duration::ZERO, 2);
    wait_for(Duration::from_secs(20), "batch completed", || {
        let store = env.store.clone();
        async move { (store.batch_summary(batch).await.unwrap().status == BatchStatus::Completed).then_some(()) }
    })
    .await;
    let b = env.store.get_batch(batch).await.unwrap();
    let deleted = env.store.delete_batch(batch).await.unwrap();
    vidscribe_storage::remove_all(&env.data(), &deleted.file_paths, &deleted.results_paths).await.unwrap();
    for j in &b.jobs {
        assert!(!env.data().abs(&j.file_path).unwrap().exists());
        assert!(!env.data().abs(&j.results_path).unwrap().exists());
    }
    assert_eq!(env.store.get_batch(batch).await.unwrap_err().code(), "batch_not_found");
    wait_for(Duration::from_secs(5), "snapshot removed", || {
        let p = env.data().snapshot(batch);
        async move { (!p.exists()).then_some(()) }
    })
    .await;
    engine.shutdown().await;
}
