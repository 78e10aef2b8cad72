//! Gives this package's binaries (and tests, examples) a run path to the CTranslate2 engine,
//! a shared library that `ctranslate2-wheel` unpacked into a cache directory: without it
//! they would only start with LD_LIBRARY_PATH set. `$ORIGIN/lib` comes first so that a
//! binary shipped with the engine beside it (in `lib/`) uses that copy.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_CTRANSLATE2_LIB_DIR");
    if let Ok(dir) = std::env::var("DEP_CTRANSLATE2_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,$ORIGIN/lib:{dir}");
    }
}
