//! Prometheus metrics. Gauges (jobs by status, queue depth, batches, workers) are read from the
//! store at scrape time; counters (transitions, processing seconds, audio seconds) are fed by a
//! collector that follows the event stream from the moment the server starts.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;

use futures::StreamExt;
use vidscribe_core::{BatchId, BatchStatus, EventData, JobId, JobStatus};

use crate::error::ApiResult;
use crate::state::AppState;

#[derive(Debug, Default)]
pub struct Metrics {
    pub sse_clients: AtomicI64,
    inner: Mutex<Counters>,
    /// Seconds × 1000, summed (atomics keep the scrape lock-free).
    processing_millis: AtomicU64,
    audio_millis: AtomicU64,
}

#[derive(Debug, Default)]
struct Counters {
    job_transitions: HashMap<&'static str, u64>,
    batch_transitions: HashMap<&'static str, u64>,
    last_job_status: HashMap<JobId, JobStatus>,
    last_batch_status: HashMap<BatchId, BatchStatus>,
}

impl Metrics {
    /// Records one event; only status changes count as transitions (progress updates do not).
    pub fn observe(&self, data: &EventData) {
        match data {
            EventData::Job(job) => {
                let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
                let prev = c.last_job_status.insert(job.job_id, job.status);
                if prev == Some(job.status) {
                    return;
                }
                *c.job_transitions.entry(job.status.as_str()).or_default() += 1;
                if job.status.is_terminal() {
                    c.last_job_status.remove(&job.job_id);
                }
                drop(c);
                if prev == Some(JobStatus::Processing) && job.status.is_terminal() {
                    if let (Some(s), Some(e)) = (job.started_at, job.completed_at) {
                        let ms = (e - s).num_milliseconds().max(0) as u64;
                        self.processing_millis.fetch_add(ms, Ordering::Relaxed);
                    }
                }
                if job.status == JobStatus::Completed {
                    if let Some(d) = job.media_duration.filter(|d| d.is_finite() && *d > 0.0) {
                        self.audio_millis.fetch_add((d * 1000.0) as u64, Ordering::Relaxed);
                    }
                }
            }
            EventData::Batch(batch) => {
                let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
                if c.last_batch_status.insert(batch.batch_id, batch.status) != Some(batch.status) {
                    *c.batch_transitions.entry(batch.status.as_str()).or_default() += 1;
                }
            }
            EventData::Deleted { batch_id } => {
                let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
                c.last_batch_status.remove(batch_id);
            }
            // Part of a transcript, not a transition.
            EventData::Segments(_) => {}
        }
    }
}

/// Follows the store's events (from now on) into the counters until the server stops.
pub fn spawn_collector(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let rx = state.store.subscribe();
        let cursor = match state.store.last_event_seq().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "metrics collector: cannot read the event log");
                return;
            }
        };
        let events = vidscribe_store::follow::follow(state.store.clone(), rx, None, cursor, 1000);
        let mut events = std::pin::pin!(events.take_until(state.shutdown.clone().cancelled_owned()));
        while let Some(e) = events.next().await {
            state.metrics.observe(&e.data);
        }
    })
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The Prometheus text exposition.
pub async fn render(state: &AppState) -> ApiResult<String> {
    let batches = state.store.list_batches().await?;
    let workers = state.store.list_workers().await?;
    let mut jobs: HashMap<JobStatus, u64> = HashMap::new();
    let mut by_batch: HashMap<BatchStatus, u64> = HashMap::new();
    let mut queue_depth = 0u64;
    for b in &batches {
        *by_batch.entry(b.status).or_default() += 1;
        let p = &b.progress;
        for (s, n) in [
            (JobStatus::Queued, p.queued_jobs),
            (JobStatus::Processing, p.processing_jobs),
            (JobStatus::Completed, p.completed_jobs),
            (JobStatus::Failed, p.failed_jobs),
            (JobStatus::Skipped, p.skipped_jobs),
            (JobStatus::Cancelled, p.cancelled_jobs),
        ] {
            *jobs.entry(s).or_default() += n;
        }
        if b.status == BatchStatus::Processing {
            queue_depth += p.queued_jobs;
        }
    }
    let m = &state.metrics;
    let mut out = String::with_capacity(2048);
    family(&mut out, "vidscribe_jobs", "gauge", "Jobs by status.");
    for s in JobStatus::ALL {
        let _ = writeln!(out, "vidscribe_jobs{{status=\"{s}\"}} {}", jobs.get(s).copied().unwrap_or(0));
    }
    family(&mut out, "vidscribe_batches", "gauge", "Batches by status.");
    for s in BatchStatus::ALL {
        let _ = writeln!(out, "vidscribe_batches{{status=\"{s}\"}} {}", by_batch.get(s).copied().unwrap_or(0));
    }
    family(&mut out, "vidscribe_queue_depth", "gauge", "Queued jobs of processing batches, waiting for a worker slot.");
    let _ = writeln!(out, "vidscribe_queue_depth {queue_depth}");
    {
        let c = m.inner.lock().unwrap_or_else(|p| p.into_inner());
        family(
            &mut out,
            "vidscribe_job_transitions_total",
            "counter",
            "Job status changes seen since the server started, by new status.",
        );
        for s in JobStatus::ALL {
            let _ = writeln!(
                out,
                "vidscribe_job_transitions_total{{to=\"{s}\"}} {}",
                c.job_transitions.get(s.as_str()).copied().unwrap_or(0)
            );
        }
        family(
            &mut out,
            "vidscribe_batch_transitions_total",
            "counter",
            "Batch status changes seen since the server started, by new status.",
        );
        for s in BatchStatus::ALL {
            let _ = writeln!(
                out,
                "vidscribe_batch_transitions_total{{to=\"{s}\"}} {}",
                c.batch_transitions.get(s.as_str()).copied().unwrap_or(0)
            );
        }
    }
    family(
        &mut out,
        "vidscribe_processing_seconds_total",
        "counter",
        "Wall-clock seconds jobs spent processing (finished jobs).",
    );
    let _ = writeln!(
        out,
        "vidscribe_processing_seconds_total {:.3}",
        m.processing_millis.load(Ordering::Relaxed) as f64 / 1000.0
    );
    family(&mut out, "vidscribe_audio_seconds_total", "counter", "Seconds of media transcribed by completed jobs.");
    let _ =
        writeln!(out, "vidscribe_audio_seconds_total {:.3}", m.audio_millis.load(Ordering::Relaxed) as f64 / 1000.0);
    family(&mut out, "vidscribe_workers", "gauge", "Registered worker processes.");
    let _ = writeln!(out, "vidscribe_workers {}", workers.len());
    family(&mut out, "vidscribe_worker_slots", "gauge", "Worker slots of registered workers.");
    let _ = writeln!(out, "vidscribe_worker_slots {}", workers.iter().map(|w| u64::from(w.slots)).sum::<u64>());
    family(&mut out, "vidscribe_sse_clients", "gauge", "Connected Server-Sent Events clients.");
    let _ = writeln!(out, "vidscribe_sse_clients {}", m.sse_clients.load(Ordering::Relaxed));
    family(&mut out, "vidscribe_last_event_seq", "gauge", "Sequence number of the newest event.");
    let _ = writeln!(out, "vidscribe_last_event_seq {}", state.store.last_event_seq().await?);
    Ok(out)
}
