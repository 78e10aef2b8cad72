use vidscribe_media::{probe_with, sniff, Container, DecoderKind, SNIFF_LEN};

use super::support::{fixture, system_tools};

fn head(relative: &str) -> Vec<u8> {
    let mut b = std::fs::read(fixture(relative)).unwrap();
    b.truncate(SNIFF_LEN);
    b
}

#[test]
fn fixtures_are_recognised_by_their_bytes() {
    for (file, container, ext) in [
        ("jfk.wav", Container::Wav, "wav"),
        ("jfk.mp3", Container::Mp3, "mp3"),
        ("jfk.flac", Container::Flac, "flac"),
        ("jfk.ogg", Container::Ogg, "ogg"),
        ("video/jfk.mp4", Container::Mp4, "mp4"),
        ("video/jfk.mov", Container::Mov, "mov"),
        ("video/jfk.mkv", Container::Matroska, "mkv"),
        ("video/jfk.webm", Container::WebM, "webm"),
        ("video/jfk.avi", Container::Avi, "avi"),
    ] {
        let s = sniff(&head(file)).unwrap_or_else(|| panic!("{file} not recognised"));
        assert_eq!((s.container, s.extension), (container, ext), "{file}");
    }
    for file in ["hostile/text.mp4", "hostile/empty.mp4", "hostile/random.mkv"] {
        assert_eq!(sniff(&head(file)), None, "{file}");
    }
}

#[test]
fn probing_reports_duration_codec_video_and_decoder() {
    let o = system_tools();
    let wav = probe_with(&fixture("jfk.wav"), &o).unwrap();
    assert!((wav.duration - 11.0).abs() < 0.01, "{wav:?}");
    assert_eq!((wav.sample_rate, wav.channels, wav.has_video), (16_000, 1, false));
    assert_eq!(wav.decoder, DecoderKind::Symphonia);

    let mp4 = probe_with(&fixture("video/jfk.mp4"), &o).unwrap();
    assert!((mp4.duration - 11.0).abs() < 0.1, "{mp4:?}");
    assert_eq!((mp4.audio_codec.as_str(), mp4.has_video, mp4.decoder), ("aac", true, DecoderKind::Symphonia));

    // Matroska states the segment's length, video included (the video runs a little longer).
    let mkv = probe_with(&fixture("video/jfk.mkv"), &o).unwrap();
    assert!((mkv.duration - 11.0).abs() < 0.5, "{mkv:?}");
    assert_eq!((mkv.audio_codec.as_str(), mkv.has_video, mkv.decoder), ("vorbis", true, DecoderKind::Symphonia));

    let webm = probe_with(&fixture("video/jfk.webm"), &o).unwrap();
    assert!((webm.duration - 11.0).abs() < 0.2, "{webm:?}");
    assert_eq!((webm.audio_codec.as_str(), webm.has_video, webm.decoder), ("opus", true, DecoderKind::Ffmpeg));

    let avi = probe_with(&fixture("video/jfk.avi"), &o).unwrap();
    assert!((avi.duration - 11.0).abs() < 0.2, "{avi:?}");
    assert_eq!((avi.audio_codec.as_str(), avi.has_video, avi.decoder), ("mp3", true, DecoderKind::Ffmpeg));

    let lv = probe_with(&fixture("video/librivox_0870.mp4"), &o).unwrap();
    // The audio track's 7.1 s (the container, video included, lasts 7.5 s).
    assert!((lv.duration - 7.1).abs() < 0.1, "{lv:?}");
    assert_eq!((lv.audio_codec.as_str(), lv.sample_rate, lv.has_video), ("aac", 16_000, true), "{lv:?}");
}

#[test]
fn the_long_form_fixture_lasts_more_than_six_minutes() {
    let info = probe_with(&fixture("long_form.wav"), &system_tools()).unwrap();
    // 391.9 s: more than six minutes, as the long-form tests need.
    assert!((info.duration - 391.9).abs() < 0.1, "{info:?}");
    assert_eq!(info.sample_rate, 8_000);
}
