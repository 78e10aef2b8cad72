//! Property tests of sniffing and probing: arbitrary bytes, mutated and truncated real
//! headers, and hand-built container structures with hostile sizes (ISO boxes, EBML
//! elements, RIFF chunks) never panic, always end in `Ok` or a typed error that names only
//! the file, and finish within a bounded time. Probing runs without ffmpeg so every case
//! stays in-process (what ffmpeg does with a file is ffmpeg's business).

use std::path::Path;
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::Duration;

use proptest::prelude::*;
use vidscribe_media::{probe_with, sniff, MediaError, MediaInfo, SNIFF_LEN};

use super::support::{fixture, no_ffmpeg};

/// Longest a probe of a small file may take before it counts as a hang.
const PROBE_LIMIT: Duration = Duration::from_secs(20);

const CODES: &[&str] = &[
    "not_media",
    "no_audio_stream",
    "truncated",
    "corrupt_media",
    "unsupported_codec",
    "ffmpeg_missing",
    "ffmpeg_failed",
];

/// Writes `bytes` as `name` in a temp dir and probes it on another thread, failing the case
/// on a panic (the thread's result is lost) or when it takes longer than [`PROBE_LIMIT`].
fn probe_bytes(name: &str, bytes: &[u8]) -> Result<Result<MediaInfo, MediaError>, TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let (tx, rx) = mpsc::channel();
    let p = path.clone();
    std::thread::spawn(move || {
        let _ = tx.send(probe_with(&p, &no_ffmpeg()));
    });
    match rx.recv_timeout(PROBE_LIMIT) {
        Ok(r) => Ok(r),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            Err(TestCaseError::fail(format!("probing {} bytes took longer than {PROBE_LIMIT:?}", bytes.len())))
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Err(TestCaseError::fail(format!("probing panicked on {} bytes", bytes.len())))
        }
    }
}

/// What every outcome must satisfy.
fn sane(name: &str, bytes: &[u8], outcome: &Result<MediaInfo, MediaError>) -> Result<(), TestCaseError> {
    match outcome {
        Ok(info) => {
            prop_assert!(!bytes.is_empty());
            prop_assert!(info.duration.is_finite() && info.duration >= 0.0, "{info:?}");
            prop_assert_eq!(Some(info.container), sniff(&bytes[..bytes.len().min(SNIFF_LEN)]).map(|s| s.container));
        }
        Err(e) => {
            prop_assert!(CODES.contains(&e.code().as_str()), "unexpected code {} ({e})", e.code());
            let m = e.to_string();
            prop_assert!(m.contains(&format!("'{name}'")), "the message names the file: {m}");
            prop_assert!(!m.contains(std::env::temp_dir().to_str().unwrap()), "no directories: {m}");
            if bytes.is_empty() {
                prop_assert_eq!(e.code(), "not_media");
            }
        }
    }
    Ok(())
}

fn check(name: &str, bytes: &[u8]) -> Result<(), TestCaseError> {
    // Sniffing is total on any prefix, and what it names is self-consistent.
    for cut in [0, 1, 4, 8, 12, 64, bytes.len().min(SNIFF_LEN)] {
        let prefix = &bytes[..cut.min(bytes.len())];
        if let Some(s) = sniff(prefix) {
            prop_assert!(!prefix.is_empty(), "nothing is recognised in no bytes");
            prop_assert_eq!((s.extension, s.mime), (s.container.extension(), s.container.mime()));
        }
    }
    let outcome = probe_bytes(name, bytes)?;
    sane(name, bytes, &outcome)
}

