//! `vidscribe serve`: store + engine (real Whisper) + HTTP server in one process.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use vidscribe_server::{AppState, ServerConfig};
use vidscribe_worker::{Engine, EngineConfig};

use super::config::{self, pick, FileConfig};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free one (printed on stdout).
    #[arg(long, env = "VIDSCRIBE_ADDR", value_name = "IP:PORT")]
    pub addr: Option<SocketAddr>,
    /// Data directory: uploads, results and the embedded database [default: ./vidscribe-data].
    #[arg(long, env = "VIDSCRIBE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Store URL [default: sqlite://<data-dir>/vidscribe.db]; `postgres://…` for several nodes.
    #[arg(long, env = "VIDSCRIBE_DATABASE", value_name = "URL", hide_env_values = true)]
    pub database: Option<String>,
    /// Jobs this process transcribes at once (0: API only, jobs run on `vidscribe worker`s) [default: 2; 1 on one core].
    #[arg(long, env = "VIDSCRIBE_WORKERS", value_name = "N")]
    pub workers: Option<usize>,
    /// Require `Authorization: Bearer T` on every /api route.
    #[arg(long, env = "VIDSCRIBE_AUTH_TOKEN", value_name = "T", hide_env_values = true)]
    pub auth_token: Option<String>,
    /// Allow a non-loopback address without a token.
    #[arg(long, env = "VIDSCRIBE_INSECURE_NO_AUTH")]
    pub insecure_no_auth: bool,
    /// Whisper model cache [default: $VIDSCRIBE_MODEL_DIR or ~/.cache/vidscribe/models].
    #[arg(long, env = "VIDSCRIBE_MODEL_DIR", value_name = "DIR")]
    pub model_dir: Option<PathBuf>,
    /// Largest accepted upload in bytes [default: 2 GiB].
    #[arg(long, env = "VIDSCRIBE_MAX_UPLOAD_BYTES", value_name = "BYTES")]
    pub max_upload_bytes: Option<u64>,
    /// Seconds an upload body may take before its rate counts (slow clients get 408) [default: 60].
    #[arg(long, env = "VIDSCRIBE_UPLOAD_GRACE_SECS", value_name = "SECS")]
    pub upload_grace_secs: Option<u64>,
    /// Minimum average upload rate in bytes/s that extends that time; 0 = fixed limit [default: 1024].
    #[arg(long, env = "VIDSCRIBE_UPLOAD_MIN_RATE", value_name = "BYTES_PER_SEC")]
    pub upload_min_rate: Option<u64>,
    #[command(flatten)]
    pub lease: super::worker::SlotArgs,
}

pub const DEFAULT_DATA_DIR: &str = "./vidscribe-data";

pub async fn run(args: ServeArgs, file: &FileConfig) -> anyhow::Result<u8> {
    let data_dir = pick(args.data_dir, file.data_dir.clone(), || PathBuf::from(DEFAULT_DATA_DIR));
    let database = pick(args.database, file.database.clone(), || config::default_database(&data_dir));
    let addr = match args.addr {
        Some(a) => a,
        None => match &file.serve.addr {
            Some(a) => {
                a.parse().with_context(|| format!("serve.addr '{a}' in the config file is not an IP:PORT address"))?
            }
            None => ServerConfig::DEFAULT_ADDR.parse()?,
        },
    };
    let workers = pick(args.workers, file.serve.workers, EngineConfig::default_slots);
    let auth_token = args.auth_token.or_else(|| file.serve.auth_token.clone());
    let insecure_no_auth = args.insecure_no_auth || file.serve.insecure_no_auth.unwrap_or(false);
    let max_upload =
        pick(args.max_upload_bytes, file.serve.max_upload_bytes, || ServerConfig::DEFAULT_MAX_UPLOAD_BYTES);
    let model_dir = config::model_dir(args.model_dir, file);
    let upload_grace =
        pick(args.upload_grace_secs, file.serve.upload_grace_secs, || ServerConfig::DEFAULT_UPLOAD_GRACE.as_secs());
    let upload_min_rate =
        pick(args.upload_min_rate, file.serve.upload_min_rate, || ServerConfig::DEFAULT_UPLOAD_MIN_RATE);

    let mut server_config = ServerConfig::new(&data_dir)
        .with_addr(addr)
        .with_auth_token(auth_token)
        .with_max_upload_bytes(max_upload)
        .with_upload_timeout(std::time::Duration::from_secs(upload_grace), upload_min_rate);
    server_config.insecure_no_auth = insecure_no_auth;
    let mut engine_config = EngineConfig::new(&data_dir);
    // Refuse a bad setup before touching the database.
    server_config.validate()?;
    args.lease.apply(&mut engine_config)?;

    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let store = vidscribe_store::open(&database)
        .await
        .with_context(|| format!("cannot open the database {}", redact(&database)))?;

    let listener = vidscribe_server::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;

    let engine = if workers > 0 {
        let transcriber = Arc::new(super::whisper(model_dir));
        engine_config.slots = workers;
        Some(Engine::start(store.clone(), transcriber, engine_config))
    } else {
        None
    };

    let shutdown = super::shutdown_signals()?;
    let state = AppState::new(store.clone(), server_config);
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{local}")?;
        out.flush()?;
    }
    tracing::info!(%local, data_dir = %data_dir.display(), workers, "dashboard at http://{local}/batch");
    let served = vidscribe_server::serve(listener, state, shutdown).await;

    if let Some(engine) = engine {
        engine.shutdown().await;
    }
    store.close().await;
    served.context("the server stopped with an error")?;
    Ok(0)
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..scheme + 3], &creds[..colon], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(redact("postgres://u:secret@db/x"), "postgres://u:***@db/x");
        assert_eq!(redact("sqlite:///tmp/a.db"), "sqlite:///tmp/a.db");
    }
}
