//! The store conformance suite: written once against `DynStore`, run on every backend.
//! Each test gets its own database (SQLite temp file, PostgreSQL schema).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use tokio::sync::broadcast;
use vidscribe_core::{
    BatchId, BatchProgress, BatchStatus, Checkpoint, Event, EventData, EventKind, FailureCode, JobId, JobStage,
    JobStatus,
};
use vidscribe_store::{Claim, DynStore, Failure, Heartbeat, LiveTranscript, StoreError};

use super::support::*;

const LEASE: Duration = Duration::from_secs(30);

macro_rules! conformance {
    ($($test:ident),+ $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let backend = super::Backend::sqlite();
                    super::$test(&backend).await;
                }
            )+
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let backend = super::Backend::postgres().await;
                    super::$test(&backend).await;
                }
            )+
        }
    };
}

conformance!(
    a_batch_is_created_filled_and_started,
    videos_cannot_be_added_to_a_started_batch_and_an_empty_batch_cannot_start,
    unknown_ids_are_not_found,
    a_claimed_job_heartbeats_and_completes,
    the_batch_completes_when_its_last_job_does,
    a_retryable_failure_is_requeued_after_a_backoff,
    a_non_retryable_failure_is_final_and_all_failed_fails_the_batch,
    some_failed_jobs_complete_the_batch_with_a_count,
    cancelling_a_batch_skips_queued_jobs_and_stops_running_ones,
    cancelling_a_job_skips_it_or_asks_its_worker_to_stop,
    retrying_a_job_reopens_its_batch,
    deleting_a_batch_removes_it_and_reports_its_files,
    expired_leases_are_requeued_and_given_up_after_max_attempts,
    a_stale_worker_cannot_touch_a_job_it_lost,
    a_released_job_goes_back_to_the_queue_without_penalty,
    events_are_in_order_and_can_be_read_after_a_sequence_number,
    subscribers_receive_every_event_after_commit,
    max_concurrent_holds_with_eight_store_instances_claiming_at_once,
    workers_are_registered_and_listed_with_their_running_jobs,
    the_store_opens_by_url,
    the_eta_mid_batch_is_media_throughput_since_the_batch_started,
    the_eta_counters_follow_every_transition,
    a_write_dropped_half_way_commits_all_or_nothing_and_the_store_goes_on,
    a_running_jobs_segments_are_committed_in_order_and_the_next_attempt_resumes_from_them,
);

fn code(e: &StoreError) -> &'static str {
    e.code().as_str()
}

async fn claim(store: &DynStore, worker: &str) -> Claim {
    store.claim(worker, LEASE).await.expect("claim").expect("a job to claim")
}

fn failure(retryable: bool, max_attempts: u32) -> Failure {
    Failure { code: FailureCode::InferenceFailed, message: "it broke".into(), retryable, max_attempts }
}

async fn a_batch_is_created_filled_and_started(b: &Backend) {
    let store = b.open().await;
    let id = BatchId::new();
    let batch = store.create_batch(id, &settings(2)).await.unwrap();
    assert_eq!(batch.status, BatchStatus::Pending);
    assert_eq!(batch.max_concurrent, 2);
    assert!(batch.jobs.is_empty());

    let added = store.add_jobs(id, vec![new_job("first", Some(5.0)), new_job("second", None)]).await.unwrap();
    assert_eq!(added.len(), 2);
    assert!(added.iter().all(|j| j.status == JobStatus::Queued && j.attempts == 0 && j.batch_id == id));
    assert_eq!(added[0].results_path, format!("results/{}", added[0].session_id));

    let summary = store.start_batch(id).await.unwrap();
    assert_eq!(summary.status, BatchStatus::Processing);
    assert_eq!(summary.total_jobs, 2);
    assert_eq!(summary.progress.queued_jobs, 2);

    let batch = store.get_batch(id).await.unwrap();
    assert_eq!(batch.status, BatchStatus::Processing);
    assert!(batch.started_at.is_some());
    let names: Vec<_> = batch.jobs.iter().map(|j| j.original_filename.as_str()).collect();
    assert_eq!(names, ["first.mp4", "second.mp4"], "jobs in the order they were added");
    assert_eq!(batch.jobs[0].media_duration, Some(5.0));
    assert_eq!(batch.jobs[0], store.get_job(id, added[0].job_id).await.unwrap());

    let (older, _) = pending_batch(&store, 1, 1).await;
    let newest = BatchId::new();
    store.create_batch(newest, &settings(1)).await.unwrap();
    let list: Vec<BatchId> = store.list_batches().await.unwrap().iter().map(|s| s.batch_id).collect();
    assert_eq!(list, vec![newest, older, id], "newest first");
    assert_eq!(store.batch_summary(id).await.unwrap().total_jobs, 2);
}

async fn videos_cannot_be_added_to_a_started_batch_and_an_empty_batch_cannot_start(b: &Backend) {
    let store = b.open().await;
    let empty = BatchId::new();
    store.create_batch(empty, &settings(1)).await.unwrap();
    assert_eq!(code(&store.start_batch(empty).await.unwrap_err()), "empty_batch");

    let (id, _) = started_batch(&store, 1, 1).await;
    let err = store.add_jobs(id, vec![new_job("late", None)]).await.unwrap_err();
    assert_eq!(code(&err), "batch_not_pending");
    assert_eq!(code(&store.start_batch(id).await.unwrap_err()), "batch_not_pending");
    assert_eq!(store.get_batch(id).await.unwrap().jobs.len(), 1, "the rejected job was not added");
}

async fn unknown_ids_are_not_found(b: &Backend) {
    let store = b.open().await;
    let nobody = BatchId::new();
    assert_eq!(code(&store.get_batch(nobody).await.unwrap_err()), "batch_not_found");
    assert_eq!(code(&store.start_batch(nobody).await.unwrap_err()), "batch_not_found");
    assert_eq!(code(&store.cancel_batch(nobody).await.unwrap_err()), "batch_not_found");
    let (id, _) = pending_batch(&store, 1, 1).await;
    let err = store.get_job(id, vidscribe_core::JobId::new()).await.unwrap_err();
    assert_eq!(code(&err), "job_not_found");
    assert!(store.claim("w/1", LEASE).await.unwrap().is_none(), "a pending batch's jobs are not claimable");
}

