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
    let words: Vec<String> =
        stem.split(|c: char| !c.is_alphanumeric()).map(title_case).filter(|w| !w.is_empty()).collect();
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
    // Trimmed again after the cut, which may end on a `-` as well as a `_`: the result is
    // then its own safe form (idempotent).
    truncate_chars(trimmed, MAX_BASE_CHARS).trim_end_matches(['_', '-']).to_string()
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
            assert!(
                !c.contains('/') && !c.contains('\\') && !c.contains("..") && !c.starts_with('.'),
                "{s:?} -> {c:?}"
            );
        }
    }

    /// Found by `sanitized_names_are_single_safe_directory_components`: a cut at 50
    /// characters that ended on `-` left a trailing dash, which a second pass removed.
    #[test]
    fn a_name_cut_on_a_dash_is_already_its_own_safe_form() {
        let raw = format!("{}-b", "a".repeat(49));
        let once = safe_component(&raw);
        assert_eq!(once, "a".repeat(49));
        assert_eq!(safe_component(&once), once);
        assert_eq!(sanitize(&format!("{}_-x", "z".repeat(49))).as_deref(), Some("z".repeat(49).as_str()));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Names as hostile clients send them: path syntax, control and format characters
        /// (bidi overrides, zero-width), combining marks, wide scripts, emoji, any length.
        fn hostile_name() -> impl Strategy<Value = String> {
            let piece = prop_oneof![
                3 => "[a-zA-Z0-9 _.-]{1,12}",
                2 => prop::sample::select(vec![
                    "/", "\\", "..", ".", "../", "..\\", "\0", "\n", "\r\n", "\t", "\u{1b}[31m",
                    "\u{202E}", "\u{2066}", "\u{200B}", "\u{FEFF}", "\u{0301}", "\u{2028}", "~", ":",
                    "*", "?", "\"", "<script>", "C:\\", "//server/", "-", "_", "—", " ",
                ])
                .prop_map(str::to_string),
                1 => "\\PC{1,8}",
                1 => "[\u{0}-\u{1f}\u{7f}-\u{9f}]{1,4}",
                1 => prop::sample::select(vec!["講演", "東京", "🎬", "👩‍👩‍👧", "e\u{301}", "Ωmega", "ǅ", "ß", "İ", "ŉ"])
                    .prop_map(str::to_string),
            ];
            prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
        }

        fn at_any_time() -> impl Strategy<Value = DateTime<Utc>> {
            (0i64..4_102_444_800).prop_map(|s| DateTime::from_timestamp(s, 0).expect("in range"))
        }

        fn no_path_syntax(s: &str) -> Result<(), TestCaseError> {
            prop_assert!(!s.contains('/') && !s.contains('\\'), "separator in {s:?}");
            prop_assert!(!s.contains(".."), "'..' in {s:?}");
            prop_assert!(!s.chars().any(char::is_control), "control character in {s:?}");
            prop_assert!(s != "." && !s.starts_with('.'), "dot name {s:?}");
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(400)))]

            #[test]
            fn sanitized_names_are_single_safe_directory_components(raw in hostile_name()) {
                let Some(s) = sanitize(&raw) else {
                    prop_assert!(safe_component(&raw).is_empty());
                    return Ok(());
                };
                no_path_syntax(&s)?;
                prop_assert!(!s.is_empty() && s.chars().count() <= MAX_BASE_CHARS, "{s:?}");
                prop_assert!(s.len() <= 255, "fits a file name in bytes: {s:?}");
                prop_assert!(s.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_'), "{s:?}");
                prop_assert!(!s.starts_with(['-', '_']) && !s.ends_with(['-', '_']), "{s:?}");
                prop_assert_eq!(sanitize(&s), Some(s.clone()), "idempotent");
                prop_assert_eq!(safe_component(&s), s.clone(), "idempotent");
                // And the file system agrees: it names one new entry inside the parent.
                let dir = std::env::temp_dir().join(format!("vidscribe-session-prop-{}", std::process::id()));
                std::fs::create_dir_all(&dir).unwrap();
                let p = dir.join(&s);
                prop_assert_eq!(p.parent(), Some(dir.as_path()));
                prop_assert_eq!(p.components().count(), dir.components().count() + 1);
                std::fs::create_dir(&p).unwrap();
                std::fs::remove_dir(&p).unwrap();
                std::fs::remove_dir(&dir).unwrap();
            }

            #[test]
            fn safe_components_are_safe_and_idempotent(raw in hostile_name()) {
                let s = safe_component(&raw);
                if !s.is_empty() {
                    no_path_syntax(&s)?;
                }
                prop_assert!(s.chars().count() <= MAX_BASE_CHARS);
                prop_assert_eq!(safe_component(&s), s.clone());
            }

            #[test]
            fn session_names_from_file_names_are_harmless_labels(raw in hostile_name(), at in at_any_time()) {
                let s = from_filename(&raw, at);
                let suffix = format!("_{}", stamp(at));
                prop_assert!(s.ends_with(&suffix), "{s:?}");
                let base = &s[..s.len() - suffix.len()];
                prop_assert!(!base.is_empty() && base.chars().count() <= MAX_BASE_CHARS, "{s:?}");
                prop_assert_eq!(base.trim(), base, "no outer spaces");
                prop_assert!(!s.contains('.'), "{s:?}");
                no_path_syntax(&s)?;
                // The label is the same whatever directory the client claimed the file was in.
                prop_assert_eq!(from_filename(&format!("../../x/{raw}"), at), from_filename(&raw, at));
            }
        }
    }
}
