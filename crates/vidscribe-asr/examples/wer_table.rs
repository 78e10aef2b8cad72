//! Scores two runs side by side and prints the benchmark table: per file wall time, real-time
//! factor and WER of Vidscribe ("ours") and faster-whisper ("theirs"), and ours/theirs speed.
//!
//! Usage: wer_table OURS.jsonl THEIRS.jsonl
//! Each line: {"file", "audio_secs", "wall_secs", "text"}; the reference text of `x.wav` is `x.txt`.
//! WER uses vidscribe-formats' Whisper-style normalisation for both sides.
//! With `BENCH_JSONL=PATH`, each row (with edit counts, so a corpus WER can be computed) and
//! the total are also appended to PATH as JSON lines (read by bench/report).

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

/// Appends `line` to `$BENCH_JSONL` when set (machine-readable copy of a printed row).
fn emit(line: serde_json::Value) -> anyhow::Result<()> {
    if let Some(path) = std::env::var_os("BENCH_JSONL") {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        writeln!(f, "{line}")?;
    }
    Ok(())
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
    let (mut sum_ours, mut sum_theirs) = (wer::WerStats::default(), wer::WerStats::default());
    for (file, o) in &ours {
        let Some(t) = theirs.get(file) else { continue };
        let reference = std::fs::read_to_string(Path::new(file).with_extension("txt"))?;
        let (so, st) = (wer::measure(&reference, &o.text), wer::measure(&reference, &t.text));
        let (wo, wt) = (so.wer() * 100.0, st.wer() * 100.0);
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
        emit(serde_json::json!({
            "bench": "asr", "row": "file", "file": file, "name": name, "audio_secs": o.audio_secs,
            "ours_wall_secs": o.wall_secs, "ours_wer_pct": wo, "ours_errors": so.errors(),
            "theirs_wall_secs": t.wall_secs, "theirs_wer_pct": wt, "theirs_errors": st.errors(),
            "reference_words": so.reference_words,
        }))?;
        sum_ours = sum_ours + so;
        sum_theirs = sum_theirs + st;
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
    emit(serde_json::json!({
        "bench": "asr", "row": "total", "audio_secs": totals[0], "ours_wall_secs": totals[1],
        "theirs_wall_secs": totals[2], "ours_wer_pct": sum_ours.wer() * 100.0,
        "theirs_wer_pct": sum_theirs.wer() * 100.0, "reference_words": sum_ours.reference_words,
    }))?;
    println!("speed = faster-whisper time / Vidscribe time (> 1 means Vidscribe is faster)");
    Ok(())
}
