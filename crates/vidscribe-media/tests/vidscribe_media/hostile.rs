use std::path::Path;

use vidscribe_media::{probe_with, AudioDecoder, MediaError, MediaOptions};

use vidscribe_media::DecoderKind;

use super::support::{decode_within, fixture, no_ffmpeg, scratch_copy, seconds, system_tools, DECODE_LIMIT};

fn open_err(path: &Path, o: &MediaOptions) -> MediaError {
    match AudioDecoder::open_with(path, o) {
        Err(e) => e,
        Ok(mut d) => loop {
            match d.next_chunk() {
                Ok(Some(_)) => {}
                Ok(None) => panic!("{} decoded without an error", path.display()),
                Err(e) => break e,
            }
        },
    }
}

#[test]
fn hostile_fixtures_fail_with_typed_errors_that_name_the_file() {
    for o in [system_tools(), no_ffmpeg()] {
        for (file, code) in [
            ("hostile/empty.mp4", "not_media"),
            ("hostile/text.mp4", "not_media"),
            ("hostile/random.mkv", "not_media"),
            ("hostile/truncated.mp4", "truncated"),
        ] {
            let e = open_err(&fixture(file), &o);
            assert_eq!(e.code(), code, "{file}: {e}");
            let name = Path::new(file).file_name().unwrap().to_str().unwrap();
            assert!(e.to_string().contains(&format!("'{name}'")), "{e}");
            assert!(!e.to_string().contains("hostile/"), "no directories in messages: {e}");
            assert_eq!(probe_with(&fixture(file), &o).unwrap_err().code(), code, "{file} probe");
        }
    }
}

#[test]
fn a_missing_file_is_an_io_error() {
    let e = probe_with(Path::new("/nonexistent/dir/talk.mp4"), &system_tools()).unwrap_err();
    assert_eq!(e.code(), "io");
    assert!(e.to_string().contains("'talk.mp4'"), "{e}");
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).position(|w| w == needle).unwrap_or_else(|| panic!("{needle:?} not found"))
}

