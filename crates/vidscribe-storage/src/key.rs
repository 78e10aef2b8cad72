//! Keys: relative, `/`-separated paths of plain components. A key can never name anything
//! outside the storage root, whatever a database row or a request says.
//!
//! The layout itself (which prefix holds what) lives in `vidscribe_core::layout`, because the
//! store writes those keys into job rows and does not depend on this crate.

use std::path::{Component, Path};

pub use vidscribe_core::layout::{snapshot_key, BATCHES_PREFIX, RESULTS_PREFIX, UPLOADS_PREFIX};

use crate::StorageError;

/// Accepts `a/b/c.ext`; refuses empty keys, absolute paths, `.`/`..`, backslashes, NUL.
pub fn check_key(key: &str) -> Result<&str, StorageError> {
    let invalid = || StorageError::InvalidKey { key: key.to_string() };
    if key.is_empty() || key.contains('\\') || key.contains('\0') || key.ends_with('/') {
        return Err(invalid());
    }
    if !Path::new(key).components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(invalid());
    }
    // `a//b` parses as two normal components; refuse it so one object has one key.
    if key.split('/').any(str::is_empty) {
        return Err(invalid());
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use vidscribe_core::BatchId;

    use super::*;

    #[test]
    fn keys_stay_inside_the_root() {
        for ok in ["uploads/x.mp4", "results/Talk_0101_1200_abcd1234/transcript.json", "a"] {
            assert!(check_key(ok).is_ok(), "{ok}");
        }
        for bad in ["", "/etc/passwd", "../x", "uploads/../../x", "./x", "a//b", "a/", "a\\..\\b", "a\0b", "."] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn snapshots_live_under_results_batches() {
        let id = BatchId::new();
        let key = snapshot_key(id);
        assert!(key.starts_with("results/batches/") && key.ends_with(".json"));
        assert!(check_key(&key).is_ok());
    }
}
