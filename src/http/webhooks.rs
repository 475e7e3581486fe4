//! The webhook routes: `POST /webhooks/twilio/inbound`, `POST /webhooks/twilio/status`,
//! `GET|POST /webhooks/whatsapp`, `POST /webhooks/gateways/{name}`. Each request is checked by
//! its provider, a [`crate::webhooks::WebhookProvider`] (a refusal is 401, 403, 400, 413 or,
//! for what is not configured, 404), and its events handed to the inbox writer; the provider
//! hears its acknowledgement once they are stored.

use crate::clock::Clock;
use crate::webhooks::inbox::InboxWriter;
use crate::webhooks::{Call, Providers, RawEvent, Rejection};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::Arc;

/// What the webhook routes reach: the inbox writer and the configured providers.
#[derive(Clone)]
pub struct WebhookState {
    pub inbox: InboxWriter,
    pub clock: Clock,
    /// The base URL providers were given (Twilio signs the URL it called).
    pub public_url: url::Url,
    pub providers: Arc<Providers>,
}

/// The webhook routes.
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    WebhookState: axum::extract::FromRef<S>,
{
    Router::new()
        .route("/webhooks/twilio/inbound", post(callback))
        .route("/webhooks/twilio/status", post(callback))
        .route("/webhooks/whatsapp", get(whatsapp_handshake).post(callback))
        .route("/webhooks/gateways/{name}", post(callback))
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

/// The URL a provider called: the public base URL and the request's path and query.
fn public_url(base: &url::Url, uri: &Uri) -> String {
    let base = base.as_str().trim_end_matches('/');
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    format!("{base}{path}")
}

/// `POST /webhooks/{route}`: the provider of the route verifies the call and splits it into
/// events; they are handed to the inbox writer, and the provider hears its acknowledgement
/// once they are stored (repeats skipped) and interpreted. Only when they could not be stored
/// does it hear 503, to try again.
async fn callback(
    State(state): State<WebhookState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let route = uri.path().strip_prefix("/webhooks/").unwrap_or_default();
    let provider = match state.providers.at(route) {
        Ok(provider) => provider,
        Err(name) => return refuse(Rejection::NotConfigured, &name),
    };
    let url = public_url(&state.public_url, &uri);
    let call = Call {
        url: &url,
        headers: &headers,
        body: &body,
    };
    let events = match provider.verify(&call) {
        Ok(events) => events,
        Err(rejection) => return refuse(rejection, provider.name()),
    };
    if let Err(status) = receive(&state, events).await {
        return status.into_response();
    }
    let ack = provider.acknowledgement();
    match ack.content_type {
        Some(content_type) => ([(header::CONTENT_TYPE, content_type)], ack.body).into_response(),
        None => StatusCode::OK.into_response(),
    }
}

/// Hands the events to the inbox writer and waits until they are stored and interpreted.
async fn receive(state: &WebhookState, events: Vec<RawEvent>) -> Result<(), StatusCode> {
    state
        .inbox
        .receive(events, state.clock.now())
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)
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
    let whatsapp = state.providers.whatsapp();
    let mode = q.mode.as_deref();
    match whatsapp.subscribe(mode, q.verify_token.as_deref(), q.challenge) {
        Ok(challenge) => ([(header::CONTENT_TYPE, "text/plain")], challenge).into_response(),
        Err(rejection) => refuse(rejection, crate::webhooks::whatsapp::PROVIDER),
    }
}
