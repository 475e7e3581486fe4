//! The dashboard at `/dashboard`: server-rendered pages with inline SVG charts and nothing
//! loaded from elsewhere — CSAT and NPS by week with their interval bands, the agent
//! leaderboard by shrunk CSAT, response rate by channel, and the open detractor alerts with
//! buttons to acknowledge and resolve them. The routes that serve it are in [`crate::http`].
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

use crate::auth::SurveyKey;
use crate::clock::Clock;
use crate::domain::{Defaults, TimeZone};
use crate::scoring::{Report, ReportRow, ReportSettings};
use crate::store::{Alert, AlertAction, Breakdown, Period, Store, StoreError};
use charts::{Estimate, IntervalBars, LineChart};
use handlebars::Handlebars;
use serde::Serialize;
pub use session::Session;
pub use sign_in::hash_password;

/// The dashboard's parts that live as long as the daemon: the page templates, compiled into
/// the binary, the bound on password checks, the key forms' tokens are made with, and the
/// settings its pages are built from.
pub struct Dashboard {
    views: Handlebars<'static>,
    gate: sign_in::Gate,
    store: Store,
    clock: Clock,
    settings: DashboardSettings,
    reports: ReportSettings,
    defaults: Defaults,
    session_key: [u8; 32],
}

/// How a sign-in went.
pub enum SignIn {
    /// Signed in as `user`: the session cookie's value.
    Opened { user: String, cookie: String },
    /// The account is locked for `seconds` more; `message` says so.
    Locked { seconds: i64, message: String },
    /// Too many sign-ins at once: try again in `seconds`.
    Busy { seconds: i64 },
    /// Wrong name or password.
    Refused,
}

/// The sign-in page's variables.
#[derive(Serialize)]
struct LoginPage<'a> {
    title: &'a str,
    error: Option<&'a str>,
    name: &'a str,
}

