//! Where the external tools are and how long they may stall. Defaults come from the
//! environment (`VIDSCRIBE_FFMPEG`, `VIDSCRIBE_FFPROBE`, `VIDSCRIBE_FFMPEG_TIMEOUT_SECS`);
//! callers and tests may pass their own, so nothing depends on mutating the process env.

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaOptions {
    /// The ffmpeg binary: a path, or a name looked up on `PATH`.
    pub ffmpeg: PathBuf,
    /// The ffprobe binary.
    pub ffprobe: PathBuf,
    /// How long ffmpeg may go without producing audio before it is killed.
    pub ffmpeg_stall_timeout: Duration,
}

impl Default for MediaOptions {
    fn default() -> Self {
        MediaOptions {
            ffmpeg: PathBuf::from("ffmpeg"),
            ffprobe: PathBuf::from("ffprobe"),
            ffmpeg_stall_timeout: Duration::from_secs(120),
        }
    }
}

impl MediaOptions {
    /// Options from the `VIDSCRIBE_*` environment variables, defaults otherwise.
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Like [`from_env`](Self::from_env) with any variable source.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let mut o = MediaOptions::default();
        if let Some(ffmpeg) = get("VIDSCRIBE_FFMPEG").filter(|s| !s.is_empty()) {
            o = o.with_ffmpeg(ffmpeg);
        }
        if let Some(ffprobe) = get("VIDSCRIBE_FFPROBE").filter(|s| !s.is_empty()) {
            o.ffprobe = PathBuf::from(ffprobe);
        }
        if let Some(secs) = get("VIDSCRIBE_FFMPEG_TIMEOUT_SECS").and_then(|s| s.trim().parse::<u64>().ok()) {
            o.ffmpeg_stall_timeout = Duration::from_secs(secs.max(1));
        }
        o
    }

    /// Uses this ffmpeg, and the ffprobe next to it (a custom ffmpeg build ships its own).
    pub fn with_ffmpeg(mut self, ffmpeg: impl Into<PathBuf>) -> Self {
        let ffmpeg = ffmpeg.into();
        if ffmpeg.parent().is_some_and(|p| !p.as_os_str().is_empty()) {
            self.ffprobe = ffmpeg.with_file_name("ffprobe");
        }
        self.ffmpeg = ffmpeg;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_variables_override_the_defaults() {
        let o = MediaOptions::from_lookup(|k| match k {
            "VIDSCRIBE_FFMPEG" => Some("/opt/ff/bin/ffmpeg".into()),
            "VIDSCRIBE_FFMPEG_TIMEOUT_SECS" => Some("7".into()),
            _ => None,
        });
        assert_eq!(o.ffmpeg, PathBuf::from("/opt/ff/bin/ffmpeg"));
        assert_eq!(o.ffprobe, PathBuf::from("/opt/ff/bin/ffprobe"));
        assert_eq!(o.ffmpeg_stall_timeout, Duration::from_secs(7));
        assert_eq!(MediaOptions::from_lookup(|_| None), MediaOptions::default());
    }
}
