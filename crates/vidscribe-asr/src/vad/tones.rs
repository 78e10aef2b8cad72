//! Music rejection for the speech gate: a frame belongs to music when a spectral peak has held
//! the same frequency for a quarter of a second.
//!
//! earshot scores a music bed (chords, a beat) as voiced about half the time, and Whisper
//! turns what it is given of it into invented lyrics or "♪". Held pitches tell the two apart:
//! an instrument holds a note at one frequency for hundreds of milliseconds, while the
//! harmonics of speech glide with its intonation and stay within one 16 Hz bin for a few
//! frames at most. Measured on the test speech (jfk.wav, the five LibriVox clips,
//! fr_prompts.wav, the first 5 min of long_form.wav): 0–14 % of frames hold a peak, in short
//! runs; on the benchmark's music bed 88 %. The gate then judges a frame by the share of
//! held-tone frames in the second around it (see `MUSIC_SHARE` in the gate), so a held vowel
//! or a hum in a pause never cuts speech: a stretch ends only after 2 s without voice.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

use crate::mel::SAMPLE_RATE;

/// The analysis window: 64 ms, so neighbouring notes (and speech harmonics) fall in
/// different bins (15.6 Hz wide).
const WINDOW: usize = 1024;
/// Where instruments and voices put their energy; below is rumble, above mostly noise.
const LOW_HZ: f64 = 80.0;
const HIGH_HZ: f64 = 3000.0;
/// A peak counts when it stands this far above the band's median (a tone, not noise)…
const OVER_MEDIAN_DB: f32 = 15.0;
/// …and is within this of the frame's strongest (not a faint overtone).
const UNDER_MAX_DB: f32 = 30.0;
/// Held this long at one bin, a peak is a note.
const HELD_SECONDS: f64 = 0.25;

/// Tracks how long each frequency bin has held a spectral peak, one hop at a time.
pub struct ToneTracker {
    fft: Arc<dyn RealToComplex<f32>>,
    hann: Vec<f32>,
    /// The last `WINDOW` samples.
    recent: Vec<f32>,
    input: Vec<f32>,
    spectrum: Vec<realfft::num_complex::Complex<f32>>,
    db: Vec<f32>,
    sorted: Vec<f32>,
    /// Hops each bin has held a peak for, up to now.
    held: Vec<u32>,
    bins: (usize, usize),
    held_hops: u32,
}

impl ToneTracker {
    /// For hops of `hop` samples.
    pub fn new(hop: usize) -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(WINDOW);
        let hann = (0..WINDOW)
            .map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / WINDOW as f64).cos()) as f32)
            .collect();
        let bin = |hz: f64| (hz * WINDOW as f64 / SAMPLE_RATE as f64).round() as usize;
        let held_hops = (HELD_SECONDS * SAMPLE_RATE as f64 / hop as f64).ceil() as u32;
        ToneTracker {
            input: fft.make_input_vec(),
            spectrum: fft.make_output_vec(),
            fft,
            hann,
            recent: vec![0.0; WINDOW],
            db: vec![0.0; WINDOW / 2 + 1],
            sorted: Vec::new(),
            held: vec![0; WINDOW / 2 + 1],
            bins: (bin(LOW_HZ), bin(HIGH_HZ)),
            held_hops,
        }
    }

    /// Takes the next hop of samples; true when some peak has now been held long enough to
    /// be a note.
    pub fn push(&mut self, hop: &[f32]) -> bool {
        let n = hop.len().min(WINDOW);
        self.recent.drain(..n);
        self.recent.extend_from_slice(&hop[hop.len() - n..]);
        for ((x, s), w) in self.input.iter_mut().zip(&self.recent).zip(&self.hann) {
            *x = s * w;
        }
        if self.fft.process(&mut self.input, &mut self.spectrum).is_err() {
            return false;
        }
        for (d, c) in self.db.iter_mut().zip(&self.spectrum) {
            *d = 10.0 * (c.norm_sqr() + 1e-18).log10();
        }
        let (lo, hi) = self.bins;
        let band = &self.db[lo..hi];
        self.sorted.clear();
        self.sorted.extend_from_slice(band);
        self.sorted.sort_unstable_by(f32::total_cmp);
        let median = self.sorted[self.sorted.len() / 2];
        let max = self.sorted[self.sorted.len() - 1];
        let mut longest = 0;
        for b in 0..self.held.len() {
            let peak = (lo + 1..hi - 1).contains(&b)
                && self.db[b] > self.db[b - 1]
                && self.db[b] >= self.db[b + 1]
                && self.db[b] > median + OVER_MEDIAN_DB
                && self.db[b] > max - UNDER_MAX_DB;
            self.held[b] = if peak { self.held[b] + 1 } else { 0 };
            longest = longest.max(self.held[b]);
        }
        longest >= self.held_hops
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOP: usize = 256;

    fn share_held(samples: &[f32]) -> f64 {
        let mut t = ToneTracker::new(HOP);
        let flags: Vec<bool> = samples.chunks_exact(HOP).map(|h| t.push(h)).collect();
        flags.iter().filter(|&&f| f).count() as f64 / flags.len() as f64
    }

    fn sine(hz: f64, seconds: f64) -> Vec<f32> {
        let n = (seconds * SAMPLE_RATE as f64) as usize;
        (0..n).map(|i| (0.3 * (2.0 * std::f64::consts::PI * hz * i as f64 / SAMPLE_RATE as f64).sin()) as f32).collect()
    }

    #[test]
    fn a_held_note_is_found_once_it_has_lasted_a_quarter_second() {
        let share = share_held(&sine(440.0, 2.0));
        // Everything but the first quarter second (and the window filling up).
        assert!(share > 0.8 && share < 0.9, "{share}");
    }

    #[test]
    fn a_gliding_pitch_and_noise_are_not_notes() {
        // A voice-like glide: 120 → 240 Hz over a second, its harmonics moving bins quickly.
        let glide: Vec<f32> = (0..SAMPLE_RATE as usize)
            .map(|i| {
                let t = i as f64 / SAMPLE_RATE as f64;
                (0.3 * (2.0 * std::f64::consts::PI * (120.0 * t + 60.0 * t * t)).sin()) as f32
            })
            .collect();
        assert_eq!(share_held(&glide), 0.0);
        let mut seed: u32 = 7;
        let noise: Vec<f32> = (0..SAMPLE_RATE as usize)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                ((seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 0.2
            })
            .collect();
        assert_eq!(share_held(&noise), 0.0);
    }
}