impl Dashboard {
    pub fn new(
        store: Store,
        clock: Clock,
        settings: &DashboardSettings,
        (reports, defaults): (&ReportSettings, &Defaults),
        key: &SurveyKey,
    ) -> Dashboard {
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
            store,
            clock,
            settings: settings.clone(),
            reports: reports.clone(),
            defaults: defaults.clone(),
            session_key: key.derive("dashboard session"),
        }
    }

    /// How long a session lasts (`dashboard.session`).
    pub fn session_lifetime(&self) -> std::time::Duration {
        self.settings.session
    }

    /// The sign-in page, with `error` above the form and `name` filled in.
    pub fn login_page(&self, error: Option<&str>, name: &str) -> Result<String, PageError> {
        let page = LoginPage {
            title: "Sign in",
            error,
            name,
        };
        Ok(self.views.render("login", &page)?)
    }

    /// The dashboard as `session` sees it now.
    pub async fn page(&self, session: &Session) -> Result<String, PageError> {
        let page = self.dashboard(session).await?;
        Ok(self.views.render("dashboard", &page)?)
    }

    /// The answer to a sign-in for `account` while it is locked, if it is.
    async fn locked(&self, account: Option<&DashboardUser>) -> Result<Option<SignIn>, StoreError> {
        let Some(account) = account else {
            return Ok(None);
        };
        let now = self.clock.now();
        Ok(self
            .store
            .sign_in_locked(&account.name, now)
            .await?
            .map(|until| {
                tracing::warn!(user = ?account.name, "dashboard sign-in refused: account locked");
                let seconds = (until - now).num_seconds() + 1;
                let wait =
                    crate::domain::duration::format(std::time::Duration::from_secs(seconds as u64));
                SignIn::Locked {
                    seconds,
                    message: format!(
                        "Too many wrong passwords: this account is locked for {wait}."
                    ),
                }
            }))
    }

    /// Signs `name` in with `password`: a locked account is refused before any password work
    /// (before waiting for a check, and again once one is free: guesses that queued meanwhile
    /// may have locked it); a wrong password counts toward the lock.
    pub async fn sign_in(&self, name: &str, password: String) -> Result<SignIn, StoreError> {
        let limits = &self.settings.sign_in;
        let account = self.settings.users.iter().find(|u| u.name == name);
        if let Some(locked) = self.locked(account).await? {
            return Ok(locked);
        }
        let Some(check) = self.gate.enter().await else {
            tracing::warn!(user = ?name, "dashboard sign-in turned away: too many at once");
            return Ok(SignIn::Busy {
                seconds: limits.wait.as_secs_f64().ceil() as i64,
            });
        };
        if let Some(locked) = self.locked(account).await? {
            return Ok(locked);
        }
        // An unknown name costs the same work as a wrong password, so timing does not tell
        // them apart.
        let hash = account.map_or_else(sign_in::decoy_hash, |u| u.password_hash.expose().clone());
        // The check is held until the outcome is recorded, so the next sign-in sees this one's.
        let verified = check.verify(password, hash.clone()).await;
        let Some(user) = account.filter(|_| verified) else {
            if let Some(user) = account {
                let lock = |failures| sign_in::lock_for(limits, failures);
                self.store
                    .sign_in_failed(&user.name, self.clock.now(), lock)
                    .await?;
            }
            drop(check);
            tracing::warn!(user = ?name, "dashboard sign-in refused");
            return Ok(SignIn::Refused);
        };
        self.store.sign_in_succeeded(&user.name).await?;
        let cookie = session::open(
            &self.store,
            &user.name,
            &hash,
            self.clock.now(),
            self.settings.session,
        )
        .await?;
        tracing::info!(user = ?user.name, "dashboard sign-in");
        Ok(SignIn::Opened {
            user: user.name.clone(),
            cookie,
        })
    }

    /// The live session a cookie value stands for.
    pub async fn session(&self, cookie: &str) -> Result<Option<Session>, StoreError> {
        session::find(
            &self.store,
            &self.settings.users,
            &self.session_key,
            cookie,
            self.clock.now(),
        )
        .await
    }

    /// Ends `session` for every daemon.
    pub async fn end(&self, session: &Session) -> Result<(), StoreError> {
        session.end(&self.store, self.clock.now()).await
    }

    /// Acknowledges or resolves alert `id` as `session`'s account, with `note`.
    pub async fn move_alert(
        &self,
        session: &Session,
        id: i64,
        action: AlertAction,
        note: Option<&str>,
    ) -> Result<(), StoreError> {
        self.store
            .move_alert(id, action, &session.user, note, self.clock.now())
            .await?;
        tracing::info!(alert = id, action = action.as_ref(), by = %session.user, "alert moved");
        Ok(())
    }
}

/// Why a page could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot render the dashboard: {0}")]
    Render(#[from] handlebars::RenderError),
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

impl Dashboard {
    async fn dashboard(&self, session: &Session) -> Result<DashboardPage, StoreError> {
        let tz = self.reports.time_zone(&self.defaults);
        let now = self.clock.now();
        let weeks = self.settings.weeks;
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
            let mut query = self.reports.query(
                &self.defaults,
                vec![by],
                Some(Period::Week),
                (Some(since), None),
                now,
            );
            // The dashboard shows no FCR from the contacts: that pass is left out.
            query.repeat_window = None;
            async move { Report::run(&self.store, &query, self.reports.min_answers).await }
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
        let mut alerts = self.store.alerts(Some("open"), 100).await?;
        alerts.extend(self.store.alerts(Some("acknowledged"), 100).await?);
        Ok(DashboardPage {
            title: "Customer feedback",
            user: session.user.clone(),
            csrf: session.csrf.clone(),
            weeks,
            since: first.to_string(),
            time_zone: tz.as_str().to_owned(),
            min_answers: self.reports.min_answers,
            alert_count: alerts.len(),
            alerts: alerts.into_iter().map(|a| AlertView::of(a, tz)).collect(),
            csat: charts::line_chart(&periods, &csat, (0.0, 1.0), percent),
            nps: charts::line_chart(&periods, &nps, (-100.0, 100.0), points),
            leaderboard: charts::interval_bars(&leaderboard),
            unranked,
            channels: charts::interval_bars(&channels),
        })
    }
}
