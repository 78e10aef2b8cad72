//! The data directory layout (API.md, "Files on disk").
//!
//! Paths stored in the database are relative to the data directory; this is the one place
//! that turns them into real paths, and it refuses anything that could climb out of it.

use std::io;
use std::path::{Component, Path, PathBuf};

use vidscribe_store::DeletedBatch;

#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Creates the directory tree.
    pub fn create(&self) -> io::Result<()> {
        for d in [self.uploads(), self.results(), self.batches_dir()] {
            std::fs::create_dir_all(d)?;
        }
        Ok(())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn database(&self) -> PathBuf {
        self.root.join("vidscribe.db")
    }

    pub fn uploads(&self) -> PathBuf {
        self.root.join("uploads")
    }

    pub fn results(&self) -> PathBuf {
        self.root.join("results")
    }

    pub fn batches_dir(&self) -> PathBuf {
        self.root.join("results").join("batches")
    }

    pub fn snapshot(&self, batch_id: vidscribe_core::BatchId) -> PathBuf {
        self.batches_dir().join(format!("{batch_id}.json"))
    }

    /// The absolute path of a stored relative path. Rejects absolute paths and `..`.
    pub fn abs(&self, rel: &str) -> io::Result<PathBuf> {
        let p = Path::new(rel);
        if rel.is_empty() || p.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("'{rel}' is not a path inside the data directory")));
        }
        Ok(self.root.join(p))
    }

    /// Removes the uploads and results of a deleted batch; missing files are fine.
    pub async fn remove_batch_files(&self, deleted: &DeletedBatch) -> io::Result<()> {
        for rel in &deleted.file_paths {
            remove_quietly(self.abs(rel)?, false).await?;
        }
        for rel in &deleted.results_paths {
            remove_quietly(self.abs(rel)?, true).await?;
        }
        Ok(())
    }
}

async fn remove_quietly(path: PathBuf, dir: bool) -> io::Result<()> {
    let r = if dir { tokio::fs::remove_dir_all(&path).await } else { tokio::fs::remove_file(&path).await };
    match r {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_paths_cannot_leave_the_data_directory() {
        let d = DataDir::new("/data");
        assert!(d.abs("uploads/x.mp4").is_ok());
        for bad in ["../etc/passwd", "/etc/passwd", "uploads/../../x", "", "./x"] {
            assert!(d.abs(bad).is_err(), "{bad}");
        }
    }
}
