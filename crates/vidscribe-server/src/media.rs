//! The upload checks that need `vidscribe-media`: content sniffing and probing.

use std::path::PathBuf;

/// What sniffing the first bytes of an upload found.
#[derive(Debug, Clone)]
pub struct Sniff {
    /// A safe, canonical extension (`mp4`, `mkv`, `wav`…), never the client's.
    pub extension: String,
}

/// How many leading bytes sniffing looks at.
pub const SNIFF_BYTES: usize = 64 * 1024;

pub fn sniff(head: &[u8]) -> Option<Sniff> {
    vidscribe_media::sniff(head).map(|s| Sniff { extension: s.extension.to_string() })
}

/// Media duration in seconds (if known), or why the file is not media we can read.
pub async fn probe(path: PathBuf) -> Result<Option<f64>, String> {
    match tokio::task::spawn_blocking(move || vidscribe_media::probe(&path)).await {
        Ok(Ok(info)) => Ok(Some(info.duration).filter(|d| d.is_finite() && *d > 0.0)),
        Ok(Err(e)) => Err(format!("{e} ({})", e.code())),
        Err(e) => Err(format!("probing failed: {e}")),
    }
}
