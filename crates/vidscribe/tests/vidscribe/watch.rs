//! `vidscribe serve` + the client commands: `batch watch` follows a 3-job batch live.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::support::{
    assert_wer, drain, ensure_model, max_wer, reference, run, stage, subtitle_text, wait_child, wait_for, Captured,
    Server, MODEL,
};

fn ok(out: &std::process::Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed ({:?}): {stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `vidscribe batch … watch …` running, its output collected as it comes.
fn spawn_watch(server: &Server, args: &[&str]) -> (std::process::Child, Captured, Captured) {
    let mut child =
        server.batch(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    (child, stdout, stderr)
}

#[test]
fn batch_watch_prints_every_transition_of_a_three_job_batch_and_exits_0() {
    ensure_model();
    let server = Server::start(&["--workers", "1"]);
    let t = Duration::from_secs(60);

    let id = ok(
        &run(server.batch(&["create", "--name", "three talks", "--model", MODEL, "--format", "txt,srt"]), t),
        "batch create",
    )
    .trim()
    .to_string();
    assert_eq!(id.len(), 36, "create prints the batch id: {id}");
    let inputs = tempfile::tempdir().unwrap();
    let files = stage(
        inputs.path(),
        &[
            ("talk.mp4", "video/jfk.mp4"),
            ("interview.mkv", "video/jfk.mkv"),
            ("reading.mp4", "video/librivox_0870.mp4"),
        ],
    );
    let added = ok(&run(server.batch(&["add", &id]).args(&files), t), "batch add");
    let job_ids: Vec<String> = added.lines().map(|l| l.split_whitespace().next().unwrap().to_string()).collect();
    assert_eq!(job_ids.len(), 3, "{added}");

    // Watch from before the start, so every transition happens while it is connected.
    let (mut watch, stdout, stderr) = spawn_watch(&server, &["watch", &id]);
    wait_for("watch to show the snapshot", Duration::from_secs(30), || {
        (stdout.text().matches(": queued").count() >= 3).then_some(())
    });
    ok(&run(server.batch(&["start", &id]), t), "batch start");

    let status = wait_child(&mut watch, Duration::from_secs(600)).unwrap_or_else(|| {
        let _ = watch.kill();
        panic!("watch did not end within 10 min\nstdout:\n{}\nstderr:\n{}", stdout.text(), stderr.text())
    });
    let text = stdout.text();
    assert_eq!(
        status.code(),
        Some(0),
        "watch exits 0 when the batch completed\nstdout:\n{text}\nstderr:\n{}",
        stderr.text()
    );
    assert!(text.contains("pending -> processing"), "{text}");
    assert!(text.contains("processing -> completed"), "{text}");
    for job in &job_ids {
        let short = &job[job.len() - 8..];
        for transition in ["queued -> processing", "processing -> completed"] {
            assert!(
                text.lines().any(|l| l.contains(&format!("job {short}")) && l.contains(transition)),
                "job {short}: no '{transition}' line\n{text}"
            );
        }
    }

    // The other client commands against the finished batch.
    let status: Value =
        serde_json::from_str(&ok(&run(server.batch(&["status", &id, "--json"]), t), "batch status")).unwrap();
    assert_eq!(status["batch"]["status"], "completed");
    let list = ok(&run(server.batch(&["list"]), t), "batch list");
    assert!(list.contains(&id), "{list}");
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("b.zip");
    ok(&run(server.batch(&["download", &id, "--out"]).arg(&zip), t), "batch download");
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip).unwrap()).expect("a ZIP archive");
    let names: Vec<String> = (0..archive.len()).map(|i| archive.by_index(i).unwrap().name().to_string()).collect();
    for job in &job_ids {
        let job8 = &job[job.len() - 8..];
        for f in ["transcript.txt", "subtitles.srt"] {
            assert!(
                names.iter().any(|n| n.ends_with(&format!("_{job8}/{f}"))),
                "the ZIP lacks {f} of job {job}: {names:?}"
            );
        }
    }
    let srt = dir.path().join("one.srt");
    ok(
        &run(server.batch(&["download", &id, "--job", &job_ids[0], "--format", "srt", "--out"]).arg(&srt), t),
        "job download",
    );
    let srt = std::fs::read_to_string(&srt).unwrap();
    assert!(srt.contains(" --> "), "{srt}");
    // The first job is talk.mp4: its subtitles say the JFK quote.
    assert_wer(
        "batch download --job (talk.mp4)",
        &reference("video/jfk.mp4"),
        &subtitle_text(&srt),
        max_wer("video/jfk.mp4"),
    );

    let stopped = server.stop();
    assert!(stopped.success(), "serve exits 0 after SIGTERM: {stopped:?}");
}

#[test]
fn client_errors_are_one_sentence_with_the_cause() {
    let server = Server::start(&["--workers", "0"]);
    let out = run(server.batch(&["status", "0192ab3c-0000-7000-8000-000000000000"]), Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.starts_with("error: ") && stderr.contains("404"), "{stderr}");
    let stopped = server.stop();
    assert!(stopped.success(), "{stopped:?}");

    // Nobody listens there any more.
    let out = run(
        crate::support::vidscribe().args(["batch", "list", "--server", &server_url_of_closed_port()]),
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("cannot reach the server"), "{stderr}");
}

fn server_url_of_closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

#[test]
fn batch_watch_json_streams_every_event_with_the_live_transcript_and_exits_0() {
    ensure_model();
    let server = Server::start(&["--workers", "1"]);
    let t = Duration::from_secs(60);
    let id =
        ok(&run(server.batch(&["create", "--name", "live", "--model", MODEL]), t), "batch create").trim().to_string();
    let inputs = tempfile::tempdir().unwrap();
    let files = stage(inputs.path(), &[("reading.mp4", "video/librivox_0870.mp4"), ("talk.mp4", "video/jfk.mp4")]);
    ok(&run(server.batch(&["add", &id]).args(&files), t), "batch add");
    let (mut watch, stdout, stderr) = spawn_watch(&server, &["watch", &id, "--json"]);
    wait_for("the snapshot line", Duration::from_secs(30), || stdout.text().contains("\"snapshot\"").then_some(()));
    ok(&run(server.batch(&["start", &id]), t), "batch start");
    let status = wait_child(&mut watch, Duration::from_secs(600)).unwrap_or_else(|| {
        let _ = watch.kill();
        panic!("watch --json did not end\nstdout:\n{}\nstderr:\n{}", stdout.text(), stderr.text())
    });
    let text = stdout.text();
    assert_eq!(status.code(), Some(0), "stdout:\n{text}\nstderr:\n{}", stderr.text());
    // Every stdout line is one event as JSON; nothing else is printed there.
    let events: Vec<Value> =
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    assert_eq!(events[0]["event"], "snapshot", "{text}");
    assert!(events.iter().skip(1).all(|e| e["id"].is_string()), "events carry their ids: {text}");
    let last_batch = events.iter().rev().find(|e| e["event"] == "batch").expect("batch events");
    assert_eq!(last_batch["data"]["status"], "completed");
    // The live transcript of each job, in its `segments` events, is that job's speech.
    for (file, fixture) in [("reading.mp4", "video/librivox_0870.mp4"), ("talk.mp4", "video/jfk.mp4")] {
        let job_id = events
            .iter()
            .find(|e| e["event"] == "job" && e["data"]["original_filename"] == file)
            .map(|e| e["data"]["job_id"].clone())
            .expect("job events");
        let spoken: Vec<String> = events
            .iter()
            .filter(|e| e["event"] == "segments" && e["data"]["job_id"] == job_id)
            .flat_map(|e| e["data"]["segments"].as_array().unwrap().clone())
            .map(|s| s["text"].as_str().unwrap().trim().to_string())
            .collect();
        assert_wer(&format!("{file} live"), &reference(fixture), &spoken.join(" "), max_wer(fixture));
    }
}
