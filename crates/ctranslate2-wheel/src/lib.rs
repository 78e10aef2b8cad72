//! Links the CTranslate2 shared library of the pinned PyPI wheel into the crates that depend on
//! it, for ct2rs's `system` feature. No Rust API: everything happens in `build.rs`, which also
//! tells direct dependents where the library lives (`DEP_CTRANSLATE2_LIB_DIR`) so their own
//! build scripts can give their binaries a run-time search path to it.
#![no_std]
