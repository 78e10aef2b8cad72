//! Streaming decode of the first audio stream to 16 kHz mono f32.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{Decoder, DecoderOptions};
use symphonia::core::errors::Error as SymError;

use crate::error::{display_name, MediaError};
use crate::ffmpeg::FfmpegStream;
use crate::probe::{inspect, panic_message, DecoderKind, MediaInfo, SymphoniaReader};
use crate::resample::{downmix_into, MonoResampler};
use crate::timeline::{Timeline, TimingReport};
use crate::tools::MediaOptions;
use crate::SAMPLE_RATE;

/// Samples per chunk from [`AudioDecoder::next_chunk`] (2 s); only the last chunk is shorter.
pub const CHUNK_SAMPLES: usize = 2 * SAMPLE_RATE as usize;

/// Packets in a row that may fail to decode before the file is called corrupt; isolated
/// bad packets are skipped, as players do.
const MAX_BAD_PACKETS: usize = 64;

/// Decodes a file's first audio stream into 16 kHz mono chunks, holding at most about one
/// chunk of audio at a time.
///
/// ```no_run
/// # fn main() -> Result<(), vidscribe_media::MediaError> {
/// let mut d = vidscribe_media::AudioDecoder::open(std::path::Path::new("talk.mp4"))?;
/// while let Some(chunk) = d.next_chunk()? {
///     // feed `chunk` (16 kHz mono f32) to the model
/// #   let _ = chunk;
/// }
/// # Ok(()) }
/// ```
pub struct AudioDecoder {
    file: String,
    info: MediaInfo,
    /// How long the file says its audio lasts (the longest of the track's and the container's).
    declared_seconds: Option<f64>,
    source: Source,
    ready: Vec<f32>,
    samples_out: u64,
    finished: bool,
}

enum Source {
    Symphonia(Box<SymphoniaStream>),
    Ffmpeg(FfmpegStream),
}

struct SymphoniaStream {
    reader: SymphoniaReader,
    decoder: Box<dyn Decoder>,
    resampler: Option<MonoResampler>,
    rate: u32,
    sample_buf: Option<SampleBuffer<f32>>,
    mono: Vec<f32>,
    /// Frames decoded from the file (silence for gaps not counted).
    source_frames: u64,
    /// Seconds the file says the audio lasts (the longest of the track's and the container's).
    declared_seconds: Option<f64>,
    /// Media time zero as a track time: the encoder priming an MP4 edit list hides.
    skip_seconds: f64,
    /// Places packets by their timestamps, once the decoder's rate is known.
    timeline: Option<Timeline>,
    /// Gap silence still to emit, then the packet that followed the gap.
    silence_owed: u64,
    held: Vec<f32>,
    bad_in_a_row: usize,
    ended: bool,
}

impl AudioDecoder {
    /// Opens `path` with options from the environment (`VIDSCRIBE_FFMPEG`, …).
    pub fn open(path: &Path) -> Result<Self, MediaError> {
        Self::open_with(path, &MediaOptions::from_env())
    }

    pub fn open_with(path: &Path, options: &MediaOptions) -> Result<Self, MediaError> {
        let inspected = inspect(path, options)?;
        let file = display_name(path);
        let declared_seconds = inspected.declared_seconds();
        let source = match inspected.reader {
            Some(reader) => {
                let decoder = symphonia::default::get_codecs()
                    .make(&reader.codec_params, &DecoderOptions::default())
                    .map_err(|e| MediaError::UnsupportedCodec { file: file.clone(), codec: e.to_string() })?;
                Source::Symphonia(Box::new(SymphoniaStream {
                    reader,
                    decoder,
                    resampler: None,
                    rate: 0,
                    sample_buf: None,
                    mono: Vec::new(),
                    source_frames: 0,
                    declared_seconds,
                    skip_seconds: inspected.skip_seconds,
                    timeline: None,
                    silence_owed: 0,
                    held: Vec::new(),
                    bad_in_a_row: 0,
                    ended: false,
                }))
            }
            None => {
                let format = format!("{}/{}", inspected.info.extension, inspected.info.audio_codec);
                Source::Ffmpeg(FfmpegStream::spawn(path, options, &format)?)
            }
        };
        Ok(AudioDecoder {
            file,
            info: inspected.info,
            declared_seconds,
            source,
            ready: Vec::new(),
            samples_out: 0,
            finished: false,
        })
    }

    pub fn info(&self) -> &MediaInfo {
        &self.info
    }

    /// Media duration in seconds, as the file states it (0.0 when it does not).
    pub fn duration(&self) -> f64 {
        self.info.duration
    }

