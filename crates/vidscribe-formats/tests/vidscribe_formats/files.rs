use std::fs;

use vidscribe_core::OutputFormat;
use vidscribe_formats::{render, rendered_outputs, write_atomic};

use super::support::jfk;

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

// The worker stores exactly these `(file name, contents)` pairs under the job's results key.

fn file_names(outputs: &[(&'static str, String)]) -> Vec<&'static str> {
    outputs.iter().map(|(name, _)| *name).collect()
}

#[test]
fn transcript_json_is_always_written_even_if_not_requested() {
    let outputs = rendered_outputs(&jfk(), &[OutputFormat::Srt]);
    assert_eq!(file_names(&outputs), vec!["transcript.json", "subtitles.srt"]);
}

#[test]
fn every_requested_format_is_written_once_under_its_file_name() {
    let all = [
        OutputFormat::Txt,
        OutputFormat::Srt,
        OutputFormat::Vtt,
        OutputFormat::Json,
        OutputFormat::Srt,
    ];
    let outputs = rendered_outputs(&jfk(), &all);
    assert_eq!(outputs.len(), 4);
    let mut names = file_names(&outputs);
    names.sort_unstable();
    assert_eq!(
        names,
        vec![
            "subtitles.srt",
            "subtitles.vtt",
            "transcript.json",
            "transcript.txt"
        ]
    );
    for f in OutputFormat::ALL {
        let (_, body) = outputs.iter().find(|(name, _)| *name == f.file_name()).unwrap();
        assert_eq!(*body, render(f, &jfk()));
    }
}

#[test]
fn any_format_can_be_re_rendered_from_the_written_json() {
    let outputs = rendered_outputs(&jfk(), &[]);
    assert_eq!(file_names(&outputs), vec!["transcript.json"]);
    let t: vidscribe_core::Transcript = serde_json::from_str(&outputs[0].1).unwrap();
    assert_eq!(
        render(OutputFormat::Vtt, &t),
        render(OutputFormat::Vtt, &jfk())
    );
}

#[test]
fn an_atomic_write_replaces_the_old_file_and_leaves_no_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("subtitles.srt");
    fs::write(&p, "old contents that are longer than the new ones").unwrap();
    write_atomic(&p, b"new").unwrap();
    assert_eq!(fs::read_to_string(&p).unwrap(), "new");
    assert_eq!(names(dir.path()), vec!["subtitles.srt"]);
}

#[test]
fn a_failed_atomic_write_reports_the_error_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    // Renaming a file over a non-empty directory fails.
    let target = dir.path().join("transcript.json");
    fs::create_dir(&target).unwrap();
    fs::write(target.join("keep"), "x").unwrap();
    let err = write_atomic(&target, b"{}").unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::IsADirectory, "the rename's own error: {err}");
    assert_eq!(names(dir.path()), vec!["transcript.json"]);
    assert_eq!(fs::read_to_string(target.join("keep")).unwrap(), "x", "the directory is untouched");
}
