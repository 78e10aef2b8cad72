//! One loaded Whisper model and the long-form decoding loop around it.
//!
//! The loop follows the reference implementations (openai-whisper, faster-whisper): the audio is
//! cut into 30 s windows; each window is decoded with timestamp tokens, segment boundaries come
//! from consecutive timestamp pairs, and the next window starts at the last complete timestamp,
//! so a sentence cut by a window edge is decoded again whole. The previous window's tokens
//! condition the next one. A window whose result looks like a hallucination (too repetitive)
//! or is improbable is decoded again at rising temperatures, and a window the model judges to
//! be silence yields nothing.

use std::io::Write;

use ct2rs::sys::{ComputeType, Config, Device, StorageView, Whisper, WhisperOptions};
use serde::{Deserialize, Serialize};
use tracing::{debug, debug_span};
use vidscribe_core::{Segment, Transcript, Word};

use crate::error::AsrError;
use crate::mel::{Mel, MelExtractor, HOP, N_FFT, SAMPLE_RATE, WINDOW_FRAMES};
use crate::models::ModelDir;
use crate::stream::{AudioSource, Lookahead};
use crate::vocab::Vocabulary;
use crate::words;

mod batched;
mod pack;

pub use pack::Pack;

/// Mel frames per output timestamp step (0.02 s): the encoder halves the 100 Hz frame rate.
const FRAMES_PER_TIMESTAMP: usize = 2;
const FRAME_SECONDS: f64 = HOP as f64 / SAMPLE_RATE as f64;
/// The decoder's context: prompt plus output may not exceed it.
const MAX_LENGTH: usize = 448;
/// The most previous tokens a prompt holds: half the context, less `<|startofprev|>`.
const PROMPT_TOKENS: usize = MAX_LENGTH / 2 - 1;

/// How a transcription is decoded. The defaults are the reference implementation's.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeOptions {
    /// ISO 639-1 code; `None` detects it on the first window (multilingual models only).
    pub language: Option<String>,
    /// Beam width at temperature 0 (1 = greedy).
    pub beam_size: usize,
    /// Samples drawn per window when decoding at a temperature above 0.
    pub best_of: usize,
    /// Tried in order until a result passes the thresholds below.
    pub temperatures: Vec<f32>,
    /// Above this gzip compression ratio the text is too repetitive: retry hotter.
    pub compression_ratio_threshold: f32,
    /// Below this average token log-probability the result is unlikely: retry hotter.
    pub log_prob_threshold: f32,
    /// A window with a higher no-speech probability (and an unlikely result) is silence.
    pub no_speech_threshold: f32,
    /// Feed the previous window's text as a prompt (dropped after a hot fallback).
    pub condition_on_previous_text: bool,
    pub word_timestamps: bool,
    /// Windows per model call. 1: the reference's sequential loop, each window conditioned
    /// on the text before it and started again at its last complete segment. More: the audio
    /// is cut at pauses into chunks of at most 30 s, decoded that many at a time in one
    /// encoder and one decoder call, without that conditioning (see `engine/batched.rs`).
    pub batch_size: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            language: None,
            beam_size: 5,
            best_of: 5,
            temperatures: vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
            compression_ratio_threshold: 2.4,
            log_prob_threshold: -1.0,
            no_speech_threshold: 0.6,
            condition_on_previous_text: true,
            word_timestamps: false,
            batch_size: 1,
        }
    }
}

/// [`Transcript::language`] when the language was to be detected but no window had sound
/// (silence throughout): nothing was heard, so no language is claimed.
pub const UNKNOWN_LANGUAGE: &str = "unknown";

/// The compute type Vidscribe runs on CPU: 8-bit weights, the speed/accuracy sweet spot.
pub const DEFAULT_COMPUTE_TYPE: ComputeType = ComputeType::INT8;

/// A Whisper model in memory.
pub struct WhisperEngine {
    whisper: Whisper,
    vocab: Vocabulary,
    mel: MelExtractor,
    multilingual: bool,
    model: ModelDir,
}

impl std::fmt::Debug for WhisperEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhisperEngine").field("model", &self.model).field("multilingual", &self.multilingual).finish()
    }
}

/// Why a transcription stopped early.
#[derive(Debug)]
pub enum Stop {
    Cancelled,
    Failed(AsrError),
}

