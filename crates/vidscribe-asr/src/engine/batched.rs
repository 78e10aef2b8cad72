//! Batched decoding: several chunks of one stream per model call.
//!
//! The sequential loop decodes one 30 s window per call, conditions it on the text before it
//! and starts the next window at the last complete segment, so an unfinished sentence is
//! decoded twice. Here, as in faster-whisper's `BatchedInferencePipeline`, the audio is cut
//! ahead into chunks of at most 30 s, each ending at the quietest moment of its last
//! seconds, so a chunk boundary falls in a pause rather than in a word; `batch_size` chunks
//! go through the encoder in one call and through the decoder in one call. A chunk is final
//! as decoded: every segment of it is kept, none is decoded again, and no text conditions
//! another chunk (which is what lets them run together). A chunk whose result fails the
//! thresholds is decoded again alone at the next temperatures, as the sequential loop would.
//!
//! Per chunk the loop reports, hands over segments and a [`LoopState`] as the sequential loop
//! does per window, so progress, the live transcript and resuming work the same way: a chunk
//! boundary depends only on the audio after the previous one, so a resumed run cuts the
//! same chunks.
//!
//! The loop hands its chunks to a [`Decoder`]: the engine itself, which runs them at once, or
//! a [`Pack`](super::pack::Pack), which runs them together with other streams' chunks.

use ct2rs::sys::StorageView;
use tracing::{debug, debug_span};
use vidscribe_core::{Segment, Transcript};

use super::{
    done_seconds, is_no_speech, is_silent, needs_fallback, whisper_options, DecodeOptions, LoopState, Stop,
    WhisperEngine, WindowReport, WindowResult, WindowSpan, FRAME_SECONDS,
};
use crate::error::AsrError;
use crate::mel::{Mel, HOP, N_FFT, WINDOW_FRAMES};
use crate::stream::{AudioSource, Lookahead};

/// A chunk of a longer stream ends in the quietest stretch between these many frames from its
/// start (17 s and 28 s): never in the last 2 s of the window, so the model always hears the
/// audio stop (the zero padding after it). Cut right at the window's end, the model takes
/// the chunk's last sentence for one the next window holds and often leaves it out.
const CUT_EARLIEST: usize = 1700;
const CUT_LATEST: usize = 2800;
/// The quiet stretch is this long (0.2 s: a pause between words is about that long).
const PAUSE_FRAMES: usize = 20;

/// One chunk of the stream: frames `start..start + frames`, and its features unless it is
/// silent (then the model does not run on it).
pub(super) struct Chunk {
    start: usize,
    frames: usize,
    features: Option<Mel>,
    /// The normalisation reference after this chunk (see [`LoopState::loudest`]).
    loudest: f32,
}

/// What the model heard in one chunk: its segments (stream time, ids unset) and their tokens;
/// `None` for a chunk it judged to hold no speech.
type Heard = Option<(Vec<Segment>, Vec<Vec<usize>>)>;

/// Chunks of one stream with sound, for one model call, and how to decode them.
pub(super) struct Batch {
    pub chunks: Vec<Chunk>,
    /// `None`: detect it on the first chunk.
    pub language: Option<String>,
    pub options: DecodeOptions,
}

impl Batch {
    /// Whether `other` can share a model call with this batch: the same decoding settings.
    /// Languages may differ or be still to detect: each chunk has its own prompt, and the
    /// alignment runs once per language in the call.
    pub fn fits(&self, other: &Batch) -> bool {
        let settings = |b: &Batch| DecodeOptions { language: None, ..b.options.clone() };
        settings(self) == settings(other)
    }
}

/// A batch as decoded: what the model heard in each chunk, and the language if it was detected.
pub(super) struct Decoded {
    pub heard: Vec<Heard>,
    pub detected: Option<(String, f32)>,
}

/// Runs the model on the batched loop's chunks.
pub(super) trait Decoder {
    fn decode(&self, batch: Batch, cancelled: &dyn Fn() -> bool) -> Result<Decoded, Stop>;
}

/// A stream alone on its engine: its chunks run as they come.
impl Decoder for WhisperEngine {
    fn decode(&self, batch: Batch, cancelled: &dyn Fn() -> bool) -> Result<Decoded, Stop> {
        let mut decoded = self.decode_batches(&[&batch], cancelled)?;
        decoded.pop().ok_or_else(|| AsrError::inference("no result for the batch").into())
    }
}