#[test]
fn an_mp4_declaring_billions_of_samples_is_corrupt_not_a_crash() {
    let (_dir, path) = scratch_copy("video/jfk.mp4");
    let mut bytes = std::fs::read(&path).unwrap();
    // Every stsz: version/flags(4) sample_size(4) sample_count(4) after the 8-byte header.
    let mut from = 0;
    while let Some(i) = bytes[from..].windows(4).position(|w| w == b"stsz") {
        let at = from + i + 4 + 8;
        bytes[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        from = at;
    }
    std::fs::write(&path, &bytes).unwrap();
    let e = open_err(&path, &no_ffmpeg());
    assert_eq!(e.code(), "corrupt_media", "{e}");
}

#[test]
fn a_matroska_element_larger_than_the_file_is_reported_not_allocated() {
    let (_dir, path) = scratch_copy("video/jfk.mkv");
    let mut bytes = std::fs::read(&path).unwrap();
    // CodecPrivate (0x63A2) of the Vorbis track: give it an 8-byte size of ~2^55 bytes.
    let at = find(&bytes, &[0x63, 0xA2]) + 2;
    let old_len = (bytes[at].leading_zeros() + 1) as usize;
    let mut patched = bytes[..at].to_vec();
    patched.extend_from_slice(&[0x01, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xF0]);
    patched.extend_from_slice(&bytes[at + old_len..]);
    bytes = patched;
    std::fs::write(&path, &bytes).unwrap();
    // The element claims more bytes than are left in the file.
    let e = open_err(&path, &no_ffmpeg());
    assert_eq!(e.code(), "truncated", "{e}");
}

#[test]
fn a_wav_cut_in_half_is_truncated() {
    let (_dir, path) = scratch_copy("jfk.wav");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert_eq!(open_err(&path, &system_tools()).code(), "truncated");
}

#[test]
fn a_wav_declaring_an_absurd_sample_rate_is_corrupt() {
    for rate in [1u32, 4_000_000_000] {
        let (_dir, path) = scratch_copy("jfk.wav");
        let mut bytes = std::fs::read(&path).unwrap();
        // fmt chunk: "fmt " size(4) format(2) channels(2) sample_rate(4)
        let at = find(&bytes, b"fmt ") + 12;
        bytes[at..at + 4].copy_from_slice(&rate.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let e = open_err(&path, &no_ffmpeg());
        assert_eq!(e.code(), "corrupt_media", "{rate} Hz: {e}");
        assert!(e.to_string().contains("sample rate"), "{e}");
        assert_eq!(probe_with(&path, &no_ffmpeg()).unwrap_err().code(), "corrupt_media");
    }
}

#[test]
fn a_video_without_audio_has_no_audio_stream() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("silent-film.mp4");
    let status = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-y", "-i"])
        .arg(fixture("video/jfk.mp4"))
        .args(["-an", "-c:v", "copy"])
        .arg(&path)
        .status()
        .expect("ffmpeg is needed to build this fixture (scripts/fetch-test-data needs it too)");
    assert!(status.success());
    for o in [system_tools(), no_ffmpeg()] {
        assert_eq!(probe_with(&path, &o).unwrap_err().code(), "no_audio_stream");
    }
}

/// Formats whose payload damage (odd rounds: bytes anywhere in the file, nearly always in the
/// audio) is decoded through, as a player would: PCM, FLAC frames, MP3 frames.
const PAYLOAD_ROBUST: &[&str] = &["jfk.wav", "jfk.flac", "jfk.mp3"];

/// What decoding a damaged copy may end in, without ffmpeg: the typed errors of an
/// in-process decode (a header damaged into another container or codec asks for ffmpeg).
const DAMAGED_CODES: &[&str] =
    &["not_media", "no_audio_stream", "truncated", "corrupt_media", "unsupported_codec", "ffmpeg_missing"];

/// Deterministic byte flips (a small LCG) over every in-process format: decoding must end,
/// within [`DECODE_LIMIT`], in Ok with about as much audio as the file holds, or in a typed
/// error that names only the file; never a panic or a hang. With these seeds symphonia's
/// Matroska reader panics on one of the files (its message is printed), which must come back
/// as an error; 400 rounds per file were run once by hand (22 caught panics, no abort).
#[test]
fn damaged_files_never_panic() {
    let mut seed: u64 = 0x5eed_1234;
    let mut next = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    let mut tally: std::collections::BTreeMap<String, usize> = Default::default();
    for file in ["video/jfk.mp4", "video/jfk.mkv", "jfk.ogg", "jfk.mp3", "jfk.flac", "jfk.wav", "video/jfk.mov"] {
        let original = std::fs::read(fixture(file)).unwrap();
        let name = Path::new(file).file_name().unwrap().to_str().unwrap();
        let mut decoded = 0usize;
        for round in 0..40 {
            let (_dir, path) = scratch_copy(file);
            let mut bytes = original.clone();
            // Damage the headers more often than the payload: that is where parsers trip.
            let region = if round % 2 == 0 { bytes.len().min(4096) } else { bytes.len() };
            for _ in 0..(1 + next() % 24) {
                let i = next() % region;
                bytes[i] = (next() & 0xFF) as u8;
            }
            std::fs::write(&path, &bytes).unwrap();
            let what = format!("{file}, round {round}");
            match decode_within(&path, &no_ffmpeg(), DECODE_LIMIT) {
                Ok((kind, samples)) => {
                    assert_eq!(kind, DecoderKind::Symphonia, "{what}: no ffmpeg to fall back on");
                    // The file holds 11 s: damage may lose audio, or turn it into noise, but
                    // never makes more than the file's length (and an MP3's few frames of padding).
                    let s = seconds(&samples);
                    assert!(s <= 11.2, "{what}: decoded {s} s from an 11 s file");
                    // Lossy codecs may overshoot ±1 on damaged frames; NaN or ∞ would poison the model.
                    assert!(samples.iter().all(|v| v.is_finite()), "{what}: non-finite samples");
                    decoded += 1;
                    *tally.entry(format!("{file}: ok")).or_default() += 1;
                }
                Err(e) => {
                    assert!(DAMAGED_CODES.contains(&e.code().as_str()), "{what}: unexpected code {} ({e})", e.code());
                    let m = e.to_string();
                    assert!(m.contains(&format!("'{name}'")), "{what}: the message names the file: {m}");
                    assert!(!m.contains(std::env::temp_dir().to_str().unwrap()), "{what}: no directories: {m}");
                    *tally.entry(format!("{file}: {}", e.code())).or_default() += 1;
                    assert!(
                        round % 2 == 0 || !PAYLOAD_ROBUST.contains(&file),
                        "{what}: a few damaged bytes in the audio of a {file} fail the whole file: {e}"
                    );
                }
            }
        }
        // Some damaged copies of every format decode: a decoder that gave up on every damaged
        // file would pass everything above without decoding anything.
        assert!(decoded >= 3, "{file}: only {decoded} of 40 damaged copies decoded");
    }
    eprintln!("damaged-file outcomes: {tally:#?}");
}
