//! Media time is the truth: decoded audio is placed by its packets' timestamps (gaps become
//! silence, so text stays in sync with the video), and audio that ends before the file does is
//! decoded as far as it goes with a warning. (That decoding a long file holds a bounded amount
//! of memory is shown end to end on the real binary: crates/vidscribe/tests, `memory`.)

use std::path::Path;

use vidscribe_media::{AudioDecoder, SAMPLE_RATE};

use super::support::{all_samples, best_correlation, fixture, seconds, system_tools};

/// Decodes a file chunk by chunk and returns the samples and the decoder's warnings.
fn decode_with_warnings(path: &Path) -> (Vec<f32>, Vec<String>) {
    let mut d = AudioDecoder::open_with(path, &system_tools()).unwrap();
    let mut all = Vec::new();
    while let Some(chunk) = d.next_chunk().unwrap() {
        all.extend_from_slice(&chunk);
    }
    (all, d.warnings())
}

fn rms(s: &[f32]) -> f64 {
    (s.iter().map(|v| f64::from(*v) * f64::from(*v)).sum::<f64>() / s.len().max(1) as f64).sqrt()
}

#[test]
fn copies_joined_with_timestamp_gaps_stay_at_their_place_in_the_video() {
    let reference = all_samples(&fixture("jfk.wav"));
    let rate = SAMPLE_RATE as usize;
    for file in ["video/jfk_gapped.mp4", "video/jfk_gapped.mkv"] {
        let (samples, warnings) = decode_with_warnings(&fixture(file));
        // Three 11 s copies placed 21 s apart (gaps of 21 - 11.01 s): 53 s of audio, not 33 s.
        assert!((seconds(&samples) - 53.0).abs() < 0.2, "{file}: {} s", seconds(&samples));
        for (copy, start) in [0usize, 21, 42].into_iter().enumerate() {
            // Each copy sounds like jfk.wav where the video shows it (within 0.1 s of lag).
            let c = best_correlation(&reference, &samples[start * rate..], 3 * rate, rate / 10);
            assert!(c > 0.9, "{file}: copy {copy} not at {start} s (correlation {c})");
        }
        // The gaps are silence, not the next copy pulled forward.
        for gap in [13usize, 17, 34, 38] {
            let level = rms(&samples[gap * rate..(gap + 1) * rate]);
            assert!(level < 1e-4, "{file}: {gap} s should be silent, rms {level}");
        }
        assert!(warnings.iter().any(|w| w.contains("2 gap(s), 19.9 s")), "{file}: {warnings:?}");
    }
}

#[test]
fn audio_that_ends_before_the_video_is_decoded_as_far_as_it_goes_with_a_warning() {
    let (samples, warnings) = decode_with_warnings(&fixture("video/jfk_short_audio.mp4"));
    assert!((seconds(&samples) - 11.0).abs() < 0.1, "{} s", seconds(&samples));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("ends at 11.0 s but the file lasts 25.0 s"), "{warnings:?}");
}

#[test]
fn an_ordinary_file_reads_without_warnings() {
    for file in ["jfk.wav", "video/jfk.mp4", "video/jfk.mkv", "jfk.mp3", "video/jfk.webm"] {
        let (_, warnings) = decode_with_warnings(&fixture(file));
        assert!(warnings.is_empty(), "{file}: {warnings:?}");
    }
}
