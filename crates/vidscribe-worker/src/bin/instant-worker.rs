//! A worker process with the instant transcriber: the engine without a speech model.
//! Used by crash tests (it is SIGKILLed mid-batch) and claim-throughput benchmarks.
//!
//! `instant-worker --data-dir DIR [--database URL] [--slots N] [--delay-ms MS] [--name NAME] [--lease-ms MS]`

use std::sync::Arc;
use std::time::Duration;

use vidscribe_worker::testing::InstantTranscriber;
use vidscribe_worker::{Engine, EngineConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut data_dir = None;
    let mut database = None;
    let mut slots = 1usize;
    let mut delay_ms = 0u64;
    let mut lease_ms = 2000u64;
    let mut name = None;
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| anyhow::anyhow!("{a} needs a value"));
        match a.as_str() {
            "--data-dir" => data_dir = Some(value()?),
            "--database" => database = Some(value()?),
            "--slots" => slots = value()?.parse()?,
            "--delay-ms" => delay_ms = value()?.parse()?,
            "--lease-ms" => lease_ms = value()?.parse()?,
            "--name" => name = Some(value()?),
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let data_dir = data_dir.ok_or_else(|| anyhow::anyhow!("--data-dir is required"))?;
    let url = database.unwrap_or_else(|| format!("sqlite://{data_dir}/vidscribe.db"));
    let store = vidscribe_store::open(&url).await?;
    let mut config = EngineConfig::new(&data_dir);
    config.slots = slots;
    config.lease = Duration::from_millis(lease_ms);
    config.heartbeat_interval = Duration::from_millis((lease_ms / 5).clamp(50, 500));
    config.poll_interval = Duration::from_millis(100);
    config.reap_interval = Duration::from_millis(200);
    if let Some(n) = name {
        config.worker_name = n;
    }
    let engine =
        Engine::start(store, Arc::new(InstantTranscriber::with_delay(Duration::from_millis(delay_ms))), config);
    println!("ready");
    tokio::signal::ctrl_c().await?;
    engine.shutdown().await;
    Ok(())
}
