//! The dashboard's routes: `GET /dashboard`, `GET|POST /dashboard/login`,
//! `POST /dashboard/logout` and `POST /dashboard/alerts/{id}/{action}`. Pages and sign-in
//! are [`crate::dashboard`]'s; this module carries the session cookie, the forms' tokens
//! against cross-site posts, and the answers (redirects, 401, 403, 429 with `Retry-After`).

use super::ratelimit::{self, AddressLimit};
use crate::dashboard::session::COOKIE;
use crate::dashboard::{Dashboard, PageError, Session, SignIn};
use crate::store::{AlertAction, StoreError};
use axum::Router;
use axum::extract::{Form, FromRef, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::Deserialize;
use std::sync::Arc;

/// What the dashboard's routes reach.
#[derive(Clone)]
pub struct DashboardState {
    pub dashboard: Arc<Dashboard>,
    /// Whether the session cookie is `Secure` (the public URL is HTTPS).
    pub secure_cookie: bool,
}

/// The dashboard's routes; sign-in attempts under the `sign_in` limit.
pub fn routes<S>(sign_in: &Option<Arc<AddressLimit>>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    DashboardState: FromRef<S>,
{
    let sign_in = ratelimit::apply(
        Router::new().route("/dashboard/login", post(login)),
        sign_in,
    );
    Router::new()
        .route("/dashboard", get(show))
        .route("/dashboard/login", get(login_page))
        .route("/dashboard/logout", post(logout))
        .route("/dashboard/alerts/{id}/{action}", post(move_alert))
        .merge(sign_in)
}

/// A signed-in request: the session its cookie names, else a redirect to the sign-in page.
struct SignedIn(Session);

impl<S> FromRequestParts<S> for SignedIn
where
    S: Send + Sync,
    DashboardState: FromRef<S>,
{
    type Rejection = Redirect;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Redirect> {
        let state = DashboardState::from_ref(state);
        let jar = CookieJar::from_headers(&parts.headers);
        let Some(value) = jar.get(COOKIE).map(|c| c.value().to_owned()) else {
            return Err(Redirect::to("/dashboard/login"));
        };
        match state.dashboard.session(&value).await {
            Ok(Some(session)) => Ok(SignedIn(session)),
            Ok(None) => Err(Redirect::to("/dashboard/login")),
            Err(e) => {
                tracing::error!(error = %e, "cannot read the dashboard session");
                Err(Redirect::to("/dashboard/login"))
            }
        }
    }
}

/// A page, or a logged 500.
fn html(page: Result<String, PageError>, status: StatusCode) -> Response {
    match page {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot build the dashboard");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn login_page(State(state): State<DashboardState>) -> Response {
    html(state.dashboard.login_page(None, ""), StatusCode::OK)
}

#[derive(Deserialize)]
struct Credentials {
    name: String,
    password: String,
}

/// The sign-in page again with `error`, answered with `status`.
fn refused(state: &DashboardState, status: StatusCode, error: &str, name: &str) -> Response {
    html(state.dashboard.login_page(Some(error), name), status)
}

/// `429` with the sign-in page and `Retry-After: seconds`.
fn too_many(state: &DashboardState, seconds: i64, error: &str, name: &str) -> Response {
    let mut page = refused(state, StatusCode::TOO_MANY_REQUESTS, error, name);
    page.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    page
}

fn unavailable(e: StoreError) -> Response {
    tracing::error!(error = %e, "cannot sign in");
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

async fn login(
    State(state): State<DashboardState>,
    jar: CookieJar,
    Form(form): Form<Credentials>,
) -> Response {
    let name = &form.name;
    match state.dashboard.sign_in(name, form.password).await {
        Err(e) => unavailable(e),
        Ok(SignIn::Locked { seconds, message }) => too_many(&state, seconds, &message, name),
        Ok(SignIn::Busy { seconds }) => too_many(
            &state,
            seconds,
            "Too many sign-ins at once: try again in a moment.",
            name,
        ),
        Ok(SignIn::Refused) => refused(
            &state,
            StatusCode::UNAUTHORIZED,
            "Wrong name or password.",
            name,
        ),
        Ok(SignIn::Opened { cookie, .. }) => {
            let lifetime = state.dashboard.session_lifetime();
            let cookie = Cookie::build((COOKIE, cookie))
                .path("/dashboard")
                .http_only(true)
                .same_site(SameSite::Strict)
                .secure(state.secure_cookie)
                .max_age(time::Duration::seconds(lifetime.as_secs() as i64))
                .build();
            (jar.add(cookie), Redirect::to("/dashboard")).into_response()
        }
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

fn out_of_date() -> Response {
    (
        StatusCode::FORBIDDEN,
        "the form is out of date: reload the page",
    )
        .into_response()
}

async fn logout(
    State(state): State<DashboardState>,
    SignedIn(session): SignedIn,
    jar: CookieJar,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !session.posted(&form.csrf) {
        return out_of_date();
    }
    if let Err(e) = state.dashboard.end(&session).await {
        tracing::error!(error = %e, "cannot end the dashboard session");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    tracing::info!(user = ?session.user, "dashboard sign-out");
    let gone = Cookie::build((COOKIE, "")).path("/dashboard").build();
    (jar.remove(gone), Redirect::to("/dashboard/login")).into_response()
}

/// An alert's form: the session's token, and the note typed beside the buttons.
#[derive(Deserialize)]
struct MoveForm {
    csrf: String,
    #[serde(default)]
    note: String,
}

async fn move_alert(
    State(state): State<DashboardState>,
    SignedIn(session): SignedIn,
    Path((id, action)): Path<(i64, String)>,
    Form(form): Form<MoveForm>,
) -> Response {
    if !session.posted(&form.csrf) {
        return out_of_date();
    }
    let note = Some(form.note.trim()).filter(|n| !n.is_empty());
    let Ok(action) = action.parse::<AlertAction>() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match state.dashboard.move_alert(&session, id, action, note).await {
        // Moved, or already moved by someone else: either way back to the list.
        Ok(()) | Err(StoreError::Conflict(_)) => Redirect::to("/dashboard#alerts").into_response(),
        Err(StoreError::NotFound(_)) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot move the alert");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn show(State(state): State<DashboardState>, SignedIn(session): SignedIn) -> Response {
    html(state.dashboard.page(&session).await, StatusCode::OK)
}
