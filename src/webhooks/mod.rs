//! Webhooks: what providers call back with (replies and delivery statuses). Every request is
//! verified against the provider's signature before anything of it is stored (a bad one gets
//! 401 or 403 and leaves no trace); each event is then stored raw in the inbox — a provider's
//! retry of an event changes nothing — and interpreted, by the [`inbox`] writer. An event
//! that fails to interpret stays in the inbox with the error, for `surveyd inbox replay`.
//!
//! Routes: `POST /webhooks/twilio/inbound`, `POST /webhooks/twilio/status`,
//! `GET|POST /webhooks/whatsapp`, `POST /webhooks/gateways/{name}`.

pub mod gateway;
pub mod inbox;
pub mod signature;
pub mod twilio;
pub mod whatsapp;

use crate::config::Settings;
use crate::http::AppState;
use crate::replies::Inbound;
pub use crate::store::RawEvent;
use crate::telemetry;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

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
    /// The answer to `provider`'s refused call, logged and counted (signature failures in
    /// [`telemetry::SIGNATURE_FAILURES`]).
    fn refuse(self, provider: &str) -> Response {
        let (status, reason) = match self {
            Rejection::NotConfigured => (StatusCode::NOT_FOUND, None),
            Rejection::Unsigned(_) => (StatusCode::UNAUTHORIZED, Some("missing")),
            Rejection::BadSignature(_) => (StatusCode::FORBIDDEN, Some("invalid")),
            Rejection::Malformed(_) => (StatusCode::BAD_REQUEST, None),
            Rejection::TooManyParameters(_) => (StatusCode::PAYLOAD_TOO_LARGE, None),
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
        (status, self.to_string()).into_response()
    }
}

/// Decodes a stored event. `Ok(None)`: a well-formed event surveyd does not act on.
pub fn decode(
    settings: &Settings,
    provider: &str,
    kind: &str,
    payload: &str,
) -> Result<Option<Inbound>, String> {
    if provider == twilio::PROVIDER {
        twilio::decode(kind, payload)
    } else if provider == whatsapp::PROVIDER {
        whatsapp::decode(kind, payload)
    } else if let Some(name) = provider.strip_prefix("gateway:") {
        let gateway = settings
            .gateways
            .get(name)
            .ok_or_else(|| format!("gateway `{name}` is not configured any more"))?;
        gateway::decode(gateway, kind, payload)
    } else {
        Err(format!("unknown provider `{provider}`"))
    }
}

/// Hands the events to the inbox writer and waits until they are stored (repeats skipped)
/// and interpreted. Fails, so the provider tries again, only when they could not be stored.
async fn receive(state: &AppState, events: Vec<RawEvent>) -> Result<(), StatusCode> {
    state
        .inbox
        .receive(events, state.clock.now())
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)
}

/// The URL a provider called: the public base URL and the request's path and query.
fn public_url(settings: &Settings, uri: &Uri) -> String {
    let base = settings.survey.public_url.as_str().trim_end_matches('/');
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    format!("{base}{path}")
}

const EMPTY_TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#;

/// `POST /webhooks/twilio/inbound` and `/webhooks/twilio/status`.
async fn twilio_callback(
    state: AppState,
    kind: twilio::Callback,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(token) = &state.settings.twilio.auth_token else {
        return Rejection::NotConfigured.refuse(twilio::PROVIDER);
    };
    let url = public_url(&state.settings, &uri);
    let event = match twilio::accept(token.expose(), &url, &headers, &body, kind) {
        Ok(event) => event,
        Err(rejection) => return rejection.refuse(twilio::PROVIDER),
    };
    match receive(&state, vec![event]).await {
        Ok(()) => ([(header::CONTENT_TYPE, "text/xml")], EMPTY_TWIML).into_response(),
        Err(status) => status.into_response(),
    }
}

pub async fn twilio_inbound(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    twilio_callback(state, twilio::Callback::Inbound, uri, headers, body).await
}

pub async fn twilio_status(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    twilio_callback(state, twilio::Callback::Status, uri, headers, body).await
}

/// The subscription handshake's query.
#[derive(serde::Deserialize)]
pub struct Handshake {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// `GET /webhooks/whatsapp`: answers the challenge when the mode is `subscribe` and the
/// token is the configured one; 403 otherwise.
pub async fn whatsapp_handshake(
    State(state): State<AppState>,
    Query(q): Query<Handshake>,
) -> Response {
    let Some(expected) = &state.settings.whatsapp.verify_token else {
        return Rejection::NotConfigured.refuse(whatsapp::PROVIDER);
    };
    let token_ok = q.verify_token.as_deref().is_some_and(|given| {
        use subtle::ConstantTimeEq;
        bool::from(given.as_bytes().ct_eq(expected.expose().as_bytes()))
    });
    match (q.mode.as_deref(), token_ok, q.challenge) {
        (Some("subscribe"), true, Some(challenge)) => {
            ([(header::CONTENT_TYPE, "text/plain")], challenge).into_response()
        }
        _ => Rejection::BadSignature("hub.verify_token".into()).refuse(whatsapp::PROVIDER),
    }
}

/// `POST /webhooks/whatsapp`.
pub async fn whatsapp_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(secret) = &state.settings.whatsapp.app_secret else {
        return Rejection::NotConfigured.refuse(whatsapp::PROVIDER);
    };
    let events = match whatsapp::accept(secret.expose(), &headers, &body) {
        Ok(events) => events,
        Err(rejection) => return rejection.refuse(whatsapp::PROVIDER),
    };
    match receive(&state, events).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(status) => status.into_response(),
    }
}

/// `POST /webhooks/gateways/{name}`.
pub async fn gateway_callback(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(inbound) = state
        .settings
        .gateways
        .get(&name)
        .and_then(|g| g.inbound.as_ref())
    else {
        return Rejection::NotConfigured.refuse(&format!("gateway:{name}"));
    };
    let event = match gateway::accept(&name, inbound, &headers, &body) {
        Ok(event) => event,
        Err(rejection) => return rejection.refuse(&format!("gateway:{name}")),
    };
    match receive(&state, vec![event]).await {
        Ok(()) => axum::Json(serde_json::json!({ "status": "ok" })).into_response(),
        Err(status) => status.into_response(),
    }
}
