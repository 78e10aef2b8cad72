//! The ffmpeg fallback: a child process that decodes to 16 kHz mono f32le on stdout, and
//! ffprobe for what symphonia cannot describe.
//!
//! The child is killed when the stream is dropped (a cancelled job must not leave ffmpeg
//! running), a stall timeout stops a hung child, and stderr is kept (its tail) so a failure
//! says what ffmpeg said.

use std::io::{self, Read};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::error::{display_name, MediaError};
use crate::tools::MediaOptions;
use crate::SAMPLE_RATE;

/// Bytes of stderr kept for the error message.
const STDERR_TAIL: usize = 4096;
/// Bytes read from stdout at a time (64 Ki bytes = 16 Ki samples ≈ 1 s of audio).
const READ_BYTES: usize = 64 * 1024;
/// Reads buffered between the reader thread and the consumer; bounds memory when the
/// consumer (inference) is slower than ffmpeg.
const QUEUE: usize = 4;

fn missing(path: &Path, tool: &Path, format: &str) -> MediaError {
    // Say which program could not be started and where it was looked for: a bare name was
    // searched on PATH, a path (VIDSCRIBE_FFMPEG / VIDSCRIBE_FFPROBE) was tried as given.
    let tool = if tool.components().count() > 1 {
        format!("{} cannot be run", tool.display())
    } else {
        format!("no `{}` on PATH", tool.display())
    };
    MediaError::FfmpegMissing { file: display_name(path), format: format.to_string(), tool }
}

