//! The checkpoint a running transcription commits with its segments, so that a later attempt
//! (after a crash, a lost lease, a restart) carries on from there instead of from zero.
//!
//! It is the decoding loop's [`LoopState`] plus what it is only valid for: the model and
//! whether the voice activity gate was on (the loop's positions are in the gate's joined
//! speech then). A checkpoint of another format version, model or VAD setting is not used.

use serde::{Deserialize, Serialize};

use crate::engine::LoopState;

/// Bumped whenever [`LoopState`]'s meaning changes, so an older checkpoint is not misread.
const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ResumeState {
    version: u32,
    model: String,
    vad: bool,
    /// The media seconds decoding had reached (for the log: the engine works in `engine.seek`).
    pub(crate) media_seconds: f64,
    pub(crate) engine: LoopState,
}

impl ResumeState {
    pub(crate) fn new(model: &str, vad: bool, media_seconds: f64, engine: LoopState) -> Self {
        ResumeState { version: VERSION, model: model.to_string(), vad, media_seconds, engine }
    }

    pub(crate) fn write(&self) -> String {
        // A struct of numbers and strings always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The checkpoint in `text`, if it was written by this format for `model` with `vad`.
    pub(crate) fn read(text: &str, model: &str, vad: bool) -> Option<Self> {
        let state: ResumeState = serde_json::from_str(text).ok()?;
        (state.version == VERSION && state.model == model && state.vad == vad).then_some(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> ResumeState {
        let engine = LoopState {
            seek: 12_000,
            prompt: vec![50_257, 11, 12],
            loudest: Some(1.5),
            language: Some("en".into()),
            language_probability: None,
            last_end: 119.5,
        };
        ResumeState::new("tiny.en", true, 240.0, engine)
    }

    #[test]
    fn a_checkpoint_is_read_back_only_for_the_same_model_and_vad_setting() {
        let text = state().write();
        assert_eq!(ResumeState::read(&text, "tiny.en", true), Some(state()));
        assert_eq!(ResumeState::read(&text, "base", true), None);
        assert_eq!(ResumeState::read(&text, "tiny.en", false), None);
        assert_eq!(ResumeState::read(&text.replace("\"version\":1", "\"version\":0"), "tiny.en", true), None);
        assert_eq!(ResumeState::read("{not json", "tiny.en", true), None);
    }
}
