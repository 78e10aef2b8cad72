//! Reusable test helpers (feature `testing`): start the server on port 0, a small API client,
//! an SSE reader over reqwest streaming with a tiny SSE parser, wait-with-deadline helpers,
//! and generated media. Used by this crate's tests and benches and by the end-to-end tests of
//! the `vidscribe` binary.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};
use tokio::task::JoinHandle;

use crate::state::AppState;

/// A server running on `127.0.0.1:<free port>` until [`TestServer::stop`] or drop.
pub struct TestServer {
    pub addr: SocketAddr,
    pub state: AppState,
    handle: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Serves `state` on a fresh port (the configured `addr` is ignored).
    pub async fn start(state: AppState) -> std::io::Result<Self> {
        let listener = crate::bind("127.0.0.1:0".parse().expect("addr")).await?;
        let addr = listener.local_addr()?;
        let s = state.clone();
        let handle = tokio::spawn(crate::serve(listener, s, std::future::pending()));
        Ok(Self { addr, state, handle: Some(handle) })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A client for this server, with the configured token if any.
    pub fn client(&self) -> ApiClient {
        ApiClient::new(self.url(""), self.state.config.auth_token.clone())
    }

    /// Graceful shutdown: SSE streams end, in-flight requests finish.
    pub async fn stop(mut self) {
        self.state.shutdown.cancel();
        if let Some(h) = self.handle.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), h).await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.state.shutdown.cancel();
        if let Some(h) = self.handle.take() {
            h.abort();
        }
    }
}

/// A response: status and JSON body (`Value::Null` when not JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body.get("code").and_then(Value::as_str).unwrap_or("")
    }

    pub fn is_success(&self) -> bool {
        self.status == 200 && self.body.get("success") == Some(&Value::Bool(true))
    }

    /// Panics with the body unless the reply is a 200 success.
    pub fn ok(self) -> Value {
        assert!(self.is_success(), "expected success, got {} {}", self.status, self.body);
        self.body
    }
}

/// A thin client of the Vidscribe API.
#[derive(Debug, Clone)]
pub struct ApiClient {
    pub http: reqwest::Client,
    pub base: String,
    pub token: Option<String>,
}

impl ApiClient {
    pub fn new(base: impl Into<String>, token: Option<String>) -> Self {
        let http = reqwest::Client::builder().pool_max_idle_per_host(64).build().expect("http client");
        Self { http, base: base.into().trim_end_matches('/').to_string(), token }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let rb = self.http.request(method, self.url(path));
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    pub async fn send(&self, rb: reqwest::RequestBuilder) -> reqwest::Result<Reply> {
        let resp = rb.send().await?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Reply { status, body })
    }

    pub async fn get(&self, path: &str) -> reqwest::Result<Reply> {
        self.send(self.request(reqwest::Method::GET, path)).await
    }

