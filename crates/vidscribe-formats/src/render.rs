//! Renders a transcript into one output format.

use std::fmt::Write as _;

use vidscribe_core::{OutputFormat, Transcript};

use crate::cues::{build_cues, Cue};

/// SRT and WebVTT differ only in the millisecond separator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampStyle {
    /// `HH:MM:SS,mmm`
    Srt,
    /// `HH:MM:SS.mmm`
    Vtt,
}

/// Formats seconds as a subtitle timestamp, rounded to the nearest millisecond. Hours are
/// not wrapped (a 100-hour recording gives `100:00:00,000`); negative or non-finite input
/// is shown as zero.
pub fn format_timestamp(seconds: f64, style: TimestampStyle) -> String {
    let ms = if seconds.is_finite() && seconds > 0.0 { (seconds * 1000.0).round() as u64 } else { 0 };
    format_ms(ms, style)
}

fn format_ms(ms: u64, style: TimestampStyle) -> String {
    let sep = match style {
        TimestampStyle::Srt => ',',
        TimestampStyle::Vtt => '.',
    };
    let (h, rem) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rem) = (rem / 60_000, rem % 60_000);
    let (s, milli) = (rem / 1000, rem % 1000);
    format!("{h:02}:{m:02}:{s:02}{sep}{milli:03}")
}

/// Renders `t` as `format`. Never fails: every transcript, even one with garbage
/// timestamps, produces a well-formed document.
pub fn render(format: OutputFormat, t: &Transcript) -> String {
    match format {
        OutputFormat::Txt => render_txt(t),
        OutputFormat::Srt => render_srt(&build_cues(t)),
        OutputFormat::Vtt => render_vtt(&build_cues(t)),
        OutputFormat::Json => render_json(t),
    }
}

/// One segment per line, whitespace collapsed, empty segments left out.
fn render_txt(t: &Transcript) -> String {
    let mut out = String::new();
    for seg in &t.segments {
        let line = seg.text.split_whitespace().collect::<Vec<_>>().join(" ");
        if !line.is_empty() {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

fn render_srt(cues: &[Cue]) -> String {
    let mut out = String::new();
    for (i, cue) in cues.iter().enumerate() {
        // SRT has no escaping: text is written as the model produced it, except that an
        // arrow in the text would read as a timing line to many players.
        let _ = write!(
            out,
            "{}\n{} --> {}\n{}\n\n",
            i + 1,
            format_ms(cue.start_ms, TimestampStyle::Srt),
            format_ms(cue.end_ms, TimestampStyle::Srt),
            defuse_arrows(&cue.lines.join("\n"))
        );
    }
    out
}

/// `-->` in cue text becomes `->`, repeatedly: a single pass would turn `--->` into a new
/// `-->`.
fn defuse_arrows(text: &str) -> String {
    let mut out = text.to_string();
    while out.contains("-->") {
        out = out.replace("-->", "->");
    }
    out
}

/// WebVTT cue text is markup (`<b>`, `<c.class>`, `&amp;`), so `&`, `<` and `>` are escaped:
/// the text is shown as written and cannot inject tags or end the cue with `-->`.
fn escape_vtt(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

fn render_vtt(cues: &[Cue]) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for cue in cues {
        let _ = write!(
            out,
            "{} --> {}\n{}\n\n",
            format_ms(cue.start_ms, TimestampStyle::Vtt),
            format_ms(cue.end_ms, TimestampStyle::Vtt),
            cue.lines.iter().map(|l| escape_vtt(l)).collect::<Vec<_>>().join("\n")
        );
    }
    out
}

fn render_json(t: &Transcript) -> String {
    // Serialising plain structs with string keys into a String cannot fail; non-finite
    // floats become `null` rather than an error.
    let mut json = serde_json::to_string_pretty(t).expect("a Transcript always serialises");
    json.push('\n');
    json
}
