//! Word error rate after Whisper-style English normalisation, for scoring transcripts of
//! the real-speech fixtures against their reference text.
//!
//! The normalisation is deliberately light (lowercase, punctuation removed, common
//! contractions expanded, number words turned into digits): enough that "Twenty-five."
//! and "25" count as the same word, not a full re-implementation of Whisper's normaliser.

/// Edit counts of one hypothesis against one reference; add them up for a corpus.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WerStats {
    pub substitutions: usize,
    pub deletions: usize,
    pub insertions: usize,
    pub reference_words: usize,
    pub hypothesis_words: usize,
}

impl WerStats {
    pub fn errors(&self) -> usize {
        self.substitutions + self.deletions + self.insertions
    }

    /// errors / reference words. With an empty reference: 0.0 for an empty hypothesis,
    /// otherwise 1.0 (everything said is wrong, but a rate above 1 would mean nothing).
    pub fn wer(&self) -> f64 {
        if self.reference_words == 0 {
            return if self.hypothesis_words == 0 { 0.0 } else { 1.0 };
        }
        self.errors() as f64 / self.reference_words as f64
    }
}

impl std::ops::Add for WerStats {
    type Output = WerStats;
    fn add(self, o: WerStats) -> WerStats {
        WerStats {
            substitutions: self.substitutions + o.substitutions,
            deletions: self.deletions + o.deletions,
            insertions: self.insertions + o.insertions,
            reference_words: self.reference_words + o.reference_words,
            hypothesis_words: self.hypothesis_words + o.hypothesis_words,
        }
    }
}

impl std::iter::Sum for WerStats {
    fn sum<I: Iterator<Item = WerStats>>(iter: I) -> WerStats {
        iter.fold(WerStats::default(), |a, b| a + b)
    }
}

/// Word error rate of `hypothesis` against `reference`, both normalised first.
pub fn wer(reference: &str, hypothesis: &str) -> f64 {
    measure(reference, hypothesis).wer()
}

/// Corpus WER over many (reference, hypothesis) pairs: total errors / total reference
/// words, so long utterances weigh more than short ones (not a mean of per-pair rates).
pub fn corpus_wer<'a, I>(pairs: I) -> f64
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    pairs.into_iter().map(|(r, h)| measure(r, h)).sum::<WerStats>().wer()
}

/// Word-level Levenshtein alignment of the normalised texts.
pub fn measure(reference: &str, hypothesis: &str) -> WerStats {
    let r = normalize(reference);
    let h = normalize(hypothesis);
    // Two rows of (cost, subs, dels, ins); ties prefer substitutions so counts are stable.
    type Cell = (usize, usize, usize, usize);
    let mut prev: Vec<Cell> = (0..=h.len()).map(|j| (j, 0, 0, j)).collect();
    for i in 1..=r.len() {
        let mut cur: Vec<Cell> = Vec::with_capacity(h.len() + 1);
        cur.push((i, 0, i, 0));
        for j in 1..=h.len() {
            let diag = prev[j - 1];
            let sub = if r[i - 1] == h[j - 1] { diag } else { (diag.0 + 1, diag.1 + 1, diag.2, diag.3) };
            let up = prev[j];
            let del = (up.0 + 1, up.1, up.2 + 1, up.3);
            let left = cur[j - 1];
            let ins = (left.0 + 1, left.1, left.2, left.3 + 1);
            let best = [sub, del, ins].into_iter().min_by_key(|c| c.0).expect("three candidates");
            cur.push(best);
        }
        prev = cur;
    }
    let (_, substitutions, deletions, insertions) = prev[h.len()];
    WerStats { substitutions, deletions, insertions, reference_words: r.len(), hypothesis_words: h.len() }
}