    pub fn decoder_kind(&self) -> DecoderKind {
        self.info.decoder
    }

    /// Seconds of 16 kHz audio handed out so far (progress = this / duration).
    pub fn seconds_decoded(&self) -> f64 {
        self.samples_out as f64 / f64::from(SAMPLE_RATE)
    }

    /// The next chunk of [`CHUNK_SAMPLES`] samples (the last may be shorter); `Ok(None)`
    /// at the end. After an error the decoder is finished.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<f32>>, MediaError> {
        if self.finished && self.ready.is_empty() {
            return Ok(None);
        }
        while !self.finished && self.ready.len() < CHUNK_SAMPLES {
            let more = match &mut self.source {
                Source::Symphonia(s) => s.next_samples(&self.file, &mut self.ready),
                Source::Ffmpeg(f) => f.next_samples().map(|o| o.map(|v| self.ready.extend_from_slice(&v))),
            };
            match more {
                Ok(Some(())) => {}
                Ok(None) => self.finished = true,
                Err(e) => {
                    self.finished = true;
                    self.ready.clear();
                    return Err(e);
                }
            }
        }
        if self.ready.is_empty() {
            return Ok(None);
        }
        let n = self.ready.len().min(CHUNK_SAMPLES);
        let rest = self.ready.split_off(n);
        let chunk = std::mem::replace(&mut self.ready, rest);
        self.samples_out += chunk.len() as u64;
        Ok(Some(chunk))
    }
}

impl AudioDecoder {
    /// What the user should know about how the audio was read, once it has all been read:
    /// audio that stops well before the file's stated end, and timestamp gaps and overlaps
    /// that were evened out. Empty for an ordinary file, and before the end.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if !(self.finished && self.ready.is_empty()) {
            return warnings;
        }
        let got = self.seconds_decoded();
        if let Some(declared) = self.declared_seconds {
            // Encoder delay and padding account for a few tens of milliseconds; audio that
            // stops early (a shorter audio track, a cut-off recording) lacks far more.
            if declared - got > (0.02 * declared).max(0.5) {
                warnings.push(format!(
                    "the audio ends at {got:.1} s but the file lasts {declared:.1} s: \
                     transcribed as far as the audio goes"
                ));
            }
        }
        if let Source::Symphonia(s) = &self.source {
            if let Some(report) = s.timeline.as_ref().map(Timeline::report) {
                warnings.extend(timing_warnings(&report));
            }
        }
        warnings
    }
}

fn timing_warnings(r: &TimingReport) -> Vec<String> {
    let mut warnings = Vec::new();
    if r.gaps > 0 {
        warnings.push(format!(
            "the audio timestamps have {} gap(s), {:.1} s in all: kept as silence so the text \
             stays in sync with the video",
            r.gaps, r.gap_seconds
        ));
    }
    if r.overlaps > 0 {
        warnings.push(format!(
            "the audio timestamps overlap {} time(s): {:.2} s of repeated audio was dropped",
            r.overlaps, r.overlap_seconds
        ));
    }
    if r.discontinuities > 0 {
        warnings.push(format!(
            "the audio timestamps jump {} time(s) outside the file's length: that audio was \
             kept in the order it is stored",
            r.discontinuities
        ));
    }
    warnings
}

impl Iterator for AudioDecoder {
    type Item = Result<Vec<f32>, MediaError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_chunk().transpose()
    }
}

impl SymphoniaStream {
    fn corrupt(file: &str, reason: impl Into<String>) -> MediaError {
        MediaError::Corrupt { file: file.to_string(), reason: reason.into() }
    }

