//! Replies that arrive as messages (SMS, WhatsApp, a gateway) and the delivery statuses
//! providers report: what they mean, decoded from the inbox, and what surveyd does with them.

pub mod conversation;
pub mod parse;

use crate::domain::SurveyChannel;

/// An event a provider called back with, decoded from its stored payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    Message(InboundMessage),
    Status(StatusReport),
    /// A message in a group chat the business number is in: no survey's answer.
    GroupChat,
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
    /// The failure is a passing one (the provider's queue overflowed, a rate limit): the
    /// message may go again later.
    pub passing: bool,
}

pub use crate::domain::ProviderStatus;
