//! What a media file is: container, first audio stream, duration, and which decoder will
//! read it. The upload route probes every file before accepting it.

use std::fs::File;
use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use serde::Serialize;
use symphonia::core::codecs::{CodecType, DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::formats::{FormatOptions, FormatReader, Track};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use crate::error::{display_name, MediaError};
use crate::ffmpeg;
use crate::guard::{self, Problem};
use crate::sniff::{sniff, Container, SNIFF_LEN};
use crate::tools::MediaOptions;

/// Which decoder reads a file's audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DecoderKind {
    /// In-process (symphonia).
    Symphonia,
    /// An `ffmpeg` child process (codecs or containers symphonia does not read).
    Ffmpeg,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MediaInfo {
    /// Seconds of audio (the first audio stream's length when the container says, else the
    /// container's); 0.0 only when nothing states it (a live recording without an index).
    pub duration: f64,
    /// Container recognised from the bytes.
    pub container: Container,
    /// Safe canonical extension for storing the file.
    pub extension: &'static str,
    /// Codec of the first audio stream (`aac`, `vorbis`, `opus`, `pcm_s16le`, …).
    pub audio_codec: String,
    pub sample_rate: u32,
    pub channels: u16,
    /// Whether the file has a non-audio stream (video; with symphonia, possibly subtitles).
    pub has_video: bool,
    pub decoder: DecoderKind,
}

/// Probes with options from the environment (`VIDSCRIBE_FFMPEG`, …).
pub fn probe(path: &Path) -> Result<MediaInfo, MediaError> {
    probe_with(path, &MediaOptions::from_env())
}

pub fn probe_with(path: &Path, options: &MediaOptions) -> Result<MediaInfo, MediaError> {
    inspect(path, options).map(|i| i.info)
}

/// The outcome of looking at a file: its description, and for symphonia files the reader
/// positioned at the start with the chosen track.
pub(crate) struct Inspected {
    pub info: MediaInfo,
    pub reader: Option<SymphoniaReader>,
    /// Seconds the container says the audio track lasts, when that is a per-track number
    /// (so a shorter decode means the file was cut off).
    pub track_seconds: Option<f64>,
    /// Seconds the whole file lasts as its container states it (video included), when known.
    pub container_seconds: Option<f64>,
    /// Encoder priming at the start of the track to drop (from the MP4 edit list).
    pub skip_seconds: f64,
}

impl Inspected {
    /// How long the audio should last: the longest the file states. Audio that ends well
    /// before it is transcribed as far as it goes, with a warning.
    pub fn declared_seconds(&self) -> Option<f64> {
        match (self.track_seconds, self.container_seconds) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

pub(crate) struct SymphoniaReader {
    pub format: Box<dyn FormatReader>,
    pub track_id: u32,
    pub codec_params: symphonia::core::codecs::CodecParameters,
}

pub(crate) fn io_err(path: &Path, e: std::io::Error) -> MediaError {
    MediaError::Io { file: display_name(path), source: e }
}

pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

fn codec_name(codec: CodecType) -> String {
    use symphonia::core::codecs::*;
    if let Some(d) = symphonia::default::get_codecs().get_codec(codec) {
        return d.short_name.to_string();
    }
    match codec {
        CODEC_TYPE_OPUS => "opus",
        CODEC_TYPE_ALAC => "alac",
        CODEC_TYPE_WAVPACK => "wavpack",
        CODEC_TYPE_SPEEX => "speex",
        CODEC_TYPE_MUSEPACK => "musepack",
        CODEC_TYPE_ATRAC3 => "atrac3",
        CODEC_TYPE_WMA => "wma",
        _ => "unknown",
    }
    .to_string()
}

fn open_symphonia(path: &Path, container: Container) -> Result<Box<dyn FormatReader>, String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    hint.with_extension(container.extension());
    let opts = FormatOptions { enable_gapless: true, ..Default::default() };
    match catch_unwind(AssertUnwindSafe(|| {
        symphonia::default::get_probe().format(&hint, mss, &opts, &MetadataOptions::default())
    })) {
        Ok(Ok(probed)) => Ok(probed.format),
        Ok(Err(e)) => Err(e.to_string()),
        Err(p) => Err(format!("the demuxer crashed ({})", panic_message(&*p))),
    }
}

fn track_seconds(track: &Track) -> Option<f64> {
    let p = &track.codec_params;
    let frames = p.n_frames?;
    let secs = match p.time_base {
        Some(tb) => {
            let t = tb.calc_time(frames);
            t.seconds as f64 + t.frac
        }
        None => frames as f64 / f64::from(p.sample_rate?),
    };
    secs.is_finite().then_some(secs)
}

/// Duration by reading every packet's timestamp (no decoding), for containers that do not
/// state it.
fn scan_seconds(path: &Path, container: Container, track_id: u32) -> Option<f64> {
    let mut format = open_symphonia(path, container).ok()?;
    let tb = format.tracks().iter().find(|t| t.id == track_id)?.codec_params.time_base?;
    let mut end = 0u64;
    loop {
        match catch_unwind(AssertUnwindSafe(|| format.next_packet())) {
            Ok(Ok(p)) if p.track_id() == track_id => end = end.max(p.ts() + p.dur()),
            Ok(Ok(_)) => {}
            _ => break,
        }
    }
    let t = tb.calc_time(end);
    Some(t.seconds as f64 + t.frac)
}

fn from_ffprobe(
    path: &Path,
    options: &MediaOptions,
    container: Container,
    format: &str,
) -> Result<Inspected, MediaError> {
    let p = ffmpeg::ffprobe(path, options, format)?;
    if !ffmpeg::available(&options.ffmpeg) {
        return Err(MediaError::FfmpegMissing {
            file: display_name(path),
            format: format.to_string(),
            tool: options.ffmpeg.display().to_string(),
        });
    }
    Ok(Inspected {
        info: MediaInfo {
            duration: p.duration.unwrap_or(0.0),
            container,
            extension: container.extension(),
            audio_codec: p.codec,
            sample_rate: p.sample_rate,
            channels: p.channels,
            has_video: p.has_video,
            decoder: DecoderKind::Ffmpeg,
        },
        reader: None,
        track_seconds: None,
        container_seconds: p.container_duration,
        skip_seconds: 0.0,
    })
}

pub(crate) fn inspect(path: &Path, options: &MediaOptions) -> Result<Inspected, MediaError> {
    let name = display_name(path);
    let mut file = File::open(path).map_err(|e| io_err(path, e))?;
    let len = file.metadata().map_err(|e| io_err(path, e))?.len();
    if len == 0 {
        return Err(MediaError::NotMedia { file: name, reason: "the file is empty".into() });
    }
    let mut head = Vec::with_capacity(SNIFF_LEN);
    (&mut file).take(SNIFF_LEN as u64).read_to_end(&mut head).map_err(|e| io_err(path, e))?;
    let Some(sniffed) = sniff(&head) else {
        return Err(MediaError::NotMedia {
            file: name,
            reason: "its content is not a recognised audio or video format".into(),
        });
    };
    let container = sniffed.container;
    let facts = match guard::check(&file, len, container) {
        Ok(facts) => facts,
        Err(Problem::Truncated(reason)) => return Err(MediaError::Truncated { file: name, reason }),
        Err(Problem::Corrupt(reason)) => return Err(MediaError::Corrupt { file: name, reason }),
        Err(Problem::Io(e)) => return Err(io_err(path, e)),
    };
    if !container.symphonia_demuxes() {
        return from_ffprobe(path, options, container, container.extension());
    }
    let format = match open_symphonia(path, container) {
        Ok(f) => f,
        Err(reason) => {
            // Symphonia cannot parse it; ffmpeg reads more variants of most containers.
            if ffmpeg::available(&options.ffprobe) {
                return from_ffprobe(path, options, container, container.extension());
            }
            return Err(MediaError::Corrupt { file: name, reason });
        }
    };
    let tracks = format.tracks();
    let Some(track) = tracks.iter().find(|t| t.codec_params.codec != CODEC_TYPE_NULL).cloned() else {
        // Symphonia lists codecs it does not know (AC-3, DTS…) as "null"; ffprobe can tell.
        if ffmpeg::available(&options.ffprobe) && !container.audio_only() {
            return from_ffprobe(path, options, container, container.extension());
        }
        return Err(MediaError::NoAudioStream { file: name });
    };
    let has_video = !container.audio_only()
        && tracks.iter().any(|t| t.codec_params.codec == CODEC_TYPE_NULL && t.codec_params.sample_rate.is_none());
    let codec = codec_name(track.codec_params.codec);
    let decodable = matches!(
        catch_unwind(AssertUnwindSafe(|| {
            symphonia::default::get_codecs().make(&track.codec_params, &DecoderOptions::default()).is_ok()
        })),
        Ok(true)
    );
    if !decodable {
        let format_name = format!("{}/{}", container.extension(), codec);
        if codec == "unknown" {
            return Err(MediaError::UnsupportedCodec { file: name, codec: format!("{:?}", track.codec_params.codec) });
        }
        let mut inspected = from_ffprobe(path, options, container, &format_name)?;
        inspected.info.has_video |= has_video;
        return Ok(inspected);
    }
    if let Some(rate) = track.codec_params.sample_rate.filter(|r| !crate::resample::RATES.contains(r)) {
        return Err(MediaError::Corrupt { file: name, reason: format!("implausible sample rate of {rate} Hz") });
    }
    // Matroska only states the whole segment's length (video included), so it is not a
    // reliable measure of whether the audio track was cut off.
    let per_track = !matches!(container, Container::Matroska | Container::WebM);
    let stated = track_seconds(&track);
    let skip_seconds = facts.audio_skip_seconds.unwrap_or(0.0);
    let duration = (stated.or_else(|| scan_seconds(path, container, track.id)).unwrap_or(0.0) - skip_seconds).max(0.0);
    Ok(Inspected {
        info: MediaInfo {
            duration,
            container,
            extension: container.extension(),
            audio_codec: codec,
            sample_rate: track.codec_params.sample_rate.unwrap_or(0),
            channels: track.codec_params.channels.map_or(0, |c| c.count() as u16),
            has_video,
            decoder: DecoderKind::Symphonia,
        },
        track_seconds: if per_track { stated.map(|s| (s - skip_seconds).max(0.0)) } else { None },
        // Matroska's stated length is the segment's, which is the container's.
        container_seconds: if per_track { facts.container_seconds } else { stated },
        skip_seconds,
        reader: Some(SymphoniaReader { format, track_id: track.id, codec_params: track.codec_params.clone() }),
    })
}
