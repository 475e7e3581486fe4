//! A local emulator of Twilio's Messages API, speaking its shapes: HTTP Basic auth with the
//! account SID and auth token, form bodies with `Body` or a Content template (`ContentSid`,
//! `ContentVariables`: twilio-python's `MessageList.create`), 201 with the message resource,
//! errors as `{"code","message","more_info","status"}` (21211 invalid number, 21610 opted
//! out, 20003 bad credentials, 20429 with `Retry-After`, 21654 variables without a template),
//! and 5xx or no answer at all when told to. Failures after acceptance come as Twilio sends
//! them, in the status callback: 63016 for free-form WhatsApp outside the 24-hour window,
//! 30001 for a queue overflow. It records what it delivered, and can reply as the customer
//! through surveyd's webhook, signed as Twilio signs.

use super::emulator::{Record, Served};
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const AUTH_TOKEN: &str = "a3f9c2e7d1b84f06a5c3e9d2b7f10c48";
pub const FROM: &str = "+6285712345678";

/// A message the emulator accepted.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub sid: String,
    pub to: String,
    pub from: String,
    pub body: String,
    pub status_callback: Option<String>,
    /// A Content template's SID and its variables (JSON), instead of a body.
    pub content_sid: Option<String>,
    pub content_variables: Option<String>,
}

#[derive(Default)]
pub struct Behaviour {
    /// Numbers Twilio calls invalid (21211) or opted out (21610).
    pub invalid: HashSet<String>,
    pub opted_out: HashSet<String>,
    /// The next this-many requests get 429 (20429, Retry-After: 1), then 503.
    pub throttle: AtomicUsize,
    pub unavailable: AtomicUsize,
    /// The next this-many requests get no answer at all: the connection stays open, as with
    /// a stalled API.
    pub hang: AtomicUsize,
    /// Requests received, answered or not.
    pub requests: AtomicUsize,
    /// The next this-many messages are accepted (201), then dropped: their status callback
    /// reports `failed` with error 30001 (queue overflow, Twilio's error 30001 page: "try
    /// sending your message again after waiting some time"), sent before the create is
    /// answered, as a fast callback can be.
    pub overflow: AtomicUsize,
    /// Where status callbacks go: surveyd's address (the callback's own URL is its public
    /// one, which the signature covers).
    pub callbacks_to: std::sync::Mutex<Option<String>>,
    /// WhatsApp customers who wrote in the last 24 hours: free-form messages (a `Body`) to
    /// anyone else are accepted and then fail with 63016 in their status callback (Twilio's
    /// 63016 page: "failed to be delivered … sent outside the allowed conversation window").
    pub whatsapp_window: std::sync::Mutex<HashSet<String>>,
}

#[derive(Clone)]
struct Emulator {
    accepted: Record<Accepted>,
    behaviour: Arc<Behaviour>,
    counter: Arc<AtomicUsize>,
}

pub struct TwilioEmulator {
    pub base: String,
    pub behaviour: Arc<Behaviour>,
    accepted: Record<Accepted>,
    _served: Served,
}

impl TwilioEmulator {
    pub async fn start(behaviour: Behaviour) -> TwilioEmulator {
        let emulator = Emulator {
            accepted: Record::default(),
            behaviour: Arc::new(behaviour),
            counter: Arc::default(),
        };
        let app = axum::Router::new()
            .route(
                "/2010-04-01/Accounts/{sid}/Messages.json",
                axum::routing::post(create),
            )
            .with_state(emulator.clone());
        let served = Served::start(app).await;
        TwilioEmulator {
            base: served.base.clone(),
            behaviour: emulator.behaviour,
            accepted: emulator.accepted,
            _served: served,
        }
    }

    /// Points `settings` at this emulator for SMS: its URL and credentials, no rate limit.
    pub fn configure(&self, settings: &mut surveyd::config::Settings) {
        settings.channels.sms = Some("twilio".into());
        settings.twilio.base_url = self.base.parse().unwrap();
        settings.twilio.account_sid = Some(ACCOUNT_SID.into());
        settings.twilio.auth_token = Some(surveyd::config::Secret::new(AUTH_TOKEN.into()));
        settings.twilio.from = Some(FROM.into());
        settings.twilio.rate_per_second = 0.0;
        // The conversation itself is under test: to Indonesian numbers (one-way on Twilio)
        // `auto` would send the survey's link instead (tested in sms_twilio.rs).
        settings.twilio.sms_mode = surveyd::channels::TwilioSmsMode::Conversation;
    }

    pub fn accepted(&self) -> Vec<Accepted> {
        self.accepted.all()
    }

    /// `number` wrote on WhatsApp: free-form messages to them are delivered for 24 hours.
    pub fn customer_wrote(&self, number: &str) {
        let mut window = self.behaviour.whatsapp_window.lock().unwrap();
        window.insert(number.to_owned());
    }

    /// The last message accepted for `to`.
    pub fn last_to(&self, to: &str) -> Accepted {
        self.accepted()
            .into_iter()
            .rev()
            .find(|m| m.to == to)
            .unwrap_or_else(|| panic!("no message to {to}"))
    }
}

