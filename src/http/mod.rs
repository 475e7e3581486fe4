//! The HTTP edge: the server (connection limits, routes, shared state, health checks,
//! graceful shutdown), what API routes share (bearer tokens, the JSON error), and the API's
//! handlers: contacts in, campaign runs, reports and alerts. The modules below it do the work
//! and know nothing of HTTP; this one turns requests into their calls and their results into
//! responses.

mod alerts;
pub mod api;
mod campaigns;
mod contacts;
pub mod dashboard;
pub mod metrics;
pub mod ratelimit;
mod reports;
mod server;
mod settings;
pub mod survey;
pub mod webhooks;

pub use server::{AppState, Application, router, shutdown_signal};
pub use settings::{HttpSettings, RateLimitSettings, RequestRate};
