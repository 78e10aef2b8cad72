//! Structural checks run before a file reaches symphonia.
//!
//! Symphonia allocates tables and element payloads at the sizes a file declares; a hostile
//! or damaged file declaring billions of entries would make it try to allocate gigabytes,
//! which aborts the whole process (a panic could be caught; an allocation failure cannot).
//! These walks check that every declared size fits inside its parent and inside the file,
//! and they recognise cut-off files early enough to say "truncated" rather than "corrupt".

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};

use crate::sniff::Container;

#[derive(Debug)]
pub(crate) enum Problem {
    Truncated(String),
    Corrupt(String),
    Io(io::Error),
}

impl From<io::Error> for Problem {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            Problem::Truncated("the file ends inside a header".into())
        } else {
            Problem::Io(e)
        }
    }
}

/// The largest `moov` box read into memory for checking: real ones are a few MB even for
/// hours of video.
const MAX_MOOV: u64 = 256 << 20;
/// Elements visited in a Matroska file before the walk stops trusting itself to finish
/// quickly; what was checked until then is still checked.
const MAX_EBML_ELEMENTS: usize = 2_000_000;

/// What the structural walk learned on the way that the demuxer does not report.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Facts {
    /// Seconds at the start of the first audio track that its edit list hides: the
    /// encoder's priming samples (1024 or 2112 for AAC), which symphonia 0.5 decodes and
    /// would otherwise shift every timestamp.
    pub audio_skip_seconds: Option<f64>,
    /// The movie's duration (`mvhd`): how long the whole file plays, video included.
    pub container_seconds: Option<f64>,
}

pub(crate) fn check(file: &File, len: u64, container: Container) -> Result<Facts, Problem> {
    let mut r = BufReader::with_capacity(16 * 1024, file);
    r.seek(SeekFrom::Start(0))?;
    let mut facts = Facts::default();
    match container {
        Container::Mp4 | Container::Mov | Container::M4a | Container::ThreeGp => check_iso(&mut r, len, &mut facts)?,
        Container::Matroska | Container::WebM => check_ebml(&mut r, len)?,
        Container::Wav | Container::Avi => check_riff(&mut r, len)?,
        _ => {}
    }
    Ok(facts)
}

// ---- ISO base media (mp4, mov, m4a, 3gp) --------------------------------------------------

fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn check_iso(r: &mut BufReader<&File>, len: u64, facts: &mut Facts) -> Result<(), Problem> {
    let mut pos = 0u64;
    let mut saw_moov = false;
    while pos + 8 <= len {
        r.seek(SeekFrom::Start(pos))?;
        let mut h = [0u8; 16];
        r.read_exact(&mut h[..8])?;
        let kind = [h[4], h[5], h[6], h[7]];
        let (size, header) = match u32::from_be_bytes([h[0], h[1], h[2], h[3]]) {
            0 => (len - pos, 8),
            1 => {
                r.read_exact(&mut h[8..16])?;
                (u64::from_be_bytes(h[8..16].try_into().expect("8 bytes")), 16)
            }
            n => (u64::from(n), 8),
        };
        let name = String::from_utf8_lossy(&kind).into_owned();
        if size < header {
            return Err(Problem::Corrupt(format!("box '{name}' declares {size} bytes")));
        }
        // A 64-bit size near 2^64 must not wrap the offset around (back to the start).
        let Some(end) = pos.checked_add(size).filter(|end| *end <= len) else {
            return Err(Problem::Truncated(format!(
                "box '{name}' needs {} bytes but the file ends after {len}",
                u128::from(pos) + u128::from(size)
            )));
        };
        if &kind == b"moov" {
            saw_moov = true;
            if size > MAX_MOOV {
                return Err(Problem::Corrupt(format!("movie header of {size} bytes")));
            }
            let mut moov = vec![0u8; (size - header) as usize];
            r.read_exact(&mut moov)?;
            check_iso_children(&moov, 0, facts, None)?;
        }
        pos = end;
    }
    if !saw_moov {
        // With the index at the end (no "faststart"), a cut-off upload loses it entirely.
        return Err(Problem::Truncated("no movie header ('moov' box) was found".into()));
    }
    Ok(())
}

/// Per-track details collected while walking one `trak`.
#[derive(Default)]
struct Trak {
    handler: Option<[u8; 4]>,
    timescale: Option<u32>,
    media_time: Option<i64>,
}

