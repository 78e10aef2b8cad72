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
    source_frames: u64,
    track_seconds: Option<f64>,
    /// Seconds of encoder priming still to drop, then frames once the rate is known.
    skip_seconds: f64,
    skip_frames: Option<u64>,
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
        let source = match inspected.reader {
            Some(reader) => {
                let decoder = symphonia::default::get_codecs()
                    .make(&reader.codec_params, &DecoderOptions::default())
                    .map_err(|e| MediaError::UnsupportedCodec {
                        file: file.clone(),
                        codec: e.to_string(),
                    })?;
                Source::Symphonia(Box::new(SymphoniaStream {
                    reader,
                    decoder,
                    resampler: None,
                    rate: 0,
                    sample_buf: None,
                    mono: Vec::new(),
                    source_frames: 0,
                    track_seconds: inspected.track_seconds,
                    skip_seconds: inspected.skip_seconds,
                    skip_frames: None,
                    bad_in_a_row: 0,
                    ended: false,
                }))
            }
            None => {
                let format = format!(
                    "{}/{}",
                    inspected.info.extension, inspected.info.audio_codec
                );
                Source::Ffmpeg(FfmpegStream::spawn(path, options, &format)?)
            }
        };
        Ok(AudioDecoder {
            file,
            info: inspected.info,
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
                Source::Ffmpeg(f) => f
                    .next_samples()
                    .map(|o| o.map(|v| self.ready.extend_from_slice(&v))),
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

impl Iterator for AudioDecoder {
    type Item = Result<Vec<f32>, MediaError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_chunk().transpose()
    }
}

/// Decodes the whole first audio stream of `path` into one 16 kHz mono buffer.
pub fn decode_all(path: &Path) -> Result<Vec<f32>, MediaError> {
    let mut d = AudioDecoder::open(path)?;
    let mut all = Vec::with_capacity(
        (d.duration().max(0.0) * f64::from(SAMPLE_RATE)) as usize + CHUNK_SAMPLES,
    );
    while let Some(chunk) = d.next_chunk()? {
        all.extend_from_slice(&chunk);
    }
    Ok(all)
}

impl SymphoniaStream {
    fn corrupt(file: &str, reason: impl Into<String>) -> MediaError {
        MediaError::Corrupt {
            file: file.to_string(),
            reason: reason.into(),
        }
    }

    /// Decodes one packet of the track into `out`; `Ok(None)` at the end of the stream.
    fn next_samples(&mut self, file: &str, out: &mut Vec<f32>) -> Result<Option<()>, MediaError> {
        if self.ended {
            return Ok(None);
        }
        let packet = match catch_unwind(AssertUnwindSafe(|| self.reader.format.next_packet())) {
            Err(p) => {
                return Err(Self::corrupt(
                    file,
                    format!("the demuxer crashed ({})", panic_message(&*p)),
                ))
            }
            Ok(Ok(p)) => p,
            Ok(Err(SymError::IoError(e))) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return self.end(file, out);
            }
            // A chained stream (a new Ogg logical stream): only the first is transcribed.
            Ok(Err(SymError::ResetRequired)) => return self.end(file, out),
            Ok(Err(SymError::IoError(e))) => {
                return Err(MediaError::Io {
                    file: file.to_string(),
                    source: e,
                })
            }
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
            Err(p) => {
                return Err(Self::corrupt(
                    file,
                    format!("the decoder crashed ({})", panic_message(&*p)),
                ))
            }
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
        } else if rate != self.rate {
            return Err(Self::corrupt(
                file,
                format!("the sample rate changes from {} to {rate} Hz", self.rate),
            ));
        }
        let sb = self.sample_buf.as_ref().expect("filled above");
        let to_skip = self
            .skip_frames
            .get_or_insert_with(|| (self.skip_seconds * f64::from(rate)).round() as u64);
        let skipped = (*to_skip).min(frames as u64) as usize;
        *to_skip -= skipped as u64;
        self.mono.clear();
        downmix_into(
            &sb.samples()[skipped * channels..frames * channels],
            channels,
            &mut self.mono,
        );
        self.source_frames += (frames - skipped) as u64;
        self.resampler
            .as_mut()
            .expect("created above")
            .push(&self.mono, out)
            .map_err(|r| Self::corrupt(file, r))?;
        Ok(Some(()))
    }

    fn end(&mut self, file: &str, out: &mut Vec<f32>) -> Result<Option<()>, MediaError> {
        self.ended = true;
        if let Some(r) = self.resampler.as_mut() {
            r.finish(out)
                .map_err(|reason| Self::corrupt(file, reason))?;
        }
        if let (Some(stated), true) = (self.track_seconds, self.rate > 0) {
            let got = self.source_frames as f64 / f64::from(self.rate);
            // Encoder delay and padding account for a few tens of milliseconds; a cut-off
            // file loses far more.
            if stated - got > (0.02 * stated).max(0.5) {
                return Err(MediaError::Truncated {
                    file: file.to_string(),
                    reason: format!(
                        "the audio stops at {got:.1} s of the {stated:.1} s the file declares"
                    ),
                });
            }
        }
        if self.source_frames == 0 {
            return Err(MediaError::Truncated {
                file: file.to_string(),
                reason: "no audio could be decoded".into(),
            });
        }
        Ok(Some(()))
    }
}
