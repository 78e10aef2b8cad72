//! Atomic file writes: readers (the download route, `watch jq …`) must never see half a file,
//! on a local disk or on the shared mount of a cluster.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `contents` to `path` through a temporary file in the same directory and a rename,
/// so the file is either absent, the old version, or the complete new version.
pub(crate) fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    // A process-wide counter keeps two threads writing the same file from sharing a temp name.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn an_atomic_write_replaces_the_old_file_and_leaves_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("subtitles.srt");
        fs::write(&p, "old contents that are longer than the new ones").unwrap();
        write_atomic(&p, b"new").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "new");
        assert_eq!(names(dir.path()), vec!["subtitles.srt"]);
    }

    #[test]
    fn a_failed_atomic_write_reports_the_error_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        // Renaming a file over a non-empty directory fails.
        let target = dir.path().join("transcript.json");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("keep"), "x").unwrap();
        let err = write_atomic(&target, b"{}").unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::IsADirectory, "the rename's own error: {err}");
        assert_eq!(names(dir.path()), vec!["transcript.json"]);
        assert_eq!(fs::read_to_string(target.join("keep")).unwrap(), "x", "the directory is untouched");
    }
}
