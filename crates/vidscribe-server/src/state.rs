//! Shared state of every handler.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use vidscribe_storage::{DynStorage, LocalDir};
use vidscribe_store::DynStore;

use crate::config::ServerConfig;
use crate::metrics::Metrics;

/// Cheap to clone; everything inside is shared.
#[derive(Clone)]
pub struct AppState {
    pub store: DynStore,
    pub config: Arc<ServerConfig>,
    /// This node's data directory: scratch space for uploads being received and ZIPs being
    /// built (stored files go through `storage`).
    pub data: LocalDir,
    /// Uploads, results and snapshots: the data directory unless another backend is given.
    pub storage: DynStorage,
    pub metrics: Arc<Metrics>,
    /// Cancelled when the server shuts down: ends SSE streams so graceful shutdown can finish.
    pub shutdown: CancellationToken,
}

impl AppState {
    /// State over a store; the data directory comes from the config.
    pub fn new(store: DynStore, config: ServerConfig) -> Self {
        let data = LocalDir::new(config.data_dir.clone());
        let storage: DynStorage = Arc::new(data.clone());
        Self {
            store,
            config: Arc::new(config),
            data,
            storage,
            metrics: Arc::new(Metrics::default()),
            shutdown: CancellationToken::new(),
        }
    }

    /// Keeps uploads, results and snapshots in another backend (an object store) instead of
    /// the data directory; the worker engine must be given the same one.
    pub fn with_storage(mut self, storage: DynStorage) -> Self {
        self.storage = storage;
        self
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("config", &self.config).finish_non_exhaustive()
    }
}
