//! In-process fan-out of committed events.

use tokio::sync::broadcast;
use vidscribe_core::Event;

/// Buffered broadcast of committed events. A subscriber that falls more than
/// `capacity` events behind gets `Lagged` and must resync from the durable log;
/// publishing never waits for subscribers, so a slow client cannot slow a worker.
#[derive(Debug, Clone)]
pub struct EventHub {
    tx: broadcast::Sender<Event>,
}

impl EventHub {
    pub const DEFAULT_CAPACITY: usize = 4096;

    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity);
        Self { tx }
    }

    pub fn publish(&self, event: Event) {
        // No subscribers is fine: the event is in the durable log.
        let _ = self.tx.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
}

impl Default for EventHub {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}
