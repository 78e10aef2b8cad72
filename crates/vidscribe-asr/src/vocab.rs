//! The model's vocabulary (`vocabulary.txt`, one token per line, line n = id n) and the
//! byte-level BPE decoding Whisper's GPT-2 style tokenizer uses.
//!
//! CTranslate2 takes prompts as token strings and returns both strings and ids, so text never
//! has to be encoded here: only ids → text, plus looking up the special tokens by name.

use std::collections::HashMap;
use std::path::Path;

use crate::error::AsrError;

#[derive(Debug)]
pub(crate) struct Vocabulary {
    tokens: Vec<String>,
    byte_of_char: HashMap<char, u8>,
    pub eot: usize,
    pub sot: usize,
    pub sot_prev: usize,
    /// Asks for text only: batched decoding's chunks take their times from the words.
    pub no_timestamps: usize,
    pub transcribe: Option<usize>,
    /// `<|0.00|>`; every id from here on is a timestamp, 0.02 s apart.
    pub timestamp_begin: usize,
    /// Language codes (`en`, `fr`, …) in id order, with their token ids.
    languages: Vec<(String, usize)>,
}

impl Vocabulary {
    pub fn load(model_dir: &Path) -> Result<Self, AsrError> {
        let path = model_dir.join("vocabulary.txt");
        let text = std::fs::read_to_string(&path).map_err(|e| AsrError::io(format!("read {}", path.display()), e))?;
        Self::parse(text.lines().map(str::to_string).collect())
            .map_err(|message| AsrError::InvalidModel { path: model_dir.to_path_buf(), message })
    }

    fn parse(tokens: Vec<String>) -> Result<Self, String> {
        let index: HashMap<&str, usize> = tokens.iter().enumerate().map(|(i, t)| (t.as_str(), i)).collect();
        let id = |name: &str| index.get(name).copied().ok_or_else(|| format!("vocabulary has no {name}"));
        let eot = id("<|endoftext|>")?;
        let sot = id("<|startoftranscript|>")?;
        let sot_prev = id("<|startofprev|>")?;
        let no_timestamps = id("<|notimestamps|>")?;
        let timestamp_begin = id("<|0.00|>")?;
        let transcribe = index.get("<|transcribe|>").copied();
        // Language tokens follow <|startoftranscript|> directly, up to <|translate|>.
        let languages = tokens[sot + 1..]
            .iter()
            .zip(sot + 1..)
            .take_while(|(t, _)| t.as_str() != "<|translate|>")
            .filter_map(|(t, id)| {
                t.strip_prefix("<|").and_then(|t| t.strip_suffix("|>")).map(|code| (code.to_string(), id))
            })
            .collect();
        Ok(Vocabulary {
            byte_of_char: byte_decoder(),
            tokens,
            eot,
            sot,
            sot_prev,
            no_timestamps,
            transcribe,
            timestamp_begin,
            languages,
        })
    }

    pub fn token(&self, id: usize) -> &str {
        self.tokens.get(id).map(String::as_str).unwrap_or("")
    }

    pub fn is_timestamp(&self, id: usize) -> bool {
        id >= self.timestamp_begin
    }

    /// Seconds from the start of the window that timestamp token `id` stands for.
    pub fn timestamp_seconds(&self, id: usize) -> f64 {
        (id - self.timestamp_begin) as f64 * 0.02
    }

    /// The token id of language `code`, if the vocabulary has it.
    pub fn language_id(&self, code: &str) -> Option<usize> {
        self.languages.iter().find(|(c, _)| c == code).map(|&(_, id)| id)
    }

    #[cfg(test)]
    fn language_codes(&self) -> Vec<&str> {
        self.languages.iter().map(|(c, _)| c.as_str()).collect()
    }

    /// Text of the ordinary (non-special) tokens among `ids`, as UTF-8 (invalid sequences, which
    /// a token boundary can split, become U+FFFD).
    pub fn decode(&self, ids: &[usize]) -> String {
        String::from_utf8_lossy(&self.bytes(ids)).into_owned()
    }

    /// Raw bytes of the ordinary tokens among `ids` (specials skipped).
    pub fn bytes(&self, ids: &[usize]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for &id in ids.iter().filter(|&&id| id < self.eot) {
            bytes.extend(self.token(id).chars().filter_map(|c| self.byte_of_char.get(&c)));
        }
        bytes
    }
}

/// The inverse of GPT-2's byte → printable-character table: printable Latin-1 bytes stand for
/// themselves, the remaining 68 bytes are shifted to U+0100 onwards, in byte order.
fn byte_decoder() -> HashMap<char, u8> {
    let printable = |b: u8| (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b);
    let mut map = HashMap::with_capacity(256);
    let mut shifted = 0u32;
    for b in 0..=255u8 {
        let c = if printable(b) {
            char::from(b)
        } else {
            shifted += 1;
            char::from_u32(255 + shifted).unwrap_or('\u{FFFD}')
        };
        map.insert(c, b);
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> Vocabulary {
        let mut tokens: Vec<String> =
            ["Hello", "Ġworld", "Ã©", "<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|fr|>"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        for t in [
            "<|translate|>",
            "<|transcribe|>",
            "<|startoflm|>",
            "<|startofprev|>",
            "<|nocaptions|>",
            "<|notimestamps|>",
            "<|0.00|>",
            "<|0.02|>",
        ] {
            tokens.push(t.to_string());
        }
        Vocabulary::parse(tokens).unwrap()
    }

    #[test]
    fn byte_level_tokens_decode_to_utf8_text() {
        let v = toy();
        assert_eq!(v.decode(&[0, 1]), "Hello world");
        // "Ã©" is how the byte table spells the two UTF-8 bytes of "é".
        assert_eq!(v.decode(&[2]), "é");
    }

    #[test]
    fn special_and_timestamp_tokens_are_not_text() {
        let v = toy();
        assert_eq!(v.decode(&[4, 0, 13, 1, 3]), "Hello world");
        assert!(v.is_timestamp(14) && !v.is_timestamp(12));
        assert!((v.timestamp_seconds(14) - 0.02).abs() < 1e-9);
    }

    #[test]
    fn languages_are_the_tokens_between_start_and_translate() {
        let v = toy();
        assert_eq!(v.language_codes(), ["en", "fr"]);
        assert_eq!(v.language_id("fr"), Some(6));
        assert_eq!(v.language_id("xx"), None);
    }

    #[test]
    fn the_byte_table_covers_every_byte_once() {
        let table = byte_decoder();
        assert_eq!(table.len(), 256);
        assert_eq!(table[&'Ġ'], b' ');
        assert_eq!(table[&'!'], b'!');
    }
}
