//! Typed settings: the embedded `config/default.toml`, then an optional file (`--config` or
//! `SURVEYD_CONFIG`), then `SURVEYD_*` environment variables, the last one winning.
//!
//! Every key can be set by a variable ([`env`]): `SURVEYD_DATABASE_URL` is `database.url`,
//! `SURVEYD_EMAIL_SMTP_PASSWORD` is `email.smtp.password`. A problem is refused at start with
//! where it was set (the file's absolute path and line, or the variable), the key, the value
//! and what is allowed ([`problems`]). Secrets print as `[redacted]` in `Debug` and in
//! `config show`.

mod env;
mod problems;

pub use crate::domain::{Country, Defaults, Problem, Secret, redact};
pub use crate::store::{Backend, DatabaseSettings, DatabaseUrl, RetentionSettings};
pub use env::OPTIONAL as OPTIONAL_KEYS;

use crate::domain::TimeZone;
use figment::Figment;
use figment::providers::{Format, Toml};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The defaults shipped inside the binary.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub http: HttpSettings,
    pub defaults: Defaults,
    pub api: ApiSettings,
    pub intake: IntakeSettings,
    pub templates: TemplateSettings,
    pub survey: SurveySettings,
    pub scheduler: SchedulerSettings,
    pub reports: ReportSettings,
    pub alerts: AlertSettings,
    pub dashboard: DashboardSettings,
    pub dispatch: DispatchSettings,
    pub email: EmailSettings,
    pub channels: ChannelSettings,
    pub twilio: TwilioSettings,
    pub whatsapp: WhatsappSettings,
    /// Generic HTTP gateways (Fonnte, Zenziva, Wablas, Qontak…) by name.
    #[serde(default)]
    pub gateways: std::collections::BTreeMap<String, GatewaySettings>,
    pub retention: RetentionSettings,
    pub log: LogSettings,
    /// The survey campaigns; a file that lists campaigns replaces the default ones.
    #[serde(default)]
    pub campaigns: Vec<crate::campaign::Campaign>,
    /// Helpdesk databases read directly (`[[sources]]`), polled by the daemon.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<crate::intake::source::SourceSettings>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub listen: SocketAddr,
    /// Largest request body accepted, in bytes; larger ones get 413.
    pub max_body_bytes: usize,
    /// A request not answered within this (its body included) gets 408.
    #[serde(with = "crate::domain::duration")]
    pub request_timeout: std::time::Duration,
    /// A connection that has not sent a request's headers this long after it opened, or
    /// after the previous response (a keep-alive connection left idle), is closed.
    #[serde(with = "crate::domain::duration")]
    pub header_timeout: std::time::Duration,
    /// Connections open at once; one more is closed as soon as it is accepted, and counted in
    /// `surveyd_http_connections_refused_total`.
    pub max_connections: usize,
    pub rate_limit: RateLimitSettings,
}

impl HttpSettings {
    fn check(&self) -> Result<(), Problem> {
        if self.max_connections == 0 {
            return Err(Problem::at("http.max_connections", "must be at least 1"));
        }
        if self.header_timeout.is_zero() {
            return Err(Problem::at("http.header_timeout", "must be longer than 0s"));
        }
        Ok(())
    }
}

/// Requests allowed from one client address on the public routes.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Survey and unsubscribe pages, and the dashboard's pages.
    pub pages: RequestRate,
    /// The unsubscribe POST (one-click, RFC 8058): mailbox providers send it for many
    /// recipients from a few addresses.
    pub unsubscribe: RequestRate,
    /// Provider callbacks under `/webhooks/`.
    pub webhooks: RequestRate,
    /// Sign-in attempts at the dashboard.
    pub sign_in: RequestRate,
    /// Requests per API token (`/v1/…`, `/metrics`), wherever they come from.
    pub api: RequestRate,
    /// Count the client by the last `X-Forwarded-For` address (behind a reverse proxy that
    /// writes it); otherwise by the connection's address.
    pub forwarded_for: bool,
}

