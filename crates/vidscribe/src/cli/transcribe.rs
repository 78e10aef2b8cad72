//! `vidscribe transcribe`: an embedded batch — the same store code (SQLite in a temporary
//! or given data directory) and the same engine as the server — with live progress, a
//! summary table, outputs copied to `--out`, and a clean Ctrl-C.

use std::collections::{BTreeMap, HashSet};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;
use vidscribe_core::{BatchId, BatchSettings, EventData, Job, JobId, JobStatus, OutputFormat, SessionId};
use vidscribe_store::follow::follow;
use vidscribe_store::{DynStore, NewJob};
use vidscribe_worker::{DataDir, Engine, EngineConfig};

use super::config::{self, pick, FileConfig};
use super::progress::{self, Display, Stream};
use super::EXIT_INTERRUPTED;

#[derive(Debug, Args)]
pub struct TranscribeArgs {
    /// Media files, or folders to search (recursively) for media files.
    #[arg(required = true, value_name = "FILE|DIR")]
    pub inputs: Vec<PathBuf>,
    /// Where to write `<stem>.<ext>` outputs [default: the current directory].
    #[arg(long, short, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Output formats, comma-separated: txt, srt, vtt, json [default: txt,srt,vtt,json].
    #[arg(long, short, value_name = "LIST")]
    pub format: Option<String>,
    /// Registry model name (tiny.en, base) or a CTranslate2 model directory [default: base].
    #[arg(long, short, env = "VIDSCRIBE_MODEL", value_name = "NAME|PATH")]
    pub model: Option<String>,
    /// Spoken language as an ISO 639-1 code (en, fr, …) [default: detect].
    #[arg(long, short, value_name = "CODE")]
    pub language: Option<String>,
    /// Files transcribed at once (1–16); their chunks share the model's calls [default: 2; 1
    /// on one core].
    #[arg(long, short, value_name = "N")]
    pub jobs: Option<usize>,
    /// Beam size of the decoder [default: 5].
    #[arg(long, value_name = "N")]
    pub beam: Option<usize>,
    /// Chunks decoded per model call: more is faster on long files; 1 decodes one 30 s window
    /// at a time, each conditioned on the text before it [default: the model's: 4 for
    /// tiny.en, 2 for base].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub batch_size: Option<u16>,
    /// Voice activity detection: transcribe only the stretches with speech; long pauses are
    /// not given to the model, and times stay those of the media [default: true].
    #[arg(long, value_name = "true|false")]
    pub vad: Option<bool>,
    /// Print machine-readable results (JSON) on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Keep the batch's database, uploads and results here [default: a temporary directory].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Whisper model cache [default: $VIDSCRIBE_MODEL_DIR or ~/.cache/vidscribe/models].
    #[arg(long, env = "VIDSCRIBE_MODEL_DIR", value_name = "DIR")]
    pub model_dir: Option<PathBuf>,
    /// Plain lines instead of progress bars, even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
}

/// One input that will be transcribed.
#[derive(Debug, Clone)]
struct Input {
    path: PathBuf,
    /// As shown to the user (the path as given or found).
    display: String,
    extension: &'static str,
}

/// What happened to one file, for the table and `--json`.
#[derive(Debug, Clone, Serialize)]
struct FileResult {
    file: String,
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    words: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    real_time_factor: Option<f64>,
    /// Seconds the model was given, with voice activity detection.
    #[serde(skip_serializing_if = "Option::is_none")]
    speech_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    language: Option<String>,
    outputs: Vec<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// Completed, but the media was read with a caveat (see `Job::warning`).
    #[serde(skip_serializing_if = "Option::is_none")]
    warning: Option<String>,
}

#[derive(Debug, Serialize)]
struct Report {
    batch_id: Option<BatchId>,
    status: String,
    files: Vec<FileResult>,
    /// Files found in folders that are not media, skipped.
    skipped: Vec<Skipped>,
}

#[derive(Debug, Clone, Serialize)]
struct Skipped {
    file: String,
    reason: String,
}

