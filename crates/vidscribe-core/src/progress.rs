//! Batch progress and ETA.
//!
//! Progress % = (finished jobs + Σ running fraction) / (jobs not skipped or cancelled), so
//! it reaches 100.0 when every job has ended, failed ones included. The ETA comes from
//! audio-seconds throughput (media seconds transcribed per wall second since start),
//! not from "average job time", so one long file does not distort it.
//!
//! The throughput window starts when the batch starts, and starts again (done seconds back
//! to 0) when a retry re-opens a batch that had finished: the time the batch sat finished is
//! not transcription time, and counting it would make the ETA of the re-run far too long.
//! A retry inside a batch that is still processing keeps the window: the batch never
//! stopped. Where an unknown media duration is estimated is told at [`media_totals`].

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

/// The media-second bookkeeping a batch row keeps (see the `batches` table).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MediaCounters {
    /// Σ media seconds of the queued jobs whose duration is known.
    pub queued_seconds: f64,
    /// How many queued jobs have no known duration (the probe could not tell).
    pub queued_unknown: u64,
    /// Media seconds the engine got through since the batch (re)started: each job that
    /// ended counts `duration × progress` as it ended (a completed job its whole duration;
    /// a failed or cancelled one only the part it had transcribed, so a file that fails at
    /// once does not pass for fast transcription).
    pub done_seconds: f64,
}

/// The media totals behind the ETA, from the batch row's counters and its running jobs
/// (`(fraction, duration)` each). `queued_jobs` is the batch's count of queued jobs.
///
/// A job whose duration is unknown counts as the average duration of the jobs still to run
/// whose duration is known (queued and running): the best guess the counters allow, where
/// counting it as 0 would hide its work and show an ETA that is too short (down to
/// "00:00:00" with every job still to do when no duration is known). When some job still to
/// run has an unknown duration and none has a known one, there is nothing to base a guess
/// on: `None`, and the ETA is unknown rather than wrong.
pub fn media_totals(counters: MediaCounters, queued_jobs: u64, running: &[(f64, Option<f64>)]) -> Option<MediaTotals> {
    let queued_unknown = counters.queued_unknown.min(queued_jobs);
    let running_known = running.iter().filter_map(|(_, d)| *d).filter(|d| d.is_finite());
    let known_jobs = (queued_jobs - queued_unknown) + running_known.clone().count() as u64;
    let known_seconds = counters.queued_seconds + running_known.sum::<f64>();
    let unknown_jobs = queued_unknown + running.iter().filter(|(_, d)| !d.is_some_and(f64::is_finite)).count() as u64;
    let average = if known_jobs > 0 {
        (known_seconds / known_jobs as f64).max(0.0)
    } else if unknown_jobs > 0 {
        return None;
    } else {
        0.0
    };
    let mut media = MediaTotals {
        remaining_seconds: counters.queued_seconds.max(0.0) + queued_unknown as f64 * average,
        done_seconds: counters.done_seconds.max(0.0),
    };
    for (p, d) in running {
        let d = d.filter(|d| d.is_finite()).unwrap_or(average).max(0.0);
        let p = if p.is_finite() { p.clamp(0.0, 1.0) } else { 0.0 };
        media.remaining_seconds += d * (1.0 - p);
        media.done_seconds += d * p;
    }
    Some(media)
}

