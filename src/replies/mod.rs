//! Replies that arrive as messages (SMS, WhatsApp, a gateway) and the delivery statuses
//! providers report: what they mean, decoded from the inbox, and what surveyd does with them.

pub mod conversation;
pub mod parse;

use crate::campaign::SurveyChannel;

/// An event a provider called back with, decoded from its stored payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    Message(InboundMessage),
    Status(StatusReport),
}

/// A message a customer sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    pub channel: SurveyChannel,
    /// The sender's number as the provider wrote it (`+62…`, `62…`, `whatsapp:+62…`); some
    /// newer WhatsApp payloads carry none.
    pub from: Option<String>,
    /// What the customer typed, or the id (payload) of the button or list row they chose.
    pub text: String,
    /// The provider's id of the message this one replies to, when the provider says.
    pub reply_to: Option<String>,
}

/// What a provider says became of a message surveyd sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    /// The provider's id of the message (Twilio's `SM…` sid, WhatsApp's `wamid.…`).
    pub message_id: String,
    pub status: ProviderStatus,
    /// The provider's error code and text, on failure.
    pub error: Option<String>,
}

/// A message's state at the provider. States only move forward: a late `delivered` never
/// replaces `read`; a failure is final.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, strum::AsRefStr, strum::EnumString,
)]
#[strum(serialize_all = "snake_case")]
pub enum ProviderStatus {
    Sent,
    Delivered,
    Read,
    Failed,
    Undelivered,
}

impl ProviderStatus {
    /// The order states move in; the two failures are both final.
    pub fn rank(self) -> u8 {
        match self {
            ProviderStatus::Sent => 1,
            ProviderStatus::Delivered => 2,
            ProviderStatus::Read => 3,
            ProviderStatus::Failed | ProviderStatus::Undelivered => 4,
        }
    }

    /// The message did not reach the customer: the invitation moves to its next channel.
    pub fn is_failure(self) -> bool {
        self.rank() == 4
    }
}
