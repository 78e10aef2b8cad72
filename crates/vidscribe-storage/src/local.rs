//! The data directory (API.md, "Files on disk"): the storage of a single machine, and of a
//! cluster when every node mounts the same directory.
//!
//! What makes it safe on a shared mount: objects are written to a temporary name in the same
//! directory and renamed into place (atomic on local filesystems and on NFS), and nothing
//! relies on locks or inotify across machines.

use std::io;
use std::path::{Path, PathBuf};

use vidscribe_core::BatchId;

use crate::atomic::write_atomic;
use crate::key::{check_key, snapshot_key, BATCHES_PREFIX, RESULTS_PREFIX, UPLOADS_PREFIX};
use crate::{LocalFile, Result, Storage, StorageError};

#[derive(Debug, Clone)]
pub struct LocalDir {
    root: PathBuf,
}

impl LocalDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The embedded SQLite database of a single-machine setup.
    pub fn database(&self) -> PathBuf {
        self.root.join("vidscribe.db")
    }

    pub fn uploads(&self) -> PathBuf {
        self.root.join(UPLOADS_PREFIX)
    }

    pub fn results(&self) -> PathBuf {
        self.root.join(RESULTS_PREFIX)
    }

    pub fn batches_dir(&self) -> PathBuf {
        self.root.join(BATCHES_PREFIX)
    }

    /// Scratch space on the same filesystem (so a finished upload can be renamed in).
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub fn snapshot(&self, batch_id: BatchId) -> PathBuf {
        self.root.join(snapshot_key(batch_id))
    }

    /// Creates the directory tree.
    pub fn create(&self) -> io::Result<()> {
        for d in [self.uploads(), self.results(), self.batches_dir(), self.tmp()] {
            std::fs::create_dir_all(d)?;
        }
        Ok(())
    }

    /// The file of `key`. Rejects keys that could leave the directory.
    pub fn path(&self, key: &str) -> Result<PathBuf> {
        Ok(self.root.join(check_key(key)?))
    }

    /// [`Self::path`] as an `io::Result`, for callers that only do file I/O.
    pub fn abs(&self, key: &str) -> io::Result<PathBuf> {
        self.path(key).map_err(io::Error::from)
    }

    async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
        tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
            Err(StorageError::Io { action: "run", key: String::new(), source: io::Error::other(e) })
        })
    }
}

