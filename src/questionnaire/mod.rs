//! Questionnaires: the ordered questions of a survey, their scales and their text per locale,
//! loaded from `templates/questionnaires/*.toml`, and the checking of a customer's answers.
//!
//! A file looks like this (the file name, without `.toml`, is the questionnaire's name):
//!
//! ```toml
//! title = { id = "Survei layanan", en = "Service survey" }
//!
//! [[questions]]
//! id = "csat"
//! type = "rating"        # rating (with min/max), nps (0–10), effort (1–7), yes_no, choice, text
//! min = 1
//! max = 5
//! metric = "csat"        # the score it feeds: csat (1–5 rating), fcr (yes_no), nps, ces
//! text = { id = "Seberapa puas Anda?", en = "How satisfied are you?" }
//! ```

mod file;

use crate::templates::TemplateFiles;
use file::{QuestionFile, QuestionnaireFile};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::domain::Locale;

/// Text in several languages.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct Texts(HashMap<Locale, String>);

impl Texts {
    /// The text in every locale it is written in.
    pub fn all(&self) -> impl Iterator<Item = &str> {
        self.0.values().map(String::as_str)
    }

    /// The text for `locale`: its exact tag, else its language (`en` for `en-GB`), else the
    /// `fallback` locale's text (which loading made sure exists).
    pub fn get(&self, locale: &Locale, fallback: &Locale) -> &str {
        self.find(locale)
            .or_else(|| self.find(fallback))
            .unwrap_or_default()
    }

    fn find(&self, locale: &Locale) -> Option<&str> {
        self.0
            .get(locale)
            .or_else(|| {
                self.0
                    .iter()
                    .find(|(tag, _)| tag.as_str() == locale.language())
                    .map(|(_, text)| text)
            })
            .map(String::as_str)
    }

    fn locales(&self) -> impl Iterator<Item = &Locale> {
        self.0.keys()
    }
}

/// What kind of answer a question takes.
#[derive(Debug, Clone)]
pub enum QuestionKind {
    /// A whole number from `min` to `max` (CSAT: 1–5).
    Rating { min: i16, max: i16 },
    /// Net Promoter Score: 0–10.
    Nps,
    /// Customer Effort Score: 1–7.
    Effort,
    /// Yes or no, stored as 1 or 0.
    YesNo,
    /// One of the listed options, stored by its value.
    Choice { options: Vec<ChoiceOption> },
    /// Free text up to `max_length` characters.
    Text { max_length: usize },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChoiceOption {
    pub value: String,
    pub text: Texts,
}

#[derive(Debug, Clone)]
pub struct Question {
    /// Stable name of the question, used in stored responses and reports.
    pub id: String,
    pub kind: QuestionKind,
    pub text: Texts,
    /// Whether the survey can be submitted without it.
    pub optional: bool,
    /// The score this question's answers feed, if any.
    pub metric: Option<Metric>,
}

/// A score computed from one question's answers.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, strum::AsRefStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Metric {
    /// Customer satisfaction: the share of 4 and 5 on a 1–5 rating.
    Csat,
    /// First-contact resolution as the customer tells it: the share of "yes".
    Fcr,
    /// Net Promoter Score, from a 0–10 question.
    Nps,
    /// Customer Effort Score, from a 1–7 question.
    Ces,
}

/// A checked answer to one question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Number(i16),
    Text(String),
}

impl Question {
    /// The inclusive range of a numeric question, `None` for choice and text.
    pub fn scale(&self) -> Option<(i16, i16)> {
        match self.kind {
            QuestionKind::Rating { min, max } => Some((min, max)),
            QuestionKind::Nps => Some((0, 10)),
            QuestionKind::Effort => Some((1, 7)),
            QuestionKind::YesNo => Some((0, 1)),
            QuestionKind::Choice { .. } | QuestionKind::Text { .. } => None,
        }
    }