impl WhisperEngine {
    /// [`WhisperEngine::transcribe`] with `options.batch_size` chunks per model call, run by
    /// `decoder`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn transcribe_batched(
        &self,
        decoder: &dyn Decoder,
        source: &mut dyn AudioSource,
        expected_seconds: f64,
        options: &DecodeOptions,
        resume: Option<&LoopState>,
        on_window: &mut dyn FnMut(&WindowReport, &[Segment], &LoopState),
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Transcript, Stop> {
        let mut language = self.language_for(options.language.as_deref())?;
        let mut language_probability = None;
        let mut audio = Lookahead::new(source);
        let mut segments: Vec<Segment> = Vec::new();
        let mut seek = 0usize;
        let mut loudest = f32::NEG_INFINITY;
        let mut last_end = 0.0;
        if let Some(state) = resume {
            seek = state.seek;
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
            let (spans, heard) = split(self.next_chunks(&mut audio, seek, options.batch_size, &mut loudest)?);
            let Some(last) = spans.last() else { break };
            let _span = debug_span!("batch", start = seek as f64 * FRAME_SECONDS, chunks = spans.len()).entered();
            seek = last.start + last.frames;
            let mut decoded: Vec<Heard> = Vec::new();
            if !heard.is_empty() {
                let batch = Batch { chunks: heard, language: language.clone(), options: options.clone() };
                let out = decoder.decode(batch, cancelled)?;
                if let Some((code, probability)) = out.detected {
                    (language, language_probability) = (Some(code), Some(probability));
                }
                decoded = out.heard;
            }
            let total = audio.total();
            let mut decoded = decoded.into_iter();
            for chunk in &spans {
                let first = segments.len();
                let heard = chunk.heard;
                if let Some((new, _)) = heard.then(|| decoded.next()).flatten().flatten() {
                    for mut s in new {
                        // In order and apart: a chunk's first segment may not start before the
                        // previous chunk's last one ended.
                        s.start = s.start.max(last_end);
                        s.end = s.end.max(s.start);
                        for w in s.words.iter_mut().flatten() {
                            w.start = w.start.clamp(s.start, s.end);
                            w.end = w.end.clamp(w.start, s.end);
                        }
                        last_end = s.end;
                        s.id = segments.len();
                        segments.push(s);
                    }
                }
                let end = chunk.start + chunk.frames;
                let done = done_seconds(end, total);
                let report = WindowReport {
                    start: chunk.start as f64 * FRAME_SECONDS,
                    frames: chunk.frames,
                    decoded: heard,
                    done_seconds: done,
                    expected_seconds: expected_seconds.max(done),
                };
                let state = LoopState {
                    seek: end,
                    prompt: Vec::new(),
                    loudest: chunk.loudest.is_finite().then_some(chunk.loudest),
                    language: language.clone(),
                    language_probability,
                    last_end,
                };
                on_window(&report, &segments[first..], &state);
            }
            audio.discard_before((seek * HOP).saturating_sub(N_FFT / 2));
        }
        Ok(self.transcript(language, language_probability, audio.total(), segments))
    }

    /// Cuts up to `n` chunks from frame `seek` on, reading as far ahead as they need, with
    /// the features of each that is not silent (normalised in stream order, as the
    /// sequential loop does). Empty at the end of the stream.
    fn next_chunks(
        &self,
        audio: &mut Lookahead<'_>,
        seek: usize,
        n: usize,
        loudest: &mut f32,
    ) -> Result<Vec<Chunk>, AsrError> {
        let mut chunks = Vec::with_capacity(n);
        let mut start = seek;
        while chunks.len() < n {
            audio.fill_to((start + WINDOW_FRAMES) * HOP + N_FFT / 2)?;
            let content = audio.total().map_or(usize::MAX, |t| t / HOP);
            if start >= content {
                break;
            }
            let frames = if content - start <= WINDOW_FRAMES {
                content - start
            } else {
                pause_cut(audio.slice(start * HOP, (start + WINDOW_FRAMES) * HOP))
            };
            let samples = audio.slice(start * HOP, (start + frames) * HOP);
            let features = (!is_silent(samples)).then(|| self.features(audio, start, frames, loudest));
            debug!(start = start as f64 * FRAME_SECONDS, seconds = frames as f64 * FRAME_SECONDS, "chunk");
            chunks.push(Chunk { start, frames, features, loudest: *loudest });
            start += frames;
        }
        Ok(chunks)
    }