fn error(status: StatusCode, code: u32, message: &str) -> Response {
    let body = json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status.as_u16(),
    });
    (status, axum::Json(body)).into_response()
}

async fn create(
    State(emulator): State<Emulator>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    use base64::Engine;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}"))
    );
    if sid != ACCOUNT_SID
        || headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str())
    {
        return error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    let take = |counter: &AtomicUsize| {
        counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    };
    emulator.behaviour.requests.fetch_add(1, Ordering::SeqCst);
    if take(&emulator.behaviour.hang) {
        std::future::pending::<()>().await;
    }
    if take(&emulator.behaviour.throttle) {
        let mut response = error(StatusCode::TOO_MANY_REQUESTS, 20429, "Too Many Requests");
        response
            .headers_mut()
            .insert("Retry-After", "1".parse().unwrap());
        return response;
    }
    if take(&emulator.behaviour.unavailable) {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            20500,
            "Service Unavailable",
        );
    }
    let Some(to) = form.get("To").cloned() else {
        return error(
            StatusCode::BAD_REQUEST,
            21604,
            "A 'To' phone number is required.",
        );
    };
    let from = match (form.get("From"), form.get("MessagingServiceSid")) {
        (Some(from), _) => from.clone(),
        (None, Some(service)) => service.clone(),
        (None, None) => {
            return error(
                StatusCode::BAD_REQUEST,
                21603,
                "A 'From' phone number is required.",
            );
        }
    };
    let body = form.get("Body").cloned().unwrap_or_default();
    let content_sid = form.get("ContentSid").cloned();
    if content_sid.is_none() && form.contains_key("ContentVariables") {
        return error(StatusCode::BAD_REQUEST, 21654, "ContentSid Required");
    }
    if content_sid.is_none() && body.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            21619,
            "A text message body or media url must be specified.",
        );
    }
    if content_sid.is_some()
        && form.get("ContentVariables").is_some_and(|v| {
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(v).is_err()
        })
    {
        return error(
            StatusCode::BAD_REQUEST,
            21656,
            "The ContentVariables Parameter is invalid.",
        );
    }
    if body.chars().count() > 1600 {
        return error(
            StatusCode::BAD_REQUEST,
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
        );
    }
    let bare = to.trim_start_matches("whatsapp:");
    if emulator.behaviour.invalid.contains(bare) {
        return error(
            StatusCode::BAD_REQUEST,
            21211,
            &format!("The 'To' number {to} is not a valid phone number."),
        );
    }
    if emulator.behaviour.opted_out.contains(bare) {
        return error(
            StatusCode::BAD_REQUEST,
            21610,
            "Attempt to send to unsubscribed recipient",
        );
    }
    let n = emulator.counter.fetch_add(1, Ordering::SeqCst);
    let message_sid = format!("SM{n:032x}");
    let accepted = Accepted {
        sid: message_sid.clone(),
        to: to.clone(),
        from: from.clone(),
        body: body.clone(),
        status_callback: form.get("StatusCallback").cloned(),
        content_sid: content_sid.clone(),
        content_variables: form.get("ContentVariables").cloned(),
    };
    let outside_window = to.starts_with("whatsapp:")
        && content_sid.is_none()
        && !emulator
            .behaviour
            .whatsapp_window
            .lock()
            .unwrap()
            .contains(bare);
    // Accepted either way; a failure is reported in the status callback, before the create is
    // answered.
    let failure = if outside_window {
        Some("63016")
    } else if take(&emulator.behaviour.overflow) {
        Some("30001")
    } else {
        None
    };
    let callbacks_to = emulator.behaviour.callbacks_to.lock().unwrap().clone();
    match (failure, callbacks_to, form.get("StatusCallback")) {
        (None, ..) => {
            emulator.accepted.push(accepted);
        }
        (Some(code), Some(base), Some(callback)) => {
            let url = reqwest::Url::parse(callback).unwrap();
            let public = url.origin().ascii_serialization();
            let client = reqwest::Client::new();
            let answer = post_signed(
                &client,
                &base,
                &public,
                url.path(),
                &[
                    ("AccountSid", ACCOUNT_SID),
                    ("MessageSid", &message_sid),
                    ("SmsSid", &message_sid),
                    ("MessageStatus", "failed"),
                    ("SmsStatus", "failed"),
                    ("ErrorCode", code),
                    ("From", &from),
                    ("To", &to),
                    ("ApiVersion", "2010-04-01"),
                ],
            )
            .await;
            assert_eq!(answer.status(), 200, "surveyd took the status");
        }
        (Some(_), ..) => {}
    }
    let segments = if body.chars().count() <= 160 {
        1
    } else {
        body.chars().count().div_ceil(153)
    };
    (
        StatusCode::CREATED,
        axum::Json(json!({
            "account_sid": ACCOUNT_SID,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": "Fri, 20 Nov 2026 04:00:00 +0000",
            "date_sent": null,
            "date_updated": "Fri, 20 Nov 2026 04:00:00 +0000",
            "direction": "outbound-api",
            "error_code": null,
            "error_message": null,
            "from": from,
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": segments.to_string(),
            "price": null,
            "price_unit": "USD",
            "sid": message_sid,
            "status": "queued",
            "to": to,
            "uri": format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{message_sid}.json"),
        })),
    )
        .into_response()
}

