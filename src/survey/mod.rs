//! The customer's side of an invitation: `GET /s/{token}` shows the questionnaire (a rating
//! link's `?r=4` preselects that rating), `POST /s/{token}` records the answers; `GET
//! /u/{token}` asks to confirm, `POST /u/{token}` records the email opt-out (RFC 8058
//! one-click: any POST body, no cookies, 200 and no redirect).
//!
//! A GET never records anything: mail security scanners open every link in a message.

mod settings;

pub use settings::SurveySettings;

use crate::auth::survey_token_digest;
use crate::campaign::SurveyChannel;
use crate::domain::Locale;
use crate::http::AppState;
use crate::questionnaire::{Answer, Question, QuestionKind, Questionnaire};
use crate::render::page::{OptionField, Pages, QuestionField, SurveyPage};
use crate::store::{OpenedInvitation, StoredAnswer};
use axum::extract::{Form, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
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

#[derive(Debug, serde::Deserialize)]
pub struct RatingQuery {
    /// The rating a link in the email carried, preselected on the form.
    r: Option<String>,
}

/// An HTML page with its status; pages are never cached (they hold personal answers).
struct Html(StatusCode, String);

impl IntoResponse for Html {
    fn into_response(self) -> Response {
        (
            self.0,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            self.1,
        )
            .into_response()
    }
}

/// A page could not be built: logged, and a plain 500 for the customer.
fn server_error(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "survey page failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong; please try again later.",
    )
        .into_response()
}

/// The open invitation behind a token, or the page that says why there is none.
enum Opened<'a> {
    Open(OpenedInvitation, &'a Questionnaire, String),
    Page(Response),
}

async fn open<'a>(state: &'a AppState, token: &str, allow_expired: bool) -> Opened<'a> {
    let survey = &state.survey;
    let fallback_locale = survey
        .pages
        .locale(&survey.fallback, &survey.fallback)
        .to_owned();
    let page = |status, locale: &str, name| match survey.pages.message(locale, name, None) {
        Ok(html) => Opened::Page(Html(status, html).into_response()),
        Err(e) => Opened::Page(server_error(e)),
    };
    let invitation = match state
        .store
        .invitation_by_token(&survey_token_digest(token))
        .await
    {
        Ok(Some(invitation)) => invitation,
        Ok(None) => return page(StatusCode::NOT_FOUND, &fallback_locale, "not_found"),
        Err(e) => return Opened::Page(server_error(e)),
    };
    let locale = invitation
        .locale
        .as_deref()
        .and_then(|l| Locale::parse(l).ok())
        .unwrap_or_else(|| survey.fallback.clone());
    let page_locale = survey.pages.locale(&locale, &survey.fallback).to_owned();
    let Some(questionnaire) = survey.questionnaires.get(&invitation.questionnaire) else {
        tracing::error!(questionnaire = %invitation.questionnaire, "an invitation's questionnaire is not configured");
        return page(StatusCode::NOT_FOUND, &page_locale, "not_found");
    };
    if !allow_expired && invitation.expired(state.clock.now()) {
        return page(StatusCode::GONE, &page_locale, "expired");
    }
    Opened::Open(invitation, questionnaire, page_locale)
}

/// `GET /s/{token}`: the form, filled with earlier answers or the rating from the link.
pub async fn show(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(query): Query<RatingQuery>,
) -> Response {
    let (invitation, questionnaire, locale) = match open(&state, &token, false).await {
        Opened::Open(i, q, l) => (i, q, l),
        Opened::Page(page) => return page,
    };
    let mut given: HashMap<String, String> = match state.store.answers(invitation.id).await {
        Ok(answers) => answers
            .into_iter()
            .map(|a| {
                let value = a
                    .number
                    .map(|n| n.to_string())
                    .or(a.text)
                    .unwrap_or_default();
                (a.question, value)
            })
            .collect(),
        Err(e) => return server_error(e),
    };
    if let (Some(rating), Some(first)) = (query.r, questionnaire.first_rating()) {
        // Only a value on the scale is taken; anything else leaves the rating unset.
        if let Ok(Some(Answer::Number(_))) = first.parse_answer(&rating) {
            given.insert(first.id.clone(), rating.trim().to_owned());
        }
    }
    let note = invitation
        .answered_at
        .map(|_| state.survey.pages.text(&locale, "answered_before"));
    render_form(
        &state,
        questionnaire,
        &locale,
        &token,
        &given,
        &HashMap::new(),
        note,
    )
}

