//! The log follower (`vidscribe_store::follow`): every committed event once, in order, even
//! when its subscriber lags or a committed event is never broadcast. It needs only the
//! `Store` trait, so one backend shows it.

use std::time::Duration;

use futures::StreamExt;
use tokio::sync::broadcast;
use vidscribe_core::BatchId;
use vidscribe_store::follow::follow;

use super::support::*;

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn a_lagging_follower_resyncs_from_the_durable_log() {
    let backend = Backend::sqlite();
    let store = backend.open().await;
    let start = store.last_event_seq().await.unwrap();
    // A tiny channel standing in for a subscriber that fell far behind.
    let (tx, rx) = broadcast::channel(2);
    let mut live = store.subscribe();
    let mut stream = Box::pin(follow(store.clone(), rx, None, start, 3));
    let id = BatchId::new();
    store.create_batch(id, &settings(2)).await.unwrap();
    tx.send(live.recv().await.unwrap()).expect("the follower is subscribed");
    let first = stream.next().await.unwrap();
    // Now the follower is live; flood its channel while it is not reading.
    for i in 0..4 {
        store.add_jobs(id, vec![new_job(&i.to_string(), Some(1.0))]).await.unwrap();
    }
    let log = store.events_after(start, None, 1000).await.unwrap();
    // The batch's creation, then per added job the job and the batch's counts: far more
    // than the channel of 2 holds.
    assert_eq!(log.len(), 1 + 2 * 4, "{log:?}");
    for _ in 1..log.len() {
        tx.send(live.recv().await.unwrap()).expect("the follower is subscribed");
    }
    let rest: Vec<i64> = stream.take(log.len() - 1).map(|e| e.seq).collect().await;
    let mut got = vec![first.seq];
    got.extend(rest);
    assert_eq!(got, log.iter().map(|e| e.seq).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_follower_that_misses_a_live_event_reads_it_from_the_log() {
    let backend = Backend::sqlite();
    let store = backend.open().await;
    let start = store.last_event_seq().await.unwrap();
    // A channel standing in for the store's broadcast, into which one committed event is
    // never published (as when a write is dropped between its COMMIT and its publish).
    let (tx, rx) = broadcast::channel(16);
    let mut live = store.subscribe();
    let mut stream = Box::pin(follow(store.clone(), rx, None, start, 100));
    // Let the follower replay the (empty) log and go live before anything is committed, so
    // the events below can only reach it through the channel or a later read of the log.
    assert!(tokio::time::timeout(Duration::from_millis(200), stream.next()).await.is_err(), "nothing to follow yet");
    let id = BatchId::new();
    store.create_batch(id, &settings(2)).await.unwrap();
    store.add_jobs(id, vec![new_job("a", Some(1.0))]).await.unwrap();
    let log = store.events_after(start, None, 1000).await.unwrap();
    assert_eq!(log.len(), 3, "{log:?}");
    let published: Vec<_> = [live.recv().await.unwrap(), live.recv().await.unwrap(), live.recv().await.unwrap()].into();
    assert_eq!(published.iter().map(|e| e.seq).collect::<Vec<_>>(), log.iter().map(|e| e.seq).collect::<Vec<_>>());
    let (first, rest) = (published[0].clone(), [published[2].clone()]);
    tx.send(first).expect("the follower is subscribed");
    let got_first = tokio::time::timeout(WAIT, stream.next()).await.expect("first event").unwrap();
    for e in rest {
        tx.send(e).expect("the follower is subscribed");
    }
    let got_rest: Vec<i64> = tokio::time::timeout(WAIT, stream.take(2).map(|e| e.seq).collect::<Vec<_>>())
        .await
        .expect("the missed event and the next");
    let mut got = vec![got_first.seq];
    got.extend(got_rest);
    assert_eq!(got, log.iter().map(|e| e.seq).collect::<Vec<_>>(), "every committed event once, in order");
}

#[tokio::test]
async fn a_follower_of_one_batch_gets_only_that_batchs_events_from_the_log_and_live() {
    let backend = Backend::sqlite();
    let store = backend.open().await;
    let (a, b) = (BatchId::new(), BatchId::new());
    store.create_batch(a, &settings(2)).await.unwrap();
    store.create_batch(b, &settings(2)).await.unwrap();
    store.add_jobs(b, vec![new_job("b0", Some(1.0))]).await.unwrap();
    store.add_jobs(a, vec![new_job("a0", Some(1.0))]).await.unwrap();
    // From the start of the log (replay), then live: the subscription is taken first, as
    // the follower's callers do.
    let mut stream = Box::pin(follow(store.clone(), store.subscribe(), Some(a), 0, 100));
    store.add_jobs(b, vec![new_job("b1", Some(1.0))]).await.unwrap();
    store.add_jobs(a, vec![new_job("a1", Some(1.0))]).await.unwrap();
    let of_a = store.events_after(0, Some(a), 1000).await.unwrap();
    assert_eq!(of_a.len(), 1 + 2 * 2, "{of_a:?}");
    let got: Vec<(i64, BatchId)> =
        tokio::time::timeout(WAIT, stream.by_ref().take(of_a.len()).map(|e| (e.seq, e.batch_id())).collect())
            .await
            .expect("every event of the batch");
    assert_eq!(got, of_a.iter().map(|e| (e.seq, a)).collect::<Vec<_>>());
    assert!(tokio::time::timeout(Duration::from_millis(200), stream.next()).await.is_err(), "nothing of another batch");
}
