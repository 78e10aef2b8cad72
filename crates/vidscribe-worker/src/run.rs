//! Running one claimed job: heartbeat alongside the blocking transcription, then outputs
//! and the final transition.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::{info, info_span, warn, Instrument};
use vidscribe_core::{
    CancelFlag, Checkpoint, FailureCode, JobStage, Resume, Segment, TranscribeError, TranscribeRequest, Transcriber,
    Transcript,
};
use vidscribe_formats::{rendered_outputs, Metadata, METADATA_FILE_NAME};
use vidscribe_storage::{DynStorage, StorageError};
use vidscribe_store::{Claim, DynStore, Failure, Heartbeat};

use crate::engine::EngineConfig;

pub(crate) struct RunContext {
    pub store: DynStore,
    pub transcriber: Arc<dyn Transcriber>,
    pub storage: DynStorage,
    pub config: Arc<EngineConfig>,
    pub worker: String,
    pub stop: watch::Receiver<bool>,
}

/// Why the cancel flag was raised; decides how the job ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum StopReason {
    None = 0,
    /// The user cancelled: the job ends `cancelled`.
    User = 1,
    /// This process is shutting down: the job goes back to `queued`.
    Shutdown = 2,
    /// Our lease was taken over: leave the job alone.
    LeaseLost = 3,
}

/// Progress shared between the blocking transcriber and the async heartbeat.
struct Shared {
    fraction_bits: AtomicU64,
    stage: AtomicU8,
    reason: AtomicU8,
    cancel: CancelFlag,
    live: Mutex<Live>,
}

/// The live transcript: what the engine handed over (an earlier attempt's first, when this
/// one resumes), the checkpoint after it, and how much of it the store has.
#[derive(Default)]
struct Live {
    segments: Vec<Segment>,
    at: Checkpoint,
    committed: usize,
}

impl Live {
    fn resuming(resume: Option<&Resume>) -> Live {
        let segments = resume.map(|r| r.segments.clone()).unwrap_or_default();
        Live { committed: segments.len(), segments, at: Checkpoint::default() }
    }

    /// Takes a window's segments. Their ids say where they go: after the resumed ones, or
    /// from 0 when the engine started again (then the resumed ones are replaced).
    fn add(&mut self, new: &[Segment], at: &Checkpoint) {
        let first = new.first().map_or(self.segments.len(), |s| s.id).min(self.segments.len());
        self.segments.truncate(first);
        self.committed = self.committed.min(first);
        self.segments.extend_from_slice(new);
        self.at = at.clone();
    }
}

impl Shared {
    fn stop(&self, reason: StopReason) {
        let _ = self.reason.compare_exchange(StopReason::None as u8, reason as u8, Ordering::SeqCst, Ordering::SeqCst);
        self.cancel.cancel();
    }

    fn reason(&self) -> StopReason {
        match self.reason.load(Ordering::SeqCst) {
            1 => StopReason::User,
            2 => StopReason::Shutdown,
            3 => StopReason::LeaseLost,
            _ => StopReason::None,
        }
    }

    fn stage(&self) -> JobStage {
        JobStage::ALL.get(self.stage.load(Ordering::Relaxed) as usize).copied().unwrap_or(JobStage::Transcribing)
    }
}

fn stage_index(s: JobStage) -> u8 {
    JobStage::ALL.iter().position(|x| *x == s).unwrap_or(0) as u8
}

pub(crate) async fn run_claim(ctx: &RunContext, claim: Claim) {
    let span = info_span!("job", job_id = %claim.job_id, batch_id = %claim.batch_id, attempt = claim.attempt);
    run_claim_inner(ctx, claim).instrument(span).await
}

