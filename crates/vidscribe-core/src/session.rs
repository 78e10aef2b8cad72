//! Session names: the human label of a job's results.
//!
//! Derived from the upload's file name (`my-talk_final.mp4` → `My Talk Final_1128_1402`) or
//! given by the user, in which case it is reduced to a safe directory-name form. Either way
//! it is a label: results live under `results/<session_id>`, and a session name only ever
//! reaches a path (ZIP entries) through [`safe_component`].

use chrono::{DateTime, Datelike, Timelike, Utc};

const MAX_BASE_CHARS: usize = 50;

/// `Title Case` base from a file name, plus `_MMDD_HHMM`.
pub fn from_filename(filename: &str, at: DateTime<Utc>) -> String {
    let file = filename.rsplit(['/', '\\']).next().unwrap_or(filename);
    let stem = match file.rfind('.') {
        Some(i) if i > 0 => &file[..i],
        _ => file,
    };
    let words: Vec<String> = stem
        .split(|c: char| !c.is_alphanumeric())
        .map(title_case)
        .filter(|w| !w.is_empty())
        .collect();
    let mut base: String = words.join(" ");
    if base.is_empty() {
        base = "Session".to_string();
    }
    let base = truncate_chars(&base, MAX_BASE_CHARS);
    format!("{}_{}", base.trim_end(), stamp(at))
}

/// A user-supplied session name reduced to a safe directory name: letters, digits, `-`, `_`
/// only (other characters become `_`), no leading dots, at most 50 characters.
/// `None` when nothing usable remains.
pub fn sanitize(user_supplied: &str) -> Option<String> {
    let safe = safe_component(user_supplied);
    if safe.is_empty() {
        None
    } else {
        Some(safe)
    }
}

/// The safe-path form of any label; may be empty.
pub fn safe_component(label: &str) -> String {
    let mut out = String::new();
    for c in label.chars() {
        let keep = c.is_alphanumeric() || c == '-' || c == '_';
        let c = if keep { c } else { '_' };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    let trimmed = out.trim_matches(|c| c == '_' || c == '-');
    truncate_chars(trimmed, MAX_BASE_CHARS).trim_end_matches('_').to_string()
}

fn stamp(at: DateTime<Utc>) -> String {
    format!("{:02}{:02}_{:02}{:02}", at.month(), at.day(), at.hour(), at.minute())
}

fn title_case(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars.flat_map(|c| c.to_lowercase())).collect(),
        None => String::new(),
    }
}

fn truncate_chars(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 14, 2, 0).unwrap()
    }

    #[test]
    fn a_file_name_becomes_a_title_cased_session_name_with_a_stamp() {
        assert_eq!(from_filename("talk.mp4", at()), "Talk_1128_1402");
        assert_eq!(from_filename("my-great_TALK.final.mkv", at()), "My Great Talk Final_1128_1402");
    }

    #[test]
    fn long_names_are_cut_to_50_characters() {
        let name = from_filename(&format!("{}.mp4", "a".repeat(300)), at());
        assert_eq!(name.len(), 50 + "_1128_1402".len());
    }

    #[test]
    fn hostile_file_names_yield_harmless_labels() {
        assert_eq!(from_filename("../../etc/passwd", at()), "Passwd_1128_1402");
        assert_eq!(from_filename("<img src=x onerror=alert(1)>.mp4", at()), "Img Src X Onerror Alert 1_1128_1402");
        assert_eq!(from_filename(".mp4", at()), "Mp4_1128_1402");
        assert_eq!(from_filename("", at()), "Session_1128_1402");
    }

    #[test]
    fn user_names_are_reduced_to_safe_directory_names() {
        assert_eq!(sanitize("../../etc/passwd").as_deref(), Some("etc_passwd"));
        assert_eq!(sanitize("<script>alert(1)</script>").as_deref(), Some("script_alert_1_script"));
        assert_eq!(sanitize("Leçon 1 — été").as_deref(), Some("Leçon_1_été"));
        assert_eq!(sanitize("..."), None);
        assert_eq!(sanitize("a/b\\c\0d").as_deref(), Some("a_b_c_d"));
    }

    #[test]
    fn safe_components_never_contain_path_syntax() {
        for s in ["..", "../x", "a/../../b", "\\\\server\\share", "C:\\x", "~root", ".hidden", "a\nb"] {
            let c = safe_component(s);
            assert!(!c.contains('/') && !c.contains('\\') && !c.contains("..") && !c.starts_with('.'), "{s:?} -> {c:?}");
        }
    }
}
