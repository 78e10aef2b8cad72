//! Claim throughput: jobs/s through claim → complete with 1, 2 and 4 concurrent worker
//! loops, each on its own store instance (as separate worker processes would be), on
//! PostgreSQL and on SQLite side by side. The "transcriber" is instant, so this measures
//! the store: a claim transaction, a completion transaction, their events and the
//! cross-node event feed.
//!
//! `cargo bench -p vidscribe-store --bench claim_throughput [-- JOBS]`
//! PostgreSQL from `VIDSCRIBE_TEST_POSTGRES_URL` (default postgres://postgres@127.0.0.1:5432/test),
//! in a throw-away schema. With `BENCH_JSONL=PATH`, each row is also appended to PATH as a
//! JSON line (read by bench/report).

use std::sync::Arc;
use std::time::{Duration, Instant};

use vidscribe_core::{BatchId, BatchSettings, BatchStatus, Job, JobId, SessionId};
use vidscribe_store::postgres::{PgConfig, PgStore};
use vidscribe_store::sqlite::SqliteStore;
use vidscribe_store::{DynStore, NewJob};

const LEASE: Duration = Duration::from_secs(60);

enum Db {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

impl Db {
    async fn open(&self) -> DynStore {
        match self {
            Db::Sqlite(p) => Arc::new(SqliteStore::open(p).await.expect("sqlite")),
            Db::Postgres(url) => Arc::new(
                PgStore::connect_with(url, PgConfig { max_connections: 4, ..PgConfig::default() })
                    .await
                    .expect("postgres"),
            ),
        }
    }
}

/// Runs `jobs` jobs with `loops` worker loops (max_concurrent = 16, so the limit never binds).
async fn run(db: &Db, loops: usize, jobs: usize) -> f64 {
    let setup = db.open().await;
    let id = BatchId::new();
    let settings = BatchSettings::new(id, Some("bench".into()), Some(16), None, None, None).unwrap();
    setup.create_batch(id, &settings).await.unwrap();
    let new_jobs: Vec<NewJob> = (0..jobs)
        .map(|i| {
            let job_id = JobId::new();
            NewJob {
                job_id,
                session_id: SessionId::new(),
                original_filename: format!("v{i}.mp4"),
                session_name: format!("V{i}"),
                file_path: Job::upload_path(job_id, "mp4"),
                media_duration: Some(60.0),
            }
        })
        .collect();
    for chunk in new_jobs.chunks(500) {
        setup.add_jobs(id, chunk.to_vec()).await.unwrap();
    }
    let mut stores = Vec::new();
    for _ in 0..loops {
        stores.push(db.open().await);
    }
    setup.start_batch(id).await.unwrap();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (n, store) in stores.iter().enumerate() {
        let store = store.clone();
        tasks.spawn(async move {
            let worker = format!("bench-{n}/1");
            let mut done = 0usize;
            loop {
                match store.claim(&worker, LEASE).await {
                    Ok(Some(c)) => {
                        store.complete(&c, None).await.expect("complete");
                        done += 1;
                    }
                    Ok(None) => {
                        if store.batch_summary(id).await.unwrap().status != BatchStatus::Processing {
                            return done;
                        }
                        tokio::task::yield_now().await;
                    }
                    Err(e) if e.is_transient() => tokio::time::sleep(Duration::from_millis(1)).await,
                    Err(e) => panic!("claim: {e}"),
                }
            }
        });
    }
    let mut total = 0;
    while let Some(r) = tasks.join_next().await {
        total += r.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(total, jobs);
    for s in stores {
        s.close().await;
    }
    setup.close().await;
    jobs as f64 / secs
}

/// Appends `line` to `$BENCH_JSONL` when set (machine-readable copy of a printed row).
fn emit(line: serde_json::Value) {
    if let Some(path) = std::env::var_os("BENCH_JSONL") {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("BENCH_JSONL");
        writeln!(f, "{line}").expect("BENCH_JSONL");
    }
}

fn main() {
    let jobs: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(500);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let base = std::env::var("VIDSCRIBE_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let schema = format!("bench_{}", uuid::Uuid::now_v7().simple());
        let admin = sqlx::PgPool::connect(&base).await.expect("PostgreSQL for the benchmark");
        let dir = tempfile::tempdir().unwrap();
        println!("claim throughput: {jobs} jobs per run, claim + complete each, instant transcriber");
        println!("{:>14} {:>14} {:>22} {:>14}", "worker loops", "postgres j/s", "pg sync_commit=off j/s", "sqlite j/s");
        for loops in [1usize, 2, 4] {
            // `BENCH_SQLITE_ONLY=1` skips PostgreSQL (quick iterations on the SQLite backend).
            let (pg_rate, pg_async_rate) = if std::env::var_os("BENCH_SQLITE_ONLY").is_some() {
                (f64::NAN, f64::NAN)
            } else {
                // A fresh schema / file per run, so earlier runs do not weigh on later ones.
                let s = format!("{schema}_{loops}");
                sqlx::query(&format!("CREATE SCHEMA {s}")).execute(&admin).await.unwrap();
                let sep = if base.contains('?') { '&' } else { '?' };
                let pg = Db::Postgres(format!("{base}{sep}options=-c%20search_path%3D{s}"));
                let pg_rate = run(&pg, loops, jobs).await;
                sqlx::query(&format!("DROP SCHEMA {s} CASCADE")).execute(&admin).await.unwrap();
                // The same without waiting for a WAL flush per commit (closer to SQLite's
                // synchronous=NORMAL): shows how much of the cost is the disk's fsync.
                sqlx::query(&format!("CREATE SCHEMA {s}")).execute(&admin).await.unwrap();
                let pg_async = Db::Postgres(format!("{base}{sep}options=-c%20search_path%3D{s}%20-c%20synchronous_commit%3Doff"));
                let pg_async_rate = run(&pg_async, loops, jobs).await;
                sqlx::query(&format!("DROP SCHEMA {s} CASCADE")).execute(&admin).await.unwrap();
                (pg_rate, pg_async_rate)
            };
            let lite = Db::Sqlite(dir.path().join(format!("bench-{loops}.db")));
            let lite_rate = run(&lite, loops, jobs).await;
            println!("{loops:>14} {pg_rate:>14.0} {pg_async_rate:>22.0} {lite_rate:>14.0}");
            emit(serde_json::json!({
                "bench": "claim_throughput", "jobs": jobs, "loops": loops,
                "postgres_jobs_per_s": pg_rate, "postgres_async_commit_jobs_per_s": pg_async_rate, "sqlite_jobs_per_s": lite_rate,
            }));
        }
        admin.close().await;
    });
}
