//! Live display of one batch, shared by `transcribe` (fed by the store's events) and
//! `batch watch` (fed by SSE): one progress bar per running job plus an overall bar with
//! ETA on a terminal, or one plain line per transition otherwise.
//!
//! It takes the core's types (jobs, batch summaries and full batches): `transcribe` has them
//! from the store, `batch watch` reads them from the SSE `data:` with serde, so both callers
//! feed it the same way.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use vidscribe_core::{Batch, BatchProgress, BatchStatus, BatchSummary, Job, JobStage, JobStatus};

/// Which stream the display writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// What one job looks like to the display.
#[derive(Debug, Clone, PartialEq)]
pub struct JobView {
    pub id: String,
    pub name: String,
    pub status: JobStatus,
    pub stage: Option<JobStage>,
    pub progress: f64,
    pub media_duration: Option<f64>,
    pub error: Option<String>,
}

impl From<&Job> for JobView {
    fn from(j: &Job) -> Self {
        JobView {
            id: j.job_id.to_string(),
            name: j.original_filename.clone(),
            status: j.status,
            stage: j.stage,
            progress: j.progress.clamp(0.0, 1.0),
            media_duration: j.media_duration,
            error: j.error_message.clone(),
        }
    }
}

/// What the batch looks like to the display.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchView {
    pub status: BatchStatus,
    pub total_jobs: u64,
    pub done_jobs: u64,
    pub failed_jobs: u64,
    pub percentage: f64,
    pub eta: Option<String>,
    pub error: Option<String>,
}

impl BatchView {
    /// What a batch summary and a full batch both carry: status, progress, error.
    fn new(status: BatchStatus, p: &BatchProgress, error: Option<&str>) -> Self {
        BatchView {
            status,
            total_jobs: p.total_jobs,
            done_jobs: p.completed_jobs + p.failed_jobs + p.skipped_jobs + p.cancelled_jobs,
            failed_jobs: p.failed_jobs,
            percentage: p.progress_percentage,
            eta: p.estimated_remaining.clone(),
            error: error.map(str::to_string),
        }
    }

    /// The core state machine decides.
    pub fn is_terminal(&self) -> bool {
        self.status.is_terminal()
    }
}

impl From<&BatchSummary> for BatchView {
    fn from(b: &BatchSummary) -> Self {
        BatchView::new(b.status, &b.progress, b.error_message.as_deref())
    }
}

impl From<&Batch> for BatchView {
    fn from(b: &Batch) -> Self {
        BatchView::new(b.status, &b.progress, b.error_message.as_deref())
    }
}

enum Mode {
    Bars { multi: MultiProgress, overall: ProgressBar, bars: HashMap<String, ProgressBar> },
    Plain { stream: Stream },
}

pub struct Display {
    mode: Mode,
    label: String,
    jobs: HashMap<String, JobView>,
    batch: Option<BatchView>,
}

