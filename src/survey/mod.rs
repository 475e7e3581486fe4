//! The customer's side of an invitation: the survey and unsubscribe pages, built from the
//! questionnaire and the page templates, and the checking of a submitted form. The routes
//! that serve them (`/s/{token}`, `/u/{token}`) are in [`crate::http`].

mod settings;

pub use settings::SurveySettings;

use crate::domain::Locale;
use crate::questionnaire::{Answer, Question, QuestionKind, Questionnaire};
use crate::render::page::{OptionField, Pages, QuestionField, SurveyPage};
use crate::store::StoredAnswer;
use std::collections::HashMap;
use std::sync::Arc;

/// The message pages (`{name}_heading`, `{name}_body` in the page words), with the form
/// action of the one that has a button.
pub const MESSAGE_PAGES: [(&str, Option<&str>); 5] = [
    ("thanks", None),
    ("expired", None),
    ("not_found", None),
    ("unsubscribe", Some("/u/SAMPLE")),
    ("unsubscribed", None),
];

/// What the survey pages need beside the store.
pub struct SurveyPages {
    pub pages: Pages,
    pub questionnaires: Arc<HashMap<String, Questionnaire>>,
    pub fallback: Locale,
}

/// What the form shows first: the answers given earlier (`earlier`), and the rating a link
/// in the email carried (`rating`, taken only when it is on the first rating's scale).
pub fn given(
    questionnaire: &Questionnaire,
    earlier: Vec<StoredAnswer>,
    rating: Option<String>,
) -> HashMap<String, String> {
    let mut given: HashMap<String, String> = earlier
        .into_iter()
        .map(|a| {
            let value = a
                .number
                .map(|n| n.to_string())
                .or(a.text)
                .unwrap_or_default();
            (a.question, value)
        })
        .collect();
    if let (Some(rating), Some(first)) = (rating, questionnaire.first_rating())
        && let Ok(Some(Answer::Number(_))) = first.parse_answer(&rating)
    {
        given.insert(first.id.clone(), rating.trim().to_owned());
    }
    given
}

/// Checks every answer of a submitted `form` against the questionnaire: the answers to
/// store, or, by question id, what to fix (in the page words of `locale`).
pub fn check(
    questionnaire: &Questionnaire,
    form: &HashMap<String, String>,
    pages: &Pages,
    locale: &str,
) -> Result<Vec<StoredAnswer>, HashMap<String, String>> {
    let mut answers = Vec::new();
    let mut errors = HashMap::new();
    for question in &questionnaire.questions {
        let input = form.get(&question.id).map(String::as_str).unwrap_or("");
        match question.parse_answer(input) {
            Ok(Some(answer)) => answers.push(stored(question, answer)),
            Ok(None) => {}
            Err(_) => {
                let key = match (&question.kind, input.trim().is_empty()) {
                    (_, true) => "required",
                    (QuestionKind::Text { .. }, false) => "too_long",
                    _ => "invalid",
                };
                errors.insert(question.id.clone(), pages.text(locale, key));
            }
        }
    }
    match errors.is_empty() {
        true => Ok(answers),
        false => Err(errors),
    }
}

fn stored(question: &Question, answer: Answer) -> StoredAnswer {
    let (number, text) = match answer {
        Answer::Number(n) => (Some(n), None),
        Answer::Text(t) => (None, Some(t)),
    };
    StoredAnswer {
        question: question.id.clone(),
        metric: question.metric.map(|m| m.as_ref().to_owned()),
        number,
        text,
    }
}

/// What a survey form shows.
pub struct FormView<'a> {
    pub questionnaire: &'a Questionnaire,
    /// The page locale, as [`Pages::locale`] gives it.
    pub page_locale: &'a str,
    pub token: &'a str,
    /// Answers to show, by question id.
    pub values: &'a HashMap<String, String>,
    /// Messages to show beside questions, by question id.
    pub errors: &'a HashMap<String, String>,
    pub note: Option<String>,
}

impl<'a> FormView<'a> {
    /// The page's variables for the `survey.hbs` template.
    pub fn page(self, pages: &'a Pages, fallback: &Locale) -> SurveyPage<'a> {
        let FormView {
            questionnaire,
            page_locale,
            token,
            values,
            errors,
            note,
        } = self;
        let locale = Locale::parse(page_locale).unwrap_or_else(|_| fallback.clone());
        let questions = questionnaire
            .questions
            .iter()
            .map(|q| {
                let value = values
                    .get(&q.id)
                    .map(|v| v.trim().to_owned())
                    .unwrap_or_default();
                let option = |value_text: String, label: String| OptionField {
                    checked: value == value_text,
                    value: value_text,
                    label,
                };
                let options = match &q.kind {
                    QuestionKind::YesNo => Some(vec![
                        option("1".into(), pages.text(page_locale, "yes")),
                        option("0".into(), pages.text(page_locale, "no")),
                    ]),
                    QuestionKind::Choice { options } => Some(
                        options
                            .iter()
                            .map(|o| {
                                option(o.value.clone(), o.text.get(&locale, fallback).to_owned())
                            })
                            .collect(),
                    ),
                    QuestionKind::Text { .. } => None,
                    QuestionKind::Rating { .. } | QuestionKind::Nps | QuestionKind::Effort => {
                        let (min, max) = q.scale().unwrap_or_default();
                        Some(
                            (min..=max)
                                .map(|n| option(n.to_string(), n.to_string()))
                                .collect(),
                        )
                    }
                };
                QuestionField {
                    id: q.id.clone(),
                    text: q.text.get(&locale, fallback).to_owned(),
                    optional: q.optional,
                    options,
                    value,
                    max_length: match q.kind {
                        QuestionKind::Text { max_length } => max_length,
                        _ => 0,
                    },
                    error: errors.get(&q.id).cloned(),
                }
            })
            .collect();
        SurveyPage {
            lang: page_locale,
            t: pages.texts(page_locale),
            heading: questionnaire.title.get(&locale, fallback).to_owned(),
            note,
            errors: !errors.is_empty(),
            action: format!("/s/{token}"),
            questions,
        }
    }
}
