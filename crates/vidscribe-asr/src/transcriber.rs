//! The real [`Transcriber`]: decode the media to 16 kHz mono, run Whisper over it.
//!
//! Loading a model takes seconds and hundreds of megabytes, so loaded models are kept for the
//! life of the transcriber and handed from job to job. With batched decoding (the default)
//! the jobs running at the same time share one instance through a [`Pack`], which puts their
//! chunks into the same model calls. One window at a time (batch size 1), CTranslate2 runs
//! the calls made to one instance one after another, so two jobs running at the same time
//! each get their own instance (one more load); sequential jobs reuse the same one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use tracing::{info, info_span, warn};
use vidscribe_core::{
    CancelFlag, Checkpoint, JobStage, ProgressFn, Segment, SegmentsFn, TranscribeError, TranscribeRequest, Transcriber,
    Transcript, Word,
};

use crate::engine::{DecodeOptions, LoopState, Pack, Stop, WhisperEngine, WindowReport};
use crate::error::AsrError;
use crate::models::{default_batch_size, ensure_model, ModelDir};
use crate::resume::ResumeState;
use crate::stream::AudioSource;
use crate::vad::{SpeechGate, SpeechMap, VadOptions};

/// Models are cached per directory and thread count: CTranslate2 fixes the threads at load.
type PoolKey = (PathBuf, usize);

pub struct WhisperTranscriber {
    cache_dir: PathBuf,
    /// Registry names and paths already resolved and verified in this process.
    resolved: Mutex<HashMap<String, ModelDir>>,
    /// Loaded engines not in use right now.
    idle: Mutex<HashMap<PoolKey, Vec<WhisperEngine>>>,
    /// The shared engines of batched decoding, per model, thread count and batch size.
    packs: Mutex<HashMap<(PathBuf, usize, usize), Arc<Pack>>>,
    loads: AtomicUsize,
}

impl std::fmt::Debug for WhisperTranscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhisperTranscriber")
            .field("cache_dir", &self.cache_dir)
            .field("models_loaded", &self.models_loaded())
            .finish()
    }
}

/// A loaded engine lent to one job; it goes back to the pool when dropped.
pub struct LeasedEngine<'a> {
    engine: Option<WhisperEngine>,
    key: PoolKey,
    owner: &'a WhisperTranscriber,
}

impl std::ops::Deref for LeasedEngine<'_> {
    type Target = WhisperEngine;
    fn deref(&self) -> &WhisperEngine {
        // Only taken out in drop.
        self.engine.as_ref().unwrap_or_else(|| unreachable!("engine taken before drop"))
    }
}

