//! Integration tests of the store: one conformance suite run against every backend
//! (SQLite in a temp file, PostgreSQL in a fresh schema per test), plus multi-node tests
//! with several PostgreSQL stores and worker engines on one database.

mod vidscribe_store {
    pub mod conformance;
    pub mod multinode;
    pub mod support;
}