/// A bucket of `burst` requests refilled at `per_second` (fractions allowed; 0: no limit).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RequestRate {
    pub per_second: f64,
    pub burst: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    /// Bearer tokens accepted by the HTTP API, stored as the SHA-256 of the token
    /// (`surveyd tokens hash` prints it). Tokens made with `surveyd tokens create` live in
    /// the database instead.
    #[serde(default)]
    pub tokens: Vec<ConfiguredToken>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfiguredToken {
    pub name: String,
    pub sha256: Secret<crate::auth::TokenHash>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeSettings {
    /// Contacts parsed and written together (one set of statements) during an import.
    pub batch_size: usize,
    /// Contacts committed per database transaction during an import. Larger is faster;
    /// on SQLite other writers wait while a transaction is open.
    pub rows_per_transaction: usize,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSettings {
    /// A folder whose files replace the built-in questionnaires and templates of the same
    /// path (and add to them); unset, the built-in ones serve.
    pub dir: Option<PathBuf>,
    /// `templates check` warns about an SMS template whose sample text needs more segments.
    pub sms_max_segments: usize,
}

/// The survey links the daemon hands out.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SurveySettings {
    /// The daemon's public base URL, as customers reach it (survey and unsubscribe links).
    #[serde(serialize_with = "redact::serialize")]
    pub public_url: url::Url,
    /// The key survey tokens are derived from (64 hex digits). When unset, a key is kept in
    /// `key_file`, created on first use. Daemons sharing a database must share the key.
    pub key: Option<Secret<String>>,
    pub key_file: PathBuf,
}

/// The daemon's scheduled jobs: planning campaigns and polling sources.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerSettings {
    /// How long a daemon holds a job it runs; another takes the job over after that.
    #[serde(with = "crate::domain::duration")]
    pub lease: std::time::Duration,
}

/// How reports count and present scores.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSettings {
    /// The zone periods are counted in; `defaults.time_zone` when left out.
    pub time_zone: Option<TimeZone>,
    /// The period of a `period` breakdown when a report does not name one.
    pub period: crate::store::Period,
    /// Groups with fewer answers are "not enough answers" and never ranked.
    pub min_answers: u64,
    /// The lowest CSAT rating (1–5) that counts as satisfied.
    pub csat_top_box: i16,
    /// FCR from contact records: a contact after whose close the customer opened another of
    /// the same category within this time was not resolved at first contact.
    #[serde(with = "crate::domain::duration")]
    pub repeat_window: std::time::Duration,
}

impl ReportSettings {
    /// The report of invitations sent in `[since, until)`, grouped `by`, as these settings
    /// count it at `now` (`period` overrides the configured period).
    pub fn query(
        &self,
        defaults: &Defaults,
        by: Vec<crate::store::Breakdown>,
        period: Option<crate::store::Period>,
        (since, until): (
            Option<chrono::DateTime<chrono::Utc>>,
            Option<chrono::DateTime<chrono::Utc>>,
        ),
        now: chrono::DateTime<chrono::Utc>,
    ) -> crate::store::ReportQuery {
        crate::store::ReportQuery {
            by,
            period: period.unwrap_or(self.period),
            time_zone: self.time_zone(defaults),
            since,
            until,
            csat_top_box: self.csat_top_box,
            repeat_window: Some(self.repeat_window()),
            now,
        }
    }

    /// How the per-day summary reports read is counted.
    pub fn summary(&self, defaults: &Defaults) -> crate::store::SummarySettings {
        crate::store::SummarySettings {
            time_zone: self.time_zone(defaults),
            repeat_window: self.repeat_window(),
            csat_top_box: self.csat_top_box,
        }
    }

    fn repeat_window(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.repeat_window).unwrap_or(chrono::Duration::MAX)
    }

    /// The zone periods are counted in.
    pub fn time_zone(&self, defaults: &Defaults) -> TimeZone {
        self.time_zone.unwrap_or(defaults.time_zone)
    }

    fn check(&self) -> Result<(), Problem> {
        if self.min_answers == 0 {
            return Err(Problem::at("reports.min_answers", "must be at least 1"));
        }
        if !(2..=5).contains(&self.csat_top_box) {
            return Err(Problem::at(
                "reports.csat_top_box",
                "must be a rating from 2 to 5",
            ));
        }
        if self.repeat_window.is_zero() {
            return Err(Problem::at(
                "reports.repeat_window",
                "must be longer than 0s",
            ));
        }
        Ok(())
    }
}

