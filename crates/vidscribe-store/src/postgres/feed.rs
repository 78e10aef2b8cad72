//! The event feed of one node: durable event rows → the local [`EventHub`].
//!
//! One pump task per `PgStore` reads `events` rows with `seq >` the highest sequence it
//! has published, oldest first, and publishes them. Because event sequence numbers become
//! visible in commit order (`tx.rs`), "everything above the last published seq" never
//! skips a row that commits later with a smaller number: each event is published once,
//! in order, on every node. The pump wakes on
//! - this node's own commits (so local subscribers hear of a change before the call that
//!   made it returns, as with SQLite),
//! - `NOTIFY vidscribe_events` from any node (the listen task, reconnecting with backoff),
//! - a polling interval, as the fallback while LISTEN is down or a notification was lost.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::{watch, Notify};
use tracing::{debug, warn};

use super::EVENT_CHANNEL;
use crate::hub::EventHub;

const PAGE: i64 = 1000;

pub(super) struct Feed {
    /// The highest sequence number published on the hub.
    published: watch::Sender<i64>,
    wake: Notify,
}

impl Feed {
    pub(super) fn new(start_after: i64) -> Self {
        Self { published: watch::channel(start_after).0, wake: Notify::new() }
    }

    /// Called after a local commit: publish up to `seq` before returning (bounded wait;
    /// the event is durable either way and will be published by the next poll).
    pub(super) async fn committed(&self, seq: i64) {
        let mut rx = self.published.subscribe();
        if *rx.borrow() >= seq {
            return;
        }
        self.wake.notify_one();
        let _ = tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|s| *s >= seq)).await;
    }
}

pub(super) async fn pump(pool: PgPool, hub: EventHub, feed: Arc<Feed>, poll: Duration) {
    let mut last = *feed.published.borrow();
    let mut failures = 0u32;
    loop {
        loop {
            let page = async {
                let mut conn = pool.acquire().await?;
                crate::sql::events_after(&mut *conn, last, None, PAGE).await
            }
            .await;
            match page {
                Ok(events) => {
                    failures = 0;
                    let n = events.len() as i64;
                    for e in events {
                        last = e.seq;
                        hub.publish(e);
                    }
                    feed.published.send_replace(last);
                    if n < PAGE {
                        break;
                    }
                }
                Err(e) => {
                    failures += 1;
                    // At most one line per backoff step (≤ 1 per 10 s once the database is gone).
                    warn!(error = %e, failures, "cannot read new events; retrying");
                    tokio::time::sleep(backoff(failures)).await;
                    break;
                }
            }
        }
        tokio::select! {
            _ = feed.wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
        }
    }
}

/// Keeps a LISTEN connection open and turns every notification into a pump wake-up.
pub(super) async fn listen(pool: PgPool, feed: Arc<Feed>) {
    let mut failures = 0u32;
    loop {
        let listening = async {
            let mut l = PgListener::connect_with(&pool).await?;
            l.listen(EVENT_CHANNEL).await.map(|()| l)
        };
        let mut listener = match listening.await {
            Ok(l) => l,
            Err(e) => {
                failures += 1;
                warn!(error = %e, failures, "cannot LISTEN; polling until it works again");
                tokio::time::sleep(backoff(failures)).await;
                continue;
            }
        };
        // Events may have been committed while we were not listening.
        feed.wake.notify_one();
        loop {
            match listener.try_recv().await {
                Ok(Some(_)) => {
                    failures = 0;
                    feed.wake.notify_one();
                }
                Ok(None) => {
                    // Connection lost (sqlx reconnects and re-LISTENs); notifications in
                    // between may be lost, so read the table now.
                    debug!("LISTEN connection lost; reconnected");
                    feed.wake.notify_one();
                }
                Err(e) => {
                    failures += 1;
                    warn!(error = %e, "LISTEN connection failed; reconnecting");
                    feed.wake.notify_one();
                    tokio::time::sleep(backoff(failures)).await;
                    break;
                }
            }
        }
    }
}

/// 100 ms, 200 ms, 400 ms … capped at 10 s.
fn backoff(failures: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1u64 << failures.saturating_sub(1).min(7)).min(10_000))
}
