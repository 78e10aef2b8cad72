//! Voice activity detection: a gate between the media decoder and the model that passes only
//! the stretches with speech in them, so silence, music and noise cost no decoding and give
//! Whisper nothing to hallucinate on.
//!
//! The rules are faster-whisper's (Silero VAD's) with its defaults: a frame is voiced at a
//! score ≥ 0.5, speech ends at the first frame under 0.35 that is followed by ≥ 2 s without
//! voice, and each kept stretch is padded by 0.4 s on both sides. The kept stretches are
//! joined end to end; [`SpeechMap`] maps a time in the joined audio back to media time.
//! The scores come from `earshot`, whose network ships inside the crate.
//!
//! The gate streams: it holds at most the undecided tail (the current silence, under 2 s,
//! plus padding), never the media.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use crate::error::AsrError;
use crate::mel::SAMPLE_RATE;
use crate::stream::AudioSource;

/// earshot scores frames of exactly this many samples (16 ms at 16 kHz).
const FRAME: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VadOptions {
    /// A frame scoring at least this is voiced.
    pub threshold: f32,
    /// A frame scoring under this may start the silence that ends speech.
    pub neg_threshold: f32,
    /// Seconds without voice that end a stretch of speech.
    pub min_silence: f64,
    /// Seconds kept before and after each stretch.
    pub pad: f64,
    /// A voiced stretch shorter than this is a click or a note, not speech.
    pub min_speech: f64,
}

impl Default for VadOptions {
    fn default() -> Self {
        VadOptions { threshold: 0.5, neg_threshold: 0.35, min_silence: 2.0, pad: 0.4, min_speech: 0.25 }
    }
}

/// Where each kept stretch sits in the joined audio and in the media, in samples.
#[derive(Debug, Default, Clone)]
pub struct SpeechMap {
    /// `(joined_start, media_start)` of each stretch, in order.
    chunks: Vec<(usize, usize)>,
    /// Samples passed to the model so far.
    kept: usize,
    /// Samples read from the media so far (all of it once the stream has ended).
    read: usize,
}

impl SpeechMap {
    /// The media interval of an interval of the joined audio (seconds). Stretches are joined
    /// with no gap between them, and the model's times are coarse near a seam, so an interval
    /// that crosses one is kept inside the stretch holding most of it.
    pub fn media_span(&self, start: f64, end: f64) -> (f64, f64) {
        match self.stretch_of(start, end) {
            Some(i) => {
                let (lo, hi) = self.bounds(i);
                let media = |t: f64| {
                    let t = (samples(t).clamp(lo, hi) - lo) + self.chunks[i].1;
                    t as f64 / SAMPLE_RATE as f64
                };
                (media(start), media(end.max(start)))
            }
            None => (start, end.max(start)),
        }
    }

    /// The stretch holding most of a joined interval (`None` before any).
    pub fn stretch_of(&self, start: f64, end: f64) -> Option<usize> {
        let (a, b) = (samples(start), samples(end).max(samples(start)));
        if self.chunks.is_empty() {
            return None;
        }
        let first = self.chunks.partition_point(|&(j, _)| j <= a).saturating_sub(1);
        let last = self.chunks.partition_point(|&(j, _)| j < b).saturating_sub(1).max(first);
        (first..=last).max_by_key(|&i| {
            let (lo, hi) = self.bounds(i);
            // Ties go to the later stretch: an instant at a seam starts the next one.
            (b.min(hi).saturating_sub(a.max(lo)), i)
        })
    }

    /// Stretch `i` in the joined audio, in samples (the last one open-ended).
    fn bounds(&self, i: usize) -> (usize, usize) {
        (self.chunks[i].0, self.chunks.get(i + 1).map_or(usize::MAX, |c| c.0))
    }

    /// The media time of a time in the joined audio (a point: progress).
    pub fn media_time(&self, joined_seconds: f64) -> f64 {
        self.media_span(joined_seconds, joined_seconds).0
    }

    /// Seconds of audio given to the model.
    pub fn speech_seconds(&self) -> f64 {
        self.kept as f64 / SAMPLE_RATE as f64
    }

