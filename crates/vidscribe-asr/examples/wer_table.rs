//! Scores two runs side by side and prints the benchmark table: per file wall time, real-time
//! factor and WER of Vidscribe ("ours") and faster-whisper ("theirs"), and ours/theirs speed.
//!
//! Usage: wer_table OURS.jsonl THEIRS.jsonl
//! Each line: {"file", "audio_secs", "wall_secs", "text"}; the reference text of `x.wav` is `x.txt`.
//! WER uses vidscribe-formats' Whisper-style normalisation for both sides.

use std::collections::BTreeMap;
use std::path::Path;

use vidscribe_formats::wer;

#[derive(serde::Deserialize)]
struct Run {
    file: String,
    audio_secs: f64,
    wall_secs: f64,
    text: String,
}

fn read(path: &str) -> anyhow::Result<BTreeMap<String, Run>> {
    let mut runs = BTreeMap::new();
    for line in std::fs::read_to_string(path)?
        .lines()
        .filter(|l| !l.trim().is_empty())
    {
        let run: Run = serde_json::from_str(line)?;
        runs.insert(run.file.clone(), run);
    }
    Ok(runs)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(args.len() == 2, "usage: wer_table OURS.jsonl THEIRS.jsonl");
    let (ours, theirs) = (read(&args[0])?, read(&args[1])?);
    println!(
        "{:<44} {:>7} | {:>8} {:>6} {:>6} | {:>8} {:>6} {:>6} | {:>6}",
        "file", "audio s", "ours s", "RTF", "WER%", "fw s", "RTF", "WER%", "speed"
    );
    let mut totals = [0.0f64; 3];
    for (file, o) in &ours {
        let Some(t) = theirs.get(file) else { continue };
        let reference = std::fs::read_to_string(Path::new(file).with_extension("txt"))?;
        let (wo, wt) = (
            wer::wer(&reference, &o.text) * 100.0,
            wer::wer(&reference, &t.text) * 100.0,
        );
        let name = Path::new(file)
            .file_name()
            .map_or(file.clone(), |n| n.to_string_lossy().into_owned());
        println!(
            "{:<44} {:>7.1} | {:>8.2} {:>6.3} {:>6.1} | {:>8.2} {:>6.3} {:>6.1} | {:>5.2}x",
            name,
            o.audio_secs,
            o.wall_secs,
            o.wall_secs / o.audio_secs,
            wo,
            t.wall_secs,
            t.wall_secs / t.audio_secs,
            wt,
            t.wall_secs / o.wall_secs
        );
        totals[0] += o.audio_secs;
        totals[1] += o.wall_secs;
        totals[2] += t.wall_secs;
    }
    println!(
        "{:<44} {:>7.1} | {:>8.2} {:>6.3} {:>6} | {:>8.2} {:>6.3} {:>6} | {:>5.2}x",
        "TOTAL",
        totals[0],
        totals[1],
        totals[1] / totals[0],
        "",
        totals[2],
        totals[2] / totals[0],
        "",
        totals[2] / totals[1]
    );
    println!("speed = faster-whisper time / Vidscribe time (> 1 means Vidscribe is faster)");
    Ok(())
}
