//! Subtitle cues built from transcript segments.
//!
//! Whisper segments are often long (up to 30 s, hundreds of characters); subtitles must be
//! readable, so each segment is cut into cues of at most [`MAX_LINES`] lines of at most
//! [`MAX_LINE_CHARS`] characters, shown for at most [`MAX_CUE_SECONDS`]. Cuts prefer
//! punctuation, then word boundaries. Times come from word timestamps when the segment has
//! them, otherwise the segment's time is spread over its text in proportion to characters.
//!
//! The cue list is also made safe for players whatever the model produced: times are whole
//! milliseconds, every cue ends after it starts, no cue starts before the previous one ends,
//! and nothing extends past the transcript's duration.

use vidscribe_core::{Segment, Transcript};

/// Characters per subtitle line (the common broadcast guideline).
pub const MAX_LINE_CHARS: usize = 42;
/// Lines per cue.
pub const MAX_LINES: usize = 2;
/// Longest time one cue stays on screen.
pub const MAX_CUE_SECONDS: f64 = 7.0;
const MAX_CUE_MS: u64 = 7_000;

/// Punctuation after which a cue is preferably cut (Latin and CJK).
const BREAK_AFTER: &[char] = &['.', ',', '!', '?', ';', ':', '…', '。', '，', '、', '！', '？', '；', '：'];

/// One subtitle cue: whole milliseconds from the start of the media, and its display lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cue {
    pub start_ms: u64,
    pub end_ms: u64,
    /// One or two lines, each at most [`MAX_LINE_CHARS`] characters, never empty.
    pub lines: Vec<String>,
}

/// A piece of text that is never split further, with its time span in seconds.
#[derive(Debug, Clone)]
struct Token {
    text: String,
    start: f64,
    end: f64,
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// A time as the model gave it, made usable: non-finite becomes `fallback`, negative becomes 0.
fn clean(t: f64, fallback: f64) -> f64 {
    if t.is_finite() {
        t.max(0.0)
    } else {
        fallback
    }
}

fn to_ms(seconds: f64) -> u64 {
    // `as` saturates, so absurd times (1e300) become u64::MAX and are clamped later.
    (seconds * 1000.0).round() as u64
}

/// The time no cue may pass: the media duration, or when that is unknown (0, NaN) the last
/// time any segment mentions.
fn limit_seconds(t: &Transcript) -> f64 {
    if t.duration.is_finite() && t.duration > 0.0 {
        return t.duration;
    }
    let mut last: f64 = 0.0;
    for seg in &t.segments {
        for x in [seg.start, seg.end] {
            if x.is_finite() {
                last = last.max(x);
            }
        }
        for w in seg.words.iter().flatten() {
            if w.end.is_finite() {
                last = last.max(w.end);
            }
        }
    }
    last
}

/// Splits `text` at whitespace (and splits runs longer than a line, e.g. CJK text without
/// spaces or a long URL) and spreads `[start, end]` over the pieces in proportion to their
/// characters, counting one character for each gap.
fn push_spread(out: &mut Vec<Token>, text: &str, start: f64, end: f64) {
    let mut pieces: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        let cs: Vec<char> = word.chars().collect();
        for chunk in cs.chunks(MAX_LINE_CHARS) {
            pieces.push(chunk.iter().collect());
        }
    }
    if pieces.is_empty() {
        return;
    }
    let total: usize = pieces.iter().map(|p| chars(p)).sum::<usize>() + pieces.len() - 1;
    let span = (end - start).max(0.0);
    let mut offset = 0usize;
    for p in pieces {
        let n = chars(&p);
        let s = start + span * offset as f64 / total as f64;
        let e = start + span * (offset + n) as f64 / total as f64;
        offset += n + 1;
        out.push(Token { text: p, start: s, end: e });
    }
}

fn tokens_of(seg: &Segment) -> Vec<Token> {
    let seg_start = clean(seg.start, 0.0);
    let seg_end = clean(seg.end, seg_start).max(seg_start);
    let mut out = Vec::new();
    if let Some(words) = seg.words.as_ref().filter(|w| w.iter().any(|w| !w.word.trim().is_empty())) {
        for w in words {
            let s = clean(w.start, seg_start);
            let e = clean(w.end, s).max(s);
            push_spread(&mut out, &w.word, s, e);
        }
    } else {
        push_spread(&mut out, &seg.text, seg_start, seg_end);
    }
    out
}

