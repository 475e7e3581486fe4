//! Twilio's callbacks: inbound messages (SMS, and WhatsApp through Twilio) and message status
//! callbacks, both form POSTs signed with `X-Twilio-Signature`. A stored event's payload is the
//! form body exactly as received.

use super::provider::{Acknowledgement, Call, WebhookProvider};
use super::signature::{TwilioAlgorithm, twilio_valid};
use super::{RawEvent, Rejection, shorten};
use crate::channels::TwilioSettings;
use crate::domain::Secret;
use crate::domain::SurveyChannel;
use crate::replies::{Inbound, InboundMessage, ProviderStatus, StatusReport};
use http::HeaderMap;

/// The provider name events are stored under.
pub const PROVIDER: &str = "twilio";

/// Parameters a callback's form may have. Twilio sends a few dozen; a form with more is
/// refused before it is parsed or its signature computed.
pub const MAX_PARAMETERS: usize = 200;

/// The header Twilio adds when a Webhooks Rule has it sign with a shared key:
/// `key={shared key sid},algorithm={HMAC_SHA1 or HMAC_SHA256}`.
pub const SIGNATURE_SETTINGS: &str = "x-twilio-webhooks-signature-settings";

/// What Twilio's callbacks are signed with: the account's auth token, or a shared key when a
/// Webhooks Rule says so (twilio-node's `webhook(authToken, { sharedKeySecret })`).
pub struct Keys<'a> {
    pub auth_token: &'a str,
    pub shared_key: Option<&'a str>,
}

/// The statuses Twilio's status callbacks report.
const STATUSES: [&str; 13] = [
    "accepted",
    "scheduled",
    "canceled",
    "queued",
    "sending",
    "sent",
    "failed",
    "delivered",
    "undelivered",
    "receiving",
    "received",
    "read",
    "partially_delivered",
];

/// The form's name/value pairs, decoded, in the order sent.
pub fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// Checks the signature of a form POST that Twilio made to `url` (the public URL it was
/// configured with, query string included) and turns it into an inbox event. A JSON body is
/// taken as Twilio signs one: `bodySHA256` in the URL's query is its SHA-256, and the
/// signature covers the URL alone.
///
/// The parameters are counted before anything else ([`MAX_PARAMETERS`]); after the
/// signature, the fields the event is known by must have their real shape: `MessageSid`
/// (`SM` or `MM` and 32 hex digits), `From` (a phone number, `whatsapp:` before it or not),
/// `To` and `Body` for an inbound message, a known `MessageStatus` for a status — each given
/// once. Twilio signs names and values run together, so a signed form re-sent with its
/// parameters' boundaries moved keeps a valid signature; it is refused here instead of being
/// stored under a new event id.
pub fn accept(
    keys: &Keys<'_>,
    url: &str,
    headers: &HeaderMap,
    body: &[u8],
    kind: Callback,
) -> Result<RawEvent, Rejection> {
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or(Rejection::Unsigned("X-Twilio-Signature".into()))?;
    let count = body
        .split(|&b| b == b'&')
        .filter(|piece| !piece.is_empty())
        .take(MAX_PARAMETERS + 1)
        .count();
    if count > MAX_PARAMETERS {
        return Err(Rejection::TooManyParameters(MAX_PARAMETERS));
    }
    // Signed with the auth token, unless a Webhooks Rule has Twilio sign with a shared key.
    let (algorithm, secret) = match headers.get(SIGNATURE_SETTINGS) {
        None => (TwilioAlgorithm::Sha1, keys.auth_token),
        Some(settings) => {
            let refused =
                |why: String| Rejection::BadSignature(format!("{SIGNATURE_SETTINGS}: {why}"));
            let settings = settings.to_str().map_err(|_| refused("not text".into()))?;
            let algorithm = TwilioAlgorithm::of_settings(settings).map_err(refused)?;
            let secret = keys.shared_key.ok_or_else(|| {
                refused(
                    "Twilio signed with a shared key, and twilio.webhook_shared_key is not set"
                        .into(),
                )
            })?;
            (algorithm, secret)
        }
    };
    // A JSON body: the signature covers the URL alone, whose `bodySHA256` is the body's
    // SHA-256 in hex (twilio-python's `RequestValidator.validate` with a body string).
    let body_hash = url::Url::parse(url).ok().and_then(|u| {
        u.query_pairs()
            .find(|(name, _)| name == "bodySHA256")
            .map(|(_, value)| value.into_owned())
    });
    let signed = match body_hash {
        Some(_) => Vec::new(),
        None => form_pairs(body),
    };
    if !twilio_valid(algorithm, secret, url, &signed, signature) {
        return Err(Rejection::BadSignature("X-Twilio-Signature".into()));
    }
    let (params, payload) = match body_hash {
        None => (signed, String::from_utf8_lossy(body).into_owned()),
        Some(expected) => {
            use subtle::ConstantTimeEq;
            let actual = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body));
            let expected = expected.to_ascii_lowercase();
            if !bool::from(actual.as_bytes().ct_eq(expected.as_bytes())) {
                return Err(Rejection::BadSignature("bodySHA256".into()));
            }
            // Kept as the form of its fields, which every Twilio event is read from.
            let params = json_pairs(body).map_err(Rejection::Malformed)?;
            let payload = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&params)
                .finish();
            (params, payload)
        }
    };
    Ok(RawEvent {
        provider: PROVIDER.into(),
        event_id: event_id(&params, kind).map_err(Rejection::Malformed)?,
        kind: kind.as_str(),
        payload,
    })
}