    /// Checks an answer as a form or a message gives it (a number, `yes`/`no`, an option's
    /// value, or text). Blank input is no answer: `Ok(None)` when the question is optional.
    pub fn parse_answer(&self, input: &str) -> Result<Option<Answer>, String> {
        let input = input.trim();
        if input.is_empty() {
            return if self.optional {
                Ok(None)
            } else {
                Err("an answer is required".into())
            };
        }
        let answer = match &self.kind {
            QuestionKind::YesNo => match input.to_ascii_lowercase().as_str() {
                "1" | "yes" | "y" | "ya" => Answer::Number(1),
                "0" | "no" | "n" | "tidak" => Answer::Number(0),
                _ => return Err(format!("`{input}` is not yes or no")),
            },
            QuestionKind::Choice { options } => options
                .iter()
                .find(|o| o.value == input)
                .map(|o| Answer::Text(o.value.clone()))
                .ok_or_else(|| format!("`{input}` is not one of the options"))?,
            QuestionKind::Text { max_length } => {
                let length = input.chars().count();
                if length > *max_length {
                    return Err(format!(
                        "is {length} characters long; at most {max_length} are kept"
                    ));
                }
                Answer::Text(crate::domain::storable(input).into_owned())
            }
            QuestionKind::Rating { .. } | QuestionKind::Nps | QuestionKind::Effort => {
                let (min, max) = self.scale().unwrap_or_default();
                match input.parse::<i16>() {
                    Ok(n) if (min..=max).contains(&n) => Answer::Number(n),
                    _ => return Err(format!("`{input}` is not a number from {min} to {max}")),
                }
            }
        };
        Ok(Some(answer))
    }

    /// Every text of the question with where it stands, for locale checks.
    fn texts(&self) -> Vec<(String, &Texts)> {
        let mut texts = vec![(format!("question `{}`", self.id), &self.text)];
        if let QuestionKind::Choice { options } = &self.kind {
            for option in options {
                texts.push((
                    format!("question `{}` option `{}`", self.id, option.value),
                    &option.text,
                ));
            }
        }
        texts
    }
}

/// A loaded, checked questionnaire.
#[derive(Debug, Clone)]
pub struct Questionnaire {
    pub name: String,
    pub title: Texts,
    pub questions: Vec<Question>,
    /// Where it was loaded from, for messages (a file, or the built-in one).
    pub place: String,
}

/// Why a questionnaire file cannot be used; the message names the file (and the line when
/// the TOML itself is broken).
#[derive(Debug, thiserror::Error)]
#[error("{place}: {reason}")]
pub struct LoadError {
    pub place: String,
    pub reason: String,
}

impl Questionnaire {
    /// Reads and checks one file. Every text must exist in the `fallback` locale, since that
    /// is what customers see when their own language is missing.
    pub fn load(path: &Path, fallback: &Locale) -> Result<Self, LoadError> {
        let place = path.display().to_string();
        let source = std::fs::read_to_string(path).map_err(|e| LoadError {
            place: place.clone(),
            reason: e.to_string(),
        })?;
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        Self::parse(name, &source, place, fallback)
    }

    /// Checks the text of questionnaire `name`, read from `place`.
    pub fn parse(
        name: &str,
        source: &str,
        place: String,
        fallback: &Locale,
    ) -> Result<Self, LoadError> {
        let error = |reason: String| LoadError {
            place: place.clone(),
            reason,
        };
        let file: QuestionnaireFile =
            toml::from_str(source).map_err(|e| error(e.to_string().trim_end().to_owned()))?;
        let questions = file
            .questions
            .into_iter()
            .map(QuestionFile::check)
            .collect::<Result<_, _>>()
            .map_err(error)?;
        let questionnaire = Questionnaire {
            name: name.to_owned(),
            title: file.title,
            questions,
            place: place.clone(),
        };
        questionnaire.check(fallback).map_err(error)?;
        Ok(questionnaire)
    }