    /// Seconds of media read.
    pub fn media_seconds(&self) -> f64 {
        self.read as f64 / SAMPLE_RATE as f64
    }

    /// The kept stretches as media `(start, end)` seconds.
    pub fn stretches(&self) -> Vec<(f64, f64)> {
        let s = |n: usize| n as f64 / SAMPLE_RATE as f64;
        (0..self.chunks.len())
            .map(|i| {
                let (joined, media) = self.chunks[i];
                let next = self.chunks.get(i + 1).map_or(self.kept, |c| c.0);
                (s(media), s(media + next - joined))
            })
            .collect()
    }
}

/// Where the detector is: between stretches, or in one that began at `start` (media samples).
enum State {
    Silence,
    Speech {
        start: usize,
        /// Where the current run without voice began, if one is running.
        quiet_since: Option<usize>,
        /// Long enough to be speech: its samples are being passed on.
        confirmed: bool,
    },
}

/// Seconds as a count of samples (negative times count as 0).
fn samples(seconds: f64) -> usize {
    (seconds.max(0.0) * SAMPLE_RATE as f64).round() as usize
}

/// An [`AudioSource`] passing on only the speech of `inner`.
pub struct SpeechGate<'a> {
    inner: &'a mut dyn AudioSource,
    detector: Box<earshot::Detector>,
    options: VadOptions,
    /// The options' durations in samples.
    pad: usize,
    min_silence: usize,
    min_speech: usize,
    map: Arc<Mutex<SpeechMap>>,
    /// Samples read but not yet scored (less than a frame).
    unscored: Vec<f32>,
    /// Scored samples not yet passed on or dropped: media samples `held_start..held_start + len`.
    held: VecDeque<f32>,
    held_start: usize,
    /// Media samples scored so far.
    pos: usize,
    /// Where the last stretch passed on ends (media samples), so the next one knows if it
    /// continues it.
    passed_to: Option<usize>,
    state: State,
    ended: bool,
}

impl<'a> SpeechGate<'a> {
    pub fn new(inner: &'a mut dyn AudioSource, options: VadOptions) -> Self {
        SpeechGate {
            inner,
            detector: earshot::Detector::default_boxed(),
            options,
            pad: samples(options.pad),
            min_silence: samples(options.min_silence),
            min_speech: samples(options.min_speech),
            map: Arc::default(),
            unscored: Vec::new(),
            held: VecDeque::new(),
            held_start: 0,
            pos: 0,
            passed_to: None,
            state: State::Silence,
            ended: false,
        }
    }

    /// The map from joined to media time; it grows as the gate is read.
    pub fn map(&self) -> Arc<Mutex<SpeechMap>> {
        self.map.clone()
    }

    /// Passes on the held samples up to media index `to`, starting no earlier than `from`
    /// (earlier held samples are dropped).
    fn pass(&mut self, from: usize, to: usize, out: &mut Vec<f32>) {
        self.drop_before(from);
        let to = to.min(self.pos);
        if to <= self.held_start {
            return;
        }
        let n = to - self.held_start;
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if self.passed_to != Some(self.held_start) {
            let joined = map.kept;
            map.chunks.push((joined, self.held_start));
        }
        map.kept += n;
        drop(map);
        out.extend(self.held.drain(..n));
        self.held_start = to;
        self.passed_to = Some(to);
    }

    fn drop_before(&mut self, index: usize) {
        let n = index.saturating_sub(self.held_start).min(self.held.len());
        self.held.drain(..n);
        self.held_start += n;
    }

