//! The webhook decoders on any body a provider (or anyone) could post, signed with the right
//! secret so that it gets past the signature check: Twilio's form callbacks, Meta's JSON
//! (split into events) and the example gateways' callbacks (signed, or carrying their token). A signed body may still be
//! refused for its shape (a missing or malformed field, too many parameters), never for its
//! signature; each event accepted is then decoded as the inbox writer decodes it. Nothing may
//! panic.
#![no_main]

use axum::http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use surveyd::config::Settings;
use surveyd::webhooks::{self, gateway, signature, twilio, whatsapp};

const SECRET: &str = "fuzzing-secret-0123456789";
const URL: &str = "https://survey.example.com/webhooks/twilio/inbound";

/// The defaults with the example gateways (Fonnte, Zenziva, Qontak) configured.
fn settings() -> &'static Settings {
    static LOADED: OnceLock<Settings> = OnceLock::new();
    LOADED.get_or_init(|| {
        let mut settings = Settings::load(None).unwrap();
        for example in ["fonnte", "zenziva", "qontak"] {
            let path = format!("{}/../config/{example}.toml", env!("CARGO_MANIFEST_DIR"));
            let loaded = Settings::load(Some(path.as_ref())).unwrap();
            settings.gateways.extend(loaded.gateways);
        }
        settings
    })
}

/// The events of a signed body, or none when its shape is refused; a refused signature is a bug.
fn shape_checked<T>(accepted: Result<T, webhooks::Rejection>) -> Option<T> {
    match accepted {
        Ok(events) => Some(events),
        Err(webhooks::Rejection::Malformed(_) | webhooks::Rejection::TooManyParameters(_)) => None,
        Err(other) => panic!("a signed body was refused: {other}"),
    }
}

fn header(name: &'static str, value: String) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(name, HeaderValue::from_str(&value).unwrap());
    headers
}

fuzz_target!(|data: &[u8]| {
    let settings = settings();
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let events = match which % 4 {
        0 | 1 => {
            let kind = if which % 4 == 0 {
                twilio::Callback::Inbound
            } else {
                twilio::Callback::Status
            };
            let params = twilio::form_pairs(body);
            let signed = signature::twilio_signature(SECRET, URL, &params);
            let headers = header("x-twilio-signature", signed);
            let keys = twilio::Keys {
                auth_token: SECRET,
                shared_key: None,
            };
            shape_checked(twilio::accept(&keys, URL, &headers, body, kind))
                .into_iter()
                .collect()
        }
        2 => {
            let headers = header(
                "x-hub-signature-256",
                signature::meta_signature(SECRET, body),
            );
            shape_checked(whatsapp::accept(
                SECRET,
                Some("106540352242922"),
                &headers,
                body,
            ))
            .unwrap_or_default()
        }
        _ => {
            let mut events = Vec::new();
            for (name, configured) in &settings.gateways {
                let Some(inbound) = &configured.inbound else {
                    continue;
                };
                // Signed, or for a gateway that cannot sign, the token itself.
                let signed = match inbound.check {
                    surveyd::channels::InboundCheck::Hmac => {
                        signature::hmac_sha256_hex(inbound.secret.expose(), body)
                    }
                    surveyd::channels::InboundCheck::Token => inbound.secret.expose().clone(),
                };
                let mut headers = HeaderMap::new();
                let name_header: axum::http::HeaderName = inbound.signature_header.parse().unwrap();
                headers.insert(name_header, HeaderValue::from_str(&signed).unwrap());
                let call = webhooks::Call {
                    url: "https://surveys.example.com/webhooks/gateways/fuzz",
                    headers: &headers,
                    body,
                };
                events.extend(shape_checked(gateway::accept(name, inbound, &call)));
            }
            events
        }
    };
    static PROVIDERS: OnceLock<webhooks::Providers> = OnceLock::new();
    let providers = PROVIDERS.get_or_init(|| settings.webhook_providers());
    for event in events {
        let _ = providers.decode(&event.provider, event.kind, &event.payload);
    }
});
