//! surveyd: a self-hosted, omnichannel customer-feedback survey dispatcher.
//!
//! # Layout, in the order data flows
//!
//! - [`config`]: the settings layered from the embedded defaults, a file and `SURVEYD_*`
//!   variables into each module's own settings type.
//! - [`domain`]: value types built only by parsing (email, E.164 phone, locale, time zone…),
//!   and the values several layers share (survey channels, message kinds, invitation states,
//!   provider statuses, answer-time bands, secrets).
//! - [`intake`]: closed contacts in: CSV/JSONL files, `POST /v1/contacts`, and SQL sources (a
//!   helpdesk's database, polled).
//! - [`store`]: the one storage API, on SQLite (default) or PostgreSQL.
//! - [`templates`]: the built-in questionnaires and templates, and the folder overriding them.
//! - [`questionnaire`]: the questions of a survey, per locale, and the checking of answers.
//! - [`render`]: messages from handlebars templates per channel and locale.
//! - [`campaign`]: what a campaign is — which contacts to survey, how, and when (defined in
//!   configuration).
//! - [`scheduler`]: the planner: plans each scheduled campaign when its schedule is due.
//! - [`dispatch`]: the worker pool that claims due deliveries, renders and sends them.
//! - [`channels`]: how messages leave: email (SMTP or `.eml` files), SMS and WhatsApp through
//!   Twilio, Meta's Cloud API or an HTTP gateway, each with its rate limit.
//! - [`webhooks`]: provider callbacks (replies, delivery statuses), verified by signature.
//! - [`replies`]: answers and opt-out keywords read from chat and SMS replies.
//! - [`survey`]: the survey and unsubscribe pages a customer opens from a message, and the
//!   checking of a submitted form.
//! - [`scoring`]: reports from the answers: CSAT, NPS, CES, FCR, response rate and time to
//!   answer with their intervals, agents shrunk toward their team, trends between periods.
//! - [`alerts`]: detractor alerts: which answers raise one, and the messages that carry it.
//! - [`dashboard`]: the signed-in dashboard: charts with intervals, leaderboard, alerts.
//! - [`http`]: the HTTP edge: the server and its connection limits, routes, health checks,
//!   graceful shutdown, request limits, what API routes share (bearer tokens, the error
//!   response) and every handler — the API's, the webhooks', the survey pages', the
//!   dashboard's and `/metrics` — each on the narrow state it needs. Nothing below it
//!   imports it.
//! - [`telemetry`]: the Prometheus metrics: their names, and the exposition text.
//! - [`app`]: the daemon assembled in one place: its services built once from the settings,
//!   run together and stopped together.
//! - [`cli`]: the `surveyd` command and its subcommands.
//! - [`auth`]: API tokens, kept only as hashes.
//! - [`clock`]: the injected time source.
//! - [`process`]: this process's name on leases, and the loop of periodic work.
//! - [`private`]: files and folders readable by their owner only.
//!
//! # Layers
//!
//! Imports run from a layer to the same or a lower one, never up and never in a circle; the
//! HTTP crates are named only in [`http`] (checked by `tests/it/architecture.rs`).
//!
//! 1. `domain`, `clock`, `private`, `process`: values and plain helpers.
//! 2. `templates`, `questionnaire`, `auth`, `campaign`: what surveys and campaigns are.
//! 3. `store`: the storage API.
//! 4. `render`, `channels`, `alerts`, `telemetry`, `dispatch`, `scheduler`, `intake`, `replies`, `webhooks`, `survey`, `scoring`, `dashboard`: the services.
//! 5. `http`: the HTTP edge.
//! 6. `config`: the settings, layered into each module's own type.
//! 7. `app`: the daemon assembled.
//! 8. `cli`: the command.

pub mod alerts;
pub mod app;
pub mod auth;
pub mod campaign;
pub mod channels;
pub mod cli;
pub mod clock;
pub mod config;
pub mod dashboard;
pub mod dispatch;
pub mod domain;
pub mod http;
pub mod intake;
pub mod private;
pub mod process;
pub mod questionnaire;
pub mod render;
pub mod replies;
pub mod scheduler;
pub mod scoring;
pub mod store;
pub mod survey;
pub mod telemetry;
pub mod templates;
pub mod webhooks;
