//! Test helpers: a temp data dir with a real SQLite store and an engine on it.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use vidscribe_core::{
    BatchId, BatchSettings, BatchSummary, Event, EventData, Job, JobId, JobStatus, OutputFormat, SessionId,
};
use vidscribe_store::sqlite::SqliteStore;
use vidscribe_store::{DynStore, NewJob};
use vidscribe_worker::testing::InstantTranscriber;
use vidscribe_worker::{DataDir, Engine, EngineConfig, EngineHandle};

pub struct Env {
    pub dir: TempDir,
    pub store: DynStore,
}

impl Env {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path().to_path_buf()).await;
        Self { dir, store }
    }

    pub fn data(&self) -> DataDir {
        DataDir::new(self.dir.path())
    }

    pub fn config(&self) -> EngineConfig {
        fast_config(self.dir.path().to_path_buf())
    }

    pub fn engine(&self, delay: Duration, slots: usize) -> EngineHandle {
        self.engine_with(InstantTranscriber::with_delay(delay), slots)
    }

    pub fn engine_with(&self, transcriber: InstantTranscriber, slots: usize) -> EngineHandle {
        let mut c = self.config();
        c.slots = slots;
        Engine::start(self.store.clone(), Arc::new(transcriber), c)
    }

    /// Waits (up to 20 s) until the batch has ended, and returns its summary then.
    pub async fn batch_ended(&self, batch: BatchId, what: &str) -> BatchSummary {
        wait_for(Duration::from_secs(20), what, || {
            let store = self.store.clone();
            async move {
                let s = store.batch_summary(batch).await.unwrap();
                s.status.is_terminal().then_some(s)
            }
        })
        .await
    }

    /// A started batch of `n` jobs whose "media" are small files in uploads/.
    pub async fn started_batch(&self, n: usize, max_concurrent: i64) -> (BatchId, Vec<JobId>) {
        let (id, jobs) = self.pending_batch(n, max_concurrent).await;
        self.store.start_batch(id).await.unwrap();
        (id, jobs)
    }

    pub async fn pending_batch(&self, n: usize, max_concurrent: i64) -> (BatchId, Vec<JobId>) {
        let id = BatchId::new();
        let settings = BatchSettings::new(
            id,
            Some("test".into()),
            Some(max_concurrent),
            Some("instant".into()),
            None,
            Some(vec![OutputFormat::Txt, OutputFormat::Srt]),
        )
        .unwrap();
        self.store.create_batch(id, &settings).await.unwrap();
        let data = self.data();
        data.create().unwrap();
        let mut jobs = Vec::new();
        for i in 0..n {
            let job_id = JobId::new();
            let rel = format!("uploads/{job_id}.wav");
            std::fs::write(data.abs(&rel).unwrap(), b"not really audio; the instant transcriber ignores it").unwrap();
            jobs.push(NewJob {
                job_id,
                session_id: SessionId::new(),
                original_filename: format!("file-{i}.wav"),
                session_name: format!("File {i}_0101_0000"),
                file_path: rel,
                media_duration: Some(10.0),
            });
        }
        let added = self.store.add_jobs(id, jobs).await.unwrap();
        (id, added.iter().map(|j| j.job_id).collect())
    }

    pub async fn events(&self, batch: BatchId) -> Vec<Event> {
        self.store.events_after(0, Some(batch), 1_000_000).await.unwrap()
    }
}

pub async fn open_store(dir: PathBuf) -> DynStore {
    Arc::new(SqliteStore::open(&dir.join("vidscribe.db")).await.unwrap())
}

pub fn fast_config(dir: PathBuf) -> EngineConfig {
    let mut c = EngineConfig::new(dir);
    c.heartbeat_interval = Duration::from_millis(100);
    c.poll_interval = Duration::from_millis(100);
    c.reap_interval = Duration::from_millis(200);
    c.lease = Duration::from_secs(2);
    c
}

/// Polls `check` until it yields `Some`, or panics with `what` after `timeout`.
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Replays the job events of a batch and returns the most jobs ever `processing` at once.
pub fn max_processing_at_once(events: &[Event]) -> usize {
    use std::collections::HashMap;
    let mut status: HashMap<JobId, JobStatus> = HashMap::new();
    let mut max = 0;
    for job in events.iter().filter_map(job_of) {
        status.insert(job.job_id, job.status);
        max = max.max(status.values().filter(|s| **s == JobStatus::Processing).count());
    }
    max
}

/// The job of a job event.
pub fn job_of(e: &Event) -> Option<&Job> {
    match &e.data {
        EventData::Job(j) => Some(j),
        EventData::Batch(_) | EventData::Deleted { .. } | EventData::Segments(_) => None,
    }
}

/// (job, status) for every job event whose status differs from that job's previous one.
pub fn job_transitions(events: &[Event]) -> Vec<(JobId, JobStatus)> {
    use std::collections::HashMap;
    let mut last: HashMap<JobId, JobStatus> = HashMap::new();
    let mut out = Vec::new();
    for job in events.iter().filter_map(job_of) {
        if last.insert(job.job_id, job.status) != Some(job.status) {
            out.push((job.job_id, job.status));
        }
    }
    out
}