    /// Runs `batches` (of one setting: [`Batch::fits`]) in one encoder and one decoder call, and
    /// one alignment call per language. A batch without a language has it detected on its first
    /// chunk.
    pub(super) fn decode_batches(
        &self,
        batches: &[&Batch],
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Vec<Decoded>, Stop> {
        let chunks: Vec<&Chunk> = batches.iter().flat_map(|b| &b.chunks).collect();
        let first = batches.first().ok_or_else(|| AsrError::inference("no batch to decode"))?;
        let features: Vec<&Mel> = chunks.iter().filter_map(|c| c.features.as_ref()).collect();
        let encoded = self.encode(&features)?;
        if cancelled() {
            return Err(Stop::Cancelled);
        }
        // One detection call answers for every row; each batch reads its first chunk's.
        let rows = match batches.iter().any(|b| b.language.is_none()) {
            true => self.detect_languages(&encoded)?,
            false => Vec::new(),
        };
        let mut row = 0;
        let mut detected = Vec::with_capacity(batches.len());
        let mut sots = Vec::with_capacity(chunks.len());
        for b in batches {
            let found = match &b.language {
                Some(_) => None,
                None => Some(rows.get(row).cloned().ok_or_else(|| AsrError::inference("no language detected"))?),
            };
            if let Some((code, probability)) = &found {
                debug!(language = %code, probability, "language detected");
            }
            let language = b.language.as_deref().or(found.as_ref().map(|(code, _)| code.as_str()));
            sots.extend(std::iter::repeat_n(self.sot_sequence(language), b.chunks.len()));
            detected.push(found);
            row += b.chunks.len();
        }
        let mut heard = self.decode_batch(&chunks, &encoded, &sots, &first.options, cancelled)?.into_iter();
        Ok(batches
            .iter()
            .zip(detected)
            .map(|(b, detected)| Decoded { heard: heard.by_ref().take(b.chunks.len()).collect(), detected })
            .collect())
    }

    /// Each chunk's segments (in stream time, ids unset) and their tokens, or `None` for one the
    /// model judged to hold no speech. One decoder call for all; a chunk that fails the
    /// thresholds is encoded and decoded again alone at the next temperatures.
    fn decode_batch(
        &self,
        chunks: &[&Chunk],
        encoded: &StorageView<'_>,
        sots: &[Vec<usize>],
        options: &DecodeOptions,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Vec<Heard>, Stop> {
        let first_temperature = options.temperatures.first().copied().unwrap_or(0.0);
        // Text only, as faster-whisper's batched pipeline asks: with timestamps the model
        // leaves a chunk's last sentence open (a start time and the end of text), expecting
        // the next window to hold it, and it is lost. The segments are cut from the words.
        let prompts: Vec<Vec<String>> =
            sots.iter().map(|sot| self.prompt(&[], &[sot.as_slice(), &[self.vocab.no_timestamps]].concat())).collect();
        let results = self
            .whisper
            .generate(encoded, &prompts, &whisper_options(options, first_temperature))
            .map_err(AsrError::inference)?;
        if results.len() != chunks.len() {
            return Err(AsrError::inference(format!("{} results for {} chunks", results.len(), chunks.len())).into());
        }
        let mut out = Vec::with_capacity(chunks.len());
        // Chunks decoded again alone keep their own alignment (their encoder output is theirs).
        let mut alone: Vec<bool> = Vec::with_capacity(chunks.len());
        for (((chunk, result), prompt), sot) in chunks.iter().zip(results).zip(&prompts).zip(sots) {
            let mut result = self.window_result(result, first_temperature);
            let mut single = None;
            if needs_fallback(&result, options) && options.temperatures.len() > 1 {
                if cancelled() {
                    return Err(Stop::Cancelled);
                }
                let features = chunk.features.as_ref().ok_or_else(|| AsrError::inference("chunk without features"))?;
                let encoder_output = self.encode(&[features])?;
                let hotter = DecodeOptions { temperatures: options.temperatures[1..].to_vec(), ..options.clone() };
                result = self.generate_with_fallback(&encoder_output, prompt, &hotter, cancelled)?;
                single = Some(encoder_output);
            }
            alone.push(single.is_some());
            if is_no_speech(&result, options) {
                debug!(no_speech_prob = result.no_speech_prob, "chunk skipped as silence");
                out.push(None);
                continue;
            }
            let (mut segments, tokens) = self.chunk_segments(chunk, &result);
            if let Some(encoder_output) = single {
                let text = self.text_tokens(&tokens);
                let offset = chunk.start as f64 * FRAME_SECONDS;
                self.add_word_timestamps(&mut segments, &text, &encoder_output, sot, chunk.frames, offset)?;
            }
            out.push(Some((segments, tokens)));
        }
        // Always aligned: the words are where the segments are cut. Then, unless asked for, they go.
        if cancelled() {
            return Err(Stop::Cancelled);
        }
        self.align_batch(chunks, encoded, sots, &alone, &mut out)?;
        for (segments, _) in out.iter_mut().flatten() {
            *segments = std::mem::take(segments).into_iter().flat_map(sentences).collect();
            if !options.word_timestamps {
                segments.iter_mut().for_each(|s| s.words = None);
            }
        }
        Ok(out)
    }

    /// A decoded chunk as one segment over the whole chunk, in stream time, and its tokens
    /// (the words then cut it: [`sentences`]).
    fn chunk_segments(&self, chunk: &Chunk, result: &WindowResult) -> (Vec<Segment>, Vec<Vec<usize>>) {
        let (pieces, _) = self.split_window(&result.tokens, chunk.frames);
        let offset = chunk.start as f64 * FRAME_SECONDS;
        let span = WindowSpan::new(offset, chunk.frames as f64 * FRAME_SECONDS, None);
        let mut segments = Vec::new();
        let mut last_end = offset;
        let tokens = self.push_segments(pieces, span, result, &mut last_end, &mut segments);
        (segments, tokens)
    }

    /// Word timings of the chunks decoded in the batch, in one alignment call over the batch's
    /// encoder output per start sequence (language) among them. A chunk of another language,
    /// with no text, or decoded again alone (`alone`), takes part in a call with a placeholder
    /// token (the call needs one list per batch entry) and keeps what it has.
    fn align_batch(
        &self,
        chunks: &[&Chunk],
        encoded: &StorageView<'_>,
        sots: &[Vec<usize>],
        alone: &[bool],
        out: &mut [Heard],
    ) -> Result<(), AsrError> {
        let texts: Vec<Option<Vec<Vec<usize>>>> = out
            .iter()
            .zip(alone)
            .map(|(o, &alone)| o.as_ref().filter(|_| !alone).map(|(_, tokens)| self.text_tokens(tokens)))
            .map(|t| t.filter(|pieces| pieces.iter().any(|p| !p.is_empty())))
            .collect();
        // Any text token will do: its alignment is not read.
        let placeholder = self.vocab.eot - 1;
        let frames: Vec<usize> = chunks.iter().map(|c| c.frames).collect();
        let mut languages: Vec<&Vec<usize>> = Vec::new();
        for (sot, _) in sots.iter().zip(&texts).filter(|(_, t)| t.is_some()) {
            if !languages.contains(&sot) {
                languages.push(sot);
            }
        }
        for sot in languages {
            let ours = |i: usize| texts[i].as_ref().filter(|_| sots[i] == *sot);
            let flat: Vec<Vec<usize>> =
                (0..chunks.len()).map(|i| ours(i).map_or(vec![placeholder], |p| p.concat())).collect();
            let alignments = self.whisper.align(encoded, sot, &flat, &frames, 7).map_err(AsrError::inference)?;
            for (i, alignment) in alignments.iter().enumerate() {
                if let (Some(text), Some((segments, _))) = (ours(i), out[i].as_mut()) {
                    self.place_words(segments, text, alignment, chunks[i].start as f64 * FRAME_SECONDS);
                }
            }
        }
        Ok(())
    }
}

/// Where a chunk is and whether the model runs on it: what the loop keeps of each chunk while
/// its features go to the decoder.
struct Span {
    start: usize,
    frames: usize,
    heard: bool,
    loudest: f32,
}

/// The chunks' spans, and the chunks with sound (the decoder's).
fn split(chunks: Vec<Chunk>) -> (Vec<Span>, Vec<Chunk>) {
    let spans = chunks
        .iter()
        .map(|c| Span { start: c.start, frames: c.frames, heard: c.features.is_some(), loudest: c.loudest })
        .collect();
    (spans, chunks.into_iter().filter(|c| c.features.is_some()).collect())
}

/// A pause between two words this long (seconds) ends a segment even without punctuation.
const SEGMENT_PAUSE: f64 = 1.0;
/// A subtitle's most: 7 s on screen, two lines of 42 characters (the common broadcast and
/// streaming guideline). A longer sentence is cut again.
const SEGMENT_SECONDS: f64 = 7.0;
const SEGMENT_CHARS: usize = 84;

/// A chunk's segment cut into sentences at its words: after a word that ends a sentence
/// (`.`, `?`, `!`, `…` and their CJK forms, closing quotes or brackets after them allowed),
/// or before a word that follows a pause of [`SEGMENT_PAUSE`]; a sentence too long for one
/// subtitle is cut again ([`fit_subtitle`]). Each piece spans its words and keeps the
/// chunk's scores. Without words the segment stays whole.
fn sentences(segment: Segment) -> Vec<Segment> {
    let Some(words) = segment.words.clone().filter(|w| !w.is_empty()) else { return vec![segment] };
    let ends_sentence = |w: &str| ends_with_mark(w, &['.', '?', '!', '…', '。', '？', '！']);
    let mut groups: Vec<Vec<vidscribe_core::Word>> = Vec::new();
    // Whether the last group goes on: its last word did not end a sentence.
    let mut open = false;
    for w in words {
        let pause = groups.last().and_then(|g| g.last()).is_some_and(|last| w.start - last.end >= SEGMENT_PAUSE);
        let ends = ends_sentence(&w.word);
        match groups.last_mut() {
            Some(g) if open && !pause => g.push(w),
            _ => groups.push(vec![w]),
        }
        open = !ends;
    }
    groups
        .into_iter()
        .flat_map(fit_subtitle)
        .map(|g| Segment {
            start: g[0].start,
            end: g[g.len() - 1].end,
            text: g.iter().map(|w| w.word.as_str()).collect(),
            words: Some(g),
            ..segment.clone()
        })
        .collect()
}

/// Whether `word` ends with one of `marks`, closing quotes or brackets after it allowed.
fn ends_with_mark(word: &str, marks: &[char]) -> bool {
    word.trim_end_matches(['"', '\'', ')', ']', '»', '”', '’', '」']).ends_with(marks)
}

/// The words of one sentence in pieces of at most [`SEGMENT_SECONDS`] and [`SEGMENT_CHARS`]
/// (a single word longer than that stays whole). Each cut is where a reader would pause:
/// the longest gap between two words, a clause mark (`,` `;` `:` `—`) counting as 0.3 s
/// more, so "…Americans, | ask not…" is cut at the comma.
fn fit_subtitle(words: Vec<vidscribe_core::Word>) -> Vec<Vec<vidscribe_core::Word>> {
    let chars: usize = words.iter().map(|w| w.word.chars().count()).sum();
    let seconds = match (words.first(), words.last()) {
        (Some(a), Some(b)) => b.end - a.start,
        _ => 0.0,
    };
    if words.len() < 2 || (seconds <= SEGMENT_SECONDS && chars <= SEGMENT_CHARS) {
        return vec![words];
    }
    let clause = |w: &str| ends_with_mark(w, &[',', ';', ':', '—', '，', '、']);
    let cut = (1..words.len())
        .max_by(|&a, &b| {
            let weight = |i: usize| {
                let (before, after) = (&words[i - 1], &words[i]);
                (after.start - before.end).max(0.0) + if clause(&before.word) { 0.3 } else { 0.0 }
            };
            weight(a).total_cmp(&weight(b))
        })
        .unwrap_or(1);
    let mut words = words;
    let rest = words.split_off(cut);
    let mut out = fit_subtitle(words);
    out.extend(fit_subtitle(rest));
    out
}

/// Where to end a chunk of a longer stream, in frames from its start: the middle of the
/// quietest [`PAUSE_FRAMES`] between [`CUT_EARLIEST`] and [`CUT_LATEST`], `samples` being
/// the chunk's full 30 s.
fn pause_cut(samples: &[f32]) -> usize {
    let frames = (samples.len() / HOP).min(CUT_LATEST);
    if frames < CUT_EARLIEST + PAUSE_FRAMES {
        return frames.max(1);
    }
    let energy: Vec<f64> =
        samples.chunks(HOP).take(frames).map(|f| f.iter().map(|&s| f64::from(s) * f64::from(s)).sum()).collect();
    let first = CUT_EARLIEST;
    let mut sum: f64 = energy[first..first + PAUSE_FRAMES].iter().sum();
    let (mut best, mut best_at) = (sum, first);
    for i in first + 1..=frames - PAUSE_FRAMES {
        sum += energy[i + PAUSE_FRAMES - 1] - energy[i - 1];
        // `<=`: of equally quiet stretches the latest, so the chunk is as long as it can be.
        if sum <= best {
            (best, best_at) = (sum, i);
        }
    }
    best_at + PAUSE_FRAMES / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_ends_in_the_quietest_pause_between_17_and_28_seconds() {
        // 30 s of tone with a 0.3 s gap at 24 s and a quieter 0.3 s gap at 12 s (too early).
        let mut samples: Vec<f32> = (0..480_000).map(|i| 0.3 * (i as f32 * 0.05).sin()).collect();
        for s in &mut samples[24 * 16_000..24 * 16_000 + 4_800] {
            *s *= 0.01;
        }
        for s in &mut samples[12 * 16_000..12 * 16_000 + 4_800] {
            *s = 0.0;
        }
        let cut = pause_cut(&samples);
        assert!((2400..2430).contains(&cut), "cut at frame {cut}");
    }

    fn word(word: &str, start: f64, end: f64) -> vidscribe_core::Word {
        vidscribe_core::Word { word: word.into(), start, end, probability: 0.9 }
    }

    #[test]
    fn a_chunk_is_cut_into_sentences_and_at_long_pauses() {
        let words = vec![
            word(" Ask", 0.0, 0.4),
            word(" not.\"", 0.4, 1.0),
            word(" What", 1.2, 1.5),
            word(" you", 1.5, 1.8),
            word(" can", 3.0, 3.3),
        ];
        let chunk = Segment {
            id: 0,
            start: 0.0,
            end: 30.0,
            text: " Ask not.\" What you can".into(),
            words: Some(words),
            avg_logprob: -0.2,
            no_speech_prob: 0.01,
            compression_ratio: 1.2,
            temperature: 0.0,
        };
        let cut = sentences(chunk.clone());
        let spans: Vec<(f64, f64, &str)> = cut.iter().map(|s| (s.start, s.end, s.text.as_str())).collect();
        assert_eq!(spans, [(0.0, 1.0, " Ask not.\""), (1.2, 1.8, " What you"), (3.0, 3.3, " can")]);
        assert!(cut.iter().all(|s| s.avg_logprob == -0.2 && s.words.as_ref().is_some_and(|w| !w.is_empty())));
        let bare = Segment { words: None, ..chunk };
        assert_eq!(sentences(bare.clone()), [bare], "without words the chunk stays whole");
    }

    #[test]
    fn a_sentence_too_long_for_a_subtitle_is_cut_at_its_clauses() {
        // JFK's sentence as one 10.6 s sentence: cut at the commas with the longest pauses.
        let text = [
            (" And", 0.3, 0.5),
            (" so,", 0.5, 1.0),
            (" my", 1.2, 1.5),
            (" fellow", 1.5, 2.0),
            (" Americans,", 2.0, 3.0),
            (" ask", 3.6, 3.9),
            (" not", 3.9, 4.4),
            (" what", 5.0, 5.3),
            (" your", 5.3, 5.6),
            (" country", 5.6, 6.0),
            (" can", 6.0, 6.3),
            (" do", 6.3, 6.5),
            (" for", 6.5, 6.7),
            (" you,", 6.7, 7.5),
            (" ask", 7.9, 8.2),
            (" what", 8.2, 8.5),
            (" you", 8.5, 8.7),
            (" can", 8.7, 9.0),
            (" do", 9.0, 9.2),
            (" for", 9.2, 9.4),
            (" your", 9.4, 9.7),
            (" country.", 9.7, 10.9),
        ];
        let words: Vec<_> = text.iter().map(|&(w, a, b)| word(w, a, b)).collect();
        let chunk = Segment {
            id: 0,
            start: 0.0,
            end: 11.0,
            text: text.iter().map(|t| t.0).collect(),
            words: Some(words),
            avg_logprob: -0.2,
            no_speech_prob: 0.01,
            compression_ratio: 1.2,
            temperature: 0.0,
        };
        let cut: Vec<String> = sentences(chunk).into_iter().map(|s| s.text).collect();
        assert_eq!(
            cut,
            [
                " And so, my fellow Americans,",
                " ask not what your country can do for you,",
                " ask what you can do for your country."
            ]
        );
        // A sentence that fits stays whole, and one word is never cut.
        assert_eq!(fit_subtitle(vec![word(" Hello.", 0.0, 0.5)]).len(), 1);
        assert_eq!(fit_subtitle(vec![word(" Soooo", 0.0, 9.0)]).len(), 1);
    }

    #[test]
    fn without_a_pause_a_chunk_still_ends_within_the_window() {
        let samples = vec![0.2f32; 480_000];
        let cut = pause_cut(&samples);
        assert!((CUT_EARLIEST..=CUT_LATEST).contains(&cut), "cut at frame {cut}");
    }
}
