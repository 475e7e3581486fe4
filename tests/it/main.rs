//! The integration tests, one module per capability, in one binary: the helpers in `support`
//! compile once. Tests that capture log lines, or count a metric exactly, run in binaries of
//! their own beside this one (`tests/*.rs`): tracing's per-callsite caching and the metrics
//! recorder are shared by every test of a binary.

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
mod sql_source;
mod store;
mod survey_browser;
mod webhook_signatures;
mod webhook_storm;
mod webhooks;
mod whatsapp_meta;