impl From<AsrError> for Stop {
    fn from(e: AsrError) -> Self {
        Stop::Failed(e)
    }
}

/// What one window of the loop did, for progress and for tests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowReport {
    /// Where the window starts, in media seconds.
    pub start: f64,
    /// Its length in feature frames (100 a second; 3000 for a whole window).
    pub frames: usize,
    /// Whether the model ran on it (false for a window of silence).
    pub decoded: bool,
    /// Media seconds done after it.
    pub done_seconds: f64,
    /// The media's length: as stated while decoding, as found once the end is reached.
    pub expected_seconds: f64,
}

impl WindowReport {
    /// The window's length in seconds.
    pub fn seconds(&self) -> f64 {
        self.frames as f64 * FRAME_SECONDS
    }
}

/// The decoding loop's state between two windows: all a new process needs to carry on from
/// there exactly as the loop would have (same features, same prompt, same language).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoopState {
    /// The next window's first feature frame (100 a second) in the stream the engine reads.
    pub seek: usize,
    /// The tokens that condition the next window: the tail of the text so far (empty after
    /// a prompt reset).
    pub prompt: Vec<usize>,
    /// The loudest log-mel energy so far, the features' normalisation reference (`None`
    /// before any window was heard).
    pub loudest: Option<f32>,
    pub language: Option<String>,
    pub language_probability: Option<f32>,
    /// Where the last segment ends, in stream seconds: the next one may not start before.
    pub last_end: f64,
}

/// One segment of a window: times in seconds from the window start (`end` is `None` when the
/// window had no closing timestamp: it lasts to the window's end).
struct Piece<'t> {
    start: f64,
    end: Option<f64>,
    tokens: &'t [usize],
}

/// Where a window's segments go: its start and length, in stream seconds, and the stream's
/// length once known (no time may pass it).
#[derive(Clone, Copy)]
struct WindowSpan {
    offset: f64,
    duration: f64,
    cap: f64,
}

impl WindowSpan {
    fn new(offset: f64, duration: f64, total_samples: Option<usize>) -> Self {
        let cap = total_samples.map_or(f64::INFINITY, |t| t as f64 / SAMPLE_RATE as f64);
        WindowSpan { offset, duration, cap }
    }
}

struct WindowResult {
    tokens: Vec<usize>,
    avg_logprob: f32,
    no_speech_prob: f32,
    temperature: f32,
    compression_ratio: f32,
}

impl WhisperEngine {
    /// Loads `model` with `threads` intra-op threads (all inference of this instance runs on them).
    pub fn load(model: &ModelDir, threads: usize) -> Result<Self, AsrError> {
        let _span = debug_span!("load_model", model = %model.name).entered();
        let vocab = Vocabulary::load(&model.path)?;
        let config = Config {
            device: Device::CPU,
            compute_type: DEFAULT_COMPUTE_TYPE,
            num_threads_per_replica: threads.max(1),
            ..Config::default()
        };
        let whisper = Whisper::new(&model.path, config)
            .map_err(|e| AsrError::Load { path: model.path.clone(), message: e.to_string() })?;
        let multilingual = whisper.is_multilingual();
        let mel = MelExtractor::new(whisper.n_mels());
        Ok(WhisperEngine { whisper, vocab, mel, multilingual, model: model.clone() })
    }

    pub fn model(&self) -> &ModelDir {
        &self.model
    }

    pub fn is_multilingual(&self) -> bool {
        self.multilingual
    }

