//! Integration tests of the store: one conformance suite run against every backend
//! (SQLite in a temp file, PostgreSQL in a fresh schema per test), plus multi-node tests
//! with several PostgreSQL stores and worker engines on one database, the SQLite writer's
//! recovery from writes dropped half-way, and the log follower.

mod vidscribe_store {
    pub mod conformance;
    pub mod follow;
    pub mod multinode;
    pub mod sqlite_writer;
    pub mod support;
}
