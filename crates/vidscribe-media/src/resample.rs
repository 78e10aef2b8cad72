//! Downmix to mono and band-limited resampling to 16 kHz.
//!
//! Resampling uses rubato's FFT resampler: it low-pass filters before changing the rate, so
//! speech energy above 8 kHz does not alias back into the band Whisper listens to (which
//! naive sample dropping would do).

use rubato::{FftFixedIn, Resampler as _};

use crate::SAMPLE_RATE;

/// Frames fed to the FFT resampler at a time.
const FRAMES_IN: usize = 1024;
/// Sample rates accepted. The FFT sizes grow with the ratio to 16 kHz, so a file declaring
/// 1 Hz or 4 GHz would make the resampler allocate gigabytes (an abort, not an error).
pub(crate) const RATES: std::ops::RangeInclusive<u32> = 1_000..=768_000;

/// Averages interleaved channels into one.
pub(crate) fn downmix_into(interleaved: &[f32], channels: usize, out: &mut Vec<f32>) {
    if channels <= 1 {
        out.extend_from_slice(interleaved);
        return;
    }
    let scale = 1.0 / channels as f32;
    out.extend(interleaved.chunks_exact(channels).map(|frame| frame.iter().sum::<f32>() * scale));
}

/// Streams mono audio at any rate into 16 kHz mono, with the resampler's delay removed so
/// output sample `n` is input time `n / 16000`, and with exactly
/// `ceil(input_frames * 16000 / rate)` samples out in total.
pub(crate) struct MonoResampler {
    inner: Option<FftFixedIn<f32>>,
    rate_in: u32,
    pending: Vec<f32>,
    frames_in: u64,
    frames_out: u64,
    /// Leading output samples still to drop (the filter's delay).
    skip: usize,
    out_buf: Vec<Vec<f32>>,
}

impl MonoResampler {
    pub(crate) fn new(rate_in: u32) -> Result<Self, String> {
        if !RATES.contains(&rate_in) {
            return Err(format!("implausible sample rate of {rate_in} Hz"));
        }
        let inner = if rate_in == SAMPLE_RATE {
            None
        } else {
            let r = FftFixedIn::<f32>::new(rate_in as usize, SAMPLE_RATE as usize, FRAMES_IN, 2, 1)
                .map_err(|e| format!("cannot resample from {rate_in} Hz: {e}"))?;
            Some(r)
        };
        let skip = inner.as_ref().map_or(0, |r| r.output_delay());
        let out_buf = inner.as_ref().map_or_else(Vec::new, |r| vec![vec![0.0; r.output_frames_max()]]);
        Ok(MonoResampler { inner, rate_in, pending: Vec::new(), frames_in: 0, frames_out: 0, skip, out_buf })
    }

    fn expected_out(&self) -> u64 {
        (self.frames_in * u64::from(SAMPLE_RATE)).div_ceil(u64::from(self.rate_in))
    }

    fn emit(&mut self, n: usize, out: &mut Vec<f32>) {
        let produced = &self.out_buf[0][..n];
        let drop = self.skip.min(n);
        self.skip -= drop;
        let keep = &produced[drop..];
        let room = self.expected_out().saturating_sub(self.frames_out) as usize;
        let keep = &keep[..keep.len().min(room)];
        self.frames_out += keep.len() as u64;
        out.extend_from_slice(keep);
    }

