//! The files of one finished job, rendered; the worker stores them through `Storage`.

use vidscribe_core::{OutputFormat, Transcript};

use crate::render::render;

/// The files of a transcript as `(file name, contents)`: `transcript.json` (always) first,
/// then every requested format, without duplicates.
pub fn rendered_outputs(t: &Transcript, formats: &[OutputFormat]) -> Vec<(&'static str, String)> {
    let mut order = vec![OutputFormat::Json];
    for f in formats {
        if !order.contains(f) {
            order.push(*f);
        }
    }
    order.into_iter().map(|format| (format.file_name(), render(format, t))).collect()
}