/// Magic numbers that lead each parser past the sniffer.
fn magic() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(vec![
        &b""[..],
        b"\0\0\0\x18ftypisom\0\0\x02\0isom",
        b"\0\0\0\x14ftypqt  \0\0\x02\0",
        b"\0\0\0\x08wide",
        b"\0\0\0\x08moov",
        b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm",
        b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska",
        b"RIFF\x24\0\0\0WAVEfmt ",
        b"RIFF\xff\xff\xff\xffWAVE",
        b"RIFF\x24\0\0\0AVI LIST",
        b"OggS\0\x02",
        b"fLaC\0\0\0\x22",
        b"ID3\x04\0\0\0\0\0\x21",
        b"\xff\xfb\x90\x64",
        b"\xff\xf1\x50\x80",
        b"FORM\0\0\0\0AIFF",
        b"caff",
        b"#!AMR\n",
    ])
    .prop_map(<[u8]>::to_vec)
}

/// One of [`FIXTURES`], read once.
fn fixture_bytes(relative: &str) -> &'static [u8] {
    static ALL: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    let all = ALL.get_or_init(|| FIXTURES.iter().map(|f| std::fs::read(fixture(f)).unwrap()).collect());
    &all[FIXTURES.iter().position(|f| *f == relative).expect("one of FIXTURES")]
}

const FIXTURES: &[&str] =
    &["video/jfk.mp4", "video/jfk.mov", "video/jfk.mkv", "video/jfk.webm", "jfk.wav", "jfk.mp3", "jfk.flac", "jfk.ogg"];

#[derive(Debug, Clone)]
enum Damage {
    /// Keep only the first `n` per mille of the file.
    Cut(u16),
    /// Overwrite one byte near the start (headers) or anywhere.
    Byte { at: usize, value: u8, in_head: bool },
    /// Overwrite four bytes with a hostile big-endian / little-endian size.
    Size { at: usize, value: u32, little: bool },
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        1 => (0u16..1000).prop_map(Damage::Cut),
        3 => (any::<usize>(), any::<u8>(), any::<bool>()).prop_map(|(at, value, in_head)| Damage::Byte { at, value, in_head }),
        2 => (
            any::<usize>(),
            prop::sample::select(vec![0u32, 1, 7, 8, 9, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFF0, 0xFFFF_FFFF]),
            any::<bool>()
        )
            .prop_map(|(at, value, little)| Damage::Size { at, value, little }),
    ]
}

fn apply(bytes: &mut Vec<u8>, d: &Damage) {
    if bytes.is_empty() {
        return;
    }
    match *d {
        Damage::Cut(per_mille) => bytes.truncate(bytes.len() * usize::from(per_mille) / 1000),
        Damage::Byte { at, value, in_head } => {
            let region = if in_head { bytes.len().min(4096) } else { bytes.len() };
            bytes[at % region] = value;
        }
        Damage::Size { at, value, little } => {
            if bytes.len() >= 4 {
                let region = bytes.len().min(4096) - 3;
                let at = at % region;
                let v = if little { value.to_le_bytes() } else { value.to_be_bytes() };
                bytes[at..at + 4].copy_from_slice(&v);
            }
        }
    }
}

// ---- hand-built ISO boxes ------------------------------------------------------------------

/// How a box states its size.
#[derive(Debug, Clone)]
enum BoxSize {
    Right,
    /// 0: "to the end of the file" (or of the parent).
    ToEnd,
    /// A 32-bit size that may be too small, too large or right by chance.
    Raw(u32),
    /// `size = 1` and a 64-bit size: 2^63, u64::MAX, u64::MAX - k, anything.
    Large(u64),
}

#[derive(Debug, Clone)]
struct IsoBox {
    kind: [u8; 4],
    size: BoxSize,
    payload: Vec<u8>,
    children: Vec<IsoBox>,
}

impl IsoBox {
    fn body(&self) -> Vec<u8> {
        let mut b = self.payload.clone();
        for c in &self.children {
            b.extend_from_slice(&c.bytes());
        }
        b
    }

