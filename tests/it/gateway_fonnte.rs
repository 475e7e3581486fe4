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
    // Qontak's Open API behind Mekari's gateway, signed with HMAC; replies come back.
    let gateway = &qontak.gateways["qontak"];
    let send = gateway.send.as_ref().unwrap();
    assert!(
        send.url
            .starts_with("https://api.mekari.com/qontak/chat/v1/")
    );
    assert!(matches!(send.auth, GatewayAuth::Hmac { .. }));
    assert!(gateway.inbound.is_some());
    // Zenziva cannot push replies: send-only, so its SMS carry the survey's link.
    let zenziva_sms = ChatProvider::for_channel(zenziva.providers(), SurveyChannel::Sms)
        .unwrap()
        .unwrap();
    assert_eq!(
        zenziva_sms.mode_for("+6281234567890"),
        surveyd::domain::ChatMode::Link
    );
    // Secrets never print.
    assert!(!zenziva.to_toml().contains("YOUR-PASSKEY"));
    let printed = qontak.to_toml();
    assert!(
        !printed.contains("YOUR-MEKARI-CLIENT-SECRET") && !printed.contains("YOUR-WEBHOOK-SECRET")
    );
}

/// The request settings of the gateway `qontak`.
fn qontak_send(settings: &mut Settings) -> &mut surveyd::channels::GatewaySend {
    let gateway = settings
        .gateways
        .get_mut("qontak")
        .expect("[gateways.qontak]");
    gateway.send.as_mut().expect("[gateways.qontak.send]")
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
    let uk = "+447911123456";
    let survey = GatewaySurvey::start(
        db,
        "fonnte.toml",
        SurveyChannel::Whatsapp,
        &[CUSTOMER, INVALID, uk],
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
    // The phone linked as the device is offline: retried later, not given up.
    gateway.disconnect(3);
    let counts = survey.dispatch().await;
    assert_eq!((counts.sent, counts.retried), (0, 3), "{counts:?}");
    survey.hand.advance(chrono::Duration::hours(1));
    let counts = survey.dispatch().await;
    assert_eq!((counts.sent, counts.failed), (2, 1), "{counts:?}");
    let invite = gateway
        .accepted()
        .into_iter()
        .find(|m| m["target"] == "6281234567890")
        .unwrap();
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

    // Replies through Fonnte's webhook, which does not sign: the secret is the URL's token.
    let post = |body: serde_json::Value, token: &str| {
        app.client
            .post(app.url(&format!("/webhooks/gateways/fonnte?token={token}")))
            .body(body.to_string())
            .send()
    };
    let reply = |id: &str, sender: &str, text: &str| {
        serde_json::json!({"inboxid": id, "device": "6285712345678", "sender": sender,
                           "message": text, "member": "", "name": "Customer"})
    };
    let forged = post(reply("990", "6281234567890", "1"), "not-the-secret")
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let response = post(reply("991", "6281234567890", "lima"), SECRET)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // The UK customer's number comes as digits with its country code: read as +44, not as
    // an Indonesian number.
    let response = post(reply("992", "447911123456", "4"), SECRET)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // A message in a group the device is in is no answer.
    let group = serde_json::json!({"inboxid": "993", "device": "6285712345678",
        "sender": "120363025246125486@g.us", "member": "6281234567890", "message": "3"});
    assert_eq!(post(group, SECRET).await.unwrap().status(), 200);
    let outcomes = db.store.inbox_status().await.unwrap().outcomes;
    assert_eq!(
        outcomes,
        [("answer".to_owned(), 2), ("group_chat".to_owned(), 1)]
    );
    survey.dispatch().await;
    let next = gateway.accepted().last().cloned().unwrap();
    assert!(
        next["message"].starts_with("Apakah masalah Anda selesai")
            || next["message"].starts_with("Was your issue resolved"),
        "{next:?}"
    );
    let answers = db.store.answers(1).await.unwrap();
    assert_eq!(
        (answers[0].question.as_str(), answers[0].number),
        ("csat", Some(5))
    );
    let uk_answers = db.store.answers(3).await.unwrap();
    assert_eq!(
        (uk_answers[0].question.as_str(), uk_answers[0].number),
        ("csat", Some(4))
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
            let send = qontak_send(settings);
            // Qontak's former host, with an OAuth password grant (as JSON).
            send.url = format!("{}/api/open/v1/broadcasts/whatsapp/direct", qontak.base);
            send.auth = GatewayAuth::Oauth {
                token_url: format!("{}/oauth/token", qontak.base),
                grant: surveyd::channels::OauthGrant::Password,
                client_id: CLIENT_ID.into(),
                client_secret: Secret::new(CLIENT_SECRET.into()),
                username: Some(USERNAME.into()),
                password: Some(Secret::new(PASSWORD.into())),
                scope: None,
                body_format: surveyd::channels::BodyFormat::Json,
            };
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
    if let GatewayAuth::Oauth { password, .. } = &mut qontak_send(&mut survey.settings).auth {
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

/// Qontak as `config/qontak.toml` ships it: Mekari's API gateway, each request signed with
/// Mekari's HMAC (checked by the emulator as Mekari documents it); a wrong secret is refused
/// with Mekari's words.
async fn a_survey_through_qontak_on_mekari(db: &TestDb) {
    use support::qontak::{CLIENT_ID, CLIENT_SECRET};
    let qontak = QontakEmulator::start().await;
    let configure = |secret: &str| {
        let secret = secret.to_owned();
        let base = qontak.base.clone();
        move |settings: &mut Settings| {
            let send = qontak_send(settings);
            assert!(
                send.url
                    .ends_with("/qontak/chat/v1/broadcasts/whatsapp/direct"),
                "{}",
                send.url
            );
            send.url = send.url.replace("https://api.mekari.com", &base);
            let GatewayAuth::Hmac {
                username,
                secret: key,
                ..
            } = &mut send.auth
            else {
                panic!("config/qontak.toml signs with Mekari's HMAC");
            };
            *username = CLIENT_ID.into();
            *key = Secret::new(secret);
            send.rate_per_second = 0.0;
        }
    };
    let survey = GatewaySurvey::start(
        db,
        "qontak.toml",
        SurveyChannel::Whatsapp,
        &[CUSTOMER],
        configure(CLIENT_SECRET),
    )
    .await;
    assert_eq!(survey.dispatch().await.sent, 1);
    let invite = &qontak.accepted()[0];
    assert!(
        invite["parameters"]["body"][0]["value_text"]
            .as_str()
            .is_some_and(|t| t.starts_with("Halo Customer C-")),
        "{invite}"
    );
    // A wrong secret: refused (401, retried as a credentials problem may pass), nothing accepted.
    let mut wrong = survey.settings.clone();
    configure("not-the-secret")(&mut wrong);
    let dispatcher =
        Arc::new(surveyd::app::dispatcher(db.store.clone(), &wrong, survey.clock.clone()).unwrap());
    survey.invite_another(db, "T-9", "+6281234567899").await;
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let counts = dispatcher.run(Mode::UntilIdle, stopped).await.unwrap();
    assert_eq!(counts.sent, 0, "{counts:?}");
    assert_eq!(qontak.accepted().len(), 1);
    let errors = db
        .texts("SELECT last_error FROM deliveries WHERE last_error IS NOT NULL")
        .await;
    assert!(
        errors
            .iter()
            .flatten()
            .any(|e| e.contains("HMAC signature does not match") && !e.contains("not-the-secret")),
        "{errors:?}"
    );
}

on_both_backends!(
    a_survey_through_fonnte,
    a_survey_through_qontak_with_oauth,
    a_survey_through_qontak_on_mekari
);