/// `POST /s/{token}`: checks every answer against the questionnaire; records them all (the
/// earlier answers replaced) and thanks, or shows the form again with what to fix (422).
pub async fn submit(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let (invitation, questionnaire, locale) = match open(&state, &token, false).await {
        Opened::Open(i, q, l) => (i, q, l),
        Opened::Page(page) => return page,
    };
    let pages = &state.survey.pages;
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
                errors.insert(question.id.clone(), pages.text(&locale, key));
            }
        }
    }
    if !errors.is_empty() {
        let mut page = render_form(&state, questionnaire, &locale, &token, &form, &errors, None);
        *page.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        return page;
    }
    match state
        .store
        .save_answers(
            invitation.id,
            &answers,
            &invitation.channel,
            state.clock.now(),
            &*state.alerts,
        )
        .await
    {
        Ok(true) => {
            tracing::info!(invitation = invitation.id, "answers recorded");
            message(pages, &locale, StatusCode::OK, "thanks", None)
        }
        Ok(false) => message(pages, &locale, StatusCode::GONE, "expired", None),
        Err(e) => server_error(e),
    }
}

/// `GET /u/{token}`: asks to confirm; changes nothing.
pub async fn confirm_unsubscribe(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Response {
    match open(&state, &token, true).await {
        Opened::Open(_, _, locale) => message(
            &state.survey.pages,
            &locale,
            StatusCode::OK,
            "unsubscribe",
            Some(format!("/u/{token}")),
        ),
        Opened::Page(page) => page,
    }
}

/// `POST /u/{token}`: records the opt-out (idempotent), whatever the body (RFC 8058 sends
/// `List-Unsubscribe=One-Click` as a form or multipart; the confirm page's button sends the
/// same). Answers 200 with a page, never a redirect.
pub async fn unsubscribe(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let (invitation, locale) = match open(&state, &token, true).await {
        Opened::Open(i, _, l) => (i, l),
        Opened::Page(page) => return page,
    };
    let recorded = state
        .store
        .opt_out_customer(
            invitation.customer_id,
            SurveyChannel::Email,
            "unsubscribe link",
            state.clock.now(),
        )
        .await;
    match recorded {
        Ok(new) => {
            tracing::info!(invitation = invitation.id, new, "email opt-out recorded");
            message(
                &state.survey.pages,
                &locale,
                StatusCode::OK,
                "unsubscribed",
                None,
            )
        }
        Err(e) => server_error(e),
    }
}

fn message(
    pages: &Pages,
    locale: &str,
    status: StatusCode,
    name: &str,
    action: Option<String>,
) -> Response {
    match pages.message(locale, name, action) {
        Ok(html) => Html(status, html).into_response(),
        Err(e) => server_error(e),
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

/// The form for `questionnaire`, with `values` filled in and `errors` beside their questions.
#[allow(clippy::too_many_arguments)]
fn render_form(
    state: &AppState,
    questionnaire: &Questionnaire,
    page_locale: &str,
    token: &str,
    values: &HashMap<String, String>,
    errors: &HashMap<String, String>,
    note: Option<String>,
) -> Response {
    let survey = &state.survey;
    let form = FormView {
        questionnaire,
        page_locale,
        token,
        values,
        errors,
        note,
    };
    match survey
        .pages
        .survey(&form.page(&survey.pages, &survey.fallback))
    {
        Ok(html) => Html(StatusCode::OK, html).into_response(),
        Err(e) => server_error(e),
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
