use vidscribe_core::OutputFormat;
use vidscribe_formats::{render, rendered_outputs};

use super::support::jfk;

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
    let all = [OutputFormat::Txt, OutputFormat::Srt, OutputFormat::Vtt, OutputFormat::Json, OutputFormat::Srt];
    let outputs = rendered_outputs(&jfk(), &all);
    assert_eq!(outputs.len(), 4);
    let mut names = file_names(&outputs);
    names.sort_unstable();
    assert_eq!(names, vec!["subtitles.srt", "subtitles.vtt", "transcript.json", "transcript.txt"]);
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
    assert_eq!(render(OutputFormat::Vtt, &t), render(OutputFormat::Vtt, &jfk()));
}
