//! Integration tests of the store: one conformance suite run against every backend
//! (SQLite in a temp file, PostgreSQL in a fresh schema per test), plus multi-node tests
//! with several PostgreSQL stores and worker engines on one database, and the SQLite
//! writer's recovery from writes dropped half-way.

mod vidscribe_store {
    pub mod conformance;
    pub mod multinode;
    pub mod sqlite_writer;
    pub mod support;
}
