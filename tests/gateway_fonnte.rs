//! The generic HTTP gateway, configured by the shipped `config/fonnte.toml`, end to end
//! against a Fonnte-shaped emulator: invitations and follow-up questions sent as the gateway
//! wants them, replies through its signed callback, refusals inside a 200 answer read as
//! failures — on SQLite and PostgreSQL. Both shipped gateway configurations load.

mod support;

use chrono::{DateTime, Utc};
use std::path::Path;
use std::sync::Arc;
use support::gateway::GatewayEmulator;
use support::{TestApp, TestDb, closed_contact, survey_key};
use surveyd::campaign::SurveyChannel;
use surveyd::channels::ChatProvider;
use surveyd::clock::Clock;
use surveyd::config::{GatewayAuth, Secret, Settings};
use surveyd::dispatch::{Dispatcher, Mode};
use surveyd::domain::Phone;
use surveyd::webhooks::signature::hmac_sha256_hex;

const CUSTOMER: &str = "+6281234567890";
const INVALID: &str = "+6281299990001";
const SECRET: &str = "fonnte-webhook-secret";

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn example(name: &str) -> Settings {
    Settings::load(Some(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("config")
            .join(name),
    ))
    .unwrap()
}

#[test]
fn the_shipped_gateway_configurations_load() {
    let fonnte = example("fonnte.toml");
    let provider = ChatProvider::for_channel(&fonnte, SurveyChannel::Whatsapp).unwrap();
    assert!(matches!(provider, Some(ChatProvider::Gateway(_))));
    let zenziva = example("zenziva.toml");
    let provider = ChatProvider::for_channel(&zenziva, SurveyChannel::Sms).unwrap();
    assert!(matches!(provider, Some(ChatProvider::Gateway(_))));
    // Secrets never print.
    assert!(!zenziva.to_toml().contains("YOUR-PASSKEY"));
}

async fn a_survey_through_fonnte(db: &TestDb) {
    let gateway = GatewayEmulator::start(&["6281299990001"]).await;
    let (clock, hand) = Clock::manual(at("2026-11-20T02:00:00Z"));
    let mut settings = example("fonnte.toml");
    let test = db.settings();
    settings.database = test.database;
    settings.http = test.http;
    settings.survey.key = test.survey.key;
    settings.campaigns[0].channels = vec![SurveyChannel::Whatsapp];
    let fonnte = settings.gateways.get_mut("fonnte").unwrap();
    let send = fonnte.send.as_mut().unwrap();
    send.url = format!("{}/send", gateway.base);
    send.auth = GatewayAuth::Header {
        name: "Authorization".into(),
        value: Secret::new(support::gateway::TOKEN.into()),
    };
    send.rate_per_second = 0.0;
    fonnte.inbound.as_mut().unwrap().secret = Secret::new(SECRET.into());

    let contacts: Vec<_> = [CUSTOMER, INVALID]
        .iter()
        .enumerate()
        .map(|(i, number)| {
            let mut c = closed_contact(
                &format!("T-{i}"),
                &format!("C-{i}"),
                None,
                at("2026-11-20T01:00:00Z"),
            );
            c.phone = Some(Phone::parse(number).unwrap());
            c
        })
        .collect();
    db.store
        .upsert_contacts(&contacts, clock.now())
        .await
        .unwrap();
    let planned = db
        .store
        .plan_invitations(&settings.campaigns[0], clock.now(), false, &survey_key())
        .await
        .unwrap();
    assert_eq!(planned.invited, 2);
    hand.set(at("2026-11-20T03:00:00Z"));
    let app = TestApp::spawn_with_clock(db, settings.clone(), clock.clone()).await;
    let dispatch = || {
        let dispatcher =
            Arc::new(Dispatcher::new(db.store.clone(), &settings, clock.clone()).unwrap());
        async move {
            let (_stop, stopped) = tokio::sync::watch::channel(false);
            dispatcher.run(Mode::UntilIdle, stopped).await.unwrap()
        }
    };
    let counts = dispatch().await;
    assert_eq!((counts.sent, counts.failed), (1, 1), "{counts:?}");
    let invite = &gateway.accepted()[0];
    assert_eq!(invite["target"], "6281234567890");
    assert_eq!(invite["countryCode"], "62");
    assert!(
        invite["message"].starts_with("Halo Customer C-0"),
        "{invite:?}"
    );
    let failures = db.store.failed_deliveries(10).await.unwrap();
    assert_eq!(
        failures[0].last_error.as_deref(),
        Some("gateway fonnte 200: target invalid")
    );

    // The customer's reply, through the gateway's signed callback.
    let body = serde_json::json!({"inboxid": "991", "device": "6285712345678", "sender": "6281234567890", "message": "lima"}).to_string();
    let response = app
        .client
        .post(app.url("/webhooks/gateways/fonnte"))
        .header("X-Signature", hmac_sha256_hex(SECRET, body.as_bytes()))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    dispatch().await;
    let next = gateway.accepted().last().cloned().unwrap();
    assert!(
        next["message"].starts_with("Apakah masalah Anda selesai"),
        "{next:?}"
    );
    let answers = db.store.answers(1).await.unwrap();
    assert_eq!(
        (answers[0].question.as_str(), answers[0].number),
        ("csat", Some(5))
    );
}

on_both_backends!(a_survey_through_fonnte);
