//! Whisper's input features: an 80- or 128-bin log-mel spectrogram of 16 kHz audio, 100
//! frames a second, computed exactly as the reference implementation does (centered STFT with
//! reflect padding, n_fft 400, hop 160, periodic Hann window, Slaney mel filters, log10,
//! clamped to 8 below the maximum, scaled by (x + 4) / 4). CTranslate2 takes these features
//! as input; it does not compute them.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

pub const SAMPLE_RATE: usize = 16_000;
pub const N_FFT: usize = 400;
pub const HOP: usize = 160;
/// Frames in one 30 s window, the model's fixed input length.
pub const WINDOW_FRAMES: usize = 3000;

/// A log-mel spectrogram, row-major `[n_mels][n_frames]`.
#[derive(Debug, Clone)]
pub struct Mel {
    pub n_mels: usize,
    pub n_frames: usize,
    /// The largest log10 energy the normalisation clamped against (see `compute_frames`).
    pub loudest: f32,
    data: Vec<f32>,
}

impl Mel {
    /// Frames `start..start + len` as a full `[n_mels][3000]` model input, zero-padded at the end
    /// like the reference `pad_or_trim`.
    pub fn window(&self, start: usize, len: usize) -> Vec<f32> {
        let mut out = vec![0.0f32; self.n_mels * WINDOW_FRAMES];
        let len = len.min(WINDOW_FRAMES).min(self.n_frames.saturating_sub(start));
        for m in 0..self.n_mels {
            let row = &self.data[m * self.n_frames..(m + 1) * self.n_frames];
            out[m * WINDOW_FRAMES..m * WINDOW_FRAMES + len].copy_from_slice(&row[start..start + len]);
        }
        out
    }

    pub fn value(&self, mel: usize, frame: usize) -> f32 {
        self.data[mel * self.n_frames + frame]
    }
}

pub struct MelExtractor {
    n_mels: usize,
    /// Per mel bin: first FFT bin with a non-zero weight, and the weights from there on.
    filters: Vec<(usize, Vec<f32>)>,
    window: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
}

impl std::fmt::Debug for MelExtractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MelExtractor").field("n_mels", &self.n_mels).finish()
    }
}

impl MelExtractor {
    pub fn new(n_mels: usize) -> Self {
        let window = (0..N_FFT)
            .map(|i| {
                // Periodic Hann (torch.hann_window's default): the period is N_FFT, not N_FFT - 1.
                let x = std::f64::consts::PI * 2.0 * i as f64 / N_FFT as f64;
                (0.5 - 0.5 * x.cos()) as f32
            })
            .collect();
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT);
        let filters = slaney_filters(n_mels)
            .into_iter()
            .map(|row| {
                let first = row.iter().position(|&w| w > 0.0).unwrap_or(0);
                let last = row.iter().rposition(|&w| w > 0.0).map_or(first, |i| i + 1);
                (first, row[first..last].iter().map(|&w| w as f32).collect())
            })
            .collect();
        MelExtractor { n_mels, filters, window, fft }
    }

    /// Features of `samples` (16 kHz mono), one frame per 160 samples of real audio, the audio
    /// counting as followed by silence (which shapes the last frames), as in the reference.
    pub fn compute(&self, samples: &[f32]) -> Mel {
        self.compute_frames(samples, 0, 0, samples.len() / HOP, f32::NEG_INFINITY)
    }

    /// Features of frames `first..first + n` of a longer signal, of which `samples` holds the
    /// part from sample `offset` on: what the streaming decoder keeps of a long file. It must
    /// hold the frames' samples plus `N_FFT / 2` on either side (where the signal has them);
    /// past its end the signal is silence, before sample 0 it is reflected, as in the
    /// reference's centered STFT.
    ///
    /// The reference clamps the log-mel to 8 below the maximum of the whole file, which a
    /// stream cannot know in advance; here it is the maximum of these frames and of
    /// `loudest_before` (the maximum of every earlier window, which the returned
    /// [`Mel::loudest`] carries on). It converges on the whole file's maximum as the stream
    /// goes, and only values more than 80 dB below the loudest are affected.
    pub fn compute_frames(&self, samples: &[f32], offset: usize, first: usize, n: usize, loudest_before: f32) -> Mel {
        let at = |i: isize| -> f32 {
            let global = i.unsigned_abs();
            global.checked_sub(offset).and_then(|local| samples.get(local)).copied().unwrap_or(0.0)
        };
        let mut data = vec![0.0f32; self.n_mels * n];
        let mut input = self.fft.make_input_vec();
        let mut spectrum: Vec<Complex<f32>> = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0.0f32; N_FFT / 2 + 1];
        let mut max = loudest_before;
        for frame in 0..n {
            let start = ((first + frame) * HOP) as isize - (N_FFT / 2) as isize;
            for (k, slot) in input.iter_mut().enumerate() {
                *slot = at(start + k as isize) * self.window[k];
            }
            // Cannot fail: the buffers come from the plan itself.
            let _ = self.fft.process_with_scratch(&mut input, &mut spectrum, &mut scratch);
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.norm_sqr();
            }
            for (m, (first, weights)) in self.filters.iter().enumerate() {
                let energy: f32 = weights.iter().zip(&power[*first..]).map(|(w, p)| w * p).sum();
                let log = energy.max(1e-10).log10();
                max = max.max(log);
                data[m * n + frame] = log;
            }
        }
        let floor = max - 8.0;
        for v in &mut data {
            *v = (v.max(floor) + 4.0) / 4.0;
        }
        Mel { n_mels: self.n_mels, n_frames: n, loudest: max, data }
    }
}