    /// Adds mono input; appends whatever output is ready to `out`.
    pub(crate) fn push(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<(), String> {
        self.frames_in += input.len() as u64;
        if self.inner.is_none() {
            self.frames_out += input.len() as u64;
            out.extend_from_slice(input);
            return Ok(());
        }
        self.pending.extend_from_slice(input);
        let mut start = 0;
        while let Some(r) = self.inner.as_mut() {
            let need = r.input_frames_next();
            if self.pending.len() - start < need {
                break;
            }
            let (_, n) = r
                .process_into_buffer(&[&self.pending[start..start + need]], &mut self.out_buf, None)
                .map_err(|e| e.to_string())?;
            start += need;
            self.emit(n, out);
        }
        self.pending.drain(..start);
        Ok(())
    }

    /// Ends the stream: pushes the remaining input and the filter's tail through.
    pub(crate) fn finish(&mut self, out: &mut Vec<f32>) -> Result<(), String> {
        if self.inner.is_none() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        // An empty leftover must go in as "no input": rubato rejects a zero-length slice,
        // which happens whenever the stream length is a multiple of FRAMES_IN (8 kHz AAC
        // frames are exactly 1024 samples).
        let mut first = Some(pending).filter(|p| !p.is_empty());
        // Zero-padding flushes the delay line; a few rounds always suffice, the bound only
        // guards against a resampler that never reports progress.
        for _ in 0..64 {
            if self.frames_out >= self.expected_out() {
                break;
            }
            let r = self.inner.as_mut().expect("checked above");
            let (_, n) = match first.take() {
                Some(p) => r.process_partial_into_buffer(Some(&[&p[..]]), &mut self.out_buf, None),
                None => r.process_partial_into_buffer(None::<&[&[f32]]>, &mut self.out_buf, None),
            }
            .map_err(|e| e.to_string())?;
            self.emit(n, out);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resample_all(rate: u32, input: &[f32], piece: usize) -> Vec<f32> {
        let mut r = MonoResampler::new(rate).unwrap();
        let mut out = Vec::new();
        for chunk in input.chunks(piece) {
            r.push(chunk, &mut out).unwrap();
        }
        r.finish(&mut out).unwrap();
        out
    }

    fn sine(rate: u32, freq: f32, seconds: f32) -> Vec<f32> {
        (0..(rate as f32 * seconds) as usize)
            .map(|i| (i as f32 / rate as f32 * freq * std::f32::consts::TAU).sin())
            .collect()
    }

    fn rms(x: &[f32]) -> f32 {
        (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt()
    }

    #[test]
    fn a_stream_that_is_a_whole_number_of_blocks_resamples_to_the_end() {
        // 8 kHz AAC decodes in 1024-sample frames: nothing is left over at the end.
        let input = vec![0.1f32; FRAMES_IN * 8];
        let out = resample_all(8_000, &input, FRAMES_IN);
        assert_eq!(out.len(), FRAMES_IN * 8 * 2);
    }

    #[test]
    fn output_length_matches_the_duration_for_common_rates() {
        for rate in [8_000, 22_050, 44_100, 48_000, 16_000] {
            let out = resample_all(rate, &vec![0.1; rate as usize * 3 + 17], 1000);
            let expected = ((rate as u64 * 3 + 17) * 16_000).div_ceil(rate as u64) as usize;
            assert_eq!(out.len(), expected, "rate {rate}");
        }
    }

    #[test]
    fn a_tone_in_the_speech_band_keeps_its_level_and_timing() {
        let out = resample_all(48_000, &sine(48_000, 440.0, 2.0), 4096);
        let expected = sine(16_000, 440.0, 2.0);
        // Same level and same phase (the filter delay was removed): at lag 0 the two agree
        // to within a fraction of a sample.
        let (a, b) = (&out[800..30_000], &expected[800..30_000]);
        let level = rms(a) / rms(b);
        assert!((level - 1.0).abs() < 0.03, "level ratio {level}");
        let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let corr = dot / (rms(a) * rms(b) * a.len() as f32);
        assert!(corr > 0.99, "correlation at lag 0: {corr}");
    }

    #[test]
    fn a_tone_above_8khz_is_filtered_out_instead_of_aliasing() {
        // 12 kHz at 48 kHz would alias to 4 kHz if samples were simply dropped.
        let out = resample_all(48_000, &sine(48_000, 12_000.0, 1.0), 4096);
        assert!(rms(&out[1000..15_000]) < 0.01, "rms {}", rms(&out[1000..15_000]));
    }

    #[test]
    fn implausible_rates_are_refused_before_allocating() {
        assert!(MonoResampler::new(1).is_err());
        assert!(MonoResampler::new(4_000_000_000).is_err());
        assert!(MonoResampler::new(768_000).is_ok());
    }

    #[test]
    fn downmix_averages_channels() {
        let mut out = Vec::new();
        downmix_into(&[1.0, 0.0, 0.5, 0.5, -1.0, 1.0], 2, &mut out);
        assert_eq!(out, vec![0.5, 0.5, 0.0]);
    }
}