/// Whether `tool` can be started at all.
pub(crate) fn available(tool: &Path) -> bool {
    Command::new(tool)
        .arg("-version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Turns ffmpeg's complaint into the error a user can act on.
fn classify(path: &Path, stderr: &str) -> MediaError {
    let file = display_name(path);
    // ffmpeg echoes the input path in its messages; the error must only name the file.
    let reason = stderr.replace(&path.display().to_string(), &file).trim().to_string();
    let lower = reason.to_lowercase();
    if lower.contains("matches no streams")
        || lower.contains("does not contain any stream")
        || lower.contains("output file #0 does not contain any stream")
    {
        MediaError::NoAudioStream { file }
    } else if lower.contains("invalid data found when processing input") {
        MediaError::Corrupt { file, reason }
    } else {
        let reason = if reason.is_empty() { "ffmpeg exited with an error and printed nothing".into() } else { reason };
        MediaError::FfmpegFailed { file, reason }
    }
}

/// A running `ffmpeg … -f f32le pipe:1`.
pub(crate) struct FfmpegStream {
    child: Child,
    rx: Receiver<io::Result<Vec<u8>>>,
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<thread::JoinHandle<()>>,
    carry: Vec<u8>,
    path: std::path::PathBuf,
    options: MediaOptions,
    done: bool,
}

impl FfmpegStream {
    pub(crate) fn spawn(path: &Path, options: &MediaOptions, format: &str) -> Result<Self, MediaError> {
        let mut command = Command::new(&options.ffmpeg);
        command
            .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-i"])
            .arg(path)
            .args(["-map", "0:a:0", "-vn", "-sn", "-dn", "-ac", "1", "-ar"])
            .arg(SAMPLE_RATE.to_string())
            // Media time is the truth, as on the in-process path (timeline.rs): timestamp gaps
            // are filled with silence and overlaps dropped (hard compensation past 40 ms), and
            // audio that starts late is preceded by silence from time zero.
            .args(["-af", "aresample=async=1:min_hard_comp=0.04:first_pts=0"])
            .args(["-f", "f32le", "pipe:1"]);
        let mut child = spawn_grouped(&mut command).map_err(|e| spawn_failed(path, &options.ffmpeg, format, e))?;
        let mut stdout = child.stdout.take().expect("stdout was piped");
        let mut err_pipe = child.stderr.take().expect("stderr was piped");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let stderr_reader = thread::spawn(move || {
            let mut buf = [0u8; 1024];
            while let Ok(n) = err_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut s = sink.lock().unwrap_or_else(|p| p.into_inner());
                s.push_str(&String::from_utf8_lossy(&buf[..n]));
                if s.len() > STDERR_TAIL * 2 {
                    let cut = s.len() - STDERR_TAIL;
                    let cut = (cut..s.len()).find(|&i| s.is_char_boundary(i)).unwrap_or(s.len());
                    s.drain(..cut);
                }
            }
        });
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        thread::spawn(move || loop {
            let mut buf = vec![0u8; READ_BYTES];
            match stdout.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    buf.truncate(n);
                    // The receiver is gone when the stream was dropped: stop reading.
                    if tx.send(Ok(buf)).is_err() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send(Err(e));
                    break;
                }
            }
        });
        Ok(FfmpegStream {
            child,
            rx,
            stderr,
            stderr_reader: Some(stderr_reader),
            carry: Vec::new(),
            path: path.to_path_buf(),
            options: options.clone(),
            done: false,
        })
    }

    fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The next samples; `Ok(None)` after ffmpeg finished successfully.
    pub(crate) fn next_samples(&mut self) -> Result<Option<Vec<f32>>, MediaError> {
        if self.done {
            return Ok(None);
        }
        loop {
            match self.rx.recv_timeout(self.options.ffmpeg_stall_timeout) {
                Ok(Ok(bytes)) => {
                    self.carry.extend_from_slice(&bytes);
                    let whole = self.carry.len() / 4 * 4;
                    if whole == 0 {
                        continue;
                    }
                    let samples = self.carry[..whole]
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        .collect();
                    self.carry.drain(..whole);
                    return Ok(Some(samples));
                }
                Ok(Err(e)) => {
                    self.kill();
                    return Err(MediaError::Io { file: display_name(&self.path), source: e });
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.kill();
                    return Err(MediaError::FfmpegFailed {
                        file: display_name(&self.path),
                        reason: format!(
                            "no audio for {} s, ffmpeg was stopped",
                            self.options.ffmpeg_stall_timeout.as_secs()
                        ),
                    });
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.done = true;
                    let status =
                        self.child.wait().map_err(|e| MediaError::Io { file: display_name(&self.path), source: e })?;
                    // All of stderr is read once the child has exited and closed its end.
                    if let Some(reader) = self.stderr_reader.take() {
                        let _ = reader.join();
                    }
                    if !status.success() {
                        return Err(classify(&self.path, &self.stderr_text()));
                    }
                    return Ok(None);
                }
            }
        }
    }

    fn kill(&mut self) {
        self.done = true;
        kill_group(&mut self.child);
    }
}

impl Drop for FfmpegStream {
    fn drop(&mut self) {
        if !self.done {
            self.kill();
        }
    }
}

/// Starts `command` (stdin closed, stdout and stderr piped) in its own process group, so
/// [`kill_group`] also stops whatever it started: a wrapper script's ffmpeg would otherwise
/// outlive the script and keep the pipes open.
fn spawn_grouped(command: &mut Command) -> io::Result<Child> {
    use std::os::unix::process::CommandExt;
    command.process_group(0).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()
}

/// Kills the whole process group of a [`spawn_grouped`] child and reaps the child.
fn kill_group(child: &mut Child) {
    let group = format!("-{}", child.id());
    let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
    let _ = child.kill();
    let _ = child.wait();
}

/// A tool that cannot be started is "missing" (with the install hint); other errors are I/O.
fn spawn_failed(path: &Path, tool: &Path, format: &str, e: io::Error) -> MediaError {
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied => missing(path, tool, format),
        _ => MediaError::Io { file: display_name(path), source: e },
    }
}

// ---- ffprobe ------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct ProbeOut {
    #[serde(default)]
    streams: Vec<ProbeStream>,
    format: Option<ProbeFormat>,
}

