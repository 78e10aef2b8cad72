//! Whisper speech recognition on CTranslate2 (through `ct2rs`): the model registry and its
//! verified fetch, log-mel features, the long-form decoding loop, and [`WhisperTranscriber`],
//! the real [`vidscribe_core::Transcriber`].

pub mod engine;
pub mod error;
pub mod mel;
pub mod models;
mod resume;
pub mod stream;
pub mod transcriber;
pub mod vad;
mod vocab;
mod words;

pub use engine::{DecodeOptions, LoopState, WhisperEngine, WindowReport, UNKNOWN_LANGUAGE};
pub use error::AsrError;
pub use models::{default_cache_dir, ensure_model, known_models, list, pull, KnownModel, ModelDir, ModelStatus};
pub use stream::AudioSource;
pub use transcriber::WhisperTranscriber;
