//! The generic HTTP gateway, configured by the shipped `config/fonnte.toml`, end to end
//! against a Fonnte-shaped emulator: invitations and follow-up questions sent as the gateway
//! wants them, replies through its signed callback, refusals inside a 200 answer read as
//! failures — on SQLite and PostgreSQL. Configured by `config/qontak.toml` against a
//! Qontak-shaped emulator: an OAuth token fetched once, fetched again when refused, and a
//! nested JSON body. The shipped gateway configurations load.

use crate::support;
use crate::support::gateway::GatewayEmulator;
use crate::support::qontak::QontakEmulator;
use crate::support::{TestApp, TestDb, closed_contact, survey_key};
use chrono::{DateTime, Utc};
use std::path::Path;
use std::sync::Arc;
use surveyd::channels::ChatProvider;
use surveyd::clock::{Clock, ManualClock};
use surveyd::config::{GatewayAuth, Secret, Settings};
use surveyd::dispatch::{DispatchCounts, Dispatcher, Mode};
use surveyd::domain::Phone;
use surveyd::domain::SurveyChannel;
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
    let provider = ChatProvider::for_channel(fonnte.providers(), SurveyChannel::Whatsapp).unwrap();
    assert!(matches!(provider, Some(ChatProvider::Gateway(_))));
    let zenziva = example("zenziva.toml");
    let provider = ChatProvider::for_channel(zenziva.providers(), SurveyChannel::Sms).unwrap();
    assert!(matches!(provider, Some(ChatProvider::Gateway(_))));
    let qontak = example("qontak.toml");
    let provider = ChatProvider::for_channel(qontak.providers(), SurveyChannel::Whatsapp).unwrap();
    assert!(matches!(provider, Some(ChatProvider::Gateway(_))));
    // Secrets never print.
    assert!(!zenziva.to_toml().contains("YOUR-PASSKEY"));
    let printed = qontak.to_toml();
    assert!(!printed.contains("YOUR-PASSWORD") && !printed.contains("YOUR-CLIENT-SECRET"));
}

/// The daemon for `db` configured by the shipped `config/{file}` (then `configure`d), with
/// one customer per number in `numbers`, each invited on `channel` and due.
struct GatewaySurvey {
    settings: Settings,
    clock: Clock,
    hand: ManualClock,
    app: TestApp,
    /// One dispatcher throughout, as in a daemon (it keeps the gateway's access token).
    dispatcher: Arc<Dispatcher>,
}

impl GatewaySurvey {
    async fn start(
        db: &TestDb,
        file: &str,
        channel: SurveyChannel,
        numbers: &[&str],
        configure: impl FnOnce(&mut Settings),
    ) -> GatewaySurvey {
        let (clock, hand) = Clock::manual(at("2026-11-20T02:00:00Z"));
        let mut settings = example(file);
        let test = db.settings();
        settings.database = test.database;
        settings.http = test.http;
        settings.survey.key = test.survey.key;
        settings.campaigns[0].channels = vec![channel];
        configure(&mut settings);
        let contacts = support::phone_contacts(numbers, at("2026-11-20T01:00:00Z"));
        db.store
            .upsert_contacts(&contacts, clock.now())
            .await
            .unwrap();
        let planned = db
            .store
            .plan_invitations(&settings.campaigns[0], clock.now(), false, &survey_key())
            .await
            .unwrap();
        assert_eq!(planned.invited as usize, numbers.len());
        hand.set(at("2026-11-20T03:00:00Z"));
        let app = TestApp::spawn_with_clock(db, settings.clone(), clock.clone()).await;
        let dispatcher =
            Arc::new(surveyd::app::dispatcher(db.store.clone(), &settings, clock.clone()).unwrap());
        GatewaySurvey {
            settings,
            clock,
            hand,
            app,
            dispatcher,
        }
    }

    /// Another customer (`number`) with a contact (`contact`) closed three hours ago, invited.
    async fn invite_another(&self, db: &TestDb, contact: &str, number: &str) {
        let closed = self.clock.now() - chrono::Duration::hours(3);
        let mut c = closed_contact(contact, &format!("C-{contact}"), None, closed);
        c.phone = Some(Phone::parse(number).unwrap());
        db.store
            .upsert_contacts(&[c], self.clock.now())
            .await
            .unwrap();
        let planned = db
            .store
            .plan_invitations(
                &self.settings.campaigns[0],
                self.clock.now(),
                false,
                &survey_key(),
            )
            .await
            .unwrap();
        assert_eq!(planned.invited, 1);
    }

    async fn dispatch(&self) -> DispatchCounts {
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        Arc::clone(&self.dispatcher)
            .run(Mode::UntilIdle, stopped)
            .await
            .unwrap()
    }
}

