//! Spawning the app for a test.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use vidscribe_server::testing::{wav_bytes, ApiClient, TestServer};
use vidscribe_server::{AppState, ServerConfig};
use vidscribe_store::DynStore;
use vidscribe_worker::testing::InstantTranscriber;
use vidscribe_worker::{Engine, EngineConfig, EngineHandle};

pub const WAIT: Duration = Duration::from_secs(30);

pub struct Options {
    pub token: Option<String>,
    pub max_upload_bytes: u64,
    /// `None`: no engine (jobs stay queued).
    pub job_delay: Option<Duration>,
    pub slots: usize,
    pub keep_alive: Duration,
    /// Worker heartbeat (progress write) period.
    pub heartbeat: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            token: None,
            max_upload_bytes: ServerConfig::DEFAULT_MAX_UPLOAD_BYTES,
            job_delay: Some(Duration::from_millis(150)),
            slots: 2,
            keep_alive: Duration::from_secs(10),
            // Production timing: the engine's own default heartbeat.
            heartbeat: EngineConfig::new(".").heartbeat_interval,
        }
    }
}

pub struct App {
    pub server: TestServer,
    pub client: ApiClient,
    pub store: DynStore,
    pub engine: Option<EngineHandle>,
    pub dir: tempfile::TempDir,
}

impl App {
    pub fn data(&self) -> &Path {
        self.dir.path()
    }

    /// Files in `uploads/` (not counting directories).
    pub fn uploads(&self) -> Vec<PathBuf> {
        match std::fs::read_dir(self.data().join("uploads")) {
            Ok(rd) => rd.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect(),
            Err(_) => Vec::new(),
        }
    }

    pub async fn stop(mut self) {
        if let Some(e) = self.engine.take() {
            e.shutdown().await;
        }
        self.server.stop().await;
        self.store.close().await;
    }
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_test_writer()
        .try_init();
}

pub async fn spawn(opts: Options) -> App {
    init_tracing();
    let dir = tempfile::tempdir().expect("temp dir");
    let store: DynStore = Arc::new(
        vidscribe_store::sqlite::SqliteStore::open(&dir.path().join("vidscribe.db")).await.expect("open sqlite store"),
    );
    let mut config =
        ServerConfig::new(dir.path()).with_auth_token(opts.token.clone()).with_max_upload_bytes(opts.max_upload_bytes);
    config.sse_keep_alive = opts.keep_alive;
    config.delete_wait = Duration::from_secs(5);
    let state = AppState::new(store.clone(), config);
    let engine = opts.job_delay.map(|delay| {
        let mut ec = EngineConfig::new(dir.path());
        ec.worker_name = "test".into();
        ec.slots = opts.slots;
        ec.heartbeat_interval = opts.heartbeat;
        ec.poll_interval = Duration::from_millis(100);
        ec.lease = Duration::from_secs(10);
        Engine::start(store.clone(), Arc::new(InstantTranscriber::with_delay(delay)), ec)
    });
    let server = TestServer::start(state).await.expect("start server");
    let client = server.client();
    App { server, client, store, engine, dir }
}

/// A second of audio as a WAV file: real media the sniffer and prober accept.
pub fn media() -> Vec<u8> {
    wav_bytes(1.0, 16_000)
}

/// Creates a batch with `n` uploaded files; returns (batch id, job ids).
pub async fn batch_with_jobs(app: &App, n: usize, max_concurrent: u32) -> (String, Vec<String>) {
    let batch =
        app.client.create_batch(serde_json::json!({ "name": "Test batch", "max_concurrent": max_concurrent })).await;
    let mut jobs = Vec::new();
    for i in 0..n {
        jobs.push(app.client.add_video(&batch, &format!("talk {i}.wav"), media()).await);
    }
    (batch, jobs)
}

pub fn is_done(batch: &serde_json::Value) -> bool {
    matches!(batch["status"].as_str(), Some("completed" | "failed" | "cancelled"))
}

/// Order of job statuses along the happy path, to check "this state or a later one".
pub fn job_rank(status: &str) -> u8 {
    match status {
        "queued" => 0,
        "processing" => 1,
        _ => 2,
    }
}

pub fn batch_rank(status: &str) -> u8 {
    match status {
        "pending" => 0,
        "processing" => 1,
        _ => 2,
    }
}

/// The samples of a Prometheus text exposition, `name{labels}` → value. Comment lines
/// (`# HELP`, `# TYPE`) are skipped, so a name only counts where a sample carries it; every
/// sample must belong to a family declared by a `# TYPE` line above it, and appear once.
pub fn metric_samples(text: &str) -> std::collections::HashMap<String, f64> {
    let mut typed = std::collections::HashSet::new();
    let mut out = std::collections::HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            typed.insert(rest.split_whitespace().next().expect("a family name after # TYPE").to_string());
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("not a `name value` sample: {line:?}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("not a number in {line:?}"));
        let name = key.split('{').next().unwrap();
        assert!(typed.contains(name), "sample {key} has no # TYPE line before it");
        assert!(out.insert(key.to_string(), value).is_none(), "sample {key} appears twice");
    }
    out
}