async fn a_claimed_job_heartbeats_and_completes(b: &Backend) {
    let store = b.open().await;
    let (id, jobs) = started_batch(&store, 2, 2).await;
    let c = claim(&store, "node-a/1").await;
    assert_eq!(c.job_id, jobs[0], "oldest job first");
    assert_eq!(c.attempt, 1);
    assert_eq!(c.worker, "node-a/1");
    assert_eq!(c.job.status, JobStatus::Processing);
    assert_eq!(c.settings.max_concurrent, 2);
    assert!(c.lease_expires_at > chrono::Utc::now());

    let hb = store.heartbeat(&c, LEASE, Some(JobStage::Transcribing), Some(0.5)).await.unwrap();
    assert_eq!(hb, Heartbeat::Continue);
    let job = store.get_job(id, c.job_id).await.unwrap();
    assert_eq!(job.status, JobStatus::Processing);
    assert_eq!(job.stage, Some(JobStage::Transcribing));
    assert_eq!(job.progress, 0.5);
    assert_eq!(job.worker.as_deref(), Some("node-a/1"));
    assert!(job.heartbeat_at.is_some());
    let summary = store.batch_summary(id).await.unwrap();
    assert_eq!(summary.progress.processing_jobs, 1);
    assert!((summary.progress.progress_percentage - 25.0).abs() < 1e-6, "{}", summary.progress.progress_percentage);

    let done = store.complete(&c, Some(12.5)).await.unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(done.progress, 1.0);
    assert_eq!(done.stage, Some(JobStage::Done));
    assert_eq!(done.media_duration, Some(12.5));
    assert!(done.completed_at.is_some());
    let job = store.get_job(id, c.job_id).await.unwrap();
    assert_eq!(job.history.len(), 1);
    assert_eq!(job.history[0].outcome.as_deref(), Some("completed"));
    assert_eq!(job.history[0].worker, "node-a/1");
    assert_eq!(code(&store.complete(&c, None).await.unwrap_err()), "lease_lost", "a job completes once");
}

async fn the_batch_completes_when_its_last_job_does(b: &Backend) {
    let store = b.open().await;
    let (id, _) = started_batch(&store, 3, 3).await;
    let claims = [claim(&store, "w/1").await, claim(&store, "w/2").await, claim(&store, "w/3").await];
    assert!(store.claim("w/4", LEASE).await.unwrap().is_none(), "nothing left to claim");
    for c in &claims[..2] {
        store.complete(c, None).await.unwrap();
        assert_eq!(store.get_batch(id).await.unwrap().status, BatchStatus::Processing);
    }
    store.complete(&claims[2], None).await.unwrap();
    let batch = store.get_batch(id).await.unwrap();
    assert_eq!(batch.status, BatchStatus::Completed);
    assert_eq!(batch.error_message, None);
    assert!(batch.completed_at.is_some());
    assert_eq!(batch.progress.completed_jobs, 3);
    assert_eq!(batch.progress.progress_percentage, 100.0);
    assert_eq!(batch.progress.estimated_remaining, None);
}

async fn a_retryable_failure_is_requeued_after_a_backoff(b: &Backend) {
    let store = b.open().await;
    let (id, jobs) = started_batch(&store, 1, 1).await;
    let c = claim(&store, "w/1").await;
    let job = store.fail(&c, failure(true, 3)).await.unwrap();
    assert_eq!(job.status, JobStatus::Queued, "a retryable failure goes back to the queue");
    assert!(job.error_message.as_deref().unwrap().contains("retrying"), "{:?}", job.error_message);
    assert_eq!(store.get_batch(id).await.unwrap().status, BatchStatus::Processing);
    assert!(store.claim("w/1", LEASE).await.unwrap().is_none(), "not claimable during the backoff");

    let again = eventually("the backoff to pass", Duration::from_secs(6), || async {
        store.claim("w/2", LEASE).await.unwrap()
    })
    .await;
    assert_eq!(again.job_id, jobs[0]);
    assert_eq!(again.attempt, 2);
    let history = store.get_job(id, jobs[0]).await.unwrap().history;
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].outcome.as_deref(), Some("failed"));

    // Attempts used up: the next retryable failure is final.
    let last = store.fail(&again, failure(true, 2)).await.unwrap();
    assert_eq!(last.status, JobStatus::Failed);
    assert_eq!(store.get_batch(id).await.unwrap().status, BatchStatus::Failed);
}

async fn a_non_retryable_failure_is_final_and_all_failed_fails_the_batch(b: &Backend) {
    let store = b.open().await;
    let (id, _) = started_batch(&store, 2, 2).await;
    let c1 = claim(&store, "w/1").await;
    let c2 = claim(&store, "w/2").await;
    let job = store.fail(&c1, failure(false, 3)).await.unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.error_code.map(|c| c.as_str()), Some("inference_failed"));
    assert_eq!(job.error_message.as_deref(), Some("it broke"));
    store.fail(&c2, failure(false, 3)).await.unwrap();
    let batch = store.get_batch(id).await.unwrap();
    assert_eq!(batch.status, BatchStatus::Failed);
    assert_eq!(batch.error_message.as_deref(), Some("All jobs failed"));
    assert_eq!(batch.progress.progress_percentage, 100.0, "failed jobs count as done");
}

async fn some_failed_jobs_complete_the_batch_with_a_count(b: &Backend) {
    let store = b.open().await;
    let (id, _) = started_batch(&store, 3, 3).await;
    let cs = [claim(&store, "w/1").await, claim(&store, "w/2").await, claim(&store, "w/3").await];
    store.complete(&cs[0], None).await.unwrap();
    store.fail(&cs[1], failure(false, 3)).await.unwrap();
    store.complete(&cs[2], None).await.unwrap();
    let batch = store.get_batch(id).await.unwrap();
    assert_eq!(batch.status, BatchStatus::Completed);
    assert_eq!(batch.error_message.as_deref(), Some("1 of 3 jobs failed"));
    assert_eq!(batch.progress.failed_jobs, 1);
    assert_eq!(batch.progress.completed_jobs, 2);
}

async fn cancelling_a_batch_skips_queued_jobs_and_stops_running_ones(b: &Backend) {
    let store = b.open().await;
    let (id, jobs) = started_batch(&store, 3, 1).await;
    let running = claim(&store, "w/1").await;
    let stopping = store.cancel_batch(id).await.unwrap();
    assert_eq!(stopping, vec![running.job_id]);
    let batch = store.get_batch(id).await.unwrap();
    assert_eq!(batch.status, BatchStatus::Cancelled);
    assert_eq!(batch.jobs[0].status, JobStatus::Processing, "a running job stops when its worker notices");
    assert_eq!(
        batch.jobs[1..].iter().map(|j| j.status).collect::<Vec<_>>(),
        vec![JobStatus::Skipped; 2],
        "queued jobs are skipped at once"
    );
    assert_eq!(batch.progress.skipped_jobs, 2);
    assert_eq!(batch.progress.queued_jobs, 0);

    assert!(store.claim("w/2", LEASE).await.unwrap().is_none(), "no skipped job ever starts");
    assert_eq!(store.heartbeat(&running, LEASE, None, None).await.unwrap(), Heartbeat::CancelRequested);
    let job = store.finish_cancelled(&running).await.unwrap();
    assert_eq!(job.status, JobStatus::Cancelled);
    let batch = store.get_batch(id).await.unwrap();
    assert_eq!(batch.status, BatchStatus::Cancelled, "the batch stays cancelled");
    assert_eq!(batch.progress.cancelled_jobs, 1);
    assert_eq!(batch.progress.processing_jobs, 0);
    assert_eq!(code(&store.cancel_batch(id).await.unwrap_err()), "wrong_state");
    assert_eq!(store.get_job(id, jobs[2]).await.unwrap().status, JobStatus::Skipped);
}

