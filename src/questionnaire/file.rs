//! A questionnaire file as written: every field any question type takes, checked into the
//! [`Question`]s a survey asks.

use super::{ChoiceOption, Metric, Question, QuestionKind, Texts};
use serde::Deserialize;

/// A question as written in the file: every field any type takes, checked into a [`Question`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct QuestionFile {
    id: String,
    #[serde(rename = "type")]
    kind: KindName,
    text: Texts,
    #[serde(default)]
    optional: bool,
    metric: Option<Metric>,
    min: Option<i16>,
    max: Option<i16>,
    options: Option<Vec<ChoiceOption>>,
    max_length: Option<usize>,
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "snake_case")]
enum KindName {
    Rating,
    Nps,
    Effort,
    YesNo,
    Choice,
    Text,
}

impl QuestionFile {
    pub(super) fn check(self) -> Result<Question, String> {
        let id = self.id;
        let unused = |name: &str, set: bool| {
            if set {
                Err(format!(
                    "question `{id}`: `{name}` does not apply to this type"
                ))
            } else {
                Ok(())
            }
        };
        if self.kind != KindName::Rating {
            unused("min", self.min.is_some())?;
            unused("max", self.max.is_some())?;
        }
        if self.kind != KindName::Choice {
            unused("options", self.options.is_some())?;
        }
        if self.kind != KindName::Text {
            unused("max_length", self.max_length.is_some())?;
        }
        let kind = match self.kind {
            KindName::Rating => {
                let (Some(min), Some(max)) = (self.min, self.max) else {
                    return Err(format!("question `{id}`: a rating needs `min` and `max`"));
                };
                if min >= max {
                    return Err(format!(
                        "question `{id}`: min ({min}) must be below max ({max})"
                    ));
                }
                QuestionKind::Rating { min, max }
            }
            KindName::Nps => QuestionKind::Nps,
            KindName::Effort => QuestionKind::Effort,
            KindName::YesNo => QuestionKind::YesNo,
            KindName::Choice => match self.options {
                Some(options) if !options.is_empty() => QuestionKind::Choice { options },
                _ => return Err(format!("question `{id}` has no options")),
            },
            KindName::Text => QuestionKind::Text {
                max_length: self.max_length.unwrap_or(2000),
            },
        };
        let metric = self.metric.or(match kind {
            QuestionKind::Nps => Some(Metric::Nps),
            QuestionKind::Effort => Some(Metric::Ces),
            _ => None,
        });
        let fits = match (metric, &kind) {
            (None, _) => true,
            (Some(Metric::Csat), QuestionKind::Rating { min: 1, max: 5 }) => true,
            (Some(Metric::Fcr), QuestionKind::YesNo) => true,
            (Some(Metric::Nps), QuestionKind::Nps) => true,
            (Some(Metric::Ces), QuestionKind::Effort) => true,
            (Some(_), _) => false,
        };
        if !fits {
            return Err(format!(
                "question `{id}`: metric `{}` needs a {}",
                metric.map(|m| m.as_ref().to_owned()).unwrap_or_default(),
                match metric {
                    Some(Metric::Csat) => "rating from 1 to 5",
                    Some(Metric::Fcr) => "yes_no question",
                    Some(Metric::Nps) => "nps question",
                    _ => "effort question",
                }
            ));
        }
        Ok(Question {
            id,
            kind,
            text: self.text,
            optional: self.optional,
            metric,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct QuestionnaireFile {
    pub(super) title: Texts,
    pub(super) questions: Vec<QuestionFile>,
}
