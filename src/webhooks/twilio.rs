//! Twilio's callbacks: inbound messages (SMS, and WhatsApp through Twilio) and message status
//! callbacks, both form POSTs signed with `X-Twilio-Signature`. A stored event's payload is the
//! form body exactly as received.

use super::signature::twilio_valid;
use super::{RawEvent, Rejection, body_event};
use crate::campaign::SurveyChannel;
use crate::replies::{Inbound, InboundMessage, ProviderStatus, StatusReport};
use axum::http::HeaderMap;

/// The provider name events are stored under.
pub const PROVIDER: &str = "twilio";

/// The form's name/value pairs, decoded, in the order sent.
pub fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// Checks the signature of a form POST that Twilio made to `url` (the public URL it was
/// configured with, query string included) and turns it into an inbox event.
pub fn accept(
    auth_token: &str,
    url: &str,
    headers: &HeaderMap,
    body: &[u8],
    kind: Callback,
) -> Result<RawEvent, Rejection> {
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or(Rejection::Unsigned("X-Twilio-Signature".into()))?;
    let params = form_pairs(body);
    if !twilio_valid(auth_token, url, &params, signature) {
        return Err(Rejection::BadSignature("X-Twilio-Signature".into()));
    }
    let field = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let Some(sid) = field("MessageSid")
        .or_else(|| field("SmsSid"))
        .filter(|s| !s.is_empty())
    else {
        return Ok(body_event(PROVIDER, body));
    };
    let event_id = match kind {
        Callback::Inbound => sid.to_owned(),
        // One message has several statuses; each is one event.
        Callback::Status => format!("{sid}:{}", field("MessageStatus").unwrap_or_default()),
    };
    Ok(RawEvent {
        provider: PROVIDER.into(),
        event_id,
        kind: kind.as_str(),
        payload: String::from_utf8_lossy(body).into_owned(),
    })
}

/// Which of Twilio's two callbacks a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callback {
    Inbound,
    Status,
}

impl Callback {
    pub fn as_str(self) -> &'static str {
        match self {
            Callback::Inbound => "message",
            Callback::Status => "status",
        }
    }
}

/// Decodes a stored Twilio event. `Ok(None)` for a status surveyd does not track (queued,
/// accepted, sending…).
pub fn decode(kind: &str, payload: &str) -> Result<Option<Inbound>, String> {
    let params = form_pairs(payload.as_bytes());
    let field = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let sid = field("MessageSid")
        .or_else(|| field("SmsSid"))
        .ok_or("no MessageSid")?;
    match kind {
        "message" => {
            let from = field("From").ok_or("no From")?;
            let channel = if from.starts_with("whatsapp:") {
                SurveyChannel::Whatsapp
            } else {
                SurveyChannel::Sms
            };
            // A tapped WhatsApp quick reply carries its payload; otherwise the text.
            let text = field("ButtonPayload")
                .or_else(|| field("Body"))
                .unwrap_or_default();
            Ok(Some(Inbound::Message(InboundMessage {
                channel,
                from: Some(from.trim_start_matches("whatsapp:").to_owned()),
                text: text.to_owned(),
                reply_to: field("OriginalRepliedMessageSid").map(str::to_owned),
            })))
        }
        "status" => {
            let status = match field("MessageStatus").ok_or("no MessageStatus")? {
                "sent" => ProviderStatus::Sent,
                "delivered" => ProviderStatus::Delivered,
                "read" => ProviderStatus::Read,
                "failed" | "canceled" => ProviderStatus::Failed,
                "undelivered" => ProviderStatus::Undelivered,
                _ => return Ok(None),
            };
            let error = field("ErrorCode").map(|code| match field("ErrorMessage") {
                Some(text) => format!("Twilio error {code}: {text}"),
                None => format!("Twilio error {code}"),
            });
            Ok(Some(Inbound::Status(StatusReport {
                message_id: sid.to_owned(),
                status,
                error,
            })))
        }
        other => Err(format!("unknown Twilio event kind `{other}`")),
    }
}
