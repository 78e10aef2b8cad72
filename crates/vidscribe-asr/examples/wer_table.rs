//! Scores transcripts for bench/asr/run with the project's WER rule (vidscribe-formats'
//! Whisper-style normalisation, the same for every engine), so the benchmark never scores
//! with a second implementation.
//!
//! Usage: wer_table RUNS.jsonl...
//! Each input line is a JSON object with at least "file" (the media path) and "text" (the
//! transcript); the reference text is the "reference" path when given, else the media path
//! with the extension `.txt`. Every line is written to stdout as it came, plus the edit
//! counts: "reference_words", "hypothesis_words", "substitutions", "deletions",
//! "insertions", "errors" and "wer_pct". Corpus WER = Σ errors / Σ reference_words.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use serde_json::Value;
use vidscribe_formats::wer;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(!args.is_empty(), "usage: wer_table RUNS.jsonl...");
    let mut out = std::io::stdout().lock();
    for path in &args {
        let runs = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
        for (n, line) in runs.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let mut run: Value = serde_json::from_str(line).with_context(|| format!("{path}:{}: not JSON", n + 1))?;
            let field = |k: &str| run.get(k).and_then(Value::as_str).map(str::to_string);
            let file = field("file").with_context(|| format!("{path}:{}: no \"file\"", n + 1))?;
            let text = field("text").with_context(|| format!("{path}:{}: no \"text\"", n + 1))?;
            let reference_path =
                field("reference").unwrap_or_else(|| Path::new(&file).with_extension("txt").display().to_string());
            let reference = std::fs::read_to_string(&reference_path)
                .with_context(|| format!("cannot read the reference text {reference_path}"))?;
            let stats = wer::measure(&reference, &text);
            let obj = run.as_object_mut().with_context(|| format!("{path}:{}: not a JSON object", n + 1))?;
            for (k, v) in [
                ("reference_words", stats.reference_words),
                ("hypothesis_words", stats.hypothesis_words),
                ("substitutions", stats.substitutions),
                ("deletions", stats.deletions),
                ("insertions", stats.insertions),
                ("errors", stats.errors()),
            ] {
                obj.insert(k.into(), Value::from(v));
            }
            obj.insert("wer_pct".into(), Value::from(stats.wer() * 100.0));
            writeln!(out, "{run}")?;
        }
    }
    out.flush()?;
    Ok(())
}
