//! Word timestamps from CTranslate2's cross-attention alignment (`Whisper::align`, a DTW over
//! the alignment heads named in the model's config): tokens are grouped into words, each word
//! starts at the frame where the alignment path reaches its first token and ends where it
//! reaches the next word.

use crate::vocab::Vocabulary;

/// Encoder frames per second (mel frames are 100/s, the encoder halves them).
const ALIGN_FRAMES_PER_SECOND: f64 = 50.0;
/// Punctuation glued to the following word.
const PREPEND: &str = "\"'“¿([{-";
/// Punctuation glued to the preceding word.
const APPEND: &str = "\"'.。,，!！?？:：”)]}、";

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TimedWord {
    pub text: String,
    /// Seconds from the window start.
    pub start: f64,
    pub end: f64,
    pub probability: f32,
    /// Index (into the window's text tokens) of the word's first token.
    pub first_token: usize,
}

/// Groups `tokens` into words: a word starts at a token beginning with a space, at a
/// punctuation mark, or at the start. A token that ends inside a UTF-8 character is joined
/// with the next one first.
fn split_words(vocab: &Vocabulary, tokens: &[usize]) -> Vec<(String, std::ops::Range<usize>)> {
    let mut words: Vec<(String, std::ops::Range<usize>)> = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut pending_start = 0;
    for (i, &id) in tokens.iter().enumerate() {
        if pending.is_empty() {
            pending_start = i;
        }
        pending.extend(vocab.bytes(&[id]));
        let Ok(text) = std::str::from_utf8(&pending) else {
            continue;
        };
        let text = text.to_string();
        pending.clear();
        let is_punct = text.trim().chars().count() == 1 && text.trim().chars().all(|c| c.is_ascii_punctuation());
        match words.last_mut() {
            Some(last) if !text.starts_with(' ') && !is_punct => {
                last.0.push_str(&text);
                last.1.end = i + 1;
            }
            _ => words.push((text, pending_start..i + 1)),
        }
    }
    words
}

/// Word timings for the text tokens of one window. `alignment` is the DTW path as
/// (token index, encoder frame) pairs; `token_probs` the probability of each text token.
pub(crate) fn align_words(
    vocab: &Vocabulary,
    tokens: &[usize],
    alignment: &[(i64, i64)],
    token_probs: &[f32],
) -> Vec<TimedWord> {
    let words = split_words(vocab, tokens);
    // The frame where the path first reaches each token ("jumps" in the reference).
    let mut jump_times = Vec::new();
    let mut last_token = None;
    for &(token, frame) in alignment {
        if last_token != Some(token) {
            jump_times.push(frame as f64 / ALIGN_FRAMES_PER_SECOND);
            last_token = Some(token);
        }
    }
    let time_at = |i: usize| jump_times.get(i).or(jump_times.last()).copied().unwrap_or(0.0);

    let mut timed: Vec<TimedWord> = words
        .into_iter()
        .map(|(text, range)| {
            let probs = &token_probs[range.start.min(token_probs.len())..range.end.min(token_probs.len())];
            let probability = if probs.is_empty() { 0.0 } else { probs.iter().sum::<f32>() / probs.len() as f32 };
            TimedWord {
                text,
                start: time_at(range.start),
                end: time_at(range.end),
                probability,
                first_token: range.start,
            }
        })
        .collect();
    merge_punctuation(&mut timed);
    timed
}

/// Opening marks join the next word and closing marks the previous one, as subtitles expect.
fn merge_punctuation(words: &mut Vec<TimedWord>) {
    let mut i = words.len();
    while i >= 2 {
        i -= 1;
        let t = words[i].text.trim();
        if !t.is_empty() && t.chars().all(|c| APPEND.contains(c)) {
            let w = words.remove(i);
            words[i - 1].text.push_str(&w.text);
        }
    }
    let mut i = 0;
    while i + 1 < words.len() {
        let t = words[i].text.trim();
        if !t.is_empty() && t.chars().all(|c| PREPEND.contains(c)) {
            let w = words.remove(i);
            let next = &mut words[i];
            next.text = format!("{}{}", w.text, next.text.trim_start());
            if !w.text.starts_with(' ') {
                next.text = next.text.trim_start().to_string();
            }
            next.start = w.start;
            next.first_token = w.first_token;
        } else {
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(text: &str, start: f64) -> TimedWord {
        TimedWord { text: text.to_string(), start, end: start + 0.5, probability: 0.9, first_token: 0 }
    }

    #[test]
    fn closing_punctuation_joins_the_word_before_it() {
        let mut words = vec![word(" country", 1.0), word(".", 1.5), word(" And", 2.0)];
        merge_punctuation(&mut words);
        let texts: Vec<&str> = words.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(texts, [" country.", " And"]);
        assert_eq!(words[0].end, 1.5);
    }

    #[test]
    fn opening_punctuation_joins_the_word_after_it() {
        let mut words = vec![word(" (", 1.0), word("hello", 1.2), word(")", 1.7)];
        merge_punctuation(&mut words);
        let texts: Vec<&str> = words.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(texts, [" (hello)"]);
        assert_eq!(words[0].start, 1.0);
    }
}
