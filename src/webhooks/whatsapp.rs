//! The WhatsApp Cloud API's webhook: the `GET` handshake that subscribes it, and `POST`s of
//! events signed with `X-Hub-Signature-256`. One POST may carry several messages and statuses;
//! each becomes one inbox event whose payload is its own JSON from the body.

use super::signature::meta_valid;
use super::{RawEvent, Rejection, body_event};
use crate::campaign::SurveyChannel;
use crate::replies::{Inbound, InboundMessage, ProviderStatus, StatusReport};
use axum::http::HeaderMap;
use serde_json::{Value, json};

/// The provider name events are stored under.
pub const PROVIDER: &str = "whatsapp";

/// Checks a POST's signature over the raw body and splits it into inbox events. A signed body
/// that is not the expected JSON is kept whole as one event, to fail (and be seen) when
/// interpreted.
pub fn accept(
    app_secret: &str,
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
    let changes = root["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|entry| entry["changes"].as_array().into_iter().flatten());
    for change in changes {
        let value = &change["value"];
        if change["field"] != "messages" {
            events.push(body_event(PROVIDER, change.to_string().as_bytes()));
            continue;
        }
        for message in value["messages"].as_array().into_iter().flatten() {
            let id = message["id"].as_str().unwrap_or_default();
            let payload = json!({ "message": message, "contacts": value["contacts"] }).to_string();
            events.push(event(id.to_owned(), "message", payload));
        }
        for status in value["statuses"].as_array().into_iter().flatten() {
            let id = format!(
                "{}:{}",
                status["id"].as_str().unwrap_or_default(),
                status["status"].as_str().unwrap_or_default()
            );
            events.push(event(id, "status", json!({ "status": status }).to_string()));
        }
    }
    if events.is_empty() {
        events.push(body_event(PROVIDER, body));
    }
    Ok(events)
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
            let text = match m["type"].as_str() {
                Some("text") => m["text"]["body"].as_str(),
                Some("interactive") => {
                    let i = &m["interactive"];
                    i["button_reply"]["id"]
                        .as_str()
                        .or_else(|| i["list_reply"]["id"].as_str())
                }
                Some("button") => m["button"]["payload"]
                    .as_str()
                    .or_else(|| m["button"]["text"].as_str()),
                Some("reaction") => m["reaction"]["emoji"].as_str(),
                Some(_) => Some(""),
                None => return Err("the message has no type".into()),
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
            let error = s["errors"][0].as_object().map(|e| {
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
            })))
        }
        _ => Err(format!(
            "not a WhatsApp message or status: {}",
            shorten(payload)
        )),
    }
}

fn shorten(text: &str) -> &str {
    match text.char_indices().nth(200) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}
