//! Content-based type detection: an upload is accepted for what its bytes are, never for
//! its name. Only formats that carry audio are recognised; images, documents and text are
//! not (even when they share a container, e.g. HEIC/AVIF in ISO-BMFF or WebP in RIFF).

use serde::Serialize;

/// How many leading bytes [`sniff`] wants (it works with fewer, but MPEG-TS needs two
/// packets and some EBML headers put the doc type late).
pub const SNIFF_LEN: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Container {
    Mp4,
    Mov,
    M4a,
    ThreeGp,
    Matroska,
    WebM,
    Wav,
    Avi,
    Ogg,
    Flac,
    Mp3,
    /// Raw AAC in ADTS framing.
    Aac,
    MpegTs,
    MpegPs,
    Flv,
    Asf,
    Aiff,
    Caf,
    Amr,
}

impl Container {
    /// A safe canonical extension for storing the upload (`uploads/<job_id>.<ext>`).
    pub const fn extension(self) -> &'static str {
        match self {
            Container::Mp4 => "mp4",
            Container::Mov => "mov",
            Container::M4a => "m4a",
            Container::ThreeGp => "3gp",
            Container::Matroska => "mkv",
            Container::WebM => "webm",
            Container::Wav => "wav",
            Container::Avi => "avi",
            Container::Ogg => "ogg",
            Container::Flac => "flac",
            Container::Mp3 => "mp3",
            Container::Aac => "aac",
            Container::MpegTs => "ts",
            Container::MpegPs => "mpg",
            Container::Flv => "flv",
            Container::Asf => "wmv",
            Container::Aiff => "aiff",
            Container::Caf => "caf",
            Container::Amr => "amr",
        }
    }

    pub const fn mime(self) -> &'static str {
        match self {
            Container::Mp4 => "video/mp4",
            Container::Mov => "video/quicktime",
            Container::M4a => "audio/mp4",
            Container::ThreeGp => "video/3gpp",
            Container::Matroska => "video/x-matroska",
            Container::WebM => "video/webm",
            Container::Wav => "audio/wav",
            Container::Avi => "video/x-msvideo",
            Container::Ogg => "audio/ogg",
            Container::Flac => "audio/flac",
            Container::Mp3 => "audio/mpeg",
            Container::Aac => "audio/aac",
            Container::MpegTs => "video/mp2t",
            Container::MpegPs => "video/mpeg",
            Container::Flv => "video/x-flv",
            Container::Asf => "video/x-ms-asf",
            Container::Aiff => "audio/aiff",
            Container::Caf => "audio/x-caf",
            Container::Amr => "audio/amr",
        }
    }

    /// Whether symphonia (with this crate's features) has a demuxer for the container.
    /// The codec inside may still need ffmpeg (Opus in WebM).
    pub const fn symphonia_demuxes(self) -> bool {
        matches!(
            self,
            Container::Mp4
                | Container::Mov
                | Container::M4a
                | Container::ThreeGp
                | Container::Matroska
                | Container::WebM
                | Container::Wav
                | Container::Ogg
                | Container::Flac
                | Container::Mp3
                | Container::Aac
        )
    }

    /// Whether the format is audio-only by definition.
    pub const fn audio_only(self) -> bool {
        matches!(
            self,
            Container::M4a
                | Container::Wav
                | Container::Flac
                | Container::Mp3
                | Container::Aac
                | Container::Aiff
                | Container::Caf
                | Container::Amr
        )
    }
}

/// What [`sniff`] recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Sniffed {
    pub container: Container,
    /// Canonical extension without the dot (`mp4`, `mkv`, …).
    pub extension: &'static str,
    pub mime: &'static str,
}

impl From<Container> for Sniffed {
    fn from(container: Container) -> Self {
        Sniffed { container, extension: container.extension(), mime: container.mime() }
    }
}

/// Recognises a media file from its first bytes (ideally [`SNIFF_LEN`] of them).
/// `None` means "not a media format we accept".
pub fn sniff(head: &[u8]) -> Option<Sniffed> {
    sniff_container(head).map(Sniffed::from)
}

fn at(head: &[u8], offset: usize, magic: &[u8]) -> bool {
    head.get(offset..offset + magic.len()) == Some(magic)
}

fn contains(head: &[u8], needle: &[u8]) -> bool {
    head.windows(needle.len()).any(|w| w == needle)
}

