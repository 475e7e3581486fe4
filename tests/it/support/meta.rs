//! A local emulator of Meta's WhatsApp Cloud API: `POST /{version}/{phone_number_id}/messages`
//! with a Bearer token, the message shapes and limits of the API (3 buttons of up to 20
//! characters, 10 list rows of up to 24, bodies up to 1024), OAuth errors as code 190, and
//! 130429 when told to. A free-form message outside the 24-hour window is accepted (200 with
//! its `wamid`) and then fails asynchronously: a `statuses[]` webhook with `status: failed` and
//! error 131047, as the Cloud API reference's "Status messages" and error-codes pages
//! describe — sent before the send is answered, as a fast callback can be. It records what it
//! accepted, and sends the customer's replies to surveyd's webhook as Meta does: JSON with
//! non-ASCII escaped as `\uXXXX`, signed with the app secret.

use super::emulator::{Record, Served};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub const PHONE_NUMBER_ID: &str = "106540352242922";
pub const ACCESS_TOKEN: &str = "EAAG-test-token";
pub const APP_SECRET: &str = "7c1d0f3b9a2e4c58b6d0e1f2a3b4c5d6";

#[derive(Clone, Default)]
struct Emulator {
    accepted: Record<Value>,
    /// Customers (wa_id) who wrote, so free-form messages to them are allowed.
    window_open: Arc<Mutex<HashSet<String>>>,
    throttle: Arc<AtomicUsize>,
    counter: Arc<AtomicUsize>,
    /// surveyd's webhook, where statuses go.
    webhook: Arc<Mutex<Option<String>>>,
}

pub struct MetaEmulator {
    pub base: String,
    emulator: Emulator,
    _served: Served,
}

impl MetaEmulator {
    pub async fn start() -> MetaEmulator {
        let emulator = Emulator::default();
        let app = axum::Router::new()
            .route("/{version}/{phone}/messages", axum::routing::post(send))
            .with_state(emulator.clone());
        let served = Served::start(app).await;
        MetaEmulator {
            base: served.base.clone(),
            emulator,
            _served: served,
        }
    }

    /// The request bodies accepted and delivered (not those failed later), in order.
    pub fn accepted(&self) -> Vec<Value> {
        self.emulator.accepted.all()
    }

    /// Sends the statuses of accepted messages to surveyd's webhook at `url`.
    pub fn statuses_to(&self, url: String) {
        *self.emulator.webhook.lock().unwrap() = Some(url);
    }

    /// The next `n` sends get 130429 (throughput limit).
    pub fn throttle(&self, n: usize) {
        self.emulator.throttle.store(n, Ordering::SeqCst);
    }

    /// The customer `wa_id` sends `message` (the inner message object, without `from`, `id`
    /// and `timestamp`) to surveyd's webhook at `url`; opens their 24-hour window.
    pub async fn reply(
        &self,
        client: &reqwest::Client,
        url: &str,
        wa_id: &str,
        id: &str,
        message: Value,
    ) -> reqwest::Response {
        self.emulator
            .window_open
            .lock()
            .unwrap()
            .insert(wa_id.to_owned());
        let mut message = message;
        message["from"] = json!(wa_id);
        message["id"] = json!(id);
        message["timestamp"] = json!("1763800100");
        post_event(client, url, &webhook_body("messages", json!([message]))).await
    }
}

/// A webhook body with `messages` or `statuses` in one change, as Meta sends it.
pub fn webhook_body(key: &str, items: Value) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "6285712345678", "phone_number_id": PHONE_NUMBER_ID},
            "contacts": [{"profile": {"name": "Dewi"}, "wa_id": "6281234567890"}],
            key: items
        }}]}]
    })
}