    fn bytes(&self) -> Vec<u8> {
        let body = self.body();
        let mut out = Vec::new();
        match self.size {
            BoxSize::Right => out.extend_from_slice(&(body.len() as u32 + 8).to_be_bytes()),
            BoxSize::ToEnd => out.extend_from_slice(&0u32.to_be_bytes()),
            BoxSize::Raw(n) => out.extend_from_slice(&n.to_be_bytes()),
            BoxSize::Large(_) => out.extend_from_slice(&1u32.to_be_bytes()),
        }
        out.extend_from_slice(&self.kind);
        if let BoxSize::Large(n) = self.size {
            out.extend_from_slice(&n.to_be_bytes());
        }
        out.extend_from_slice(&body);
        out
    }
}

fn box_size() -> impl Strategy<Value = BoxSize> {
    prop_oneof![
        6 => Just(BoxSize::Right),
        1 => Just(BoxSize::ToEnd),
        1 => prop_oneof![0u32..16, any::<u32>(), Just(u32::MAX)].prop_map(BoxSize::Raw),
        2 => prop_oneof![
            Just(u64::MAX),
            Just(1u64 << 63),
            (0u64..4096).prop_map(|k| u64::MAX - k),
            0u64..64,
            any::<u64>(),
        ]
        .prop_map(BoxSize::Large),
    ]
}

fn kind() -> impl Strategy<Value = [u8; 4]> {
    prop::sample::select(vec![
        *b"moov", *b"trak", *b"mdia", *b"minf", *b"stbl", *b"edts", *b"mvex", *b"dinf", *b"hdlr", *b"mdhd", *b"elst",
        *b"stsz", *b"stco", *b"co64", *b"stts", *b"ctts", *b"stsc", *b"stss", *b"mdat", *b"free", *b"udta", *b"tkhd",
        *b"mvhd", *b"stsd",
    ])
}

/// Table-like payloads: version/flags, then counts from small to absurd.
fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..48),
        (
            prop::sample::select(vec![0u32, 1, 2, 1000, 0x1000_0000, u32::MAX]),
            prop::collection::vec(any::<u8>(), 0..32)
        )
            .prop_map(|(count, rest)| {
                let mut v = vec![0, 0, 0, 0];
                v.extend_from_slice(&count.to_be_bytes());
                v.extend_from_slice(&count.to_be_bytes());
                v.extend_from_slice(&rest);
                v
            }),
    ]
}

fn iso_tree() -> impl Strategy<Value = IsoBox> {
    let leaf = (kind(), box_size(), payload()).prop_map(|(kind, size, payload)| IsoBox {
        kind,
        size,
        payload,
        children: vec![],
    });
    leaf.prop_recursive(4, 24, 4, |inner| {
        (kind(), box_size(), prop::collection::vec(inner, 0..4)).prop_map(|(kind, size, children)| IsoBox {
            kind,
            size,
            payload: vec![],
            children,
        })
    })
}

fn iso_file() -> impl Strategy<Value = Vec<u8>> {
    (any::<bool>(), prop::collection::vec(iso_tree(), 1..5)).prop_map(|(ftyp, boxes)| {
        let mut out = if ftyp { b"\0\0\0\x18ftypisom\0\0\x02\0isomiso2".to_vec() } else { Vec::new() };
        for b in boxes {
            out.extend_from_slice(&b.bytes());
        }
        out
    })
}

// ---- hand-built EBML and RIFF --------------------------------------------------------------

