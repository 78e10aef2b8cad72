use crate::support::{fixture, transcribe};

#[test]
fn the_multilingual_model_detects_french_and_english() {
    let french = transcribe(&fixture("fr_prompts.wav"), "base");
    assert_eq!(
        french.language,
        "fr",
        "detected {:?} for French prompts: {:?}",
        french.language,
        french.text()
    );
    assert!(
        french.language_probability.is_some_and(|p| p > 0.5),
        "{:?}",
        french.language_probability
    );
    let lower = french.text().to_lowercase();
    assert!(
        lower.contains("dossier") || lower.contains("message"),
        "French text expected: {lower:?}"
    );

    let english = transcribe(&fixture("jfk.wav"), "base");
    assert_eq!(english.language, "en");
    assert!(vidscribe_formats::wer::wer(
        "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.",
        &english.text()
    ) <= 0.05);
}
