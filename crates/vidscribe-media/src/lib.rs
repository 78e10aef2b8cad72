//! Media for Vidscribe: recognise an upload by its bytes, probe it, and decode its first
//! audio stream to 16 kHz mono `f32` — in-process with symphonia, and through an `ffmpeg`
//! child process only for what symphonia cannot read (Opus, AVI, …).

mod decode;
mod error;
mod ffmpeg;
mod guard;
mod probe;
mod resample;
mod sniff;
pub mod testdata;
mod timeline;
mod tools;

pub use decode::{AudioDecoder, CHUNK_SAMPLES};
pub use error::MediaError;
pub use probe::{probe, probe_with, DecoderKind, MediaInfo};
pub use sniff::{sniff, Container, Sniffed, SNIFF_LEN};
pub use tools::MediaOptions;

/// The sample rate every decoder produces (what Whisper expects).
pub const SAMPLE_RATE: u32 = 16_000;
