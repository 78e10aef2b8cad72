//! Which GEMM backend CTranslate2 runs on.
//!
//! On x86_64 CTranslate2 is built with two backends: Intel oneMKL (with Intel OpenMP spreading
//! the element-wise work over the worker's threads) and Ruy. Left alone, CTranslate2 picks MKL
//! on Intel CPUs only and Ruy elsewhere (AMD); but Ruy's own thread pool and the OpenMP team
//! then spin against each other on the same cores: the long-form benchmark file took 84 s on
//! Ruy + OpenMP against 16 s on MKL on the same 2 cores (bench/asr, CT2_USE_MKL=0 vs 1). So
//! Vidscribe asks for MKL on every x86_64 CPU; `CT2_USE_MKL=0` in the environment still
//! selects Ruy.

/// The environment variable CTranslate2 reads, once, the first time it chooses a backend.
pub const USE_MKL_ENV: &str = "CT2_USE_MKL";

/// Makes CTranslate2 use MKL on every x86_64 CPU unless the user chose (a set `CT2_USE_MKL`
/// is kept). It sets an environment variable, which is only sound while the process has a
/// single thread: call it first thing in `main`, before any runtime or thread starts.
pub fn prefer_mkl_on_every_cpu() {
    if cfg!(target_arch = "x86_64") && std::env::var_os(USE_MKL_ENV).is_none() {
        std::env::set_var(USE_MKL_ENV, "1");
    }
}
