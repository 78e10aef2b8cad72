//! Batch progress and ETA.
//!
//! Progress % = (finished jobs + Σ running fraction) / (jobs not skipped or cancelled), so
//! it reaches 100.0 when every job has ended, failed ones included. The ETA comes from
//! audio-seconds throughput (media seconds transcribed per wall second since start),
//! not from "average job time", so one long file does not distort it.

use serde::{Deserialize, Serialize};

use crate::status::JobStatus;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct BatchProgress {
    pub total_jobs: u64,
    pub queued_jobs: u64,
    pub completed_jobs: u64,
    pub failed_jobs: u64,
    pub processing_jobs: u64,
    pub skipped_jobs: u64,
    pub cancelled_jobs: u64,
    pub progress_percentage: f64,
    /// `HH:MM:SS`, or `None` when nothing remains or nothing is known yet.
    pub estimated_remaining: Option<String>,
}

/// What progress needs to know about one job.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JobProgressInput {
    pub status: JobStatus,
    /// 0..=1, meaningful while processing.
    pub progress: f64,
    pub media_duration: Option<f64>,
}

/// Counts kept per batch, so progress can be computed without reading every job.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StatusCounts {
    pub queued: u64,
    pub processing: u64,
    pub completed: u64,
    pub failed: u64,
    pub skipped: u64,
    pub cancelled: u64,
}

impl StatusCounts {
    pub fn total(&self) -> u64 {
        self.queued + self.processing + self.completed + self.failed + self.skipped + self.cancelled
    }

    pub fn get(&self, s: JobStatus) -> u64 {
        match s {
            JobStatus::Queued => self.queued,
            JobStatus::Processing => self.processing,
            JobStatus::Completed => self.completed,
            JobStatus::Failed => self.failed,
            JobStatus::Skipped => self.skipped,
            JobStatus::Cancelled => self.cancelled,
        }
    }

    pub fn add(&mut self, s: JobStatus, n: i64) {
        let slot = match s {
            JobStatus::Queued => &mut self.queued,
            JobStatus::Processing => &mut self.processing,
            JobStatus::Completed => &mut self.completed,
            JobStatus::Failed => &mut self.failed,
            JobStatus::Skipped => &mut self.skipped,
            JobStatus::Cancelled => &mut self.cancelled,
        };
        *slot = (*slot as i64 + n).max(0) as u64;
    }

    pub fn from_jobs<'a>(jobs: impl IntoIterator<Item = &'a JobStatus>) -> Self {
        let mut c = Self::default();
        for s in jobs {
            c.add(*s, 1);
        }
        c
    }
}

/// Aggregate media seconds used for the ETA.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MediaTotals {
    /// Media seconds of jobs still to run (queued) plus the unfinished part of running ones.
    pub remaining_seconds: f64,
    /// Media seconds transcribed since the batch (re)started: finished jobs plus done part of running ones.
    pub done_seconds: f64,
}

/// Computes progress from per-status counts, the running jobs and media totals.
///
/// `elapsed_seconds` is wall time since the batch started processing.
pub fn compute(
    counts: StatusCounts,
    running_fractions: impl IntoIterator<Item = f64>,
    media: MediaTotals,
    elapsed_seconds: Option<f64>,
) -> BatchProgress {
    let denominator = counts.total() - counts.skipped - counts.cancelled;
    let finished = (counts.completed + counts.failed) as f64;
    let running: f64 = running_fractions.into_iter().map(|p| p.clamp(0.0, 1.0)).sum();
    let remaining_jobs = counts.queued + counts.processing;
    let progress_percentage = if remaining_jobs == 0 && counts.total() > 0 {
        100.0
    } else if denominator == 0 {
        0.0
    } else {
        let pct = (finished + running) / denominator as f64 * 100.0;
        // Never show 100 while something is still to do.
        (pct * 10.0).round().clamp(0.0, 999.0) / 10.0
    }
    .min(if remaining_jobs == 0 { 100.0 } else { 99.9 });

    let estimated_remaining = if remaining_jobs == 0 {
        None
    } else {
        match elapsed_seconds {
            Some(elapsed) if elapsed > 0.5 && media.done_seconds > 0.0 => {
                let throughput = media.done_seconds / elapsed;
                Some(format_hms(media.remaining_seconds.max(0.0) / throughput))
            }
            _ => None,
        }
    };

    BatchProgress {
        total_jobs: counts.total(),
        queued_jobs: counts.queued,
        completed_jobs: counts.completed,
        failed_jobs: counts.failed,
        processing_jobs: counts.processing,
        skipped_jobs: counts.skipped,
        cancelled_jobs: counts.cancelled,
        progress_percentage,
        estimated_remaining,
    }
}

