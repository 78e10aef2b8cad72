//! The batch engine's moving part: worker slots that claim jobs, run the transcriber,
//! write outputs, heartbeat, honour cancel, and hand work back on shutdown; a reaper that
//! re-queues jobs of dead workers; and the `results/batches/<id>.json` snapshot writer.

pub mod datadir;
pub mod engine;
pub mod run;
pub mod snapshot;
pub mod testing;

pub use datadir::DataDir;
pub use engine::{Engine, EngineConfig, EngineHandle};
