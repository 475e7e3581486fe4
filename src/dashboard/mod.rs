//! The dashboard at `/dashboard`: server-rendered pages with inline SVG charts and nothing
//! loaded from elsewhere — CSAT and NPS by week with their interval bands, the agent
//! leaderboard by shrunk CSAT, response rate by channel, and the open detractor alerts with
//! buttons to acknowledge and resolve them.
//!
//! Sign-in is by a configured account whose password is kept as an Argon2id hash, within the
//! bounds of [`sign_in`]; a session ([`session`]) is a cookie (`HttpOnly`, `SameSite=Strict`,
//! `Secure` behind HTTPS) naming a session stored in the database, so every daemon on it
//! accepts it until it expires or is ended.

pub mod charts;
pub mod session;
mod settings;
pub mod sign_in;

pub use settings::{DashboardSettings, DashboardUser, SignInSettings};

use crate::domain::TimeZone;
use crate::http::AppState;
use crate::scoring::{Report, ReportRow};
use crate::store::{Alert, AlertAction, Breakdown, Period, StoreError};
use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use charts::{Estimate, IntervalBars, LineChart};
use handlebars::Handlebars;
use serde::{Deserialize, Serialize};
use session::{COOKIE, Session};
pub use sign_in::hash_password;

/// The dashboard's routes; sign-in attempts under the `sign_in` limit.
pub fn routes(
    sign_in: &Option<std::sync::Arc<crate::ratelimit::AddressLimit>>,
) -> Router<AppState> {
    let sign_in = crate::ratelimit::apply(
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

/// The dashboard's parts that live as long as the daemon: the page templates, compiled into
/// the binary, and the bound on password checks.
pub struct Dashboard {
    views: Handlebars<'static>,
    gate: sign_in::Gate,
}

impl Dashboard {
    pub fn new(settings: &DashboardSettings) -> Dashboard {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        for (name, source) in [
            ("layout", include_str!("templates/layout.hbs")),
            ("login", include_str!("templates/login.hbs")),
            ("line_chart", include_str!("templates/line_chart.hbs")),
            ("bars", include_str!("templates/bars.hbs")),
            ("dashboard", include_str!("templates/dashboard.hbs")),
        ] {
            registry
                .register_template_string(name, source)
                .expect("the dashboard templates compile");
        }
        Dashboard {
            views: registry,
            gate: sign_in::Gate::new(&settings.sign_in),
        }
    }

    fn render(&self, name: &str, data: &impl Serialize) -> Response {
        match self.views.render(name, data) {
            Ok(html) => Html(html).into_response(),
            Err(e) => {
                tracing::error!(error = %e, template = name, "cannot render the dashboard");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

#[derive(Serialize)]
struct LoginPage<'a> {
    title: &'a str,
    error: Option<&'a str>,
    name: &'a str,
}

async fn login_page(State(state): State<AppState>) -> Response {
    state.dashboard.render(
        "login",
        &LoginPage {
            title: "Sign in",
            error: None,
            name: "",
        },
    )
}

#[derive(Deserialize)]
struct Credentials {
    name: String,
    password: String,
}

/// The sign-in page again with `error`, answered with `status`.
fn refused(state: &AppState, status: StatusCode, error: &str, name: &str) -> Response {
    let mut page = state.dashboard.render(
        "login",
        &LoginPage {
            title: "Sign in",
            error: Some(error),
            name,
        },
    );
    *page.status_mut() = status;
    page
}

/// `429` with the sign-in page and `Retry-After: seconds`.
fn too_many(state: &AppState, seconds: i64, error: &str, name: &str) -> Response {
    let mut page = refused(state, StatusCode::TOO_MANY_REQUESTS, error, name);
    page.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from(seconds.max(1)),
    );
    page
}

fn unavailable(e: StoreError) -> Response {
    tracing::error!(error = %e, "cannot sign in");
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

/// The answer to a sign-in for `account` while it is locked, if it is.
async fn refuse_if_locked(
    state: &AppState,
    account: Option<&DashboardUser>,
    name: &str,
) -> Option<Response> {
    let user = account?;
    let now = state.clock.now();
    match state.store.sign_in_locked(&user.name, now).await {
        Ok(Some(until)) => {
            let seconds = (until - now).num_seconds() + 1;
            tracing::warn!(user = ?name, "dashboard sign-in refused: account locked");
            let wait =
                crate::domain::duration::format(std::time::Duration::from_secs(seconds as u64));
            Some(too_many(
                state,
                seconds,
                &format!("Too many wrong passwords: this account is locked for {wait}."),
                name,
            ))
        }
        Ok(None) => None,
        Err(e) => Some(unavailable(e)),
    }
}

async fn login(
    State(state): State<AppState>,
    jar: CookieJar,
    Form(form): Form<Credentials>,
) -> Response {
    let limits = &state.settings.dashboard.sign_in;
    let account = state
        .settings
        .dashboard
        .users
        .iter()
        .find(|u| u.name == form.name);
    // A locked account is refused before any password work: before waiting for a check, and
    // again once one is free (guesses that queued meanwhile may have locked it).
    if let Some(refusal) = refuse_if_locked(&state, account, &form.name).await {
        return refusal;
    }
    let Some(check) = state.dashboard.gate.enter().await else {
        tracing::warn!(user = ?form.name, "dashboard sign-in turned away: too many at once");
        return too_many(
            &state,
            limits.wait.as_secs_f64().ceil() as i64,
            "Too many sign-ins at once: try again in a moment.",
            &form.name,
        );
    };
    if let Some(refusal) = refuse_if_locked(&state, account, &form.name).await {
        return refusal;
    }
    // An unknown name costs the same work as a wrong password, so timing does not tell them apart.
    let hash = account.map_or_else(sign_in::decoy_hash, |u| u.password_hash.expose().clone());
    // The check is held until the outcome is recorded, so the next sign-in sees this one's.
    let verified = check.verify(form.password, hash.clone()).await;
    let Some(user) = account.filter(|_| verified) else {
        if let Some(user) = account {
            let lock = |failures| sign_in::lock_for(limits, failures);
            if let Err(e) = state
                .store
                .sign_in_failed(&user.name, state.clock.now(), lock)
                .await
            {
                return unavailable(e);
            }
        }
        drop(check);
        tracing::warn!(user = ?form.name, "dashboard sign-in refused");
        return refused(
            &state,
            StatusCode::UNAUTHORIZED,
            "Wrong name or password.",
            &form.name,
        );
    };
    let opened = match state.store.sign_in_succeeded(&user.name).await {
        Ok(()) => session::open(&state, &user.name, &hash).await,
        Err(e) => Err(e),
    };
    let value = match opened {
        Ok(value) => value,
        Err(e) => return unavailable(e),
    };
    tracing::info!(user = ?user.name, "dashboard sign-in");
    let lifetime = state.settings.dashboard.session;
    let cookie = Cookie::build((COOKIE, value))
        .path("/dashboard")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.settings.survey.public_url.scheme() == "https")
        .max_age(time::Duration::seconds(lifetime.as_secs() as i64))
        .build();
    (jar.add(cookie), Redirect::to("/dashboard")).into_response()
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
    State(state): State<AppState>,
    session: Session,
    jar: CookieJar,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !session.posted(&form.csrf) {
        return out_of_date();
    }
    if let Err(e) = session.end(&state).await {
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
    State(state): State<AppState>,
    session: Session,
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
    match state
        .store
        .move_alert(id, action, &session.user, note, state.clock.now())
        .await
    {
        // Moved, or already moved by someone else: either way back to the list.
        Ok(_) | Err(StoreError::Conflict(_)) => {
            tracing::info!(alert = id, action = action.as_ref(), by = %session.user, "alert moved");
            Redirect::to("/dashboard#alerts").into_response()
        }
        Err(StoreError::NotFound(_)) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot move the alert");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[derive(Serialize)]
struct DashboardPage {
    title: &'static str,
    user: String,
    csrf: String,
    weeks: u32,
    since: String,
    time_zone: String,
    min_answers: u64,
    alert_count: usize,
    alerts: Vec<AlertView>,
    csat: LineChart,
    nps: LineChart,
    leaderboard: IntervalBars,
    unranked: usize,
    channels: IntervalBars,
}

#[derive(Serialize)]
struct AlertView {
    id: i64,
    state: String,
    open: bool,
    raised: String,
    reasons: String,
    customer: String,
    contact: String,
    agent: String,
    reach: String,
    /// Who acknowledged it, when, and their note.
    handled: Vec<String>,
    answers: Vec<AnswerView>,
}

#[derive(Serialize)]
struct AnswerView {
    question: String,
    value: String,
}

impl AlertView {
    fn of(alert: Alert, zone: TimeZone) -> AlertView {
        AlertView {
            open: alert.state == "open",
            raised: zone.show(alert.created_at),
            handled: crate::alerts::steps(&alert, zone),
            reasons: alert.reasons.replace(',', ", "),
            customer: match &alert.customer_name {
                Some(name) => format!("{name} ({})", alert.customer_id),
                None => alert.customer_id.clone(),
            },
            contact: format!(
                "{}{}",
                alert.contact_id,
                alert
                    .category
                    .as_ref()
                    .map(|c| format!(" · {c}"))
                    .unwrap_or_default()
            ),
            agent: [
                alert.agent_name.clone().or(alert.agent_id.clone()),
                alert.team.clone(),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · "),
            reach: [alert.customer_email.clone(), alert.customer_phone.clone()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" · "),
            answers: alert
                .answers
                .iter()
                .map(|a| AnswerView {
                    question: a.question.clone(),
                    value: crate::alerts::answer_value(a),
                })
                .collect(),
            id: alert.id,
            state: alert.state,
        }
    }
}

fn percent(v: f64) -> String {
    format!("{:.0}%", v * 100.0)
}

fn points(v: f64) -> String {
    format!("{v:+.0}")
}

fn label(row: &ReportRow) -> String {
    row.keys
        .first()
        .map(|k| k.name.clone().unwrap_or_else(|| k.key.clone()))
        .unwrap_or_default()
}

async fn show(State(state): State<AppState>, session: Session) -> Response {
    match dashboard(&state, session).await {
        Ok(page) => state.dashboard.render("dashboard", &page),
        Err(e) => {
            tracing::error!(error = %e, "cannot build the dashboard");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn dashboard(state: &AppState, session: Session) -> Result<DashboardPage, StoreError> {
    let settings = &state.settings;
    let tz = settings.reports.time_zone(&settings.defaults);
    let now = state.clock.now();
    let weeks = settings.dashboard.weeks;
    // From the Monday `weeks - 1` weeks before this week's.
    let today = now.with_timezone(&tz.tz()).date_naive();
    let monday = today
        - chrono::Days::new(u64::from(
            chrono::Datelike::weekday(&today).num_days_from_monday(),
        ));
    let first = monday - chrono::Days::new(7 * u64::from(weeks - 1));
    let since = tz
        .to_utc(first.and_time(chrono::NaiveTime::MIN))
        .unwrap_or(now);
    let periods: Vec<String> = (0..weeks)
        .map(|w| (first + chrono::Days::new(7 * u64::from(w))).to_string())
        .collect();
    let report = |by: Breakdown| {
        let mut query = settings.reports.query(
            &settings.defaults,
            vec![by],
            Some(Period::Week),
            (Some(since), None),
            now,
        );
        // The dashboard shows no FCR from the contacts: that pass is left out.
        query.repeat_window = None;
        async move { Report::run(&state.store, &query, settings.reports.min_answers).await }
    };
    let by_week = report(Breakdown::Period).await?;
    let by_agent = report(Breakdown::Agent).await?;
    let by_channel = report(Breakdown::Channel).await?;
    let estimate = |row: &ReportRow, (value, low, high, n): (f64, f64, f64, u64)| Estimate {
        label: row.keys.first().map(|k| k.key.clone()).unwrap_or_default(),
        value,
        low,
        high,
        n,
    };
    let csat: Vec<Estimate> = by_week
        .rows
        .iter()
        .filter_map(|r| r.csat.map(|p| estimate(r, (p.value, p.low, p.high, p.n))))
        .collect();
    let nps: Vec<Estimate> = by_week
        .rows
        .iter()
        .filter_map(|r| r.nps.map(|p| estimate(r, (p.value, p.low, p.high, p.n))))
        .collect();
    let leaderboard: Vec<(Estimate, String)> = by_agent
        .rows
        .iter()
        .filter_map(|r| {
            let (rank, raw, shrunk) = (r.rank?, r.csat?, r.csat_shrunk?);
            let bar = Estimate {
                label: format!("{rank}. {}", label(r)),
                value: shrunk.value,
                low: shrunk.low,
                high: shrunk.high,
                n: raw.n,
            };
            let figures = format!(
                "{} · raw {} · n {}",
                percent(shrunk.value),
                percent(raw.value),
                raw.n
            );
            Some((bar, figures))
        })
        .collect();
    let unranked = by_agent.rows.iter().filter(|r| r.rank.is_none()).count();
    let channels: Vec<(Estimate, String)> = by_channel
        .rows
        .iter()
        .filter_map(|r| {
            let rate = r.response_rate?;
            let figures = format!("{} · {} of {}", percent(rate.value), rate.count, rate.n);
            Some((
                estimate(r, (rate.value, rate.low, rate.high, rate.n)),
                figures,
            ))
        })
        .collect();
    let mut alerts = state.store.alerts(Some("open"), 100).await?;
    alerts.extend(state.store.alerts(Some("acknowledged"), 100).await?);
    Ok(DashboardPage {
        title: "Customer feedback",
        user: session.user,
        csrf: session.csrf,
        weeks,
        since: first.to_string(),
        time_zone: tz.as_str().to_owned(),
        min_answers: settings.reports.min_answers,
        alert_count: alerts.len(),
        alerts: alerts.into_iter().map(|a| AlertView::of(a, tz)).collect(),
        csat: charts::line_chart(&periods, &csat, (0.0, 1.0), percent),
        nps: charts::line_chart(&periods, &nps, (-100.0, 100.0), points),
        leaderboard: charts::interval_bars(&leaderboard),
        unranked,
        channels: charts::interval_bars(&channels),
    })
}