impl Display {
    /// Bars when `tty`, plain lines otherwise. `label` names the batch in plain lines.
    pub fn new(tty: bool, stream: Stream, label: impl Into<String>) -> Self {
        let mode = if tty {
            let target = match stream {
                Stream::Stdout => ProgressDrawTarget::stdout_with_hz(10),
                Stream::Stderr => ProgressDrawTarget::stderr_with_hz(10),
            };
            let multi = MultiProgress::with_draw_target(target);
            let overall = multi.add(ProgressBar::new(1000));
            overall.set_style(
                ProgressStyle::with_template("{prefix:>24.bold} [{bar:40.green/white}] {percent:>3}% {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            overall.set_prefix("overall");
            overall.enable_steady_tick(Duration::from_millis(250));
            Mode::Bars { multi, overall, bars: HashMap::new() }
        } else {
            Mode::Plain { stream }
        };
        Display { mode, label: label.into(), jobs: HashMap::new(), batch: None }
    }

    /// A full batch (snapshot): records every job and the batch without announcing transitions
    /// that happened before we looked, but prints the current state in plain mode.
    pub fn snapshot(&mut self, batch: &Batch) {
        let b = BatchView::from(batch);
        if self.batch.is_none() {
            self.line(&format!("batch {}: {}", self.label, b.status));
        }
        self.set_batch(b, false);
        for j in batch.jobs.iter().map(JobView::from) {
            let known = self.jobs.contains_key(&j.id);
            self.update_job(j, known);
        }
    }

    /// A job changed.
    pub fn job(&mut self, job: &Job) {
        self.update_job(JobView::from(job), true);
    }

    /// A batch summary changed.
    pub fn batch(&mut self, summary: &BatchSummary) {
        self.set_batch(BatchView::from(summary), true);
    }

    pub fn batch_view(&self) -> Option<&BatchView> {
        self.batch.as_ref()
    }

    pub fn jobs(&self) -> impl Iterator<Item = &JobView> {
        self.jobs.values()
    }

    /// A message above the bars (or a plain line).
    pub fn note(&self, text: &str) {
        self.line(text);
    }

    /// Removes the bars (the last drawn state stays out of the way of what follows).
    pub fn finish(&mut self) {
        if let Mode::Bars { multi, overall, bars } = &mut self.mode {
            for (_, bar) in bars.drain() {
                bar.finish_and_clear();
            }
            overall.finish();
            let _ = multi.clear();
        }
    }

    fn set_batch(&mut self, b: BatchView, announce: bool) {
        let previous = self.batch.as_ref().map(|p| p.status);
        if announce {
            if let Some(prev) = &previous {
                if *prev != b.status {
                    let mut text = format!("batch {}: {prev} -> {}", self.label, b.status);
                    if let Some(e) = &b.error {
                        text.push_str(&format!(" ({e})"));
                    }
                    self.line(&text);
                }
            } else {
                self.line(&format!("batch {}: {}", self.label, b.status));
            }
        }
        if let Mode::Bars { overall, .. } = &self.mode {
            overall.set_position((b.percentage * 10.0).round().clamp(0.0, 1000.0) as u64);
            let mut msg = format!("{}/{} done", b.done_jobs, b.total_jobs);
            if b.failed_jobs > 0 {
                msg.push_str(&format!(", {} failed", b.failed_jobs));
            }
            if let Some(eta) = &b.eta {
                msg.push_str(&format!(" · ETA {eta}"));
            }
            overall.set_message(msg);
        }
        self.batch = Some(b);
    }

    fn update_job(&mut self, j: JobView, announce: bool) {
        let previous = self.jobs.get(&j.id).map(|p| p.status);
        match &previous {
            Some(prev) if *prev != j.status && announce => {
                let mut text = format!("job {} {}: {prev} -> {}", short(&j.id), j.name, j.status);
                if let Some(e) = j.error.as_ref().filter(|_| j.status == JobStatus::Failed) {
                    text.push_str(&format!(": {e}"));
                }
                self.line(&text);
            }
            None => self.line(&format!("job {} {}: {}", short(&j.id), j.name, j.status)),
            _ => {}
        }
        if let Mode::Bars { multi, overall, bars } = &mut self.mode {
            if j.status == JobStatus::Processing {
                let bar = bars.entry(j.id.clone()).or_insert_with(|| {
                    let bar = multi.insert_before(overall, ProgressBar::new(1000));
                    bar.set_style(
                        ProgressStyle::with_template("{prefix:>24!} [{bar:40.cyan/blue}] {percent:>3}% {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_bar())
                            .progress_chars("=> "),
                    );
                    bar.set_prefix(truncate(base_name(&j.name), 24));
                    bar.enable_steady_tick(Duration::from_millis(250));
                    bar
                });
                bar.set_position((j.progress * 1000.0).round() as u64);
                let mut msg = j.stage.map(|s| s.as_str().replace('_', " ")).unwrap_or_default();
                if let Some(d) = j.media_duration {
                    msg.push_str(&format!(" · {}", clock(d)));
                }
                bar.set_message(msg);
            } else if let Some(bar) = bars.remove(&j.id) {
                bar.finish_and_clear();
                multi.remove(&bar);
            }
        }
        self.jobs.insert(j.id.clone(), j);
    }

    fn line(&self, text: &str) {
        match &self.mode {
            Mode::Bars { multi, .. } => {
                let _ = multi.println(text);
            }
            Mode::Plain { stream } => {
                let stamp = chrono::Local::now().format("%H:%M:%S");
                let _ = match stream {
                    Stream::Stdout => {
                        let mut o = std::io::stdout().lock();
                        writeln!(o, "[{stamp}] {text}").and_then(|()| o.flush())
                    }
                    Stream::Stderr => writeln!(std::io::stderr().lock(), "[{stamp}] {text}"),
                };
            }
        }
    }
}

/// The last 8 characters of an id: UUID v7 ids made in the same minute share their first
/// digits (a timestamp), their last ones are random.
pub fn short(id: &str) -> &str {
    id.get(id.len().saturating_sub(8)..).unwrap_or(id)
}

/// The file name of a path-like label (`talks/a.mp4` → `a.mp4`).
fn base_name(label: &str) -> &str {
    label.rsplit(['/', '\\']).next().filter(|s| !s.is_empty()).unwrap_or(label)
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let tail: String = s.chars().rev().take(n - 1).collect::<Vec<_>>().into_iter().rev().collect();
        format!("…{tail}")
    }
}

/// `m:ss` or `h:mm:ss`.
pub fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_job_is_shown_by_its_status_stage_and_clamped_progress() {
        let job: Job = serde_json::from_value(json!({
            "job_id": "0192ab3c-0000-7000-8000-00000000abcd", "batch_id": "0192ab3c-0000-7000-8000-000000000001",
            "original_filename": "talk.mp4", "session_name": "talk", "status": "processing",
            "stage": "transcribing", "progress": 1.25, "media_duration": 312.4, "attempts": 1,
            "created_at": "2025-01-02T03:04:05Z", "session_id": "0192ab3c-0000-7000-8000-000000000002",
            "results_path": "results/x", "file_path": "uploads/x.mp4"
        }))
        .unwrap();
        let j = JobView::from(&job);
        assert_eq!((j.status, j.stage), (JobStatus::Processing, Some(JobStage::Transcribing)));
        assert_eq!(
            (j.id.as_str(), j.name.as_str(), j.progress),
            ("0192ab3c-0000-7000-8000-00000000abcd", "talk.mp4", 1.0)
        );
    }

    #[test]
    fn a_batch_summary_counts_every_finished_job() {
        let summary = BatchSummary {
            batch_id: vidscribe_core::BatchId::new(),
            name: "b".into(),
            status: BatchStatus::Completed,
            created_at: chrono::Utc::now(),
            started_at: None,
            completed_at: None,
            max_concurrent: 2,
            error_message: Some("1 of 3 jobs failed".into()),
            total_jobs: 3,
            progress: BatchProgress {
                total_jobs: 3,
                completed_jobs: 2,
                failed_jobs: 1,
                progress_percentage: 100.0,
                ..BatchProgress::default()
            },
        };
        let b = BatchView::from(&summary);
        assert_eq!((b.done_jobs, b.failed_jobs), (3, 1));
        assert_eq!(b.error.as_deref(), Some("1 of 3 jobs failed"));
        assert!(b.is_terminal());
    }

    #[test]
    fn short_ids_and_bar_labels_tell_jobs_apart() {
        assert_eq!(short("0192ab3c-0000-7000-8000-00000000abcd"), "0000abcd");
        assert_eq!(base_name("talks/day 1/a.mp4"), "a.mp4");
        assert_eq!(truncate("a-very-long-file-name-indeed.mp4", 12), "…-indeed.mp4");
    }

    #[test]
    fn durations_read_like_a_clock() {
        assert_eq!(clock(11.0), "0:11");
        assert_eq!(clock(3725.0), "1:02:05");
    }
}
