//! Property tests of the upload's display-name sanitiser (`display_filename`): whatever name
//! a client sends, the label has no directories, no control or layout-control characters,
//! at most 255 characters, is never empty, `.` or `..`, and sanitising it again changes
//! nothing. The session-name sanitisers have their own properties in `vidscribe-core`.

use proptest::prelude::*;
use vidscribe_server::routes::upload::display_filename;

fn hostile_name() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => "[a-zA-Z0-9 _.-]{1,12}",
        2 => prop::sample::select(vec![
            "/", "\\", "..", ".", "../", "..\\", "\0", "\n", "\r\n", "\t", "\u{1b}[31m", "\u{9b}", "\u{7f}",
            "\u{202E}", "\u{202A}", "\u{2066}", "\u{2069}", "\u{200E}", "\u{200F}", "\u{61C}", "\u{2028}",
            "\u{2029}", "\u{200B}", "\u{FEFF}", "\u{301}", " ", "\u{3000}", "<script>", "C:\\", "//server/",
            "%2e%2e%2f", ".wav", ".mp4",
        ])
        .prop_map(str::to_string),
        1 => "\\PC{1,8}",
        1 => "[\\u{0}-\\u{1f}\\u{7f}-\\u{9f}]{1,4}",
        1 => prop::sample::select(vec!["講演", "東京", "🎬", "👩‍👩‍👧", "e\u{301}", "مرحبا", "Ωmega"]).prop_map(str::to_string),
        1 => "[a-z]{100,400}",
    ];
    prop::collection::vec(piece, 0..30).prop_map(|v| v.concat())
}

fn is_layout_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
}

proptest! {
    // No regression file: proptest cannot locate this test crate's root (it is not lib.rs or
    // main.rs) to read one back; cases it finds become explicit tests below instead.
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn display_names_are_harmless_single_labels(raw in hostile_name()) {
        let label = display_filename(Some(&raw));
        prop_assert!(!label.is_empty() && label != "." && label != "..", "{label:?}");
        prop_assert!(!label.contains('/') && !label.contains('\\'), "separator in {label:?}");
        prop_assert!(!label.chars().any(char::is_control), "control character in {label:?}");
        prop_assert!(!label.chars().any(is_layout_control), "layout control in {label:?}");
        prop_assert!(label.chars().count() <= 255, "{} characters", label.chars().count());
        prop_assert_eq!(label.trim(), label.as_str(), "no outer whitespace");
        prop_assert_eq!(display_filename(Some(&label)), label.clone(), "idempotent");
        // Only the last path component counts: whatever directories come before it.
        prop_assert_eq!(display_filename(Some(&format!("../../{raw}"))), label.clone());
        prop_assert_eq!(display_filename(Some(&format!("C:\\x\\{raw}"))), label.clone());
    }

    #[test]
    fn a_plain_name_is_kept_as_it_is(name in "[a-zA-Z0-9][a-zA-Z0-9 _.()-]{0,60}[a-zA-Z0-9]\\.(mp4|wav|mkv)") {
        prop_assert_eq!(display_filename(Some(&name)), name);
    }
}

/// `"\u{202E}"` was found by `display_names_are_harmless_single_labels`: bidi overrides
/// were kept (they are not `char::is_control`), so a name could display reversed.
#[test]
fn no_name_or_an_empty_one_is_upload() {
    for raw in [None, Some(""), Some("   "), Some("/"), Some("a/"), Some("\u{202E}"), Some("\0\0")] {
        assert_eq!(display_filename(raw), "upload", "{raw:?}");
    }
}
