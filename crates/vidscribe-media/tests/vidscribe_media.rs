//! Integration tests of probing and decoding on the real fixtures of
//! `scripts/fetch-test-data` (a missing fixture fails the test with that hint).

mod vidscribe_media {
    pub mod decoding;
    pub mod fallback;
    pub mod hostile;
    pub mod probing;
    pub mod properties;
    pub mod support;
    pub mod timing;
}