async fn cancelling_a_job_skips_it_or_asks_its_worker_to_stop(b: &Backend) {
    let store = b.open().await;
    let (id, jobs) = started_batch(&store, 3, 1).await;
    let running = claim(&store, "w/1").await;
    let skipped = store.cancel_job(id, jobs[2]).await.unwrap();
    assert_eq!(skipped.status, JobStatus::Skipped);

    let flagged = store.cancel_job(id, running.job_id).await.unwrap();
    assert_eq!(flagged.status, JobStatus::Processing);
    assert_eq!(store.heartbeat(&running, LEASE, None, None).await.unwrap(), Heartbeat::CancelRequested);
    assert_eq!(store.finish_cancelled(&running).await.unwrap().status, JobStatus::Cancelled);
    assert_eq!(code(&store.cancel_job(id, running.job_id).await.unwrap_err()), "wrong_state");

    let last = claim(&store, "w/1").await;
    assert_eq!(last.job_id, jobs[1]);
    store.complete(&last, None).await.unwrap();
    let batch = store.get_batch(id).await.unwrap();
    assert_eq!(batch.status, BatchStatus::Completed, "a cancelled or skipped job does not fail the batch");
    assert_eq!(batch.error_message, None);
}

async fn retrying_a_job_reopens_its_batch(b: &Backend) {
    let store = b.open().await;
    let (id, jobs) = started_batch(&store, 1, 1).await;
    let c = claim(&store, "w/1").await;
    store.fail(&c, failure(false, 3)).await.unwrap();
    assert_eq!(store.get_batch(id).await.unwrap().status, BatchStatus::Failed);

    let retried = store.retry_job(id, jobs[0]).await.unwrap();
    assert_eq!(retried.status, JobStatus::Queued);
    assert_eq!(retried.error_message, None);
    let batch = store.get_batch(id).await.unwrap();
    assert_eq!(batch.status, BatchStatus::Processing, "retry re-opens the batch");
    assert_eq!(batch.completed_at, None);
    assert_eq!(batch.error_message, None);

    let again = claim(&store, "w/2").await;
    assert_eq!(again.attempt, 2);
    store.complete(&again, None).await.unwrap();
    let batch = store.get_batch(id).await.unwrap();
    assert_eq!(batch.status, BatchStatus::Completed);
    assert_eq!(batch.jobs[0].history.len(), 2, "every attempt is kept");
    assert_eq!(code(&store.retry_job(id, jobs[0]).await.unwrap_err()), "wrong_state", "a completed job is not retried");

    // A cancelled batch re-opens too, and a retried skipped job runs.
    let (id2, jobs2) = started_batch(&store, 2, 1).await;
    store.cancel_batch(id2).await.unwrap();
    store.retry_job(id2, jobs2[1]).await.unwrap();
    assert_eq!(store.get_batch(id2).await.unwrap().status, BatchStatus::Processing);
    let c = claim(&store, "w/1").await;
    assert_eq!(c.job_id, jobs2[1]);
    store.complete(&c, None).await.unwrap();
    assert_eq!(store.get_batch(id2).await.unwrap().status, BatchStatus::Completed);
}

async fn deleting_a_batch_removes_it_and_reports_its_files(b: &Backend) {
    let store = b.open().await;
    let (id, _) = started_batch(&store, 2, 1).await;
    let running = claim(&store, "w/1").await;
    assert_eq!(code(&store.delete_batch(id).await.unwrap_err()), "wrong_state", "running jobs must stop first");
    store.cancel_batch(id).await.unwrap();
    store.finish_cancelled(&running).await.unwrap();
    let batch = store.get_batch(id).await.unwrap();

    let mut events = store.subscribe();
    let deleted = store.delete_batch(id).await.unwrap();
    let mut files = deleted.file_paths.clone();
    files.sort();
    let mut expected: Vec<String> = batch.jobs.iter().map(|j| j.file_path.clone()).collect();
    expected.sort();
    assert_eq!(files, expected);
    assert_eq!(deleted.results_paths.len(), 2);
    assert_eq!(code(&store.get_batch(id).await.unwrap_err()), "batch_not_found");
    assert!(store.list_batches().await.unwrap().iter().all(|s| s.batch_id != id));
    let left = store.events_after(0, Some(id), 100).await.unwrap();
    // An empty list would also pass an `all`: the deletion itself must be the one event left.
    assert_eq!(
        left.iter().map(|e| e.kind()).collect::<Vec<_>>(),
        vec![EventKind::Deleted],
        "the batch's events go with it"
    );
    let e = next_event(&mut events).await;
    assert_eq!(e.data, EventData::Deleted { batch_id: id });
}

async fn expired_leases_are_requeued_and_given_up_after_max_attempts(b: &Backend) {
    let store = b.open().await;
    let (id, jobs) = started_batch(&store, 1, 1).await;
    let live = claim(&store, "live-node/1").await;
    assert_eq!(store.requeue_expired(2).await.unwrap(), 0, "a live lease is left alone");
    store.release(&live).await.unwrap();

    let short = Duration::from_millis(50);
    let first = store.claim("dead-node/1", short).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(store.requeue_expired(2).await.unwrap(), 1);
    let job = store.get_job(id, jobs[0]).await.unwrap();
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(job.attempts, first.attempt, "attempts kept; the next claim counts one more");
    assert_eq!(job.history.last().unwrap().outcome.as_deref(), Some("lease_expired"));
    assert_eq!(store.batch_summary(id).await.unwrap().progress.queued_jobs, 1);

    let second = store.claim("dead-node/2", short).await.unwrap().unwrap();
    assert_eq!(second.attempt, first.attempt + 1, "the next claim counts one more attempt");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(store.requeue_expired(2).await.unwrap(), 1);
    let job = store.get_job(id, jobs[0]).await.unwrap();
    assert_eq!(job.status, JobStatus::Failed, "given up after max attempts");
    assert_eq!(job.error_code.map(|c| c.as_str()), Some("worker_lost"));
    assert!(job.error_message.as_deref().unwrap().contains("stopped responding"));
    let batch = store.get_batch(id).await.unwrap();
    assert_eq!(batch.status, BatchStatus::Failed);
    assert_eq!(batch.progress.processing_jobs, 0);
}