async fn run_claim_inner(ctx: &RunContext, claim: Claim) {
    info!(file = %claim.job.original_filename, "job started");
    let started = Instant::now();
    let shared = Arc::new(Shared {
        fraction_bits: AtomicU64::new(0f64.to_bits()),
        stage: AtomicU8::new(stage_index(JobStage::LoadingModel)),
        reason: AtomicU8::new(0),
        cancel: CancelFlag::new(),
        live: Mutex::default(),
    });
    // An earlier attempt's committed windows (lease expired, process restarted): go on from there.
    let resume = match ctx.store.segments(claim.batch_id, claim.job_id).await {
        Ok(live) => live.into_resume(),
        Err(e) => {
            warn!(error = %e, "could not read the earlier attempt's checkpoint; starting from the beginning");
            None
        }
    };
    *shared.live.lock().unwrap_or_else(PoisonError::into_inner) = Live::resuming(resume.as_ref());

    // Held until the transcriber is done: a remote storage's temporary copy lives as long.
    let input = match ctx.storage.local_file(&claim.job.file_path).await {
        Ok(f) => f,
        Err(e) => {
            // A missing or invalid upload will not come back by retrying; an I/O error might.
            let retryable = matches!(e, StorageError::Io { .. });
            end_failed(ctx, &claim, e.code(), &format!("the uploaded file cannot be read: {e}"), retryable).await;
            return;
        }
    };
    let request = TranscribeRequest {
        media_path: input.path().to_path_buf(),
        model: claim.settings.model.clone(),
        language: claim.settings.language.clone(),
        beam_size: ctx.config.beam_size,
        batch_size: ctx.config.batch_size,
        word_timestamps: true,
        threads: ctx.config.threads_per_job(),
        vad: claim.settings.vad,
        resume,
    };

    // Stopped by a signal and awaited, never aborted: aborting mid-write would drop a
    // store transaction half-way.
    let (done_tx, done_rx) = watch::channel(false);
    let heartbeat = tokio::spawn(heartbeat_loop(
        ctx.store.clone(),
        claim.clone(),
        ctx.config.clone(),
        shared.clone(),
        ctx.stop.clone(),
        done_rx,
    ));

    let transcriber = ctx.transcriber.clone();
    let shared_t = shared.clone();
    let span = tracing::Span::current();
    let result = tokio::task::spawn_blocking(move || {
        let _enter = span.enter();
        let progress = |stage: JobStage, fraction: f64| {
            shared_t.stage.store(stage_index(stage), Ordering::Relaxed);
            // Bit patterns of non-negative floats order like the floats: fetch_max keeps
            // the reported progress monotonic.
            let overall = vidscribe_core::progress::job_fraction(stage, fraction);
            shared_t.fraction_bits.fetch_max(overall.to_bits(), Ordering::Relaxed);
        };
        let live = |segments: &[Segment], at: &Checkpoint| {
            shared_t.live.lock().unwrap_or_else(PoisonError::into_inner).add(segments, at);
        };
        transcriber.transcribe_live(&request, &progress, &live, &shared_t.cancel)
    })
    .await;
    let _ = done_tx.send(true);
    let _ = heartbeat.await;
    drop(input);

    let result = match result {
        Ok(r) => r,
        Err(join) => {
            // A panic inside the engine is our bug, not the user's file: log it, fail the job.
            warn!(error = %join, "transcriber panicked");
            Err(TranscribeError::Engine {
                code: FailureCode::Internal,
                message: "internal error while transcribing".into(),
            })
        }
    };
    // A cancel that raced with the end of transcription still wins: the user asked to stop.
    let reason = shared.reason();
    match (result, reason) {
        (_, StopReason::LeaseLost) => {
            warn!("lease lost; another worker owns this job now");
        }
        (_, StopReason::Shutdown) => {
            remove_results(ctx, &claim).await;
            if let Err(e) = ctx.store.release(&claim).await {
                warn!(error = %e, "could not hand the job back");
            } else {
                info!("job handed back for after restart");
            }
        }
        (_, StopReason::User) | (Err(TranscribeError::Cancelled), _) => {
            remove_results(ctx, &claim).await;
            match ctx.store.finish_cancelled(&claim).await {
                Ok(_) => info!("job cancelled"),
                Err(e) => warn!(error = %e, "could not record cancellation"),
            }
        }
        (Ok(transcript), StopReason::None) => {
            // The last windows' segments too, so the live transcript ends where the outputs do.
            commit_live(&ctx.store, &claim, &shared).await;
            // The last report while processing: everything transcribed, the outputs being
            // written. Without it a job shorter than one heartbeat would go from its claim's
            // 0 % straight to completed, and its progress would never be seen moving.
            match ctx.store.heartbeat(&claim, ctx.config.lease, Some(JobStage::Writing), Some(1.0)).await {
                Ok(Heartbeat::Lost) => {
                    warn!("lease lost; another worker owns this job now");
                    return;
                }
                Ok(_) => {}
                Err(e) => warn!(error = %e, "heartbeat failed"),
            }
            let elapsed = started.elapsed().as_secs_f64();
            let warning = (!transcript.warnings.is_empty()).then(|| transcript.warnings.join("; "));
            match write_results(ctx, &claim, &transcript, elapsed).await {
                Ok(()) => {
                    match ctx.store.complete_with_warning(&claim, Some(transcript.duration), warning.as_deref()).await {
                        Ok(_) => info!(seconds = elapsed, words = transcript.word_count(), "job completed"),
                        Err(e) => {
                            // Not completed, so no outputs: the job re-runs once its lease expires.
                            warn!(error = %e, "could not record completion");
                            remove_results(ctx, &claim).await;
                        }
                    }
                }
                Err(e) => {
                    remove_results(ctx, &claim).await;
                    let msg = format!("could not write results: {e}");
                    end_failed(ctx, &claim, FailureCode::OutputWriteFailed, &msg, false).await;
                }
            }
        }
        (Err(e), StopReason::None) => {
            let message = name_the_users_file(&e.to_string(), &claim);
            end_failed(ctx, &claim, e.code(), &message, e.is_retryable()).await;
        }
    }
}

/// Media errors name the file they read, which is the stored `uploads/<job_id>.<ext>`; the
/// user knows it by the name they uploaded.
fn name_the_users_file(message: &str, claim: &Claim) -> String {
    let stored = std::path::Path::new(&claim.job.file_path).file_name().and_then(|n| n.to_str());
    match stored {
        Some(stored) if !stored.is_empty() => message.replace(stored, &claim.job.original_filename),
        _ => message.to_string(),
    }
}