/// EBML: the header, then elements with master ids (Segment, Tracks, Cluster…) nested and
/// sizes from right to unknown (all ones) to absurd.
fn ebml_file() -> impl Strategy<Value = Vec<u8>> {
    let element = (
        prop::sample::select(vec![
            vec![0x18, 0x53, 0x80, 0x67],
            vec![0x16, 0x54, 0xAE, 0x6B],
            vec![0x1F, 0x43, 0xB6, 0x75],
            vec![0xAE],
            vec![0xE1],
            vec![0x63, 0xA2],
            vec![0xA3],
            vec![0x86],
            vec![0x1A, 0x45, 0xDF, 0xA3],
        ]),
        prop_oneof![
            4 => Just(None),
            1 => prop::sample::select(vec![
                vec![0xFF],
                vec![0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
                vec![0x01, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xF0],
                vec![0x00],
                vec![0x08, 0xFF, 0xFF, 0xFF, 0xFF],
            ])
            .prop_map(Some),
        ],
        prop::collection::vec(any::<u8>(), 0..24),
    );
    let tree = element.prop_map(|(id, size, payload)| (id, size, payload)).prop_recursive(4, 32, 4, |inner| {
        (
            prop::sample::select(vec![vec![0x18, 0x53, 0x80, 0x67], vec![0x16, 0x54, 0xAE, 0x6B], vec![0xAE]]),
            prop_oneof![4 => Just(None), 1 => Just(Some(vec![0xFF]))],
            prop::collection::vec(inner, 0..4),
        )
            .prop_map(|(id, size, children)| {
                let mut payload = Vec::new();
                for (cid, csize, cpayload) in children {
                    payload.extend_from_slice(&encode_ebml(&cid, csize.as_deref(), &cpayload));
                }
                (id, size, payload)
            })
    });
    prop::collection::vec(tree, 0..4).prop_map(|elements| {
        let mut out = vec![0x1A, 0x45, 0xDF, 0xA3, 0x8F, 0x42, 0x82, 0x88];
        out.extend_from_slice(b"matroska");
        out.extend_from_slice(&[0x42, 0x87, 0x81, 0x04]);
        for (id, size, payload) in elements {
            out.extend_from_slice(&encode_ebml(&id, size.as_deref(), &payload));
        }
        out
    })
}

fn encode_ebml(id: &[u8], size: Option<&[u8]>, payload: &[u8]) -> Vec<u8> {
    let mut out = id.to_vec();
    match size {
        Some(s) => out.extend_from_slice(s),
        None => {
            // An 8-byte size: always right, whatever the length.
            out.push(0x01);
            out.extend_from_slice(&(payload.len() as u64).to_be_bytes()[1..]);
        }
    }
    out.extend_from_slice(payload);
    out
}

/// RIFF/WAVE: chunks (fmt, LIST, data, junk) with right, odd, absurd or streaming sizes.
fn riff_file() -> impl Strategy<Value = Vec<u8>> {
    let chunk = (
        prop::sample::select(vec![*b"fmt ", *b"LIST", *b"data", *b"JUNK", *b"fact", *b"movi"]),
        prop_oneof![3 => Just(None), 1 => prop::sample::select(vec![0u32, 1, 0xFFFF_FFFF, 0xFFFF_FFF0, 0x8000_0000]).prop_map(Some)],
        prop_oneof![
            Just(vec![1, 0, 1, 0, 0x80, 0x3E, 0, 0, 0, 0x7D, 0, 0, 2, 0, 16, 0]),
            prop::collection::vec(any::<u8>(), 0..40),
        ],
    );
    (any::<bool>(), prop::collection::vec(chunk, 0..5)).prop_map(|(wave, chunks)| {
        let mut out = b"RIFF\xff\xff\xff\xff".to_vec();
        out.extend_from_slice(if wave { b"WAVE" } else { b"AVI " });
        for (id, size, body) in chunks {
            out.extend_from_slice(&id);
            out.extend_from_slice(&size.unwrap_or(body.len() as u32).to_le_bytes());
            out.extend_from_slice(&body);
        }
        out
    })
}

/// Cases per property: a few seconds in a debug build; `PROPTEST_CASES` asks for more.
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(cases);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config(500))]

    #[test]
    fn sniffing_any_bytes_is_total_and_consistent(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        if let Some(s) = sniff(&bytes) {
            prop_assert!(!bytes.is_empty());
            prop_assert_eq!(s.extension, s.container.extension());
            prop_assert_eq!(s.mime, s.container.mime());
            prop_assert!(s.extension.chars().all(|c| c.is_ascii_alphanumeric()));
        }
    }

    #[test]
    fn probing_random_bytes_behind_any_magic_never_panics(magic in magic(), tail in prop::collection::vec(any::<u8>(), 0..2048)) {
        let mut bytes = magic;
        bytes.extend_from_slice(&tail);
        check("random.mp4", &bytes)?;
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn probing_damaged_real_files_never_panics(which in 0..FIXTURES.len(), damages in prop::collection::vec(damage(), 1..6)) {
        let file = FIXTURES[which];
        let mut bytes = fixture_bytes(file).to_vec();
        for d in &damages {
            apply(&mut bytes, d);
        }
        let name = Path::new(file).file_name().unwrap().to_str().unwrap().to_string();
        check(&name, &bytes)?;
    }

    #[test]
    fn probing_iso_boxes_with_hostile_sizes_never_panics(bytes in iso_file()) {
        check("boxes.mp4", &bytes)?;
    }

    #[test]
    fn probing_ebml_with_hostile_sizes_never_panics(bytes in ebml_file()) {
        check("elements.mkv", &bytes)?;
    }

    #[test]
    fn probing_riff_with_hostile_sizes_never_panics(bytes in riff_file()) {
        check("chunks.wav", &bytes)?;
    }
}

