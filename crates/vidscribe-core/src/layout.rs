//! The storage key layout, defined once: the store records these keys in job rows, and the
//! storage crate maps them onto its backend (`vidscribe_storage` re-exports this module's
//! items). Keys are relative, `/`-separated paths; API.md, "Files on disk", documents them.

use crate::ids::{BatchId, JobId, SessionId};

/// Uploaded media: `uploads/<job_id>.<ext>`.
pub const UPLOADS_PREFIX: &str = "uploads";
/// One directory per job: `results/<session_id>/`.
pub const RESULTS_PREFIX: &str = "results";
/// Batch snapshots: `results/batches/<batch_id>.json`.
pub const BATCHES_PREFIX: &str = "results/batches";

/// `uploads/<job_id>.<ext>` for an extension already known to be safe; `uploads/<job_id>`
/// when there is none.
pub fn upload_key(job_id: JobId, ext: &str) -> String {
    if ext.is_empty() {
        format!("{UPLOADS_PREFIX}/{job_id}")
    } else {
        format!("{UPLOADS_PREFIX}/{job_id}.{ext}")
    }
}

/// `results/<session_id>`: the directory of one job's outputs.
pub fn results_key(session_id: SessionId) -> String {
    format!("{RESULTS_PREFIX}/{session_id}")
}

/// `results/batches/<batch_id>.json`: the seed-compatible batch snapshot.
pub fn snapshot_key(batch_id: BatchId) -> String {
    format!("{BATCHES_PREFIX}/{batch_id}.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_documented_layout() {
        let job = JobId::new();
        assert_eq!(upload_key(job, "mp4"), format!("uploads/{job}.mp4"));
        assert_eq!(upload_key(job, ""), format!("uploads/{job}"));
        let session = SessionId::new();
        assert_eq!(results_key(session), format!("results/{session}"));
        let batch = BatchId::new();
        assert_eq!(snapshot_key(batch), format!("results/batches/{batch}.json"));
    }
}