    /// Loads every `questionnaires/*.toml`, sorted by name; all files' problems are reported.
    pub fn load_all(files: &TemplateFiles, fallback: &Locale) -> Result<Vec<Self>, Vec<LoadError>> {
        let mut loaded = Vec::new();
        let mut errors = Vec::new();
        for path in files.list("questionnaires") {
            let Some(name) = path
                .strip_prefix("questionnaires/")
                .and_then(|n| n.strip_suffix(".toml"))
                .filter(|n| !n.contains('/'))
            else {
                continue;
            };
            let result = match files.read(&path) {
                Ok(Some(file)) => Self::parse(name, &file.text, file.place, fallback),
                Ok(None) => continue,
                Err(reason) => Err(LoadError {
                    place: files.place(&path),
                    reason,
                }),
            };
            match result {
                Ok(q) => loaded.push(q),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(loaded)
        } else {
            Err(errors)
        }
    }

    pub fn question(&self, id: &str) -> Option<&Question> {
        self.questions.iter().find(|q| q.id == id)
    }

    /// The first rating-like question (rating, NPS or effort): the one an email offers as
    /// one-click links.
    pub fn first_rating(&self) -> Option<&Question> {
        self.questions.iter().find(|q| {
            matches!(
                q.kind,
                QuestionKind::Rating { .. } | QuestionKind::Nps | QuestionKind::Effort
            )
        })
    }

    /// Locales some text has but another lacks: customers of those locales see that text in
    /// the fallback language. One line per gap, for `templates check`.
    pub fn locale_gaps(&self, fallback: &Locale) -> Vec<String> {
        let texts = self.all_texts();
        let locales: BTreeSet<&str> = texts
            .iter()
            .flat_map(|(_, t)| t.locales().map(Locale::as_str))
            .collect();
        let mut gaps = Vec::new();
        for (place, text) in &texts {
            for locale in &locales {
                if !text.locales().any(|l| l.as_str() == *locale) {
                    gaps.push(format!(
                        "{place} has no `{locale}` text; `{locale}` customers see the `{fallback}` one"
                    ));
                }
            }
        }
        gaps
    }

    fn all_texts(&self) -> Vec<(String, &Texts)> {
        let mut texts = vec![("title".to_owned(), &self.title)];
        texts.extend(self.questions.iter().flat_map(Question::texts));
        texts
    }

    fn check(&self, fallback: &Locale) -> Result<(), String> {
        if self.questions.is_empty() {
            return Err("has no questions".into());
        }
        let mut ids = BTreeSet::new();
        for q in &self.questions {
            if q.id.is_empty() || !q.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "question id `{}` must be letters, digits and `_`",
                    q.id
                ));
            }
            if !ids.insert(q.id.as_str()) {
                return Err(format!("question id `{}` appears twice", q.id));
            }
        }
        let mut metrics = BTreeSet::new();
        for (metric, q) in self
            .questions
            .iter()
            .filter_map(|q| q.metric.map(|m| (m, q)))
        {
            if !metrics.insert(metric) {
                return Err(format!(
                    "question `{}`: another question already feeds metric `{}`",
                    q.id,
                    metric.as_ref()
                ));
            }
        }
        for (place, text) in self.all_texts() {
            if text.find(fallback).is_none() {
                return Err(format!(
                    "{place} has no `{fallback}` text (the default locale, shown when a customer's language is missing)"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, content: &str) -> std::path::PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    fn id() -> Locale {
        Locale::parse("id").unwrap()
    }

    #[test]
    fn shipped_post_contact_questionnaire_loads() {
        let all = Questionnaire::load_all(&TemplateFiles::built_in(), &id()).unwrap();
        let q = all.iter().find(|q| q.name == "post-contact").unwrap();
        let ids: Vec<_> = q.questions.iter().map(|q| q.id.as_str()).collect();
        assert_eq!(ids, ["csat", "resolved", "comment"]);
        assert_eq!(q.first_rating().unwrap().scale(), Some((1, 5)));
        assert!(q.question("comment").unwrap().optional);
        assert!(
            q.locale_gaps(&id()).is_empty(),
            "{:?}",
            q.locale_gaps(&id())
        );
        let en = Locale::parse("en-GB").unwrap();
        assert_ne!(q.title.get(&en, &id()), q.title.get(&id(), &id()));
    }

    #[test]
    fn answers_are_checked_against_the_question() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "q.toml",
            r#"
title = { id = "Survei" }
[[questions]]
id = "csat"
type = "rating"
min = 1
max = 5
text = { id = "Puas?" }
[[questions]]
id = "resolved"
type = "yes_no"
text = { id = "Selesai?" }
[[questions]]
id = "topic"
type = "choice"
optional = true
options = [{ value = "price", text = { id = "Harga" } }]
text = { id = "Topik?" }
[[questions]]
id = "comment"
type = "text"
max_length = 5
optional = true
text = { id = "Komentar" }
"#,
        );
        let q = Questionnaire::load(&path, &id()).unwrap();
        let csat = q.question("csat").unwrap();
        assert_eq!(csat.parse_answer(" 4 ").unwrap(), Some(Answer::Number(4)));
        assert!(csat.parse_answer("6").unwrap_err().contains("from 1 to 5"));
        assert!(csat.parse_answer("").unwrap_err().contains("required"));
        let resolved = q.question("resolved").unwrap();
        assert_eq!(
            resolved.parse_answer("Ya").unwrap(),
            Some(Answer::Number(1))
        );
        assert_eq!(
            resolved.parse_answer("no").unwrap(),
            Some(Answer::Number(0))
        );
        assert!(resolved.parse_answer("maybe").is_err());
        let topic = q.question("topic").unwrap();
        assert_eq!(
            topic.parse_answer("price").unwrap(),
            Some(Answer::Text("price".into()))
        );
        assert!(topic.parse_answer("other").is_err());
        let comment = q.question("comment").unwrap();
        assert_eq!(comment.parse_answer("  ").unwrap(), None);
        assert!(
            comment
                .parse_answer("enam!!")
                .unwrap_err()
                .contains("at most 5")
        );
    }

    #[test]
    fn bad_files_are_refused_with_file_and_reason() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("broken.toml", "title = {", "line 1"),
            (
                "empty.toml",
                "title = { id = \"x\" }\nquestions = []",
                "no questions",
            ),
            (
                "scale.toml",
                "title = { id = \"x\" }\n[[questions]]\nid = \"a\"\ntype = \"rating\"\nmin = 5\nmax = 1\ntext = { id = \"a\" }",
                "min (5) must be below max (1)",
            ),
            (
                "twice.toml",
                "title = { id = \"x\" }\n[[questions]]\nid = \"a\"\ntype = \"nps\"\ntext = { id = \"a\" }\n[[questions]]\nid = \"a\"\ntype = \"effort\"\ntext = { id = \"b\" }",
                "`a` appears twice",
            ),
            (
                "unused.toml",
                "title = { id = \"x\" }\n[[questions]]\nid = \"a\"\ntype = \"nps\"\nmax = 9\ntext = { id = \"a\" }",
                "question `a`: `max` does not apply to this type",
            ),
            (
                "bounds.toml",
                "title = { id = \"x\" }\n[[questions]]\nid = \"a\"\ntype = \"rating\"\ntext = { id = \"a\" }",
                "a rating needs `min` and `max`",
            ),
            (
                "kind.toml",
                "title = { id = \"x\" }\n[[questions]]\nid = \"a\"\ntype = \"stars\"\ntext = { id = \"a\" }",
                "stars",
            ),
            (
                "fallback.toml",
                "title = { id = \"x\" }\n[[questions]]\nid = \"a\"\ntype = \"nps\"\ntext = { en = \"a\" }",
                "question `a` has no `id` text",
            ),
        ];
        for (name, content, reason) in cases {
            let path = write(&dir.path().join("questionnaires"), name, content);
            let err = Questionnaire::load(&path, &id()).unwrap_err().to_string();
            assert!(err.starts_with(&path.display().to_string()), "{err}");
            assert!(err.contains(reason), "{name}: {err}");
        }
        let files = TemplateFiles::with_overrides(Some(dir.path())).unwrap();
        let errors = Questionnaire::load_all(&files, &id()).unwrap_err();
        assert_eq!(errors.len(), cases.len());
    }

    #[test]
    fn missing_locales_fall_back_and_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "q.toml",
            "title = { id = \"Survei\", en = \"Survey\" }\n[[questions]]\nid = \"nps\"\ntype = \"nps\"\ntext = { id = \"Rekomendasi?\" }",
        );
        let q = Questionnaire::load(&path, &id()).unwrap();
        let en = Locale::parse("en").unwrap();
        assert_eq!(q.title.get(&en, &id()), "Survey");
        assert_eq!(q.questions[0].text.get(&en, &id()), "Rekomendasi?");
        assert_eq!(
            q.locale_gaps(&id()),
            ["question `nps` has no `en` text; `en` customers see the `id` one"]
        );
    }
}