fn check_iso_children(
    payload: &[u8],
    depth: usize,
    facts: &mut Facts,
    mut trak: Option<&mut Trak>,
) -> Result<(), Problem> {
    if depth > 16 {
        return Err(Problem::Corrupt("boxes nested too deeply".into()));
    }
    let mut pos = 0usize;
    while pos + 8 <= payload.len() {
        let size32 = read_u32(payload, pos).expect("bounds checked");
        let kind: [u8; 4] = payload[pos + 4..pos + 8].try_into().expect("4 bytes");
        let (size, header) = match size32 {
            0 => (payload.len() - pos, 8),
            1 => {
                let big = payload
                    .get(pos + 8..pos + 16)
                    .map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")))
                    .ok_or_else(|| Problem::Corrupt("cut-off box header".into()))?;
                (usize::try_from(big).unwrap_or(usize::MAX), 16)
            }
            n => (n as usize, 8),
        };
        let name = String::from_utf8_lossy(&kind).into_owned();
        if size < header || size > payload.len() - pos {
            return Err(Problem::Corrupt(format!("box '{name}' overruns its parent")));
        }
        let body = &payload[pos + header..pos + size];
        match &kind {
            b"trak" => {
                let mut t = Trak::default();
                check_iso_children(body, depth + 1, facts, Some(&mut t))?;
                if t.handler == Some(*b"soun") && facts.audio_skip_seconds.is_none() {
                    if let (Some(scale), Some(time)) = (t.timescale.filter(|s| *s > 0), t.media_time) {
                        facts.audio_skip_seconds =
                            Some(time as f64 / f64::from(scale)).filter(|s| *s > 0.0 && *s < 10.0);
                    }
                }
            }
            b"mdia" | b"minf" | b"stbl" | b"edts" | b"mvex" | b"dinf" => {
                check_iso_children(body, depth + 1, facts, trak.as_deref_mut())?
            }
            b"hdlr" => {
                // The media handler (mdia/hdlr) comes first; QuickTime adds a data handler
                // (minf/hdlr, "alis") after it that must not replace it.
                if let (Some(t), Some(h)) = (trak.as_deref_mut(), body.get(8..12)) {
                    t.handler.get_or_insert(h.try_into().expect("4 bytes"));
                }
            }
            b"mvhd" if trak.is_none() => {
                // version 1: 64-bit times, timescale at 20, duration at 24; version 0: 12, 16.
                let (scale, duration) = if body.first() == Some(&1) {
                    (read_u32(body, 20), body.get(24..32).map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes"))))
                } else {
                    (read_u32(body, 12), read_u32(body, 16).map(u64::from))
                };
                if let (Some(scale), Some(duration)) = (scale.filter(|s| *s > 0), duration) {
                    facts.container_seconds = Some(duration as f64 / f64::from(scale))
                        .filter(|s| s.is_finite() && *s > 0.0 && duration != u64::from(u32::MAX));
                }
            }
            b"mdhd" => {
                let at = if body.first() == Some(&1) { 20 } else { 12 };
                if let Some(t) = trak.as_deref_mut() {
                    t.timescale = read_u32(body, at);
                }
            }
            b"elst" => {
                // The first edit that maps media time (an empty edit, -1, only delays playback).
                let v1 = body.first() == Some(&1);
                let (entry, off) = if v1 { (20usize, 8usize) } else { (12, 4) };
                let count = read_u32(body, 4).unwrap_or(0) as usize;
                table_fits("elst", body, 8, count as u32, entry)?;
                if let Some(t) = trak.as_deref_mut() {
                    t.media_time = (0..count)
                        .map(|i| {
                            let at = 8 + i * entry + off;
                            if v1 {
                                i64::from_be_bytes(body[at..at + 8].try_into().expect("8 bytes"))
                            } else {
                                i64::from(i32::from_be_bytes(body[at..at + 4].try_into().expect("4 bytes")))
                            }
                        })
                        .find(|t| *t >= 0);
                }
            }
            b"stsz" => {
                // version/flags, sample_size, sample_count; a table only when sample_size is 0.
                let (sample_size, count) = (read_u32(body, 4), read_u32(body, 8));
                if let (Some(0), Some(n)) = (sample_size, count) {
                    table_fits(&name, body, 12, n, 4)?;
                }
            }
            b"stco" | b"stss" => table_fits(&name, body, 8, read_u32(body, 4).unwrap_or(0), 4)?,
            b"co64" | b"stts" | b"ctts" => table_fits(&name, body, 8, read_u32(body, 4).unwrap_or(0), 8)?,
            b"stsc" => table_fits(&name, body, 8, read_u32(body, 4).unwrap_or(0), 12)?,
            _ => {}
        }
        pos += size;
    }
    Ok(())
}

fn table_fits(name: &str, body: &[u8], header: usize, count: u32, entry: usize) -> Result<(), Problem> {
    let need = (count as usize).saturating_mul(entry).saturating_add(header);
    if need > body.len() {
        return Err(Problem::Corrupt(format!(
            "table '{name}' declares {count} entries but has room for {}",
            body.len().saturating_sub(header) / entry
        )));
    }
    Ok(())
}

// ---- EBML (mkv, webm) ---------------------------------------------------------------------

/// Elements whose payload is more elements (the ones the walk descends into).
const EBML_MASTERS: &[u32] = &[
    0x1A45DFA3, 0x18538067, 0x114D9B74, 0x4DBB, 0x1549A966, 0x1654AE6B, 0xAE, 0xE0, 0xE1, 0x6D80, 0x6240, 0x1C53BB6B,
    0xBB, 0xB7, 0x1254C367, 0x7373, 0x63C0, 0x67C8, 0x1043A770, 0x45B9, 0xB6, 0x80, 0x1941A469, 0x61A7, 0x1F43B675,
    0xA0, 0x75A1, 0xA6,
];

/// Reads an EBML variable-length integer; returns (value without marker, length, all ones).
fn read_vint(r: &mut BufReader<&File>, max_len: u32, keep_marker: bool) -> Result<(u64, u32, bool), Problem> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b)?;
    let len = b[0].leading_zeros() + 1;
    if b[0] == 0 || len > max_len {
        return Err(Problem::Corrupt("invalid EBML length field".into()));
    }
    let mut value = if keep_marker { u64::from(b[0]) } else { u64::from(b[0]) & ((1u64 << (8 - len)) - 1) };
    for _ in 1..len {
        r.read_exact(&mut b)?;
        value = (value << 8) | u64::from(b[0]);
    }
    let all_ones = !keep_marker && value == (1u64 << (7 * len)) - 1;
    Ok((value, len, all_ones))
}

