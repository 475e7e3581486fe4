//! The WhatsApp Cloud API's webhook: the `GET` handshake that subscribes it, and `POST`s of
//! events signed with `X-Hub-Signature-256`. One POST may carry several messages and statuses;
//! each becomes one inbox event whose payload is its own JSON from the body.

use super::provider::{Acknowledgement, Call, WebhookProvider};
use super::signature::meta_valid;
use super::{RawEvent, Rejection, body_event, shorten};
use crate::channels::WhatsappSettings;
use crate::domain::Secret;
use crate::domain::SurveyChannel;
use crate::replies::{Inbound, InboundMessage, ProviderStatus, StatusReport};
use crate::telemetry;
use http::HeaderMap;
use serde_json::{Value, json};

/// The provider name events are stored under.
pub const PROVIDER: &str = "whatsapp";

/// The Cloud API's webhook, verified with the app's secret (`whatsapp.app_secret`) and
/// subscribed with `whatsapp.verify_token`.
pub struct Whatsapp {
    app_secret: Option<Secret<String>>,
    verify_token: Option<Secret<String>>,
    /// The business number surveyd sends from (`whatsapp.phone_number_id`): events of the
    /// app's other numbers (a helpdesk's, say) are not survey replies.
    phone_number_id: Option<String>,
}

impl Whatsapp {
    pub fn new(settings: &WhatsappSettings) -> Self {
        Whatsapp {
            app_secret: settings.app_secret.clone(),
            verify_token: settings.verify_token.clone(),
            phone_number_id: settings.phone_number_id.clone(),
        }
    }

    /// The subscription handshake: the challenge to answer with (see [`handshake`]).
    pub fn subscribe(
        &self,
        mode: Option<&str>,
        verify_token: Option<&str>,
        challenge: Option<String>,
    ) -> Result<String, Rejection> {
        let expected = self.verify_token.as_ref().ok_or(Rejection::NotConfigured)?;
        handshake(expected.expose(), mode, verify_token, challenge)
    }
}

impl WebhookProvider for Whatsapp {
    fn name(&self) -> &str {
        PROVIDER
    }

    fn verify(&self, call: &Call<'_>) -> Result<Vec<RawEvent>, Rejection> {
        let secret = self.app_secret.as_ref().ok_or(Rejection::NotConfigured)?;
        accept(
            secret.expose(),
            self.phone_number_id.as_deref(),
            call.headers,
            call.body,
        )
    }

    fn decode(&self, kind: &str, payload: &str) -> Result<Option<Inbound>, String> {
        decode(kind, payload)
    }

    fn acknowledgement(&self) -> Acknowledgement {
        Acknowledgement {
            content_type: None,
            body: "",
        }
    }
}

/// The subscription handshake (`GET` with `hub.mode`, `hub.verify_token`, `hub.challenge`):
/// the challenge to answer with when the mode is `subscribe` and the token is `expected`.
pub fn handshake(
    expected: &str,
    mode: Option<&str>,
    verify_token: Option<&str>,
    challenge: Option<String>,
) -> Result<String, Rejection> {
    let token_ok = verify_token.is_some_and(|given| {
        use subtle::ConstantTimeEq;
        bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
    });
    match (mode, token_ok, challenge) {
        (Some("subscribe"), true, Some(challenge)) => Ok(challenge),
        _ => Err(Rejection::BadSignature("hub.verify_token".into())),
    }
}

/// Checks a POST's signature over the raw body and splits it into inbox events. A signed body
/// that is not the expected JSON is kept whole as one event, to fail (and be seen) when
/// interpreted; a message or status whose id is not a `wamid.` id is refused, naming it.
/// Changes that are no messages of `phone_number_id` (when given) are acknowledged without
/// being stored, counted in [`telemetry::WEBHOOK_SKIPPED`]: another field the app subscribed
/// to (a template's review, an account update — logged), or another number of the app.
pub fn accept(
    app_secret: &str,
    phone_number_id: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<RawEvent>, Rejection> {
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .ok_or(Rejection::Unsigned("X-Hub-Signature-256".into()))?;
    if !meta_valid(app_secret, body, signature) {
        return Err(Rejection::BadSignature("X-Hub-Signature-256".into()));
    }
    let Ok(root) = serde_json::from_slice::<Value>(body) else {
        return Ok(vec![body_event(PROVIDER, body)]);
    };
    let mut events = Vec::new();
    let (mut changes, mut skipped) = (0, 0);
    for (e, entry) in items(&root["entry"]).iter().enumerate() {
        for (c, change) in items(&entry["changes"]).iter().enumerate() {
            let value = &change["value"];
            changes += 1;
            if let Some(reason) = skip(change, phone_number_id) {
                metrics::counter!(telemetry::WEBHOOK_SKIPPED, "provider" => PROVIDER, "reason" => reason)
                    .increment(1);
                skipped += 1;
                continue;
            }
            let at = |list: &str, i: usize, field: &str| {
                format!("entry[{e}].changes[{c}].value.{list}[{i}].{field}")
            };
            for (i, message) in items(&value["messages"]).iter().enumerate() {
                let id = message_id(&message["id"])
                    .map_err(|e| malformed(at("messages", i, "id"), e))?;
                let payload =
                    json!({ "message": message, "contacts": value["contacts"] }).to_string();
                events.push(event(id.to_owned(), "message", payload));
            }
            for (i, status) in items(&value["statuses"]).iter().enumerate() {
                let id =
                    message_id(&status["id"]).map_err(|e| malformed(at("statuses", i, "id"), e))?;
                let state = status["status"]
                    .as_str()
                    .filter(|s| {
                        !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                    })
                    .ok_or_else(|| {
                        malformed(
                            at("statuses", i, "status"),
                            "not a status such as `delivered`".into(),
                        )
                    })?;
                let payload = json!({ "status": status }).to_string();
                events.push(event(format!("{id}:{state}"), "status", payload));
            }
        }
    }
    // A body with changes that were all acknowledged leaves nothing to store.
    if events.is_empty() && (changes == 0 || skipped < changes) {
        events.push(body_event(PROVIDER, body));
    }
    Ok(events)
}

/// Why a change is acknowledged and not stored (see [`accept`]), or `None` to store it.
fn skip(change: &Value, phone_number_id: Option<&str>) -> Option<&'static str> {
    let value = &change["value"];
    if change["field"] != "messages" {
        let field = change["field"].as_str().unwrap_or_default();
        if field == "message_template_status_update" && value["event"] != "APPROVED" {
            // A template that stops being approved fails every send that uses it.
            tracing::warn!(
                template = %value["message_template_name"].as_str().unwrap_or_default(),
                language = %value["message_template_language"].as_str().unwrap_or_default(),
                event = %value["event"].as_str().unwrap_or_default(),
                reason = %value["reason"].as_str().unwrap_or_default(),
                "Meta reports a WhatsApp template's review"
            );
        } else {
            tracing::info!(field = %shorten(field, 60), "WhatsApp webhook field not acted on");
        }
        return Some("other_field");
    }
    let number = value["metadata"]["phone_number_id"].as_str();
    match (phone_number_id, number) {
        (Some(ours), Some(theirs)) if ours != theirs => Some("other_number"),
        _ => None,
    }
}