/// The dashboard at `/dashboard`: who may sign in, and for how long.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardSettings {
    /// The accounts, each with its password's Argon2id hash (`surveyd dashboard
    /// hash-password`); no accounts, no sign-in.
    pub users: Vec<DashboardUser>,
    /// How long a sign-in lasts.
    #[serde(with = "crate::domain::duration")]
    pub session: std::time::Duration,
    /// How many weeks the charts show.
    pub weeks: u32,
    /// How password checks are bounded.
    pub sign_in: SignInSettings,
}

/// Bounds on sign-in: password checks at once, and the lock after wrong passwords in a row.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SignInSettings {
    /// Argon2id checks running at once across all accounts (each holds about 19 MiB).
    pub concurrency: u32,
    /// How long a sign-in waits for a free check before it gets `429`.
    #[serde(with = "crate::domain::duration")]
    pub wait: std::time::Duration,
    /// Wrong passwords in a row that lock an account (0: never).
    pub lock_after: u32,
    /// The first lock; each further wrong password doubles it, up to `lock_max`.
    #[serde(with = "crate::domain::duration")]
    pub lock: std::time::Duration,
    /// The longest lock.
    #[serde(with = "crate::domain::duration")]
    pub lock_max: std::time::Duration,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardUser {
    pub name: String,
    pub password_hash: Secret<String>,
}

impl DashboardSettings {
    fn check(&self) -> Result<(), Problem> {
        for (i, user) in self.users.iter().enumerate() {
            argon2::PasswordHash::new(user.password_hash.expose()).map_err(|e| {
                Problem::at(
                    format!("dashboard.users.{i}.password_hash"),
                    format!(
                        "the password hash of {} is not a PHC hash ({e}); make one with \
                         surveyd dashboard hash-password",
                        user.name
                    ),
                )
            })?;
        }
        if !(1..=104).contains(&self.weeks) {
            return Err(Problem::at("dashboard.weeks", "must be from 1 to 104"));
        }
        if self.sign_in.concurrency == 0 {
            return Err(Problem::at(
                "dashboard.sign_in.concurrency",
                "must be at least 1",
            ));
        }
        if self.sign_in.lock_max < self.sign_in.lock {
            return Err(Problem::at(
                "dashboard.sign_in.lock_max",
                "must be at least dashboard.sign_in.lock",
            ));
        }
        Ok(())
    }
}

/// Detractor alerts: when an answer raises one, and where it goes.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    /// A CSAT rating at or below this raises an alert (0: never).
    pub csat_at_most: i16,
    /// An NPS answer at or below this raises an alert (-1: never).
    pub nps_at_most: i16,
    /// Whether "no" to the resolution question raises an alert.
    pub unresolved: bool,
    /// Who gets an alert by email when its team has no lead below.
    pub email: Vec<String>,
    /// The lead's email address per team (as the contacts name teams).
    pub team_leads: std::collections::BTreeMap<String, String>,
    /// An endpoint every alert is posted to as signed JSON.
    pub webhook: Option<AlertWebhook>,
}

/// Where alerts are posted, and the key their HMAC-SHA256 signature is made with.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertWebhook {
    #[serde(serialize_with = "redact::serialize")]
    pub url: url::Url,
    pub secret: Secret<String>,
    /// How long a post may take before it counts as failed (and is retried).
    #[serde(with = "crate::domain::duration", default = "default_webhook_timeout")]
    pub timeout: std::time::Duration,
}

fn default_webhook_timeout() -> std::time::Duration {
    std::time::Duration::from_secs(10)
}

impl AlertSettings {
    fn check(&self) -> Result<(), Problem> {
        let addresses = self
            .email
            .iter()
            .map(|a| ("alerts.email".to_owned(), a))
            .chain(
                self.team_leads
                    .iter()
                    .map(|(team, a)| (format!("alerts.team_leads.{team}"), a)),
            );
        for (key, address) in addresses {
            address.parse::<lettre::message::Mailbox>().map_err(|e| {
                Problem::at(key, format!("{address:?} is not an email address ({e})"))
            })?;
        }
        if let Some(webhook) = &self.webhook {
            if !matches!(webhook.url.scheme(), "http" | "https") {
                return Err(Problem::at(
                    "alerts.webhook.url",
                    "must be an http or https URL",
                ));
            }
            if webhook.secret.expose().len() < 16 {
                return Err(Problem::at(
                    "alerts.webhook.secret",
                    "must be at least 16 characters long",
                ));
            }
        }
        Ok(())
    }
}