/// Lays tokens out in at most two lines of at most [`MAX_LINE_CHARS`], as balanced as
/// possible (preferring a break after punctuation when lengths tie); `None` if impossible.
fn layout(tokens: &[Token]) -> Option<Vec<String>> {
    let lens: Vec<usize> = tokens.iter().map(|t| chars(&t.text)).collect();
    let total = lens.iter().sum::<usize>() + lens.len().saturating_sub(1);
    let join = |ts: &[Token]| ts.iter().map(|t| t.text.as_str()).collect::<Vec<_>>().join(" ");
    if total <= MAX_LINE_CHARS {
        return Some(vec![join(tokens)]);
    }
    let mut best: Option<(usize, bool, usize)> = None; // (imbalance, not after punctuation, split)
    let mut first = 0usize;
    for split in 1..tokens.len() {
        first += lens[split - 1] + usize::from(split > 1);
        let second = total - first - 1;
        if first > MAX_LINE_CHARS || second > MAX_LINE_CHARS {
            continue;
        }
        let punct = tokens[split - 1].text.ends_with(BREAK_AFTER);
        let key = (first.abs_diff(second), !punct, split);
        if best.is_none_or(|b| (key.0, key.1) < (b.0, b.1)) {
            best = Some(key);
        }
    }
    let (_, _, split) = best?;
    Some(vec![join(&tokens[..split]), join(&tokens[split..])])
}

fn fits(tokens: &[Token]) -> bool {
    let span = tokens.last().map_or(0.0, |l| l.end) - tokens.first().map_or(0.0, |f| f.start);
    span <= MAX_CUE_SECONDS && layout(tokens).is_some()
}

/// How many of `cur`'s tokens to keep in the cue being closed: after the last punctuation
/// in the second half of the text if there is one, otherwise all of them.
fn keep_count(cur: &[Token]) -> usize {
    let total: usize = cur.iter().map(|t| chars(&t.text) + 1).sum();
    let mut acc = 0usize;
    let mut keep = cur.len();
    for (i, t) in cur.iter().enumerate().take(cur.len().saturating_sub(1)) {
        acc += chars(&t.text) + 1;
        if t.text.ends_with(BREAK_AFTER) && acc * 2 >= total {
            keep = i + 1;
        }
    }
    keep
}

/// Cuts one segment's tokens into groups that each fit one cue.
fn group(tokens: Vec<Token>) -> Vec<Vec<Token>> {
    let mut out = Vec::new();
    let mut cur: Vec<Token> = Vec::new();
    for tok in tokens {
        cur.push(tok);
        // Invariant: `cur` without its last token fits, so each pass closes a cue and the
        // remainder (a suffix of a fitting group) again fits once its new token is removed.
        while cur.len() > 1 && !fits(&cur) {
            let last = cur.pop().expect("len > 1");
            let keep = keep_count(&cur);
            let rest = cur.split_off(keep);
            out.push(std::mem::replace(&mut cur, rest));
            cur.push(last);
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Builds the cues of a whole transcript, in order, with the guarantees listed at the top
/// of this module. Text that could only be shown after the transcript's end (corrupt
/// timestamps) is dropped.
pub fn build_cues(t: &Transcript) -> Vec<Cue> {
    let limit_ms = to_ms(limit_seconds(t));
    let mut cues = Vec::new();
    let mut prev_end = 0u64;
    for seg in &t.segments {
        for g in group(tokens_of(seg)) {
            let Some(lines) = layout(&g) else { continue };
            let (first, last) = (&g[0], &g[g.len() - 1]);
            let start = to_ms(first.start).max(prev_end);
            if start >= limit_ms {
                continue;
            }
            let end = to_ms(last.end).min(start.saturating_add(MAX_CUE_MS)).min(limit_ms).max(start + 1);
            prev_end = end;
            cues.push(Cue { start_ms: start, end_ms: end, lines });
        }
    }
    cues
}