    /// Transcribes the 16 kHz mono audio of `source`, reading it once, front to back, and
    /// holding no more of it than one window's look-ahead (see [`crate::stream`]).
    /// `expected_seconds` is the duration the media states (0 when unknown): progress is
    /// measured against it until the real end is known. `on_window` gets each decoded
    /// window's report, the segments it added (final: later windows never change them) and
    /// the loop's state after it. Given `resume` (such a state), the loop carries on from
    /// there: the audio before it is read past, not decoded.
    /// `cancelled` is asked before each window and, inside one, between the model's passes
    /// over it (after the encoder, before each decoding attempt of the temperature fallback,
    /// before the word alignment): a cancel waits for at most the one CTranslate2 call in
    /// flight (CTranslate2's Whisper offers no per-step callback), never for the rest of a
    /// window's fallbacks.
    pub fn transcribe(
        &self,
        source: &mut dyn AudioSource,
        expected_seconds: f64,
        options: &DecodeOptions,
        resume: Option<&LoopState>,
        on_window: &mut dyn FnMut(&WindowReport, &[Segment], &LoopState),
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Transcript, Stop> {
        if options.batch_size > 1 {
            return self.transcribe_batched(self, source, expected_seconds, options, resume, on_window, cancelled);
        }
        let mut language = self.language_for(options.language.as_deref())?;
        let mut language_probability = None;

        let mut audio = Lookahead::new(source);
        let mut segments: Vec<Segment> = Vec::new();
        // The tokens of the segments kept so far: the next window's prompt is their tail.
        let mut all_tokens: Vec<usize> = Vec::new();
        let mut prompt_reset_since = 0;
        let mut seek = 0usize;
        // The loudest log-mel energy so far: the normalisation's reference (see mel.rs).
        let mut loudest = f32::NEG_INFINITY;
        let mut last_end = 0.0;
        if let Some(state) = resume {
            seek = state.seek;
            all_tokens.clone_from(&state.prompt);
            loudest = state.loudest.unwrap_or(f32::NEG_INFINITY);
            language = language.or_else(|| state.language.clone());
            language_probability = state.language_probability;
            last_end = state.last_end;
            audio.skip_to((seek * HOP).saturating_sub(N_FFT / 2))?;
            debug!(seconds = seek as f64 * FRAME_SECONDS, "resumed");
        }
        loop {
            if cancelled() {
                return Err(Stop::Cancelled);
            }
            // The window's samples plus the STFT's context on the right; the left context
            // was kept by the previous discard.
            audio.fill_to((seek + WINDOW_FRAMES) * HOP + N_FFT / 2)?;
            // Until the end is known the stream reaches past this window, so it is whole.
            let content_frames = audio.total().map_or(usize::MAX, |t| t / HOP);
            if seek >= content_frames {
                break;
            }
            let time_offset = seek as f64 * FRAME_SECONDS;
            let segment_size = (content_frames - seek).min(WINDOW_FRAMES);
            let segment_duration = segment_size as f64 * FRAME_SECONDS;
            let _span = debug_span!("window", start = time_offset).entered();
            let window_start = seek;
            let window_first = segments.len();

            let window_samples = audio.slice(seek * HOP, (seek + segment_size) * HOP);
            let mut decoded = false;
            if is_silent(window_samples) {
                // Whisper answers near-digital silence with a confident "You" (its no-speech
                // probability is high, but the log-probability stays above the threshold, so the
                // reference rule keeps it). Nothing audible cannot hold speech: skip undecoded.
                debug!("window skipped: below the silence level");
                seek += segment_size;
            } else {
                decoded = true;
                let features = self.features(&audio, seek, segment_size, &mut loudest);
                let encoder_output = self.encode(&[&features])?;
                if cancelled() {
                    return Err(Stop::Cancelled);
                }
                self.detect_if_unknown(&encoder_output, &mut language, &mut language_probability)?;
                let sot_sequence = self.sot_sequence(language.as_deref());
                let previous = &all_tokens[prompt_reset_since..];
                let prompt = self.prompt(previous, &sot_sequence);
                let result = self.generate_with_fallback(&encoder_output, &prompt, options, cancelled)?;

                if is_no_speech(&result, options) {
                    debug!(no_speech_prob = result.no_speech_prob, "window skipped as silence");
                    seek += segment_size;
                } else {
                    let (pieces, advance) = self.split_window(&result.tokens, segment_size);
                    let window_seek = seek;
                    seek += advance;
                    let span = WindowSpan::new(time_offset, segment_duration, audio.total());
                    let first_new = segments.len();
                    let kept_tokens = self.push_segments(pieces, span, &result, &mut last_end, &mut segments);
                    all_tokens.extend(kept_tokens.iter().flatten());
                    if options.word_timestamps {
                        if cancelled() {
                            return Err(Stop::Cancelled);
                        }
                        self.add_word_timestamps(
                            &mut segments[first_new..],
                            &self.text_tokens(&kept_tokens),
                            &encoder_output,
                            &sot_sequence,
                            segment_size,
                            time_offset,
                        )?;
                        // With word timings the reference moves on from the end of the last
                        // word rather than of the last complete segment (unless the window
                        // ended on a complete one and was taken whole).
                        if advance < segment_size {
                            let last_word_end = segments[first_new..]
                                .iter()
                                .rev()
                                .find_map(|s| s.words.as_ref().and_then(|w| w.last()).map(|w| w.end));
                            if let Some(end) = last_word_end.filter(|&e| e > time_offset) {
                                let frame = (end / FRAME_SECONDS).round() as usize;
                                seek = frame.clamp(window_seek + 1, window_seek + segment_size);
                            }
                        }
                    }
                    if !options.condition_on_previous_text || result.temperature > 0.5 {
                        prompt_reset_since = all_tokens.len();
                    }
                }
            }
            // The next window starts at `seek`; the STFT looks N_FFT / 2 samples further back.
            audio.discard_before((seek * HOP).saturating_sub(N_FFT / 2));
            let done = done_seconds(seek, audio.total());
            let report = WindowReport {
                start: window_start as f64 * FRAME_SECONDS,
                frames: segment_size,
                decoded,
                done_seconds: done,
                expected_seconds: expected_seconds.max(done),
            };
            let previous = &all_tokens[prompt_reset_since..];
            let state = LoopState {
                seek,
                prompt: previous[previous.len().saturating_sub(PROMPT_TOKENS)..].to_vec(),
                loudest: loudest.is_finite().then_some(loudest),
                language: language.clone(),
                language_probability,
                last_end,
            };
            on_window(&report, &segments[window_first..], &state);
        }

        Ok(self.transcript(language, language_probability, audio.total(), segments))
    }

    /// The transcript at the end of the stream (`total` samples long).
    fn transcript(
        &self,
        language: Option<String>,
        language_probability: Option<f32>,
        total: Option<usize>,
        segments: Vec<Segment>,
    ) -> Transcript {
        Transcript {
            // Detection was due but no window had sound to detect it on: nothing was heard,
            // so no language is claimed (a given language, or an English-only model's, stays).
            language: language.unwrap_or_else(|| UNKNOWN_LANGUAGE.to_string()),
            language_probability,
            duration: total.unwrap_or(0) as f64 / SAMPLE_RATE as f64,
            model: self.model.name.clone(),
            segments,
            warnings: Vec::new(),
            speech_seconds: None,
        }
    }

    /// Features of frames `first..first + frames` of the stream (with the STFT's context on
    /// both sides), normalised against `loudest`, which they update.
    fn features(&self, audio: &Lookahead<'_>, first: usize, frames: usize, loudest: &mut f32) -> Mel {
        let context = (first * HOP).saturating_sub(N_FFT / 2);
        let mel = self.mel.compute_frames(
            audio.slice(context, (first + frames) * HOP + N_FFT / 2),
            context.max(audio.start()),
            first,
            frames,
            *loudest,
        );
        *loudest = mel.loudest;
        mel
    }

    /// Detects the language on the (first) window of `encoder_output` unless it is known.
    fn detect_if_unknown(
        &self,
        encoder_output: &StorageView<'_>,
        language: &mut Option<String>,
        probability: &mut Option<f32>,
    ) -> Result<(), AsrError> {
        if language.is_none() {
            let (code, p) = self
                .detect_languages(encoder_output)?
                .into_iter()
                .next()
                .ok_or_else(|| AsrError::inference("language detection returned nothing"))?;
            debug!(language = %code, probability = p, "language detected");
            *language = Some(code);
            *probability = Some(p);
        }
        Ok(())
    }

    /// The language to decode in: `Some` when known before listening (given, or the only one an
    /// English-only model knows), `None` to detect it on the first window with sound.
    fn language_for(&self, requested: Option<&str>) -> Result<Option<String>, Stop> {
        let mut language = requested.map(str::to_string);
        if !self.multilingual {
            if let Some(code) = language.as_deref().filter(|&c| c != "en") {
                return Err(Stop::Failed(AsrError::Language {
                    message: format!("model {} is English-only; it cannot transcribe '{code}'", self.model.name),
                }));
            }
            language = Some("en".to_string());
        }
        if let Some(code) = language.as_deref() {
            if self.vocab.language_id(code).is_none() {
                return Err(Stop::Failed(AsrError::Language {
                    message: format!("'{code}' is not a language Whisper knows"),
                }));
            }
        }
        Ok(language)
    }

    /// Cuts a window's tokens into segments at consecutive timestamp pairs, and says how far
    /// the next window starts (in frames), as the reference does: past the whole window when
    /// its last segment is complete (it ends on a single timestamp, or holds no pair at all),
    /// else at the last complete segment's end, so the unfinished sentence is decoded again
    /// whole in the next window.
    fn split_window<'t>(&self, tokens: &'t [usize], segment_size: usize) -> (Vec<Piece<'t>>, usize) {
        let ts = |i: usize| self.vocab.is_timestamp(tokens[i]);
        let single_timestamp_ending = tokens.len() >= 2 && !ts(tokens.len() - 2) && ts(tokens.len() - 1);
        let consecutive: Vec<usize> = (1..tokens.len()).filter(|&i| ts(i) && ts(i - 1)).collect();
        if consecutive.is_empty() {
            // One segment for the whole window; it ends at the last timestamp, if any.
            let end = tokens
                .iter()
                .rev()
                .find(|&&t| self.vocab.is_timestamp(t))
                .filter(|&&t| t != self.vocab.timestamp_begin)
                .map(|&t| self.vocab.timestamp_seconds(t));
            return (vec![Piece { start: 0.0, end, tokens }], segment_size);
        }
        let mut slices = consecutive;
        if single_timestamp_ending {
            slices.push(tokens.len());
        }
        let mut pieces = Vec::with_capacity(slices.len());
        let mut last_slice = 0;
        for &current in &slices {
            let sliced = &tokens[last_slice..current];
            pieces.push(Piece {
                start: self.timestamp_or_zero(sliced[0]),
                end: Some(self.timestamp_or_zero(sliced[sliced.len() - 1])),
                tokens: sliced,
            });
            last_slice = current;
        }
        let advance = if single_timestamp_ending {
            segment_size
        } else {
            let last_timestamp = tokens[last_slice - 1] - self.vocab.timestamp_begin;
            // A window ending on <|0.00|><|0.00|> would never move on: skip it whole.
            if last_timestamp > 0 {
                (last_timestamp * FRAMES_PER_TIMESTAMP).min(segment_size)
            } else {
                segment_size
            }
        };
        (pieces, advance)
    }

