//! Configuration layering: defaults → TOML file (`--config`, else `./vidscribe.toml`) →
//! `VIDSCRIBE_*` environment → flags. Clap resolves env and flags into `Option`s (a flag
//! beats its variable); [`pick`] then falls back to the file and finally to the default.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

/// The file looked for in the working directory when `--config` is not given.
pub const DEFAULT_FILE: &str = "vidscribe.toml";

/// Everything `vidscribe.toml` may hold. Unknown keys are an error (a typo must not be ignored).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub database: Option<String>,
    pub model_dir: Option<PathBuf>,
    #[serde(default)]
    pub serve: ServeSection,
    #[serde(default)]
    pub worker: WorkerSection,
    #[serde(default)]
    pub transcribe: TranscribeSection,
    #[serde(default)]
    pub client: ClientSection,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeSection {
    pub addr: Option<String>,
    pub workers: Option<usize>,
    pub auth_token: Option<String>,
    pub insecure_no_auth: Option<bool>,
    pub max_upload_bytes: Option<u64>,
    pub upload_grace_secs: Option<u64>,
    pub upload_min_rate: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSection {
    pub slots: Option<usize>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranscribeSection {
    pub model: Option<String>,
    /// `"srt,vtt"` or `["srt", "vtt"]`.
    pub formats: Option<FormatList>,
    pub language: Option<String>,
    pub jobs: Option<usize>,
    pub beam: Option<usize>,
    /// Chunks decoded per model call (`--batch-size`).
    pub batch_size: Option<usize>,
    /// Voice activity detection (`--vad`).
    pub vad: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum FormatList {
    One(String),
    Many(Vec<String>),
}

impl FormatList {
    pub fn joined(&self) -> String {
        match self {
            FormatList::One(s) => s.clone(),
            FormatList::Many(v) => v.join(","),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSection {
    pub server: Option<String>,
    pub token: Option<String>,
}

impl FileConfig {
    /// Reads `explicit` (which must exist) or `./vidscribe.toml` (if it exists).
    pub fn load(explicit: Option<&Path>) -> anyhow::Result<Self> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => {
                let p = PathBuf::from(DEFAULT_FILE);
                if !p.is_file() {
                    return Ok(Self::default());
                }
                p
            }
        };
        let text =
            std::fs::read_to_string(&path).with_context(|| format!("cannot read config file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("invalid config file {}", path.display()))
    }

    /// Parses TOML; the error is one line (`line N: what is wrong`).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            match line {
                Some(n) => anyhow::anyhow!("line {n}: {}", e.message().trim()),
                None => anyhow::anyhow!("{}", e.message().trim()),
            }
        })
    }
}

/// The first value present: flag/env (already merged by clap), then the file, then the default.
pub fn pick<T>(flag_or_env: Option<T>, file: Option<T>, default: impl FnOnce() -> T) -> T {
    flag_or_env.or(file).unwrap_or_else(default)
}

/// `sqlite://<data>/vidscribe.db`, the embedded default store.
pub fn default_database(data_dir: &Path) -> String {
    format!("sqlite://{}", data_dir.join("vidscribe.db").display())
}

/// The model cache: `--model-dir`, the file, else the asr crate's default
/// (`$VIDSCRIBE_MODEL_DIR`, else `~/.cache/vidscribe/models`).
pub fn model_dir(flag: Option<PathBuf>, file: &FileConfig) -> PathBuf {
    pick(flag, file.model_dir.clone(), vidscribe_asr::default_cache_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_beats_the_file_which_beats_the_default() {
        assert_eq!(pick(Some(3), Some(2), || 1), 3);
        assert_eq!(pick(None, Some(2), || 1), 2);
        assert_eq!(pick(None, None, || 1), 1);
    }

    #[test]
    fn the_file_is_parsed_by_section_and_typos_are_refused() {
        let c = FileConfig::parse(
            r#"
            data_dir = "/srv/vs"
            [serve]
            addr = "127.0.0.1:6000"
            workers = 3
            [transcribe]
            formats = ["srt", "vtt"]
            vad = false
            "#,
        )
        .unwrap();
        assert_eq!(c.data_dir, Some(PathBuf::from("/srv/vs")));
        assert_eq!(c.serve.workers, Some(3));
        assert_eq!(c.transcribe.formats.unwrap().joined(), "srt,vtt");
        assert_eq!(c.transcribe.vad, Some(false));
        let e = FileConfig::parse("[serve]\nworkerz = 2\n").unwrap_err().to_string();
        assert!(e.starts_with("line 2: unknown field `workerz`") && !e.contains('\n'), "{e}");
    }

    #[test]
    fn the_default_database_is_sqlite_in_the_data_directory() {
        assert_eq!(default_database(Path::new("/tmp/d")), "sqlite:///tmp/d/vidscribe.db");
    }
}
