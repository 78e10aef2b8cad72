//! `vidscribe transcribe` on real speech in real containers, with the real Whisper engine.

use std::time::Duration;

use serde_json::Value;

use crate::support::{
    assert_wer, ensure_model, json_text, max_wer, reference, run, stage, subtitle_text, vidscribe, MODEL,
};

/// `vidscribe transcribe INPUT --out OUT --model MODEL ARGS…`, within ten minutes.
fn transcribe_into(input: &std::path::Path, out_dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut cmd = vidscribe();
    cmd.arg("transcribe").arg(input).arg("--out").arg(out_dir).args(["--model", MODEL]).args(args);
    run(cmd, Duration::from_secs(600))
}

#[test]
fn transcribing_videos_writes_every_format_and_a_corrupt_file_fails_by_name() {
    ensure_model();
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let files = stage(
        &input,
        &[("talk.mp4", "video/jfk.mp4"), ("interview.mkv", "video/jfk.mkv"), ("broken.mp4", "hostile/truncated.mp4")],
    );
    let out_dir = tmp.path().join("out");

    let out = run(
        vidscribe().arg("transcribe").args(&files).arg("--out").arg(&out_dir).args([
            "--format",
            "txt,srt,vtt,json",
            "--model",
            MODEL,
            "--jobs",
            "2",
        ]),
        Duration::from_secs(600),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let context = format!("stdout:\n{stdout}\nstderr:\n{stderr}");

    assert_eq!(out.status.code(), Some(1), "one file failed, so the exit code is 1\n{context}");
    assert!(
        stderr.lines().any(|l| l.starts_with("error:") && l.contains("broken.mp4")),
        "the corrupt file is named in an error line\n{context}"
    );
    for stem in ["talk", "interview"] {
        for ext in ["txt", "srt", "vtt", "json"] {
            let p = out_dir.join(format!("{stem}.{ext}"));
            let text =
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{} missing: {e}\n{context}", p.display()));
            assert!(!text.trim().is_empty(), "{} is empty", p.display());
        }
        // Every format carries the quote, scored against the reference text.
        let (jfk, bound) = (reference("video/jfk.mp4"), max_wer("video/jfk.mp4"));
        let txt = std::fs::read_to_string(out_dir.join(format!("{stem}.txt"))).unwrap();
        assert_wer(&format!("{stem}.txt"), &jfk, &txt, bound);
        let srt = std::fs::read_to_string(out_dir.join(format!("{stem}.srt"))).unwrap();
        assert!(srt.starts_with("1\n") && srt.contains(" --> "), "{stem}.srt is SubRip: {srt}");
        assert_wer(&format!("{stem}.srt"), &jfk, &subtitle_text(&srt), bound);
        let vtt = std::fs::read_to_string(out_dir.join(format!("{stem}.vtt"))).unwrap();
        assert!(vtt.starts_with("WEBVTT"), "{stem}.vtt is WebVTT");
        assert_wer(&format!("{stem}.vtt"), &jfk, &subtitle_text(&vtt), bound);
        let json: Value =
            serde_json::from_str(&std::fs::read_to_string(out_dir.join(format!("{stem}.json"))).unwrap()).unwrap();
        assert!(
            json.get("segments").and_then(Value::as_array).is_some_and(|s| !s.is_empty()),
            "{stem}.json has segments"
        );
        assert_wer(&format!("{stem}.json"), &jfk, &json_text(&json), bound);
    }
    let leftovers: Vec<_> = std::fs::read_dir(&out_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("broken"))
        .collect();
    assert!(leftovers.is_empty(), "no outputs for the corrupt file: {leftovers:?}");

    // The summary table lists every file with its status; without a TTY each transition is a plain line.
    let table: Vec<&str> = stdout.lines().collect();
    assert!(table[0].starts_with("FILE") && table[0].contains("RTF"), "{context}");
    assert_eq!(table.iter().filter(|l| l.trim_end().ends_with("completed")).count(), 2, "{context}");
    assert!(table.iter().any(|l| l.contains("broken.mp4") && l.trim_end().ends_with("failed")), "{context}");
    assert!(
        stderr.contains("queued -> processing") && stderr.contains("processing -> completed"),
        "plain transition lines\n{context}"
    );
    assert!(stderr.contains("processing -> failed"), "{context}");
}

#[test]
fn folders_are_walked_non_media_is_skipped_and_json_reports_results() {
    ensure_model();
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("talks");
    stage(&input, &[("nested/speech.mp4", "video/librivox_0870.mp4"), ("notes.mp4", "hostile/text.mp4")]);
    std::fs::write(input.join("README.txt"), "not a video").unwrap();
    let out_dir = tmp.path().join("subs");

    let out = transcribe_into(&input, &out_dir, &["--format", "srt", "--json"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("--json prints JSON ({e}): {stdout}"));
    let files = report["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{report}");
    assert_eq!(files[0]["status"], "completed");
    let lv = reference("video/librivox_0870.mp4");
    let srt = std::fs::read_to_string(out_dir.join("speech.srt")).unwrap();
    assert_wer("librivox_0870 speech.srt", &lv, &subtitle_text(&srt), max_wer("video/librivox_0870.mp4"));
    // The report counts the words it wrote.
    let written = subtitle_text(&srt).split_whitespace().count();
    assert_eq!(files[0]["words"].as_u64(), Some(written as u64), "speech.srt has {written} words: {report}");
    assert!(files[0]["duration"].as_f64().unwrap() > 1.0, "{report}");
    assert!(files[0]["real_time_factor"].as_f64().unwrap() > 0.0, "{report}");
    let skipped: Vec<&str> = report["skipped"].as_array().unwrap().iter().filter_map(|s| s["file"].as_str()).collect();
    assert_eq!(skipped.len(), 2, "{report}");
    assert!(
        skipped.iter().any(|s| s.ends_with("README.txt")) && skipped.iter().any(|s| s.ends_with("notes.mp4")),
        "{report}"
    );
    assert!(stderr.contains("skipping") && stderr.contains("notes.mp4"), "{stderr}");
    assert!(out_dir.join("speech.srt").is_file());
    assert!(!out_dir.join("speech.txt").exists(), "only the requested format");
}

#[test]
fn a_bad_option_is_refused_with_one_clear_sentence() {
    let out = run(vidscribe().args(["transcribe", "x.mp4", "--format", "docx"]), Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: ") && stderr.contains("docx"), "{stderr}");

    let out = run(vidscribe().args(["transcribe"]), Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");

    let out = run(vidscribe().args(["transcribe", "x.mp4", "--vad", "maybe"]), Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.starts_with("error: ") && stderr.contains("maybe") && stderr.contains("--vad"), "{stderr}");
}

#[test]
fn a_named_file_that_is_not_media_fails_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let files = stage(tmp.path(), &[("notes.mp4", "hostile/text.mp4")]);
    let out = run(vidscribe().arg("transcribe").args(&files).arg("--out").arg(tmp.path()), Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("notes.mp4") && stderr.contains("not an audio or video file"), "{stderr}");
}

#[test]
fn with_vad_only_the_speech_is_transcribed_and_the_times_stay_the_medias() {
    ensure_model();
    let tmp = tempfile::tempdir().unwrap();
    let audio = vidscribe_media::testdata::GappedSpeech::new();
    let input = tmp.path().join("pauses.wav");
    audio.write_wav(&input);
    let out_dir = tmp.path().join("out");
    let out = transcribe_into(&input, &out_dir, &["--format", "json,srt", "--vad", "true", "--json"]);
    let context = format!("stderr:\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{context}");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(out_dir.join("pauses.json")).unwrap()).unwrap();
    let heard = json["speech_seconds"].as_f64().unwrap_or_else(|| panic!("speech_seconds in {json}"));
    let duration = json["duration"].as_f64().unwrap();
    eprintln!("vad: {heard:.1} s of {duration:.1} s given to the model");
    assert!((duration - audio.seconds()).abs() < 0.05, "the media's duration: {duration}");
    assert!(heard < audio.speech_seconds() + 2.0, "only the speech reached the model: {heard} s");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("--json: {e}\n{context}"));
    assert_eq!(report["files"][0]["speech_seconds"].as_f64(), Some(heard), "the report says it too: {report}");
    assert_wer("pauses.json", &audio.reference(), &json_text(&json), 0.08);
    // Each passage's subtitles are where it plays; none in the pauses.
    let segments = json["segments"].as_array().unwrap();
    for p in &audio.passages {
        let first = segments.iter().find(|s| s["end"].as_f64().unwrap() > p.start).expect("a segment per passage");
        let start = first["start"].as_f64().unwrap();
        assert!((start - p.start).abs() < 1.0, "passage at {} s, its first segment at {start} s", p.start);
    }
    for (from, to) in audio.pauses() {
        let inside: Vec<_> =
            segments.iter().filter(|s| (from + 0.5..to - 0.5).contains(&s["start"].as_f64().unwrap())).collect();
        assert!(inside.is_empty(), "subtitles in the pause {from}..{to}: {inside:?}");
    }
    let srt = std::fs::read_to_string(out_dir.join("pauses.srt")).unwrap();
    assert!(srt.contains("00:00:4"), "the second passage is subtitled at 0:4x: {srt}");
}