/// Posts `params` to surveyd's webhook `path` on `base` as Twilio does: a form signed with the
/// auth token over `public_url` + `path` and the parameters.
pub async fn post_signed(
    client: &reqwest::Client,
    base: &str,
    public_url: &str,
    path: &str,
    params: &[(&str, &str)],
) -> reqwest::Response {
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let signature = surveyd::webhooks::signature::twilio_signature(
        AUTH_TOKEN,
        &format!("{public_url}{path}"),
        &owned,
    );
    client
        .post(format!("{base}{path}"))
        .header("X-Twilio-Signature", signature)
        .form(&owned)
        .send()
        .await
        .unwrap()
}

/// A message SID of Twilio's shape (`SM` and 32 hex digits) named after `label` (at most 16
/// bytes): the label's bytes in hex, zeros before them.
pub fn sid(label: &str) -> String {
    let hex = hex::encode(label);
    assert!(hex.len() <= 32, "a label of at most 16 bytes: {label}");
    format!("SM{hex:0>32}")
}

/// `X-Twilio-Signature` of a request to `url` with `params`, computed by Twilio's own helper
/// library (`RequestValidator.compute_signature` of the `twilio` Python package).
pub fn sdk_signature(url: &str, params: &[(&str, &str)]) -> String {
    sdk_signature_with("HMAC_SHA1", AUTH_TOKEN, url, params).unwrap()
}

/// [`sdk_signature`] with `algorithm` (`HMAC_SHA1`, `HMAC_SHA256`) under `secret`; `None`
/// when the installed library does not sign with that algorithm.
pub fn sdk_signature_with(
    algorithm: &str,
    secret: &str,
    url: &str,
    params: &[(&str, &str)],
) -> Option<String> {
    let input = serde_json::json!({
        "op": "sign", "algorithm": algorithm, "secret": secret, "url": url, "params": params,
    });
    sdk(&input)
}

/// Whether Twilio's own library accepts the request (`RequestValidator(secret).validate(url,
/// params, signature, algorithm)`); `None` when it does not know the algorithm.
pub fn sdk_validates(
    algorithm: &str,
    secret: &str,
    url: &str,
    params: &[(&str, &str)],
    signature: &str,
) -> Option<bool> {
    let input = serde_json::json!({
        "op": "validate", "algorithm": algorithm, "secret": secret, "url": url,
        "params": params, "signature": signature,
    });
    sdk(&input).map(|answer| answer == "True")
}

/// Twilio's own library on a JSON body: its `bodySHA256` (`compute_hash`), and whether
/// `RequestValidator(secret).validate(url, body, signature)` accepts it.
pub fn sdk_body_hash(body: &str) -> String {
    let input = serde_json::json!({
        "op": "hash", "algorithm": "HMAC_SHA1", "secret": "", "url": "", "params": [], "body": body,
    });
    sdk(&input).expect("compute_hash")
}

pub fn sdk_validates_body(secret: &str, url: &str, body: &str, signature: &str) -> bool {
    let input = serde_json::json!({
        "op": "validate_body", "algorithm": "HMAC_SHA1", "secret": secret, "url": url,
        "params": [], "body": body, "signature": signature,
    });
    sdk(&input).is_some_and(|answer| answer == "True")
}

/// Runs `RequestValidator` of the `twilio` Python package on `input`: the parameters as
/// pairs (a name may repeat, as in a form), handed over as Django's `QueryDict` would be.
fn sdk(input: &serde_json::Value) -> Option<String> {
    use std::io::Write;
    let script = "import inspect, json, sys\n\
                  from twilio.request_validator import RequestValidator\n\
                  v = json.load(sys.stdin)\n\
                  class Params(dict):\n\
                  \x20   def getlist(self, name):\n\
                  \x20       return self[name]\n\
                  params = Params()\n\
                  for name, value in v['params']:\n\
                  \x20   params.setdefault(name, []).append(value)\n\
                  validator = RequestValidator(v['secret'])\n\
                  kw = {}\n\
                  if 'algorithm' in inspect.signature(validator.compute_signature).parameters:\n\
                  \x20   kw['algorithm'] = v['algorithm']\n\
                  elif v['algorithm'] != 'HMAC_SHA1':\n\
                  \x20   print('unsupported')\n\
                  \x20   sys.exit(0)\n\
                  if v['op'] == 'sign':\n\
                  \x20   print(validator.compute_signature(v['url'], params, **kw))\n\
                  elif v['op'] == 'validate_body':\n\
                  \x20   print(validator.validate(v['url'], v['body'], v['signature'], **kw))\n\
                  elif v['op'] == 'hash':\n\
                  \x20   print(validator.compute_hash(v['body']))\n\
                  else:\n\
                  \x20   print(validator.validate(v['url'], params, v['signature'], **kw))";
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs (pip install twilio)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "Twilio's RequestValidator did not run (pip install twilio)"
    );
    let answer = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    (answer != "unsupported").then_some(answer)
}