#[derive(Debug, Deserialize)]
struct ProbeStream {
    codec_type: Option<String>,
    codec_name: Option<String>,
    sample_rate: Option<String>,
    channels: Option<u16>,
    duration: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ProbeFormat {
    duration: Option<String>,
}

/// Runs `command` to completion like `Command::output`, but kills it after `timeout`
/// (`Ok(None)`): a probe of a hostile or half-written file must not hang a worker or an upload.
fn output_within(mut command: Command, timeout: Duration) -> io::Result<Option<Output>> {
    let mut child = spawn_grouped(&mut command)?;
    let drain = |mut r: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = child.stdout.take().map(|o| drain(Box::new(o)));
    let stderr = child.stderr.take().map(|e| drain(Box::new(e)));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            kill_group(&mut child);
            break None;
        }
        thread::sleep(Duration::from_millis(10));
    };
    // The pipes close when the child is gone, so the readers end.
    let join = |h: Option<thread::JoinHandle<Vec<u8>>>| h.and_then(|h| h.join().ok()).unwrap_or_default();
    let (stdout, stderr) = (join(stdout), join(stderr));
    Ok(status.map(|status| Output { status, stdout, stderr }))
}

/// What ffprobe says about the first audio stream.
#[derive(Debug, Clone)]
pub(crate) struct Probed {
    pub codec: String,
    pub sample_rate: u32,
    pub channels: u16,
    pub duration: Option<f64>,
    /// The whole file's length (video included), from the container.
    pub container_duration: Option<f64>,
    pub has_video: bool,
}

pub(crate) fn ffprobe(path: &Path, options: &MediaOptions, format: &str) -> Result<Probed, MediaError> {
    let mut command = Command::new(&options.ffprobe);
    command.args(["-v", "error", "-print_format", "json", "-show_format", "-show_streams"]).arg(path);
    let out = output_within(command, options.ffmpeg_stall_timeout)
        .map_err(|e| spawn_failed(path, &options.ffprobe, format, e))?;
    let Some(out) = out else {
        return Err(MediaError::FfmpegFailed {
            file: display_name(path),
            reason: format!(
                "ffprobe did not answer within {} s and was stopped",
                options.ffmpeg_stall_timeout.as_secs()
            ),
        });
    };
    if !out.status.success() {
        return Err(classify(path, &String::from_utf8_lossy(&out.stderr)));
    }
    let parsed: ProbeOut = serde_json::from_slice(&out.stdout).map_err(|e| MediaError::FfmpegFailed {
        file: display_name(path),
        reason: format!("unreadable ffprobe output: {e}"),
    })?;
    let has_video = parsed.streams.iter().any(|s| s.codec_type.as_deref() == Some("video"));
    let audio = parsed
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("audio"))
        .ok_or_else(|| MediaError::NoAudioStream { file: display_name(path) })?;
    let seconds =
        |s: &Option<String>| s.as_deref().and_then(|d| d.parse::<f64>().ok()).filter(|d| d.is_finite() && *d >= 0.0);
    let format_info = parsed.format.as_ref();
    Ok(Probed {
        codec: audio.codec_name.clone().unwrap_or_else(|| "unknown".into()),
        sample_rate: audio.sample_rate.as_deref().and_then(|s| s.parse().ok()).unwrap_or(0),
        channels: audio.channels.unwrap_or(0),
        duration: seconds(&audio.duration).or_else(|| format_info.and_then(|f| seconds(&f.duration))),
        container_duration: format_info.and_then(|f| seconds(&f.duration)),
        has_video,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_hung_ffprobe_is_stopped_at_the_timeout_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("ffprobe");
        std::fs::write(&fake, "#!/bin/sh\nsleep 30\n").unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let media = dir.path().join("talk.webm");
        std::fs::write(&media, b"\x1a\x45\xdf\xa3 not really webm").unwrap();
        let options =
            MediaOptions { ffprobe: fake, ffmpeg_stall_timeout: Duration::from_secs(1), ..MediaOptions::default() };
        let started = Instant::now();
        let err = ffprobe(&media, &options, "webm").unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
        let msg = err.to_string();
        assert!(msg.contains("did not answer within 1 s") && msg.contains("talk.webm"), "{msg}");
    }
}