    fn timestamp_or_zero(&self, id: usize) -> f64 {
        if self.vocab.is_timestamp(id) {
            self.vocab.timestamp_seconds(id)
        } else {
            0.0
        }
    }

    /// Runs the encoder on windows' features in one call, each zero-padded to 30 s like the
    /// reference's `pad_or_trim`.
    fn encode(&self, windows: &[&Mel]) -> Result<StorageView<'static>, AsrError> {
        let n_mels = self.whisper.n_mels();
        let mut input = Vec::with_capacity(windows.len() * n_mels * WINDOW_FRAMES);
        for mel in windows {
            input.extend(mel.window(0, mel.n_frames));
        }
        let view = StorageView::new(&[windows.len(), n_mels, WINDOW_FRAMES], &mut input, Device::CPU)
            .map_err(AsrError::inference)?;
        self.whisper.encode(&view, false).map_err(AsrError::inference)
    }

    /// The most likely language of each window of `encoder_output` and its probability.
    fn detect_languages(&self, encoder_output: &StorageView<'_>) -> Result<Vec<(String, f32)>, AsrError> {
        let results = self.whisper.detect_language(encoder_output).map_err(AsrError::inference)?;
        results
            .iter()
            .map(|r| {
                let best = r.first().ok_or_else(|| AsrError::inference("language detection returned nothing"))?;
                // ct2rs 0.10 keeps DetectionResult's fields private and offers no getters, but
                // derives Debug: `DetectionResult { language: "<|fr|>", probability: 0.93 }`.
                // Reading that is the only way to the value short of a second binding to
                // CTranslate2.
                parse_detection(&format!("{best:?}"))
                    .ok_or_else(|| AsrError::inference(format!("unexpected language detection result {best:?}")))
            })
            .collect()
    }

    /// `<|startoftranscript|>` alone for English-only models (they know no language or task
    /// tokens); `<|startoftranscript|><|xx|><|transcribe|>` for multilingual ones.
    fn sot_sequence(&self, language: Option<&str>) -> Vec<usize> {
        let mut seq = vec![self.vocab.sot];
        if self.multilingual {
            seq.extend(language.and_then(|l| self.vocab.language_id(l)));
            seq.extend(self.vocab.transcribe);
        }
        seq
    }

    /// `<|startofprev|>` + the latest previous tokens (at most half the context) + the start sequence.
    fn prompt(&self, previous: &[usize], sot_sequence: &[usize]) -> Vec<String> {
        let mut ids = Vec::new();
        if !previous.is_empty() {
            ids.push(self.vocab.sot_prev);
            ids.extend_from_slice(&previous[previous.len().saturating_sub(PROMPT_TOKENS)..]);
        }
        ids.extend_from_slice(sot_sequence);
        ids.into_iter().map(|id| self.vocab.token(id).to_string()).collect()
    }

    /// Decodes a window at rising temperatures until a result passes the thresholds;
    /// `cancelled` is asked before each attempt.
    fn generate_with_fallback(
        &self,
        encoder_output: &StorageView<'_>,
        prompt: &[String],
        options: &DecodeOptions,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<WindowResult, Stop> {
        let mut tried: Vec<WindowResult> = Vec::new();
        let temperatures = if options.temperatures.is_empty() { vec![0.0] } else { options.temperatures.clone() };
        for &temperature in &temperatures {
            if cancelled() {
                return Err(Stop::Cancelled);
            }
            let results = self
                .whisper
                .generate(encoder_output, &[prompt.to_vec()], &whisper_options(options, temperature))
                .map_err(AsrError::inference)?;
            let result = results.into_iter().next().ok_or_else(|| AsrError::inference("no result for the window"))?;
            let candidate = self.window_result(result, temperature);
            let needs_fallback = needs_fallback(&candidate, options);
            let (avg_logprob, compression_ratio) = (candidate.avg_logprob, candidate.compression_ratio);
            debug!(temperature, avg_logprob, compression_ratio, needs_fallback, "window decoded");
            if !needs_fallback {
                return Ok(candidate);
            }
            tried.push(candidate);
        }
        // Every temperature failed: prefer the most likely result that is not repetitive.
        let threshold = options.compression_ratio_threshold;
        let pick = |keep: &dyn Fn(&WindowResult) -> bool| {
            tried
                .iter()
                .enumerate()
                .filter(|(_, r)| keep(r))
                .max_by(|a, b| a.1.avg_logprob.total_cmp(&b.1.avg_logprob))
                .map(|(i, _)| i)
        };
        let index = pick(&|r| r.compression_ratio <= threshold)
            .or_else(|| pick(&|_| true))
            .ok_or_else(|| AsrError::inference("no decoding attempt"))?;
        let mut best = tried.swap_remove(index);
        // As the reference does: a window no temperature could fix counts as decoded at the
        // last one, so it does not condition the next window (the prompt is reset).
        best.temperature = temperatures.last().copied().unwrap_or(best.temperature);
        Ok(best)
    }

    /// The segments of a window's pieces, appended to `segments` in stream time (each starting
    /// no earlier than `last_end`, which follows them); returns the kept pieces' tokens.
    /// As the reference does, an empty or zero-length piece is not output, and its tokens do
    /// not condition the next window.
    fn push_segments(
        &self,
        pieces: Vec<Piece<'_>>,
        span: WindowSpan,
        result: &WindowResult,
        last_end: &mut f64,
        segments: &mut Vec<Segment>,
    ) -> Vec<Vec<usize>> {
        let mut kept = Vec::new();
        for piece in pieces {
            let end = piece.end.unwrap_or(span.duration).min(span.duration);
            let text = self.vocab.decode(piece.tokens);
            if text.trim().is_empty() || piece.start >= end {
                continue;
            }
            let start = (span.offset + piece.start).max(*last_end).min(span.cap);
            let end = (span.offset + end).min(span.cap).max(start);
            *last_end = end;
            segments.push(Segment {
                id: segments.len(),
                start,
                end,
                text,
                words: None,
                avg_logprob: result.avg_logprob,
                no_speech_prob: result.no_speech_prob,
                compression_ratio: result.compression_ratio,
                temperature: result.temperature,
            });
            kept.push(piece.tokens.to_vec());
        }
        kept
    }

    /// Each piece's text tokens (timestamps and end-of-text dropped): what alignment takes.
    fn text_tokens(&self, pieces: &[Vec<usize>]) -> Vec<Vec<usize>> {
        pieces.iter().map(|t| t.iter().copied().filter(|&id| id < self.vocab.eot).collect()).collect()
    }

    /// Scores one decoding of a window.
    fn window_result(&self, result: ct2rs::sys::WhisperGenerationResult, temperature: f32) -> WindowResult {
        let tokens = result.sequences_ids.into_iter().next().unwrap_or_default();
        let score = result.scores.first().copied().unwrap_or(f32::NEG_INFINITY);
        // The score is the sum of log-probabilities divided by length^length_penalty (1 here).
        let cum_logprob = score * tokens.len() as f32;
        let avg_logprob = cum_logprob / (tokens.len() as f32 + 1.0);
        let compression_ratio = compression_ratio(self.vocab.decode(&tokens).trim());
        WindowResult { tokens, avg_logprob, no_speech_prob: result.no_speech_prob, temperature, compression_ratio }
    }

    fn add_word_timestamps(
        &self,
        segments: &mut [Segment],
        piece_tokens: &[Vec<usize>],
        encoder_output: &StorageView<'_>,
        sot_sequence: &[usize],
        num_frames: usize,
        time_offset: f64,
    ) -> Result<(), AsrError> {
        let text_tokens: Vec<usize> = piece_tokens.iter().flatten().copied().collect();
        if text_tokens.is_empty() || segments.is_empty() {
            return Ok(());
        }
        let alignment = self
            .whisper
            .align(encoder_output, sot_sequence, std::slice::from_ref(&text_tokens), &[num_frames], 7)
            .map_err(AsrError::inference)?;
        if let Some(alignment) = alignment.into_iter().next() {
            self.place_words(segments, piece_tokens, &alignment, time_offset);
        }
        Ok(())
    }

    /// Words from one window's alignment of `piece_tokens` (the text tokens of `segments`, one
    /// list per segment), each handed to the segment that holds its first token and kept
    /// inside it.
    fn place_words(
        &self,
        segments: &mut [Segment],
        piece_tokens: &[Vec<usize>],
        alignment: &ct2rs::sys::WhisperAlignmentResult,
        time_offset: f64,
    ) {
        let text_tokens: Vec<usize> = piece_tokens.iter().flatten().copied().collect();
        if text_tokens.is_empty() || segments.is_empty() {
            return;
        }
        let pairs: Vec<(i64, i64)> = alignment.alignments.iter().map(|a| (a.token_x, a.frame_x)).collect();
        let timed = words::align_words(&self.vocab, &text_tokens, &pairs, &alignment.text_token_probs);
        let mut bounds = Vec::with_capacity(piece_tokens.len());
        let mut acc = 0;
        for piece in piece_tokens {
            acc += piece.len();
            bounds.push(acc);
        }
        let mut per_segment: Vec<Vec<Word>> = vec![Vec::new(); segments.len()];
        for w in timed {
            let index = bounds.iter().position(|&b| w.first_token < b).unwrap_or(bounds.len() - 1);
            if let Some(list) = per_segment.get_mut(index) {
                list.push(Word {
                    start: time_offset + w.start,
                    end: time_offset + w.end,
                    word: w.text,
                    probability: w.probability,
                });
            }
        }
        for (segment, mut words) in segments.iter_mut().zip(per_segment) {
            let mut floor = segment.start;
            for w in &mut words {
                w.start = w.start.clamp(floor, segment.end);
                w.end = w.end.clamp(w.start, segment.end);
                floor = w.end;
            }
            segment.words = Some(words);
        }
    }
}

