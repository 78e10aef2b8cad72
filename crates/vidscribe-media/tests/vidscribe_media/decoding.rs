use vidscribe_media::{AudioDecoder, DecoderKind, CHUNK_SAMPLES};

use super::support::{all_samples, best_correlation, decode, fixture, seconds, system_tools};

#[test]
fn jfk_wav_decodes_to_eleven_seconds_of_16khz_mono() {
    let samples = all_samples(&fixture("jfk.wav"));
    assert!((seconds(&samples) - 11.0).abs() < 0.05, "{} s", seconds(&samples));
    // Real speech, not silence, within the f32 range.
    let peak = samples.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(peak > 0.1 && peak <= 1.0, "peak {peak}");
}

#[test]
fn the_jfk_videos_decode_in_process_to_the_same_audio() {
    let reference = all_samples(&fixture("jfk.wav"));
    for video in ["video/jfk.mp4", "video/jfk.mov", "video/jfk.mkv"] {
        let (kind, samples) = decode(&fixture(video), &system_tools()).unwrap();
        assert_eq!(kind, DecoderKind::Symphonia, "{video}");
        let diff = (seconds(&samples) - seconds(&reference)).abs();
        assert!(diff <= 0.05, "{video}: {} s vs {} s", seconds(&samples), seconds(&reference));
        let c = best_correlation(&reference, &samples, 3 * 16_000, 1_600);
        assert!(c > 0.9, "{video}: correlation {c}");
    }
}

#[test]
fn audio_only_encodings_decode_in_process() {
    let reference = all_samples(&fixture("jfk.wav"));
    for file in ["jfk.mp3", "jfk.flac", "jfk.ogg"] {
        let (kind, samples) = decode(&fixture(file), &system_tools()).unwrap();
        assert_eq!(kind, DecoderKind::Symphonia, "{file}");
        // mp3 frames pad the end by up to one frame (~26 ms at 44.1 kHz, more with the encoder delay).
        assert!((seconds(&samples) - 11.0).abs() <= 0.06, "{file}: {} s", seconds(&samples));
        let c = best_correlation(&reference, &samples, 3 * 16_000, 1_600);
        assert!(c > 0.9, "{file}: correlation {c}");
    }
}

#[test]
fn flac_is_bit_exact_after_decoding() {
    let reference = all_samples(&fixture("jfk.wav"));
    let flac = all_samples(&fixture("jfk.flac"));
    assert_eq!(flac, reference);
}

#[test]
fn eight_and_forty_eight_khz_sources_are_resampled_to_16khz() {
    let alsa = fixture("alsa/Front_Center.wav"); // 48 kHz
    let d = AudioDecoder::open_with(&alsa, &system_tools()).unwrap();
    let duration = d.duration();
    let samples: Vec<f32> = d.flat_map(Result::unwrap).collect();
    assert!((seconds(&samples) - duration).abs() < 0.01, "{} s of {duration} s", seconds(&samples));
    let fr = all_samples(&fixture("fr_prompts.wav")); // 8 kHz
    assert!((seconds(&fr) - 40.04).abs() < 0.05, "{} s", seconds(&fr));
}

#[test]
fn the_long_form_file_streams_in_bounded_chunks() {
    let mut d = AudioDecoder::open_with(&fixture("long_form.wav"), &system_tools()).unwrap();
    // The fixture is 391.9 s (every English prompt joined: scripts/fetch-test-data).
    assert!((d.duration() - 391.9).abs() < 0.1, "long form is {} s", d.duration());
    let mut total = 0usize;
    let mut chunks = 0usize;
    let mut last_len = CHUNK_SAMPLES;
    let mut last_progress = 0.0;
    while let Some(chunk) = d.next_chunk().unwrap() {
        assert_eq!(last_len, CHUNK_SAMPLES, "only the final chunk may be short");
        assert!(!chunk.is_empty() && chunk.len() <= CHUNK_SAMPLES, "chunk of {} samples", chunk.len());
        last_len = chunk.len();
        total += chunk.len();
        chunks += 1;
        assert!(d.seconds_decoded() > last_progress);
        last_progress = d.seconds_decoded();
    }
    // 391.9 s in chunks of 2 s: 195 full ones and the short rest.
    assert_eq!(chunks, 196, "{chunks} chunks");
    assert!((total as f64 / 16_000.0 - d.duration()).abs() < 0.05);
    assert!((d.seconds_decoded() - d.duration()).abs() < 0.05);
    // Finished stays finished.
    assert!(d.next_chunk().unwrap().is_none());
}

#[test]
fn silence_decodes_to_silence() {
    let s = all_samples(&fixture("silence_10s.wav"));
    assert_eq!(s.len(), 160_000);
    assert!(s.iter().all(|v| *v == 0.0));
}
