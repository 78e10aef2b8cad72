//! The batch engine's moving part: worker slots that claim jobs, run the transcriber,
//! write outputs, heartbeat, honour cancel, and hand work back on shutdown; a reaper that
//! re-queues jobs of dead workers; and the `results/batches/<id>.json` snapshot writer.

pub mod engine;
pub mod run;
pub mod snapshot;
#[cfg(feature = "testing")]
pub mod testing;

pub use engine::{Engine, EngineConfig, EngineHandle};
/// The local data directory (uploads, results, snapshots, the SQLite file).
pub use vidscribe_storage::LocalDir as DataDir;
pub use vidscribe_storage::{DynStorage, Storage};
