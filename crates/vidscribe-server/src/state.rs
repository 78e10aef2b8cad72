//! Shared state of every handler.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use vidscribe_store::DynStore;

use crate::config::ServerConfig;
use crate::metrics::Metrics;

/// Cheap to clone; everything inside is shared.
#[derive(Clone)]
pub struct AppState {
    pub store: DynStore,
    pub config: Arc<ServerConfig>,
    pub data: DataPaths,
    pub metrics: Arc<Metrics>,
    /// Cancelled when the server shuts down: ends SSE streams so graceful shutdown can finish.
    pub shutdown: CancellationToken,
}

impl AppState {
    /// State over a store; the data directory comes from the config.
    pub fn new(store: DynStore, config: ServerConfig) -> Self {
        let data = DataPaths::new(config.data_dir.clone());
        Self {
            store,
            config: Arc::new(config),
            data,
            metrics: Arc::new(Metrics::default()),
            shutdown: CancellationToken::new(),
        }
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Paths inside the data directory. Stored paths are relative (`uploads/<job>.mp4`); this
/// turns them into absolute ones and refuses anything that would leave the directory.
#[derive(Debug, Clone)]
pub struct DataPaths {
    root: PathBuf,
}

impl DataPaths {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn uploads(&self) -> PathBuf {
        self.root.join("uploads")
    }

    /// An absolute path for a stored relative one; `None` for absolute paths or `..`.
    pub fn resolve(&self, relative: &str) -> Option<PathBuf> {
        let rel = Path::new(relative);
        if relative.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            return None;
        }
        Some(self.root.join(rel))
    }

    /// Deletes stored files and directories, ignoring ones already gone; errors are logged.
    pub async fn remove_all(&self, files: &[String], dirs: &[String]) {
        for f in files {
            if let Some(p) = self.resolve(f) {
                if let Err(e) = tokio::fs::remove_file(&p).await {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        tracing::warn!(path = %p.display(), error = %e, "could not remove upload");
                    }
                }
            }
        }
        for d in dirs {
            if let Some(p) = self.resolve(d) {
                if let Err(e) = tokio::fs::remove_dir_all(&p).await {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        tracing::warn!(path = %p.display(), error = %e, "could not remove results");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_paths_never_leave_the_data_directory() {
        let d = DataPaths::new("/data");
        assert_eq!(d.resolve("uploads/a.mp4"), Some(PathBuf::from("/data/uploads/a.mp4")));
        assert_eq!(d.resolve("../etc/passwd"), None);
        assert_eq!(d.resolve("/etc/passwd"), None);
        assert_eq!(d.resolve("results/../../x"), None);
        assert_eq!(d.resolve(""), None);
    }
}
