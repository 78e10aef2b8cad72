use std::future::pending;
use std::sync::Arc;

use super::*;
use crate::sql::query::{stmt, Conn};
use crate::Store;

const AT: &str = "2025-01-01T00:00:00.000Z";

async fn store() -> (tempfile::TempDir, Arc<SqliteStore>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("vidscribe.db")).await.expect("open");
    (dir, Arc::new(store))
}

async fn worker_names(store: &SqliteStore) -> Vec<String> {
    store.list_workers().await.expect("list workers").into_iter().map(|w| w.name).collect()
}

fn insert_worker(name: &str) -> Stmt {
    stmt!("INSERT INTO workers (name, slots, started_at, heartbeat_at) VALUES ($1, 1, $2, $2)", name, AT)
}

/// Writes a worker row inside a write transaction, then never finishes: the caller's
/// future is dropped with the transaction open (a cancelled request, an aborted task).
/// `begun_first`: BEGIN went out on its own command before the insert, or with it.
async fn write_half_way(store: &SqliteStore, begun_first: bool, name: &str) {
    let mut tx = store.b.write().await.expect("writer");
    if begun_first {
        tx.run(insert_worker(&format!("{name}-first"))).await.expect("insert");
    }
    tx.rows(insert_worker(name)).await.expect("insert");
    pending::<()>().await;
}

#[tokio::test]
async fn a_write_dropped_half_way_is_rolled_back_and_the_writer_goes_on() {
    let (_dir, store) = store().await;
    for begun_first in [false, true] {
        let dropped =
            tokio::time::timeout(Duration::from_millis(200), write_half_way(&store, begun_first, "half-done")).await;
        assert!(dropped.is_err(), "the write was dropped with its transaction open");
        store
            .register_worker(if begun_first { "after-begun" } else { "after" }, 1)
            .await
            .expect("the next write is not wedged");
    }
    assert_eq!(worker_names(&store).await, ["after", "after-begun"], "the half-done inserts never committed");
}

#[tokio::test]
async fn a_task_aborted_while_it_holds_the_writer_does_not_wedge_it() {
    let (_dir, store) = store().await;
    let (wrote, mut has_written) = tokio::sync::mpsc::channel::<()>(1);
    let task = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut tx = store.b.write().await.expect("writer");
            tx.run(insert_worker("aborted")).await.expect("insert");
            wrote.send(()).await.expect("signal");
            pending::<()>().await;
        })
    };
    has_written.recv().await.expect("the task wrote its row");
    task.abort();
    assert!(task.await.expect_err("aborted").is_cancelled());
    for i in 0..3 {
        store.register_worker(&format!("next-{i}"), 1).await.expect("writes after the abort succeed");
    }
    assert_eq!(worker_names(&store).await, ["next-0", "next-1", "next-2"]);
}