pub async fn run(args: TranscribeArgs, file: &FileConfig) -> anyhow::Result<u8> {
    let t = &file.transcribe;
    let formats_text =
        pick(args.format.clone(), t.formats.as_ref().map(|f| f.joined()), || "txt,srt,vtt,json".to_string());
    let formats = OutputFormat::parse_list(&formats_text).map_err(|e| anyhow::anyhow!("--format: {e}"))?;
    let model = pick(args.model.clone(), t.model.clone(), || BatchSettings::DEFAULT_MODEL.to_string());
    let language = args.language.clone().or_else(|| t.language.clone());
    let jobs = pick(args.jobs, t.jobs, EngineConfig::default_slots);
    if !(1..=BatchSettings::MAX_CONCURRENT_LIMIT as usize).contains(&jobs) {
        bail!("--jobs must be between 1 and {} (got {jobs})", BatchSettings::MAX_CONCURRENT_LIMIT);
    }
    let beam = pick(args.beam, t.beam, || 5).max(1);
    let batch_size = args.batch_size.map(usize::from).or(t.batch_size);
    if let Some(n) = batch_size.filter(|n| !(1..=64).contains(n)) {
        bail!("batch_size must be between 1 and 64 (got {n})");
    }
    let out_dir = args.out.clone().unwrap_or_else(|| PathBuf::from("."));
    let model_dir = config::model_dir(args.model_dir.clone(), file);
    let tty = std::io::stderr().is_terminal() && !args.no_progress && !args.json;

    // Installed now, so a Ctrl-C during preparation is not lost: it cancels once the batch runs.
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| anyhow::anyhow!("cannot listen for Ctrl-C: {e}"))?;

    // ---- inputs ----
    let (inputs, rejected, skipped) = collect_inputs(&args.inputs);
    for s in &skipped {
        eprintln!("skipping {}: {}", s.file, s.reason);
    }
    let mut results: Vec<FileResult> = rejected
        .iter()
        .map(|s| FileResult {
            file: s.file.clone(),
            status: "failed".into(),
            duration: None,
            words: None,
            real_time_factor: None,
            speech_seconds: None,
            language: None,
            outputs: vec![],
            error: Some(s.reason.clone()),
            warning: None,
        })
        .collect();
    if inputs.is_empty() {
        if results.is_empty() {
            bail!(
                "no media files found in {}",
                args.inputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            );
        }
        let report = Report { batch_id: None, status: "failed".into(), files: results, skipped };
        print_report(&report, args.json)?;
        return Ok(exit_code(&report));
    }
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create the output directory {}", out_dir.display()))?;

    // ---- the embedded store and engine ----
    let temp = match &args.data_dir {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("vidscribe-")
                .tempdir()
                .context("cannot create a temporary data directory")?,
        ),
    };
    let data_root = match (&args.data_dir, &temp) {
        (Some(d), _) => d.clone(),
        (None, Some(t)) => t.path().to_path_buf(),
        (None, None) => unreachable!("a temporary directory exists when no data directory was given"),
    };
    let data = DataDir::new(&data_root);
    data.create().with_context(|| format!("cannot create the data directory {}", data_root.display()))?;
    let store = vidscribe_store::open(&config::default_database(&data_root))
        .await
        .with_context(|| format!("cannot open the database in {}", data_root.display()))?;

    let transcriber = Arc::new(super::whisper(model_dir));
    // Fetch/verify the model once, up front: a bad name fails here, not once per file.
    {
        let t = transcriber.clone();
        let m = model.clone();
        if !tty {
            eprintln!("preparing model {m}…");
        }
        tokio::task::spawn_blocking(move || t.resolve(&m))
            .await?
            .map_err(|e| anyhow::anyhow!("model '{model}': {e}"))?;
    }

    let batch_id = BatchId::new();
    let mut settings = BatchSettings::new(
        batch_id,
        Some(format!("transcribe {}", chrono::Local::now().format("%Y-%m-%d %H:%M"))),
        Some(jobs as i64),
        Some(model.clone()),
        language,
        Some(formats.clone()),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    settings.vad = args.vad.or(t.vad).unwrap_or(settings.vad);
    store.create_batch(batch_id, &settings).await.context("cannot create the batch")?;
    let mut new_jobs = Vec::new();
    let mut by_job: BTreeMap<JobId, Input> = BTreeMap::new();
    for input in &inputs {
        let job_id = JobId::new();
        let rel = Job::upload_path(job_id, input.extension);
        link_upload(&input.path, &data.abs(&rel)?)?;
        let duration = {
            let p = input.path.clone();
            tokio::task::spawn_blocking(move || vidscribe_media::probe(&p).ok().map(|i| i.duration))
                .await
                .ok()
                .flatten()
        };
        let name =
            input.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| input.display.clone());
        new_jobs.push(NewJob {
            job_id,
            session_id: SessionId::new(),
            original_filename: input.display.clone(),
            session_name: vidscribe_core::session::from_filename(&name, chrono::Utc::now()),
            file_path: rel,
            media_duration: duration.filter(|d| d.is_finite() && *d > 0.0),
        });
        by_job.insert(job_id, input.clone());
    }
    store.add_jobs(batch_id, new_jobs).await.context("cannot queue the files")?;

    // Subscribed before the cursor is read, so the follower misses nothing in between.
    let subscription = store.subscribe();
    let cursor = store.last_event_seq().await?;
    let mut engine_config = EngineConfig::new(&data_root);
    engine_config.slots = jobs;
    engine_config.beam_size = beam;
    engine_config.batch_size = batch_size;
    engine_config.worker_name = format!("transcribe-{}", std::process::id());
    engine_config.poll_interval = Duration::from_millis(500);
    let engine = Engine::start(store.clone(), transcriber, engine_config);
    // The pending batch first, so every transition from the start on is shown.
    let mut display = Display::new(tty, Stream::Stderr, progress::short(&batch_id.to_string()).to_string());
    display.snapshot(&store.get_batch(batch_id).await?);
    store.start_batch(batch_id).await.context("cannot start the batch")?;

    // ---- follow until the batch ends, or Ctrl-C ----
    // The store's follower: the batch's events in order, each once, caught up from the
    // durable log whenever this loop falls behind the live channel or one is missed.
    let mut events = std::pin::pin!(follow(store.clone(), subscription, Some(batch_id), cursor, 1000));
    let mut interrupted = false;
    loop {
        if display.batch_view().is_some_and(|b| b.is_terminal())
            && display.jobs().all(|j| j.status != JobStatus::Processing)
        {
            break;
        }
        let next = tokio::select! {
            e = events.next() => e,
            _ = sigint.recv() => {
                interrupted = true;
                break;
            }
        };
        // The stream ends when the store closes or its log cannot be read; what the batch
        // came to is read from the store below.
        let Some(e) = next else { break };
        match &e.data {
            EventData::Job(job) => display.job(job),
            EventData::Batch(summary) => display.batch(summary),
            EventData::Deleted { .. } => break,
            // The bars show progress, not text.
            EventData::Segments(_) => {}
        }
    }

    if interrupted {
        display.note("interrupted: cancelling the batch…");
        cancel_and_wait(&store, batch_id, &mut display, &mut sigint).await;
    }
    display.finish();
    // Running jobs hand back or end; no transcriber keeps running behind our back.
    if tokio::time::timeout(Duration::from_secs(10), engine.shutdown()).await.is_err() {
        eprintln!("warning: a job did not stop within 10 s");
    }

    // ---- outputs, summary ----
    let batch = store.get_batch(batch_id).await?;
    let mut used_stems = HashSet::new();
    for job in &batch.jobs {
        let input = by_job.get(&job.job_id);
        let display_name = input.map(|i| i.display.clone()).unwrap_or_else(|| job.original_filename.clone());
        let mut r = FileResult {
            file: display_name,
            status: job.status.to_string(),
            duration: job.media_duration,
            words: None,
            real_time_factor: None,
            speech_seconds: None,
            language: None,
            outputs: vec![],
            error: job.error_message.clone(),
            warning: job.warning.clone(),
        };
        if job.status == JobStatus::Completed {
            let results_dir = data.abs(&job.results_path)?;
            if let Ok(meta) = read_json(&results_dir.join("metadata.json")) {
                r.words = meta.get("word_count").and_then(Value::as_u64).map(|w| w as usize);
                r.real_time_factor = meta.get("real_time_factor").and_then(Value::as_f64);
                r.speech_seconds = meta.get("speech_seconds").and_then(Value::as_f64);
                r.language = meta.get("language").and_then(Value::as_str).map(str::to_string);
                if r.duration.is_none() {
                    r.duration = meta.get("media_duration").and_then(Value::as_f64);
                }
            }
            let stem = unique_stem(
                input.map(|i| i.path.as_path()).unwrap_or(Path::new(&job.original_filename)),
                &mut used_stems,
            );
            for f in &batch.formats {
                let src = results_dir.join(f.file_name());
                let dst = out_dir.join(format!("{stem}.{}", f.as_str()));
                match copy_atomic(&src, &dst) {
                    Ok(()) => r.outputs.push(dst),
                    Err(e) => {
                        r.status = "failed".into();
                        r.error = Some(format!("cannot write {}: {e}", dst.display()));
                    }
                }
            }
        }
        if let Some(warning) = &r.warning {
            eprintln!("warning: {}: {warning}", r.file);
        }
        results.push(r);
    }
    let report = Report { batch_id: Some(batch_id), status: batch.status.to_string(), files: results, skipped };
    print_report(&report, args.json)?;

    store.close().await;
    drop(temp);
    if interrupted {
        eprintln!("interrupted: the batch was cancelled; unfinished files have no outputs");
        return Ok(EXIT_INTERRUPTED);
    }
    Ok(exit_code(&report))
}

