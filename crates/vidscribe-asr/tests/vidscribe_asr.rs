//! End-to-end tests of the Whisper engine: real models fetched from the registry, real speech
//! from scripts/fetch-test-data. A missing fixture or model fails the test with a message
//! saying how to get it; nothing is skipped.
//!
//! All tests share one `WhisperTranscriber` (so each model loads once for the whole binary)
//! and take turns on the CPU: two inferences at once on a small machine only slow both down.
//! (An integration-test root looks for modules beside it, hence the `#[path]`s into vidscribe_asr/.)

#[path = "vidscribe_asr/support.rs"]
mod support;

#[path = "vidscribe_asr/batched.rs"]
mod batched;
#[path = "vidscribe_asr/cancel.rs"]
mod cancel;
#[path = "vidscribe_asr/errors.rs"]
mod errors;
#[path = "vidscribe_asr/models.rs"]
mod models;
#[path = "vidscribe_asr/multilingual.rs"]
mod multilingual;
#[path = "vidscribe_asr/silence.rs"]
mod silence;
#[path = "vidscribe_asr/speech.rs"]
mod speech;
#[path = "vidscribe_asr/streaming.rs"]
mod streaming;
#[path = "vidscribe_asr/vad.rs"]
mod vad;
