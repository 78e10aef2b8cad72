use std::path::{Path, PathBuf};

use vidscribe_media::{AudioDecoder, DecoderKind, MediaError, MediaOptions, SAMPLE_RATE};

pub use vidscribe_media::testdata::path as fixture;

/// Options with the system ffmpeg (not the environment's, so tests do not depend on it).
pub fn system_tools() -> MediaOptions {
    MediaOptions::default()
}

/// Options whose ffmpeg and ffprobe do not exist.
pub fn no_ffmpeg() -> MediaOptions {
    MediaOptions::default().with_ffmpeg("/nonexistent/vidscribe-test/ffmpeg")
}

pub fn decode(path: &Path, options: &MediaOptions) -> Result<(DecoderKind, Vec<f32>), MediaError> {
    let mut d = AudioDecoder::open_with(path, options)?;
    let kind = d.decoder_kind();
    let mut all = Vec::new();
    while let Some(chunk) = d.next_chunk()? {
        all.extend_from_slice(&chunk);
    }
    Ok((kind, all))
}

/// Every sample of a fixture, read chunk by chunk like every job reads its media.
pub fn all_samples(path: &Path) -> Vec<f32> {
    decode(path, &system_tools()).unwrap().1
}

pub fn seconds(samples: &[f32]) -> f64 {
    samples.len() as f64 / f64::from(SAMPLE_RATE)
}

/// The best normalised correlation of `b` against `a` over lags up to `max_lag` samples,
/// on one second of audio starting at `at` (lossy codecs add a small delay).
pub fn best_correlation(a: &[f32], b: &[f32], at: usize, max_lag: usize) -> f64 {
    let n = SAMPLE_RATE as usize;
    let x = &a[at..at + n];
    let energy = |s: &[f32]| s.iter().map(|v| f64::from(*v) * f64::from(*v)).sum::<f64>();
    let ex = energy(x);
    let mut best = -1.0f64;
    for lag in 0..=2 * max_lag {
        let start = at + lag - max_lag;
        let Some(y) = b.get(start..start + n) else {
            continue;
        };
        let dot: f64 = x.iter().zip(y).map(|(p, q)| f64::from(*p) * f64::from(*q)).sum();
        let c = dot / (ex * energy(y)).sqrt().max(1e-12);
        best = best.max(c);
    }
    best
}

/// A copy of a fixture in a temp dir, for tests that damage files.
pub fn scratch_copy(relative: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture(relative);
    let dst = dir.path().join(src.file_name().unwrap());
    std::fs::copy(&src, &dst).unwrap();
    (dir, dst)
}

/// Longest a decode of a small (damaged) fixture may take before it counts as a hang.
pub const DECODE_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// [`decode`] on another thread: panics if it hangs past `limit` or if the decoder panics
/// (a panic must come back as a typed error, never unwind out of the decoder).
pub fn decode_within(
    path: &Path,
    options: &MediaOptions,
    limit: std::time::Duration,
) -> Result<(DecoderKind, Vec<f32>), MediaError> {
    let (tx, rx) = std::sync::mpsc::channel();
    let (p, o) = (path.to_path_buf(), options.clone());
    std::thread::spawn(move || {
        let _ = tx.send(decode(&p, &o));
    });
    match rx.recv_timeout(limit) {
        Ok(r) => r,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("decoding {} hung for {limit:?}", path.display()),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!("decoding {} panicked", path.display()),
    }
}