/// CTranslate2's options for one decoding pass at `temperature` (0: beam search).
fn whisper_options(options: &DecodeOptions, temperature: f32) -> WhisperOptions {
    let sampling = temperature > 0.0;
    WhisperOptions {
        beam_size: if sampling { 1 } else { options.beam_size.max(1) },
        patience: 1.0,
        length_penalty: 1.0,
        repetition_penalty: 1.0,
        no_repeat_ngram_size: 0,
        max_length: MAX_LENGTH,
        sampling_topk: if sampling { 0 } else { 1 },
        sampling_temperature: if sampling { temperature } else { 1.0 },
        num_hypotheses: if sampling { options.best_of.max(1) } else { 1 },
        return_scores: true,
        return_logits_vocab: false,
        return_no_speech_prob: true,
        max_initial_timestamp_index: 50,
        // Blank and end-of-text at the start, and the model's own list of non-speech tokens
        // (music notes, brackets…) everywhere: as faster-whisper does.
        suppress_blank: true,
        suppress_tokens: vec![-1],
    }
}

/// Too repetitive or too improbable: decode again hotter. Silence is not a failure to fix by
/// sampling: the caller skips the window.
fn needs_fallback(r: &WindowResult, options: &DecodeOptions) -> bool {
    let silence = r.no_speech_prob > options.no_speech_threshold && r.avg_logprob < options.log_prob_threshold;
    !silence
        && (r.compression_ratio > options.compression_ratio_threshold || r.avg_logprob < options.log_prob_threshold)
}

