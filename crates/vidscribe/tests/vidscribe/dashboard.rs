//! The dashboard in a real browser: headless Chromium driven over WebDriver (chromedriver +
//! fantoccini) against the real `vidscribe serve` on port 0 with the real Whisper engine.
//!
//! Screenshots go to `target/screenshots/` (or `$CARGO_TARGET_DIR/screenshots/`).
//! Needs `/usr/bin/chromium` + `/usr/bin/chromedriver` (Debian `chromium`, `chromium-driver`)
//! and the fixtures of `scripts/fetch-test-data`.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// Big batches in the jobs table, against a server with the instant transcriber.
#[path = "dashboard/jobs_table.rs"]
mod jobs_table;

/// The browser tests share two cores with Whisper: one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const MODEL: &str = "tiny.en";
/// From the click on Cancel to the running job shown cancelled.
const CANCEL_SHOWN_WITHIN: Duration = Duration::from_secs(15);
const XSS_NAME: &str = "<img src=x onerror=alert(1)>";

// ------------------------------------------------------------------------------ fixtures

fn testdata(name: &str) -> PathBuf {
    let root =
        std::env::var_os("VIDSCRIBE_TESTDATA").filter(|v| !v.is_empty()).map(PathBuf::from).unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/vidscribe/testdata")
        });
    let path = root.join(name);
    assert!(path.is_file(), "missing test fixture {} — run scripts/fetch-test-data", path.display());
    path
}

/// A real-speech video of `seconds`: a colour source muxed with the start of long_form.wav.
fn long_video(out: &Path, seconds: u32) -> PathBuf {
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "color=c=navy:s=160x120:r=10", "-i"])
        .arg(testdata("long_form.wav"))
        .args([
            "-t",
            &seconds.to_string(),
            "-shortest",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-ar",
            "16000",
            "-ac",
            "1",
        ])
        .args(["-movflags", "+faststart"])
        .arg(out)
        .status()
        .expect("run ffmpeg");
    assert!(status.success(), "ffmpeg built {}", out.display());
    out.to_path_buf()
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).expect("create target/screenshots");
    dir
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind a free port").local_addr().unwrap().port()
}

/// A child process killed when the test ends, however it ends.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A child in a process group of its own, killed with everything it started when the test
/// ends, however it ends: chromedriver's browser would otherwise outlive a failed test (a
/// WebDriver session is only closed by a test that gets to its end) and keep using the CPU.
struct Group(Child);

impl Group {
    fn spawn(cmd: &mut Command) -> std::io::Result<Group> {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0).spawn().map(Group)
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.0.wait();
    }
}

// ------------------------------------------------------------------------------ the server

struct Server {
    base: String,
    data_dir: tempfile::TempDir,
    _proc: Proc,
}

impl Server {
    fn start() -> Server {
        Server::start_with(&[])
    }

    /// `vidscribe serve` with `extra` arguments (e.g. `--auth-token T`).
    fn start_with(extra: &[&str]) -> Server {
        let data_dir = tempfile::tempdir().expect("temp data dir");
        let mut child = crate::support::vidscribe()
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir.path())
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn vidscribe serve");
        let stdout = child.stdout.take().expect("stdout");
        let proc = Proc(child);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.trim().strip_prefix("listening on ") {
                    let _ = tx.send(url.trim_end_matches('/').to_string());
                }
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("`vidscribe serve` printed `listening on http://…` within 60 s");
        Server { base, data_dir, _proc: proc }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

// ------------------------------------------------------------------------------ the network

/// What a request through a [`Link`] is to the dashboard's live connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `GET …/events`: the live event stream.
    Stream,
    /// `GET /api/batch/list`, `GET /api/batch/{id}`: what the page polls while the stream is down.
    Poll,
    /// Anything else: the page and its assets, uploads, actions, transcripts, media.
    Other,
}

fn kind_of(method: &str, path: &str) -> Kind {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    if path.ends_with("/events") {
        Kind::Stream
    } else if method == "GET" && segments.len() == 3 && segments[..2] == ["api", "batch"] {
        Kind::Poll
    } else {
        Kind::Other
    }
}

/// One request the link saw.
#[derive(Clone, Debug)]
struct Seen {
    kind: Kind,
    target: String,
    /// The resume point a stream request carried (`Last-Event-ID`, or `?last_event_id=`).
    resume: Option<String>,
    /// False when the link refused it: the connection closed with no answer.
    passed: bool,
}

#[derive(Default)]
struct LinkState {
    blocked: Vec<Kind>,
    seen: Vec<Seen>,
}

/// The network between the browser and the server, as a TCP relay the test can break:
/// `cut` drops every open connection mid-response (the event stream just stops, as when
/// Wi-Fi drops), and `block` refuses new requests of some kinds (the connection closes
/// with no answer, as an unreachable server looks to a browser). Each request travels on
/// its own connection (`Connection: close`), so every one is seen and classified.
struct Link {
    base: String,
    state: std::sync::Arc<std::sync::Mutex<LinkState>>,
    cut: tokio::sync::watch::Sender<u64>,
    acceptor: tokio::task::JoinHandle<()>,
}

impl Link {
    async fn start(server: &Server) -> Link {
        let upstream: std::net::SocketAddr =
            server.base.trim_start_matches("http://").parse().expect("the server's address");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the link");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = std::sync::Arc::new(std::sync::Mutex::new(LinkState::default()));
        let (cut, _) = tokio::sync::watch::channel(0u64);
        let (st, cut_tx) = (state.clone(), cut.clone());
        let acceptor = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(st.clone(), cut_tx.subscribe(), client, upstream));
            }
        });
        Link { base, state, cut, acceptor }
    }

    /// From now on, refuse new requests of these kinds (an empty list lets all through).
    fn block(&self, kinds: &[Kind]) {
        self.state.lock().unwrap().blocked = kinds.to_vec();
    }

    /// Drops every connection open now, whatever it is carrying.
    fn cut(&self) {
        self.cut.send_modify(|generation| *generation += 1);
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.acceptor.abort();
        self.cut();
    }
}