fn create_parent(path: &Path, key: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| StorageError::io("create the directory of", key, e))?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl Storage for LocalDir {
    fn describe(&self) -> String {
        format!("local directory {}", self.root.display())
    }

    async fn init(&self) -> Result<()> {
        let me = self.clone();
        Self::blocking(move || me.create().map_err(|e| StorageError::io("create", &me.root.display().to_string(), e)))
            .await
    }

    async fn put_file(&self, key: &str, local: &Path) -> Result<()> {
        let path = self.path(key)?;
        let (key, local) = (key.to_string(), local.to_path_buf());
        Self::blocking(move || {
            create_parent(&path, &key)?;
            match std::fs::rename(&local, &path) {
                Ok(()) => Ok(()),
                // Another filesystem (a temp dir outside the mount): copy to a temporary name
                // beside the target, then rename, so the key still appears whole.
                Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
                    let bytes = std::fs::read(&local).map_err(|e| StorageError::io("read", &key, e))?;
                    write_atomic(&path, &bytes).map_err(|e| StorageError::io("write", &key, e))?;
                    let _ = std::fs::remove_file(&local);
                    Ok(())
                }
                Err(e) => Err(StorageError::io("store", &key, e)),
            }
        })
        .await
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        self.put_all(vec![(key.to_string(), bytes)]).await
    }

    /// One blocking task for all of a job's outputs instead of one per file.
    async fn put_all(&self, items: Vec<(String, Vec<u8>)>) -> Result<()> {
        let items =
            items.into_iter().map(|(key, bytes)| Ok((self.path(&key)?, key, bytes))).collect::<Result<Vec<_>>>()?;
        Self::blocking(move || {
            let mut made: Option<PathBuf> = None;
            for (path, key, bytes) in items {
                let parent = path.parent().map(Path::to_path_buf);
                if parent.is_some() && parent != made {
                    create_parent(&path, &key)?;
                    made = parent;
                }
                write_atomic(&path, &bytes).map_err(|e| StorageError::io("write", &key, e))?;
            }
            Ok(())
        })
        .await
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>> {
        let path = self.path(key)?;
        tokio::fs::read(&path).await.map_err(|e| StorageError::io("read", key, e))
    }

    async fn exists(&self, key: &str) -> Result<bool> {
        let path = self.path(key)?;
        match tokio::fs::metadata(&path).await {
            Ok(m) => Ok(m.is_file()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StorageError::io("inspect", key, e)),
        }
    }

    async fn local_file(&self, key: &str) -> Result<LocalFile> {
        let path = self.path(key)?;
        match tokio::fs::metadata(&path).await {
            Ok(m) if m.is_file() => Ok(LocalFile::in_place(path)),
            Ok(_) => Err(StorageError::NotFound { key: key.to_string() }),
            Err(e) => Err(StorageError::io("read", key, e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        match tokio::fs::remove_file(&path).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(StorageError::io("delete", key, e)),
            _ => Ok(()),
        }
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<()> {
        let path = self.path(prefix)?;
        match tokio::fs::remove_dir_all(&path).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(StorageError::io("delete", prefix, e)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> (tempfile::TempDir, LocalDir) {
        let t = tempfile::tempdir().unwrap();
        let d = LocalDir::new(t.path());
        d.create().unwrap();
        (t, d)
    }

    #[tokio::test]
    async fn objects_round_trip_and_deletes_are_idempotent() {
        let (_t, d) = dir();
        d.put("results/s1/transcript.txt", b"hello".to_vec()).await.unwrap();
        assert_eq!(d.get("results/s1/transcript.txt").await.unwrap(), b"hello");
        assert!(d.exists("results/s1/transcript.txt").await.unwrap());
        d.put_all(vec![("results/s1/a.srt".into(), b"1".to_vec()), ("results/s1/b.vtt".into(), b"2".to_vec())])
            .await
            .unwrap();
        assert_eq!(d.get("results/s1/b.vtt").await.unwrap(), b"2");
        d.delete_prefix("results/s1").await.unwrap();
        assert!(!d.exists("results/s1/a.srt").await.unwrap());
        d.delete_prefix("results/s1").await.unwrap();
        d.delete("results/none.txt").await.unwrap();
        let err = d.get("results/s1/a.srt").await.unwrap_err();
        assert!(err.is_not_found(), "{err}");
        assert_eq!(err.code(), "storage_not_found");
    }

    #[tokio::test]
    async fn uploads_are_moved_in_whole() {
        let (t, d) = dir();
        let tmp = t.path().join("tmp").join("upload.part");
        std::fs::write(&tmp, b"media bytes").unwrap();
        d.put_file("uploads/j.mp4", &tmp).await.unwrap();
        assert!(!tmp.exists());
        let local = d.local_file("uploads/j.mp4").await.unwrap();
        assert_eq!(std::fs::read(local.path()).unwrap(), b"media bytes");
        drop(local);
        assert!(d.exists("uploads/j.mp4").await.unwrap(), "an in-place file survives its guard");
        assert!(d.local_file("uploads/none.mp4").await.unwrap_err().is_not_found());
    }

    #[tokio::test]
    async fn hostile_keys_never_touch_the_filesystem() {
        let (_t, d) = dir();
        for key in ["../escape.txt", "/tmp/escape.txt", "results/../../escape.txt"] {
            let err = d.put(key, b"x".to_vec()).await.unwrap_err();
            assert_eq!(err.code(), "invalid_storage_key", "{key}");
            assert!(d.delete_prefix(key).await.is_err());
        }
    }

    #[tokio::test]
    async fn write_failures_name_the_key_and_the_cause() {
        let (t, d) = dir();
        // A plain file where the results directory should be: every write under it fails,
        // even for root (permissions would not stop root).
        std::fs::remove_dir_all(t.path().join("results")).unwrap();
        std::fs::write(t.path().join("results"), b"not a directory").unwrap();
        let err = d.put("results/s/transcript.txt", b"x".to_vec()).await.unwrap_err();
        assert_eq!(err.code(), "storage_io");
        let msg = err.to_string();
        assert!(msg.contains("results/s/transcript.txt"), "{msg}");
    }

    #[test]
    fn temporary_local_files_are_removed_on_drop() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("copy.bin");
        std::fs::write(&p, b"x").unwrap();
        drop(LocalFile::temporary(p.clone()));
        assert!(!p.exists());
    }
}