/// Convenience for callers that hold every job (tests, small batches).
pub fn compute_from_jobs(jobs: &[JobProgressInput], elapsed_seconds: Option<f64>) -> BatchProgress {
    let counts = StatusCounts::from_jobs(jobs.iter().map(|j| &j.status));
    let known: Vec<f64> = jobs.iter().filter_map(|j| j.media_duration).collect();
    // A job whose duration is unknown counts as the average known one.
    let fallback = if known.is_empty() { 0.0 } else { known.iter().sum::<f64>() / known.len() as f64 };
    let mut media = MediaTotals::default();
    for j in jobs {
        let d = j.media_duration.unwrap_or(fallback);
        match j.status {
            JobStatus::Queued => media.remaining_seconds += d,
            JobStatus::Processing => {
                media.remaining_seconds += d * (1.0 - j.progress.clamp(0.0, 1.0));
                media.done_seconds += d * j.progress.clamp(0.0, 1.0);
            }
            JobStatus::Completed | JobStatus::Failed => media.done_seconds += d,
            JobStatus::Skipped | JobStatus::Cancelled => {}
        }
    }
    let running = jobs.iter().filter(|j| j.status == JobStatus::Processing).map(|j| j.progress);
    compute(counts, running, media, elapsed_seconds)
}

/// One job's overall progress from the engine's (stage, fraction of that stage): decoding
/// is the first tenth, transcription the rest, so the bar never jumps back when the
/// engine moves from decoding (0→1) to transcribing (0→1).
pub fn job_fraction(stage: crate::status::JobStage, fraction: f64) -> f64 {
    use crate::status::JobStage::*;
    let f = if fraction.is_finite() { fraction.clamp(0.0, 1.0) } else { 0.0 };
    match stage {
        Waiting | LoadingModel => 0.0,
        Decoding => 0.1 * f,
        Transcribing => 0.1 + 0.9 * f,
        Writing | Done => 1.0,
    }
}

/// `HH:MM:SS`; hours grow past 99 rather than wrapping.
pub fn format_hms(seconds: f64) -> String {
    let total = if seconds.is_finite() { seconds.round().max(0.0) as u64 } else { 0 };
    format!("{:02}:{:02}:{:02}", total / 3600, (total / 60) % 60, total % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use JobStatus::*;

    fn job(status: JobStatus, progress: f64, d: f64) -> JobProgressInput {
        JobProgressInput { status, progress, media_duration: Some(d) }
    }

    #[test]
    fn progress_reaches_100_when_every_job_ended_failed_ones_included() {
        let p = compute_from_jobs(&[job(Completed, 1.0, 10.0), job(Failed, 0.0, 10.0), job(Skipped, 0.0, 5.0)], Some(20.0));
        assert_eq!(p.progress_percentage, 100.0);
        assert_eq!(p.failed_jobs, 1);
        assert_eq!(p.estimated_remaining, None);
    }

    #[test]
    fn running_jobs_count_by_their_fraction() {
        let p = compute_from_jobs(&[job(Completed, 1.0, 10.0), job(Processing, 0.5, 10.0), job(Queued, 0.0, 10.0), job(Queued, 0.0, 10.0)], Some(10.0));
        assert_eq!(p.progress_percentage, 37.5);
        assert_eq!(p.processing_jobs, 1);
    }

    #[test]
    fn eta_comes_from_audio_seconds_throughput() {
        // 15 media seconds done in 10 wall seconds → 1.5 s/s; 25 remain → ~16.7 s.
        let p = compute_from_jobs(&[job(Completed, 1.0, 10.0), job(Processing, 0.5, 10.0), job(Queued, 0.0, 20.0)], Some(10.0));
        assert_eq!(p.estimated_remaining.as_deref(), Some("00:00:17"));
    }

    #[test]
    fn eta_is_unknown_before_anything_was_transcribed() {
        let p = compute_from_jobs(&[job(Processing, 0.0, 10.0), job(Queued, 0.0, 10.0)], Some(3.0));
        assert_eq!(p.estimated_remaining, None);
        assert_eq!(p.progress_percentage, 0.0);
    }

    #[test]
    fn progress_never_shows_100_while_work_remains() {
        let mut jobs = vec![job(Completed, 1.0, 1.0); 2000];
        jobs.push(job(Processing, 0.99, 1.0));
        let p = compute_from_jobs(&jobs, Some(1.0));
        assert!(p.progress_percentage < 100.0, "{}", p.progress_percentage);
    }

    #[test]
    fn an_empty_batch_is_at_zero() {
        let p = compute_from_jobs(&[], None);
        assert_eq!(p.progress_percentage, 0.0);
        assert_eq!(p.total_jobs, 0);
    }

    #[test]
    fn job_progress_never_goes_back_across_stages() {
        use crate::status::JobStage::*;
        let steps = [(LoadingModel, 0.0), (Decoding, 0.0), (Decoding, 0.5), (Decoding, 1.0), (Transcribing, 0.0), (Transcribing, 0.5), (Writing, 0.0)];
        let values: Vec<f64> = steps.iter().map(|(s, f)| job_fraction(*s, *f)).collect();
        assert!(values.windows(2).all(|w| w[0] <= w[1]), "{values:?}");
        assert_eq!(values.last(), Some(&1.0));
    }

    #[test]
    fn hms_formatting() {
        assert_eq!(format_hms(0.0), "00:00:00");
        assert_eq!(format_hms(161.0), "00:02:41");
        assert_eq!(format_hms(3600.0 * 125.0 + 61.4), "125:01:01");
        assert_eq!(format_hms(f64::NAN), "00:00:00");
    }
}
