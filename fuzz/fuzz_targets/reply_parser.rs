//! The reply parser on any text a customer could send: opt-out keywords, and an answer to
//! each kind of question (the shipped questionnaire's, and NPS, effort, choice and optional
//! rating questions). It must never panic, and a number it reads must be on the question's
//! scale.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use surveyd::domain::Locale;
use surveyd::questionnaire::{Answer, Question, Questionnaire};
use surveyd::replies::parse::{answer, keyword};

fn questions() -> &'static [Question] {
    static LOADED: OnceLock<Vec<Question>> = OnceLock::new();
    LOADED.get_or_init(|| {
        let locale = Locale::parse("id").unwrap();
        let shipped = surveyd::templates::TemplateFiles::built_in();
        let mut all = Questionnaire::load_all(&shipped, &locale).unwrap();
        let others = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/others.toml");
        all.push(Questionnaire::load(others.as_ref(), &locale).unwrap());
        all.into_iter().flat_map(|q| q.questions).collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = keyword(&text);
    for question in questions() {
        if let Ok(Some(Answer::Number(n))) = answer(question, &text) {
            let (min, max) = question
                .scale()
                .expect("a number answers a numeric question");
            assert!((min..=max).contains(&n), "{n} read from {text:?}");
        }
    }
});
