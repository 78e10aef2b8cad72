//! Output writers for Vidscribe transcripts, and a WER harness to score them.
//!
//! Every output (txt, srt, vtt, json) is rendered from the canonical
//! [`vidscribe_core::Transcript`]; `transcript.json` is always written so any other format
//! can be re-rendered later without running the model again.

pub mod cues;
pub mod metadata;
mod outputs;
pub mod render;
pub mod wer;

pub use cues::{build_cues, Cue, MAX_CUE_SECONDS, MAX_LINES, MAX_LINE_CHARS};
pub use metadata::{Metadata, METADATA_FILE_NAME};
pub use outputs::rendered_outputs;
pub use render::{format_timestamp, render, TimestampStyle};
