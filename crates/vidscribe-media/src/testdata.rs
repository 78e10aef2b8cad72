//! Locating the real-media test fixtures that `scripts/fetch-test-data` downloads and
//! builds. For tests in every crate of the workspace:
//!
//! ```no_run
//! let jfk = vidscribe_media::testdata::path("jfk.wav");
//! let reference = vidscribe_media::testdata::reference_text("jfk.wav");
//! ```
//!
//! A missing fixture panics with the command that fetches it: a test that cannot find its
//! input must fail, never pass silently. See the header of `scripts/fetch-test-data` for
//! the list of files.

use std::path::{Path, PathBuf};

/// What to run when a fixture is missing.
pub const FETCH_HINT: &str = "run scripts/fetch-test-data (from the repository root)";

/// The fixture directory: `$VIDSCRIBE_TESTDATA`, else `$HOME/.cache/vidscribe/testdata`.
pub fn dir() -> PathBuf {
    if let Some(d) = std::env::var_os("VIDSCRIBE_TESTDATA").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("vidscribe").join("testdata")
}

/// The fixture at `relative` (e.g. `"video/jfk.mp4"`), if it exists.
pub fn try_path(relative: &str) -> Option<PathBuf> {
    let p = dir().join(relative);
    p.exists().then_some(p)
}

/// The fixture at `relative`.
///
/// # Panics
/// When it does not exist, with a message that says to run `scripts/fetch-test-data`.
pub fn path(relative: &str) -> PathBuf {
    try_path(relative)
        .unwrap_or_else(|| panic!("test fixture '{}' is missing in {}: {FETCH_HINT}", relative, dir().display()))
}

/// The reference transcript of an audio fixture: the `.txt` beside it, trimmed.
///
/// # Panics
/// When the text file is missing or unreadable.
pub fn reference_text(relative_audio: &str) -> String {
    let txt = Path::new(relative_audio).with_extension("txt");
    let p = path(&txt.to_string_lossy());
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}; {FETCH_HINT}", p.display()))
        .trim()
        .to_string()
}