/// Found by `probing_iso_boxes_with_hostile_sizes_never_panics`: a box after the first one
/// with a 64-bit size near 2^64 made `offset + size` overflow (a panic in debug builds; in
/// release the offset wrapped around and the walk could go back to the start forever).
#[test]
fn a_box_whose_64_bit_size_wraps_around_is_truncated_not_a_crash_or_a_loop() {
    let ftyp = b"\0\0\0\x18ftypisom\0\0\x02\0isomiso2".to_vec();
    for large in [u64::MAX, u64::MAX - 23, u64::MAX - 10, 1 << 63] {
        let mut bytes = ftyp.clone();
        bytes.extend_from_slice(&1u32.to_be_bytes());
        bytes.extend_from_slice(b"free");
        bytes.extend_from_slice(&large.to_be_bytes());
        bytes.extend_from_slice(&[0u8; 64]);
        let e = probe_bytes("wrap.mp4", &bytes).unwrap().unwrap_err();
        assert_eq!(e.code(), "truncated", "{large:#x}: {e}");
    }
}

/// Found with the server's hostile corpus: the RIFF walk stopped at the `data` chunk without
/// holding its stated size to the file, so a WAV header with its audio cut off probed fine
/// (11 s of audio declared, none present) and was only found out by the decoder. Streaming
/// writers' unknown sizes (0, 0xFFFFFFFF) are still accepted.
#[test]
fn a_wav_whose_audio_is_cut_off_is_truncated_when_probed() {
    let wav = fixture_bytes("jfk.wav");
    let data = wav.windows(4).position(|w| w == b"data").unwrap();
    for keep in [data + 8, data + 8 + 1000, wav.len() / 2, wav.len() * 9 / 10] {
        let e = probe_bytes("cut.wav", &wav[..keep]).unwrap().unwrap_err();
        assert_eq!(e.code(), "truncated", "{keep} bytes: {e}");
    }
    // A few bytes short (a writer that rounded the size) and the whole file are fine.
    probe_bytes("whole.wav", wav).unwrap().unwrap();
    probe_bytes("short.wav", &wav[..wav.len() - 100]).unwrap().unwrap();
    for unknown in [0u32, u32::MAX] {
        // As a streaming writer leaves it: the RIFF size unknown too.
        let mut streamed = wav.to_vec();
        streamed[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        streamed[data + 4..data + 8].copy_from_slice(&unknown.to_le_bytes());
        probe_bytes("streamed.wav", &streamed[..wav.len() / 2]).unwrap().unwrap();
    }
}
