//! Provides the static Intel oneMKL and Intel OpenMP libraries that CTranslate2 (ct2rs's `mkl`
//! feature) links against, and tells ct2rs's build script where they are (`DEP_MKL_*`).
//!
//! Why: on Intel CPUs, CTranslate2's MKL backend runs Whisper's int8 GEMMs with VNNI/AMX
//! kernels, and Intel OpenMP spreads the element-wise work over the worker's threads;
//! the Ruy backend alone is about 1.7x slower (bench/asr). faster-whisper's wheel uses the same pair.
//!
//! Where from: Intel publishes the libraries on PyPI as wheels (zip files): `mkl-static`,
//! `mkl-include` and `intel-openmp`. They are fetched with `python3 -m pip download` (the way
//! the Whisper models are fetched), checked against the sha256 pinned below, and only the files
//! needed are unpacked into `$XDG_CACHE_HOME/vidscribe/mkl-<version>` (else
//! `~/.cache/vidscribe/...`): staged beside it and renamed into place, so an interrupted
//! fetch never leaves a half prefix that a later build would trust. Later builds, of any
//! checkout, reuse it. Offline: point `VIDSCRIBE_MKL_DIR` at a prefix holding the same
//! `lib/` and `include/` and nothing is fetched.

use std::env;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// Names the cache directory: bump it with the pins below.
const MKL_VERSION: &str = "2024.2.2";

/// The static libraries linked, in link order: interface (64-bit integers, as CTranslate2 is
/// compiled with MKL_ILP64), threading (Intel OpenMP), core; then the OpenMP runtime itself.
const LIBRARIES: &[&str] = &["mkl_intel_ilp64", "mkl_intel_thread", "mkl_core"];
const OPENMP_LIBRARY: &str = "iomp5";

struct Wheel {
    spec: &'static str,
    file: &'static str,
    sha256: &'static str,
    unpack: Unpack,
}

enum Unpack {
    /// These files of the wheel's `data/lib/` into `lib/`.
    Libraries(&'static [&'static str]),
    /// The wheel's whole `data/include/` tree into `include/`.
    Headers,
}

const WHEELS: &[Wheel] = &[
    Wheel {
        spec: "mkl-static==2024.2.2",
        file: "mkl_static-2024.2.2-py2.py3-none-manylinux1_x86_64.whl",
        sha256: "908586f768f312fba3b3ce0dda9b8bf086c5246d0e4d1f48ef80fa7eb60764ec",
        unpack: Unpack::Libraries(&[
            "libmkl_intel_ilp64.a",
            "libmkl_intel_thread.a",
            "libmkl_core.a",
        ]),
    },
    Wheel {
        spec: "mkl-include==2024.2.2",
        file: "mkl_include-2024.2.2-py2.py3-none-manylinux1_x86_64.whl",
        sha256: "124298b6806bc57ad3998c521699fb410a29812b35dc0e383fe8a4745cc29f11",
        unpack: Unpack::Headers,
    },
    Wheel {
        spec: "intel-openmp==2024.2.3",
        file: "intel_openmp-2024.2.3-py2.py3-none-manylinux1_x86_64.whl",
        sha256: "c679ab297d5dc5a3315f0eed45e0c1acc63fd090068a55dfd49be1b4d8be4c5b",
        // Only the static archive: ct2rs asks the linker for `iomp5`, and with no shared
        // library beside it that resolves to this one, so binaries need nothing at run time.
        unpack: Unpack::Libraries(&["libiomp5.a"]),
    },
];

type Result<T> = std::result::Result<T, String>;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=VIDSCRIBE_MKL_DIR");
    if let Err(message) = run() {
        // A build script reports by panicking; the message is what the user sees.
        panic!("\n\nIntel oneMKL for CTranslate2: {message}\n\n");
    }
}

fn run() -> Result<()> {
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if arch != "x86_64" || os != "linux" {
        return Err(format!(
            "the MKL wheels exist for x86_64 Linux only, not {arch} {os} \
             (vidscribe-asr enables MKL on x86_64 only)"
        ));
    }

    let given = env::var_os("VIDSCRIBE_MKL_DIR").filter(|d| !d.is_empty());
    let prefix = match &given {
        Some(dir) => PathBuf::from(dir),
        None => {
            let prefix = cache_root().join(format!("mkl-{MKL_VERSION}"));
            if !prefix.is_dir() {
                fetch(&prefix)?;
            }
            prefix
        }
    };
    let lib = prefix.join("lib");
    let include = prefix.join("include");
    let mut required: Vec<PathBuf> = LIBRARIES
        .iter()
        .chain([&OPENMP_LIBRARY])
        .map(|name| lib.join(format!("lib{name}.a")))
        .collect();
    required.push(include.join("mkl.h"));
    for path in &required {
        if !path.is_file() {
            let fix = if given.is_some() {
                "VIDSCRIBE_MKL_DIR must hold lib/ and include/ as fetched from the pinned wheels"
                    .to_string()
            } else {
                format!("remove {} to fetch it again", prefix.display())
            };
            return Err(format!("{} is missing: {fix}", path.display()));
        }
        // A prefix removed after a build makes cargo run this script again.
        println!("cargo:rerun-if-changed={}", path.display());
    }

    println!("cargo:rustc-link-search=native={}", lib.display());
    for name in LIBRARIES {
        println!("cargo:rustc-link-lib=static={name}");
    }
    // Read by ct2rs's build script as DEP_MKL_ROOT / DEP_MKL_INCLUDE_PATH / DEP_MKL_LIBRARY_PATH:
    // CTranslate2's CMake finds mkl.h, the MKL archives and libiomp5 there.
    println!("cargo::metadata=ROOT={}", prefix.display());
    println!("cargo::metadata=INCLUDE_PATH={}", include.display());
    println!("cargo::metadata=LIBRARY_PATH={}", lib.display());
    Ok(())
}