fn check_ebml(r: &mut BufReader<&File>, len: u64) -> Result<(), Problem> {
    let mut visited = 0usize;
    walk_ebml(r, 0, len, len, 0, &mut visited)
}

fn walk_ebml(
    r: &mut BufReader<&File>,
    start: u64,
    end: u64,
    file_len: u64,
    depth: usize,
    visited: &mut usize,
) -> Result<(), Problem> {
    if depth > 12 {
        return Err(Problem::Corrupt("elements nested too deeply".into()));
    }
    let mut pos = start;
    r.seek(SeekFrom::Start(pos))?;
    while pos < end {
        *visited += 1;
        if *visited > MAX_EBML_ELEMENTS {
            return Ok(());
        }
        let (id, id_len, _) = read_vint(r, 4, true)?;
        let (size, size_len, unknown) = read_vint(r, 8, false)?;
        let payload = pos + u64::from(id_len + size_len);
        if unknown {
            // Live recordings (browser MediaRecorder) leave sizes open; their extent is only
            // known by parsing every child, which the demuxer does with its own limits.
            return Ok(());
        }
        let elem_end = payload.saturating_add(size);
        if elem_end > file_len {
            return Err(Problem::Truncated(format!(
                "element {id:#x} needs {elem_end} bytes but the file ends after {file_len}"
            )));
        }
        if elem_end > end {
            return Err(Problem::Corrupt(format!("element {id:#x} overruns its parent")));
        }
        if EBML_MASTERS.contains(&(id as u32)) {
            walk_ebml(r, payload, elem_end, file_len, depth + 1, visited)?;
        }
        pos = elem_end;
        r.seek(SeekFrom::Start(pos))?;
    }
    Ok(())
}

// ---- RIFF (wav, avi) ----------------------------------------------------------------------

fn check_riff(r: &mut BufReader<&File>, len: u64) -> Result<(), Problem> {
    let mut pos = 12u64;
    while pos + 8 <= len {
        r.seek(SeekFrom::Start(pos))?;
        let mut h = [0u8; 8];
        r.read_exact(&mut h)?;
        let size = u64::from(u32::from_le_bytes([h[4], h[5], h[6], h[7]]));
        let id = &h[..4];
        if id == b"data" {
            // Streaming writers leave the data size unknown (0 or 0xFFFFFFFF): the decoder
            // stops at the real end. A stated size is held to the file, with slack for
            // writers that get it slightly wrong: a WAV cut off in its audio is refused here
            // (at upload) rather than after it waited in the queue for a worker.
            let available = len - (pos + 8);
            let missing = size.saturating_sub(available);
            if size != 0 && size != u64::from(u32::MAX) && (available == 0 || missing > (size / 50).max(4096)) {
                return Err(Problem::Truncated(format!(
                    "the audio data needs {} bytes but the file ends after {len}",
                    pos + 8 + size
                )));
            }
            return Ok(());
        }
        if id == b"LIST" && len >= pos + 12 && is_movi(r)? {
            return Ok(());
        }
        if pos + 8 + size > len {
            return Err(Problem::Truncated(format!(
                "chunk '{}' needs {} bytes but the file ends after {len}",
                String::from_utf8_lossy(id),
                pos + 8 + size
            )));
        }
        pos += 8 + size + (size & 1);
    }
    Ok(())
}

/// Whether the LIST chunk just read is AVI's `movi` (the media data, like WAV's `data`).
fn is_movi(r: &mut BufReader<&File>) -> Result<bool, Problem> {
    let mut t = [0u8; 4];
    r.read_exact(&mut t)?;
    Ok(&t == b"movi")
}
