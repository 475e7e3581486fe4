//! Webhooks: what providers call back with (replies and delivery statuses). Every request is
//! verified against the provider's signature before anything of it is stored (a bad one gets
//! 401 or 403 and leaves no trace); each event is then stored raw in the inbox — a provider's
//! retry of an event changes nothing — and interpreted, by the [`inbox`] writer. An event
//! that fails to interpret stays in the inbox with the error, for `surveyd inbox replay`.
//!
//! Routes: `POST /webhooks/twilio/inbound`, `POST /webhooks/twilio/status`,
//! `GET|POST /webhooks/whatsapp`, `POST /webhooks/gateways/{name}`. Each provider is a
//! [`WebhookProvider`] (name, verify, decode); [`Providers`] holds the configured ones.

pub mod gateway;
pub mod inbox;
pub mod provider;
pub mod signature;
pub mod twilio;
pub mod whatsapp;

use crate::channels::GatewaySettings;
pub use crate::store::RawEvent;
use crate::telemetry;
pub use provider::{Acknowledgement, Call, Providers, WebhookProvider};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The configured gateways, by name: what their stored events are decoded with.
pub type Gateways = BTreeMap<String, GatewaySettings>;

/// A signed body that could not be split into events, kept whole under its SHA-256.
pub(crate) fn body_event(provider: &str, body: &[u8]) -> RawEvent {
    RawEvent {
        provider: provider.into(),
        event_id: format!("sha256:{}", hex::encode(Sha256::digest(body))),
        kind: "unknown",
        payload: String::from_utf8_lossy(body).into_owned(),
    }
}

/// At most the first `chars` characters of `text`, for an error message.
fn shorten(text: &str, chars: usize) -> &str {
    text.char_indices()
        .nth(chars)
        .map_or(text, |(at, _)| &text[..at])
}

/// Why a callback was refused before anything of it was stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("this webhook is not configured")]
    NotConfigured,
    #[error("missing {0} header")]
    Unsigned(String),
    #[error("invalid {0}")]
    BadSignature(String),
    /// Signed, but not what the provider sends: the field and what is wrong with it.
    #[error("{0}")]
    Malformed(String),
    #[error("the form has more than {0} parameters")]
    TooManyParameters(usize),
}

impl Rejection {
    /// Logs `provider`'s refused call and counts signature failures in
    /// [`telemetry::SIGNATURE_FAILURES`].
    pub fn count(&self, provider: &str) {
        let reason = match self {
            Rejection::Unsigned(_) => Some("missing"),
            Rejection::BadSignature(_) => Some("invalid"),
            _ => None,
        };
        if let Some(reason) = reason {
            metrics::counter!(
                telemetry::SIGNATURE_FAILURES,
                "provider" => provider.to_owned(),
                "reason" => reason,
            )
            .increment(1);
        }
        tracing::warn!(provider, reason = %self, "webhook refused");
    }
}
