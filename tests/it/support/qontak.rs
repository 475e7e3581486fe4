//! A local emulator of a Qontak-shaped gateway: an OAuth password grant at `POST /oauth/token`
//! (JSON credentials; `{"access_token", "token_type": "bearer", "expires_in", …}`, or 401
//! `{"error": "invalid_grant", "error_description"}`), then `POST
//! /api/open/v1/broadcasts/whatsapp/direct` with the token as Bearer and a JSON body, answered
//! 201 with the broadcast's id at `data.id`, or 401 for a token it does not know. It records
//! the token requests and the bodies it accepted, and can revoke every token it issued.
//!
//! Qontak's Open API as it is today, behind Mekari's API gateway: `POST
//! /qontak/chat/v1/broadcasts/whatsapp/direct` signed with Mekari's HMAC (Mekari's "HMAC
//! authentication" page, and the signer of `mekari-engineering/qontak-api-js`,
//! `src/utils/hmac.ts`): `Authorization: hmac username="{client id}",
//! algorithm="hmac-sha256", headers="date request-line", signature="{base64 HMAC-SHA256 of
//! "date: {Date}\n{METHOD} {path} HTTP/1.1"}"`, the `Date` within 300 seconds of now;
//! otherwise 401.

use super::emulator::{Record, Served};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

pub const CLIENT_ID: &str = "RRrn6uIxalR_QaHFlcKOqbjHMG63elEdPTair9B9YdY";
pub const CLIENT_SECRET: &str = "Sa8IGIh_HpVK1ZLAF0iFf7jU760osaUNV659pBIZR00";
pub const USERNAME: &str = "ops@example.co.id";
pub const PASSWORD: &str = "qontak-password";

#[derive(Clone, Default)]
struct Emulator {
    tokens: Arc<Mutex<HashSet<String>>>,
    token_requests: Record<Value>,
    accepted: Record<Value>,
}

pub struct QontakEmulator {
    pub base: String,
    emulator: Emulator,
    _served: Served,
}

impl QontakEmulator {
    pub async fn start() -> QontakEmulator {
        let emulator = Emulator::default();
        let app = axum::Router::new()
            .route("/oauth/token", axum::routing::post(token))
            .route(
                "/api/open/v1/broadcasts/whatsapp/direct",
                axum::routing::post(direct),
            )
            .route(
                "/qontak/chat/v1/broadcasts/whatsapp/direct",
                axum::routing::post(mekari_direct),
            )
            .with_state(emulator.clone());
        let served = Served::start(app).await;
        QontakEmulator {
            base: served.base.clone(),
            emulator,
            _served: served,
        }
    }

    /// The token requests' bodies, in order.
    pub fn token_requests(&self) -> Vec<Value> {
        self.emulator.token_requests.all()
    }

    /// The broadcast bodies accepted, in order.
    pub fn accepted(&self) -> Vec<Value> {
        self.emulator.accepted.all()
    }

    /// Every token issued so far stops working.
    pub fn revoke_tokens(&self) {
        self.emulator.tokens.lock().unwrap().clear();
    }
}

async fn token(State(emulator): State<Emulator>, body: String) -> Response {
    let request: Value = serde_json::from_str(&body).unwrap_or_default();
    let requests = emulator.token_requests.push(request.clone());
    let expected = json!({
        "username": USERNAME,
        "password": PASSWORD,
        "grant_type": "password",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    });
    if request != expected {
        let refusal = json!({
            "error": "invalid_grant",
            "error_description": "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.",
        });
        return (StatusCode::UNAUTHORIZED, axum::Json(refusal)).into_response();
    }
    let mut tokens = emulator.tokens.lock().unwrap();
    let access_token = format!("qontak-token-{requests}");
    tokens.insert(access_token.clone());
    axum::Json(json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": 31_536_000,
        "refresh_token": "refresh-not-used",
        "created_at": 1_763_600_000,
    }))
    .into_response()
}

async fn direct(State(emulator): State<Emulator>, headers: HeaderMap, body: String) -> Response {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !bearer.is_some_and(|t| emulator.tokens.lock().unwrap().contains(t)) {
        let refusal = json!({"status": "error", "error": {"code": 401, "messages": ["The access token is invalid"]}});
        return (StatusCode::UNAUTHORIZED, axum::Json(refusal)).into_response();
    }
    broadcast(&emulator, &body)
}

/// Whether `headers` sign `POST {path}` as Mekari's gateway checks it.
fn mekari_signed(headers: &HeaderMap, path: &str) -> Result<(), &'static str> {
    use base64::Engine;
    use hmac::Mac;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let date = header("date").ok_or("no Date header")?;
    let sent = chrono::DateTime::parse_from_rfc2822(&date.replace("GMT", "+0000"))
        .map_err(|_| "the Date header is not an HTTP date")?;
    if (chrono::Utc::now() - sent.to_utc()).num_seconds().abs() > 300 {
        return Err("the Date is more than 300 seconds away");
    }
    let authorization = header("authorization").ok_or("no Authorization header")?;
    let rest = authorization
        .strip_prefix("hmac ")
        .ok_or("not an hmac credential")?;
    let mut parts = std::collections::HashMap::new();
    for part in rest.split(", ") {
        let (key, value) = part.split_once('=').ok_or("a malformed credential")?;
        parts.insert(key, value.trim_matches('"'));
    }
    if parts.get("username") != Some(&CLIENT_ID)
        || parts.get("algorithm") != Some(&"hmac-sha256")
        || parts.get("headers") != Some(&"date request-line")
    {
        return Err("unknown credential");
    }
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(CLIENT_SECRET.as_bytes()).unwrap();
    mac.update(format!("date: {date}\nPOST {path} HTTP/1.1").as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    if parts.get("signature") != Some(&expected.as_str()) {
        return Err("HMAC signature does not match");
    }
    Ok(())
}

async fn mekari_direct(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Err(message) = mekari_signed(&headers, "/qontak/chat/v1/broadcasts/whatsapp/direct") {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"message": message})),
        )
            .into_response();
    }
    broadcast(&emulator, &body)
}

/// A broadcast request checked and accepted as Qontak does.
fn broadcast(emulator: &Emulator, body: &str) -> Response {
    let Ok(request) = serde_json::from_str::<Value>(body) else {
        return (StatusCode::BAD_REQUEST, "not JSON").into_response();
    };
    let required = [
        "/to_number",
        "/message_template_id",
        "/channel_integration_id",
        "/language/code",
    ];
    if let Some(missing) = required.iter().find(|p| request.pointer(p).is_none()) {
        let refusal = json!({"status": "error", "error": {"code": 422, "messages": [format!("{missing} is missing")]}});
        return (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(refusal)).into_response();
    }
    let count = emulator.accepted.push(request);
    let id = format!("5b1e3ad5-0d3c-4bb5-9c5a-{count:012x}");
    (
        StatusCode::CREATED,
        axum::Json(json!({"status": "success", "data": {"id": id, "status": "todo"}})),
    )
        .into_response()
}
