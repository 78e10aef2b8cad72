//! Where Vidscribe keeps its files: uploads, job results and batch snapshots.
//!
//! Everything is addressed by a *key*, the relative path the store records
//! (`uploads/<job_id>.mp4`, `results/<session dir>/transcript.json`,
//! `results/batches/<batch_id>.json`). The [`Storage`] trait is deliberately small and
//! object-store shaped (put, get, delete, delete-prefix, "give me a local file to decode"),
//! so an S3-style backend can be added without touching the worker or the API: both only
//! ever talk to a [`DynStorage`].
//!
//! [`LocalDir`] is the implementation that ships: a data directory, which on several nodes is
//! one directory every node mounts (NFS or similar; see README, "Scale out").

mod atomic;
mod error;
mod key;
mod local;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use error::StorageError;
pub use key::{check_key, snapshot_key, BATCHES_PREFIX, RESULTS_PREFIX, UPLOADS_PREFIX};
pub use local::LocalDir;

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// A storage backend shared by every node of a deployment.
#[async_trait::async_trait]
pub trait Storage: Send + Sync + std::fmt::Debug + 'static {
    /// For logs and `/api/health`: `local directory /srv/vidscribe`.
    fn describe(&self) -> String;

    /// Prepares the layout (directories, bucket checks). Idempotent.
    async fn init(&self) -> Result<()>;

    /// Takes over a complete local file (an upload streamed to a temporary file first), so
    /// that `key` appears whole or not at all. The local file is gone afterwards.
    async fn put_file(&self, key: &str, local: &Path) -> Result<()>;

    /// Writes `bytes` under `key` atomically: readers see the old object or the new one.
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<()>;

    /// Writes several objects (one job's outputs) in one call; each is atomic on its own.
    async fn put_all(&self, items: Vec<(String, Vec<u8>)>) -> Result<()> {
        for (key, bytes) in items {
            self.put(&key, bytes).await?;
        }
        Ok(())
    }

    /// The whole object. [`StorageError::NotFound`] when there is none.
    async fn get(&self, key: &str) -> Result<Vec<u8>>;

    /// Whether `key` holds an object.
    async fn exists(&self, key: &str) -> Result<bool>;

    /// A file on this machine with the object's bytes, for decoders that need to seek.
    /// A local directory hands out the file itself; a remote store would download it to a
    /// temporary file that the returned guard removes.
    async fn local_file(&self, key: &str) -> Result<LocalFile>;

    /// Removes one object; a missing one is not an error.
    async fn delete(&self, key: &str) -> Result<()>;

    /// Removes every object under `prefix/` (a job's results); nothing there is not an error.
    async fn delete_prefix(&self, prefix: &str) -> Result<()>;
}

pub type DynStorage = Arc<dyn Storage>;

/// A readable local file with an object's bytes; removed on drop when it is a temporary copy.
#[derive(Debug)]
pub struct LocalFile {
    path: PathBuf,
    temporary: bool,
}

impl LocalFile {
    /// The object's own file: left alone on drop.
    pub fn in_place(path: PathBuf) -> Self {
        Self { path, temporary: false }
    }

    /// A downloaded copy: deleted when this guard is dropped.
    pub fn temporary(path: PathBuf) -> Self {
        Self { path, temporary: true }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LocalFile {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Removes a deleted batch's uploads (`files`) and result directories (`dirs`). Tries every
/// one even after a failure and returns the first error, so one stuck file does not leave
/// the rest behind.
pub async fn remove_all(storage: &dyn Storage, files: &[String], dirs: &[String]) -> Result<()> {
    let mut first = None;
    for f in files {
        if let Err(e) = storage.delete(f).await {
            first.get_or_insert(e);
        }
    }
    for d in dirs {
        if let Err(e) = storage.delete_prefix(d).await {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}