/// A window the model judges to hold no speech: skipped, as the reference does.
fn is_no_speech(r: &WindowResult, options: &DecodeOptions) -> bool {
    r.no_speech_prob > options.no_speech_threshold && r.avg_logprob <= options.log_prob_threshold
}

/// RMS level below which a window is treated as silence without running the model: −60 dBFS,
/// far under speech (quiet speech over a whole window still averages above −45 dBFS).
const SILENCE_RMS: f32 = 0.001;

/// Media seconds done once decoding reaches frame `seek`: the stream's exact length once it
/// is reached (`total` samples, when known).
fn done_seconds(seek: usize, total: Option<usize>) -> f64 {
    match total {
        Some(total) if seek >= total / HOP => total as f64 / SAMPLE_RATE as f64,
        _ => seek as f64 * FRAME_SECONDS,
    }
}

fn is_silent(samples: &[f32]) -> bool {
    if samples.is_empty() {
        return true;
    }
    let energy: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    ((energy / samples.len() as f64).sqrt() as f32) < SILENCE_RMS
}

/// Length of the UTF-8 text over its zlib-compressed length: repetitive hallucinations compress well.
fn compression_ratio(text: &str) -> f32 {
    let bytes = text.as_bytes();
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    let compressed = encoder.write_all(bytes).and_then(|()| encoder.finish()).map(|c| c.len()).unwrap_or(1);
    bytes.len() as f32 / compressed.max(1) as f32
}

