//! `vidscribe worker`: worker slots against a shared store, no HTTP.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use vidscribe_worker::{Engine, EngineConfig};

use super::config::{self, pick, FileConfig};
use super::serve::{redact, DEFAULT_DATA_DIR};

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Store URL shared with the server (`sqlite://…` on one machine, `postgres://…` across machines).
    #[arg(long, env = "VIDSCRIBE_DATABASE", value_name = "URL", hide_env_values = true)]
    pub database: Option<String>,
    /// Jobs this worker runs at once [default: 2; 1 on one core].
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
    #[command(flatten)]
    pub lease: SlotArgs,
}

/// How the worker slots run (claim lease, heartbeat, decoding batch), shared by `serve` and `worker`.
#[derive(Debug, Clone, Args)]
pub struct SlotArgs {
    /// Seconds a job's claim stays valid without a heartbeat; after that another worker may take it over [default: 15].
    #[arg(long, env = "VIDSCRIBE_LEASE_SECS", value_name = "SECS")]
    pub lease_secs: Option<u64>,
    /// Milliseconds between heartbeats (lease renewal, progress, cancel check); at most a third of the lease [default: 500].
    #[arg(long, env = "VIDSCRIBE_HEARTBEAT_MS", value_name = "MS")]
    pub heartbeat_ms: Option<u64>,
    /// Chunks of a file decoded per model call; 1 decodes one 30 s window at a time, each conditioned on the text before it [default: the model's, 4 for tiny.en, 2 for base].
    #[arg(long, env = "VIDSCRIBE_BATCH_SIZE", value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub batch_size: Option<u16>,
}

impl SlotArgs {
    /// Sets `lease` and `heartbeat_interval`, refusing a heartbeat that could let a healthy
    /// job's lease expire: it must fit at least three times into the lease, so one or two
    /// late heartbeats (a busy machine, a slow database) do not hand a running job to a
    /// second worker.
    pub fn apply(&self, config: &mut EngineConfig) -> anyhow::Result<()> {
        let lease = self.lease_secs.map_or(config.lease, Duration::from_secs);
        let heartbeat = self.heartbeat_ms.map_or(config.heartbeat_interval, Duration::from_millis);
        if lease.is_zero() {
            bail!("--lease-secs must be at least 1");
        }
        if heartbeat.is_zero() {
            bail!("--heartbeat-ms must be at least 1");
        }
        if heartbeat.saturating_mul(3) > lease {
            bail!(
                "--heartbeat-ms {} is too close to --lease-secs {}: the heartbeat must be at most a third of the \
                 lease (at most {} ms here), or a running job can lose its lease to another worker",
                heartbeat.as_millis(),
                lease.as_secs(),
                lease.as_millis() / 3
            );
        }
        config.lease = lease;
        config.heartbeat_interval = heartbeat;
        if let Some(n) = self.batch_size {
            config.batch_size = Some(n.into());
        }
        Ok(())
    }
}

pub async fn run(args: WorkerArgs, file: &FileConfig) -> anyhow::Result<u8> {
    let data_dir = pick(args.data_dir, file.data_dir.clone(), || PathBuf::from(DEFAULT_DATA_DIR));
    let database = pick(args.database, file.database.clone(), || config::default_database(&data_dir));
    let slots = pick(args.slots, file.worker.slots, EngineConfig::default_slots).max(1);
    let model_dir = config::model_dir(args.model_dir, file);
    let mut engine_config = EngineConfig::new(&data_dir);
    // Refuse a bad setup before touching the database.
    args.lease.apply(&mut engine_config)?;

    let store = vidscribe_store::open(&database)
        .await
        .with_context(|| format!("cannot open the database {}", redact(&database)))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(lease_secs: Option<u64>, heartbeat_ms: Option<u64>) -> anyhow::Result<EngineConfig> {
        let mut c = EngineConfig::new("d");
        SlotArgs { lease_secs, heartbeat_ms, batch_size: None }.apply(&mut c)?;
        Ok(c)
    }

    #[test]
    fn lease_and_heartbeat_are_set_and_checked_against_each_other() {
        let c = applied(None, None).unwrap();
        assert_eq!((c.lease, c.heartbeat_interval), (Duration::from_secs(15), Duration::from_millis(500)));
        let c = applied(Some(30), Some(10_000)).unwrap();
        assert_eq!((c.lease, c.heartbeat_interval), (Duration::from_secs(30), Duration::from_secs(10)));
        assert!(applied(Some(30), Some(10_001)).unwrap_err().to_string().contains("at most a third"));
        assert!(applied(Some(2), None).is_ok(), "500 ms fits three times into 2 s");
        assert!(applied(Some(1), None).is_err(), "500 ms is half of 1 s");
        assert!(applied(Some(0), None).is_err());
        assert!(applied(None, Some(0)).is_err());
    }
}