async fn relay(
    state: std::sync::Arc<std::sync::Mutex<LinkState>>,
    mut cut: tokio::sync::watch::Receiver<u64>,
    mut client: tokio::net::TcpStream,
    upstream: std::net::SocketAddr,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = Vec::new();
    let mut chunk = [0u8; 8192];
    let end = loop {
        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if head.len() > 64 * 1024 {
            return;
        }
        tokio::select! {
            read = client.read(&mut chunk) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&chunk[..n]),
            },
            _ = cut.changed() => return,
        }
    };
    let text = String::from_utf8_lossy(&head[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_string();
    let mut words = request_line.split(' ');
    let method = words.next().unwrap_or_default();
    let target = words.next().unwrap_or_default().to_string();
    let (path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
    let kind = kind_of(method, path);
    let mut resume = query.split('&').find_map(|pair| pair.strip_prefix("last_event_id=")).map(str::to_string);
    let mut forwarded = format!("{request_line}\r\n");
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        match name.trim().to_ascii_lowercase().as_str() {
            "connection" | "keep-alive" => continue,
            "last-event-id" => resume = Some(value.trim().to_string()),
            _ => {}
        }
        forwarded.push_str(line);
        forwarded.push_str("\r\n");
    }
    forwarded.push_str("Connection: close\r\n\r\n");
    let passed = {
        let mut st = state.lock().unwrap();
        let passed = !st.blocked.contains(&kind);
        st.seen.push(Seen { kind, target: target.clone(), resume, passed });
        passed
    };
    if !passed {
        return;
    }
    let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else {
        return;
    };
    if server.write_all(forwarded.as_bytes()).await.is_err() || server.write_all(&head[end..]).await.is_err() {
        return;
    }
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = cut.changed() => {}
    }
}

// ------------------------------------------------------------------------------ the browser

struct Browser {
    client: Client,
    _profile: tempfile::TempDir,
    driver: Group,
}