/// POSTs a webhook body to `url` as Meta does: escaped, signed.
pub async fn post_event(client: &reqwest::Client, url: &str, body: &Value) -> reqwest::Response {
    let raw = meta_json(body);
    client
        .post(url)
        .header(
            "X-Hub-Signature-256",
            surveyd::webhooks::signature::meta_signature(APP_SECRET, raw.as_bytes()),
        )
        .header("Content-Type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap()
}

/// JSON as Meta writes it: every non-ASCII character escaped as `\uXXXX` (lowercase hex,
/// surrogate pairs beyond the BMP).
pub fn meta_json(value: &Value) -> String {
    let mut out = String::new();
    for c in value.to_string().chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

fn error(status: StatusCode, code: u32, message: &str) -> Response {
    let body = json!({"error": {
        "message": message,
        "type": if code == 190 { "OAuthException" } else { "WhatsAppBusinessApiError" },
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": message},
        "fbtrace_id": "AbCdEf123",
    }});
    (status, axum::Json(body)).into_response()
}

fn chars(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

async fn send(
    State(emulator): State<Emulator>,
    Path((_version, phone)): Path<(String, String)>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let expected = format!("Bearer {ACCESS_TOKEN}");
    if phone != PHONE_NUMBER_ID
        || headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str())
    {
        return error(StatusCode::UNAUTHORIZED, 190, "Invalid OAuth access token.");
    }
    if emulator
        .throttle
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return error(StatusCode::TOO_MANY_REQUESTS, 130429, "Rate limit hit");
    }
    let to = body["to"].as_str().unwrap_or_default().to_owned();
    if body["messaging_product"] != "whatsapp"
        || to.is_empty()
        || !to.chars().all(|c| c.is_ascii_digit())
    {
        return error(StatusCode::BAD_REQUEST, 100, "Invalid parameter");
    }
    let kind = body["type"].as_str().unwrap_or("text");
    let valid = match kind {
        "text" => (1..=4096).contains(&chars(&body["text"]["body"])),
        "template" => {
            body["template"]["name"].is_string() && body["template"]["language"]["code"].is_string()
        }
        "interactive" => {
            let i = &body["interactive"];
            let body_ok = (1..=1024).contains(&chars(&i["body"]["text"]));
            match i["type"].as_str() {
                Some("button") => {
                    let buttons = i["action"]["buttons"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    body_ok
                        && (1..=3).contains(&buttons.len())
                        && buttons.iter().all(|b| {
                            (1..=20).contains(&chars(&b["reply"]["title"]))
                                && b["reply"]["id"].is_string()
                        })
                }
                Some("list") => {
                    let rows: Vec<Value> = i["action"]["sections"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .flat_map(|s| s["rows"].as_array().cloned().unwrap_or_default())
                        .collect();
                    body_ok
                        && (1..=20).contains(&chars(&i["action"]["button"]))
                        && (1..=10).contains(&rows.len())
                        && rows.iter().all(|r| (1..=24).contains(&chars(&r["title"])))
                }
                _ => false,
            }
        }
        _ => false,
    };
    if !valid {
        return error(
            StatusCode::BAD_REQUEST,
            131009,
            "Parameter value is not valid",
        );
    }
    let outside_window = kind != "template" && !emulator.window_open.lock().unwrap().contains(&to);
    let n = emulator.counter.fetch_add(1, Ordering::SeqCst);
    let wamid = format!("wamid.OUT{n}");
    if outside_window {
        // Accepted, then failed: the status comes before the send's answer.
        let webhook = emulator.webhook.lock().unwrap().clone();
        if let Some(url) = webhook {
            let failed = json!([{
                "id": wamid,
                "status": "failed",
                "timestamp": "1763800200",
                "recipient_id": to,
                "errors": [{
                    "code": 131047,
                    "title": "Re-engagement message",
                    "message": "Re-engagement message",
                    "error_data": {"details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."},
                    "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
                }],
            }]);
            let client = reqwest::Client::new();
            let answer = post_event(&client, &url, &webhook_body("statuses", failed)).await;
            assert_eq!(answer.status(), 200, "surveyd took the status");
        }
    } else {
        emulator.accepted.push(body);
    }
    (
        StatusCode::OK,
        axum::Json(json!({
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": wamid}],
        })),
    )
        .into_response()
}
