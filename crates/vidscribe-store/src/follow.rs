//! Following the event stream: replay from the durable log, then live events, in sequence
//! order, each exactly once, with resync from the log when a subscriber lags.
//!
//! The caller subscribes to the store BEFORE choosing the cursor (reading the log or a
//! snapshot), so no event can fall between the two: anything committed after the subscribe is
//! in the receiver, anything before it is in the log, and duplicates are dropped by sequence.
//! A live event that skips a sequence number sends the follower back to the log, so an event
//! that was committed but never broadcast is still delivered, in order.
//!
//! It needs only the [`Store`](crate::Store) trait, so every consumer of events (the SSE
//! routes, the server's metrics, the CLI's `transcribe`) can follow the same way.

use futures::Stream;
use tokio::sync::broadcast::{self, error::RecvError};
use vidscribe_core::{BatchId, Event};

use crate::DynStore;

/// Events with `seq > cursor` (of one batch, or all), oldest first, forever (until the store
/// closes its channel or a read from the log fails, which ends the stream; the client
/// reconnects with `Last-Event-ID`).
pub fn follow(
    store: DynStore,
    mut rx: broadcast::Receiver<Event>,
    batch: Option<BatchId>,
    cursor: i64,
    page: i64,
) -> impl Stream<Item = Event> + Send + 'static {
    let page = page.max(1);
    async_stream::stream! {
        let mut cursor = cursor;
        let mut replay = true;
        loop {
            if replay {
                // Catch up from the durable log, page by page, lazily (only as fast as the
                // client reads): a slow client costs a database read, never a worker's time.
                loop {
                    let events = match store.events_after(cursor, batch, page).await {
                        Ok(events) => events,
                        Err(e) => {
                            tracing::warn!(error = %e, cursor, "reading the event log failed; ending the stream");
                            return;
                        }
                    };
                    let n = events.len() as i64;
                    for event in events {
                        if event.seq > cursor {
                            cursor = event.seq;
                            yield event;
                        }
                    }
                    if n < page {
                        break;
                    }
                }
                replay = false;
            }
            match rx.recv().await {
                Ok(event) => {
                    if event.seq <= cursor {
                        continue;
                    }
                    if event.seq > cursor + 1 {
                        // A hole: an event committed but never published (its writer was
                        // dropped between COMMIT and publish) or a sequence number a rolled-back
                        // transaction used. The log knows which; reading it costs one query.
                        replay = true;
                        continue;
                    }
                    cursor = event.seq;
                    if batch.is_none_or(|b| b == event.batch_id()) {
                        yield event;
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, cursor, "event subscriber lagged; resyncing from the log");
                    replay = true;
                }
                Err(RecvError::Closed) => return,
            }
        }
    }
}