async fn a_stale_worker_cannot_touch_a_job_it_lost(b: &Backend) {
    let store = b.open().await;
    let (id, _) = started_batch(&store, 1, 1).await;
    let stale = store.claim("slow/1", Duration::from_millis(50)).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(store.requeue_expired(3).await.unwrap(), 1);
    let fresh = claim(&store, "fast/1").await;
    assert_eq!(fresh.job_id, stale.job_id);

    assert_eq!(code(&store.complete(&stale, None).await.unwrap_err()), "lease_lost");
    assert_eq!(code(&store.fail(&stale, failure(false, 3)).await.unwrap_err()), "lease_lost");
    assert_eq!(code(&store.finish_cancelled(&stale).await.unwrap_err()), "lease_lost");
    assert_eq!(store.heartbeat(&stale, LEASE, Some(JobStage::Writing), Some(0.9)).await.unwrap(), Heartbeat::Lost);
    let job = store.get_job(id, fresh.job_id).await.unwrap();
    assert_eq!(job.worker.as_deref(), Some("fast/1"));
    assert_eq!(job.progress, 0.0, "the stale heartbeat changed nothing");

    store.complete(&fresh, None).await.unwrap();
    assert_eq!(store.get_batch(id).await.unwrap().status, BatchStatus::Completed);
}

async fn a_released_job_goes_back_to_the_queue_without_penalty(b: &Backend) {
    let store = b.open().await;
    let (id, jobs) = started_batch(&store, 1, 1).await;
    let c = claim(&store, "w/1").await;
    let job = store.release(&c).await.unwrap();
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(store.get_batch(id).await.unwrap().status, BatchStatus::Processing);
    let again = claim(&store, "w/2").await;
    assert_eq!(again.job_id, jobs[0]);
    store.release(&again).await.unwrap();
    let third = claim(&store, "w/3").await;
    assert_eq!(third.attempt, 3);
    let job = store.fail(&third, failure(true, 2)).await.unwrap();
    assert_eq!(job.status, JobStatus::Queued, "only 1 of 2 automatic attempts used: releases do not count");
}

async fn events_are_in_order_and_can_be_read_after_a_sequence_number(b: &Backend) {
    let store = b.open().await;
    let before = store.last_event_seq().await.unwrap();
    let (a, _) = started_batch(&store, 2, 2).await;
    let (other, _) = started_batch(&store, 1, 1).await;
    for w in ["w/1", "w/2", "w/3"] {
        let c = claim(&store, w).await;
        store.heartbeat(&c, LEASE, Some(JobStage::Transcribing), Some(0.3)).await.unwrap();
        store.complete(&c, None).await.unwrap();
    }
    let events = all_events(&store).await;
    assert_monotonic(&events);
    assert!(events.iter().all(|e| e.seq > before));
    assert_eq!(store.last_event_seq().await.unwrap(), events.last().unwrap().seq);

    let of_a = store.events_after(0, Some(a), 1000).await.unwrap();
    assert!(!of_a.is_empty() && of_a.iter().all(|e| e.batch_id() == a));
    assert_monotonic(&of_a);
    let expected: Vec<i64> = events.iter().filter(|e| e.batch_id() == a).map(|e| e.seq).collect();
    assert_eq!(of_a.iter().map(|e| e.seq).collect::<Vec<_>>(), expected);
    let of_other = store.events_after(0, Some(other), 1000).await.unwrap();
    let expected: Vec<i64> = events.iter().filter(|e| e.batch_id() == other).map(|e| e.seq).collect();
    assert!(!expected.is_empty());
    assert_eq!(of_other.iter().map(|e| e.seq).collect::<Vec<_>>(), expected);

    let mid = events[events.len() / 2].seq;
    let after_mid = store.events_after(mid, None, 1000).await.unwrap();
    assert_eq!(after_mid.first().unwrap().seq, events[events.len() / 2 + 1].seq);
    assert_eq!(store.events_after(0, None, 3).await.unwrap().len(), 3, "limit");
    assert!(store.events_after(store.last_event_seq().await.unwrap(), None, 10).await.unwrap().is_empty());

    // The job events carry the job object; batch events the summary.
    let job = events.iter().filter_map(job_of).find(|j| j.status == JobStatus::Completed).unwrap();
    assert!(job.completed_at.is_some(), "{job:?}");
    let batch = events.iter().rev().filter_map(batch_of).find(|s| s.batch_id == a).unwrap();
    assert_eq!(batch.status, BatchStatus::Completed);
    assert_eq!(batch.progress.completed_jobs, 2);
}

async fn next_event(rx: &mut broadcast::Receiver<Event>) -> Event {
    tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.expect("an event within 5 s").expect("event")
}

async fn subscribers_receive_every_event_after_commit(b: &Backend) {
    let store = b.open().await;
    let mut rx = store.subscribe();
    let (id, _) = started_batch(&store, 2, 1).await;
    // A transition's event has been published by the time the call returns.
    let c = claim(&store, "w/1").await;
    let mut seen: Vec<Event> = Vec::new();
    while let Ok(e) = rx.try_recv() {
        seen.push(e);
    }
    let last = seen.last().expect("events already published");
    assert_eq!(
        (last.kind(), last.job_id(), job_status(last)),
        (EventKind::Job, Some(c.job_id), Some(JobStatus::Processing))
    );
    store.complete(&c, None).await.unwrap();
    let c = claim(&store, "w/1").await;
    store.heartbeat(&c, LEASE, Some(JobStage::Decoding), Some(0.1)).await.unwrap();
    store.complete(&c, None).await.unwrap();

    let last_seq = store.last_event_seq().await.unwrap();
    while seen.last().map(|e| e.seq) != Some(last_seq) {
        seen.push(next_event(&mut rx).await);
    }
    let durable = store.events_after(0, None, 1000).await.unwrap();
    let key = |e: &Event| (e.seq, e.data.clone());
    assert_eq!(
        seen.iter().map(key).collect::<Vec<_>>(),
        durable.iter().map(key).collect::<Vec<_>>(),
        "subscribers see exactly the durable log, in order"
    );
    assert_eq!(store.get_batch(id).await.unwrap().status, BatchStatus::Completed);
    // Whatever a subscriber heard is already durable: the final batch event says completed.
    let final_batch = seen.iter().rev().find_map(batch_of).unwrap();
    assert_eq!(final_batch.status, BatchStatus::Completed);
}