/// Computes progress from per-status counts, the running jobs and media totals (`None`:
/// what remains cannot be estimated, so neither can the ETA).
///
/// `elapsed_seconds` is wall time since the batch (re)started processing: the throughput
/// window that `media.done_seconds` was counted over.
pub fn compute(
    counts: StatusCounts,
    running_fractions: impl IntoIterator<Item = f64>,
    media: Option<MediaTotals>,
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
        match (media, elapsed_seconds) {
            (Some(media), Some(elapsed)) if elapsed > 0.5 && media.done_seconds > 0.0 => {
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

    fn counts(queued: u64, processing: u64, completed: u64, failed: u64, skipped: u64) -> StatusCounts {
        StatusCounts { queued, processing, completed, failed, skipped, cancelled: 0 }
    }

    fn known(queued_seconds: f64, done_seconds: f64) -> MediaCounters {
        MediaCounters { queued_seconds, queued_unknown: 0, done_seconds }
    }

    fn totals(remaining_seconds: f64, done_seconds: f64) -> Option<MediaTotals> {
        Some(MediaTotals { remaining_seconds, done_seconds })
    }

    #[test]
    fn progress_reaches_100_when_every_job_ended_failed_ones_included() {
        let p = compute(counts(0, 0, 1, 1, 1), [], totals(0.0, 20.0), Some(20.0));
        assert_eq!(p.progress_percentage, 100.0);
        assert_eq!(p.failed_jobs, 1);
        assert_eq!(p.skipped_jobs, 1);
        assert_eq!(p.total_jobs, 3);
        assert_eq!(p.estimated_remaining, None);
    }

    #[test]
    fn running_jobs_count_by_their_fraction() {
        let p = compute(counts(2, 1, 1, 0, 0), [0.5], totals(25.0, 15.0), Some(10.0));
        assert_eq!(p.progress_percentage, 37.5);
        assert_eq!(p.processing_jobs, 1);
        assert_eq!(p.queued_jobs, 2);
    }

    #[test]
    fn eta_comes_from_audio_seconds_throughput() {
        // One 10 s job completed, a 10 s one half done, a 20 s one queued: 15 media seconds
        // done in 10 wall seconds → 1.5 s/s; 25 remain → 16.7 s.
        let media = media_totals(known(20.0, 10.0), 1, &[(0.5, Some(10.0))]);
        assert_eq!(media, totals(25.0, 15.0));
        let p = compute(counts(1, 1, 1, 0, 0), [0.5], media, Some(10.0));
        assert_eq!(p.estimated_remaining.as_deref(), Some("00:00:17"));
        // Twice the wall time for the same work: half the throughput, twice the ETA.
        let p = compute(counts(1, 1, 1, 0, 0), [0.5], media, Some(20.0));
        assert_eq!(p.estimated_remaining.as_deref(), Some("00:00:33"));
    }

    #[test]
    fn eta_is_unknown_before_anything_was_transcribed() {
        let media = media_totals(known(10.0, 0.0), 1, &[(0.0, Some(10.0))]);
        let p = compute(counts(1, 1, 0, 0, 0), [0.0], media, Some(3.0));
        assert_eq!(p.estimated_remaining, None);
        assert_eq!(p.progress_percentage, 0.0);
        // Nor in the first half second, however much is done.
        let p = compute(counts(1, 1, 0, 0, 0), [0.5], totals(15.0, 5.0), Some(0.4));
        assert_eq!(p.estimated_remaining, None);
    }

    #[test]
    fn an_unknown_duration_counts_as_the_average_of_the_known_ones_still_to_run() {
        // Queued: a 300 s job and one of unknown length; running: a 100 s job half done.
        // The unknown one counts as (300 + 100) / 2 = 200 s.
        let c = MediaCounters { queued_seconds: 300.0, queued_unknown: 1, done_seconds: 100.0 };
        let media = media_totals(c, 2, &[(0.5, Some(100.0))]);
        assert_eq!(media, totals(300.0 + 200.0 + 50.0, 100.0 + 50.0));
        // 150 media seconds in 30 s → 5 s/s; 550 remain → 110 s.
        let p = compute(counts(2, 1, 1, 0, 0), [0.5], media, Some(30.0));
        assert_eq!(p.estimated_remaining.as_deref(), Some("00:01:50"));

        // A running job of unknown length counts as the average too, for both sides.
        let c = MediaCounters { queued_seconds: 40.0, queued_unknown: 0, done_seconds: 0.0 };
        let media = media_totals(c, 2, &[(0.25, None)]);
        assert_eq!(media, totals(40.0 + 15.0, 5.0));
    }

    #[test]
    fn with_no_known_duration_to_go_by_the_eta_is_unknown_not_zero() {
        // Every job still to run has an unknown duration: no estimate, rather than 00:00:00.
        let c = MediaCounters { queued_seconds: 0.0, queued_unknown: 3, done_seconds: 120.0 };
        assert_eq!(media_totals(c, 3, &[(0.5, None)]), None);
        let p = compute(counts(3, 1, 2, 0, 0), [0.5], None, Some(60.0));
        assert_eq!(p.estimated_remaining, None);
        assert_eq!(p.progress_percentage, 41.7, "progress does not need durations");
        // Nothing left to run at all is not "unknown": nothing remains.
        assert_eq!(media_totals(known(0.0, 50.0), 0, &[]), totals(0.0, 50.0));
    }

    #[test]
    fn progress_never_shows_100_while_work_remains() {
        let p = compute(counts(0, 1, 2000, 0, 0), [0.99], totals(0.01, 2000.99), Some(1.0));
        assert!(p.progress_percentage < 100.0, "{}", p.progress_percentage);
        assert_eq!(p.progress_percentage, 99.9);
    }

    #[test]
    fn an_empty_batch_is_at_zero() {
        let p = compute(StatusCounts::default(), [], media_totals(MediaCounters::default(), 0, &[]), None);
        assert_eq!(p.progress_percentage, 0.0);
        assert_eq!(p.total_jobs, 0);
        assert_eq!(p.estimated_remaining, None);
    }

    #[test]
    fn job_progress_never_goes_back_across_stages() {
        use crate::status::JobStage::*;
        let steps = [
            (LoadingModel, 0.0),
            (Decoding, 0.0),
            (Decoding, 0.5),
            (Decoding, 1.0),
            (Transcribing, 0.0),
            (Transcribing, 0.5),
            (Writing, 0.0),
        ];
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
