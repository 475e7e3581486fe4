//! The survey routes: `GET /s/{token}` shows the questionnaire (a rating link's `?r=4`
//! preselects that rating), `POST /s/{token}` records the answers; `GET /u/{token}` asks to
//! confirm, `POST /u/{token}` records the email opt-out (RFC 8058 one-click: any POST body, no
//! cookies, 200 and no redirect).
//!
//! A GET never records anything: mail security scanners open every link in a message.

use crate::alerts::AlertRule;
use crate::auth::survey_token_digest;
use crate::clock::Clock;
use crate::domain::Locale;
use crate::domain::SurveyChannel;
use crate::questionnaire::Questionnaire;
use crate::render::page::Pages;
use crate::store::{OpenedInvitation, Store};
use crate::survey::{self, FormView, SurveyPages};
use axum::Router;
use axum::extract::{Form, FromRef, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::collections::HashMap;
use std::sync::Arc;

/// What the survey routes reach.
#[derive(Clone)]
pub struct SurveyState {
    pub store: Store,
    pub clock: Clock,
    pub survey: Arc<SurveyPages>,
    /// Which answers raise a detractor alert.
    pub alerts: Arc<AlertRule>,
}

/// The pages: `GET|POST /s/{token}` and `GET /u/{token}`.
pub fn pages<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    SurveyState: FromRef<S>,
{
    Router::new()
        .route("/s/{token}", get(show).post(submit))
        .route("/u/{token}", get(confirm_unsubscribe))
}

/// The one-click unsubscribe: `POST /u/{token}`.
pub fn unsubscribe_route<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    SurveyState: FromRef<S>,
{
    Router::new().route("/u/{token}", post(unsubscribe))
}

#[derive(Debug, serde::Deserialize)]
struct RatingQuery {
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

async fn open<'a>(state: &'a SurveyState, token: &str, allow_expired: bool) -> Opened<'a> {
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
async fn show(
    State(state): State<SurveyState>,
    Path(token): Path<String>,
    Query(query): Query<RatingQuery>,
) -> Response {
    let (invitation, questionnaire, locale) = match open(&state, &token, false).await {
        Opened::Open(i, q, l) => (i, q, l),
        Opened::Page(page) => return page,
    };
    let given = match state.store.answers(invitation.id).await {
        Ok(earlier) => survey::given(questionnaire, earlier, query.r),
        Err(e) => return server_error(e),
    };
    let note = invitation
        .answered_at
        .map(|_| state.survey.pages.text(&locale, "answered_before"));
    let form = FormView {
        questionnaire,
        page_locale: &locale,
        token: &token,
        values: &given,
        errors: &HashMap::new(),
        note,
    };
    render_form(&state.survey, form, StatusCode::OK)
}

/// `POST /s/{token}`: checks every answer against the questionnaire; records them all (the
/// earlier answers replaced) and thanks, or shows the form again with what to fix (422).
async fn submit(
    State(state): State<SurveyState>,
    Path(token): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let (invitation, questionnaire, locale) = match open(&state, &token, false).await {
        Opened::Open(i, q, l) => (i, q, l),
        Opened::Page(page) => return page,
    };
    let pages = &state.survey.pages;
    let answers = match survey::check(questionnaire, &form, pages, &locale) {
        Ok(answers) => answers,
        Err(errors) => {
            let view = FormView {
                questionnaire,
                page_locale: &locale,
                token: &token,
                values: &form,
                errors: &errors,
                note: None,
            };
            return render_form(&state.survey, view, StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
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
async fn confirm_unsubscribe(
    State(state): State<SurveyState>,
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
async fn unsubscribe(State(state): State<SurveyState>, Path(token): Path<String>) -> Response {
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

/// The survey form `form` describes, answered with `status`.
fn render_form(survey: &SurveyPages, form: FormView<'_>, status: StatusCode) -> Response {
    match survey
        .pages
        .survey(&form.page(&survey.pages, &survey.fallback))
    {
        Ok(html) => Html(status, html).into_response(),
        Err(e) => server_error(e),
    }
}
