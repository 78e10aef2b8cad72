use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use vidscribe_asr::engine::Stop;
use vidscribe_asr::{DecodeOptions, WindowReport};
use vidscribe_core::{CancelFlag, JobStage, TranscribeError};
use vidscribe_media::AudioDecoder;

use crate::support::{cpu, fixture, request, transcribe_with, transcriber, THREADS};

#[test]
fn cancelling_stops_within_one_window() {
    let cancel = CancelFlag::new();
    let windows_after_cancel = AtomicUsize::new(0);
    let windows_before_cancel = AtomicUsize::new(0);
    let result =
        transcribe_with(transcriber(), &request(&fixture("long_form.wav"), "tiny.en"), &cancel, &|stage, done| {
            // Progress 0 opens the stage; every later report is one finished window.
            if stage == JobStage::Transcribing && done > 0.0 {
                if cancel.is_cancelled() {
                    windows_after_cancel.fetch_add(1, Ordering::SeqCst);
                } else {
                    windows_before_cancel.fetch_add(1, Ordering::SeqCst);
                    cancel.cancel();
                }
            }
        });
    assert_eq!(result.expect_err("cancelled"), TranscribeError::Cancelled);
    // Cancelled after the first of 13+ windows: the flag is checked before the next one starts.
    assert_eq!(windows_before_cancel.load(Ordering::SeqCst), 1);
    assert_eq!(windows_after_cancel.load(Ordering::SeqCst), 0, "windows ran after the cancel");
}

#[test]
fn a_job_cancelled_before_it_starts_does_no_work() {
    let cancel = CancelFlag::new();
    cancel.cancel();
    let result = transcribe_with(transcriber(), &request(&fixture("jfk.wav"), "tiny.en"), &cancel, &|stage, _| {
        assert_ne!(stage, JobStage::Transcribing, "no window should run");
    });
    assert_eq!(result.expect_err("cancelled"), TranscribeError::Cancelled);
}

/// Runs tiny.en's engine directly over `media`, with `cancelled` as its cancel callback.
fn engine_run(
    media: &std::path::Path,
    options: &DecodeOptions,
    cancelled: &dyn Fn() -> bool,
) -> (Result<vidscribe_core::Transcript, Stop>, Vec<WindowReport>) {
    let engine = transcriber().engine("tiny.en", THREADS).expect("tiny.en loads");
    let mut decoder = AudioDecoder::open(media).expect("fixture opens");
    let expected = decoder.duration();
    let mut windows = Vec::new();
    let result = engine.transcribe(&mut decoder, expected, options, None, &mut |w, _, _| windows.push(*w), cancelled);
    (result, windows)
}

#[test]
fn a_cancel_seen_inside_a_window_stops_it_before_it_ends() {
    // The flag is down when the window starts and up at every later look: an engine that only
    // looks between windows would finish this one (11 s of speech, one window) and report it.
    let asked = AtomicUsize::new(0);
    let _cpu = cpu();
    let (result, windows) = engine_run(
        &fixture("jfk.wav"),
        &DecodeOptions { language: Some("en".into()), word_timestamps: true, ..DecodeOptions::default() },
        &|| asked.fetch_add(1, Ordering::SeqCst) > 0,
    );
    assert!(matches!(result, Err(Stop::Cancelled)), "{result:?}");
    assert!(windows.is_empty(), "the window ran to its end after the cancel: {windows:?}");
    assert!(asked.load(Ordering::SeqCst) >= 2, "the flag was looked at inside the window");
}

#[test]
fn a_cancel_during_a_temperature_fallback_waits_for_one_decoding_pass_not_all_of_them() {
    let media = fixture("jfk.wav");
    let _cpu = cpu();
    // Loaded before anything is timed.
    drop(transcriber().engine("tiny.en", THREADS).expect("tiny.en loads"));
    // One pass: the window decoded once at temperature 0 (beam 5), which jfk passes.
    let single = DecodeOptions { language: Some("en".into()), temperatures: vec![0.0], ..DecodeOptions::default() };
    let started = Instant::now();
    let (result, windows) = engine_run(&media, &single, &|| false);
    let one_pass = started.elapsed();
    assert!(result.is_ok() && windows.len() == 1, "{result:?} {windows:?}");

    // Every attempt judged improbable (log-probability threshold 0): the window is decoded at
    // all six temperatures, five of them sampling five candidates each. The cancel comes three
    // quarters of a pass in: past the features and the encoder, during the first attempt
    // (the same work as the pass above).
    let forced = DecodeOptions { language: Some("en".into()), log_prob_threshold: 0.0, ..DecodeOptions::default() };
    let raise_at = one_pass * 3 / 4;
    let raised = AtomicBool::new(false);
    let started = Instant::now();
    let (result, windows) = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(raise_at);
            raised.store(true, Ordering::SeqCst);
        });
        engine_run(&media, &forced, &|| raised.load(Ordering::SeqCst))
    });
    let latency = started.elapsed().saturating_sub(raise_at);
    eprintln!("one pass {one_pass:?}; cancelled {raise_at:?} into a six-attempt window, stopped {latency:?} later");
    assert!(matches!(result, Err(Stop::Cancelled)), "{result:?}");
    assert!(windows.is_empty(), "{windows:?}");
    // The rest of the pass in flight (half a pass), with room for a busy machine: well under
    // the five sampling attempts an engine that looks only between windows would still run.
    assert!(latency <= one_pass * 3 / 2, "stopped {latency:?} after the cancel; one pass takes {one_pass:?}");
}
