use std::sync::atomic::{AtomicUsize, Ordering};

use vidscribe_core::{CancelFlag, JobStage, TranscribeError};

use crate::support::{fixture, request, transcribe_with, transcriber};

#[test]
fn cancelling_stops_within_one_window() {
    let cancel = CancelFlag::new();
    let windows_after_cancel = AtomicUsize::new(0);
    let windows_before_cancel = AtomicUsize::new(0);
    let result = transcribe_with(
        transcriber(),
        &request(&fixture("long_form.wav"), "tiny.en"),
        &cancel,
        &|stage, done| {
            // Progress 0 opens the stage; every later report is one finished window.
            if stage == JobStage::Transcribing && done > 0.0 {
                if cancel.is_cancelled() {
                    windows_after_cancel.fetch_add(1, Ordering::SeqCst);
                } else {
                    windows_before_cancel.fetch_add(1, Ordering::SeqCst);
                    cancel.cancel();
                }
            }
        },
    );
    assert_eq!(result.expect_err("cancelled"), TranscribeError::Cancelled);
    // Cancelled after the first of 13+ windows: the flag is checked before the next one starts.
    assert_eq!(windows_before_cancel.load(Ordering::SeqCst), 1);
    assert_eq!(
        windows_after_cancel.load(Ordering::SeqCst),
        0,
        "windows ran after the cancel"
    );
}

#[test]
fn a_job_cancelled_before_it_starts_does_no_work() {
    let cancel = CancelFlag::new();
    cancel.cancel();
    let result = transcribe_with(
        transcriber(),
        &request(&fixture("jfk.wav"), "tiny.en"),
        &cancel,
        &|stage, _| {
            assert_ne!(stage, JobStage::Transcribing, "no window should run");
        },
    );
    assert_eq!(result.expect_err("cancelled"), TranscribeError::Cancelled);
}
