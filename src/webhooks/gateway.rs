//! A generic gateway's callbacks, read as its configuration says: signed with HMAC-SHA256 of
//! the raw body in a configured header, fields found by JSON pointer in a JSON or form body.
//! A stored event's payload is the body exactly as received.

use super::provider::{Acknowledgement, Call, WebhookProvider};
use super::signature::hmac_sha256_valid;
use super::{RawEvent, Rejection};
use crate::channels::{BodyFormat, GatewayInbound, GatewaySettings, InboundCheck, PhoneFormat};
use crate::replies::{Inbound, InboundMessage, ProviderStatus, StatusReport};
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
        Ok(vec![accept(&self.key, inbound, call)?])
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
    call: &Call<'_>,
) -> Result<RawEvent, Rejection> {
    let (headers, body) = (call.headers, call.body);
    let header = headers
        .get(inbound.signature_header.as_str())
        .and_then(|v| v.to_str().ok());
    match inbound.check {
        InboundCheck::Hmac => {
            let signature =
                header.ok_or_else(|| Rejection::Unsigned(inbound.signature_header.clone()))?;
            if !hmac_sha256_valid(inbound.secret.expose(), body, signature) {
                return Err(Rejection::BadSignature(inbound.signature_header.clone()));
            }
        }
        InboundCheck::Token => {
            let query = url::Url::parse(call.url).ok().and_then(|url| {
                url.query_pairs()
                    .find(|(key, _)| key == "token")
                    .map(|(_, value)| value.into_owned())
            });
            let (given, place) = match (header, query) {
                (Some(header), _) => (header.to_owned(), inbound.signature_header.clone()),
                (None, Some(query)) => (query, "the query's token".to_owned()),
                (None, None) => {
                    return Err(Rejection::Unsigned(format!(
                        "{} or the query's token",
                        inbound.signature_header
                    )));
                }
            };
            use subtle::ConstantTimeEq;
            if !bool::from(given.as_bytes().ct_eq(inbound.secret.expose().as_bytes())) {
                return Err(Rejection::BadSignature(place));
            }
        }
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
        "message" => {
            let in_group = inbound
                .group
                .as_deref()
                .is_some_and(|p| text_at(&fields, p).is_some());
            let Some(from) = sender(&field(&inbound.from)?, inbound.from_format) else {
                return Ok(Some(Inbound::GroupChat));
            };
            if in_group {
                return Ok(Some(Inbound::GroupChat));
            }
            Ok(Some(Inbound::Message(InboundMessage {
                channel: settings.channel,
                from: Some(from),
                text: text_at(&fields, &inbound.text).unwrap_or_default(),
                reply_to: inbound
                    .reply_to
                    .as_deref()
                    .and_then(|p| text_at(&fields, p)),
            })))
        }
        other => Err(format!("unknown gateway event kind `{other}`")),
    }
}

/// A callback's sender as a number the interpreter reads: a WhatsApp address's domain left
/// out, digits written `international` given their `+` (a number written without its
/// country code is read in `defaults.country` later). `None` for a group's address
/// (`…@g.us`).
fn sender(from: &str, format: PhoneFormat) -> Option<String> {
    let (number, domain) = from.split_once('@').unwrap_or((from, ""));
    if domain.eq_ignore_ascii_case("g.us") {
        return None;
    }
    let number = number.trim();
    // A leading 0 is a national number's trunk prefix, whatever the configured format.
    let digits_only = !number.is_empty()
        && !number.starts_with('0')
        && number.bytes().all(|b| b.is_ascii_digit());
    Some(match format {
        PhoneFormat::International if digits_only => format!("+{number}"),
        _ => number.to_owned(),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders_are_read_as_gateways_write_them() {
        let international = PhoneFormat::International;
        // Fonnte: digits with the country code, no `+` (a UK and a Singapore number).
        assert_eq!(
            sender("447911123456", international).as_deref(),
            Some("+447911123456")
        );
        assert_eq!(
            sender("6591234567", international).as_deref(),
            Some("+6591234567")
        );
        assert_eq!(
            sender("6281234567890@s.whatsapp.net", international).as_deref(),
            Some("+6281234567890")
        );
        assert_eq!(
            sender("081234567890", international).as_deref(),
            Some("081234567890")
        );
        assert_eq!(
            sender("+6281234567890", international).as_deref(),
            Some("+6281234567890")
        );
        assert_eq!(sender("120363025246125486@g.us", international), None);
        assert_eq!(
            sender("6281234567890", PhoneFormat::National).as_deref(),
            Some("6281234567890")
        );
    }
}
