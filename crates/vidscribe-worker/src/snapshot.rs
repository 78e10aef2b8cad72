//! `results/batches/<batch_id>.json`: the batch object, rewritten atomically after the
//! batch's transitions, so `watch 'jq .status results/batches/*.json'` always reads a
//! complete, current document.
//!
//! Driven by committed events. Bursts are coalesced: a batch is rewritten at most every
//! `MIN_GAP` (or 4× its last write time, for huge batches) while events keep coming, and
//! always once more after the last one, so the cost per transition stays flat even for a
//! 10 000-job batch and the writer never takes more than a fifth of a core. A batch that
//! has just ended is written at once: whoever watches the file sees it end when the API does.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, watch};
use tracing::warn;
use vidscribe_core::{BatchId, EventData};
use vidscribe_store::{DynStore, StoreError};

use vidscribe_storage::{snapshot_key, DynStorage};

const MIN_GAP: Duration = Duration::from_millis(100);

pub(crate) async fn run(store: DynStore, storage: DynStorage, mut stop: watch::Receiver<bool>) {
    let mut events = store.subscribe();
    let mut dirty: HashSet<BatchId> = HashSet::new();
    // Dirty batches whose last event ended them: written without waiting for their gap.
    let mut ended: HashSet<BatchId> = HashSet::new();
    // When each batch was last written and how long that took.
    let mut last_write: HashMap<BatchId, (Instant, Duration)> = HashMap::new();
    // Bring every snapshot up to date at start (a crash may have left one behind).
    match store.list_batches().await {
        Ok(list) => dirty.extend(list.iter().map(|b| b.batch_id)),
        Err(e) => warn!(error = %e, "cannot list batches for snapshots"),
    }
    loop {
        // Write what is due; remember what must wait for its gap.
        let now = Instant::now();
        let mut next_due: Option<Duration> = None;
        let due: Vec<BatchId> = dirty.iter().copied().collect();
        for id in due {
            let wait = last_write
                .get(&id)
                .filter(|_| !ended.contains(&id))
                .map(|(t, took)| MIN_GAP.max(*took * 4).saturating_sub(now.duration_since(*t)))
                .unwrap_or_default();
            if !wait.is_zero() {
                next_due = Some(next_due.map_or(wait, |d| d.min(wait)));
                continue;
            }
            dirty.remove(&id);
            ended.remove(&id);
            let started = Instant::now();
            write_one(&store, &storage, id).await;
            last_write.insert(id, (started, started.elapsed()));
        }
        if *stop.borrow() && dirty.is_empty() {
            return;
        }
        tokio::select! {
            r = events.recv() => match r {
                Ok(e) => {
                    match e.data {
                        EventData::Deleted { batch_id } => {
                            dirty.remove(&batch_id);
                            ended.remove(&batch_id);
                            last_write.remove(&batch_id);
                            remove(&storage, batch_id).await;
                        }
                        ref data if rewrites_the_document(data) => {
                            mark(&mut dirty, &mut ended, data, e.batch_id());
                        }
                        _ => {}
                    }
                    // Take everything already waiting, so one write covers a burst.
                    while let Ok(e) = events.try_recv() {
                        if rewrites_the_document(&e.data) {
                            mark(&mut dirty, &mut ended, &e.data, e.batch_id());
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    if let Ok(list) = store.list_batches().await {
                        dirty.extend(list.iter().map(|b| b.batch_id));
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = tokio::time::sleep(next_due.unwrap_or(Duration::from_secs(3600))), if next_due.is_some() => {}
            r = stop.changed(), if !*stop.borrow() => {
                if r.is_err() && dirty.is_empty() {
                    return;
                }
            }
        }
    }
}

/// Marks the batch of `data` stale, and as just ended when that is what the event says.
fn mark(dirty: &mut HashSet<BatchId>, ended: &mut HashSet<BatchId>, data: &EventData, id: BatchId) {
    dirty.insert(id);
    if matches!(data, EventData::Batch(b) if b.status.is_terminal()) {
        ended.insert(id);
    }
}

/// Whether an event makes the batch's document stale. A deletion removes it instead, and a
/// live transcript's segments are not part of the batch object: they cost no rewrite (and
/// would push the rewrite after a job's last transition back by a gap).
fn rewrites_the_document(data: &EventData) -> bool {
    !matches!(data, EventData::Deleted { .. } | EventData::Segments(_))
}

async fn write_one(store: &DynStore, storage: &DynStorage, id: BatchId) {
    match store.get_batch(id).await {
        Ok(batch) => {
            let written = match serde_json::to_vec_pretty(&batch) {
                Ok(bytes) => storage.put(&snapshot_key(id), bytes).await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = written {
                warn!(batch_id = %id, error = %e, "cannot write batch snapshot");
            }
        }
        Err(StoreError::BatchNotFound(_)) => remove(storage, id).await,
        Err(e) => warn!(batch_id = %id, error = %e, "cannot read batch for snapshot"),
    }
}

async fn remove(storage: &DynStorage, id: BatchId) {
    if let Err(e) = storage.delete(&snapshot_key(id)).await {
        warn!(batch_id = %id, error = %e, "cannot remove batch snapshot");
    }
}
