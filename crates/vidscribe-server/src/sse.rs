//! The one reader of `text/event-stream` that every client of this API uses (the CLI's
//! `batch watch`, the test client): feed it raw network chunks, take complete events.
//!
//! It buffers *bytes* and decodes only whole lines, because a chunk boundary can fall inside
//! a multi-byte UTF-8 character (a file called "Zoë — 東京.mp4"); decoding each chunk on
//! its own would turn both halves into U+FFFD. A line is complete at `\n`, and `\n` (0x0A)
//! never occurs inside a multi-byte UTF-8 sequence, so a complete line is complete UTF-8.

use serde_json::Value;

/// One Server-Sent Event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SseEvent {
    pub id: Option<String>,
    /// `message` when the server named none, as the SSE spec says.
    pub event: String,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

impl SseEvent {
    /// The `id:` as the store's sequence number (this API's ids are integers).
    pub fn seq(&self) -> Option<i64> {
        self.id.as_deref().and_then(|s| s.parse().ok())
    }

    /// The data as JSON, `Null` when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or(Value::Null)
    }
}

/// An incremental parser: comments (keep-alives) skipped and counted, multi-line data joined.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes after the last complete line: possibly half a character.
    buf: Vec<u8>,
    id: Option<String>,
    event: Option<String>,
    data: Vec<String>,
    /// Keep-alive comments seen.
    pub comments: usize,
}

impl SseParser {
    /// Takes the next chunk as it came off the wire; returns the events it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(nl) = self.buf[start..].iter().position(|&b| b == b'\n') {
            let end = start + nl;
            let mut line = &self.buf[start..end];
            start = end + 1;
            if let Some(l) = line.strip_suffix(b"\r") {
                line = l;
            }
            // Whole lines are whole UTF-8 unless the server sent invalid bytes; those alone
            // become U+FFFD rather than losing the event.
            let line = String::from_utf8_lossy(line).into_owned();
            self.line(&line, &mut out);
        }
        self.buf.drain(..start);
        out
    }

    /// Same as [`feed`](Self::feed) for text already decoded.
    pub fn push(&mut self, chunk: &str) -> Vec<SseEvent> {
        self.feed(chunk.as_bytes())
    }

    fn line(&mut self, line: &str, out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            if !self.data.is_empty() || self.event.is_some() {
                out.push(SseEvent {
                    id: self.id.take(),
                    event: self.event.take().unwrap_or_else(|| "message".into()),
                    data: self.data.join("\n"),
                });
                self.data.clear();
            }
            self.id = None;
            return;
        }
        if line.starts_with(':') {
            self.comments += 1;
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "id" => self.id = Some(value.to_string()),
            "event" => self.event = Some(value.to_string()),
            "data" => self.data.push(value.to_string()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str =
        ": hello\n\nid: 7\nevent: job\ndata: {\"a\":1}\n\nid: 8\r\nevent: batch\r\ndata: x\r\ndata: y\r\n\r\n";

    #[test]
    fn events_split_anywhere_are_reassembled() {
        for split in 0..TEXT.len() {
            let mut p = SseParser::default();
            let mut events = p.feed(&TEXT.as_bytes()[..split]);
            events.extend(p.feed(&TEXT.as_bytes()[split..]));
            assert_eq!(events.len(), 2, "split at {split}");
            assert_eq!(events[0], SseEvent { id: Some("7".into()), event: "job".into(), data: "{\"a\":1}".into() });
            assert_eq!(events[0].seq(), Some(7));
            assert_eq!(events[0].json()["a"], 1);
            assert_eq!(events[1].data, "x\ny");
            assert_eq!(p.comments, 1);
        }
    }

    #[test]
    fn non_ascii_names_survive_one_byte_chunks() {
        let data = r#"{"filename":"Zoë — 東京.mp4","note":"naïve 🎬"}"#;
        let wire = format!("id: 42\nevent: job\ndata: {data}\n\nevent: batch\ndata: Ünïcödé\ndata: 第二行\n\n");
        let mut p = SseParser::default();
        let mut events = Vec::new();
        for b in wire.as_bytes() {
            events.extend(p.feed(std::slice::from_ref(b)));
        }
        assert_eq!(
            events,
            vec![
                SseEvent { id: Some("42".into()), event: "job".into(), data: data.into() },
                SseEvent { id: None, event: "batch".into(), data: "Ünïcödé\n第二行".into() },
            ]
        );
        assert_eq!(events[0].json()["filename"], "Zoë — 東京.mp4");
    }
}