fn cache_root() -> PathBuf {
    if let Some(dir) = env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("vidscribe");
    }
    let home = env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("vidscribe")
}

/// Downloads, verifies and unpacks every wheel into a staging directory beside `prefix`, then
/// renames it into place.
fn fetch(prefix: &Path) -> Result<()> {
    let parent = prefix.parent().expect("the prefix lies in a cache directory");
    let staging = parent.join(format!(
        ".partial-mkl-{MKL_VERSION}-{}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&staging);
    let wheels = staging.join("wheels");
    for dir in [&wheels, &staging.join("lib"), &staging.join("include")] {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let result = WHEELS.iter().try_for_each(|wheel| {
        download(wheel, &wheels)?;
        unpack(wheel, &wheels.join(wheel.file), &staging)
    });
    let result = result.and_then(|()| {
        fs::remove_dir_all(&wheels).map_err(|e| format!("cannot remove {}: {e}", wheels.display()))
    });
    let result = result.and_then(|()| match fs::rename(&staging, prefix) {
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

fn download(wheel: &Wheel, dest: &Path) -> Result<()> {
    let python = env::var("VIDSCRIBE_PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "python3".to_string());
    // The wheels are tagged py2.py3-none-manylinux1_x86_64: naming the platform lets any
    // Python 3 fetch them, whatever its own tags.
    let output = Command::new(&python)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--platform",
            "manylinux1_x86_64",
            "--disable-pip-version-check",
            "--quiet",
            "--dest",
        ])
        .arg(dest)
        .arg(wheel.spec)
        .output()
        .map_err(|e| format!("cannot run {python} -m pip (set VIDSCRIBE_PYTHON, or VIDSCRIBE_MKL_DIR to build offline): {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "pip download {} failed: {}",
            wheel.spec,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let path = dest.join(wheel.file);
    let actual = sha256_file(&path)?;
    if actual != wheel.sha256 {
        return Err(format!(
            "{} has sha256 {actual}, expected {}: refusing to link it",
            wheel.file, wheel.sha256
        ));
    }
    Ok(())
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut file =
        fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Copies the wanted members of a wheel (`<name>.data/data/lib/…`, `<name>.data/data/include/…`).
fn unpack(wheel: &Wheel, path: &Path, staging: &Path) -> Result<()> {
    let file = fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| format!("{} is not a wheel: {e}", wheel.file))?;
    let mut unpacked = 0;
    for index in 0..archive.len() {
        let mut entry = archive
            .by_index(index)
            .map_err(|e| format!("cannot read {}: {e}", wheel.file))?;
        if entry.is_dir() {
            continue;
        }
        // enclosed_name refuses absolute paths and `..`: nothing lands outside the staging dir.
        let Some(name) = entry.enclosed_name() else {
            continue;
        };
        let Some(relative) = data_relative(&name) else {
            continue;
        };
        let wanted = match &wheel.unpack {
            Unpack::Libraries(files) => {
                relative.parent() == Some(Path::new("lib"))
                    && relative
                        .file_name()
                        .and_then(|f| f.to_str())
                        .is_some_and(|f| files.contains(&f))
            }
            Unpack::Headers => relative.starts_with("include"),
        };
        if !wanted {
            continue;
        }
        let dest = staging.join(&relative);
        if let Some(dir) = dest.parent() {
            fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let mut out =
            fs::File::create(&dest).map_err(|e| format!("cannot create {}: {e}", dest.display()))?;
        io::copy(&mut entry, &mut out)
            .map_err(|e| format!("cannot unpack {} from {}: {e}", relative.display(), wheel.file))?;
        unpacked += 1;
    }
    let expected = match &wheel.unpack {
        Unpack::Libraries(files) => files.len(),
        Unpack::Headers => 1,
    };
    if unpacked < expected {
        return Err(format!(
            "{} holds {unpacked} of the {expected} files expected",
            wheel.file
        ));
    }
    Ok(())
}

/// `mkl_static-2024.2.2.data/data/lib/libmkl_core.a` → `lib/libmkl_core.a`.
fn data_relative(name: &Path) -> Option<PathBuf> {
    let mut components = name.components();
    let first = components.next()?.as_os_str().to_str()?;
    if !first.ends_with(".data") || components.next()?.as_os_str() != "data" {
        return None;
    }
    Some(components.as_path().to_path_buf())
}