impl Drop for LeasedEngine<'_> {
    fn drop(&mut self) {
        if let Some(engine) = self.engine.take() {
            lock(&self.owner.idle).entry(self.key.clone()).or_default().push(engine);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The maps stay consistent even if a holder panicked: every update is a single insert/pop.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl WhisperTranscriber {
    /// A transcriber that fetches registry models into `model_cache_dir`
    /// (usually [`crate::models::default_cache_dir`]).
    pub fn new(model_cache_dir: impl Into<PathBuf>) -> Self {
        WhisperTranscriber {
            cache_dir: model_cache_dir.into(),
            resolved: Mutex::new(HashMap::new()),
            idle: Mutex::new(HashMap::new()),
            packs: Mutex::new(HashMap::new()),
            loads: AtomicUsize::new(0),
        }
    }

    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// How many times a model was loaded into memory by this transcriber.
    pub fn models_loaded(&self) -> usize {
        self.loads.load(Ordering::SeqCst)
    }

    /// Resolves, verifies (once per process) and returns the model directory for `name_or_path`.
    pub fn resolve(&self, name_or_path: &str) -> Result<ModelDir, AsrError> {
        if let Some(dir) = lock(&self.resolved).get(name_or_path) {
            return Ok(dir.clone());
        }
        let dir = ensure_model(name_or_path, &self.cache_dir)?;
        lock(&self.resolved).insert(name_or_path.to_string(), dir.clone());
        Ok(dir)
    }

    /// An engine for `name_or_path` with `threads` threads: an idle loaded one, else a new load.
    pub fn engine(&self, name_or_path: &str, threads: usize) -> Result<LeasedEngine<'_>, AsrError> {
        let dir = self.resolve(name_or_path)?;
        let threads = threads.max(1);
        let key = (dir.path.clone(), threads);
        let idle = lock(&self.idle).get_mut(&key).and_then(Vec::pop);
        let engine = match idle {
            Some(engine) => engine,
            None => self.load(&dir, threads)?,
        };
        Ok(LeasedEngine { engine: Some(engine), key, owner: self })
    }

    /// The shared engine of `batch_size` chunks per call for `name_or_path` on `threads`
    /// threads, loaded on first use.
    pub fn pack(&self, name_or_path: &str, threads: usize, batch_size: usize) -> Result<Arc<Pack>, AsrError> {
        let dir = self.resolve(name_or_path)?;
        let threads = threads.max(1);
        // Held while loading: jobs starting together wait for the one load instead of each
        // making their own.
        let mut packs = lock(&self.packs);
        if let Some(pack) = packs.get(&(dir.path.clone(), threads, batch_size)) {
            return Ok(pack.clone());
        }
        let pack = Arc::new(Pack::new(self.load(&dir, threads)?));
        packs.insert((dir.path.clone(), threads, batch_size), pack.clone());
        Ok(pack)
    }

    /// The chunks per model call a request asks for, else its model's measured default.
    pub fn batch_size(&self, request: &TranscribeRequest) -> Result<usize, AsrError> {
        match request.batch_size {
            Some(n) => Ok(n.max(1)),
            None => Ok(default_batch_size(&self.resolve(&request.model)?)),
        }
    }

    fn load(&self, dir: &ModelDir, threads: usize) -> Result<WhisperEngine, AsrError> {
        let started = Instant::now();
        let engine = WhisperEngine::load(dir, threads)?;
        self.loads.fetch_add(1, Ordering::SeqCst);
        info!(model = %dir.name, threads, secs = started.elapsed().as_secs_f64(), "model loaded");
        Ok(engine)
    }

    /// Transcribes the audio of `source` (16 kHz mono, read once; see [`crate::stream`]).
    /// `expected_seconds` is the media's stated length, for progress (0 when unknown).
    #[allow(clippy::too_many_arguments)]
    pub fn transcribe_stream(
        &self,
        source: &mut dyn AudioSource,
        expected_seconds: f64,
        model: &str,
        options: &DecodeOptions,
        threads: usize,
        resume: Option<&LoopState>,
        on_window: &mut dyn FnMut(&WindowReport, &[Segment], &LoopState),
        cancel: &CancelFlag,
    ) -> Result<Transcript, TranscribeError> {
        let cancelled = || cancel.is_cancelled();
        let outcome = if options.batch_size > 1 {
            let pack = self.pack(model, threads, options.batch_size)?;
            pack.transcribe(source, expected_seconds, options, resume, on_window, &cancelled)
        } else {
            self.engine(model, threads)?.transcribe(source, expected_seconds, options, resume, on_window, &cancelled)
        };
        outcome.map_err(|stop| match stop {
            Stop::Cancelled => TranscribeError::Cancelled,
            Stop::Failed(e) => e.into(),
        })
    }
}

/// Moves segments made from the joined speech of a [`SpeechGate`] onto media time. The
/// model hears the stretches with no pause between them and may run a segment across a
/// seam; with word times such a segment is split where its words change stretch, so each
/// piece sits where its words are spoken. Ids are left to the caller.
fn to_media_time(segments: Vec<Segment>, map: &SpeechMap) -> Vec<Segment> {
    let mut out = Vec::with_capacity(segments.len());
    for s in segments {
        let words = s.words.clone().unwrap_or_default();
        let stretch = |w: &Word| map.stretch_of(w.start, w.end);
        let mut groups: Vec<Vec<Word>> = Vec::new();
        for w in words {
            match groups.last_mut() {
                Some(g) if stretch(&g[0]) == stretch(&w) => g.push(w),
                _ => groups.push(vec![w]),
            }
        }
        if groups.len() <= 1 {
            let mut s = s;
            (s.start, s.end) = map.media_span(s.start, s.end);
            for w in s.words.iter_mut().flatten() {
                (w.start, w.end) = map.media_span(w.start, w.end);
            }
            out.push(s);
            continue;
        }
        for mut g in groups {
            for w in &mut g {
                (w.start, w.end) = map.media_span(w.start, w.end);
            }
            let text: String = g.iter().map(|w| w.word.as_str()).collect();
            out.push(Segment { start: g[0].start, end: g[g.len() - 1].end, text, words: Some(g), ..s.clone() });
        }
    }
    out
}

impl Transcriber for WhisperTranscriber {
    fn transcribe(
        &self,
        request: &TranscribeRequest,
        progress: &ProgressFn<'_>,
        cancel: &CancelFlag,
    ) -> Result<Transcript, TranscribeError> {
        self.transcribe_live(request, progress, &|_, _| {}, cancel)
    }

    fn transcribe_live(
        &self,
        request: &TranscribeRequest,
        progress: &ProgressFn<'_>,
        live: &SegmentsFn<'_>,
        cancel: &CancelFlag,
    ) -> Result<Transcript, TranscribeError> {
        let span = info_span!("transcribe", media = %request.media_path.display(), model = %request.model);
        let _entered = span.enter();
        let started = Instant::now();

        progress(JobStage::LoadingModel, 0.0);
        // Load (or borrow) the model before decoding, so a bad model name fails before any
        // minutes are spent on a long video.
        let batch_size = self.batch_size(request)?;
        if batch_size > 1 {
            self.pack(&request.model, request.threads, batch_size)?;
        } else {
            drop(self.engine(&request.model, request.threads)?);
        }
        if cancel.is_cancelled() {
            return Err(TranscribeError::Cancelled);
        }

        // Decoding and transcribing run together, window by window: the media is decoded as
        // the model needs it, so memory does not grow with its length.
        let mut decoder = vidscribe_media::AudioDecoder::open(&request.media_path)?;
        progress(JobStage::Transcribing, 0.0);
        let options = DecodeOptions {
            language: request.language.clone().filter(|l| !l.is_empty() && l != "auto"),
            beam_size: request.beam_size.max(1),
            batch_size,
            word_timestamps: request.word_timestamps,
            ..DecodeOptions::default()
        };
        let expected = decoder.duration();
        let mut gate = None;
        let (source, map): (&mut dyn AudioSource, _) = if request.vad {
            let g = gate.insert(SpeechGate::new(&mut decoder, VadOptions::default()));
            let map = g.map();
            (g, Some(map))
        } else {
            (&mut decoder, None)
        };
        // With the gate the model's times are those of the joined speech: map them back.
        let media_time = |joined: f64| match &map {
            Some(m) => lock(m).media_time(joined),
            None => joined,
        };
        // An earlier attempt's work is used only if it was made the same way; anything else
        // (another model, VAD switched, an older format) starts again from zero.
        let resumed = request.resume.as_ref().and_then(|r| {
            let state = ResumeState::read(&r.state, &request.model, request.vad);
            if state.is_none() {
                warn!("the earlier attempt's checkpoint does not fit this one: starting from the beginning");
            }
            state.map(|s| (s, r.segments.clone()))
        });
        let resumed_from = resumed.as_ref().map(|(s, _)| s.media_seconds);
        if let Some(from) = resumed_from {
            info!(resumed_from_secs = from, "resuming where the earlier attempt stopped");
        }
        let (resume, mut handed): (Option<LoopState>, Vec<Segment>) = match resumed {
            Some((s, segments)) => (Some(s.engine), segments),
            None => (None, Vec::new()),
        };
        // Every segment as handed over (the resumed ones first), in media time: the final
        // transcript's, since the engine's segments are final when handed over.
        let mut decoded_secs = 0.0;
        let mut transcript = self.transcribe_stream(
            source,
            expected,
            &request.model,
            &options,
            request.threads,
            resume.as_ref(),
            &mut |w, new, state| {
                let done = media_time(w.done_seconds);
                if w.decoded {
                    decoded_secs += w.seconds();
                }
                if !new.is_empty() {
                    let first = handed.len();
                    match &map {
                        Some(m) => handed.extend(to_media_time(new.to_vec(), &lock(m))),
                        None => handed.extend_from_slice(new),
                    }
                    // Numbered in order after the splits at seams.
                    for (i, s) in handed[first..].iter_mut().enumerate() {
                        s.id = first + i;
                    }
                    let state = ResumeState::new(&request.model, request.vad, done, state.clone());
                    live(&handed[first..], &Checkpoint { done_seconds: done, state: Some(state.write()) });
                }
                let fraction = if expected > 0.0 { (done / expected).min(1.0) } else { 1.0 };
                progress(JobStage::Transcribing, fraction)
            },
            cancel,
        )?;
        drop(gate);
        transcript.segments = handed;
        if let Some(map) = &map {
            let map = lock(map);
            transcript.speech_seconds = Some(map.speech_seconds());
            transcript.duration = map.media_seconds();
            info!(
                speech_secs = map.speech_seconds(),
                media_secs = map.media_seconds(),
                stretches = map.stretches().len(),
                "voice activity detection"
            );
        }
        transcript.warnings = decoder.warnings();
        for warning in &transcript.warnings {
            warn!(%warning, "media read with a warning");
        }
        let audio_secs = transcript.duration;
        let secs = started.elapsed().as_secs_f64();
        // decoded_secs: the audio the model ran on in this attempt (after a resume, only
        // what was left; with VAD, only speech).
        info!(
            audio_secs,
            decoded_secs,
            resumed_from_secs = resumed_from.unwrap_or(0.0),
            secs,
            rtf = secs / audio_secs.max(1e-9),
            segments = transcript.segments.len(),
            "transcribed"
        );
        Ok(transcript)
    }
}