/// The workers that send queued deliveries.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DispatchSettings {
    /// Deliveries claimed per database statement.
    pub batch_size: usize,
    /// How long a claim holds; a worker that dies leaves its deliveries to others after this.
    #[serde(with = "crate::domain::duration")]
    pub lease: std::time::Duration,
    /// Attempts before a delivery that keeps failing transiently is marked failed.
    pub max_attempts: u32,
    /// The wait before the first retry; doubled each attempt (with jitter) up to `backoff_max`.
    #[serde(with = "crate::domain::duration")]
    pub backoff: std::time::Duration,
    #[serde(with = "crate::domain::duration")]
    pub backoff_max: std::time::Duration,
    /// How often `serve` looks for due deliveries when the queue was empty.
    #[serde(with = "crate::domain::duration")]
    pub poll_interval: std::time::Duration,
    /// Transient failures in a row after which a channel's provider is left alone for
    /// `breaker_cool_down`, then probed with one message (0: never).
    pub breaker_failures: u32,
    #[serde(with = "crate::domain::duration")]
    pub breaker_cool_down: std::time::Duration,
    /// Messages a day at most per channel (`{ sms = 1000 }`), the day in
    /// `defaults.time_zone`: past it, invitations wait for the next day.
    #[serde(default)]
    pub daily_caps: std::collections::BTreeMap<crate::campaign::SurveyChannel, u64>,
}

/// How invitation emails leave.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    /// `file` writes `{delivery id}.eml` files into `outbox_dir`; `smtp` sends to `[email.smtp]`.
    pub transport: EmailTransport,
    /// The sender, e.g. `Customer Care <care@example.com>`.
    pub from: String,
    pub outbox_dir: PathBuf,
    pub smtp: SmtpSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailTransport {
    File,
    Smtp,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    /// `none` (plain, for a local relay), `starttls` (usually port 587) or `implicit` (465).
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<Secret<String>>,
    /// Limit for connecting and for each message's exchange.
    #[serde(with = "crate::domain::duration")]
    pub timeout: std::time::Duration,
    /// Connections open at once (each sends one message at a time).
    pub max_connections: usize,
    /// The name given in EHLO; the machine's host name when unset.
    pub hello_name: Option<String>,
}

/// Which provider carries each chat channel.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSettings {
    /// `twilio`; unset, SMS deliveries fail ("no provider") and invitations move on.
    pub sms: Option<String>,
    /// `meta` (the WhatsApp Cloud API) or `twilio`; unset, WhatsApp deliveries fail the
    /// same way.
    pub whatsapp: Option<String>,
}

/// Twilio: SMS, and WhatsApp through Twilio.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioSettings {
    /// The API's base URL (changed only for tests and regional endpoints).
    #[serde(serialize_with = "redact::serialize")]
    pub base_url: url::Url,
    pub account_sid: Option<String>,
    /// The account's auth token: it authenticates sends and signs Twilio's callbacks
    /// (`X-Twilio-Signature`). Unset, the Twilio webhooks answer 404.
    pub auth_token: Option<Secret<String>>,
    /// The sending number (`+62…`), or instead a Messaging Service.
    pub from: Option<String>,
    pub messaging_service_sid: Option<String>,
    /// The WhatsApp sender (`+1…`, sent as `whatsapp:+1…`) when WhatsApp goes through Twilio.
    pub whatsapp_from: Option<String>,
    /// Requests at once.
    pub max_connections: usize,
    /// Messages per second at most, for all workers of this daemon (a long code takes about
    /// one); 0 is no limit.
    pub rate_per_second: f64,
    #[serde(with = "crate::domain::duration")]
    pub timeout: std::time::Duration,
}