    /// Scores one frame of media samples `pos..pos + FRAME` and moves the state on.
    fn frame(&mut self, frame: &[f32], out: &mut Vec<f32>) {
        let (f0, f1) = (self.pos, self.pos + frame.len());
        let score = if frame.len() == FRAME {
            // earshot wants samples in [-1, 1]; a resampler's overshoot can leave that range.
            let mut clamped = [0f32; FRAME];
            for (c, s) in clamped.iter_mut().zip(frame) {
                *c = s.clamp(-1.0, 1.0);
            }
            self.detector.predict_f32(&clamped)
        } else {
            0.0
        };
        self.held.extend(frame.iter().copied());
        self.pos = f1;
        let (pad, min_silence, min_speech) = (self.pad, self.min_silence, self.min_speech);
        let voiced = score >= self.options.threshold;
        match &mut self.state {
            State::Silence => {
                if voiced {
                    self.state = State::Speech { start: f0, quiet_since: None, confirmed: false };
                } else {
                    // Keep the padding a stretch starting next would begin with.
                    self.drop_before(f1.saturating_sub(pad));
                    return;
                }
            }
            State::Speech { quiet_since, .. } => {
                if voiced {
                    *quiet_since = None;
                } else if score < self.options.neg_threshold && quiet_since.is_none() {
                    *quiet_since = Some(f0);
                }
            }
        }
        let State::Speech { start, quiet_since, confirmed } = &mut self.state else { return };
        let (start, voice_end) = (*start, quiet_since.unwrap_or(f1));
        if !*confirmed && voice_end - start >= min_speech {
            *confirmed = true;
        }
        let confirmed = *confirmed;
        let over = quiet_since.is_some_and(|q| f1 - q >= min_silence);
        if confirmed {
            self.pass(start.saturating_sub(pad), voice_end + pad, out);
        }
        if over {
            self.state = State::Silence;
            self.drop_before(f1.saturating_sub(pad));
        }
    }

    /// At the end of the media: a stretch still open lasts to the end.
    fn finish(&mut self, out: &mut Vec<f32>) {
        if !self.unscored.is_empty() {
            let rest = std::mem::take(&mut self.unscored);
            self.frame(&rest, out);
        }
        if let State::Speech { start, quiet_since, confirmed } = self.state {
            let voice_end = quiet_since.unwrap_or(self.pos);
            if confirmed || voice_end - start >= self.min_speech {
                let pad = self.pad;
                self.pass(start.saturating_sub(pad), voice_end + pad, out);
            }
        }
        self.state = State::Silence;
        self.held.clear();
        self.map.lock().unwrap_or_else(PoisonError::into_inner).read = self.pos;
    }
}

impl AudioSource for SpeechGate<'_> {
    fn next_chunk(&mut self) -> Result<Option<Vec<f32>>, AsrError> {
        let mut out = Vec::new();
        while out.is_empty() {
            if self.ended {
                return Ok(None);
            }
            match self.inner.next_chunk()? {
                Some(chunk) => {
                    self.unscored.extend_from_slice(&chunk);
                    let whole = self.unscored.len() / FRAME * FRAME;
                    let scored: Vec<f32> = self.unscored.drain(..whole).collect();
                    for frame in scored.chunks(FRAME) {
                        self.frame(frame, &mut out);
                    }
                    self.map.lock().unwrap_or_else(PoisonError::into_inner).read = self.pos;
                }
                None => {
                    self.finish(&mut out);
                    self.ended = true;
                }
            }
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joined_times_map_back_to_the_stretch_holding_most_of_them() {
        let sr = SAMPLE_RATE;
        // Two stretches: media 1 s..3 s and 10 s..11 s, joined as 0..2 s and 2..3 s.
        let map = SpeechMap { chunks: vec![(0, sr), (2 * sr, 10 * sr)], kept: 3 * sr, read: 12 * sr };
        assert_eq!(map.media_span(0.5, 1.5), (1.5, 2.5));
        assert_eq!(map.media_span(2.5, 2.75), (10.5, 10.75));
        assert_eq!(map.media_span(1.0, 2.25), (2.0, 3.0), "mostly before the seam: ends with the first stretch");
        assert_eq!(map.media_span(1.75, 3.0), (10.0, 11.0), "mostly after it: starts with the second");
        assert_eq!(map.media_time(2.0), 10.0);
        assert_eq!(map.stretches(), vec![(1.0, 3.0), (10.0, 11.0)]);
        assert_eq!(map.speech_seconds(), 3.0);
        assert_eq!(map.media_seconds(), 12.0);
    }

    #[test]
    fn an_empty_map_is_the_identity() {
        let map = SpeechMap::default();
        assert_eq!(map.media_span(4.0, 5.0), (4.0, 5.0));
    }
}
