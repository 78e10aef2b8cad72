//! The SQLite store's single write connection. A write whose future is dropped half-way
//! (a cancelled request, an aborted task) used to leave that connection inside its
//! transaction: every later `BEGIN` failed and the store could never write again. These
//! tests drop writes while another process holds the database's write lock, so the drop
//! lands, deterministically, while the store's `BEGIN IMMEDIATE` is in flight.

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, Executor, SqliteConnection};
use vidscribe_core::{JobStage, JobStatus};
use vidscribe_store::Heartbeat;

use super::support::*;

const LEASE: Duration = Duration::from_secs(30);

/// Another process on the same file, holding its write lock until it commits.
async fn hold_write_lock(path: &Path) -> SqliteConnection {
    let mut other = SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(path)).await.expect("open");
    other.execute("BEGIN IMMEDIATE").await.expect("take the write lock");
    other
}

async fn release(mut other: SqliteConnection) {
    other.execute("COMMIT").await.expect("commit");
    other.close().await.expect("close");
}

fn path(b: &Backend) -> &Path {
    match b {
        Backend::Sqlite { path, .. } => path,
        Backend::Postgres { .. } => unreachable!("SQLite only"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_dropped_while_waiting_for_the_write_lock_does_not_wedge_the_writer() {
    let backend = Backend::sqlite();
    let store = backend.open().await;
    let (id, jobs) = started_batch(&store, 2, 2).await;

    let other = hold_write_lock(path(&backend)).await;
    let dropped = tokio::time::timeout(Duration::from_millis(300), store.claim("dropped/1", LEASE)).await;
    assert!(dropped.is_err(), "the claim waits for the lock, and is dropped");
    release(other).await;

    let c = tokio::time::timeout(Duration::from_secs(10), store.claim("w/1", LEASE))
        .await
        .expect("the next claim does not hang")
        .expect("the next claim succeeds")
        .expect("a job to claim");
    assert_eq!(c.job_id, jobs[0], "the dropped claim took nothing");
    let batch = store.get_batch(id).await.unwrap();
    assert_eq!(batch.progress.processing_jobs, 1);
    assert!(batch.jobs.iter().all(|j| j.worker.as_deref() != Some("dropped/1")));
    assert_eq!(store.heartbeat(&c, LEASE, Some(JobStage::Transcribing), Some(0.5)).await.unwrap(), Heartbeat::Continue);
    store.complete(&c, None).await.unwrap();
    assert_eq!(store.get_job(id, jobs[0]).await.unwrap().status, JobStatus::Completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transition_dropped_while_waiting_for_the_write_lock_does_not_wedge_the_writer() {
    let backend = Backend::sqlite();
    let store = backend.open().await;
    let (id, jobs) = started_batch(&store, 2, 1).await;

    let other = hold_write_lock(path(&backend)).await;
    let dropped = tokio::time::timeout(Duration::from_millis(300), store.cancel_job(id, jobs[1])).await;
    assert!(dropped.is_err(), "the cancel waits for the lock, and is dropped");
    release(other).await;

    assert_eq!(store.get_job(id, jobs[1]).await.unwrap().status, JobStatus::Queued, "the dropped cancel did nothing");
    let skipped = tokio::time::timeout(Duration::from_secs(10), store.cancel_job(id, jobs[1]))
        .await
        .expect("the next write does not hang")
        .expect("the next write succeeds");
    assert_eq!(skipped.status, JobStatus::Skipped);
    let c = store.claim("w/1", LEASE).await.unwrap().expect("a job");
    store.complete(&c, None).await.unwrap();
    assert_eq!(store.batch_summary(id).await.unwrap().progress.completed_jobs, 1);
}