/// `DetectionResult { language: "<|fr|>", probability: 0.93 }` → ("fr", 0.93).
fn parse_detection(debug: &str) -> Option<(String, f32)> {
    let after = debug.split("language: \"").nth(1)?;
    let token = &after[..after.find('"')?];
    let code = token.strip_prefix("<|")?.strip_suffix("|>")?.to_string();
    let prob_text = debug.split("probability: ").nth(1)?;
    let end = prob_text
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+')))
        .unwrap_or(prob_text.len());
    let probability = prob_text[..end].parse().ok()?;
    Some((code, probability))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_results_are_read_from_their_debug_form() {
        assert_eq!(
            parse_detection("DetectionResult { language: \"<|fr|>\", probability: 0.93 }"),
            Some(("fr".to_string(), 0.93))
        );
        assert_eq!(parse_detection("DetectionResult { language: \"fr\", probability: 1.0 }"), None);
    }

    #[test]
    fn only_near_digital_silence_counts_as_silent() {
        assert!(is_silent(&[0.0; 16_000]));
        assert!(is_silent(&vec![0.0005; 16_000]));
        // A 100 ms tone at -20 dBFS in 30 s of silence is still something to listen to.
        let mut window = vec![0.0f32; 480_000];
        for (i, s) in window.iter_mut().take(1600).enumerate() {
            *s = 0.1 * (i as f32 * 0.3).sin();
        }
        assert!(!is_silent(&window));
    }

    #[test]
    fn repetitive_text_compresses_better_than_speech() {
        let speech = "And so my fellow Americans, ask not what your country can do for you.";
        let loop_text = "thank you ".repeat(40);
        assert!(compression_ratio(speech) < 2.4, "{}", compression_ratio(speech));
        assert!(compression_ratio(&loop_text) > 2.4, "{}", compression_ratio(&loop_text));
    }
}
