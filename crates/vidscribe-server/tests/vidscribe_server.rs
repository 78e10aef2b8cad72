//! Integration tests of the HTTP API: the real router on a real port 0, a temp data dir, a
//! real SQLite store and the worker engine (with the instant test transcriber: these tests are
//! about routes, events and files; the real-speech end-to-end test lives with the binary).

#[path = "vidscribe_server/common.rs"]
mod common;

#[path = "vidscribe_server/api.rs"]
mod api;
#[path = "vidscribe_server/bad_input.rs"]
mod bad_input;
#[path = "vidscribe_server/downloads.rs"]
mod downloads;
#[path = "vidscribe_server/events.rs"]
mod events;
#[path = "vidscribe_server/hostile.rs"]
mod hostile;
#[path = "vidscribe_server/load.rs"]
mod load;
#[path = "vidscribe_server/multipart_order.rs"]
mod multipart_order;
#[path = "vidscribe_server/names.rs"]
mod names;