/// 0 when every file completed; otherwise lists each failure (file named) and returns 1.
fn exit_code(report: &Report) -> u8 {
    let failed: Vec<&FileResult> = report.files.iter().filter(|f| f.status != "completed").collect();
    if failed.is_empty() {
        return 0;
    }
    for f in &failed {
        eprintln!("error: {}: {}", f.file, f.error.as_deref().unwrap_or(&f.status));
    }
    eprintln!("error: {} of {} files failed", failed.len(), report.files.len());
    1
}

/// Cancels the batch and waits (bounded; a second Ctrl-C stops waiting) until no job runs.
async fn cancel_and_wait(
    store: &DynStore,
    batch_id: BatchId,
    display: &mut Display,
    sigint: &mut tokio::signal::unix::Signal,
) {
    if let Err(e) = store.cancel_batch(batch_id).await {
        display.note(&format!("could not cancel the batch: {e}"));
        return;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        match store.get_batch(batch_id).await {
            Ok(b) => {
                display.snapshot(&b);
                if b.jobs.iter().all(|j| j.status != JobStatus::Processing) {
                    return;
                }
            }
            Err(_) => return,
        }
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return,
            _ = sigint.recv() => return,
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
}

/// Walks the arguments: folders recursively (sorted), each file sniffed by content.
/// Returns (media inputs, named files that cannot be transcribed, non-media found in folders).
fn collect_inputs(args: &[PathBuf]) -> (Vec<Input>, Vec<Skipped>, Vec<Skipped>) {
    let mut inputs = Vec::new();
    let mut rejected = Vec::new();
    let mut skipped = Vec::new();
    let mut seen = HashSet::new();
    for arg in args {
        let display = arg.display().to_string();
        match std::fs::metadata(arg) {
            Err(e) => rejected.push(Skipped { file: display, reason: format!("cannot read it: {e}") }),
            Ok(m) if m.is_dir() => {
                let mut files = Vec::new();
                walk(arg, &mut files);
                files.sort();
                for f in files {
                    match classify(&f) {
                        Ok(ext) => push_unique(&mut inputs, &mut seen, f, ext),
                        Err(reason) => skipped.push(Skipped { file: f.display().to_string(), reason }),
                    }
                }
            }
            Ok(_) => match classify(arg) {
                Ok(ext) => push_unique(&mut inputs, &mut seen, arg.clone(), ext),
                Err(reason) => rejected.push(Skipped { file: display, reason }),
            },
        }
    }
    (inputs, rejected, skipped)
}

fn push_unique(inputs: &mut Vec<Input>, seen: &mut HashSet<PathBuf>, path: PathBuf, extension: &'static str) {
    let key = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
    if seen.insert(key) {
        inputs.push(Input { display: path.display().to_string(), path, extension });
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let p = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&p, out),
            Ok(t) if t.is_file() || t.is_symlink() => out.push(p),
            _ => {}
        }
    }
}