/// Lowercases, expands contractions, strips punctuation and turns number words into digits.
pub fn normalize(text: &str) -> Vec<String> {
    let lower = text.to_lowercase().replace(['’', '‘', '`'], "'");
    let chars: Vec<char> = lower.chars().collect();
    let mut cleaned = String::with_capacity(lower.len());
    for (i, &c) in chars.iter().enumerate() {
        let digit_before = i > 0 && chars[i - 1].is_ascii_digit();
        let digit_after = chars.get(i + 1).is_some_and(|c| c.is_ascii_digit());
        if c.is_alphanumeric() || c == '\'' {
            cleaned.push(c);
        } else if c == ',' && digit_before && digit_after {
            // "1,000" is one number, not two.
        } else if c == '.' && digit_before && digit_after {
            cleaned.push('.');
        } else {
            cleaned.push(' ');
        }
    }
    let mut words = Vec::new();
    for w in cleaned.split_whitespace() {
        for part in expand_contraction(w.trim_matches('\'')) {
            let part = part.replace('\'', "");
            if !part.is_empty() {
                words.push(part);
            }
        }
    }
    numbers_to_digits(&words)
}

fn expand_contraction(w: &str) -> Vec<String> {
    let whole = match w {
        "won't" => Some("will not"),
        "can't" | "cannot" => Some("can not"),
        "shan't" => Some("shall not"),
        "ain't" => Some("is not"),
        "let's" => Some("let us"),
        _ => None,
    };
    if let Some(e) = whole {
        return e.split(' ').map(str::to_string).collect();
    }
    for (suffix, expansion) in [("n't", "not"), ("'re", "are"), ("'m", "am"), ("'ll", "will"), ("'ve", "have")] {
        if let Some(stem) = w.strip_suffix(suffix).filter(|s| !s.is_empty()) {
            return vec![stem.to_string(), expansion.to_string()];
        }
    }
    // "'s" and "'d" are ambiguous (is/has/possessive, had/would): left as one word.
    vec![w.to_string()]
}

fn small_number(w: &str) -> Option<u64> {
    const ONES: [&str; 20] = [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
    ];
    const TENS: [&str; 8] = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];
    if let Some(i) = ONES.iter().position(|x| *x == w) {
        return Some(i as u64);
    }
    TENS.iter().position(|x| *x == w).map(|i| (i as u64 + 2) * 10)
}

fn scale(w: &str) -> Option<u64> {
    match w {
        "thousand" => Some(1_000),
        "million" => Some(1_000_000),
        "billion" => Some(1_000_000_000),
        _ => None,
    }
}

/// A number being read from words: "two thousand and twenty five" → 2025.
#[derive(Default)]
struct NumberWords {
    /// Sum of completed scale groups (e.g. 2000 after "two thousand").
    total: u64,
    /// The group below the last scale word (< 1000).
    group: u64,
    /// The last scale used; the next one must be smaller ("thousand million" is two numbers).
    last_scale: Option<u64>,
    last: Option<Kind>,
    active: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Unit, // 1..=9
    Teen, // 0, 10..=19
    Tens, // 20, 30, …
    Hundred,
    Scale,
}

impl NumberWords {
    /// Adds `word` if it continues this number; false if it must start a new one.
    fn accepts(&self, word: &str) -> bool {
        if !self.active {
            return true;
        }
        let after_big = matches!(self.last, Some(Kind::Hundred | Kind::Scale));
        if let Some(v) = small_number(word) {
            if v == 0 {
                return false;
            }
            return match (v, self.last) {
                (1..=9, Some(Kind::Tens)) => true,
                _ => after_big,
            };
        }
        if word == "hundred" {
            return matches!(self.last, Some(Kind::Unit | Kind::Teen)) && self.group < 100;
        }
        if let Some(s) = scale(word) {
            return self.last != Some(Kind::Scale) && self.last_scale.is_none_or(|l| s < l);
        }
        false
    }

    fn push(&mut self, word: &str) {
        self.active = true;
        if let Some(v) = small_number(word) {
            self.group += v;
            self.last = Some(match v {
                1..=9 => Kind::Unit,
                0 | 10..=19 => Kind::Teen,
                _ => Kind::Tens,
            });
        } else if word == "hundred" {
            self.group = self.group.max(1) * 100;
            self.last = Some(Kind::Hundred);
        } else if let Some(s) = scale(word) {
            self.total += self.group.max(1) * s;
            self.group = 0;
            self.last_scale = Some(s);
            self.last = Some(Kind::Scale);
        }
    }

    fn take(&mut self) -> Option<String> {
        let out = self.active.then(|| (self.total + self.group).to_string());
        *self = NumberWords::default();
        out
    }
}

