//! Transcribes media files with Vidscribe's engine and prints one JSON line per file:
//! `{"file", "audio_secs", "wall_secs", "text"}` (wall time covers decoding + transcription;
//! the model is loaded once beforehand and not counted). bench/asr/run drives it.
//!
//! cargo run --release -p vidscribe-asr --example transcribe -- \
//!     [--model tiny.en|base|DIR] [--threads N] [--beam N] [--language xx] [--words] FILE...
//! `--print-model-dir` fetches the model if needed, prints its directory and exits.

use std::time::Instant;

use vidscribe_asr::{default_cache_dir, DecodeOptions, WhisperTranscriber};
use vidscribe_core::CancelFlag;

fn main() -> anyhow::Result<()> {
    let mut model = "tiny.en".to_string();
    let mut threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut options = DecodeOptions::default();
    let mut files = Vec::new();
    let mut print_model_dir = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| anyhow::anyhow!("{name} needs a value"))
        };
        match arg.as_str() {
            "--model" => model = value("--model")?,
            "--threads" => threads = value("--threads")?.parse()?,
            "--beam" => options.beam_size = value("--beam")?.parse()?,
            "--language" => options.language = Some(value("--language")?),
            "--words" => options.word_timestamps = true,
            "--print-model-dir" => print_model_dir = true,
            _ if arg.starts_with("--") => anyhow::bail!("unknown option {arg}"),
            _ => files.push(arg),
        }
    }
    let transcriber = WhisperTranscriber::new(default_cache_dir());
    if print_model_dir {
        println!("{}", transcriber.resolve(&model)?.path.display());
        return Ok(());
    }
    anyhow::ensure!(
        !files.is_empty(),
        "usage: transcribe [--model M] [--threads N] [--beam N] [--language xx] FILE..."
    );

    let started = Instant::now();
    drop(transcriber.engine(&model, threads)?);
    eprintln!(
        "model {model} loaded in {:.2}s ({threads} threads)",
        started.elapsed().as_secs_f64()
    );

    for file in files {
        let started = Instant::now();
        let samples = vidscribe_media::decode_all(std::path::Path::new(&file))?;
        let transcript = transcriber.transcribe_samples(
            &samples,
            &model,
            &options,
            threads,
            &|_| {},
            &CancelFlag::new(),
        )?;
        let line = serde_json::json!({
            "file": file,
            "audio_secs": transcript.duration,
            "wall_secs": started.elapsed().as_secs_f64(),
            "language": transcript.language,
            "text": transcript.text(),
            "segments": transcript.segments.len(),
            // Segments decoded only after a temperature fallback (each cost several decodes).
            "fallback_segments": transcript.segments.iter().filter(|s| s.temperature > 0.0).count(),
        });
        println!("{line}");
    }
    Ok(())
}
