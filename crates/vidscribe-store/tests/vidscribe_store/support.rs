//! Backends under test, fixtures and event-log checks shared by the tests.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vidscribe_core::{BatchId, BatchSettings, BatchSummary, Event, EventData, Job, JobId, JobStatus, SessionId};
use vidscribe_store::postgres::{PgConfig, PgStore};
use vidscribe_store::sqlite::SqliteStore;
use vidscribe_store::{DynStore, NewJob};

/// The PostgreSQL the tests use (CI and dev machines run one here, trust auth).
pub fn pg_base_url() -> String {
    std::env::var("VIDSCRIBE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// One database a test owns; `open` gives a new, independent store instance on it each
/// time (a separate "process": its own pool, and for Postgres its own event feed).
pub enum Backend {
    Sqlite { _dir: tempfile::TempDir, path: PathBuf },
    Postgres { schema: String, url: String },
}

impl Backend {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("vidscribe.db");
        Backend::Sqlite { _dir: dir, path }
    }

    /// A fresh schema in the test database, dropped again when the backend is dropped.
    pub async fn postgres() -> Self {
        let base = pg_base_url();
        let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
        let pool = sqlx::PgPool::connect(&base).await.unwrap_or_else(|e| {
            panic!("PostgreSQL at {base} is needed for these tests (set VIDSCRIBE_TEST_POSTGRES_URL): {e}")
        });
        sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&pool).await.expect("create schema");
        pool.close().await;
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
        Backend::Postgres { schema, url }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite { .. } => "sqlite",
            Backend::Postgres { .. } => "postgres",
        }
    }

    pub async fn open(&self) -> DynStore {
        match self {
            Backend::Sqlite { path, .. } => Arc::new(SqliteStore::open(path).await.expect("open sqlite store")),
            Backend::Postgres { url, .. } => {
                let config = PgConfig { max_connections: 4, ..PgConfig::default() };
                Arc::new(PgStore::connect_with(url, config).await.expect("connect postgres store"))
            }
        }
    }

    /// The ETA bookkeeping of a batch row, read straight from its columns (the public API
    /// only shows what is derived from them).
    pub async fn media_counters(&self, id: BatchId) -> MediaCounters {
        use sqlx::{Connection, Row};
        match self {
            Backend::Sqlite { path, .. } => {
                let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path).read_only(true);
                let mut conn = sqlx::SqliteConnection::connect_with(&options).await.expect("open sqlite");
                let row = sqlx::query(&COUNTERS_SQL.replace("$1", "?1"))
                    .bind(id.to_string())
                    .fetch_one(&mut conn)
                    .await
                    .expect("batch row");
                let eta_since: Option<String> = row.get("eta_since");
                MediaCounters {
                    queued_seconds: row.get("media_queued"),
                    queued_unknown: row.get("n_queued_unknown"),
                    done_seconds: row.get("media_done"),
                    eta_since: eta_since.map(|s| {
                        chrono::DateTime::parse_from_rfc3339(&s).expect("timestamp").with_timezone(&chrono::Utc)
                    }),
                    rows_queued_seconds: row.get("rows_queued_seconds"),
                    rows_queued_unknown: row.get("rows_queued_unknown"),
                }
            }
            Backend::Postgres { url, .. } => {
                let mut conn = sqlx::PgConnection::connect(url).await.expect("connect postgres");
                let row = sqlx::query(COUNTERS_SQL).bind(id.as_uuid()).fetch_one(&mut conn).await.expect("batch row");
                MediaCounters {
                    queued_seconds: row.get("media_queued"),
                    queued_unknown: row.get::<i32, _>("n_queued_unknown").into(),
                    done_seconds: row.get("media_done"),
                    eta_since: row.get("eta_since"),
                    rows_queued_seconds: row.get("rows_queued_seconds"),
                    rows_queued_unknown: row.get("rows_queued_unknown"),
                }
            }
        }
    }

    /// The URL `vidscribe_store::open` takes.
    pub fn url(&self) -> String {
        match self {
            Backend::Sqlite { path, .. } => format!("sqlite://{}", path.display()),
            Backend::Postgres { url, .. } => url.clone(),
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Backend::Postgres { schema, .. } = self {
            let schema = schema.clone();
            // Async cleanup from a synchronous drop: its own thread and runtime.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                rt.block_on(async {
                    if let Ok(pool) = sqlx::PgPool::connect(&pg_base_url()).await {
                        let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).execute(&pool).await;
                        pool.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// The columns behind a batch's ETA.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MediaCounters {
    /// `media_queued`: Σ known durations of the queued jobs.
    pub queued_seconds: f64,
    /// `n_queued_unknown`: queued jobs without a known duration.
    pub queued_unknown: i64,
    /// `media_done`: media seconds got through since `eta_since`.
    pub done_seconds: f64,
    pub eta_since: Option<chrono::DateTime<chrono::Utc>>,
    /// What `media_queued` and `n_queued_unknown` should be, from the job rows, read in the
    /// same statement (one snapshot, even while other writes commit).
    pub rows_queued_seconds: f64,
    pub rows_queued_unknown: i64,
}

impl MediaCounters {
    /// The queue counters describe exactly the queued job rows.
    pub fn assert_queue_matches_rows(&self, step: &str) {
        assert!(
            (self.queued_seconds - self.rows_queued_seconds).abs() < 1e-9,
            "{step}: media_queued {} but the queued rows sum to {}",
            self.queued_seconds,
            self.rows_queued_seconds
        );
        assert_eq!(self.queued_unknown, self.rows_queued_unknown, "{step}: n_queued_unknown vs the queued rows");
    }
}

/// The batch row's ETA columns and, in the same statement, what the job rows say they should be.
const COUNTERS_SQL: &str = "SELECT b.media_queued, b.n_queued_unknown, b.media_done, b.eta_since,
        CAST((SELECT COALESCE(SUM(j.media_duration), 0) FROM jobs j WHERE j.batch_id = b.id AND j.status = 'queued') AS DOUBLE PRECISION)
            AS rows_queued_seconds,
        CAST((SELECT COUNT(*) FROM jobs j WHERE j.batch_id = b.id AND j.status = 'queued' AND j.media_duration IS NULL) AS BIGINT)
            AS rows_queued_unknown
     FROM batches b WHERE b.id = $1";

pub fn settings(max_concurrent: u32) -> BatchSettings {
    let id = BatchId::new();
    BatchSettings::new(id, Some("Conformance".into()), Some(max_concurrent as i64), None, None, None)
        .expect("valid settings")
}

pub fn new_job(name: &str, duration: Option<f64>) -> NewJob {
    let job_id = JobId::new();
    NewJob {
        job_id,
        session_id: SessionId::new(),
        original_filename: format!("{name}.mp4"),
        session_name: name.to_string(),
        file_path: Job::upload_path(job_id, "mp4"),
        media_duration: duration,
    }
}

/// A batch with `n` queued jobs (10 media seconds each), not started.
pub async fn pending_batch(store: &DynStore, n: usize, max_concurrent: u32) -> (BatchId, Vec<JobId>) {
    let id = BatchId::new();
    store.create_batch(id, &settings(max_concurrent)).await.expect("create batch");
    let jobs = (0..n).map(|i| new_job(&format!("video_{i:03}"), Some(10.0))).collect::<Vec<_>>();
    let added = store.add_jobs(id, jobs).await.expect("add jobs");
    (id, added.iter().map(|j| j.job_id).collect())
}

/// A started batch with `n` queued jobs.
pub async fn started_batch(store: &DynStore, n: usize, max_concurrent: u32) -> (BatchId, Vec<JobId>) {
    let (id, jobs) = pending_batch(store, n, max_concurrent).await;
    store.start_batch(id).await.expect("start batch");
    (id, jobs)
}

/// Polls `check` until it returns `Some`, failing the test after `within`.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {within:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every event of the store, oldest first.
pub async fn all_events(store: &DynStore) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::new();
    loop {
        let after = out.last().map(|e| e.seq).unwrap_or(0);
        let page = store.events_after(after, None, 500).await.expect("events_after");
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

/// The job of a job event.
pub fn job_of(e: &Event) -> Option<&Job> {
    match &e.data {
        EventData::Job(j) => Some(j),
        EventData::Batch(_) | EventData::Deleted { .. } | EventData::Segments(_) => None,
    }
}

/// The summary of a batch event.
pub fn batch_of(e: &Event) -> Option<&BatchSummary> {
    match &e.data {
        EventData::Batch(b) => Some(b),
        EventData::Job(_) | EventData::Deleted { .. } | EventData::Segments(_) => None,
    }
}

pub fn job_status(e: &Event) -> Option<JobStatus> {
    job_of(e).map(|j| j.status)
}

/// Replays the job events of one batch: the most jobs that were `processing` at once.
pub fn max_processing_at_once(events: &[Event], batch: BatchId) -> usize {
    let mut processing: HashSet<JobId> = HashSet::new();
    let mut max = 0;
    for e in events.iter().filter(|e| e.batch_id() == batch) {
        let (Some(job), Some(status)) = (e.job_id(), job_status(e)) else { continue };
        if status == JobStatus::Processing {
            processing.insert(job);
        } else {
            processing.remove(&job);
        }
        max = max.max(processing.len());
    }
    max
}

/// How many times each job of the batch entered `status` (from the event log; a progress
/// update of a processing job is not a new entry).
pub fn entries_into(events: &[Event], batch: BatchId, status: JobStatus) -> HashMap<JobId, usize> {
    let mut last: HashMap<JobId, JobStatus> = HashMap::new();
    let mut counts: HashMap<JobId, usize> = HashMap::new();
    for e in events.iter().filter(|e| e.batch_id() == batch) {
        let (Some(job), Some(s)) = (e.job_id(), job_status(e)) else { continue };
        if s == status && last.get(&job) != Some(&s) {
            *counts.entry(job).or_default() += 1;
        }
        last.insert(job, s);
    }
    counts
}

/// Sequence numbers strictly increase.
pub fn assert_monotonic(events: &[Event]) {
    for w in events.windows(2) {
        assert!(w[0].seq < w[1].seq, "event seq {} followed by {}", w[0].seq, w[1].seq);
    }
}