async fn max_concurrent_holds_with_eight_store_instances_claiming_at_once(b: &Backend) {
    const JOBS: usize = 24;
    const LIMIT: u32 = 3;
    let setup = b.open().await;
    let (id, jobs) = started_batch(&setup, JOBS, LIMIT).await;
    let mut stores = Vec::new();
    for _ in 0..8 {
        stores.push(b.open().await);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (n, store) in stores.iter().enumerate() {
        let store = store.clone();
        tasks.spawn(async move {
            let worker = format!("node-{n}/1");
            let mut done = Vec::new();
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while std::time::Instant::now() < deadline {
                match store.claim(&worker, LEASE).await {
                    Ok(Some(c)) => {
                        tokio::time::sleep(Duration::from_millis(15)).await;
                        store.complete(&c, None).await.expect("complete");
                        done.push(c.job_id);
                    }
                    Ok(None) => {
                        if store.batch_summary(id).await.unwrap().status != BatchStatus::Processing {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err(e) if e.is_transient() => tokio::time::sleep(Duration::from_millis(5)).await,
                    Err(e) => panic!("claim failed: {e}"),
                }
            }
            done
        });
    }
    let mut claimed = Vec::new();
    while let Some(r) = tasks.join_next().await {
        claimed.extend(r.unwrap());
    }
    let unique: HashSet<_> = claimed.iter().copied().collect();
    assert_eq!(claimed.len(), JOBS, "every job was claimed and completed once");
    assert_eq!(unique, jobs.iter().copied().collect::<HashSet<_>>(), "no job claimed twice");

    let events = all_events(&setup).await;
    assert_monotonic(&events);
    let max = max_processing_at_once(&events, id);
    assert!(max <= LIMIT as usize, "{max} jobs processing at once with max_concurrent = {LIMIT} ({})", b.name());
    assert!(max >= 2, "the claimers did run jobs side by side (max {max})");
    let completions = entries_into(&events, id, JobStatus::Completed);
    assert_eq!(completions.len(), JOBS);
    assert!(completions.values().all(|&n| n == 1));
    let batch = setup.get_batch(id).await.unwrap();
    assert_eq!(batch.status, BatchStatus::Completed);
    assert!(batch.jobs.iter().all(|j| j.attempts == 1));
    for s in stores {
        s.close().await;
    }
}

async fn workers_are_registered_and_listed_with_their_running_jobs(b: &Backend) {
    let store = b.open().await;
    store.register_worker("node-a", 2).await.unwrap();
    store.register_worker("node-b", 1).await.unwrap();
    let (_, jobs) = started_batch(&store, 2, 2).await;
    let c = claim(&store, "node-a/2").await;
    let listed = store.list_workers().await.unwrap();
    let names: Vec<_> = listed.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["node-a", "node-b"]);
    assert_eq!(listed[0].slots, 2);
    assert_eq!(listed[0].running_jobs, vec![jobs[0]], "a worker's slots lease jobs as <name>/<slot>");
    assert!(listed[1].running_jobs.is_empty());

    tokio::time::sleep(Duration::from_millis(20)).await;
    store.register_worker("node-a", 4).await.unwrap();
    let again = store.list_workers().await.unwrap();
    assert_eq!(again[0].slots, 4);
    assert_eq!(again[0].started_at, listed[0].started_at, "re-registering keeps the start time");
    assert!(again[0].heartbeat_at > listed[0].heartbeat_at, "and refreshes the heartbeat");
    store.complete(&c, None).await.unwrap();
    assert!(store.list_workers().await.unwrap()[0].running_jobs.is_empty());
}

async fn the_store_opens_by_url(b: &Backend) {
    let store = vidscribe_store::open(&b.url()).await.expect("open by url");
    let (id, _) = started_batch(&store, 1, 1).await;
    let other = b.open().await;
    assert_eq!(other.get_batch(id).await.unwrap().status, BatchStatus::Processing, "same database");
    store.close().await;
    assert_eq!(code(&vidscribe_store::open("mysql://x").await.err().unwrap()), "unsupported_database_url");
}

// ---- the ETA users see, from the counters production keeps ----

/// Seconds of an `HH:MM:SS` ETA.
fn eta_seconds(p: &BatchProgress, what: &str) -> f64 {
    let eta = p.estimated_remaining.as_deref().unwrap_or_else(|| panic!("{what}: no ETA mid-batch"));
    let parts: Vec<u64> = eta.split(':').map(|n| n.parse().expect("HH:MM:SS")).collect();
    assert_eq!(parts.len(), 3, "{what}: {eta}");
    (parts[0] * 3600 + parts[1] * 60 + parts[2]) as f64
}

/// The ETA shown is `ratio` (media seconds remaining / media seconds done) × the wall time
/// since the throughput window opened (at some instant in `opened`), as read at some
/// instant in `read`, rounded to the second.
fn assert_eta(p: &BatchProgress, ratio: f64, opened: (Instant, Instant), read: (Instant, Instant), what: &str) {
    // eta_since is kept to the millisecond.
    let slack = 0.002;
    let lo = ((read.0 - opened.1).as_secs_f64() - slack) * ratio;
    let hi = ((read.1 - opened.0).as_secs_f64() + slack) * ratio;
    let shown = eta_seconds(p, what);
    assert!(
        shown >= lo.round() && shown <= hi.round(),
        "{what}: ETA {shown} s; {ratio:.3} × the elapsed time gives {lo:.2} ..= {hi:.2} s"
    );
}

/// The batch's progress as each read path computes it, with when each read ran.
async fn read_progress(store: &DynStore, id: BatchId) -> Vec<(BatchProgress, (Instant, Instant), &'static str)> {
    let t = Instant::now();
    let batch = store.get_batch(id).await.unwrap().progress;
    let batch = (batch, (t, Instant::now()), "get_batch");
    let t = Instant::now();
    let summary = store.batch_summary(id).await.unwrap().progress;
    let summary = (summary, (t, Instant::now()), "batch_summary");
    let t = Instant::now();
    let listed = store.list_batches().await.unwrap().into_iter().find(|s| s.batch_id == id).expect("listed").progress;
    let listed = (listed, (t, Instant::now()), "list_batches");
    vec![batch, summary, listed]
}

async fn sleep_until(t: Instant) {
    tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await;
}

async fn the_eta_mid_batch_is_media_throughput_since_the_batch_started(b: &Backend) {
    let store = b.open().await;
    let id = BatchId::new();
    store.create_batch(id, &settings(2)).await.unwrap();
    let jobs =
        vec![new_job("a", Some(100.0)), new_job("b", Some(200.0)), new_job("c", Some(3000.0)), new_job("d", None)];
    let ids: Vec<JobId> = store.add_jobs(id, jobs).await.unwrap().iter().map(|j| j.job_id).collect();
    assert_eq!(store.get_batch(id).await.unwrap().progress.estimated_remaining, None, "no ETA before the start");
    let t = Instant::now();
    store.start_batch(id).await.unwrap();
    let opened = (t, Instant::now());

    let a = claim(&store, "w/1").await;
    let job_b = claim(&store, "w/2").await;
    assert_eq!((a.job_id, job_b.job_id), (ids[0], ids[1]));
    assert_eq!(store.get_batch(id).await.unwrap().progress.estimated_remaining, None, "nothing transcribed yet");
    store.complete(&a, Some(100.0)).await.unwrap();
    store.heartbeat(&job_b, LEASE, Some(JobStage::Transcribing), Some(0.5)).await.unwrap();
    sleep_until(opened.1 + Duration::from_millis(1500)).await;
    // Done: a (100 s) and half of b (100 s). Still to run: c (3000 s), the other half of b,
    // and d, whose length is unknown: it counts as the average known job still to run.
    let remaining = 3000.0 + 100.0 + (3000.0 + 200.0) / 2.0;
    for (p, read, what) in read_progress(&store, id).await {
        assert_eq!(p.progress_percentage, 37.5, "{what}");
        assert_eq!((p.completed_jobs, p.processing_jobs, p.queued_jobs), (1, 1, 2), "{what}");
        assert_eta(&p, remaining / 200.0, opened, read, what);
    }
    let c = b.media_counters(id).await;
    assert_eq!((c.queued_seconds, c.queued_unknown, c.done_seconds), (3000.0, 1, 100.0));

    // b fails half-way: only the half it got through counts as done. c starts.
    store.fail(&job_b, failure(false, 3)).await.unwrap();
    let job_c = claim(&store, "w/2").await;
    assert_eq!(job_c.job_id, ids[2]);
    store.heartbeat(&job_c, LEASE, Some(JobStage::Transcribing), Some(0.02)).await.unwrap();
    // Done: 100 + 100 + 2 % of c (60 s). To run: 98 % of c and d, now counted as c's 3000 s.
    let (done, remaining) = (100.0 + 100.0 + 60.0, 2940.0 + 3000.0);
    for (p, read, what) in read_progress(&store, id).await {
        assert!((p.progress_percentage - 50.5).abs() < 1e-9, "{what}: {}", p.progress_percentage);
        assert_eq!((p.failed_jobs, p.processing_jobs, p.queued_jobs), (1, 1, 1), "{what}");
        assert_eta(&p, remaining / done, opened, read, what);
    }
    let c = b.media_counters(id).await;
    assert_eq!((c.queued_seconds, c.queued_unknown, c.done_seconds), (0.0, 1, 200.0));

    // c completes; d runs and its length is learned on the way.
    store.complete(&job_c, Some(3000.0)).await.unwrap();
    let job_d = claim(&store, "w/1").await;
    assert_eq!(job_d.job_id, ids[3]);
    store.complete(&job_d, Some(50.0)).await.unwrap();
    let batch = store.get_batch(id).await.unwrap();
    assert_eq!(batch.status, BatchStatus::Completed);
    assert_eq!(batch.progress.progress_percentage, 100.0);
    assert_eq!(batch.progress.estimated_remaining, None, "nothing remains");
    assert_eq!(batch.jobs[3].media_duration, Some(50.0));
    let finished = b.media_counters(id).await;
    assert_eq!((finished.queued_seconds, finished.queued_unknown, finished.done_seconds), (0.0, 0, 3250.0));

    // A retry re-opens the batch: a new throughput window, from the retry, with nothing done
    // yet (the time it sat completed is not transcription time).
    let t = Instant::now();
    store.retry_job(id, ids[1]).await.unwrap();
    let reopened = (t, Instant::now());
    let c = b.media_counters(id).await;
    assert_eq!((c.queued_seconds, c.queued_unknown, c.done_seconds), (200.0, 0, 0.0));
    assert!(c.eta_since > finished.eta_since, "the window restarted: {:?} → {:?}", finished.eta_since, c.eta_since);
    assert_eq!(store.get_batch(id).await.unwrap().progress.estimated_remaining, None, "nothing done in the new window");
    let again = claim(&store, "w/1").await;
    store.heartbeat(&again, LEASE, Some(JobStage::Transcribing), Some(0.1)).await.unwrap();
    sleep_until(reopened.1 + Duration::from_millis(1000)).await;
    for (p, read, what) in read_progress(&store, id).await {
        assert_eq!(p.progress_percentage, 77.5, "{what}");
        // 20 s of b done since the retry, 180 s to go.
        assert_eta(&p, 180.0 / 20.0, reopened, read, what);
    }
}

/// Checks the ETA columns against the batch's job rows: `media_queued` and
/// `n_queued_unknown` must describe exactly the queued jobs, `media_done` must be `done`.
async fn expect_counters(b: &Backend, store: &DynStore, id: BatchId, done: f64, step: &str) -> MediaCounters {
    let jobs = store.get_batch(id).await.unwrap().jobs;
    let queued = jobs.iter().filter(|j| j.status == JobStatus::Queued);
    let queued_seconds: f64 = queued.clone().filter_map(|j| j.media_duration).sum();
    let queued_unknown = queued.filter(|j| j.media_duration.is_none()).count() as i64;
    let c = b.media_counters(id).await;
    c.assert_queue_matches_rows(step);
    assert!(
        (c.queued_seconds - queued_seconds).abs() < 1e-9,
        "{step}: media_queued {} ≠ {queued_seconds}",
        c.queued_seconds
    );
    assert_eq!(c.queued_unknown, queued_unknown, "{step}: n_queued_unknown");
    assert!((c.done_seconds - done).abs() < 1e-9, "{step}: media_done {} ≠ {done}", c.done_seconds);
    c
}

fn duration_of(c: &Claim) -> f64 {
    c.job.media_duration.unwrap_or(0.0)
}

async fn the_eta_counters_follow_every_transition(b: &Backend) {
    let store = b.open().await;
    let id = BatchId::new();
    store.create_batch(id, &settings(5)).await.unwrap();
    let durations = [Some(10.0), Some(20.0), None, Some(40.0), Some(50.0)];
    let jobs = durations.iter().enumerate().map(|(i, d)| new_job(&format!("j{i}"), *d)).collect();
    store.add_jobs(id, jobs).await.unwrap();
    let mut done = 0.0;
    let added = expect_counters(b, &store, id, done, "added").await;
    assert_eq!((added.queued_seconds, added.queued_unknown, added.eta_since), (120.0, 1, None));
    store.start_batch(id).await.unwrap();
    let started = expect_counters(b, &store, id, done, "started").await;
    assert!(started.eta_since.is_some(), "the window opens at the start");

    // Claimed and released: out of the queue and back.
    let c = claim(&store, "w/1").await;
    expect_counters(b, &store, id, done, "claimed").await;
    store.release(&c).await.unwrap();
    expect_counters(b, &store, id, done, "released").await;

    // A retryable failure goes back to the queue; what it did is redone, so it adds nothing.
    let c = claim(&store, "w/1").await;
    store.heartbeat(&c, LEASE, Some(JobStage::Transcribing), Some(0.5)).await.unwrap();
    assert_eq!(store.fail(&c, failure(true, 3)).await.unwrap().status, JobStatus::Queued);
    expect_counters(b, &store, id, done, "failed, to retry").await;

    // A lease that expires: back to the queue, then given up on (it keeps its progress).
    let short = Duration::from_millis(50);
    let c = store.claim("dead/1", short).await.unwrap().expect("a job");
    store.heartbeat(&c, short, Some(JobStage::Transcribing), Some(0.5)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(store.requeue_expired(3).await.unwrap(), 1);
    expect_counters(b, &store, id, done, "lease expired, requeued").await;
    let c = store.claim("dead/2", short).await.unwrap().expect("a job");
    store.heartbeat(&c, short, Some(JobStage::Transcribing), Some(0.25)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(store.requeue_expired(1).await.unwrap(), 1);
    assert_eq!(store.get_job(id, c.job_id).await.unwrap().status, JobStatus::Failed);
    done += duration_of(&c) * 0.25;
    expect_counters(b, &store, id, done, "lease expired, given up").await;
    let given_up = c.job_id;

    // A running job cancelled a third of the way; a queued one skipped.
    let c = claim(&store, "w/1").await;
    store.heartbeat(&c, LEASE, Some(JobStage::Transcribing), Some(0.375)).await.unwrap();
    store.cancel_job(id, c.job_id).await.unwrap();
    expect_counters(b, &store, id, done, "cancel requested").await;
    store.finish_cancelled(&c).await.unwrap();
    done += duration_of(&c) * 0.375;
    expect_counters(b, &store, id, done, "cancelled").await;
    let cancelled = c.job_id;
    let batch = store.get_batch(id).await.unwrap();
    let queued = batch.jobs.iter().rev().find(|j| j.status == JobStatus::Queued).expect("a queued job").job_id;
    assert_eq!(store.cancel_job(id, queued).await.unwrap().status, JobStatus::Skipped);
    expect_counters(b, &store, id, done, "skipped").await;

    // Retried inside a batch still processing: back in the queue, same window.
    store.retry_job(id, queued).await.unwrap();
    store.retry_job(id, cancelled).await.unwrap();
    let c = expect_counters(b, &store, id, done, "retried while processing").await;
    assert_eq!(c.eta_since, started.eta_since, "the batch never stopped: the window goes on");

    // Every job left runs to the end; one of unknown length learns it.
    loop {
        let summary = store.batch_summary(id).await.unwrap();
        if summary.status != BatchStatus::Processing {
            break;
        }
        let c = eventually("a claimable job", Duration::from_secs(10), || async {
            store.claim("w/1", LEASE).await.unwrap()
        })
        .await;
        let learned = c.job.media_duration.unwrap_or(30.0);
        store.complete(&c, Some(learned)).await.unwrap();
        done += learned;
        expect_counters(b, &store, id, done, "completed").await;
    }
    let batch = store.get_batch(id).await.unwrap();
    assert_eq!(batch.error_message.as_deref(), Some("1 of 5 jobs failed"));
    let finished = expect_counters(b, &store, id, done, "batch completed").await;
    assert_eq!(finished.eta_since, started.eta_since);

    // A retry that re-opens it starts a new window.
    tokio::time::sleep(Duration::from_millis(20)).await;
    store.retry_job(id, given_up).await.unwrap();
    let reopened = expect_counters(b, &store, id, 0.0, "re-opened").await;
    assert!(reopened.eta_since > finished.eta_since, "{:?} → {:?}", finished.eta_since, reopened.eta_since);
    let c = claim(&store, "w/1").await;
    assert_eq!(c.job_id, given_up);
    store.complete(&c, None).await.unwrap();
    expect_counters(b, &store, id, duration_of(&c), "re-run completed").await;
    assert_eq!(store.batch_summary(id).await.unwrap().status, BatchStatus::Completed);

    // Cancelling a batch empties its queue, unknown lengths included.
    let other = BatchId::new();
    store.create_batch(other, &settings(1)).await.unwrap();
    store.add_jobs(other, vec![new_job("x", None), new_job("y", Some(5.0)), new_job("z", None)]).await.unwrap();
    store.start_batch(other).await.unwrap();
    let running = claim(&store, "w/2").await;
    store.heartbeat(&running, LEASE, Some(JobStage::Transcribing), Some(0.5)).await.unwrap();
    assert_eq!(store.cancel_batch(other).await.unwrap(), vec![running.job_id]);
    let c = expect_counters(b, &store, other, 0.0, "batch cancelled").await;
    assert_eq!((c.queued_seconds, c.queued_unknown), (0.0, 0));
    store.finish_cancelled(&running).await.unwrap();
    expect_counters(b, &store, other, 0.0, "batch cancelled, running job stopped").await;
}

/// Runs `write` until `i` selects its drop point: 0 drops it right after its first poll
/// (it has sent its first statement), then ever longer deadlines, from under a millisecond
/// to ~40 ms, land before, inside or after its transaction. `None`: it was dropped.
async fn drop_at<T>(i: u64, write: impl std::future::Future<Output = T>) -> Option<T> {
    if i == 0 {
        futures::FutureExt::now_or_never(write)
    } else {
        tokio::time::timeout(Duration::from_micros(25 * i * i), write).await.ok()
    }
}

/// Every job status as the batch counters say and as the job rows say.
async fn counts_agree_with_rows(store: &DynStore, id: BatchId, step: &str) -> usize {
    let batch = store.get_batch(id).await.unwrap();
    for s in [JobStatus::Queued, JobStatus::Processing, JobStatus::Completed, JobStatus::Skipped] {
        let rows = batch.jobs.iter().filter(|j| j.status == s).count() as u64;
        let counted = match s {
            JobStatus::Queued => batch.progress.queued_jobs,
            JobStatus::Processing => batch.progress.processing_jobs,
            JobStatus::Completed => batch.progress.completed_jobs,
            _ => batch.progress.skipped_jobs,
        };
        assert_eq!(counted, rows, "{step}: {s} jobs counted vs rows");
    }
    assert_eq!(batch.progress.total_jobs as usize, batch.jobs.len(), "{step}");
    batch.jobs.len()
}

async fn a_write_dropped_half_way_commits_all_or_nothing_and_the_store_goes_on(b: &Backend) {
    // Each sweep tries every deadline once, then goes on until it has seen writes dropped: a
    // write on a fast backend often finishes before its deadline (SQLite can even finish in
    // one poll).
    const DROPS: usize = 3;
    const MOST: u64 = 240;
    let store = b.open().await;
    let id = BatchId::new();
    store.create_batch(id, &settings(16)).await.unwrap();
    let mut dropped = 0;
    let mut committed = 0;
    let mut i = 0;
    while i < 40 || (dropped < DROPS && i < MOST) {
        let jobs = (0..3).map(|k| new_job(&format!("v{i}_{k}"), Some(1.0))).collect();
        match drop_at(i % 40, store.add_jobs(id, jobs)).await {
            Some(r) => {
                r.expect("add_jobs");
                committed += 3;
            }
            None => dropped += 1,
        }
        // The next write goes through, and the dropped one is there whole or not at all.
        store.register_worker(&format!("after-{i}"), 1).await.expect("a write after a dropped one");
        let n = counts_agree_with_rows(&store, id, &format!("add_jobs dropped at {i}")).await;
        assert_eq!(n % 3, 0, "a dropped add_jobs added {} of its 3 jobs", n % 3);
        assert!(n >= committed);
        // A dropped write whose COMMIT had been sent may still land after this (Postgres:
        // another connection), so the counters are compared with the rows in one snapshot.
        b.media_counters(id).await.assert_queue_matches_rows(&format!("add_jobs dropped at {i}"));
        i += 1;
    }
    assert!(dropped >= DROPS, "only {dropped} of {i} add_jobs calls were dropped");
    assert_eq!(store.list_workers().await.unwrap().len() as u64, i);

    // Enough jobs for every claim below, however many adds were dropped.
    store.add_jobs(id, (0..2 * MOST).map(|k| new_job(&format!("more_{k}"), Some(1.0))).collect()).await.unwrap();
    store.start_batch(id).await.unwrap();
    let (mut dropped, mut i) = (0, 0);
    while i < 40 || (dropped < DROPS && i < MOST) {
        // Leased for a moment only: a claim dropped after its COMMIT leaves its job
        // processing, unknown to anyone, until the lease expires and it is requeued.
        match drop_at(i % 40, store.claim(&format!("w/{i}"), Duration::from_millis(1))).await {
            Some(r) => {
                let c = r.expect("claim").expect("a job");
                store.complete(&c, None).await.expect("a claim that returned holds its job");
            }
            None => dropped += 1,
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
        store.requeue_expired(100).await.expect("requeue");
        let next = store.claim("next/1", LEASE).await.expect("a claim after a dropped one").expect("a job");
        store.complete(&next, None).await.expect("complete");
        counts_agree_with_rows(&store, id, &format!("claim dropped at {i}")).await;
        b.media_counters(id).await.assert_queue_matches_rows(&format!("claim dropped at {i}"));
        i += 1;
    }
    assert!(dropped >= DROPS, "only {dropped} of {i} claims were dropped");
}

fn segment(i: usize, text: &str) -> vidscribe_core::Segment {
    vidscribe_core::Segment {
        id: i,
        start: i as f64 * 2.0,
        end: i as f64 * 2.0 + 1.5,
        text: format!(" {text}"),
        words: None,
        avg_logprob: -0.2,
        no_speech_prob: 0.01,
        compression_ratio: 1.4,
        temperature: 0.0,
    }
}

fn at(done_seconds: f64, state: &str) -> Checkpoint {
    Checkpoint { done_seconds, state: Some(state.to_string()) }
}

async fn a_running_jobs_segments_are_committed_in_order_and_the_next_attempt_resumes_from_them(b: &Backend) {
    let store = b.open().await;
    let (id, jobs) = started_batch(&store, 1, 1).await;
    assert_eq!(
        store.segments(id, jobs[0]).await.unwrap(),
        LiveTranscript::default(),
        "nothing before the first window"
    );
    let mut rx = store.subscribe();
    let c = store.claim("w/1", Duration::from_millis(50)).await.unwrap().unwrap();
    let first = vec![segment(0, "Zoë — 東京"), segment(1, "two")];
    assert!(store.add_segments(&c, 0, &first, &at(4.0, "s1")).await.unwrap());
    assert!(store.add_segments(&c, 2, &[segment(2, "three")], &at(6.5, "s2")).await.unwrap());
    let live = store.segments(id, jobs[0]).await.unwrap();
    assert_eq!(live.segments.iter().map(|s| s.text.trim()).collect::<Vec<_>>(), ["Zoë — 東京", "two", "three"]);
    assert_eq!(live.segments[0], first[0], "a segment reads back as it was written");
    assert_eq!((live.done_seconds, live.resume_state.as_deref()), (Some(6.5), Some("s2")));
    // Each commit is one `segments` event, after the claim's.
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let e = next_event(&mut rx).await;
        if let EventData::Segments(s) = e.data {
            assert_eq!((s.batch_id, s.job_id), (id, jobs[0]));
            seen.push((s.first, s.segments.len(), s.done_seconds));
        }
    }
    assert_eq!(seen, [(0, 2, 4.0), (2, 1, 6.5)]);
    let logged = store.events_after(0, Some(id), 1000).await.unwrap();
    assert_eq!(logged.iter().filter(|e| e.kind() == EventKind::Segments).count(), 2, "both are in the log");

    // The lease runs out; whoever claims the job next finds the committed work and its
    // checkpoint, to resume from.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(store.requeue_expired(3).await.unwrap(), 1);
    let next = claim(&store, "w/2").await;
    let resume = store.segments(id, jobs[0]).await.unwrap().into_resume().expect("a checkpoint to resume from");
    assert_eq!((resume.segments.len(), resume.state.as_str()), (3, "s2"));
    assert!(
        !store.add_segments(&c, 3, &[segment(3, "stale")], &at(8.0, "x")).await.unwrap(),
        "the lost lease writes nothing"
    );
    assert_eq!(store.segments(id, jobs[0]).await.unwrap().segments.len(), 3);
    assert!(store.add_segments(&next, 3, &[segment(3, "four")], &at(8.0, "s3")).await.unwrap());
    assert_eq!(store.segments(id, jobs[0]).await.unwrap().segments.len(), 4, "the resumed attempt continues the list");
    // An attempt that could not resume starts the list again: what lay past its segments goes.
    assert!(store.add_segments(&next, 0, &[segment(0, "again")], &at(2.0, "t1")).await.unwrap());
    let live = store.segments(id, jobs[0]).await.unwrap();
    assert_eq!(live.segments.iter().map(|s| s.text.trim()).collect::<Vec<_>>(), ["again"]);
    store.fail(&next, failure(false, 3)).await.unwrap();
    assert_eq!(store.segments(id, jobs[0]).await.unwrap().segments.len(), 1, "a failed job keeps what it heard");
    store.retry_job(id, jobs[0]).await.unwrap();
    assert_eq!(store.segments(id, jobs[0]).await.unwrap(), LiveTranscript::default(), "a retry starts afresh");
    assert_eq!(code(&store.segments(id, JobId::new()).await.unwrap_err()), "job_not_found");
}