async fn end_failed(ctx: &RunContext, claim: &Claim, code: FailureCode, message: &str, retryable: bool) {
    warn!(code = code.as_str(), error = message, retryable, "job failed");
    let failure = Failure { code, message: message.to_string(), retryable, max_attempts: ctx.config.max_attempts };
    if let Err(e) = ctx.store.fail(claim, failure).await {
        warn!(error = %e, "could not record failure");
    }
}

async fn write_results(ctx: &RunContext, claim: &Claim, t: &Transcript, elapsed: f64) -> Result<(), StorageError> {
    let dir = &claim.job.results_path;
    let mut meta = Metadata::for_transcript(
        t,
        &claim.job.session_name,
        claim.job.session_id,
        &claim.job.original_filename,
        elapsed,
        chrono::Utc::now(),
    );
    meta.job_id = Some(claim.job_id);
    meta.batch_id = Some(claim.batch_id);
    let mut files: Vec<(String, Vec<u8>)> = rendered_outputs(t, &claim.settings.formats)
        .into_iter()
        .map(|(name, body)| (format!("{dir}/{name}"), body.into_bytes()))
        .collect();
    // metadata.json last: its presence means the outputs before it are complete.
    files.push((format!("{dir}/{METADATA_FILE_NAME}"), meta.to_json()));
    ctx.storage.put_all(files).await
}

/// Partial outputs of a job that did not complete are removed, never left looking finished.
async fn remove_results(ctx: &RunContext, claim: &Claim) {
    if let Err(e) = ctx.storage.delete_prefix(&claim.job.results_path).await {
        warn!(error = %e, "could not remove partial results");
    }
}

/// Renews the lease and writes stage/progress every `heartbeat_interval` (≤ 2 writes/s),
/// and raises the cancel flag when the job was cancelled, the lease lost, or we shut down.
async fn heartbeat_loop(
    store: DynStore,
    claim: Claim,
    config: Arc<EngineConfig>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    mut done: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(config.heartbeat_interval.max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = done.changed() => return,
            r = stop.changed() => {
                if r.is_err() || *stop.borrow() {
                    shared.stop(StopReason::Shutdown);
                    return;
                }
            }
        }
        let fraction = f64::from_bits(shared.fraction_bits.load(Ordering::Relaxed));
        match store.heartbeat(&claim, config.lease, Some(shared.stage()), Some(fraction)).await {
            // New windows are committed with the heartbeat that follows them (and once more
            // before the outputs): a crash loses at most one heartbeat's worth of finished
            // windows, and a job writes at most once a window (nothing new comes between).
            Ok(Heartbeat::Continue) => {
                if !commit_live(&store, &claim, &shared).await {
                    return;
                }
            }
            Ok(Heartbeat::CancelRequested) => {
                shared.stop(StopReason::User);
            }
            Ok(Heartbeat::Lost) => {
                shared.stop(StopReason::LeaseLost);
                return;
            }
            Err(e) => warn!(error = %e, "heartbeat failed"),
        }
    }
}

/// Writes the live segments the store does not have yet. `false` when the lease is lost
/// (the job is stopped then); a failed write is only logged: the next one catches up.
async fn commit_live(store: &DynStore, claim: &Claim, shared: &Shared) -> bool {
    let (first, segments, at) = {
        let l = shared.live.lock().unwrap_or_else(PoisonError::into_inner);
        (l.committed, l.segments[l.committed..].to_vec(), l.at.clone())
    };
    if segments.is_empty() {
        return true;
    }
    match store.add_segments(claim, first, &segments, &at).await {
        Ok(true) => {
            shared.live.lock().unwrap_or_else(PoisonError::into_inner).committed = first + segments.len();
            true
        }
        Ok(false) => {
            shared.stop(StopReason::LeaseLost);
            false
        }
        Err(e) => {
            warn!(error = %e, "could not commit the live transcript");
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(id: usize) -> Segment {
        Segment {
            id,
            start: id as f64,
            end: id as f64 + 0.5,
            text: format!(" s{id}"),
            words: None,
            avg_logprob: 0.0,
            no_speech_prob: 0.0,
            compression_ratio: 1.0,
            temperature: 0.0,
        }
    }

    fn at(done_seconds: f64) -> Checkpoint {
        Checkpoint { done_seconds, state: Some("s".into()) }
    }

    #[test]
    fn a_resumed_live_transcript_continues_or_starts_again_as_the_ids_say() {
        let resume = Resume { segments: vec![seg(0), seg(1)], state: "s".into() };
        let mut live = Live::resuming(Some(&resume));
        assert_eq!(live.committed, 2, "what the earlier attempt committed is not written again");
        live.add(&[seg(2), seg(3)], &at(4.0));
        assert_eq!((live.segments.len(), live.committed, live.at.done_seconds), (4, 2, 4.0));

        // The engine could not use the checkpoint and starts again at id 0.
        let mut live = Live::resuming(Some(&resume));
        live.add(&[seg(0)], &at(1.0));
        assert_eq!((live.segments.len(), live.committed), (1, 0), "the old segments are replaced from 0");
    }
}