fn sniff_container(head: &[u8]) -> Option<Container> {
    if at(head, 4, b"ftyp") {
        return iso_brand(head.get(8..12)?);
    }
    // Old QuickTime files start with other top-level atoms.
    if head.len() >= 8 && [&b"moov"[..], b"mdat", b"wide", b"free", b"skip", b"pnot"].iter().any(|a| at(head, 4, a)) {
        return Some(Container::Mov);
    }
    if at(head, 0, &[0x1A, 0x45, 0xDF, 0xA3]) {
        // The EBML header's DocType says which flavour; it comes within the first ~40 bytes.
        let window = &head[..head.len().min(96)];
        return Some(if contains(window, b"webm") { Container::WebM } else { Container::Matroska });
    }
    if at(head, 0, b"RIFF") || at(head, 0, b"RF64") {
        return match head.get(8..12)? {
            b"WAVE" => Some(Container::Wav),
            b"AVI " => Some(Container::Avi),
            _ => None, // WebP, animated cursors, …
        };
    }
    if at(head, 0, b"FORM") && (at(head, 8, b"AIFF") || at(head, 8, b"AIFC")) {
        return Some(Container::Aiff);
    }
    if at(head, 0, b"OggS") {
        return Some(Container::Ogg);
    }
    if at(head, 0, b"fLaC") {
        return Some(Container::Flac);
    }
    if at(head, 0, b"ID3") && head.len() >= 10 && head[3] < 0xFF && head[4] < 0xFF {
        return Some(Container::Mp3);
    }
    if at(head, 0, b"caff") {
        return Some(Container::Caf);
    }
    if at(head, 0, b"#!AMR") {
        return Some(Container::Amr);
    }
    if at(head, 0, b"FLV\x01") {
        return Some(Container::Flv);
    }
    if at(head, 0, &[0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11]) {
        return Some(Container::Asf);
    }
    if at(head, 0, &[0x00, 0x00, 0x01, 0xBA]) {
        return Some(Container::MpegPs);
    }
    // Transport stream: 188-byte packets each starting with 0x47; two in a row rule out chance.
    if head.len() > 188 && head[0] == 0x47 && head[188] == 0x47 && (head.len() <= 376 || head[376] == 0x47) {
        return Some(Container::MpegTs);
    }
    mpeg_audio_frame(head)
}

fn iso_brand(brand: &[u8]) -> Option<Container> {
    match brand {
        b"qt  " => Some(Container::Mov),
        b"M4A " | b"M4B " | b"M4P " | b"F4A " | b"F4B " => Some(Container::M4a),
        // Still images and image sequences share the box format but carry no audio.
        b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" | b"mif1" | b"msf1" | b"avif" | b"avis" | b"jpx "
        | b"jp2 " | b"crx " => None,
        b if b.starts_with(b"3g") => Some(Container::ThreeGp),
        _ => Some(Container::Mp4),
    }
}

