//! The integration tests, one module per capability, in one binary: the helpers in `support`
//! compile once. Beside this one (`tests/*.rs`, `tests/load/`) run the tests that need a
//! binary of their own: those that capture log lines or count a metric exactly (tracing's
//! per-callsite caching and the metrics recorder are shared by every test of a binary), and
//! the webhook storm, whose load would overlap the timing of the tests beside it.

#[macro_use]
mod support;

mod alerts;
mod api;
mod architecture;
mod campaigns;
mod cli;
mod config_redaction;
mod csv_injection;
mod daemon_faults;
mod dashboard_accounts;
mod dashboard_browser;
mod data_protection;
mod dispatch_email;
mod dispatch_processes;
mod email_dkim;
mod export;
mod file_modes;
mod gateway_fonnte;
mod http_connections;
mod intake;
mod output_safety;
mod planner_processes;
mod provider_outages;
mod readme;
mod reminders;
mod replies_parse;
mod reports;
mod schedules;
mod send_windows;
mod sms_twilio;
mod smtp_tls;
mod sql_source;
mod store;
mod survey_browser;
mod webhook_signatures;
mod webhooks;
mod whatsapp_meta;
