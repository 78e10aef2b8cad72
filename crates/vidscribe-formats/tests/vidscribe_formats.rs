//! Integration tests of the output writers: rendering, cue building, files on disk.

mod vidscribe_formats {
    pub mod cues;
    pub mod documents;
    pub mod files;
    pub mod properties;
    pub mod support;
    pub mod timestamps;
}
