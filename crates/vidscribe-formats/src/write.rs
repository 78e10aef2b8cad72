//! Atomic file writes: readers (the download route, `watch jq …`) must never see half a file.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use vidscribe_core::{OutputFormat, Transcript};

use crate::render::render;

/// Writes `contents` to `path` through a temporary file in the same directory and a rename,
/// so the file is either absent, the old version, or the complete new version.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    // A process-wide counter keeps two threads writing the same file from sharing a temp name.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(contents)?;
        // No fsync: rename is atomic for readers and survives a process crash, which is the
        // durability the store promises too (SQLite WAL, synchronous=NORMAL). An fsync per
        // file costs ~6 ms here and would dominate a batch of short jobs.
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The files of a transcript as `(file name, contents)`: `transcript.json` (always) first,
/// then every requested format, without duplicates.
pub fn rendered_outputs(t: &Transcript, formats: &[OutputFormat]) -> Vec<(&'static str, String)> {
    let mut order = vec![OutputFormat::Json];
    for f in formats {
        if !order.contains(f) {
            order.push(*f);
        }
    }
    order.into_iter().map(|format| (format.file_name(), render(format, t))).collect()
}
