//! What templates may say: the values of an invitation email, a chat message and a question,
//! each with every key present (absent values are `null`) so strict mode refuses only names
//! that do not exist, and dates written in the customer's language.

use crate::domain::Locale;
use crate::questionnaire::{Question, QuestionKind, Questionnaire};
use serde::Serialize;

/// What an invitation email may say. Every key is always present (absent values are `null`),
/// so strict mode refuses only names that do not exist.
#[derive(Debug, Clone, Serialize)]
pub struct EmailVars {
    #[serde(flatten)]
    pub invitee: InviteeVars,
    /// The first rating question's text, in the customer's language.
    pub question: String,
    pub survey_url: String,
    /// One link per point of the first rating question's scale.
    pub rating_links: Vec<RatingLink>,
    pub unsubscribe_url: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RatingLink {
    pub value: i16,
    pub url: String,
}

/// The links of one invitation: `{public_url}/s/{token}` and `{public_url}/u/{token}`.
#[derive(Debug, Clone)]
pub struct SurveyLinks {
    pub survey: String,
    pub unsubscribe: String,
}

impl SurveyLinks {
    pub fn new(public_url: &url::Url, token: &str) -> Self {
        let base = public_url.as_str().trim_end_matches('/');
        SurveyLinks {
            survey: format!("{base}/s/{token}"),
            unsubscribe: format!("{base}/u/{token}"),
        }
    }
}

/// Who is invited, about which contact.
#[derive(Debug, Clone)]
pub struct Invitee<'a> {
    pub customer_name: &'a str,
    pub agent_name: Option<&'a str>,
    pub category: Option<&'a str>,
    pub closed_at: chrono::DateTime<chrono::Utc>,
    pub time_zone: chrono_tz::Tz,
}

/// Who is invited, about which contact, as every message template sees it.
#[derive(Debug, Clone, Serialize)]
pub struct InviteeVars {
    pub customer_name: String,
    pub agent_name: Option<String>,
    pub category: Option<String>,
    /// The contact's closing date, in the customer's time zone.
    pub closed_date: String,
}

impl InviteeVars {
    pub fn new(invitee: &Invitee<'_>, locale: &Locale) -> Self {
        InviteeVars {
            customer_name: invitee.customer_name.to_owned(),
            agent_name: invitee.agent_name.map(str::to_owned),
            category: invitee.category.map(str::to_owned),
            closed_date: long_date(invitee.closed_at, invitee.time_zone, locale),
        }
    }
}

impl EmailVars {
    /// The variables of an invitation to `questionnaire` in `locale`: the first rating
    /// question's text, and one link per point of its scale (`{survey}?r={value}`).
    pub fn new(
        questionnaire: &Questionnaire,
        locale: &Locale,
        fallback: &Locale,
        links: &SurveyLinks,
        invitee: &Invitee<'_>,
    ) -> Self {
        let first = questionnaire.first_rating();
        EmailVars {
            invitee: InviteeVars::new(invitee, locale),
            question: first
                .map(|q| q.text.get(locale, fallback).to_owned())
                .unwrap_or_default(),
            survey_url: links.survey.clone(),
            rating_links: first
                .and_then(|q| q.scale())
                .map(|(min, max)| {
                    (min..=max)
                        .map(|value| RatingLink {
                            value,
                            url: format!("{}?r={value}", links.survey),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            unsubscribe_url: links.unsubscribe.clone(),
        }
    }
}

/// What a chat message may say. Every key is always present (absent values are `null`).
#[derive(Debug, Clone, Serialize)]
pub struct ChatVars {
    #[serde(flatten)]
    pub invitee: InviteeVars,
    /// The question the message asks (for an invitation: the first one), if any.
    pub question: Option<QuestionVars>,
    /// The question as `question.hbs` words it, with how to answer; empty without a question.
    pub prompt: String,
    /// The survey page, for those who prefer it.
    pub survey_url: String,
    /// The language the message is in (a WhatsApp template's language code).
    pub locale: String,
}

impl ChatVars {
    pub fn new(
        invitee: &Invitee<'_>,
        locale: &Locale,
        survey_url: String,
        question: Option<QuestionVars>,
    ) -> Self {
        ChatVars {
            invitee: InviteeVars::new(invitee, locale),
            question,
            prompt: String::new(),
            survey_url,
            locale: locale.to_string(),
        }
    }
}

/// A question as a chat message words it.
#[derive(Debug, Clone, Serialize)]
pub struct QuestionVars {
    pub id: String,
    pub text: String,
    /// The scale of a numeric question (rating, NPS, effort); `null` for the others.
    pub min: Option<i16>,
    pub max: Option<i16>,
    pub yes_no: bool,
    /// A choice question's options, numbered from 1 (a reply may give the number).
    pub options: Vec<OptionVars>,
    pub free_text: bool,
    pub optional: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct OptionVars {
    pub number: usize,
    pub value: String,
    pub text: String,
}

impl QuestionVars {
    pub fn new(question: &Question, locale: &Locale, fallback: &Locale) -> Self {
        let scale = match question.kind {
            QuestionKind::Rating { .. } | QuestionKind::Nps | QuestionKind::Effort => {
                question.scale()
            }
            _ => None,
        };
        let options = match &question.kind {
            QuestionKind::Choice { options } => options
                .iter()
                .enumerate()
                .map(|(i, o)| OptionVars {
                    number: i + 1,
                    value: o.value.clone(),
                    text: o.text.get(locale, fallback).to_owned(),
                })
                .collect(),
            _ => Vec::new(),
        };
        QuestionVars {
            id: question.id.clone(),
            text: question.text.get(locale, fallback).to_owned(),
            min: scale.map(|(min, _)| min),
            max: scale.map(|(_, max)| max),
            yes_no: matches!(question.kind, QuestionKind::YesNo),
            options,
            free_text: matches!(question.kind, QuestionKind::Text { .. }),
            optional: question.optional,
        }
    }
}

/// A date as people of `locale` write it in full ("22 November 2026", "22 Mei 2026"), in the
/// time zone `tz`.
pub fn long_date(at: chrono::DateTime<chrono::Utc>, tz: chrono_tz::Tz, locale: &Locale) -> String {
    let language = locale.language();
    let posix = format!("{language}_{}", language.to_ascii_uppercase());
    let names = chrono::Locale::try_from(locale.as_str().replace('-', "_").as_str())
        .or_else(|_| chrono::Locale::try_from(posix.as_str()))
        .unwrap_or(chrono::Locale::POSIX);
    at.with_timezone(&tz)
        .format_localized("%-d %B %Y", names)
        .to_string()
}