impl Browser {
    /// Headless Chromium; `mobile_width` emulates a phone screen of that many CSS pixels.
    async fn start(mobile_width: Option<u32>) -> Browser {
        let port = free_port();
        let driver = Group::spawn(
            Command::new("chromedriver").arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null()),
        )
        .expect("spawn chromedriver (Debian package chromium-driver)");
        let profile = tempfile::tempdir().expect("chromium profile dir");
        let mut options = json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1280,1000", "--autoplay-policy=no-user-gesture-required",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        });
        if let Some(width) = mobile_width {
            options["mobileEmulation"] =
                json!({ "deviceMetrics": { "width": width, "height": 800, "pixelRatio": 1.0 } });
        }
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("goog:chromeOptions".into(), options);
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            match ClientBuilder::native().capabilities(caps.clone()).connect(&format!("http://127.0.0.1:{port}")).await
            {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("no WebDriver session from chromedriver within 30 s: {e}"),
            }
        };
        Browser { client, _profile: profile, driver }
    }

    /// Raises the CPU priority of the browser (every process chromedriver started) above the
    /// rest of the machine's, where that is allowed: what a measurement of the page's frames
    /// then sees is the page's own work, not the builds and tests sharing the machine's cores.
    /// True when it was raised.
    fn prioritize(&self) -> bool {
        Command::new("renice")
            .args(["-n", "-10", "-g", &self.driver.0.id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// A script whose value is an array of strings.
    async fn strings(&self, script: &str) -> Vec<String> {
        let v = self.js(script).await;
        let items = v.as_array().unwrap_or_else(|| panic!("an array from {script}: {v}"));
        items.iter().map(|s| s.as_str().unwrap_or_else(|| panic!("strings from {script}: {v}")).to_string()).collect()
    }

    async fn js_with(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute(script, args).await.unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Waits (with a deadline, never a bare sleep) until `script` returns something truthy.
    async fn wait_for(&self, what: &str, within: Duration, script: &str) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let v = self.js(script).await;
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return v;
            }
            if Instant::now() > deadline {
                let page =
                    self.js("return document.querySelector('main') && document.querySelector('main').innerText").await;
                panic!("timed out after {within:?} waiting for {what}; page text:\n{}", page.as_str().unwrap_or(""));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
    }

    async fn type_into(&self, css: &str, text: &str) {
        let el = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no element {css}: {e}"));
        el.clear().await.unwrap_or_else(|e| panic!("cannot clear {css}: {e}"));
        el.send_keys(text).await.unwrap_or_else(|e| panic!("cannot type into {css}: {e}"));
    }

    async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let path = screenshot_dir().join(name);
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// Accepts the confirm() the page shows next (waiting for it to appear).
    async fn accept_confirm(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(text) = self.client.get_alert_text().await {
                self.client.accept_alert().await.expect("accept the confirmation");
                return text;
            }
            assert!(Instant::now() < deadline, "no confirmation dialog appeared");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The text of the prompt/alert the page shows next, waiting up to `within` for it.
    /// (Only alert commands while waiting: any other command would dismiss it.)
    async fn next_prompt(&self, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(text) = self.client.get_alert_text().await {
                return text;
            }
            assert!(Instant::now() < deadline, "no prompt appeared within {within:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Answers the open prompt with `text`.
    async fn answer_prompt(&self, text: &str) {
        self.client.send_alert_text(text).await.expect("type into the prompt");
        self.client.accept_alert().await.expect("accept the prompt");
    }

    async fn close(self) {
        let _ = self.client.close().await;
    }
}

// ------------------------------------------------------------------------------ page steps

/// Opens the dashboard at `base` (the server, or a [`Link`] to it) and creates a batch
/// through the form; returns its id.
async fn create_batch(b: &Browser, base: &str, name: &str, concurrency: u32, model: &str) -> String {
    create_batch_with(b, base, name, concurrency, model, true).await
}

/// [`create_batch`], with "Skip non-speech" (voice activity detection, ticked at first)
/// unticked unless `vad`.
async fn create_batch_with(b: &Browser, base: &str, name: &str, concurrency: u32, model: &str, vad: bool) -> String {
    b.client.goto(&format!("{base}/")).await.expect("open the dashboard");
    b.wait_for(
        "the live connection",
        Duration::from_secs(20),
        "return document.getElementById('conn').dataset.state === 'live'",
    )
    .await;
    b.type_into("#create-name", name).await;
    b.type_into("#create-concurrency", &concurrency.to_string()).await;
    b.type_into("#create-model", model).await;
    if !vad {
        b.click("#create-vad").await;
    }
    b.click("#create-submit").await;
    let id = b
        .wait_for(
            "the new batch's page",
            Duration::from_secs(20),
            "const m = location.hash.match(/^#\\/batch\\/([^/]+)$/); \
             return m && document.getElementById('batch-name').textContent ? decodeURIComponent(m[1]) : null",
        )
        .await;
    b.wait_for(
        "the batch stream",
        Duration::from_secs(20),
        "return document.getElementById('conn').dataset.state === 'live'",
    )
    .await;
    id.as_str().expect("batch id").to_string()
}

/// Picks `files` in the file input (many at once) and waits until every upload has ended.
async fn upload(b: &Browser, files: &[PathBuf]) {
    let before = b.js("return document.querySelectorAll('#upload-list li').length").await.as_u64().unwrap_or(0);
    let paths = files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join("\n");
    let input = b.client.find(Locator::Css("#file-input")).await.expect("file input");
    input.send_keys(&paths).await.expect("choose files");
    let total = before + files.len() as u64;
    b.wait_for(
        "every upload to end",
        Duration::from_secs(120),
        &format!(
            "const rows = document.querySelectorAll('#upload-list li'); \
             return rows.length === {total} && [...rows].every(r => r.dataset.state === 'done' || r.dataset.state === 'failed')"
        ),
    )
    .await;
}

/// Records every change of every job row (status, progress) from inside the page, so no
/// transition is missed between two WebDriver round trips. Also marks the document so a
/// reload would be noticed.
const RECORDER: &str = r#"
window.__noReload = true;
window.__history = {};
window.__batchPct = [];
const snap = () => {
  for (const li of document.querySelectorAll('#job-list tr.job')) {
    const id = li.dataset.jobId;
    const status = li.dataset.status;
    const value = Number(li.querySelector('progress.job-progress').value);
    const h = (window.__history[id] = window.__history[id] || []);
    const last = h[h.length - 1];
    if (!last || last.status !== status || last.value !== value) h.push({ status, value, name: li.querySelector('.job-name').textContent });
  }
  const pct = Number(document.getElementById('batch-progress-bar').value);
  if (window.__batchPct[window.__batchPct.length - 1] !== pct) window.__batchPct.push(pct);
};
new MutationObserver(snap).observe(document.getElementById('view-batch'), { subtree: true, childList: true, attributes: true, characterData: true });
const setValue = Object.getOwnPropertyDescriptor(HTMLProgressElement.prototype, 'value').set;
Object.defineProperty(HTMLProgressElement.prototype, 'value', {
  get: Object.getOwnPropertyDescriptor(HTMLProgressElement.prototype, 'value').get,
  set(v) { setValue.call(this, v); queueMicrotask(snap); },
  configurable: true,
});
snap();
return true;
"#;

/// Waits for `n` queued job rows, then presses Start.
async fn start_when_queued(b: &Browser, n: usize) {
    b.wait_for(
        &format!("{n} queued job rows"),
        Duration::from_secs(20),
        &format!("{} === {n}", job_rows_js("queued").trim_end_matches(';')),
    )
    .await;
    b.wait_for("Start to be enabled", Duration::from_secs(10), "return !document.getElementById('btn-start').disabled")
        .await;
    b.click("#btn-start").await;
}

fn job_rows_js(selector_status: &str) -> String {
    format!("return [...document.querySelectorAll('#job-list tr.job')].filter(li => li.dataset.status === '{selector_status}').length")
}

// ------------------------------------------------------------------------------ tests

#[tokio::test]
async fn three_videos_go_live_from_queued_to_completed_and_the_transcript_seeks_on_click() {
    let _one = ONE_AT_A_TIME.lock().await;
    // The short clips finish between two progress writes; a one-minute talk (real speech:
    // the joined prompts of long_form.wav, muxed into an mp4 here) shows its bar rising.
    let scratch = tempfile::tempdir().expect("scratch dir");
    let talk = long_video(&scratch.path().join("prompts_60s.mp4"), 60);
    let videos = [talk, testdata("video/jfk.mp4"), testdata("video/librivox_0870.mp4")];
    let server = Server::start();
    let b = Browser::start(None).await;
    let batch = create_batch(&b, &server.base, "Three talks", 1, MODEL).await;
    b.wait_for(
        "the settings line to say voice activity detection is on (the form's default)",
        Duration::from_secs(10),
        "return document.getElementById('batch-meta').textContent.includes('speech only (VAD)')",
    )
    .await;

    assert_eq!(b.js(RECORDER).await, json!(true));
    upload(&b, &videos).await;
    let states = b.js("return [...document.querySelectorAll('#upload-list li')].map(li => li.dataset.state)").await;
    assert_eq!(states, json!(["done", "done", "done"]), "every upload is accepted");
    start_when_queued(&b, 3).await;
    b.wait_for("a job processing", Duration::from_secs(120), &format!("{} >= 1", job_rows_js("processing"))).await;
    let mid = b.screenshot("dashboard_batch_processing.png").await;
    b.wait_for("every job completed", Duration::from_secs(600), &format!("{} === 3", job_rows_js("completed"))).await;
    b.wait_for(
        "the batch completed",
        Duration::from_secs(30),
        "return document.getElementById('batch-status').dataset.status === 'completed'",
    )
    .await;
    b.screenshot("dashboard_batch_completed.png").await;

    // The same document all along: nothing reloaded, and nothing polled while connected.
    assert_eq!(b.js("return window.__noReload === true").await, json!(true), "the page was never reloaded");
    let polled = b
        .js_with(
            "return performance.getEntriesByType('resource').map(e => e.name).filter(n => new URL(n).pathname === '/api/batch/' + arguments[0]).length",
            vec![json!(batch)],
        )
        .await;
    assert_eq!(polled, json!(0), "no polling of the batch while the event stream was connected");

    let history = b.js("return window.__history").await;
    let history = history.as_object().expect("history per job");
    assert_eq!(history.len(), 3, "three job rows were recorded: {history:#?}");
    for (job, steps) in history {
        let steps = steps.as_array().unwrap();
        let statuses: Vec<&str> = steps.iter().map(|s| s["status"].as_str().unwrap_or("")).collect();
        let mut order = statuses.clone();
        order.dedup();
        assert_eq!(
            order,
            ["queued", "processing", "completed"],
            "job {job} went queued → processing → completed: {steps:#?}"
        );
        let values: Vec<f64> = steps.iter().map(|s| s["value"].as_f64().unwrap_or(-1.0)).collect();
        assert!(values.windows(2).all(|w| w[1] >= w[0]), "job {job}'s progress bar never went back: {values:?}");
        assert!(
            steps.iter().any(|s| s["status"] == "processing" && s["value"].as_f64().unwrap() < 100.0),
            "job {job} showed a partial bar while processing: {steps:#?}"
        );
        assert_eq!(values.last().copied(), Some(100.0), "job {job} ends with a full bar");
    }
    let partial = history.values().flat_map(|s| s.as_array().unwrap()).any(|s| {
        let v = s["value"].as_f64().unwrap_or(0.0);
        s["status"] == "processing" && v > 0.0 && v < 100.0
    });
    assert!(partial, "some job's bar rose through a partial value while processing: {history:#?}");
    let batch_pct: Vec<f64> =
        b.js("return window.__batchPct").await.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert!(batch_pct.iter().any(|p| *p > 0.0 && *p < 100.0), "the batch bar showed partial progress: {batch_pct:?}");
    assert_eq!(batch_pct.last().copied(), Some(100.0), "the batch bar ends full: {batch_pct:?}");
    assert_eq!(b.js("return document.getElementById('batch-progress-text').textContent").await, json!("100.0%"));

    // Each completed job offers every transcript format; the batch offers its ZIP.
    let formats = b.js("return [...document.querySelector('#job-list tr.job').querySelectorAll('a.job-download')].map(a => a.dataset.format)").await;
    assert_eq!(formats, json!(["txt", "srt", "vtt", "json"]));
    assert_eq!(b.js("return !document.getElementById('btn-zip').hidden").await, json!(true), "ZIP download offered");

    // The transcript viewer of jfk.mp4: click a later segment, the player seeks there.
    b.js("[...document.querySelectorAll('#job-list tr.job')].find(li => li.querySelector('.job-name').textContent === 'jfk.mp4').querySelector('a.job-view').click(); return true").await;
    b.wait_for(
        "transcript segments",
        Duration::from_secs(20),
        "return document.querySelectorAll('#segment-list button.segment').length >= 1",
    )
    .await;
    let text = b.js("return document.getElementById('segment-list').textContent.toLowerCase()").await;
    assert!(text.as_str().unwrap().contains("ask not what your country"), "JFK's words in the transcript: {text}");
    b.wait_for(
        "the player to load the media",
        Duration::from_secs(30),
        "return document.getElementById('player').readyState >= 1",
    )
    .await;
    // A segment well after the start (a seek to ~0 s would prove nothing: the player is there).
    let starts: Vec<f64> = b
        .js("return [...document.querySelectorAll('#segment-list button.segment')].map(s => Number(s.dataset.start))")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().expect("a segment start"))
        .collect();
    let later = starts
        .iter()
        .position(|s| *s > 2.0)
        .unwrap_or_else(|| panic!("a segment of jfk.mp4 starts after 2 s: {starts:?}"));
    let target = starts[later];
    assert_eq!(
        b.js("return document.getElementById('player').currentTime").await.as_f64(),
        Some(0.0),
        "the player starts at 0 s"
    );
    b.js_with(
        "document.querySelectorAll('#segment-list button.segment')[arguments[0]].focus(); return true",
        vec![json!(later)],
    )
    .await;
    // Keyboard operation: Enter on the focused segment button.
    let focused = b.client.active_element().await.expect("focused segment");
    focused.send_keys("\u{E007}").await.expect("press Enter");
    let t = b
        .wait_for(
            "the player to seek",
            Duration::from_secs(10),
            &format!("const t = document.getElementById('player').currentTime; return Math.abs(t - {target}) < 0.5 ? t : null"),
        )
        .await;
    assert!((t.as_f64().unwrap() - target).abs() < 0.5, "currentTime {t} moved to the segment at {target}");
    assert_eq!(
        b.js(
            "const c = document.querySelector('#segment-list li.current button'); return c && Number(c.dataset.start)"
        )
        .await
        .as_f64(),
        Some(target),
        "the chosen segment is highlighted"
    );
    // And by mouse: the first segment, at least 2 s earlier.
    let first_start = starts[0];
    assert!(first_start < target - 2.0, "{starts:?}");
    b.click("#segment-list li:first-child button.segment").await;
    b.wait_for(
        "the player to seek back to the first segment",
        Duration::from_secs(10),
        &format!("return Math.abs(document.getElementById('player').currentTime - {first_start}) < 0.5"),
    )
    .await;
    assert_eq!(
        b.js(
            "const c = document.querySelector('#segment-list li.current button'); return c && Number(c.dataset.start)"
        )
        .await
        .as_f64(),
        Some(first_start),
        "the first segment is highlighted"
    );

    // The search box filters segments: a word some segments have and others lack.
    let texts = b
        .strings("return [...document.querySelectorAll('#segment-list li')].map(li => li.querySelector('.segment-text').textContent.toLowerCase())")
        .await;
    let word = texts
        .iter()
        .flat_map(|t| t.split(|c: char| !c.is_alphabetic()))
        .filter(|w| w.len() >= 4)
        .find(|w| texts.iter().any(|t| !t.contains(*w)))
        .unwrap_or_else(|| panic!("a word that only some segments contain: {texts:?}"))
        .to_string();
    let expected: Vec<bool> = texts.iter().map(|t| t.contains(&word)).collect();
    b.type_into("#segment-search", &word.to_uppercase()).await;
    let shown: Vec<bool> = b
        .js("return [...document.querySelectorAll('#segment-list li')].map(li => !li.hidden)")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_bool().unwrap())
        .collect();
    assert_eq!(
        shown, expected,
        "searching {word:?} (any case) shows exactly the segments containing it and hides the rest: {texts:?}"
    );
    assert!(shown.contains(&true) && shown.contains(&false), "{shown:?}");
    let matching = expected.iter().filter(|m| **m).count();
    assert_eq!(
        b.js("return document.getElementById('segment-count').textContent").await,
        json!(format!("{matching} of {} segments match.", texts.len()))
    );
    b.type_into("#segment-search", "").await;
    b.wait_for(
        "every segment shown again once the search is cleared",
        Duration::from_secs(5),
        "return [...document.querySelectorAll('#segment-list li')].every(li => !li.hidden)",
    )
    .await;
    let viewer = b.screenshot("dashboard_transcript_viewer.png").await;
    eprintln!("screenshots: {} {}", mid.display(), viewer.display());
    b.close().await;
}

#[tokio::test]
async fn cancelling_a_running_batch_cancels_the_running_job_and_skips_the_queued_ones() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = Server::start();
    let b = Browser::start(None).await;
    create_batch(&b, &server.base, "To be cancelled", 1, MODEL).await;
    // The long file first, so it is the one running when the batch is cancelled.
    upload(&b, &[testdata("long_form.wav")]).await;
    upload(&b, &[testdata("video/jfk.mp4"), testdata("video/librivox_0870.mp4")]).await;
    b.wait_for(
        "three queued jobs",
        Duration::from_secs(20),
        &format!("{} === 3", job_rows_js("queued").trim_end_matches(';')),
    )
    .await;
    b.click("#btn-start").await;
    b.wait_for(
        "long_form.wav transcribing",
        Duration::from_secs(300),
        "const li = [...document.querySelectorAll('#job-list tr.job')].find(l => l.querySelector('.job-name').textContent === 'long_form.wav'); \
         return li && li.dataset.status === 'processing' && Number(li.querySelector('progress').value) > 0",
    )
    .await;
    // README: a running job stops at the next heartbeat (≤ 0.5 s) or the next Whisper window
    // (tiny.en decodes a 30 s window in a few seconds on two cores), and the page shows it live.
    let cancelled_at = Instant::now();
    b.click("#btn-cancel").await;
    b.wait_for(
        "the batch cancelled",
        CANCEL_SHOWN_WITHIN,
        "return document.getElementById('batch-status').dataset.status === 'cancelled'",
    )
    .await;
    b.wait_for(
        "the running job cancelled",
        CANCEL_SHOWN_WITHIN.saturating_sub(cancelled_at.elapsed()),
        "const li = [...document.querySelectorAll('#job-list tr.job')].find(l => l.querySelector('.job-name').textContent === 'long_form.wav'); \
         return li.dataset.status === 'cancelled'",
    )
    .await;
    eprintln!("cancel shown after {:?}", cancelled_at.elapsed());
    let statuses = b
        .js("return Object.fromEntries([...document.querySelectorAll('#job-list tr.job')].map(l => [l.querySelector('.job-name').textContent, l.querySelector('.job-status').textContent]))")
        .await;
    assert_eq!(statuses["long_form.wav"], json!("⊘Cancelled"), "{statuses}");
    assert_eq!(statuses["jfk.mp4"], json!("↷Skipped"), "{statuses}");
    assert_eq!(statuses["librivox_0870.mp4"], json!("↷Skipped"), "{statuses}");
    // Status is text, not colour alone; and every cancelled/skipped job can be retried.
    assert_eq!(b.js("return document.querySelectorAll('#job-list button.job-retry').length").await, json!(3));
    assert_eq!(
        b.js("return document.getElementById('btn-cancel').hidden").await,
        json!(true),
        "nothing left to cancel"
    );
    b.screenshot("dashboard_batch_cancelled.png").await;
    b.close().await;
}

#[tokio::test]
async fn a_failed_job_shows_its_error_as_text_and_retrying_it_completes() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = Server::start();
    let b = Browser::start(None).await;
    let batch = create_batch_with(&b, &server.base, "Corrupt upload", 1, MODEL, false).await;
    // "Skip non-speech", unticked in the form, reached the batch, and its page says so.
    let created =
        reqwest::get(server.url(&format!("/api/batch/{batch}"))).await.unwrap().json::<Value>().await.unwrap();
    assert_eq!(created["batch"]["vad"], false, "{created}");
    b.wait_for(
        "the batch's settings line",
        Duration::from_secs(10),
        "const m = document.getElementById('batch-meta').textContent; return m.includes('at once') && !m.includes('VAD')",
    )
    .await;
    // A file the server refuses at upload shows its reason next to the file, and the others
    // are not aborted.
    upload(&b, &[testdata("hostile/text.mp4"), testdata("video/jfk.mp4")]).await;
    let rows = b.js("return Object.fromEntries([...document.querySelectorAll('#upload-list li')].map(l => [l.querySelector('.upload-name').textContent, [l.dataset.state, l.querySelector('.upload-state').textContent]]))").await;
    assert_eq!(rows["jfk.mp4"][0], json!("done"), "{rows}");
    assert_eq!(rows["text.mp4"][0], json!("failed"), "{rows}");
    assert!(rows["text.mp4"][1].as_str().unwrap().contains("Rejected"), "the server's reason is shown: {rows}");
    assert!(
        b.js("return document.getElementById('upload-summary').textContent")
            .await
            .as_str()
            .unwrap()
            .contains("1 rejected"),
        "the summary says a file is not in the batch"
    );
    b.wait_for(
        "one queued job",
        Duration::from_secs(20),
        &format!("{} === 1", job_rows_js("queued").trim_end_matches(';')),
    )
    .await;

    // Corrupt the stored upload after it passed the checks: decoding fails in the worker.
    let job =
        b.js("return document.querySelector('#job-list tr.job').dataset.jobId").await.as_str().unwrap().to_string();
    let detail = reqwest::get(server.url(&format!("/api/batch/{batch}"))).await.unwrap().json::<Value>().await.unwrap();
    let file_path = detail["batch"]["jobs"][0]["file_path"].as_str().expect("file_path").to_string();
    let stored = server.data_dir.path().join(&file_path);
    let original = std::fs::read(&stored).expect("the stored upload");
    let mut corrupt = original.clone();
    let keep = corrupt.len() / 3;
    for (i, byte) in corrupt.iter_mut().enumerate().skip(keep) {
        *byte = (i as u8).wrapping_mul(31) ^ 0x5a;
    }
    corrupt.truncate(corrupt.len() / 2);
    std::fs::write(&stored, &corrupt).expect("corrupt the stored upload");

    b.click("#btn-start").await;
    // The start confirmation: one file was rejected and is not in the batch.
    let question = b.accept_confirm().await;
    assert!(question.contains("failed to upload"), "{question}");
    b.wait_for("the job failed", Duration::from_secs(300), &format!("{} === 1", job_rows_js("failed"))).await;
    let error = b
        .js("const e = document.querySelector('#job-list tr.job .job-error'); return !e.hidden && e.textContent")
        .await;
    let error = error.as_str().expect("an error message is shown").to_string();
    assert!(error.starts_with("Error: ") && error.len() > "Error: ".len() + 3, "{error}");
    // Rendered as text: the message is the node's only content.
    assert_eq!(b.js("return document.querySelector('#job-list tr.job .job-error').children.length").await, json!(0));
    let api_error =
        reqwest::get(server.url(&format!("/api/batch/{batch}"))).await.unwrap().json::<Value>().await.unwrap()["batch"]
            ["jobs"][0]["error_message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
    assert_eq!(error, format!("Error: {api_error}"), "the server's message, verbatim");
    b.screenshot("dashboard_job_failed.png").await;

    // Repair the file and retry from the page: queued again, then completed.
    std::fs::write(&stored, &original).expect("restore the upload");
    b.click(&format!("#job-list tr[data-job-id='{job}'] button.job-retry")).await;
    b.wait_for("the retried job completed", Duration::from_secs(300), &format!("{} === 1", job_rows_js("completed")))
        .await;
    assert_eq!(
        b.js("return document.querySelector('#job-list tr.job .job-error').hidden").await,
        json!(true),
        "the old error is gone once the retry succeeded"
    );
    b.close().await;
}

#[tokio::test]
async fn a_hostile_batch_name_renders_literally_at_phone_width_and_the_batch_can_be_deleted() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = Server::start();
    let b = Browser::start(Some(360)).await;
    create_batch(&b, &server.base, XSS_NAME, 2, MODEL).await;
    assert_eq!(b.js("return document.getElementById('batch-name').textContent").await, json!(XSS_NAME));
    assert_eq!(b.js("return document.querySelectorAll('img').length").await, json!(0), "no img element was created");
    assert_eq!(b.js("return window.innerWidth").await, json!(360));
    assert_eq!(
        b.js("return document.documentElement.scrollWidth <= window.innerWidth").await,
        json!(true),
        "nothing overflows a 360 px screen"
    );
    b.screenshot("dashboard_360px_batch.png").await;

    // In the list too.
    b.click("a.back").await;
    b.wait_for(
        "the batch in the list",
        Duration::from_secs(20),
        "return document.querySelectorAll('#batch-list li').length === 1",
    )
    .await;
    assert_eq!(b.js("return document.querySelector('#batch-list .batch-link').textContent").await, json!(XSS_NAME));
    assert_eq!(b.js("return document.querySelectorAll('img').length").await, json!(0));
    assert_eq!(b.js("return document.documentElement.scrollWidth <= window.innerWidth").await, json!(true));
    b.screenshot("dashboard_360px_list.png").await;

    // Delete, with confirmation; the list updates live.
    b.click("#batch-list .batch-link").await;
    b.wait_for(
        "the batch page",
        Duration::from_secs(20),
        "return document.getElementById('batch-name').textContent.length > 0",
    )
    .await;
    b.click("#btn-delete").await;
    let question = b.accept_confirm().await;
    assert!(question.contains(XSS_NAME), "the confirmation names the batch: {question}");
    b.wait_for("the list without the batch", Duration::from_secs(20), "return !document.getElementById('view-list').hidden && document.querySelectorAll('#batch-list li').length === 0").await;
    b.close().await;
}

// ------------------------------------------------------------------------------ the live connection

/// The dashboard's polling interval while its stream is down (`POLL_MS` in web/js/live.js).
const POLL_EVERY: Duration = Duration::from_millis(3000);

const CONN_STATE: &str = "return document.getElementById('conn').dataset.state";

/// The batch as the server has it (asked directly, not through any link).
async fn api_batch(server: &Server, batch: &str) -> Value {
    reqwest::get(server.url(&format!("/api/batch/{batch}")))
        .await
        .expect("GET the batch")
        .json::<Value>()
        .await
        .expect("the batch as JSON")["batch"]
        .clone()
}

/// Waits until the server itself says the batch has `status`.
async fn until_api_batch_status(server: &Server, batch: &str, status: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let api = api_batch(server, batch).await;
        if api["status"] == status {
            return;
        }
        assert!(Instant::now() < deadline, "the batch did not reach {status} within {within:?}: {api:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The id of the job row showing `name`.
async fn job_id_named(b: &Browser, name: &str) -> String {
    b.js_with(
        "const li = [...document.querySelectorAll('#job-list tr.job')].find(l => l.querySelector('.job-name').textContent === arguments[0]); return li ? li.dataset.jobId : null",
        vec![json!(name)],
    )
    .await
    .as_str()
    .unwrap_or_else(|| panic!("no job row for {name}"))
    .to_string()
}

fn job_status_js(job: &str) -> String {
    format!(
        "const li = document.querySelector(\"#job-list tr.job[data-job-id='{job}']\"); return li && li.dataset.status"
    )
}

/// The batch page shows what the server has: the batch's status, every job's status, every
/// count and the progress figure.
async fn assert_page_matches_api(b: &Browser, server: &Server, batch: &str) {
    assert_page_shows(b, &api_batch(server, batch).await).await;
}

/// The batch page shows `api` (the batch as the server has it): see [`assert_page_matches_api`].
async fn assert_page_shows(b: &Browser, api: &Value) {
    let page = b
        .js("return { status: document.getElementById('batch-status').dataset.status, \
             jobs: Object.fromEntries([...document.querySelectorAll('#job-list tr.job')].map(li => [li.dataset.jobId, li.dataset.status])), \
             counts: Object.fromEntries([...document.querySelectorAll('#batch-counts dd[data-count]')].map(dd => [dd.dataset.count, Number(dd.textContent)])), \
             pct: document.getElementById('batch-progress-text').textContent }")
        .await;
    assert_eq!(page["status"], api["status"], "the batch's status: page {page:#} api {api:#}");
    let api_jobs: serde_json::Map<String, Value> = api["jobs"]
        .as_array()
        .expect("the API's jobs")
        .iter()
        .map(|j| (j["job_id"].as_str().unwrap().to_string(), j["status"].clone()))
        .collect();
    assert_eq!(page["jobs"], Value::Object(api_jobs), "every job's status: page {page:#} api {api:#}");
    for key in [
        "total_jobs",
        "queued_jobs",
        "processing_jobs",
        "completed_jobs",
        "failed_jobs",
        "skipped_jobs",
        "cancelled_jobs",
    ] {
        assert_eq!(page["counts"][key].as_u64(), api["progress"][key].as_u64(), "{key}: page {page:#} api {api:#}");
    }
    let pct = api["progress"]["progress_percentage"].as_f64().expect("progress_percentage");
    assert_eq!(page["pct"], json!(format!("{pct:.1}%")), "the progress figure");
}

/// The job's recorded statuses (see [`RECORDER`]), consecutive repeats merged.
fn statuses_of(history: &Value, job: &str) -> Vec<String> {
    let mut out: Vec<String> = history[job]
        .as_array()
        .unwrap_or_else(|| panic!("no history of job {job}: {history:#}"))
        .iter()
        .map(|s| s["status"].as_str().unwrap_or_default().to_string())
        .collect();
    out.dedup();
    out
}

#[tokio::test]
async fn a_cut_event_stream_resumes_without_a_reload_and_the_page_misses_nothing_that_happened_meanwhile() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = Server::start();
    let link = Link::start(&server).await;
    let b = Browser::start(None).await;
    let batch = create_batch(&b, &link.base, "Cut stream", 1, MODEL).await;
    // One at a time, so the worker takes them in this order.
    upload(&b, &[testdata("video/jfk.mp4")]).await;
    upload(&b, &[testdata("video/librivox_0870.mp4")]).await;
    b.wait_for(
        "two queued jobs",
        Duration::from_secs(20),
        &format!("{} === 2", job_rows_js("queued").trim_end_matches(';')),
    )
    .await;
    let first = job_id_named(&b, "jfk.mp4").await;
    let second = job_id_named(&b, "librivox_0870.mp4").await;
    assert_eq!(b.js(RECORDER).await, json!(true));

    b.click("#btn-start").await;
    b.wait_for(
        "jfk.mp4 processing, live",
        Duration::from_secs(120),
        &format!("{} === 'processing'", job_status_js(&first).trim_end_matches(';')),
    )
    .await;
    // The network drops: the open stream stops mid-response and nothing gets through.
    link.block(&[Kind::Stream, Kind::Poll, Kind::Other]);
    link.cut();
    let mark = link.seen().len();
    b.wait_for(
        "the page to notice the stream is gone",
        Duration::from_secs(5),
        &format!("{} !== 'live'", CONN_STATE.trim_end_matches(';')),
    )
    .await;
    assert_eq!(
        b.js(&job_status_js(&second)).await,
        json!("queued"),
        "the second job had not started when the network dropped"
    );
    // Meanwhile the server runs the whole batch: the second job's whole life is missed.
    until_api_batch_status(&server, &batch, "completed", Duration::from_secs(300)).await;
    assert_eq!(
        b.js(&job_status_js(&second)).await,
        json!("queued"),
        "nothing reached the page while the network was down"
    );
    assert_ne!(b.js(CONN_STATE).await, json!("live"));

    // The network comes back for the stream only (polls still refused), so whatever the
    // page shows next came through the resumed stream.
    link.block(&[Kind::Poll]);
    b.wait_for(
        "the page live again",
        Duration::from_secs(20),
        &format!("{} === 'live'", CONN_STATE.trim_end_matches(';')),
    )
    .await;
    b.wait_for(
        "the batch completed on the page",
        Duration::from_secs(10),
        "return document.getElementById('batch-status').dataset.status === 'completed'",
    )
    .await;
    assert_page_matches_api(&b, &server, &batch).await;

    let seen = link.seen()[mark..].to_vec();
    let streams: Vec<&Seen> = seen.iter().filter(|s| s.kind == Kind::Stream && s.passed).collect();
    assert!(!streams.is_empty(), "the page reopened its stream: {seen:#?}");
    assert!(streams.iter().all(|s| s.target.starts_with(&format!("/api/batch/{batch}/events"))));
    for s in &streams {
        let resume = s.resume.as_deref().unwrap_or_else(|| {
            panic!("the reopened stream resumes from the last event seen, not from a fresh snapshot: {s:?}")
        });
        assert!(resume.parse::<u64>().is_ok(), "a sequence number: {s:?}");
    }
    assert!(!seen.iter().any(|s| s.kind == Kind::Poll && s.passed), "no poll got through: {seen:#?}");
    // Missing nothing: the second job went queued → processing → completed on the page,
    // though all of it happened while the page was cut off.
    let history = b.js("return window.__history").await;
    assert_eq!(statuses_of(&history, &first), ["queued", "processing", "completed"]);
    assert_eq!(
        statuses_of(&history, &second),
        ["queued", "processing", "completed"],
        "the events missed while cut off were replayed in order: {history:#}"
    );
    assert_eq!(b.js("return window.__noReload === true").await, json!(true), "the page recovered without a reload");
    b.screenshot("dashboard_stream_resumed.png").await;
    b.close().await;
}

#[tokio::test]
async fn while_the_event_stream_is_down_the_page_polls_and_stops_polling_once_it_is_back() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = Server::start();
    let link = Link::start(&server).await;
    let b = Browser::start(None).await;
    let batch = create_batch(&b, &link.base, "Polled", 1, MODEL).await;
    upload(&b, &[testdata("video/jfk.mp4")]).await;
    b.wait_for(
        "a queued job",
        Duration::from_secs(20),
        &format!("{} === 1", job_rows_js("queued").trim_end_matches(';')),
    )
    .await;
    let job = job_id_named(&b, "jfk.mp4").await;
    assert_eq!(b.js(RECORDER).await, json!(true));

    // Only the stream is refused: the server stays reachable.
    link.block(&[Kind::Stream]);
    link.cut();
    b.wait_for(
        "the page to say it is polling",
        Duration::from_secs(5),
        "const c = document.getElementById('conn'); return c.dataset.state === 'reconnecting' && c.textContent.includes('polling')",
    )
    .await;
    let mark = link.seen().len();
    b.click("#btn-start").await;
    b.wait_for(
        "the job completed, by polling",
        Duration::from_secs(120),
        &format!("{} === 'completed'", job_status_js(&job).trim_end_matches(';')),
    )
    .await;
    b.wait_for(
        "the batch completed, by polling",
        Duration::from_secs(2 * POLL_EVERY.as_secs() + 2),
        "return document.getElementById('batch-status').dataset.status === 'completed'",
    )
    .await;
    assert_page_matches_api(&b, &server, &batch).await;
    let seen = link.seen()[mark..].to_vec();
    assert!(!seen.iter().any(|s| s.kind == Kind::Stream && s.passed), "no stream got through: {seen:#?}");
    let polls = seen.iter().filter(|s| s.kind == Kind::Poll && s.passed).count();
    assert!(polls >= 1, "the page polled the batch: {seen:#?}");
    assert!(seen.iter().any(|s| s.kind == Kind::Stream && !s.passed), "it kept trying to reopen the stream: {seen:#?}");
    assert_ne!(b.js(CONN_STATE).await, json!("live"));

    // The stream comes back: the page goes live and polls no more.
    link.block(&[]);
    b.wait_for(
        "the page live again",
        Duration::from_secs(20),
        &format!("{} === 'live'", CONN_STATE.trim_end_matches(';')),
    )
    .await;
    let polls_when_live = link.seen().iter().filter(|s| s.kind == Kind::Poll).count();
    tokio::time::sleep(POLL_EVERY + Duration::from_secs(1)).await;
    let after: Vec<Seen> = link.seen().into_iter().filter(|s| s.kind == Kind::Poll).skip(polls_when_live).collect();
    assert!(after.is_empty(), "no polling once the stream is back: {after:#?}");
    assert_page_matches_api(&b, &server, &batch).await;
    // Coming back never showed older states than polling had (a resumed stream replays the
    // events of the outage: the row would go completed → processing → completed).
    let history = b.js("return window.__history").await;
    let statuses = statuses_of(&history, &job);
    assert!(
        statuses == ["queued", "completed"] || statuses == ["queued", "processing", "completed"],
        "the job's row went forward only: {statuses:?}"
    );
    let values: Vec<f64> =
        history[&job].as_array().unwrap().iter().map(|s| s["value"].as_f64().unwrap_or(-1.0)).collect();
    assert!(values.windows(2).all(|w| w[1] >= w[0]), "its bar never went back: {values:?}");
    assert_eq!(b.js("return window.__noReload === true").await, json!(true));
    b.close().await;
}

// ------------------------------------------------------------------------------ the token

const TOKEN: &str = "s3cret-T0ken";

/// Counts the prompts the page shows from now on (`window.__prompts`).
const COUNT_PROMPTS: &str = "window.__prompts = 0; const ask = window.prompt; \
    window.prompt = (...a) => { window.__prompts += 1; return ask.apply(window, a); }; return true";

#[tokio::test]
async fn a_token_protected_server_asks_for_the_token_once_and_works_after_and_a_wrong_token_is_told() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = Server::start_with(&["--auth-token", TOKEN]);
    let list = reqwest::get(server.url("/api/batch/list")).await.unwrap();
    assert_eq!(list.status(), 401, "the API is closed without the token");
    let b = Browser::start(None).await;

    // The page asks, once; the token entered is used for everything after.
    b.client.goto(&server.url("/")).await.expect("open the dashboard");
    let question = b.next_prompt(Duration::from_secs(10)).await;
    assert_eq!(question, "This Vidscribe server needs an access token:");
    b.answer_prompt(TOKEN).await;
    // (Any further prompt makes the next WebDriver command fail: "unexpected alert open".)
    b.wait_for(
        "the page live with the token",
        Duration::from_secs(10),
        &format!("{} === 'live'", CONN_STATE.trim_end_matches(';')),
    )
    .await;
    assert_eq!(b.js("return document.getElementById('btn-token').hidden").await, json!(true));
    // Kept for the session: opening the page again asks nothing.
    let batch = create_batch(&b, &server.base, "Behind a token", 1, MODEL).await;
    assert_eq!(b.js(COUNT_PROMPTS).await, json!(true));
    upload(&b, &[testdata("video/jfk.mp4")]).await;
    assert_eq!(
        b.js("return [...document.querySelectorAll('#upload-list li')].map(li => li.dataset.state)").await,
        json!(["done"]),
        "the upload was accepted"
    );
    b.wait_for("Start to be enabled", Duration::from_secs(10), "return !document.getElementById('btn-start').disabled")
        .await;
    b.click("#btn-start").await;
    b.wait_for("the job completed", Duration::from_secs(120), &format!("{} === 1", job_rows_js("completed"))).await;
    assert_eq!(b.js(CONN_STATE).await, json!("live"), "live all along");
    // A download link carries the token (links cannot send headers); without it, 401.
    let href = b
        .js("return document.querySelector('#job-list a.job-download[data-format=txt]').href")
        .await
        .as_str()
        .expect("a TXT link")
        .to_string();
    let with = reqwest::get(&href).await.unwrap();
    assert_eq!(with.status(), 200, "{href}");
    assert!(with.text().await.unwrap().to_lowercase().contains("ask not what your country"));
    let bare = href.split('?').next().unwrap();
    assert_eq!(reqwest::get(bare).await.unwrap().status(), 401, "{bare}");
    // The viewer: its transcript (a header) and its media (a query token) both load.
    b.click("#job-list a.job-view").await;
    b.wait_for(
        "transcript segments",
        Duration::from_secs(20),
        "return document.querySelectorAll('#segment-list button.segment').length >= 1",
    )
    .await;
    b.wait_for(
        "the player to load the media",
        Duration::from_secs(30),
        "return document.getElementById('player').readyState >= 1",
    )
    .await;
    assert_eq!(b.js("return document.getElementById('player-note').hidden").await, json!(true));
    assert_eq!(b.js("return window.__prompts").await, json!(0), "asked once only");
    let api = reqwest::Client::new()
        .get(server.url(&format!("/api/batch/{batch}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(api["batch"]["status"], json!("completed"), "{api:#}");

    // A new session with a wrong token: asked again, saying the token was not accepted;
    // declining leaves a clear state and a way to enter it, and nothing more is asked.
    b.js("sessionStorage.clear(); location.hash = '#/'; return true").await;
    b.client.refresh().await.expect("reload the page");
    let question = b.next_prompt(Duration::from_secs(10)).await;
    assert_eq!(question, "This Vidscribe server needs an access token:");
    b.answer_prompt("not-the-token").await;
    let again = b.next_prompt(Duration::from_secs(10)).await;
    assert_eq!(again, "The access token was not accepted by this Vidscribe server. Enter the access token:");
    b.client.dismiss_alert().await.expect("decline");
    b.wait_for(
        "the page to say the token was refused",
        Duration::from_secs(5),
        "const c = document.getElementById('conn'); return c.dataset.state === 'offline' && c.textContent.trim() === 'Access token not accepted' && !document.getElementById('btn-token').hidden",
    )
    .await;
    assert_eq!(b.js(COUNT_PROMPTS).await, json!(true));
    assert_eq!(
        b.js("return document.querySelectorAll('#batch-list li').length").await,
        json!(0),
        "nothing shown without a valid token"
    );
    // Declined: no more questions by itself (it stopped polling and reconnecting).
    tokio::time::sleep(POLL_EVERY + Duration::from_secs(1)).await;
    assert_eq!(b.js("return window.__prompts").await, json!(0));
    assert_eq!(
        b.js("return document.getElementById('conn').textContent.trim()").await,
        json!("Access token not accepted")
    );
    // The button asks again; the right token brings the page to life.
    b.click("#btn-token").await;
    b.next_prompt(Duration::from_secs(5)).await;
    b.answer_prompt(TOKEN).await;
    b.wait_for(
        "the list with the batch",
        Duration::from_secs(10),
        &format!(
            "return document.getElementById('conn').dataset.state === 'live' && [...document.querySelectorAll('#batch-list li')].map(li => li.dataset.batchId).join() === '{batch}'"
        ),
    )
    .await;
    assert_eq!(b.js("return window.__prompts").await, json!(1), "one question for one click");
    assert_eq!(b.js("return document.getElementById('btn-token').hidden").await, json!(true));
    b.screenshot("dashboard_token.png").await;
    b.close().await;
}

#[tokio::test]
async fn a_running_jobs_transcript_grows_in_the_viewer_and_ends_as_the_final_one() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = Server::start();
    let b = Browser::start(None).await;
    create_batch(&b, &server.base, "Live text", 1, MODEL).await;
    // 392 s of speech: about twenty windows, committed every 2 s while it runs.
    upload(&b, &[testdata("long_form.wav")]).await;
    start_when_queued(&b, 1).await;
    b.wait_for(
        "the Live text link of the running job",
        Duration::from_secs(120),
        "return !!document.querySelector('a.job-live')",
    )
    .await;
    b.click("a.job-live").await;
    // The viewer opens on what the job has so far and grows while it runs.
    let first = b
        .wait_for(
            "live segments in the viewer while the job runs",
            Duration::from_secs(120),
            "const l = document.getElementById('segment-list'); \
             return l.dataset.live === 'true' && l.children.length > 0 ? l.children.length : null",
        )
        .await;
    let first = first.as_u64().unwrap();
    assert!(
        b.js("return document.getElementById('segment-count').textContent").await.as_str().unwrap().contains("so far"),
        "the count says the transcript is not finished"
    );
    b.wait_for(
        "more segments arriving over the stream",
        Duration::from_secs(120),
        &format!("return document.getElementById('segment-list').children.length > {first}"),
    )
    .await;
    // When the job completes the viewer shows the final transcript: the same as the API's.
    b.wait_for(
        "the final transcript",
        Duration::from_secs(300),
        "return document.getElementById('segment-list').dataset.live === 'false'",
    )
    .await;
    let shown =
        b.js("return [...document.querySelectorAll('#segment-list .segment-text')].map(s => s.textContent)").await;
    let batch = b.js("return decodeURIComponent(location.hash.split('/')[2])").await;
    let job = b.js("return decodeURIComponent(location.hash.split('/')[4])").await;
    let url =
        server.url(&format!("/api/batch/{}/jobs/{}/transcript.json", batch.as_str().unwrap(), job.as_str().unwrap()));
    let t = reqwest::get(url).await.unwrap().json::<Value>().await.unwrap();
    let want: Vec<String> =
        t["segments"].as_array().unwrap().iter().map(|s| s["text"].as_str().unwrap().trim().to_string()).collect();
    assert_eq!(shown, json!(want), "the viewer ends with the final transcript");
    assert!(
        b.js("return document.getElementById('segment-count').textContent").await
            == json!(format!("{} segments.", want.len()))
    );
    b.close().await;
}