/// The canonical extension of a media file, recognised by its first bytes; else why not.
fn classify(path: &Path) -> Result<&'static str, String> {
    let mut head = Vec::with_capacity(vidscribe_media::SNIFF_LEN);
    let f = std::fs::File::open(path).map_err(|e| format!("cannot read it: {e}"))?;
    f.take(vidscribe_media::SNIFF_LEN as u64).read_to_end(&mut head).map_err(|e| format!("cannot read it: {e}"))?;
    if head.is_empty() {
        return Err("empty file".into());
    }
    vidscribe_media::sniff(&head).map(|s| s.extension).ok_or_else(|| "not an audio or video file".to_string())
}

/// Puts the input into `uploads/` without copying it: a symlink to its absolute path
/// (a copy where links are not possible).
fn link_upload(src: &Path, dst: &Path) -> anyhow::Result<()> {
    let abs = std::fs::canonicalize(src).with_context(|| format!("cannot read {}", src.display()))?;
    #[cfg(unix)]
    if std::os::unix::fs::symlink(&abs, dst).is_ok() {
        return Ok(());
    }
    std::fs::copy(&abs, dst).with_context(|| format!("cannot copy {}", src.display()))?;
    Ok(())
}

fn unique_stem(path: &Path, used: &mut HashSet<String>) -> String {
    let base = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "transcript".into());
    let mut stem = base.clone();
    let mut n = 2;
    while !used.insert(stem.clone()) {
        stem = format!("{base}-{n}");
        n += 1;
    }
    stem
}

