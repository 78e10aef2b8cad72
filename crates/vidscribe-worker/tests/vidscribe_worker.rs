//! The batch engine end to end on a real SQLite file: worker loop, events, snapshots,
//! concurrency limits, cancel, crash recovery.

mod vidscribe_worker {
    pub mod support;

    mod cancel;
    mod concurrency;
    mod crash;
    mod lifecycle;
}
