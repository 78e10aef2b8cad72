//! `vidscribe batch …`: a client for a running server (API.md).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use futures::StreamExt;
use reqwest::Method;
use serde_json::{json, Value};
use vidscribe_core::{Batch, BatchStatus, EventData, EventKind, JobStatus};

use super::client::{api_error, Client, SseEvent, SseParser};
use super::config::FileConfig;
use super::progress::{self, Display, Stream};
use super::{ServerArgs, EXIT_INTERRUPTED};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  id=$(vidscribe batch create --name 'Talks' --model tiny.en --format srt,vtt)
  vidscribe batch add $id talks/*.mp4
  vidscribe batch start $id
  vidscribe batch watch $id
  vidscribe batch download $id --out talks.zip
  vidscribe batch list --server http://10.0.0.5:5001 --token s3cret")]
pub struct BatchArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(subcommand)]
    pub command: BatchCommand,
}

#[derive(Debug, Subcommand)]
pub enum BatchCommand {
    /// Create a batch; prints its id.
    #[command(
        after_help = "Example:\n  vidscribe batch create --name 'Week 48' --max-concurrent 2 --model base --format srt,txt"
    )]
    Create {
        #[arg(long)]
        name: Option<String>,
        /// Jobs of this batch run at once (1–16) [default: 2].
        #[arg(long, value_name = "N")]
        max_concurrent: Option<i64>,
        /// Whisper model (tiny.en, base, or a model directory on the server) [default: base].
        #[arg(long)]
        model: Option<String>,
        /// Spoken language (ISO 639-1) [default: detect].
        #[arg(long)]
        language: Option<String>,
        /// Output formats, comma-separated (txt,srt,vtt,json) [default: all].
        #[arg(long, value_name = "LIST")]
        format: Option<String>,
        /// Voice activity detection: transcribe only the stretches with speech [default: true].
        #[arg(long, value_name = "true|false")]
        vad: Option<bool>,
    },
    /// Upload files into a pending batch; prints one `<job_id> <file>` line each.
    #[command(after_help = "Example:\n  vidscribe batch add 0192ab3c-… talk1.mp4 talk2.mkv --start")]
    Add {
        batch_id: String,
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Session name for the results (only with one file) [default: from the file name].
        #[arg(long)]
        session_name: Option<String>,
        /// Start the batch after the uploads.
        #[arg(long)]
        start: bool,
    },
    /// Start processing a pending batch.
    #[command(after_help = "Example:\n  vidscribe batch start 0192ab3c-…")]
    Start { batch_id: String },
    /// Show a batch and its jobs.
    #[command(after_help = "Example:\n  vidscribe batch status 0192ab3c-… --json | jq .batch.progress")]
    Status {
        batch_id: String,
        /// The API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Follow a batch live until it ends (progress bars on a terminal, one line per transition otherwise).
    #[command(after_help = "Example:\n  vidscribe batch watch 0192ab3c-…

Reconnects (with Last-Event-ID, so no transition is missed) when the connection drops.
Exit codes: 0 the batch completed and every job completed; 1 it failed, was cancelled,
was deleted, or some job failed; 130 interrupted (the batch keeps running on the server).")]
    Watch {
        batch_id: String,
        /// Plain lines even on a terminal.
        #[arg(long)]
        no_progress: bool,
        /// One JSON object per event on stdout (`{"event", "id", "data"}`), the live
        /// transcript's `segments` events included; the progress lines go to stderr.
        #[arg(long)]
        json: bool,
    },
    /// Cancel a batch (queued jobs are skipped, running ones stop), or one job with --job.
    #[command(
        after_help = "Examples:\n  vidscribe batch cancel 0192ab3c-…\n  vidscribe batch cancel 0192ab3c-… --job 0192ab3d-…"
    )]
    Cancel {
        batch_id: String,
        #[arg(long, value_name = "JOB_ID")]
        job: Option<String>,
    },
    /// Re-queue a failed, skipped or cancelled job (the batch re-opens).
    #[command(after_help = "Example:\n  vidscribe batch retry 0192ab3c-… 0192ab3d-…")]
    Retry { batch_id: String, job_id: String },
    /// Delete a batch with its uploads and results (a running batch is cancelled first).
    #[command(after_help = "Example:\n  vidscribe batch delete 0192ab3c-…")]
    Delete { batch_id: String },
    /// List batches, newest first.
    #[command(after_help = "Example:\n  vidscribe batch list --json")]
    List {
        #[arg(long)]
        json: bool,
    },
    /// Download a batch's outputs as a ZIP, or one job's transcript with --job.
    #[command(after_help = "Examples:
  vidscribe batch download 0192ab3c-…                       # batch-0192ab3c.zip
  vidscribe batch download 0192ab3c-… --out talks.zip
  vidscribe batch download 0192ab3c-… --job 0192ab3d-… --format srt --out talk.srt")]
    Download {
        batch_id: String,
        /// Destination file [default: batch-<id8>.zip, or <job8>.<format>].
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// One job's transcript instead of the whole ZIP.
        #[arg(long, value_name = "JOB_ID")]
        job: Option<String>,
        /// Format of the job's transcript (txt, srt, vtt, json) [default: txt].
        #[arg(long, requires = "job")]
        format: Option<String>,
    },
}

pub async fn run(args: BatchArgs, file: &FileConfig) -> anyhow::Result<u8> {
    let client = Client::from_args(&args.server, file)?;
    match args.command {
        BatchCommand::Create { name, max_concurrent, model, language, format, vad } => {
            let mut body = serde_json::Map::new();
            if let Some(n) = name {
                body.insert("name".into(), json!(n));
            }
            if let Some(m) = max_concurrent {
                body.insert("max_concurrent".into(), json!(m));
            }
            if let Some(m) = model {
                body.insert("model".into(), json!(m));
            }
            if let Some(l) = language {
                body.insert("language".into(), json!(l));
            }
            if let Some(f) = format {
                let list: Vec<String> = f.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
                body.insert("formats".into(), json!(list));
            }
            if let Some(v) = vad {
                body.insert("vad".into(), json!(v));
            }
            let r = client.call(client.request(Method::POST, "/api/batch/create").json(&Value::Object(body))).await?;
            println!("{}", str_field(&r, "batch_id")?);
            Ok(0)
        }
        BatchCommand::Add { batch_id, files, session_name, start } => {
            if session_name.is_some() && files.len() > 1 {
                bail!("--session-name names one file's results; pass one file with it");
            }
            for f in &files {
                let job = upload(&client, &batch_id, f, session_name.as_deref())
                    .await
                    .with_context(|| format!("cannot add {}", f.display()))?;
                println!("{job}  {}", f.display());
            }
            if start {
                client.post(&format!("/api/batch/{}/start", seg(&batch_id))).await?;
                eprintln!("batch started");
            }
            Ok(0)
        }
        BatchCommand::Start { batch_id } => {
            let r = client.post(&format!("/api/batch/{}/start", seg(&batch_id))).await?;
            println!("{}", r.get("message").and_then(Value::as_str).unwrap_or("Batch processing started"));
            Ok(0)
        }
        BatchCommand::Status { batch_id, json } => {
            let r = client.get(&format!("/api/batch/{}", seg(&batch_id))).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                print_status(r.get("batch").unwrap_or(&Value::Null));
            }
            Ok(0)
        }
        BatchCommand::Watch { batch_id, no_progress, json } => {
            let tty = !no_progress && !json && std::io::stdout().is_terminal();
            watch(&client, &batch_id, tty, json).await
        }
        BatchCommand::Cancel { batch_id, job } => {
            let path = match &job {
                Some(j) => format!("/api/batch/{}/jobs/{}/cancel", seg(&batch_id), seg(j)),
                None => format!("/api/batch/{}/cancel", seg(&batch_id)),
            };
            let r = client.post(&path).await?;
            println!("{}", r.get("message").and_then(Value::as_str).unwrap_or("cancelled"));
            Ok(0)
        }
        BatchCommand::Retry { batch_id, job_id } => {
            let r = client.post(&format!("/api/batch/{}/jobs/{}/retry", seg(&batch_id), seg(&job_id))).await?;
            println!("{}", r.get("message").and_then(Value::as_str).unwrap_or("Job re-queued"));
            Ok(0)
        }
        BatchCommand::Delete { batch_id } => {
            let r = client.call(client.request(Method::DELETE, &format!("/api/batch/{}", seg(&batch_id)))).await?;
            println!("{}", r.get("message").and_then(Value::as_str).unwrap_or("Batch deleted"));
            Ok(0)
        }
        BatchCommand::List { json } => {
            let r = client.get("/api/batch/list").await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                print_list(r.get("batches").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]));
            }
            Ok(0)
        }
        BatchCommand::Download { batch_id, out, job, format } => {
            let (path, default_out) = match &job {
                Some(j) => {
                    let fmt = format.unwrap_or_else(|| "txt".into()).to_ascii_lowercase();
                    if !["txt", "srt", "vtt", "json"].contains(&fmt.as_str()) {
                        bail!("--format must be txt, srt, vtt or json (got '{fmt}')");
                    }
                    (
                        format!("/api/batch/{}/jobs/{}/transcript.{fmt}", seg(&batch_id), seg(j)),
                        format!("{}.{fmt}", progress::short(j)),
                    )
                }
                None => (
                    format!("/api/batch/{}/download", seg(&batch_id)),
                    format!("batch-{}.zip", progress::short(&batch_id)),
                ),
            };
            let dest = out.unwrap_or_else(|| PathBuf::from(default_out));
            let n = client.download(&path, &dest).await?;
            eprintln!("wrote {} ({n} bytes)", dest.display());
            Ok(0)
        }
    }
}

/// A path segment from user input: ids are UUIDs; anything else is percent-encoded.
fn seg(s: &str) -> String {
    s.trim()
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b == b'-' { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

fn str_field(v: &Value, k: &str) -> anyhow::Result<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string).with_context(|| format!("the server's answer has no '{k}'"))
}

/// Streams one file as multipart (`batch_id`, `session_name`, then `file`); returns the job id.
async fn upload(
    client: &Client,
    batch_id: &str,
    path: &std::path::Path,
    session_name: Option<&str>,
) -> anyhow::Result<String> {
    let file = tokio::fs::File::open(path).await.context("cannot open it")?;
    let len = file.metadata().await?.len();
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "upload".into());
    let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
    let part = reqwest::multipart::Part::stream_with_length(body, len).file_name(name);
    let mut form = reqwest::multipart::Form::new().text("batch_id", batch_id.trim().to_string());
    if let Some(s) = session_name {
        form = form.text("session_name", s.to_string());
    }
    form = form.part("file", part);
    let r = client.call(client.request(Method::POST, "/api/batch/add-video").multipart(form)).await?;
    str_field(&r, "job_id")
}

/// One line of `watch --json`: the event's kind, id and payload (as the server sent it).
fn print_event_json(ev: &SseEvent) {
    let data: Value = serde_json::from_str(&ev.data).unwrap_or_else(|_| Value::String(ev.data.clone()));
    let line = json!({ "event": ev.event, "id": ev.id, "data": data });
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) is not worth a panic; the watch ends with the batch anyway.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Follows `/api/batch/{id}/events` until the batch ends, reconnecting with Last-Event-ID.
async fn watch(client: &Client, batch_id: &str, tty: bool, json: bool) -> anyhow::Result<u8> {
    let id = batch_id.trim();
    let lines = if json { Stream::Stderr } else { Stream::Stdout };
    let mut display = Display::new(tty, lines, progress::short(id).to_string());
    let mut last_event_id: Option<String> = None;
    let mut failures = 0u32;
    let mut ctrl_c = Box::pin(tokio::signal::ctrl_c());
    loop {
        let mut rb = client
            .request(Method::GET, &format!("/api/batch/{}/events", seg(id)))
            .header("accept", "text/event-stream");
        if let Some(l) = &last_event_id {
            rb = rb.header("Last-Event-ID", l.as_str());
        }
        let connected = tokio::select! {
            r = client.send(rb) => r,
            _ = &mut ctrl_c => { display.finish(); return Ok(EXIT_INTERRUPTED) }
        };
        match connected {
            Ok(resp) if resp.status().is_success() => {
                failures = 0;
                let mut parser = SseParser::default();
                let mut body = resp.bytes_stream();
                loop {
                    let chunk = tokio::select! {
                        c = body.next() => c,
                        _ = &mut ctrl_c => { display.finish(); return Ok(EXIT_INTERRUPTED) }
                    };
                    let Some(Ok(chunk)) = chunk else { break };
                    for ev in parser.feed(&chunk) {
                        if let Some(i) = ev.id.clone() {
                            last_event_id = Some(i);
                        }
                        if json {
                            print_event_json(&ev);
                        }
                        match Update::read(&ev) {
                            Some(Ok(Update::Snapshot(batch))) => display.snapshot(&batch),
                            Some(Ok(Update::Event(EventData::Job(job)))) => display.job(&job),
                            Some(Ok(Update::Event(EventData::Batch(summary)))) => display.batch(&summary),
                            // The bars show progress, not text.
                            Some(Ok(Update::Event(EventData::Segments(_)))) => {}
                            Some(Ok(Update::Event(EventData::Deleted { .. }))) => {
                                display.finish();
                                eprintln!("error: batch {id} was deleted");
                                return Ok(1);
                            }
                            Some(Err(e)) => display.note(&format!("cannot read a '{}' event: {e}", ev.event)),
                            // An event this version does not know: nothing to show.
                            None => {}
                        }
                        if let Some(code) = finished(&display) {
                            display.finish();
                            summarize(&display, json);
                            return Ok(code);
                        }
                    }
                }
            }
            Ok(resp) if resp.status().is_client_error() => {
                let status = resp.status().as_u16();
                let body: Value = resp.json().await.unwrap_or(Value::Null);
                display.finish();
                return Err(api_error(status, &body));
            }
            Ok(resp) => {
                failures += 1;
                display.note(&format!("server answered HTTP {}; reconnecting…", resp.status().as_u16()));
            }
            Err(e) => {
                failures += 1;
                if last_event_id.is_none() && failures >= 3 {
                    display.finish();
                    return Err(e);
                }
                display.note(&format!("{e}; reconnecting…"));
            }
        }
        if failures > 60 {
            display.finish();
            bail!("lost the connection to the server and could not reconnect for a minute");
        }
        let backoff = Duration::from_millis((250 * u64::from(failures.max(1))).min(2000));
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = &mut ctrl_c => { display.finish(); return Ok(EXIT_INTERRUPTED) }
        }
    }
}

/// The exit code once the batch is over AND every job has settled.
/// One event of a batch's stream, read into the core's types.
enum Update {
    /// The whole batch, first on a fresh connection.
    Snapshot(Box<Batch>),
    Event(EventData),
}

impl Update {
    /// `None` for an event name this version does not know.
    fn read(ev: &SseEvent) -> Option<serde_json::Result<Update>> {
        if ev.event == "snapshot" {
            return Some(serde_json::from_str(&ev.data).map(Update::Snapshot));
        }
        let kind = EventKind::parse(&ev.event)?;
        Some(EventData::from_json(kind, &ev.data).map(Update::Event))
    }
}

fn finished(display: &Display) -> Option<u8> {
    let b = display.batch_view()?;
    if !b.is_terminal() {
        return None;
    }
    // A job still shown running has an event on its way (it ends before its batch does).
    if display.jobs().any(|j| j.status == JobStatus::Processing) {
        return None;
    }
    let failed = display.jobs().any(|j| j.status == JobStatus::Failed);
    Some(if b.status == BatchStatus::Completed && !failed { 0 } else { 1 })
}

/// The closing line, beside the progress lines (stderr with `--json`, whose stdout is events).
fn summarize(display: &Display, json: bool) {
    if let Some(b) = display.batch_view() {
        let mut line = format!("batch {}: {} jobs, {} failed", b.status, b.total_jobs, b.failed_jobs);
        if let Some(e) = &b.error {
            line.push_str(&format!(" ({e})"));
        }
        if json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }
    let _ = std::io::stdout().flush();
}

fn print_status(b: &Value) {
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
    let p = b.get("progress").cloned().unwrap_or(Value::Null);
    println!("batch    {}  {}", s(b, "batch_id"), s(b, "name"));
    println!(
        "status   {}  {:.1}%  ETA {}",
        s(b, "status"),
        p.get("progress_percentage").and_then(Value::as_f64).unwrap_or(0.0),
        p.get("estimated_remaining").and_then(Value::as_str).unwrap_or("-")
    );
    if let Some(e) = b.get("error_message").and_then(Value::as_str) {
        println!("error    {e}");
    }
    println!("{:<36}  {:<10}  {:>5}  {:<13}  FILE", "JOB", "STATUS", "%", "STAGE");
    for j in b.get("jobs").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]) {
        let pct = j.get("progress").and_then(Value::as_f64).unwrap_or(0.0) * 100.0;
        let mut line = format!(
            "{:<36}  {:<10}  {:>5.1}  {:<13}  {}",
            s(j, "job_id"),
            s(j, "status"),
            pct,
            s(j, "stage"),
            s(j, "original_filename")
        );
        if let Some(e) = j.get("error_message").and_then(Value::as_str) {
            line.push_str(&format!("  ({e})"));
        }
        println!("{line}");
    }
}

fn print_list(batches: &[Value]) {
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
    println!("{:<36}  {:<10}  {:>4}  {:>6}  {:<25}  NAME", "BATCH", "STATUS", "JOBS", "%", "CREATED");
    for b in batches {
        let pct = b.get("progress").and_then(|p| p.get("progress_percentage")).and_then(Value::as_f64).unwrap_or(0.0);
        let jobs = b.get("total_jobs").and_then(Value::as_u64).unwrap_or(0);
        println!(
            "{:<36}  {:<10}  {:>4}  {:>6.1}  {:<25}  {}",
            s(b, "batch_id"),
            s(b, "status"),
            jobs,
            pct,
            s(b, "created_at"),
            s(b, "name")
        );
    }
}

#[cfg(test)]
mod tests {
    use vidscribe_core::{BatchId, Job};

    use super::*;

    #[test]
    fn ids_from_the_command_line_cannot_change_the_path() {
        assert_eq!(seg("0192ab3c-0000"), "0192ab3c-0000");
        assert_eq!(seg("../x"), "%2E%2E%2Fx");
    }

    fn job(batch_id: BatchId, name: &str) -> Job {
        serde_json::from_value(json!({
            "job_id": "0192ab3c-0000-7000-8000-00000000abcd", "batch_id": batch_id,
            "original_filename": name, "session_name": "s", "status": "processing", "stage": "decoding",
            "progress": 0.5, "attempts": 1, "created_at": "2025-01-02T03:04:05Z",
            "session_id": "0192ab3c-0000-7000-8000-000000000002", "results_path": "results/x",
            "file_path": "uploads/x.mp4"
        }))
        .unwrap()
    }

    #[test]
    fn a_job_event_with_a_non_ascii_name_read_one_byte_at_a_time_is_the_job_it_was() {
        let batch_id = BatchId::new();
        let sent = EventData::Job(Box::new(job(batch_id, "Zoë — 東京 🎬.mp4")));
        let deleted = EventData::Deleted { batch_id };
        // As the server writes them: `id:` the seq, `event:` the kind, `data:` the payload.
        let wire = format!(
            "id: 7\nevent: job\ndata: {}\n\n: keep-alive\n\nid: 8\nevent: deleted\ndata: {}\n\n",
            serde_json::to_string(&sent).unwrap(),
            serde_json::to_string(&deleted).unwrap()
        );
        let mut parser = SseParser::default();
        let mut events = Vec::new();
        for b in wire.as_bytes() {
            events.extend(parser.feed(std::slice::from_ref(b)));
        }
        let read: Vec<EventData> = events
            .iter()
            .map(|e| match Update::read(e) {
                Some(Ok(Update::Event(data))) => data,
                _ => panic!("not an event: {e:?}"),
            })
            .collect();
        assert_eq!(read, [sent, deleted]);
        let EventData::Job(j) = &read[0] else { unreachable!() };
        assert_eq!(j.original_filename, "Zoë — 東京 🎬.mp4");
    }

    #[test]
    fn a_snapshot_is_the_whole_batch_and_unknown_or_unreadable_events_are_told_apart() {
        let ev = |event: &str, data: String| SseEvent { id: Some("1".into()), event: event.into(), data };
        let batch_id = BatchId::new();
        let batch = Batch {
            batch_id,
            name: "b".into(),
            max_concurrent: 2,
            status: BatchStatus::Pending,
            created_at: chrono::Utc::now(),
            started_at: None,
            completed_at: None,
            total_duration: 0.0,
            error_message: None,
            model: "tiny.en".into(),
            language: None,
            formats: vec![],
            vad: false,
            jobs: vec![job(batch_id, "a.mp4")],
            progress: Default::default(),
        };
        match Update::read(&ev("snapshot", serde_json::to_string(&batch).unwrap())) {
            Some(Ok(Update::Snapshot(b))) => assert_eq!(*b, batch),
            _ => panic!("the snapshot is read as the batch"),
        }
        assert!(Update::read(&ev("progress", "{}".into())).is_none(), "an event this version does not know");
        // A job event whose data is not a job is an error to show, not a silent skip.
        assert!(matches!(Update::read(&ev("job", "{\"job_id\":1}".into())), Some(Err(_))));
    }
}
