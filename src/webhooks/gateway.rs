//! A generic gateway's callbacks, read as its configuration says: signed with HMAC-SHA256 of
//! the raw body in a configured header, fields found by JSON pointer in a JSON or form body.
//! A stored event's payload is the body exactly as received.

use super::provider::{Acknowledgement, Call, WebhookProvider};
use super::signature::hmac_sha256_valid;
use super::{RawEvent, Rejection};
use crate::channels::{BodyFormat, GatewayInbound, GatewaySettings};
use crate::replies::{Inbound, InboundMessage, ProviderStatus, StatusReport};
use http::HeaderMap;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The provider name events of gateway `name` are stored under.
pub fn provider(name: &str) -> String {
    format!("gateway:{name}")
}

/// A configured gateway's callbacks (`[gateways.{name}.inbound]`).
pub struct Gateway {
    /// The gateway's key under `[gateways]`.
    key: String,
    /// The name its events are stored under: `gateway:{key}`.
    name: String,
    settings: GatewaySettings,
}

impl Gateway {
    pub fn new(name: &str, settings: &GatewaySettings) -> Self {
        Gateway {
            key: name.to_owned(),
            name: provider(name),
            settings: settings.clone(),
        }
    }
}

impl WebhookProvider for Gateway {
    fn name(&self) -> &str {
        &self.name
    }

    fn verify(&self, call: &Call<'_>) -> Result<Vec<RawEvent>, Rejection> {
        let inbound = self.settings.inbound.as_ref();
        let inbound = inbound.ok_or(Rejection::NotConfigured)?;
        Ok(vec![accept(&self.key, inbound, call.headers, call.body)?])
    }

    fn decode(&self, kind: &str, payload: &str) -> Result<Option<Inbound>, String> {
        decode(&self.settings, kind, payload)
    }

    fn acknowledgement(&self) -> Acknowledgement {
        Acknowledgement {
            content_type: Some("application/json"),
            body: r#"{"status":"ok"}"#,
        }
    }
}

/// Checks the signature and makes the inbox event. The event id is the configured id field,
/// else the SHA-256 of the body (a gateway's retry sends the same body).
pub fn accept(
    name: &str,
    inbound: &GatewayInbound,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<RawEvent, Rejection> {
    let signature = headers
        .get(inbound.signature_header.as_str())
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Rejection::Unsigned(inbound.signature_header.clone()))?;
    if !hmac_sha256_valid(inbound.secret.expose(), body, signature) {
        return Err(Rejection::BadSignature(inbound.signature_header.clone()));
    }
    let fields = fields(inbound.format, body);
    let kind = match (&fields, &inbound.status_id) {
        (Ok(v), Some(pointer)) if text_at(v, pointer).is_some() => "status",
        _ => "message",
    };
    let event_id = fields
        .ok()
        .zip(inbound.id.as_deref())
        .and_then(|(v, pointer)| text_at(&v, pointer))
        .unwrap_or_else(|| format!("sha256:{}", hex::encode(Sha256::digest(body))));
    Ok(RawEvent {
        provider: provider(name),
        event_id,
        kind,
        payload: String::from_utf8_lossy(body).into_owned(),
    })
}

/// Decodes a stored event of a gateway configured as `settings`.
pub fn decode(
    settings: &GatewaySettings,
    kind: &str,
    payload: &str,
) -> Result<Option<Inbound>, String> {
    let inbound = settings
        .inbound
        .as_ref()
        .ok_or("the gateway's callbacks are not configured any more")?;
    let fields = fields(inbound.format, payload.as_bytes())?;
    let field = |pointer: &str| {
        text_at(&fields, pointer).ok_or_else(|| format!("no `{pointer}` in the callback"))
    };
    match kind {
        "status" => {
            let id = field(
                inbound
                    .status_id
                    .as_deref()
                    .ok_or("status fields are not configured")?,
            )?;
            let word = field(
                inbound
                    .status
                    .as_deref()
                    .ok_or("status fields are not configured")?,
            )?;
            let Some(mapped) = inbound.statuses.get(&word) else {
                return Ok(None);
            };
            let status: ProviderStatus = mapped.parse().map_err(|_| {
                format!("gateway status `{word}` maps to `{mapped}`, which is no status")
            })?;
            Ok(Some(Inbound::Status(StatusReport {
                message_id: id,
                status,
                error: None,
                passing: false,
            })))
        }
        "message" => Ok(Some(Inbound::Message(InboundMessage {
            channel: settings.channel,
            from: Some(field(&inbound.from)?),
            text: text_at(&fields, &inbound.text).unwrap_or_default(),
            reply_to: inbound
                .reply_to
                .as_deref()
                .and_then(|p| text_at(&fields, p)),
        }))),
        other => Err(format!("unknown gateway event kind `{other}`")),
    }
}

/// The body as JSON: parsed, or a form's fields as an object of strings.
fn fields(format: BodyFormat, body: &[u8]) -> Result<Value, String> {
    match format {
        BodyFormat::Json => {
            serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))
        }
        BodyFormat::Form => Ok(Value::Object(
            url::form_urlencoded::parse(body)
                .into_owned()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        )),
    }
}

/// The text (or number, as text) at `pointer`, if there is one and it is not empty.
fn text_at(value: &Value, pointer: &str) -> Option<String> {
    match value.pointer(pointer)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
