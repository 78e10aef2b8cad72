//! End-to-end tests of the `vidscribe` binary: each spawns the built executable with real
//! parts (SQLite file, Whisper tiny.en, real speech fixtures from scripts/fetch-test-data).
//! Shared helpers live in `vidscribe/support.rs`; each area has its own module.

#[path = "vidscribe/support.rs"]
mod support;

#[path = "vidscribe/api_e2e.rs"]
mod api_e2e;
#[path = "vidscribe/cancel_real.rs"]
mod cancel_real;
#[path = "vidscribe/config.rs"]
mod config;
#[path = "vidscribe/dashboard.rs"]
mod dashboard;
#[path = "vidscribe/fault.rs"]
mod fault;
#[path = "vidscribe/help.rs"]
mod help;
#[path = "vidscribe/live.rs"]
mod live;
#[path = "vidscribe/media_time.rs"]
mod media_time;
#[path = "vidscribe/scale_out.rs"]
mod scale_out;
#[path = "vidscribe/terminal.rs"]
mod terminal;
#[path = "vidscribe/transcribe.rs"]
mod transcribe;
#[path = "vidscribe/watch.rs"]
mod watch;
