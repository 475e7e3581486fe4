//! The webhook routes: `POST /webhooks/twilio/inbound`, `POST /webhooks/twilio/status`,
//! `GET|POST /webhooks/whatsapp`, `POST /webhooks/gateways/{name}`. Each request is checked by
//! [`crate::webhooks`] (a refusal is 401, 403, 400, 413 or, for what is not configured, 404)
//! and its events handed to the inbox writer; the provider hears 200 once they are stored.

use crate::channels::WhatsappSettings;
use crate::clock::Clock;
use crate::domain::Secret;
use crate::webhooks::inbox::InboxWriter;
use crate::webhooks::{Gateways, RawEvent, Rejection, gateway, twilio, whatsapp};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::Arc;

/// What the webhook routes reach: the inbox writer and each provider's secrets.
#[derive(Clone)]
pub struct WebhookState {
    pub inbox: InboxWriter,
    pub clock: Clock,
    /// The base URL providers were given (Twilio signs the URL it called).
    pub public_url: url::Url,
    pub twilio_token: Option<Secret<String>>,
    pub whatsapp: Arc<WhatsappSettings>,
    pub gateways: Arc<Gateways>,
}

/// The webhook routes.
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    WebhookState: axum::extract::FromRef<S>,
{
    Router::new()
        .route("/webhooks/twilio/inbound", post(twilio_inbound))
        .route("/webhooks/twilio/status", post(twilio_status))
        .route(
            "/webhooks/whatsapp",
            get(whatsapp_handshake).post(whatsapp_events),
        )
        .route("/webhooks/gateways/{name}", post(gateway_callback))
}

/// The answer to `provider`'s refused call, logged and counted.
fn refuse(rejection: Rejection, provider: &str) -> Response {
    rejection.count(provider);
    let status = match rejection {
        Rejection::NotConfigured => StatusCode::NOT_FOUND,
        Rejection::Unsigned(_) => StatusCode::UNAUTHORIZED,
        Rejection::BadSignature(_) => StatusCode::FORBIDDEN,
        Rejection::Malformed(_) => StatusCode::BAD_REQUEST,
        Rejection::TooManyParameters(_) => StatusCode::PAYLOAD_TOO_LARGE,
    };
    (status, rejection.to_string()).into_response()
}

/// Hands the events to the inbox writer and waits until they are stored (repeats skipped)
/// and interpreted. Fails, so the provider tries again, only when they could not be stored.
async fn receive(state: &WebhookState, events: Vec<RawEvent>) -> Result<(), StatusCode> {
    state
        .inbox
        .receive(events, state.clock.now())
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)
}

/// The URL a provider called: the public base URL and the request's path and query.
fn public_url(base: &url::Url, uri: &Uri) -> String {
    let base = base.as_str().trim_end_matches('/');
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    format!("{base}{path}")
}

const EMPTY_TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#;

/// `POST /webhooks/twilio/inbound` and `/webhooks/twilio/status`.
async fn twilio_callback(
    state: WebhookState,
    kind: twilio::Callback,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(token) = &state.twilio_token else {
        return refuse(Rejection::NotConfigured, twilio::PROVIDER);
    };
    let url = public_url(&state.public_url, &uri);
    let event = match twilio::accept(token.expose(), &url, &headers, &body, kind) {
        Ok(event) => event,
        Err(rejection) => return refuse(rejection, twilio::PROVIDER),
    };
    match receive(&state, vec![event]).await {
        Ok(()) => ([(header::CONTENT_TYPE, "text/xml")], EMPTY_TWIML).into_response(),
        Err(status) => status.into_response(),
    }
}

async fn twilio_inbound(
    State(state): State<WebhookState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    twilio_callback(state, twilio::Callback::Inbound, uri, headers, body).await
}

async fn twilio_status(
    State(state): State<WebhookState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    twilio_callback(state, twilio::Callback::Status, uri, headers, body).await
}

/// The subscription handshake's query.
#[derive(serde::Deserialize)]
struct Handshake {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// `GET /webhooks/whatsapp`: answers the challenge when the mode is `subscribe` and the
/// token is the configured one; 403 otherwise.
async fn whatsapp_handshake(
    State(state): State<WebhookState>,
    Query(q): Query<Handshake>,
) -> Response {
    let Some(expected) = &state.whatsapp.verify_token else {
        return refuse(Rejection::NotConfigured, whatsapp::PROVIDER);
    };
    let mode = q.mode.as_deref();
    match whatsapp::handshake(
        expected.expose(),
        mode,
        q.verify_token.as_deref(),
        q.challenge,
    ) {
        Ok(challenge) => ([(header::CONTENT_TYPE, "text/plain")], challenge).into_response(),
        Err(rejection) => refuse(rejection, whatsapp::PROVIDER),
    }
}

/// `POST /webhooks/whatsapp`.
async fn whatsapp_events(
    State(state): State<WebhookState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(secret) = &state.whatsapp.app_secret else {
        return refuse(Rejection::NotConfigured, whatsapp::PROVIDER);
    };
    let events = match whatsapp::accept(secret.expose(), &headers, &body) {
        Ok(events) => events,
        Err(rejection) => return refuse(rejection, whatsapp::PROVIDER),
    };
    match receive(&state, events).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(status) => status.into_response(),
    }
}

/// `POST /webhooks/gateways/{name}`.
async fn gateway_callback(
    State(state): State<WebhookState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let provider = gateway::provider(&name);
    let Some(inbound) = state.gateways.get(&name).and_then(|g| g.inbound.as_ref()) else {
        return refuse(Rejection::NotConfigured, &provider);
    };
    let event = match gateway::accept(&name, inbound, &headers, &body) {
        Ok(event) => event,
        Err(rejection) => return refuse(rejection, &provider),
    };
    match receive(&state, vec![event]).await {
        Ok(()) => axum::Json(serde_json::json!({ "status": "ok" })).into_response(),
        Err(status) => status.into_response(),
    }
}