async fn a_survey_through_fonnte(db: &TestDb) {
    let gateway = GatewayEmulator::start(&["6281299990001"]).await;
    let survey = GatewaySurvey::start(
        db,
        "fonnte.toml",
        SurveyChannel::Whatsapp,
        &[CUSTOMER, INVALID],
        |settings| {
            let fonnte = settings.gateways.get_mut("fonnte").unwrap();
            let send = fonnte.send.as_mut().unwrap();
            send.url = format!("{}/send", gateway.base);
            send.auth = GatewayAuth::Header {
                name: "Authorization".into(),
                value: Secret::new(support::gateway::TOKEN.into()),
            };
            send.rate_per_second = 0.0;
            fonnte.inbound.as_mut().unwrap().secret = Secret::new(SECRET.into());
        },
    )
    .await;
    let app = &survey.app;
    let counts = survey.dispatch().await;
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
    survey.dispatch().await;
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

async fn a_survey_through_qontak_with_oauth(db: &TestDb) {
    use support::qontak::{CLIENT_ID, CLIENT_SECRET, PASSWORD, USERNAME};
    let qontak = QontakEmulator::start().await;
    let second = "+6281234567891";
    let survey = GatewaySurvey::start(
        db,
        "qontak.toml",
        SurveyChannel::Whatsapp,
        &[CUSTOMER, second],
        |settings| {
            let send = settings
                .gateways
                .get_mut("qontak")
                .unwrap()
                .send
                .as_mut()
                .unwrap();
            send.url = format!("{}/api/open/v1/broadcasts/whatsapp/direct", qontak.base);
            let GatewayAuth::Oauth {
                token_url,
                client_id,
                client_secret,
                username,
                password,
                ..
            } = &mut send.auth
            else {
                panic!("config/qontak.toml uses OAuth");
            };
            *token_url = format!("{}/oauth/token", qontak.base);
            *client_id = CLIENT_ID.into();
            *client_secret = Secret::new(CLIENT_SECRET.into());
            *username = Some(USERNAME.into());
            *password = Some(Secret::new(PASSWORD.into()));
            send.rate_per_second = 0.0;
        },
    )
    .await;
    // Two invitations, one token.
    let counts = survey.dispatch().await;
    assert_eq!(counts.sent, 2, "{counts:?}");
    assert_eq!(qontak.token_requests().len(), 1);
    let invite = &qontak.accepted()[0];
    assert_eq!(invite["language"]["code"], "id");
    assert_eq!(invite["parameters"]["body"][0]["key"], "1");
    assert!(
        invite["parameters"]["body"][0]["value_text"]
            .as_str()
            .is_some_and(|t| t.starts_with("Halo Customer C-")),
        "{invite}"
    );
    assert!(
        invite["to_number"]
            .as_str()
            .is_some_and(|n| n.starts_with("62812"))
    );

    // Qontak stops taking the token: that attempt is retried later, with a new token.
    qontak.revoke_tokens();
    survey.invite_another(db, "T-8", "+6281234567898").await;
    let counts = survey.dispatch().await;
    assert_eq!((counts.sent, counts.retried), (0, 1), "{counts:?}");
    survey.hand.advance(chrono::Duration::hours(1));
    let counts = survey.dispatch().await;
    assert_eq!(counts.sent, 1, "{counts:?}");
    assert_eq!(qontak.token_requests().len(), 2);
    assert_eq!(qontak.accepted().len(), 3);

    // Credentials Qontak refuses: the message fails for good, with Qontak's words and no secret.
    qontak.revoke_tokens();
    let mut survey = survey;
    if let GatewayAuth::Oauth { password, .. } = &mut survey
        .settings
        .gateways
        .get_mut("qontak")
        .unwrap()
        .send
        .as_mut()
        .unwrap()
        .auth
    {
        *password = Some(Secret::new("not-the-password".into()));
    }
    survey.dispatcher = Arc::new(
        surveyd::app::dispatcher(db.store.clone(), &survey.settings, survey.clock.clone()).unwrap(),
    );
    survey.invite_another(db, "T-9", "+6281234567899").await;
    let counts = survey.dispatch().await;
    assert_eq!(counts.failed, 1, "{counts:?}");
    let reason = db.store.failed_deliveries(10).await.unwrap()[0]
        .last_error
        .clone()
        .unwrap();
    assert!(
        reason.starts_with(
            "gateway qontak token request 401: The provided authorization grant is invalid"
        ),
        "{reason}"
    );
    assert!(!reason.contains("not-the-password") && !reason.contains(CLIENT_SECRET));
}

on_both_backends!(a_survey_through_fonnte, a_survey_through_qontak_with_oauth);