/// The items of a JSON array; none when it is not one.
fn items(value: &Value) -> &[Value] {
    value.as_array().map_or(&[], Vec::as_slice)
}

fn malformed(field: String, problem: String) -> Rejection {
    Rejection::Malformed(format!("{field}: {problem}"))
}

/// A WhatsApp message id: `wamid.` and up to 250 characters of base64.
fn message_id(value: &Value) -> Result<&str, String> {
    let id = value.as_str().ok_or("missing")?;
    let ok = id.strip_prefix("wamid.").is_some_and(|rest| {
        (1..=250).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=_-".contains(&b))
    });
    match ok {
        true => Ok(id),
        false => Err(format!(
            "{:?} is not a WhatsApp message id (wamid. and base64)",
            shorten(id, 40)
        )),
    }
}

fn event(event_id: String, kind: &'static str, payload: String) -> RawEvent {
    RawEvent {
        provider: PROVIDER.into(),
        event_id,
        kind,
        payload,
    }
}

/// Decodes a stored WhatsApp event. `Ok(None)` for a status surveyd does not track.
pub fn decode(kind: &str, payload: &str) -> Result<Option<Inbound>, String> {
    let root: Value = serde_json::from_str(payload).map_err(|e| format!("not JSON: {e}"))?;
    match kind {
        "message" => {
            let m = &root["message"];
            // Newer payloads may carry a user id instead of `from`; the contact's wa_id then.
            let from = m["from"]
                .as_str()
                .or_else(|| root["contacts"][0]["wa_id"].as_str())
                .map(|digits| format!("+{}", digits.trim_start_matches('+')));
            let kind = m["type"].as_str().ok_or("the message has no type")?;
            let text = match kind {
                "text" => m["text"]["body"].as_str(),
                "interactive" => {
                    let i = &m["interactive"];
                    i["button_reply"]["id"]
                        .as_str()
                        .or_else(|| i["list_reply"]["id"].as_str())
                }
                "button" => m["button"]["payload"]
                    .as_str()
                    .or_else(|| m["button"]["text"].as_str()),
                // A reaction taken back has no emoji: nothing was said.
                "reaction" => match m["reaction"]["emoji"].as_str() {
                    Some(emoji) => Some(emoji),
                    None => return Ok(None),
                },
                // Media answer with their caption, if any; without one they say nothing
                // surveyd can read (as a number's change, an unsupported type): acknowledged
                // (`ignored`), not re-asked.
                "image" | "video" | "document" => match m[kind]["caption"].as_str() {
                    Some(caption) if !caption.trim().is_empty() => Some(caption),
                    _ => return Ok(None),
                },
                _ => return Ok(None),
            }
            .ok_or("the message has no text, button or list reply")?;
            Ok(Some(Inbound::Message(InboundMessage {
                channel: SurveyChannel::Whatsapp,
                from,
                text: text.to_owned(),
                reply_to: m["context"]["id"].as_str().map(str::to_owned),
            })))
        }
        "status" => {
            let s = &root["status"];
            let id = s["id"].as_str().ok_or("the status has no id")?;
            let status = match s["status"].as_str().ok_or("the status has no status")? {
                "sent" => ProviderStatus::Sent,
                "delivered" => ProviderStatus::Delivered,
                "read" => ProviderStatus::Read,
                "failed" => ProviderStatus::Failed,
                _ => return Ok(None),
            };
            let first = &s["errors"][0];
            let passing = first["code"]
                .as_i64()
                .is_some_and(crate::channels::whatsapp::rate_limited);
            let error = first.as_object().map(|e| {
                let code = e.get("code").map(Value::to_string).unwrap_or_default();
                let title = e
                    .get("title")
                    .or_else(|| e.get("message"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                format!("WhatsApp error {code}: {title}")
            });
            Ok(Some(Inbound::Status(StatusReport {
                message_id: id.to_owned(),
                status,
                error,
                passing,
            })))
        }
        _ => Err(format!(
            "not a WhatsApp message or status: {}",
            shorten(payload, 200)
        )),
    }
}
