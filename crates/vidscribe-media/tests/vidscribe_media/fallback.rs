use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use vidscribe_media::{AudioDecoder, DecoderKind, MediaOptions};

use super::support::{all_samples, best_correlation, decode, fixture, no_ffmpeg, seconds, system_tools};

#[test]
fn opus_in_webm_and_avi_decode_through_ffmpeg() {
    let reference = all_samples(&fixture("jfk.wav"));
    for video in ["video/jfk.webm", "video/jfk.avi"] {
        let (kind, samples) = decode(&fixture(video), &system_tools()).unwrap();
        assert_eq!(kind, DecoderKind::Ffmpeg, "{video}");
        assert!((seconds(&samples) - 11.0).abs() <= 0.1, "{video}: {} s", seconds(&samples));
        let c = best_correlation(&reference, &samples, 3 * 16_000, 1_600);
        assert!(c > 0.9, "{video}: correlation {c}");
    }
}

#[test]
fn without_ffmpeg_webm_fails_with_ffmpeg_missing_while_mp4_still_decodes() {
    let err = AudioDecoder::open_with(&fixture("video/jfk.webm"), &no_ffmpeg()).err().expect("webm needs ffmpeg");
    assert_eq!(err.code(), "ffmpeg_missing");
    let msg = err.to_string();
    assert!(msg.contains("'jfk.webm'") && msg.contains("needs ffmpeg") && msg.contains("opus"), "{msg}");
    assert!(!msg.contains("/root") && !msg.contains("testdata"), "only the file name: {msg}");

    let (kind, samples) = decode(&fixture("video/jfk.mp4"), &no_ffmpeg()).unwrap();
    assert_eq!(kind, DecoderKind::Symphonia);
    assert!((seconds(&samples) - 11.0).abs() < 0.05);
    assert_eq!(
        vidscribe_media::probe_with(&fixture("video/jfk.avi"), &no_ffmpeg()).unwrap_err().code(),
        "ffmpeg_missing"
    );
}

/// A fake ffmpeg that answers `-version` and otherwise runs `body`.
fn fake_ffmpeg(dir: &Path, body: &str) -> MediaOptions {
    let path = dir.join("ffmpeg");
    std::fs::write(&path, format!("#!/bin/sh\nif [ \"$1\" = -version ]; then exit 0; fi\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut o = MediaOptions::default().with_ffmpeg(&path);
    o.ffprobe = "ffprobe".into();
    o
}

#[test]
fn a_stalled_ffmpeg_is_killed_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = fake_ffmpeg(dir.path(), "exec sleep 60");
    o.ffmpeg_stall_timeout = Duration::from_secs(1);
    let started = Instant::now();
    let err = decode(&fixture("video/jfk.webm"), &o).unwrap_err();
    assert_eq!(err.code(), "ffmpeg_failed");
    assert!(err.to_string().contains("no audio for 1 s"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
}

#[test]
fn ffmpeg_errors_carry_what_ffmpeg_printed_without_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let o = fake_ffmpeg(dir.path(), "echo \"codec exploded in $6\" >&2\nexit 1");
    let err = decode(&fixture("video/jfk.webm"), &o).unwrap_err();
    assert_eq!(err.code(), "ffmpeg_failed");
    let msg = err.to_string();
    assert!(msg.contains("codec exploded in jfk.webm"), "{msg}");
    assert!(!msg.contains("testdata/"), "{msg}");
}

#[test]
fn dropping_a_decoder_mid_stream_stops_ffmpeg() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("still-running");
    // Streams silence forever; if the child outlived the decoder it would create the marker.
    let o = fake_ffmpeg(
        dir.path(),
        &format!("trap '' TERM\nhead -c 1000000 /dev/zero\nsleep 2\ntouch {}", marker.display()),
    );
    let mut d = AudioDecoder::open_with(&fixture("video/jfk.webm"), &o).unwrap();
    assert!(d.next_chunk().unwrap().is_some());
    drop(d);
    std::thread::sleep(Duration::from_secs(3));
    assert!(!marker.exists(), "ffmpeg kept running after the decoder was dropped");
}
