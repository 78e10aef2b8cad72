//! Locating the real-media test fixtures that `scripts/fetch-test-data` downloads and
//! builds. For tests in every crate of the workspace:
//!
//! ```no_run
//! let jfk = vidscribe_media::testdata::path("jfk.wav");
//! let reference = vidscribe_media::testdata::reference_text("jfk.wav");
//! ```
//!
//! A missing fixture panics with the command that fetches it: a test that cannot find its
//! input must fail, never pass silently. See the header of `scripts/fetch-test-data` for
//! the list of files.

use std::path::{Path, PathBuf};

/// What to run when a fixture is missing.
pub const FETCH_HINT: &str = "run scripts/fetch-test-data (from the repository root)";

/// The fixture directory: `$VIDSCRIBE_TESTDATA`, else `$HOME/.cache/vidscribe/testdata`.
pub fn dir() -> PathBuf {
    if let Some(d) = std::env::var_os("VIDSCRIBE_TESTDATA").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("vidscribe").join("testdata")
}

/// The fixture at `relative` (e.g. `"video/jfk.mp4"`), if it exists.
pub fn try_path(relative: &str) -> Option<PathBuf> {
    let p = dir().join(relative);
    p.exists().then_some(p)
}

/// The fixture at `relative`.
///
/// # Panics
/// When it does not exist, with a message that says to run `scripts/fetch-test-data`.
pub fn path(relative: &str) -> PathBuf {
    try_path(relative)
        .unwrap_or_else(|| panic!("test fixture '{}' is missing in {}: {FETCH_HINT}", relative, dir().display()))
}

/// The reference transcript of an audio fixture: the `.txt` beside it, trimmed.
///
/// # Panics
/// When the text file is missing or unreadable.
pub fn reference_text(relative_audio: &str) -> String {
    let txt = Path::new(relative_audio).with_extension("txt");
    let p = path(&txt.to_string_lossy());
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}; {FETCH_HINT}", p.display()))
        .trim()
        .to_string()
}

/// The 16 kHz mono samples of an audio fixture.
///
/// # Panics
/// When the fixture is missing or cannot be decoded.
pub fn samples(relative: &str) -> Vec<f32> {
    let p = path(relative);
    let mut d = crate::AudioDecoder::open(&p).unwrap_or_else(|e| panic!("cannot open {}: {e}", p.display()));
    let mut out = Vec::new();
    while let Some(chunk) = d.next_chunk().unwrap_or_else(|e| panic!("cannot decode {}: {e}", p.display())) {
        out.extend(chunk);
    }
    out
}

/// `seconds` of room tone at 16 kHz: faint noise (about −60 dBFS), not digital silence.
pub fn room_tone(seconds: f64) -> Vec<f32> {
    let mut seed: u32 = 42;
    (0..(seconds * 16_000.0) as usize)
        .map(|_| {
            // A linear congruential generator: the same noise every run.
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            ((seed >> 8) as f64 / (1u32 << 24) as f64 - 0.5) as f32 * 0.002
        })
        .collect()
}

/// A 16-bit PCM mono WAV file of `samples` (clamped to [-1, 1]).
pub fn wav(samples: &[f32], sample_rate: u32) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut v = Vec::with_capacity(44 + samples.len() * 2);
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data_len).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes()); // PCM
    v.extend_from_slice(&1u16.to_le_bytes()); // mono
    v.extend_from_slice(&sample_rate.to_le_bytes());
    v.extend_from_slice(&(sample_rate * 2).to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&16u16.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        v.extend_from_slice(&((s.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes());
    }
    v
}

/// One passage of real speech inside a composed recording.
#[derive(Debug, Clone)]
pub struct Passage {
    /// Media seconds.
    pub start: f64,
    pub end: f64,
    pub reference: String,
}

/// Real speech separated by long pauses: jfk.wav, 30 s of room tone, a LibriVox passage,
/// 20 s of room tone. Two different passages: the same one twice compresses well enough to
/// trip the decoder's repetition check.
#[derive(Debug, Clone)]
pub struct GappedSpeech {
    pub samples: Vec<f32>,
    pub passages: Vec<Passage>,
}

impl GappedSpeech {
    pub const LIBRIVOX: &'static str = "librivox/sense_and_sensibility_01_austen_64kb-0870.wav";

    pub fn new() -> Self {
        let mut samples = Vec::new();
        let mut passages = Vec::new();
        let at = |s: &Vec<f32>| s.len() as f64 / 16_000.0;
        for (clip, pause) in [("jfk.wav", 30.0), (Self::LIBRIVOX, 20.0)] {
            let start = at(&samples);
            samples.extend(self::samples(clip));
            passages.push(Passage { start, end: at(&samples), reference: reference_text(clip) });
            samples.extend(room_tone(pause));
        }
        GappedSpeech { samples, passages }
    }

    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / 16_000.0
    }

    /// Seconds of speech in it.
    pub fn speech_seconds(&self) -> f64 {
        self.passages.iter().map(|p| p.end - p.start).sum()
    }

    /// The stretches without speech, as `(start, end)` media seconds.
    pub fn pauses(&self) -> Vec<(f64, f64)> {
        let ends = self.passages.iter().map(|p| p.end);
        let starts = self.passages.iter().skip(1).map(|p| p.start).chain([self.seconds()]);
        ends.zip(starts).collect()
    }

    /// Both references, in order.
    pub fn reference(&self) -> String {
        self.passages.iter().map(|p| p.reference.as_str()).collect::<Vec<_>>().join(" ")
    }

    pub fn write_wav(&self, path: &Path) {
        std::fs::write(path, wav(&self.samples, 16_000))
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }
}

impl Default for GappedSpeech {
    fn default() -> Self {
        Self::new()
    }
}