/// Meta's WhatsApp Cloud API.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WhatsappSettings {
    /// The Graph API's base URL and version.
    #[serde(serialize_with = "redact::serialize")]
    pub base_url: url::Url,
    pub api_version: String,
    /// The business phone number's id, and the access token (system user) that sends.
    pub phone_number_id: Option<String>,
    pub access_token: Option<Secret<String>>,
    /// The app secret that signs webhook events (`X-Hub-Signature-256`). Unset, the WhatsApp
    /// webhook answers 404.
    pub app_secret: Option<Secret<String>>,
    /// The token Meta sends back in the subscription handshake (`hub.verify_token`).
    pub verify_token: Option<Secret<String>>,
    /// The approved template that opens a conversation outside the 24-hour window (the
    /// invitation, usually); without one such messages go as text and Meta refuses them.
    pub template: Option<WhatsappTemplate>,
    /// The approved template a reminder goes as outside the window; unset, `template`.
    pub reminder_template: Option<WhatsappTemplate>,
    pub max_connections: usize,
    /// Messages per second at most, for all workers of this daemon; 0 is no limit.
    pub rate_per_second: f64,
    #[serde(with = "crate::domain::duration")]
    pub timeout: std::time::Duration,
}

/// An approved WhatsApp message template.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WhatsappTemplate {
    pub name: String,
    /// The body's parameters, in order, by chat variable (`customer_name`, `agent_name`,
    /// `category`, `closed_date`, `survey_url`).
    #[serde(default)]
    pub parameters: Vec<String>,
    /// The payloads of the template's quick-reply buttons, in order (`csat_5`, `csat_1`…):
    /// what a tap sends back.
    #[serde(default)]
    pub buttons: Vec<String>,
}

/// A generic HTTP gateway, described rather than coded.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    /// The channel its messages travel on: `sms` or `whatsapp`.
    pub channel: crate::campaign::SurveyChannel,
    /// How messages are sent; unset, the gateway only receives callbacks.
    pub send: Option<GatewaySend>,
    /// How its callbacks (`POST /webhooks/gateways/{name}`) are read; unset, they answer 404.
    pub inbound: Option<GatewayInbound>,
}

/// One request per message, described: method, URL, authentication, body, and how to read
/// the answer. The URL and each body value are handlebars templates over `to` (the number in
/// `phone_format`), `text`, `kind` (`invite`, `reminder`, `question`…) and `delivery_id`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySend {
    #[serde(default = "post")]
    pub method: String,
    #[serde(serialize_with = "redact::serialize")]
    pub url: String,
    pub auth: GatewayAuth,
    pub body_format: BodyFormat,
    pub body: std::collections::BTreeMap<String, String>,
    pub phone_format: PhoneFormat,
    /// The answer is a success when the JSON at `pointer` equals `value` (many gateways
    /// answer 200 to a failure), e.g. `{ pointer = "/status", value = true }`.
    pub success: SuccessRule,
    /// Where the gateway's id for the message is (`/id/0`).
    pub message_id: String,
    /// Where a refusal's reason is (`/reason`), for the failure record.
    pub error: Option<String>,
    pub max_connections: usize,
    /// Messages per second at most, for all workers of this daemon; 0 is no limit.
    pub rate_per_second: f64,
    #[serde(with = "crate::domain::duration")]
    pub timeout: std::time::Duration,
}

fn post() -> String {
    "POST".into()
}

