//! `vidscribe worker`: worker slots against a shared store, no HTTP.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use vidscribe_worker::{Engine, EngineConfig};

use super::config::{self, pick, FileConfig};
use super::serve::{redact, DEFAULT_DATA_DIR};

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Store URL shared with the server (`sqlite://…` on one machine, `postgres://…` across machines).
    #[arg(long, env = "VIDSCRIBE_DATABASE", value_name = "URL", hide_env_values = true)]
    pub database: Option<String>,
    /// Jobs this worker runs at once [default: 1].
    #[arg(long, env = "VIDSCRIBE_SLOTS", value_name = "N")]
    pub slots: Option<usize>,
    /// Name shown on its jobs and in the worker list [default: <hostname>-<pid>].
    #[arg(long, env = "VIDSCRIBE_WORKER_NAME", value_name = "NAME")]
    pub name: Option<String>,
    /// Data directory shared with the server (uploads are read, results written there) [default: ./vidscribe-data].
    #[arg(long, env = "VIDSCRIBE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Whisper model cache [default: $VIDSCRIBE_MODEL_DIR or ~/.cache/vidscribe/models].
    #[arg(long, env = "VIDSCRIBE_MODEL_DIR", value_name = "DIR")]
    pub model_dir: Option<PathBuf>,
}

pub async fn run(args: WorkerArgs, file: &FileConfig) -> anyhow::Result<u8> {
    let data_dir = pick(args.data_dir, file.data_dir.clone(), || PathBuf::from(DEFAULT_DATA_DIR));
    let database = pick(args.database, file.database.clone(), || config::default_database(&data_dir));
    let slots = pick(args.slots, file.worker.slots, || 1).max(1);
    let model_dir = config::model_dir(args.model_dir, file);

    let store = vidscribe_store::open(&database).await.with_context(|| format!("cannot open the database {}", redact(&database)))?;
    let mut engine_config = EngineConfig::new(&data_dir);
    engine_config.slots = slots;
    if let Some(name) = args.name.or_else(|| file.worker.name.clone()) {
        engine_config.worker_name = name;
    }
    let name = engine_config.worker_name.clone();
    let shutdown = super::shutdown_signals()?;
    let engine = Engine::start(store.clone(), Arc::new(super::whisper(model_dir)), engine_config);
    println!("worker {name} running {slots} slot(s) on {}", redact(&database));
    shutdown.await;
    engine.shutdown().await;
    store.close().await;
    Ok(0)
}