/// librosa's `mel(sr=16000, n_fft=400, n_mels, htk=False, norm="slaney")`: triangular filters
/// evenly spaced on the Slaney mel scale (linear below 1 kHz, logarithmic above), each scaled
/// to unit area.
fn slaney_filters(n_mels: usize) -> Vec<Vec<f64>> {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    const MIN_LOG_MEL: f64 = MIN_LOG_HZ / F_SP;
    let logstep = 6.4f64.ln() / 27.0;
    let hz_to_mel = |f: f64| {
        if f >= MIN_LOG_HZ {
            MIN_LOG_MEL + (f / MIN_LOG_HZ).ln() / logstep
        } else {
            f / F_SP
        }
    };
    let mel_to_hz = |m: f64| {
        if m >= MIN_LOG_MEL {
            MIN_LOG_HZ * (logstep * (m - MIN_LOG_MEL)).exp()
        } else {
            F_SP * m
        }
    };

    let n_bins = N_FFT / 2 + 1;
    let nyquist = SAMPLE_RATE as f64 / 2.0;
    let fft_freqs: Vec<f64> = (0..n_bins).map(|i| i as f64 * nyquist / (n_bins - 1) as f64).collect();
    let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(nyquist));
    let mel_freqs: Vec<f64> =
        (0..n_mels + 2).map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (n_mels + 1) as f64)).collect();

    (0..n_mels)
        .map(|m| {
            let (left, center, right) = (mel_freqs[m], mel_freqs[m + 1], mel_freqs[m + 2]);
            let norm = 2.0 / (right - left);
            fft_freqs
                .iter()
                .map(|&f| {
                    let rising = (f - left) / (center - left);
                    let falling = (right - f) / (right - center);
                    rising.min(falling).max(0.0) * norm
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_frame_per_hop_of_real_audio() {
        let mel = MelExtractor::new(80).compute(&vec![0.0; SAMPLE_RATE * 2 + 7]);
        assert_eq!(mel.n_frames, 200);
        assert_eq!(mel.n_mels, 80);
    }

    #[test]
    fn a_pure_tone_lights_the_mel_bin_of_its_frequency() {
        // 1 kHz is mel 15 on the Slaney scale; filter m peaks at mel (m + 1) · 45.25 / 81, so m ≈ 26.
        let tone: Vec<f32> =
            (0..SAMPLE_RATE).map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 16000.0).sin()).collect();
        let mel = MelExtractor::new(80).compute(&tone);
        let frame = 50;
        let loudest = (0..80).max_by(|&a, &b| mel.value(a, frame).total_cmp(&mel.value(b, frame))).unwrap();
        assert!((25..=27).contains(&loudest), "loudest bin {loudest}");
        // Normalised like the reference: the maximum maps to (max + 4) / 4 and nothing lies below max - 2.
        let quiet = (0..80).map(|m| mel.value(m, frame)).fold(f32::INFINITY, f32::min);
        assert!(mel.value(loudest, frame) - quiet <= 2.0 + 1e-4);
    }

    #[test]
    fn filters_are_triangles_of_unit_area_on_the_slaney_scale() {
        let filters = slaney_filters(80);
        assert_eq!(filters.len(), 80);
        // librosa's first slaney filter for these settings peaks at about 0.0246 (unit-area scaling).
        let peak = filters[0].iter().cloned().fold(0.0, f64::max);
        assert!((peak - 0.0246).abs() < 0.002, "first filter peak {peak}");
        assert!(filters.iter().all(|row| row.iter().any(|&w| w > 0.0)));
    }

    #[test]
    fn frames_from_a_part_of_the_signal_equal_those_from_the_whole() {
        // A loud tone throughout, so both normalise to the same maximum.
        let tone: Vec<f32> =
            (0..SAMPLE_RATE * 3).map(|i| 0.5 * (i as f32 * 0.07).sin() + 0.1 * (i as f32 * 0.011).cos()).collect();
        let extractor = MelExtractor::new(80);
        let whole = extractor.compute(&tone);
        let (first, n) = (120, 100);
        let offset = first * HOP - N_FFT / 2;
        let part = &tone[offset..(first + n) * HOP + N_FFT / 2];
        let windowed = extractor.compute_frames(part, offset, first, n, f32::NEG_INFINITY);
        for m in [0, 17, 79] {
            for f in [0, 50, 99] {
                let (a, b) = (windowed.value(m, f), whole.value(m, first + f));
                assert!((a - b).abs() < 2e-3, "mel {m} frame {f}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn windows_are_padded_to_thirty_seconds() {
        let mel = MelExtractor::new(80).compute(&vec![0.1; SAMPLE_RATE]);
        let w = mel.window(50, 3000);
        assert_eq!(w.len(), 80 * WINDOW_FRAMES);
        assert_eq!(w[49], mel.value(0, 99));
        assert_eq!(w[50], 0.0);
    }
}