    /// Decodes one packet of the track into `out`; `Ok(None)` at the end of the stream.
    fn next_samples(&mut self, file: &str, out: &mut Vec<f32>) -> Result<Option<()>, MediaError> {
        if self.ended {
            return Ok(None);
        }
        if self.silence_owed > 0 || !self.held.is_empty() {
            return self.emit_gap(file, out).map(Some);
        }
        let packet = match catch_unwind(AssertUnwindSafe(|| self.reader.format.next_packet())) {
            Err(p) => return Err(Self::corrupt(file, format!("the demuxer crashed ({})", panic_message(&*p)))),
            Ok(Ok(p)) => p,
            Ok(Err(SymError::IoError(e))) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return self.end(file, out);
            }
            // A chained stream (a new Ogg logical stream): only the first is transcribed.
            Ok(Err(SymError::ResetRequired)) => return self.end(file, out),
            Ok(Err(SymError::IoError(e))) => return Err(MediaError::Io { file: file.to_string(), source: e }),
            Ok(Err(e)) => return Err(Self::corrupt(file, e.to_string())),
        };
        if packet.track_id() != self.reader.track_id {
            return Ok(Some(()));
        }
        let decoded = catch_unwind(AssertUnwindSafe(|| match self.decoder.decode(&packet) {
            Ok(buf) => {
                let spec = *buf.spec();
                let frames = buf.frames();
                let sb = match &mut self.sample_buf {
                    Some(sb) if sb.capacity() >= buf.capacity() * spec.channels.count() => sb,
                    slot => slot.insert(SampleBuffer::<f32>::new(buf.capacity() as u64, spec)),
                };
                sb.copy_interleaved_ref(buf);
                Ok(Some((spec.rate, spec.channels.count(), frames)))
            }
            Err(SymError::DecodeError(_)) | Err(SymError::IoError(_)) => Ok(None),
            Err(e) => Err(e.to_string()),
        }));
        let (rate, channels, frames) = match decoded {
            Err(p) => return Err(Self::corrupt(file, format!("the decoder crashed ({})", panic_message(&*p)))),
            Ok(Err(reason)) => return Err(Self::corrupt(file, reason)),
            Ok(Ok(None)) => {
                self.bad_in_a_row += 1;
                if self.bad_in_a_row > MAX_BAD_PACKETS {
                    return Err(Self::corrupt(
                        file,
                        format!("{MAX_BAD_PACKETS} audio packets in a row could not be decoded"),
                    ));
                }
                return Ok(Some(()));
            }
            Ok(Ok(Some(x))) => x,
        };
        self.bad_in_a_row = 0;
        if frames == 0 || channels == 0 {
            return Ok(Some(()));
        }
        if self.resampler.is_none() {
            self.rate = rate;
            self.resampler = Some(MonoResampler::new(rate).map_err(|r| Self::corrupt(file, r))?);
            self.timeline = Some(Timeline::new(rate, self.declared_seconds));
        } else if rate != self.rate {
            return Err(Self::corrupt(file, format!("the sample rate changes from {} to {rate} Hz", self.rate)));
        }
        let start = self.packet_start(packet.ts(), rate);
        let placement = self.timeline.as_mut().expect("created with the resampler").place(start, frames);
        let sb = self.sample_buf.as_ref().expect("filled above");
        self.mono.clear();
        downmix_into(&sb.samples()[placement.skip * channels..frames * channels], channels, &mut self.mono);
        self.source_frames += (frames - placement.skip) as u64;
        if placement.silence > 0 {
            // The gap's silence goes first, a second at a time (a gap may be long), then
            // these samples.
            self.silence_owed = placement.silence;
            std::mem::swap(&mut self.held, &mut self.mono);
            return self.emit_gap(file, out).map(Some);
        }
        self.resampler.as_mut().expect("created above").push(&self.mono, out).map_err(|r| Self::corrupt(file, r))?;
        Ok(Some(()))
    }

    /// The frame at which a packet starts on the media timeline, from its timestamp.
    fn packet_start(&self, ts: u64, rate: u32) -> Option<i64> {
        let seconds = match self.reader.codec_params.time_base {
            Some(tb) => {
                let t = tb.calc_time(ts);
                t.seconds as f64 + t.frac
            }
            None => ts as f64 / f64::from(rate),
        };
        let frame = ((seconds - self.skip_seconds) * f64::from(rate)).round();
        frame.is_finite().then_some(frame as i64)
    }

    /// Emits up to a second of owed gap silence, or else the packet held behind the gap.
    fn emit_gap(&mut self, file: &str, out: &mut Vec<f32>) -> Result<(), MediaError> {
        let resampler = self.resampler.as_mut().expect("a gap follows a decoded packet");
        if self.silence_owed > 0 {
            let n = self.silence_owed.min(u64::from(self.rate)) as usize;
            self.silence_owed -= n as u64;
            self.mono.clear();
            self.mono.resize(n, 0.0);
            resampler.push(&self.mono, out)
        } else {
            let held = std::mem::take(&mut self.held);
            resampler.push(&held, out)
        }
        .map_err(|r| Self::corrupt(file, r))
    }

    fn end(&mut self, file: &str, out: &mut Vec<f32>) -> Result<Option<()>, MediaError> {
        self.ended = true;
        if let Some(r) = self.resampler.as_mut() {
            r.finish(out).map_err(|reason| Self::corrupt(file, reason))?;
        }
        if self.source_frames == 0 {
            return Err(MediaError::Truncated { file: file.to_string(), reason: "no audio could be decoded".into() });
        }
        Ok(Some(()))
    }
}