    pub async fn post(&self, path: &str) -> reqwest::Result<Reply> {
        self.send(self.request(reqwest::Method::POST, path)).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Result<Reply> {
        self.send(self.request(reqwest::Method::POST, path).json(body)).await
    }

    pub async fn delete(&self, path: &str) -> reqwest::Result<Reply> {
        self.send(self.request(reqwest::Method::DELETE, path)).await
    }

    /// Creates a batch and returns its id.
    pub async fn create_batch(&self, body: Value) -> String {
        let r = self.post_json("/api/batch/create", &body).await.expect("create request").ok();
        r["batch_id"].as_str().expect("batch_id").to_string()
    }

    /// Uploads `bytes` as `filename` (raw reply, for checking rejections).
    pub async fn add_video_raw(
        &self,
        batch_id: Option<&str>,
        filename: &str,
        bytes: Option<Vec<u8>>,
        session_name: Option<&str>,
    ) -> reqwest::Result<Reply> {
        let mut form = reqwest::multipart::Form::new();
        if let Some(b) = batch_id {
            form = form.text("batch_id", b.to_string());
        }
        if let Some(s) = session_name {
            form = form.text("session_name", s.to_string());
        }
        if let Some(bytes) = bytes {
            form = form.part("file", reqwest::multipart::Part::bytes(bytes).file_name(filename.to_string()));
        }
        self.send(self.request(reqwest::Method::POST, "/api/batch/add-video").multipart(form)).await
    }

    /// Uploads and returns the job id (panics on rejection).
    pub async fn add_video(&self, batch_id: &str, filename: &str, bytes: Vec<u8>) -> String {
        let r = self.add_video_raw(Some(batch_id), filename, Some(bytes), None).await.expect("upload request").ok();
        r["job_id"].as_str().expect("job_id").to_string()
    }

    pub async fn start(&self, batch_id: &str) -> Reply {
        self.post(&format!("/api/batch/{batch_id}/start")).await.expect("start request")
    }

    pub async fn batch(&self, batch_id: &str) -> Value {
        self.get(&format!("/api/batch/{batch_id}")).await.expect("get request").ok()["batch"].clone()
    }

    /// Polls the batch until `done(batch)` holds; panics with the last state at the deadline.
    pub async fn wait_for_batch(&self, batch_id: &str, within: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        let ok = wait_until(
            within,
            || {
                let c = self.clone();
                let id = batch_id.to_string();
                async move { c.batch(&id).await }
            },
            |b: &Value| {
                last = b.clone();
                done(b)
            },
        )
        .await;
        ok.unwrap_or_else(|| {
            panic!("batch {batch_id} did not reach the expected state within {within:?}; last: {last}")
        })
    }

    /// Opens an SSE stream (`/api/events` or `/api/batch/{id}/events`).
    pub async fn sse(&self, path: &str, last_event_id: Option<i64>) -> reqwest::Result<SseClient> {
        let mut rb = self.request(reqwest::Method::GET, path).header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            rb = rb.header("last-event-id", id.to_string());
        }
        let resp = rb.send().await?.error_for_status()?;
        Ok(SseClient::new(resp))
    }
}

/// Calls `probe` until `done` accepts its value or `within` passes (then `None`). Never a bare sleep.
pub async fn wait_until<T, F, Fut>(within: Duration, mut probe: F, mut done: impl FnMut(&T) -> bool) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let deadline = Instant::now() + within;
    let mut pause = Duration::from_millis(5);
    loop {
        let v = probe().await;
        if done(&v) {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

pub use crate::sse::{SseEvent, SseParser};

/// Why [`SseClient::next`] returned no event.
#[derive(Debug)]
pub enum SseEnd {
    /// The server ended the response body cleanly.
    Closed,
    /// Nothing arrived in time; the stream is still open.
    TimedOut,
    /// The connection broke (reset, malformed chunk, …).
    Failed(reqwest::Error),
}

impl std::fmt::Display for SseEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Closed => f.write_str("the server closed the stream"),
            Self::TimedOut => f.write_str("no event arrived in time (the stream is still open)"),
            Self::Failed(e) => write!(f, "the stream failed: {e}"),
        }
    }
}

impl std::error::Error for SseEnd {}

/// Reads events from a streaming response.
pub struct SseClient {
    stream: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    parser: SseParser,
    pending: std::collections::VecDeque<SseEvent>,
}

impl SseClient {
    pub fn new(resp: reqwest::Response) -> Self {
        Self { stream: resp.bytes_stream().boxed(), parser: SseParser::default(), pending: Default::default() }
    }

