//! The engine: worker slots, the lease reaper and the snapshot writer, started together
//! and stopped together.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{info, warn, Instrument};
use vidscribe_core::Transcriber;
use vidscribe_store::DynStore;

use crate::run::{run_claim, RunContext};
use crate::snapshot;
use vidscribe_storage::{DynStorage, LocalDir};

#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub data_dir: std::path::PathBuf,
    /// Where uploads are read and results and snapshots written. `None`: the local
    /// directory `data_dir` (created at start). Another backend must be initialised by the
    /// caller (`Storage::init`) before the engine starts.
    pub storage: Option<DynStorage>,
    /// Names this process in leases and the worker list; slots are `<name>/<n>`.
    pub worker_name: String,
    /// Jobs this process runs at once.
    pub slots: usize,
    /// How long a claim stays valid without a heartbeat.
    pub lease: Duration,
    /// Heartbeat (lease renewal, progress write, cancel check) period: ≤ 2 writes/s/job.
    pub heartbeat_interval: Duration,
    /// Automatic attempts (crashes, retryable errors) before a job fails for good.
    pub max_attempts: u32,
    /// Rewrite `results/batches/<id>.json` after transitions (one node should).
    pub write_snapshots: bool,
    pub beam_size: usize,
    /// Chunks decoded per model call; `None`: the model's measured default (4 for tiny.en, 2
    /// for base: `vidscribe_asr::models::default_batch_size`).
    pub batch_size: Option<usize>,
    /// How often an idle slot looks for work when no event woke it.
    pub poll_interval: Duration,
    /// How often expired leases are looked for.
    pub reap_interval: Duration,
    /// CPU cores to share among slots.
    pub cores: usize,
}

impl EngineConfig {
    pub fn new(data_dir: impl Into<std::path::PathBuf>) -> Self {
        let cores = Self::available_cores();
        Self {
            data_dir: data_dir.into(),
            storage: None,
            worker_name: default_worker_name(),
            slots: Self::default_slots(),
            lease: Duration::from_secs(15),
            heartbeat_interval: Duration::from_millis(500),
            max_attempts: 3,
            write_snapshots: true,
            beam_size: 5,
            batch_size: None,
            poll_interval: Duration::from_secs(1),
            reap_interval: Duration::from_secs(2),
            cores,
        }
    }

    /// Jobs a process runs at once unless told: 2 (1 on a single core). The jobs share one
    /// engine, so a second job costs no model load: its reading and features overlap the
    /// other's model calls, and its chunks ride in the same calls. Measured on 2 cores (Intel
    /// Xeon, `bench/asr/batch-sweep`): the corpus took 20.5 s with 2 and 28.1 s with 1
    /// (tiny.en), 50.2 s and 49.7 s (base), peak RSS 535 and 501 MB.
    pub fn default_slots() -> usize {
        Self::available_cores().clamp(1, 2)
    }

    /// The cores this process may run on.
    pub fn available_cores() -> usize {
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    }

    /// CPU threads of a job's model instance. With batched decoding (the default) the jobs
    /// running at once share one instance, whose calls carry their chunks together and run
    /// one after another: it gets all the cores. One window at a time (batch size 1) each job
    /// has its own instance: cores / slots, so two jobs never fight over a core.
    pub fn threads_per_job(&self) -> usize {
        if self.batch_size == Some(1) {
            (self.cores / self.slots.max(1)).max(1)
        } else {
            self.cores.max(1)
        }
    }
}

/// `<hostname>-<pid>`: unique per process, readable in the dashboard.
pub fn default_worker_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    format!("{host}-{}", std::process::id())
}

pub struct Engine;

impl Engine {
    /// Starts `config.slots` worker slots, the reaper and (optionally) the snapshot writer.
    pub fn start(store: DynStore, transcriber: Arc<dyn Transcriber>, config: EngineConfig) -> EngineHandle {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let storage: DynStorage = match &config.storage {
            Some(s) => s.clone(),
            None => {
                let local = LocalDir::new(&config.data_dir);
                if let Err(e) = local.create() {
                    warn!(error = %e, dir = %config.data_dir.display(), "cannot create data directories");
                }
                Arc::new(local)
            }
        };
        let config = Arc::new(config);

        if config.write_snapshots {
            tasks.spawn(snapshot::run(store.clone(), storage.clone(), stop_rx.clone()));
        }
        tasks.spawn(reaper(store.clone(), config.clone(), stop_rx.clone()));
        // Zero slots is an API-only node: it still reaps leases and writes snapshots.
        for slot in 1..=config.slots {
            let ctx = RunContext {
                store: store.clone(),
                transcriber: transcriber.clone(),
                storage: storage.clone(),
                config: config.clone(),
                worker: format!("{}/{slot}", config.worker_name),
                stop: stop_rx.clone(),
            };
            let span = tracing::info_span!("slot", worker = %ctx.worker);
            tasks.spawn(slot_loop(ctx).instrument(span));
        }
        info!(worker = %config.worker_name, slots = config.slots, threads_per_job = config.threads_per_job(), "engine started");
        EngineHandle { stop: stop_tx, tasks }
    }
}

pub struct EngineHandle {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl EngineHandle {
    /// Stops claiming, asks running jobs to stop, hands their leases back (they resume
    /// after restart), flushes snapshots, and waits for every task.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while let Some(r) = self.tasks.join_next().await {
            if let Err(e) = r {
                warn!(error = %e, "engine task ended abnormally");
            }
        }
    }
}

async fn slot_loop(ctx: RunContext) {
    let mut events = ctx.store.subscribe();
    let mut stop = ctx.stop.clone();
    loop {
        if *stop.borrow() {
            return;
        }
        match ctx.store.claim(&ctx.worker, ctx.config.lease).await {
            Ok(Some(claim)) => {
                run_claim(&ctx, claim).await;
                continue;
            }
            Ok(None) => {}
            Err(e) => warn!(error = %e, "claim failed"),
        }
        // Idle: wake on any committed event (a batch started, a job re-queued), on the
        // poll interval (work from other nodes, backoff expiry), or on stop.
        tokio::select! {
            _ = stop.changed() => {}
            r = events.recv() => {
                if let Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) = r {
                    events = events.resubscribe();
                }
            }
            _ = tokio::time::sleep(ctx.config.poll_interval) => {}
        }
    }
}

async fn reaper(store: DynStore, config: Arc<EngineConfig>, mut stop: watch::Receiver<bool>) {
    loop {
        if let Err(e) = store.register_worker(&config.worker_name, config.slots as u32).await {
            warn!(error = %e, "worker registration failed");
        }
        match store.requeue_expired(config.max_attempts).await {
            Ok(0) => {}
            Ok(n) => info!(jobs = n, "re-queued jobs whose worker stopped responding"),
            Err(e) => warn!(error = %e, "lease reaper failed"),
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(config.reap_interval) => {}
        }
    }
}
