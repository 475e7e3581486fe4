//! The lanes of the pool, one per [`Channel`] deliveries go on (email, SMS, WhatsApp, the
//! alert webhook): what each lane's senders send with, and a message prepared for its provider.

use crate::alerts;
use crate::channels::email::{Email, EmailSender};
use crate::channels::{ChatOutbound, ChatProvider, HttpApi, SendError};
use crate::domain::Channel;
use crate::store::Alert;
use std::sync::Arc;

/// What a sender sends with: its SMTP connection (or the file outbox), or the provider of its
/// chat channel (`None` when none is configured).
pub(super) enum Sender {
    Email(Box<EmailSender>),
    Chat(Option<Arc<ChatProvider>>),
    Webhook(HttpApi),
}

/// A message ready to go, with what sends it: rendered and addressed (an alert read as it
/// stands now).
pub(super) enum Prepared<'a> {
    Email(&'a mut EmailSender, Email),
    Chat(&'a ChatProvider, ChatOutbound),
    Alert(&'a HttpApi, &'a crate::alerts::AlertWebhook, Alert),
}

impl Prepared<'_> {
    /// Waits for the provider's rate limit (email has none).
    pub(super) async fn ready(&self) {
        match self {
            Prepared::Email(..) => {}
            Prepared::Chat(provider, _) => provider.api().ready().await,
            Prepared::Alert(api, ..) => api.ready().await,
        }
    }

    /// Hands the message to its provider; returns the provider's id for it.
    pub(super) async fn send(
        self,
        delivery_id: i64,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<String, SendError> {
        match self {
            Prepared::Email(sender, email) => sender.send(&email).await,
            Prepared::Chat(provider, message) => provider.send(&message).await,
            Prepared::Alert(api, webhook, alert) => {
                alerts::post(api, webhook, &alert, delivery_id, now).await
            }
        }
    }
}

/// The channels deliveries go on, as stored: `email`, `sms`, `whatsapp` and `webhook`.
pub fn channels() -> impl Iterator<Item = &'static str> {
    Channel::ALL.into_iter().map(Channel::as_str)
}