/// Copies through a temporary sibling and a rename, so `dst` is never half written.
fn copy_atomic(src: &Path, dst: &Path) -> std::io::Result<()> {
    let dir = dst.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    let mut from = std::fs::File::open(src)?;
    std::io::copy(&mut from, tmp.as_file_mut())?;
    tmp.persist(dst).map_err(|e| e.error)?;
    Ok(())
}

fn read_json(path: &Path) -> anyhow::Result<Value> {
    Ok(serde_json::from_slice(&std::fs::read(path)?)?)
}

fn print_report(report: &Report, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, report)?;
        writeln!(out)?;
        return Ok(());
    }
    let rows: Vec<[String; 5]> = report
        .files
        .iter()
        .map(|f| {
            [
                f.file.clone(),
                f.duration.map(progress::clock).unwrap_or_else(|| "-".into()),
                f.words.map(|w| w.to_string()).unwrap_or_else(|| "-".into()),
                f.real_time_factor.map(|r| format!("{r:.2}x")).unwrap_or_else(|| "-".into()),
                f.status.clone(),
            ]
        })
        .collect();
    let header = ["FILE", "DURATION", "WORDS", "RTF", "STATUS"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: &[String; 5]| {
        format!(
            "{:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}  {}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            cells[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3]
        )
    };
    writeln!(out, "{}", line(&header.map(str::to_string)).trim_end())?;
    for row in &rows {
        writeln!(out, "{}", line(row).trim_end())?;
    }
    let outputs: usize = report.files.iter().map(|f| f.outputs.len()).sum();
    if outputs > 0 {
        let dirs: HashSet<_> = report
            .files
            .iter()
            .flat_map(|f| f.outputs.iter().filter_map(|p| p.parent().map(Path::to_path_buf)))
            .collect();
        let dirs: Vec<String> =
            dirs.iter().map(|d| if d.as_os_str().is_empty() { ".".into() } else { d.display().to_string() }).collect();
        writeln!(out, "{outputs} output file(s) written to {}", dirs.join(", "))?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_of_files_with_the_same_stem_do_not_overwrite_each_other() {
        let mut used = HashSet::new();
        assert_eq!(unique_stem(Path::new("a/talk.mp4"), &mut used), "talk");
        assert_eq!(unique_stem(Path::new("b/talk.mkv"), &mut used), "talk-2");
        assert_eq!(unique_stem(Path::new("c/other.mp4"), &mut used), "other");
    }

    #[test]
    fn non_media_files_in_folders_are_skipped_and_named_files_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
        let wav = dir.path().join("a.wav");
        let mut bytes = b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80\x3e\x00\x00\x00\x7d\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x00".to_vec();
        bytes.resize(64, 0);
        std::fs::write(&wav, bytes).unwrap();
        let (inputs, rejected, skipped) =
            collect_inputs(&[dir.path().to_path_buf(), dir.path().join("notes.txt"), dir.path().join("missing.mp4")]);
        assert_eq!(inputs.len(), 1, "{inputs:?}");
        assert_eq!(inputs[0].extension, "wav");
        assert_eq!(skipped.len(), 1);
        assert_eq!(rejected.len(), 2);
    }
}
