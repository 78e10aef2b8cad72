//! Links Intel oneMKL (ILP64, Intel-OpenMP threading) and the Intel OpenMP runtime statically
//! into the crates that depend on it: CTranslate2's GEMM backend on Intel CPUs. No Rust API;
//! everything happens in `build.rs`.
#![no_std]