/// A bare MPEG audio (mp3) or ADTS (aac) stream: a frame header with plausible fields,
/// and, when the head is long enough to tell, a second frame where the first says it ends.
fn mpeg_audio_frame(head: &[u8]) -> Option<Container> {
    if head.len() < 4 || head[0] != 0xFF || head[1] & 0xE0 != 0xE0 {
        return None;
    }
    let layer = (head[1] >> 1) & 0b11;
    if layer == 0 {
        // ADTS: 12-bit sync, layer 00, a valid sampling index, frame length from bits.
        if head[1] & 0xF6 != 0xF0 || head.len() < 7 {
            return None;
        }
        let sr_index = (head[2] >> 2) & 0x0F;
        let len = (usize::from(head[3] & 0x03) << 11) | (usize::from(head[4]) << 3) | usize::from(head[5] >> 5);
        if sr_index > 12 || len < 7 {
            return None;
        }
        return second_sync(head, len).then_some(Container::Aac);
    }
    let version = (head[1] >> 3) & 0b11; // 01 is reserved
    let bitrate = head[2] >> 4;
    let sr = (head[2] >> 2) & 0b11;
    if version == 0b01 || bitrate == 0 || bitrate == 0x0F || sr == 0b11 {
        return None;
    }
    // Frame length of layer III (the common case); other layers are accepted on the header alone.
    if layer == 0b01 {
        const KBPS_V1: [usize; 15] = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
        const KBPS_V2: [usize; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
        let (kbps, rate, coef) = match version {
            0b11 => (KBPS_V1[bitrate as usize], [44_100, 48_000, 32_000][sr as usize], 144),
            0b10 => (KBPS_V2[bitrate as usize], [22_050, 24_000, 16_000][sr as usize], 72),
            _ => (KBPS_V2[bitrate as usize], [11_025, 12_000, 8_000][sr as usize], 72),
        };
        let len = coef * kbps * 1000 / rate + usize::from((head[2] >> 1) & 1);
        return second_sync(head, len).then_some(Container::Mp3);
    }
    Some(Container::Mp3)
}

fn second_sync(head: &[u8], frame_len: usize) -> bool {
    match head.get(frame_len..frame_len + 2) {
        Some(next) => next[0] == 0xFF && next[1] & 0xE0 == 0xE0,
        // The head ends before the next frame: judge on the first header alone.
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(head: &[u8]) -> Option<Container> {
        sniff(head).map(|s| s.container)
    }

    #[test]
    fn iso_bmff_brands_decide_between_mp4_mov_m4a_and_images() {
        assert_eq!(kind(b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2"), Some(Container::Mp4));
        assert_eq!(kind(b"\0\0\0\x14ftypqt  \0\0\x02\0qt  "), Some(Container::Mov));
        assert_eq!(kind(b"\0\0\0\x18ftypM4A \0\0\0\0"), Some(Container::M4a));
        assert_eq!(kind(b"\0\0\0\x18ftyp3gp5\0\0\0\0"), Some(Container::ThreeGp));
        assert_eq!(kind(b"\0\0\0\x18ftypheic\0\0\0\0"), None);
        assert_eq!(kind(b"\0\0\0\x18ftypavif\0\0\0\0"), None);
        assert_eq!(kind(b"\0\0\0\x08wide\0\0\0\0mdat"), Some(Container::Mov));
    }

    #[test]
    fn riff_is_wav_or_avi_but_never_webp() {
        assert_eq!(kind(b"RIFF\x24\0\0\0WAVEfmt "), Some(Container::Wav));
        assert_eq!(kind(b"RIFF\x24\0\0\0AVI LIST"), Some(Container::Avi));
        assert_eq!(kind(b"RIFF\x24\0\0\0WEBPVP8 "), None);
        assert_eq!(sniff(b"RIFF\x24\0\0\0AVI LIST").unwrap().extension, "avi");
    }

    #[test]
    fn ebml_doc_type_separates_webm_from_matroska() {
        let mut webm = vec![0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81, 0x01, 0x42, 0x82, 0x84];
        webm.extend_from_slice(b"webm");
        assert_eq!(kind(&webm), Some(Container::WebM));
        let mut mkv = webm[..12].to_vec();
        mkv.extend_from_slice(b"matroska");
        assert_eq!(kind(&mkv), Some(Container::Matroska));
    }

    #[test]
    fn simple_magic_numbers_are_recognised() {
        assert_eq!(kind(b"OggS\0\x02"), Some(Container::Ogg));
        assert_eq!(kind(b"fLaC\0\0\0\x22"), Some(Container::Flac));
        assert_eq!(kind(b"ID3\x04\0\0\0\0\0\x21"), Some(Container::Mp3));
        assert_eq!(kind(b"FORM\0\0\0\0AIFF"), Some(Container::Aiff));
        assert_eq!(kind(b"FLV\x01\x05"), Some(Container::Flv));
        assert_eq!(kind(b"#!AMR\n"), Some(Container::Amr));
        assert_eq!(kind(&[0, 0, 1, 0xBA, 0x44]), Some(Container::MpegPs));
    }

    #[test]
    fn bare_mpeg_audio_frames_need_plausible_headers() {
        // MPEG-1 layer III, 128 kbps, 44.1 kHz: frame length 417; a second sync there.
        let mut mp3 = vec![0u8; 420];
        mp3[..4].copy_from_slice(&[0xFF, 0xFB, 0x90, 0x64]);
        mp3[417] = 0xFF;
        mp3[418] = 0xFB;
        assert_eq!(kind(&mp3), Some(Container::Mp3));
        mp3[417] = 0x00;
        assert_eq!(kind(&mp3), None, "no second frame where the first ends");
        assert_eq!(kind(&[0xFF, 0xFB, 0xF0, 0x64]), None, "bitrate index 15 is invalid");
        // ADTS, 44.1 kHz (index 4), frame length 7 + 0 bytes of payload.
        assert_eq!(kind(&[0xFF, 0xF1, 0x50, 0x80, 0x00, 0xFF, 0xFC]), Some(Container::Aac));
    }

    #[test]
    fn transport_streams_need_two_sync_bytes_188_apart() {
        let mut ts = vec![0u8; 400];
        ts[0] = 0x47;
        ts[188] = 0x47;
        ts[376] = 0x47;
        assert_eq!(kind(&ts), Some(Container::MpegTs));
        ts[188] = 0;
        assert_eq!(kind(&ts), None);
    }

    #[test]
    fn text_images_documents_and_nothing_are_not_media() {
        assert_eq!(kind(b""), None);
        assert_eq!(kind(b"This is a plain text file, not a video."), None);
        assert_eq!(kind(b"\x89PNG\r\n\x1a\n"), None);
        assert_eq!(kind(b"%PDF-1.7"), None);
        assert_eq!(kind(b"\xFF\xD8\xFF\xE0\0\x10JFIF"), None);
        assert_eq!(kind(b"PK\x03\x04"), None);
        assert_eq!(kind(b"<html><body>"), None);
        assert_eq!(kind(b"\0\0\0"), None);
    }
}