    /// The next event; otherwise why none came: the server closed the stream, `within`
    /// passed with the stream still open, or the connection failed.
    pub async fn next(&mut self, within: Duration) -> Result<SseEvent, SseEnd> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Ok(e);
            }
            let chunk = match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return Err(SseEnd::TimedOut),
                Ok(None) => return Err(SseEnd::Closed),
                Ok(Some(Err(e))) => return Err(SseEnd::Failed(e)),
                Ok(Some(Ok(chunk))) => chunk,
            };
            self.pending.extend(self.parser.feed(&chunk));
        }
    }

    /// Skips events until `pred` accepts one (returned); otherwise why none came in time.
    pub async fn wait_for(
        &mut self,
        within: Duration,
        mut pred: impl FnMut(&SseEvent) -> bool,
    ) -> Result<SseEvent, SseEnd> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let e = self.next(left).await?;
            if pred(&e) {
                return Ok(e);
            }
        }
    }

    /// Panics unless the stream stays open and silent (keep-alive comments aside) for `within`.
    pub async fn expect_quiet(&mut self, within: Duration) {
        match self.next(within).await {
            Err(SseEnd::TimedOut) => {}
            Ok(e) => panic!("expected no event for {within:?}, got {e:?}"),
            Err(end) => panic!("expected the stream to stay open for {within:?}, but {end}"),
        }
    }

    /// Panics unless the server ends the stream cleanly within `within`, with no event before.
    pub async fn expect_closed(&mut self, within: Duration) {
        match self.next(within).await {
            Err(SseEnd::Closed) => {}
            Ok(e) => panic!("expected the stream to end, got an event: {e:?}"),
            Err(end) => panic!("expected the server to end the stream within {within:?}, but {end}"),
        }
    }

    /// Keep-alive comments seen so far.
    pub fn comments(&self) -> usize {
        self.parser.comments
    }
}

/// A valid PCM WAV (16-bit mono) of `seconds` of a quiet 440 Hz tone.
pub fn wav_bytes(seconds: f64, sample_rate: u32) -> Vec<u8> {
    let n = (seconds * f64::from(sample_rate)).round() as u32;
    let tone: Vec<f32> = (0..n)
        .map(|i| {
            ((f64::from(i) / f64::from(sample_rate) * 440.0 * std::f64::consts::TAU).sin() * 3000.0 / 32767.0) as f32
        })
        .collect();
    vidscribe_media::testdata::wav(&tone, sample_rate)
}

/// Bytes no sniffer takes for media, whatever the file is called.
pub fn not_media_bytes() -> Vec<u8> {
    b"#!/bin/sh\necho this is a shell script pretending to be a video\n".repeat(64)
}

/// `{"name": …}` etc. for `create_batch`.
pub fn batch_body(name: &str, max_concurrent: u32) -> Value {
    json!({ "name": name, "max_concurrent": max_concurrent })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_over(body: reqwest::Body) -> SseClient {
        SseClient::new(reqwest::Response::from(axum::http::Response::new(body)))
    }

    #[tokio::test]
    async fn the_client_tells_a_closed_stream_from_a_silent_one() {
        let one = futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"id: 1\ndata: x\n\n"))]);
        let mut closed = client_over(reqwest::Body::wrap_stream(one));
        assert_eq!(closed.next(Duration::from_secs(5)).await.unwrap().data, "x");
        assert!(matches!(closed.next(Duration::from_secs(5)).await, Err(SseEnd::Closed)));
        closed.expect_closed(Duration::from_secs(5)).await;

        let silent = futures::stream::pending::<Result<bytes::Bytes, std::io::Error>>();
        let mut open = client_over(reqwest::Body::wrap_stream(silent));
        assert!(matches!(open.next(Duration::from_millis(50)).await, Err(SseEnd::TimedOut)));
        open.expect_quiet(Duration::from_millis(50)).await;
    }

    #[tokio::test]
    #[should_panic(expected = "expected the server to end the stream")]
    async fn expecting_an_end_fails_on_a_stream_that_stays_open() {
        let silent = futures::stream::pending::<Result<bytes::Bytes, std::io::Error>>();
        client_over(reqwest::Body::wrap_stream(silent)).expect_closed(Duration::from_millis(50)).await;
    }

    #[test]
    fn generated_wav_has_a_riff_header_and_the_right_length() {
        let w = wav_bytes(1.0, 16000);
        assert_eq!(&w[..4], b"RIFF");
        assert_eq!(w.len(), 44 + 32000);
    }
}