/// A JSON body's fields as a form's pairs: an object whose values are text, numbers or
/// booleans.
fn json_pairs(body: &[u8]) -> Result<Vec<(String, String)>, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("body: not JSON: {e}"))?;
    let object = value.as_object().ok_or("body: not a JSON object")?;
    object
        .iter()
        .map(|(name, value)| match value {
            serde_json::Value::String(text) => Ok((name.clone(), text.clone())),
            serde_json::Value::Number(_) | serde_json::Value::Bool(_) => {
                Ok((name.clone(), value.to_string()))
            }
            _ => Err(format!("body.{}: not text", shorten(name, 40))),
        })
        .collect()
}

/// The id a signed callback is stored under (its `MessageSid`, with the status for a status
/// callback), once the fields that say what it is have their real shape.
fn event_id(params: &[(String, String)], kind: Callback) -> Result<String, String> {
    let once = |name: &str| {
        let mut values = params.iter().filter(|(k, _)| k == name).map(|(_, v)| v);
        match (values.next(), values.next()) {
            (Some(value), None) => Ok(value.as_str()),
            (None, _) => Err(format!("{name}: missing")),
            (Some(_), Some(_)) => Err(format!("{name}: given more than once")),
        }
    };
    let sid = once("MessageSid")?;
    if !is_message_sid(sid) {
        return Err(format!(
            "MessageSid: {:?} is not a Twilio message SID (SM or MM and 32 hex digits)",
            shorten(sid, 40)
        ));
    }
    match kind {
        Callback::Inbound => {
            let from = once("From")?;
            if !is_address(from) {
                return Err(format!(
                    "From: {:?} is not a phone number (+ and up to 15 digits, whatsapp: before it \
                     or not)",
                    shorten(from, 40)
                ));
            }
            if once("To")?.is_empty() {
                return Err("To: empty".into());
            }
            once("Body")?;
            Ok(sid.to_owned())
        }
        Callback::Status => {
            let status = once("MessageStatus")?;
            if !STATUSES.contains(&status) {
                return Err(format!(
                    "MessageStatus: {:?} is not one of Twilio's message statuses",
                    shorten(status, 40)
                ));
            }
            // One message has several statuses; each is one event.
            Ok(format!("{sid}:{status}"))
        }
    }
}

/// Twilio's message SIDs: `SM` (or `MM`, with media) and 32 hex digits.
fn is_message_sid(sid: &str) -> bool {
    sid.len() == 34
        && (sid.starts_with("SM") || sid.starts_with("MM"))
        && sid.bytes().skip(2).all(|b| b.is_ascii_hexdigit())
}

/// A sender as Twilio writes it: `+` and the digits of an E.164 number, `whatsapp:` before it
/// for a WhatsApp message.
fn is_address(from: &str) -> bool {
    let digits = from
        .strip_prefix("whatsapp:")
        .unwrap_or(from)
        .strip_prefix('+')
        .unwrap_or_default();
    (1..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Which of Twilio's two callbacks a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callback {
    Inbound,
    Status,
}

impl Callback {
    /// The kind its events are stored as.
    pub fn as_str(self) -> &'static str {
        match self {
            Callback::Inbound => "message",
            Callback::Status => "status",
        }
    }

    /// Its route under `/webhooks/twilio/`.
    pub fn route(self) -> &'static str {
        match self {
            Callback::Inbound => "inbound",
            Callback::Status => "status",
        }
    }
}

/// An empty TwiML document: Twilio is told to send nothing back.
const EMPTY_TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#;

/// One of Twilio's callbacks, verified with the account's auth token (`twilio.auth_token`) or
/// the shared key of a Webhooks Rule (`twilio.webhook_shared_key`).
pub struct Twilio {
    auth_token: Option<Secret<String>>,
    shared_key: Option<Secret<String>>,
    callback: Callback,
}

impl Twilio {
    pub fn new(settings: &TwilioSettings, callback: Callback) -> Self {
        Twilio {
            auth_token: settings.auth_token.clone(),
            shared_key: settings.webhook_shared_key.clone(),
            callback,
        }
    }
}

impl WebhookProvider for Twilio {
    fn name(&self) -> &str {
        PROVIDER
    }

    fn verify(&self, call: &Call<'_>) -> Result<Vec<RawEvent>, Rejection> {
        let token = self.auth_token.as_ref().ok_or(Rejection::NotConfigured)?;
        let keys = Keys {
            auth_token: token.expose(),
            shared_key: self.shared_key.as_ref().map(|key| key.expose().as_str()),
        };
        let event = accept(&keys, call.url, call.headers, call.body, self.callback)?;
        Ok(vec![event])
    }

    fn decode(&self, kind: &str, payload: &str) -> Result<Option<Inbound>, String> {
        decode(kind, payload)
    }

    fn acknowledgement(&self) -> Acknowledgement {
        Acknowledgement {
            content_type: Some("text/xml"),
            body: EMPTY_TWIML,
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
                passing: field("ErrorCode") == Some(crate::channels::twilio::QUEUE_OVERFLOW),
            })))
        }
        other => Err(format!("unknown Twilio event kind `{other}`")),
    }
}