fn is_number_word(w: &str) -> bool {
    small_number(w).is_some() || w == "hundred" || scale(w).is_some()
}

fn numbers_to_digits(words: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(words.len());
    let mut n = NumberWords::default();
    let mut i = 0;
    while i < words.len() {
        let w = words[i].as_str();
        // "one hundred and five": "and" joins only after hundred/thousand and before a number.
        if w == "and"
            && n.active
            && matches!(n.last, Some(Kind::Hundred | Kind::Scale))
            && words.get(i + 1).is_some_and(|next| small_number(next).is_some_and(|v| v > 0))
        {
            i += 1;
            continue;
        }
        if is_number_word(w) {
            if !n.accepts(w) {
                out.extend(n.take());
            }
            n.push(w);
        } else {
            out.extend(n.take());
            out.push(w.to_string());
        }
        i += 1;
    }
    out.extend(n.take());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        normalize(s).join(" ")
    }

    #[test]
    fn normalisation_lowercases_and_strips_punctuation() {
        assert_eq!(
            norm("And so, my fellow Americans: ask NOT what your country can do for you!"),
            "and so my fellow americans ask not what your country can do for you"
        );
    }

    #[test]
    fn compound_number_words_become_one_number() {
        assert_eq!(norm("twenty five"), "25");
        assert_eq!(norm("Twenty-five."), "25");
        assert_eq!(norm("two thousand"), "2000");
        assert_eq!(norm("two thousand and twenty five"), "2025");
        assert_eq!(norm("one hundred and five dollars"), "105 dollars");
        assert_eq!(norm("nineteen hundred"), "1900");
        assert_eq!(norm("three million four hundred thousand"), "3400000");
        assert_eq!(norm("press seven to delete"), "press 7 to delete");
        assert_eq!(norm("zero"), "0");
    }

    #[test]
    fn spoken_digit_sequences_stay_separate_numbers() {
        assert_eq!(norm("one two three"), "1 2 3");
        assert_eq!(norm("twenty thirty"), "20 30");
        assert_eq!(norm("thousand thousand"), "1000 1000");
        assert_eq!(norm("five zero"), "5 0");
    }

    #[test]
    fn and_between_plain_words_is_kept() {
        assert_eq!(norm("rock and roll"), "rock and roll");
        assert_eq!(norm("five and six"), "5 and 6");
        assert_eq!(norm("one hundred and"), "100 and");
    }

    #[test]
    fn digits_with_separators_stay_one_token() {
        assert_eq!(norm("1,000 people"), "1000 people");
        assert_eq!(norm("version 3.5."), "version 3.5");
    }

    #[test]
    fn contractions_are_expanded() {
        assert_eq!(norm("Don't you'll we're I'm they've"), "do not you will we are i am they have");
        assert_eq!(norm("won't can’t"), "will not can not");
        assert_eq!(norm("it's John's"), "its johns");
    }

    #[test]
    fn identical_texts_have_zero_wer_even_when_formatted_differently() {
        assert_eq!(wer("Press 7 to delete this message.", "press seven to delete this message"), 0.0);
    }

    #[test]
    fn wer_counts_substitutions_deletions_and_insertions() {
        let s = measure("a b c d", "a x c d e");
        assert_eq!((s.substitutions, s.deletions, s.insertions), (1, 0, 1));
        assert_eq!(s.wer(), 0.5);
        let s = measure("a b c d", "a d");
        assert_eq!((s.substitutions, s.deletions, s.insertions), (0, 2, 0));
        assert_eq!(wer("a b c d", ""), 1.0);
    }

    #[test]
    fn wer_with_an_empty_reference_is_zero_or_one() {
        assert_eq!(wer("", ""), 0.0);
        assert_eq!(wer("...", "hello there"), 1.0);
    }

    #[test]
    fn corpus_wer_weighs_by_reference_length() {
        // 1 error in 1 word and 0 errors in 9 words: corpus 0.1, not the mean 0.5.
        let pairs = [("hello", "goodbye"), ("a b c d e f g h i", "a b c d e f g h i")];
        assert!((corpus_wer(pairs) - 0.1).abs() < 1e-12);
    }
}