/// Where a gateway wants its credentials.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum GatewayAuth {
    /// A raw header, e.g. Fonnte's `Authorization: <token>`.
    Header {
        name: String,
        value: Secret<String>,
    },
    Bearer {
        token: Secret<String>,
    },
    Basic {
        username: String,
        password: Secret<String>,
    },
    /// Fields added to the body, e.g. Zenziva's `userkey` and `passkey`.
    Body {
        fields: std::collections::BTreeMap<String, Secret<String>>,
    },
    /// A query parameter.
    Query {
        name: String,
        value: Secret<String>,
    },
    /// An OAuth 2.0 access token (RFC 6749), sent as Bearer: fetched from `token_url` with
    /// the password or client-credentials grant, kept until a minute before it expires or
    /// until the gateway refuses it. Qontak, for one, wants the password grant as JSON.
    Oauth {
        #[serde(serialize_with = "redact::serialize")]
        token_url: String,
        grant: OauthGrant,
        client_id: String,
        client_secret: Secret<String>,
        /// For the password grant.
        username: Option<String>,
        password: Option<Secret<String>>,
        scope: Option<String>,
        /// The token request's body: `form` (RFC 6749) unless the server wants `json`.
        #[serde(default = "form")]
        body_format: BodyFormat,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OauthGrant {
    Password,
    ClientCredentials,
}

fn form() -> BodyFormat {
    BodyFormat::Form
}

/// How a gateway wants numbers written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PhoneFormat {
    /// `+6281234567890`
    E164,
    /// `6281234567890`
    International,
    /// `081234567890`
    National,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SuccessRule {
    pub pointer: String,
    pub value: serde_json::Value,
}

/// A gateway's callbacks: signed with HMAC-SHA256 of the raw body, fields found by JSON
/// pointer (`/sender`; for a form body, `/` and the field name).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayInbound {
    /// The shared secret of the HMAC-SHA256 signature.
    pub secret: Secret<String>,
    /// The header carrying the signature (lowercase or uppercase hex, `sha256=` allowed).
    pub signature_header: String,
    pub format: BodyFormat,
    /// The event's id, unique per gateway; without one, the SHA-256 of the body serves.
    pub id: Option<String>,
    /// A reply's sender number and text.
    pub from: String,
    pub text: String,
    /// The gateway's id of the message a reply answers, if it gives one.
    pub reply_to: Option<String>,
    /// A status callback's message id and status; a callback that has them is a status.
    pub status_id: Option<String>,
    pub status: Option<String>,
    /// The gateway's status words mapped to `sent`, `delivered`, `read`, `failed` or
    /// `undelivered`; words not listed are stored and ignored.
    #[serde(default)]
    pub statuses: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyFormat {
    Json,
    Form,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    None,
    Starttls,
    Implicit,
}

impl Settings {
    /// The survey key: `survey.key`, or the one kept in `survey.key_file` (made on first use).
    pub fn survey_key(&self) -> anyhow::Result<crate::auth::SurveyKey> {
        crate::auth::SurveyKey::load(
            self.survey.key.as_ref().map(|k| k.expose().as_str()),
            &self.survey.key_file,
        )
    }

    /// The built-in questionnaires and templates under `templates.dir`'s files.
    pub fn template_files(&self) -> Result<crate::templates::TemplateFiles, ConfigError> {
        crate::templates::TemplateFiles::with_overrides(self.templates.dir.as_deref())
            .map_err(|reason| ConfigError::Invalid(vec![Problem::general(reason)]))
    }

    /// Loads the questionnaires (by name) and checks the campaigns against them; every
    /// problem is reported, each naming its file or campaign.
    pub fn load_campaigns(
        &self,
    ) -> Result<std::collections::HashMap<String, crate::questionnaire::Questionnaire>, ConfigError>
    {
        use crate::questionnaire::Questionnaire;
        let files = self.template_files()?;
        let questionnaires =
            Questionnaire::load_all(&files, &self.defaults.locale).map_err(|e| {
                ConfigError::Invalid(e.iter().map(|e| Problem::general(e.to_string())).collect())
            })?;
        crate::campaign::check(&self.campaigns, &questionnaires).map_err(|problems| {
            ConfigError::Invalid(problems.into_iter().map(Problem::general).collect())
        })?;
        Ok(questionnaires
            .into_iter()
            .map(|q| (q.name.clone(), q))
            .collect())
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// A tracing filter such as `info` or `surveyd=debug,tower_http=info`; `RUST_LOG` wins.
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// A configuration that could not be loaded; each problem names where it was set, the key
/// and the reason.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the configuration file {} does not exist", .0.display())]
    Missing(PathBuf),
    #[error("cannot read the configuration file {}: {error}", path.display())]
    Unreadable {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("invalid configuration:{}", list_problems(.0))]
    Invalid(Vec<Problem>),
}

fn list_problems(problems: &[Problem]) -> String {
    match problems {
        [one] => format!(" {one}"),
        many => many.iter().map(|p| format!("\n  - {p}")).collect(),
    }
}

/// The file the command line reads when none is given, if it exists: where a package installs
/// the daemon's settings, so a command run on the server sees what the daemon sees.
pub const SYSTEM_FILE: &str = "/etc/surveyd/surveyd.toml";

/// The file to read: the one given, else [`SYSTEM_FILE`] when it exists.
pub fn file_or_system(given: Option<&Path>) -> Option<PathBuf> {
    given
        .map(Path::to_owned)
        .or_else(|| Some(PathBuf::from(SYSTEM_FILE)).filter(|p| p.is_file()))
}

/// A layer of settings from one environment variable (or, for a key inside a list of named
/// tables, the whole list), named after it in figment's metadata.
struct EnvLayer {
    name: String,
    key: String,
    value: figment::value::Value,
}

impl figment::Provider for EnvLayer {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named(format!("{}{}", problems::ENV_NAME, self.name))
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        let dict = figment::util::nest(&self.key, self.value.clone())
            .into_dict()
            .unwrap_or_default();
        Ok(figment::Profile::Default.collect(dict))
    }
}

impl Settings {
    /// Loads the defaults, then `file` if given, then the `SURVEYD_*` environment variables.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// Loads the defaults, then `file` if given, then `variables` (those named `SURVEYD_*`).
    pub fn load_from(
        file: Option<&Path>,
        variables: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULT_TOML));
        let mut written = None;
        if let Some(path) = file {
            let path = problems::absolute(path);
            let text = std::fs::read_to_string(&path).map_err(|error| match error.kind() {
                std::io::ErrorKind::NotFound => ConfigError::Missing(path.clone()),
                _ => ConfigError::Unreadable {
                    path: path.clone(),
                    error,
                },
            })?;
            figment = figment.merge(Toml::file(&path));
            written = Some((path, text));
        }
        let placed = |overrides: &[env::Override], figment: &Figment, e: figment::Error| {
            let sources = problems::Sources {
                file: written.clone(),
                overrides,
            };
            ConfigError::Invalid(
                e.into_iter()
                    .map(|e| sources.describe(figment, e))
                    .collect(),
            )
        };
        let known: figment::value::Dict =
            figment.extract().map_err(|e| placed(&[], &figment, e))?;
        let overrides = env::overrides(&known, variables).map_err(|unknown| {
            ConfigError::Invalid(
                unknown
                    .into_iter()
                    .map(|u| Problem {
                        place: Some(format!("{}{}", problems::ENV_NAME, u.variable)),
                        key: None,
                        value: None,
                        reason: match u.suggestion {
                            Some(s) => format!("names no setting (did you mean {s}?)"),
                            None => "names no setting".into(),
                        },
                    })
                    .collect(),
            )
        })?;
        for o in overrides
            .iter()
            .filter(|o| !o.key.iter().any(|s| matches!(s, env::Step::Index(_))))
        {
            figment = figment.merge(EnvLayer {
                name: o.variable.clone(),
                key: o.dotted(),
                value: o.value.clone(),
            });
        }
        for (list, value) in env::apply_to_lists(&known, &overrides) {
            let names: Vec<&str> = overrides
                .iter()
                .filter(|o| o.key.first() == Some(&env::Step::Key(list.clone())))
                .map(|o| o.variable.as_str())
                .collect();
            figment = figment.merge(EnvLayer {
                name: names.join(", "),
                key: list,
                value,
            });
        }
        let mut settings = figment
            .extract::<Settings>()
            .map_err(|e| placed(&overrides, &figment, e))?;
        let sources = problems::Sources {
            file: written.clone(),
            overrides: &overrides,
        };
        let mut found: Vec<Problem> = Vec::new();
        if let Err(list) = crate::intake::source::check(&settings.sources) {
            found.extend(list.into_iter().map(Problem::general));
        }
        found.extend(
            [
                settings.http.check(),
                settings.reports.check(),
                settings.alerts.check(),
                settings.dashboard.check(),
                settings.retention.check(&settings.campaigns),
            ]
            .into_iter()
            .filter_map(Result::err)
            .map(|p| sources.place(&figment, p)),
        );
        if let Err(problem) = crate::ratelimit::Limits::new(&settings.http.rate_limit) {
            found.push(sources.place(&figment, problem));
        }
        if !found.is_empty() {
            return Err(ConfigError::Invalid(found));
        }
        // Each campaign carries its effective cap.
        for campaign in &mut settings.campaigns {
            campaign
                .frequency_cap
                .get_or_insert(settings.defaults.frequency_cap);
        }
        Ok(settings)
    }

    /// The settings as TOML, secrets redacted (those inside URLs too).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("settings serialise to TOML")
    }
}
