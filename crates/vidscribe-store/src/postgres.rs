//! PostgreSQL backend (multi-node). Implemented in its own issue; until then connecting fails clearly.

use crate::error::{Result, StoreError};

pub struct PgStore;

impl PgStore {
    pub async fn connect(url: &str) -> Result<crate::sqlite::SqliteStore> {
        let _ = url;
        Err(StoreError::UnsupportedUrl("postgres:// (the PostgreSQL store is not built yet)".into()))
    }
}
