//! End-to-end tests of the Whisper engine: real models fetched from the registry, real speech
//! from scripts/fetch-test-data. A missing fixture or model fails the test with a message
//! saying how to get it; nothing is skipped.
//!
//! All tests share one `WhisperTranscriber` (so each model loads once for the whole binary)
//! and take turns on the CPU: two inferences at once on a small machine only slow both down.

mod support;

mod cancel;
mod errors;
mod models;
mod multilingual;
mod speech;
