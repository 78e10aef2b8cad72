//! A small client for the HTTP API (API.md): the `{"success": …}` envelope, bearer auth,
//! streamed uploads and downloads, and a Server-Sent Events reader.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use futures::StreamExt;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;

use super::config::FileConfig;
use super::ServerArgs;

pub const DEFAULT_SERVER: &str = "http://127.0.0.1:5001";

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    /// From `--server`/`--token` (or their variables), else the config file's `[client]`.
    pub fn from_args(args: &ServerArgs, file: &FileConfig) -> anyhow::Result<Self> {
        let base =
            args.server.clone().or_else(|| file.client.server.clone()).unwrap_or_else(|| DEFAULT_SERVER.to_string());
        let token = args.token.clone().or_else(|| file.client.token.clone()).filter(|t| !t.is_empty());
        let base = base.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            bail!("--server must be an http:// or https:// URL (got '{base}')");
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self { http, base, token })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let rb = self.http.request(method, self.url(path));
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    /// Sends and returns the success body, or the server's error as one sentence.
    pub async fn call(&self, rb: RequestBuilder) -> anyhow::Result<Value> {
        let resp = self.send(rb).await?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if status.is_success() && body.get("success") == Some(&Value::Bool(true)) {
            return Ok(body);
        }
        Err(api_error(status.as_u16(), &body))
    }

    /// Sends; connection problems become "cannot reach the server at …".
    pub async fn send(&self, rb: RequestBuilder) -> anyhow::Result<Response> {
        rb.send().await.map_err(|e| anyhow::anyhow!("cannot reach the server at {}: {}", self.base, root_cause(&e)))
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(self.request(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str) -> anyhow::Result<Value> {
        self.call(self.request(Method::POST, path)).await
    }

    /// Streams a response body into `dest` (through a temporary file and a rename).
    pub async fn download(&self, path: &str, dest: &Path) -> anyhow::Result<u64> {
        let resp = self.send(self.request(Method::GET, path)).await?;
        let status = resp.status();
        if !status.is_success() {
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            return Err(api_error(status.as_u16(), &body));
        }
        let dir = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let tmp =
            tempfile::NamedTempFile::new_in(dir).with_context(|| format!("cannot write into {}", dir.display()))?;
        let (std_file, tmp_path) = tmp.into_parts();
        let mut file = tokio::fs::File::from_std(std_file);
        let mut body = resp.bytes_stream();
        let mut n = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.context("the download was interrupted")?;
            n += chunk.len() as u64;
            tokio::io::AsyncWriteExt::write_all(&mut file, &chunk)
                .await
                .with_context(|| format!("cannot write {}", dest.display()))?;
        }
        tokio::io::AsyncWriteExt::flush(&mut file).await?;
        drop(file);
        tmp_path.persist(dest).map_err(|e| anyhow::anyhow!("cannot write {}: {}", dest.display(), e.error))?;
        Ok(n)
    }
}

/// `the server refused: <error> (<code>, HTTP <status>)`.
pub fn api_error(status: u16, body: &Value) -> anyhow::Error {
    let msg = body.get("error").and_then(Value::as_str);
    let code = body.get("code").and_then(Value::as_str);
    match (msg, code) {
        (Some(m), Some(c)) => anyhow::anyhow!("{m} ({c}, HTTP {status})"),
        (Some(m), None) => anyhow::anyhow!("{m} (HTTP {status})"),
        _ if status == 401 => {
            anyhow::anyhow!("the server wants a valid token (HTTP 401): pass --token or set VIDSCRIBE_TOKEN")
        }
        _ => anyhow::anyhow!("the server answered HTTP {status}"),
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

// The one parser of the event stream, shared with the server's test client, so a
// character split across chunks is decoded whole here too.
pub use vidscribe_server::sse::{SseEvent, SseParser};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_envelope_reads_as_one_sentence() {
        let e =
            api_error(404, &serde_json::json!({"success":false,"error":"Batch not found","code":"batch_not_found"}));
        assert_eq!(e.to_string(), "Batch not found (batch_not_found, HTTP 404)");
    }
}
