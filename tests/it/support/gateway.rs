//! A local emulator of a Fonnte-shaped gateway: `POST /send` with the device token as a raw
//! `Authorization` header and a form (`target`, `message`, `countryCode`); it answers 200
//! either way — `{"status": true, "id": [...]}` or `{"status": false, "reason": "..."}` — as
//! Fonnte does, "request invalid on disconnected device" while its phone is offline. It
//! records what it accepted.

use super::emulator::{Record, Served};
use axum::extract::{Form, State};
use axum::http::HeaderMap;
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub const TOKEN: &str = "fonnte-device-token";

#[derive(Clone, Default)]
struct Emulator {
    accepted: Record<BTreeMap<String, String>>,
    invalid: Arc<HashSet<String>>,
    counter: Arc<AtomicUsize>,
    /// The next this-many sends find the device disconnected.
    disconnected: Arc<AtomicUsize>,
}

pub struct GatewayEmulator {
    pub base: String,
    emulator: Emulator,
    _served: Served,
}

impl GatewayEmulator {
    /// `invalid`: targets refused with "target invalid".
    pub async fn start(invalid: &[&str]) -> GatewayEmulator {
        let emulator = Emulator {
            invalid: Arc::new(invalid.iter().map(|s| s.to_string()).collect()),
            ..Emulator::default()
        };
        let app = axum::Router::new()
            .route("/send", axum::routing::post(send))
            .with_state(emulator.clone());
        let served = Served::start(app).await;
        GatewayEmulator {
            base: served.base.clone(),
            emulator,
            _served: served,
        }
    }

    /// The next `n` sends find the linked phone offline.
    pub fn disconnect(&self, n: usize) {
        self.emulator.disconnected.store(n, Ordering::SeqCst);
    }

    /// The forms accepted, in order.
    pub fn accepted(&self) -> Vec<BTreeMap<String, String>> {
        self.emulator.accepted.all()
    }
}

async fn send(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    Form(form): Form<BTreeMap<String, String>>,
) -> axum::Json<serde_json::Value> {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(TOKEN) {
        return axum::Json(json!({"status": false, "reason": "invalid token"}));
    }
    if emulator
        .disconnected
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return axum::Json(
            json!({"status": false, "reason": "request invalid on disconnected device"}),
        );
    }
    let (Some(target), Some(_message)) = (form.get("target"), form.get("message")) else {
        return axum::Json(json!({"status": false, "reason": "input invalid"}));
    };
    if emulator.invalid.contains(target) || !target.chars().all(|c| c.is_ascii_digit()) {
        return axum::Json(json!({"status": false, "reason": "target invalid"}));
    }
    let id = 80_367_170 + emulator.counter.fetch_add(1, Ordering::SeqCst);
    emulator.accepted.push(form.clone());
    axum::Json(json!({
        "detail": "success! message in queue",
        "id": [id.to_string()],
        "process": "pending",
        "status": true,
        "target": [target],
    }))
}
