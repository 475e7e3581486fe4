//! Provider callbacks end to end through the HTTP server: signatures checked before anything
//! is stored, events stored once (a provider's retry changes nothing), and replies interpreted
//! as a conversation — answer, next question, re-ask, thanks — on SQLite and PostgreSQL.

use crate::support;
use crate::support::twilio::sid;
use crate::support::{TestApp, TestDb, closed_contact, survey_key};
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;
use surveyd::campaign::Campaign;
use surveyd::clock::{Clock, ManualClock};
use surveyd::config::{BodyFormat, GatewayInbound, GatewaySettings, Secret, Settings};
use surveyd::domain::Phone;
use surveyd::domain::{MessageKind, SurveyChannel};
use surveyd::store::{Claimed, Outcome, StoredAnswer};
use surveyd::webhooks::inbox::replay;
use surveyd::webhooks::signature::{hmac_sha256_hex, meta_signature, twilio_signature};

const PUBLIC_URL: &str = "https://surveys.example.co.id";
const TWILIO_TOKEN: &str = support::twilio::AUTH_TOKEN;
const APP_SECRET: &str = support::meta::APP_SECRET;
const VERIFY_TOKEN: &str = "verify-me";
const GATEWAY_SECRET: &str = "gateway-secret";
const CUSTOMER_PHONE: &str = "+6281234567890";

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// One test's daemon with every provider's callbacks configured, a campaign per chat channel,
/// and one customer (phone 0812-3456-7890) with a contact closed at 01:00.
struct Chat {
    app: TestApp,
    settings: Settings,
    clock: Clock,
    hand: ManualClock,
}

fn campaign(base: &Campaign, channel: SurveyChannel) -> Campaign {
    Campaign {
        name: format!("post-contact-{}", channel.as_str()),
        channels: vec![channel],
        ..base.clone()
    }
}

impl Chat {
    async fn start(db: &TestDb) -> Chat {
        let (clock, hand) = Clock::manual(at("2026-11-20T04:00:00Z"));
        let mut settings = db.settings();
        settings.survey.public_url = PUBLIC_URL.parse().unwrap();
        settings.twilio.auth_token = Some(Secret::new(TWILIO_TOKEN.into()));
        settings.whatsapp.app_secret = Some(Secret::new(APP_SECRET.into()));
        settings.whatsapp.verify_token = Some(Secret::new(VERIFY_TOKEN.into()));
        settings.gateways.insert(
            "fonnte".into(),
            GatewaySettings {
                channel: SurveyChannel::Whatsapp,
                send: None,
                inbound: Some(GatewayInbound {
                    secret: Secret::new(GATEWAY_SECRET.into()),
                    check: surveyd::channels::InboundCheck::Hmac,
                    signature_header: "X-Signature".into(),
                    format: BodyFormat::Json,
                    id: Some("/id".into()),
                    from: "/sender".into(),
                    from_format: surveyd::channels::PhoneFormat::International,
                    group: None,
                    text: "/message".into(),
                    reply_to: None,
                    status_id: Some("/msgid".into()),
                    status: Some("/state".into()),
                    statuses: BTreeMap::from([("read".into(), "read".into())]),
                }),
                mode: None,
            },
        );
        let base = settings.campaigns[0].clone();
        settings.campaigns = vec![
            campaign(&base, SurveyChannel::Sms),
            campaign(&base, SurveyChannel::Whatsapp),
        ];
        let mut contact = closed_contact("T-1", "C-1", None, at("2026-11-20T01:00:00Z"));
        contact.phone =
            Some(Phone::parse_in("0812-3456-7890", phonenumber::country::Id::ID).unwrap());
        contact.locale = Some(surveyd::domain::Locale::parse("id").unwrap());
        db.store
            .upsert_contacts(&[contact], clock.now())
            .await
            .unwrap();
        let app = TestApp::spawn_with_clock(db, settings.clone(), clock.clone()).await;
        Chat {
            app,
            settings,
            clock,
            hand,
        }
    }

    fn campaign(&self, channel: SurveyChannel) -> Campaign {
        self.settings
            .campaigns
            .iter()
            .find(|c| c.channels == [channel])
            .unwrap()
            .clone()
    }

    /// Plans the campaign of `channel` and "sends" its invitation as the provider's message
    /// `message_id` (the outcome a dispatcher records), returning the invitation id.
    async fn invite(&self, db: &TestDb, channel: SurveyChannel, message_id: &str) -> i64 {
        let counts = db
            .store
            .plan_invitations(
                &self.campaign(channel),
                self.clock.now(),
                false,
                &survey_key(),
            )
            .await
            .unwrap();
        assert_eq!(counts.invited, 1);
        let sent = self.send_due(db, &[message_id]).await;
        assert_eq!(sent[0].kind, MessageKind::Invite);
        sent[0].invitation_id
    }

    /// Claims every due delivery and records each sent as the next of `message_ids`.
    async fn send_due(&self, db: &TestDb, message_ids: &[&str]) -> Vec<Claimed> {
        let now = self.clock.now();
        let mut claimed = Vec::new();
        for channel in ["sms", "whatsapp"] {
            claimed.extend(
                db.store
                    .claim_due(channel, "test", now, now + Duration::minutes(5), 100)
                    .await
                    .unwrap(),
            );
        }
        assert_eq!(claimed.len(), message_ids.len(), "{claimed:?}");
        let outcomes: Vec<Outcome> = claimed
            .iter()
            .zip(message_ids)
            .map(|(c, id)| Outcome::Sent {
                delivery_id: c.delivery_id,
                invitation_id: c.invitation_id,
                message_id: (*id).to_owned(),
                follow_up: Default::default(),
            })
            .collect();
        db.store
            .record_outcomes("test", now, &outcomes)
            .await
            .unwrap();
        claimed
    }

    /// Twilio's POST of `params` to `path`, signed as Twilio signs it.
    async fn twilio(&self, path: &str, params: &[(&str, &str)]) -> reqwest::Response {
        support::twilio::post_signed(&self.app.client, &self.app.base, PUBLIC_URL, path, params)
            .await
    }

    async fn sms_reply(&self, sid: &str, body: &str) -> reqwest::Response {
        self.twilio(
            "/webhooks/twilio/inbound",
            &[
                ("MessageSid", sid),
                ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
                ("From", CUSTOMER_PHONE),
                ("To", "+6285712345678"),
                ("Body", body),
                ("NumMedia", "0"),
                ("NumSegments", "1"),
                ("SmsStatus", "received"),
                ("ApiVersion", "2010-04-01"),
            ],
        )
        .await
    }

    /// Meta's POST of `body` (serialised as Meta does: non-ASCII as `\uXXXX`), signed.
    async fn whatsapp(&self, body: &serde_json::Value) -> reqwest::Response {
        support::meta::post_event(&self.app.client, &self.app.url("/webhooks/whatsapp"), body).await
    }
}

fn answer(
    question: &str,
    number: Option<i16>,
    text: Option<&str>,
    metric: Option<&str>,
) -> StoredAnswer {
    StoredAnswer {
        question: question.into(),
        metric: metric.map(str::to_owned),
        number,
        text: text.map(str::to_owned),
    }
}

async fn answers(db: &TestDb, invitation: i64) -> Vec<StoredAnswer> {
    let mut answers = db.store.answers(invitation).await.unwrap();
    answers.sort_by(|a, b| a.question.cmp(&b.question));
    answers
}

async fn outcomes(db: &TestDb) -> Vec<(String, u64)> {
    db.store.inbox_status().await.unwrap().outcomes
}

async fn an_sms_survey_is_a_conversation(db: &TestDb) {
    let chat = Chat::start(db).await;
    let invitation = chat.invite(db, SurveyChannel::Sms, &sid("invite")).await;

    // Question one (asked by the invitation): "5".
    let response = chat.sms_reply(&sid("1"), "5").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/xml");
    assert_eq!(
        response.text().await.unwrap(),
        r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#
    );
    assert_eq!(
        answers(db, invitation).await,
        [answer("csat", Some(5), None, Some("csat"))]
    );
    let next = chat.send_due(db, &[&sid("q2")]).await;
    assert_eq!(
        (next[0].kind.as_str(), next[0].question.as_deref()),
        ("question", Some("resolved"))
    );

    // No answer to a yes/no question: asked once more.
    chat.hand.advance(Duration::minutes(1));
    chat.sms_reply(&sid("2"), "mungkin").await;
    let again = chat.send_due(db, &[&sid("q2b")]).await;
    assert_eq!(
        (again[0].kind.as_str(), again[0].question.as_deref()),
        ("reask", Some("resolved"))
    );

    chat.sms_reply(&sid("3"), "belum selesai").await;
    let next = chat.send_due(db, &[&sid("q3")]).await;
    assert_eq!(next[0].question.as_deref(), Some("comment"));
    chat.sms_reply(&sid("4"), "Agennya ramah, tapi lama").await;
    let thanks = chat.send_due(db, &[&sid("thanks")]).await;
    assert_eq!(
        (thanks[0].kind.as_str(), thanks[0].question.as_deref()),
        ("thanks", None)
    );
    assert_eq!(
        answers(db, invitation).await,
        [
            answer("comment", None, Some("Agennya ramah, tapi lama"), None),
            answer("csat", Some(5), None, Some("csat")),
            answer("resolved", Some(0), None, Some("fcr")),
        ]
    );

    // Twilio retries a callback: acknowledged, nothing changes (counted as a duplicate).
    let duplicates = r#"surveyd_webhook_events_total{provider="twilio",outcome="duplicate"}"#;
    let before = support::counter(duplicates);
    let retry = chat.sms_reply(&sid("4"), "Agennya ramah, tapi lama").await;
    assert_eq!(retry.status(), 200);
    assert!(support::counter(duplicates) > before);
    chat.send_due(db, &[]).await;
    assert_eq!(db.store.inbox_status().await.unwrap().total, 4);

    // A late reply after the last question is stored and counted, not scored.
    chat.sms_reply(&sid("5"), "1").await;
    assert_eq!(answers(db, invitation).await.len(), 3);

    // The invitation counts as answered in the report, with its scores.
    let report = support::report_rows(db, &[surveyd::store::Breakdown::Campaign], None, None).await;
    let row = report
        .iter()
        .find(|r| r.keys[0].key == "post-contact-sms")
        .unwrap();
    assert_eq!(
        (
            row.sent,
            row.responses,
            row.csat.map(|p| p.count),
            row.fcr.map(|p| p.count)
        ),
        (1, 1, Some(1), Some(0))
    );
    // The "no" to the resolution question raised a detractor alert with the reply.
    let alerts = db.store.alerts(None, 10).await.unwrap();
    let reasons: Vec<&str> = alerts.iter().map(|a| a.reasons.as_str()).collect();
    assert_eq!(reasons, ["unresolved"]);

    assert_eq!(
        outcomes(db).await,
        [
            ("after_last_question".to_owned(), 1),
            ("answer".to_owned(), 3),
            ("reask".to_owned(), 1)
        ]
    );
}

async fn twice_no_answer_keeps_the_words_as_a_comment(db: &TestDb) {
    let chat = Chat::start(db).await;
    let invitation = chat.invite(db, SurveyChannel::Sms, &sid("invite")).await;
    chat.sms_reply(&sid("1"), "hmm entahlah").await;
    chat.send_due(db, &[&sid("reask")]).await;
    chat.sms_reply(&sid("2"), "pelayanannya lambat sekali")
        .await;
    // The words become the comment; the survey moves past the rating and the comment.
    assert_eq!(
        answers(db, invitation).await,
        [answer(
            "comment",
            None,
            Some("pelayanannya lambat sekali"),
            None
        )]
    );
    let next = chat.send_due(db, &[&sid("q2")]).await;
    assert_eq!(next[0].question.as_deref(), Some("resolved"));
}

/// A comment as long as a message can be (here 350,000 characters) is kept to the comment
/// question's `max_length` (2,000 by default), and the cut is recorded as the outcome.
async fn a_long_comment_is_cut_to_the_questions_length(db: &TestDb) {
    let chat = Chat::start(db).await;
    let invitation = chat.invite(db, SurveyChannel::Sms, &sid("invite")).await;
    let long = "lambat ".repeat(50_000);
    chat.sms_reply(&sid("1"), &long).await;
    chat.send_due(db, &[&sid("reask")]).await;
    assert_eq!(chat.sms_reply(&sid("2"), &long).await.status(), 200);
    let stored = answers(db, invitation).await;
    let text = stored[0].text.as_deref().unwrap();
    assert_eq!(text.chars().count(), 2000);
    assert!(long.starts_with(text));
    assert_eq!(
        outcomes(db).await,
        [("comment_cut".to_owned(), 1), ("reask".to_owned(), 1)]
    );
}

async fn statuses_move_forward_only(db: &TestDb) {
    let chat = Chat::start(db).await;
    let invite = sid("invite");
    chat.invite(db, SurveyChannel::Sms, &invite).await;
    let status = |status: &'static str| {
        let (chat, invite) = (&chat, &invite);
        async move {
            chat.twilio(
                "/webhooks/twilio/status",
                &[
                    ("MessageSid", invite.as_str()),
                    ("MessageStatus", status),
                    ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
                    ("From", "+6285712345678"),
                    ("To", CUSTOMER_PHONE),
                    ("ApiVersion", "2010-04-01"),
                ],
            )
            .await
            .status()
        }
    };
    assert_eq!(status("delivered").await, 200);
    // A late "sent" after "delivered" changes nothing; "queued" is not tracked.
    assert_eq!(status("sent").await, 200);
    assert_eq!(status("queued").await, 200);
    // Twilio's retry of the same status is one event.
    assert_eq!(status("delivered").await, 200);
    assert_eq!(
        outcomes(db).await,
        [
            ("ignored".to_owned(), 1),
            ("status".to_owned(), 1),
            ("status_stale".to_owned(), 1)
        ]
    );
}

/// A status for a message no delivery carries is parked (its send may not be recorded yet),
/// and given up as unknown once it waited `PARK_FOR`.
async fn a_status_of_no_known_message_is_given_up_after_a_while(db: &TestDb) {
    let chat = Chat::start(db).await;
    let stranger = sid("stranger");
    let form = [
        ("MessageSid", stranger.as_str()),
        ("MessageStatus", "delivered"),
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("To", CUSTOMER_PHONE),
    ];
    let answer = chat.twilio("/webhooks/twilio/status", &form).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(outcomes(db).await, [("status_parked".to_owned(), 1)]);
    let waited = chrono::Duration::from_std(surveyd::webhooks::inbox::PARK_FOR).unwrap();
    chat.hand.advance(waited - chrono::Duration::seconds(1));
    // Looked at again, it stays parked until the window is over.
    let shared = surveyd::app::Shared::load(&chat.settings).unwrap();
    let applied = surveyd::webhooks::inbox::apply_parked(
        &db.store,
        &chat.settings.webhook_providers(),
        &shared.interpreter(&chat.settings),
        &chat.clock,
    )
    .await
    .unwrap();
    assert_eq!(applied, 0);
    assert_eq!(outcomes(db).await, [("status_parked".to_owned(), 1)]);
    let parked = "surveyd_webhook_parked_total{provider=\"twilio\",outcome=\"status_unknown\"}";
    let before = support::counter(parked);
    chat.hand.advance(chrono::Duration::seconds(2));
    support::eventually("the parked status given up", || async {
        outcomes(db).await == [("status_unknown".to_owned(), 1)]
    })
    .await;
    assert!(support::counter(parked) >= before + 1.0);
}

async fn bad_signatures_store_nothing(db: &TestDb) {
    let chat = Chat::start(db).await;
    let refusals = [
        (r#"{provider="twilio",reason="missing"}"#, 1.0),
        (r#"{provider="twilio",reason="invalid"}"#, 4.0),
        (r#"{provider="whatsapp",reason="missing"}"#, 1.0),
        (r#"{provider="whatsapp",reason="invalid"}"#, 1.0),
        (r#"{provider="gateway:fonnte",reason="invalid"}"#, 1.0),
    ]
    .map(|(labels, n)| {
        let series = format!("surveyd_webhook_signature_failures_total{labels}");
        (support::counter(&series), series, n)
    });
    let message = sid("1");
    let form = [
        ("MessageSid", message.as_str()),
        ("From", CUSTOMER_PHONE),
        ("To", "+6285712345678"),
        ("Body", "5"),
    ];
    let post = |signature: Option<String>, path: &'static str| {
        let chat = &chat;
        async move {
            let mut request = chat.app.client.post(chat.app.url(path)).form(&form);
            if let Some(signature) = signature {
                request = request.header("X-Twilio-Signature", signature);
            }
            request.send().await.unwrap().status()
        }
    };
    let params: Vec<(String, String)> = form
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let inbound = format!("{PUBLIC_URL}/webhooks/twilio/inbound");
    assert_eq!(post(None, "/webhooks/twilio/inbound").await, 401);
    assert_eq!(
        post(Some("bm90IGl0".into()), "/webhooks/twilio/inbound").await,
        403
    );
    // Signed for another URL, or with another token.
    let other_url = twilio_signature(
        TWILIO_TOKEN,
        &format!("{PUBLIC_URL}/webhooks/twilio/status"),
        &params,
    );
    assert_eq!(post(Some(other_url), "/webhooks/twilio/inbound").await, 403);
    let other_token = twilio_signature("another-token", &inbound, &params);
    assert_eq!(
        post(Some(other_token), "/webhooks/twilio/inbound").await,
        403
    );
    // Signed over other parameters than those sent.
    let mut changed = params.clone();
    changed[2].1 = "1".into();
    assert_eq!(
        post(
            Some(twilio_signature(TWILIO_TOKEN, &inbound, &changed)),
            "/webhooks/twilio/inbound"
        )
        .await,
        403
    );

    let body = support::meta::webhook_body("messages", serde_json::json!([]));
    let tampered = chat
        .app
        .client
        .post(chat.app.url("/webhooks/whatsapp"))
        .header("X-Hub-Signature-256", meta_signature(APP_SECRET, b"{}"))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(tampered.status(), 403);
    let unsigned = chat
        .app
        .client
        .post(chat.app.url("/webhooks/whatsapp"))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    let gateway = chat
        .app
        .client
        .post(chat.app.url("/webhooks/gateways/fonnte"))
        .header("X-Signature", hmac_sha256_hex("wrong", b"{}"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(gateway.status(), 403);
    let unknown = chat
        .app
        .client
        .post(chat.app.url("/webhooks/gateways/zenziva"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(db.store.inbox_status().await.unwrap().total, 0);
    // Each refusal is counted (other tests of this binary may count more meanwhile).
    for (before, series, n) in &refusals {
        let after = support::counter(series);
        assert!(after >= before + n, "{series}: {before} then {after}");
    }

    // Unconfigured providers answer 404.
    let mut settings = chat.settings.clone();
    settings.twilio.auth_token = None;
    settings.whatsapp.app_secret = None;
    let bare = TestApp::spawn(db, settings).await;
    let twilio = bare
        .client
        .post(bare.url("/webhooks/twilio/inbound"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(twilio.status(), 404);
    let whatsapp = bare
        .client
        .post(bare.url("/webhooks/whatsapp"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(whatsapp.status(), 404);
}

async fn a_whatsapp_conversation_with_buttons_and_statuses(db: &TestDb) {
    let chat = Chat::start(db).await;
    // The subscription handshake.
    let handshake = |token: &'static str| {
        let chat = &chat;
        async move {
            chat.app
                .client
                .get(chat.app.url(&format!(
                    "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444"
                )))
                .send()
                .await
                .unwrap()
        }
    };
    let ok = handshake(VERIFY_TOKEN).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    assert_eq!(handshake("wrong").await.status(), 403);

    let invitation = chat
        .invite(db, SurveyChannel::Whatsapp, "wamid.INVITE")
        .await;
    // A tapped button replying to the invitation, then read and delivered out of order.
    let reply = support::meta::webhook_body(
        "messages",
        serde_json::json!([{
            "context": {"from": "6285712345678", "id": "wamid.INVITE"},
            "from": "6281234567890", "id": "wamid.IN1", "timestamp": "1763800100",
            "type": "interactive",
            "interactive": {"type": "button_reply", "button_reply": {"id": "csat_4", "title": "Puas"}}
        }]),
    );
    assert_eq!(chat.whatsapp(&reply).await.status(), 200);
    let statuses = support::meta::webhook_body(
        "statuses",
        serde_json::json!([
            {"id": "wamid.INVITE", "status": "read", "timestamp": "1763800050", "recipient_id": "6281234567890"},
            {"id": "wamid.INVITE", "status": "delivered", "timestamp": "1763800040", "recipient_id": "6281234567890"}
        ]),
    );
    assert_eq!(chat.whatsapp(&statuses).await.status(), 200);
    chat.send_due(db, &["wamid.Q2"]).await;
    // A template quick reply, then a comment with non-ASCII text (escaped as Meta escapes it).
    let yes = support::meta::webhook_body(
        "messages",
        serde_json::json!([{"from": "6281234567890", "id": "wamid.IN2", "timestamp": "1763800200",
            "type": "button", "button": {"payload": "RESOLVED_1", "text": "Ya"}}]),
    );
    chat.whatsapp(&yes).await;
    chat.send_due(db, &["wamid.Q3"]).await;
    let comment = support::meta::webhook_body(
        "messages",
        serde_json::json!([{"from": "6281234567890", "id": "wamid.IN3", "timestamp": "1763800300",
            "type": "text", "text": {"body": "Terima kasih 😀 — sangat membantu"}}]),
    );
    chat.whatsapp(&comment).await;
    assert_eq!(
        answers(db, invitation).await,
        [
            answer(
                "comment",
                None,
                Some("Terima kasih 😀 — sangat membantu"),
                None
            ),
            answer("csat", Some(4), None, Some("csat")),
            answer("resolved", Some(1), None, Some("fcr")),
        ]
    );
    assert_eq!(
        outcomes(db).await,
        [
            ("answer".to_owned(), 3),
            ("status".to_owned(), 1),
            ("status_stale".to_owned(), 1)
        ]
    );
}

/// What Meta sends besides replies to this number (payload shapes from the Cloud API's
/// webhook reference: "system", "unsupported", "reaction", "message_template_status_update")
/// is acknowledged: another number's chats and other fields are not stored; a number change,
/// an unsupported type, a reaction taken back or a picture without caption are kept as
/// `ignored` and never re-asked; a picture's caption answers.
async fn what_is_no_reply_on_whatsapp_is_acknowledged_not_asked_again(db: &TestDb) {
    let mut chat = Chat::start(db).await;
    chat.settings.whatsapp.phone_number_id = Some(support::meta::PHONE_NUMBER_ID.into());
    chat.app = TestApp::spawn_with_clock(db, chat.settings.clone(), chat.clock.clone()).await;
    let invitation = chat
        .invite(db, SurveyChannel::Whatsapp, "wamid.INVITE")
        .await;
    let skipped = |reason: &str| {
        support::counter(&format!(
            "surveyd_webhook_skipped_total{{provider=\"whatsapp\",reason=\"{reason}\"}}"
        ))
    };
    let (other_number, other_field) = (skipped("other_number"), skipped("other_field"));
    let message = |id: &str, fields: serde_json::Value| {
        let mut m =
            serde_json::json!({"from": "6281234567890", "id": id, "timestamp": "1763800100"});
        m.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        support::meta::webhook_body("messages", serde_json::json!([m]))
    };
    // "5" to the helpdesk's number on the same app.
    let mut elsewhere = message(
        "wamid.HELPDESK",
        serde_json::json!({"type": "text", "text": {"body": "5"}}),
    );
    elsewhere["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] =
        "999999999999999".into();
    assert_eq!(chat.whatsapp(&elsewhere).await.status(), 200);
    let review = serde_json::json!({"object": "whatsapp_business_account", "entry": [{
        "id": "102290129340398", "time": 1763800000, "changes": [{
            "field": "message_template_status_update",
            "value": {"event": "PAUSED", "message_template_id": 1234567890,
                      "message_template_name": "survey_invite", "message_template_language": "id",
                      "reason": "NONE"}}]}]});
    assert_eq!(chat.whatsapp(&review).await.status(), 200);
    assert_eq!(db.store.inbox_status().await.unwrap().total, 0);
    assert!(skipped("other_number") >= other_number + 1.0);
    assert!(skipped("other_field") >= other_field + 1.0);

    let not_replies = [
        message(
            "wamid.SYS",
            serde_json::json!({"type": "system", "system": {
                "body": "User A changed from 6281234567890 to 6281234567891",
                "wa_id": "6281234567891", "type": "user_changed_number"}}),
        ),
        message(
            "wamid.UNS",
            serde_json::json!({"type": "unsupported",
                "errors": [{"code": 131051, "title": "Message type unknown",
                            "message": "Message type unknown",
                            "error_data": {"details": "Message type is currently not supported."}}],
                "unsupported": {"type": "poll_creation"}}),
        ),
        message(
            "wamid.UNREACT",
            serde_json::json!({"type": "reaction", "reaction": {"message_id": "wamid.INVITE"}}),
        ),
        message(
            "wamid.PIC",
            serde_json::json!({"type": "image", "image": {"id": "1479537139650973",
                "mime_type": "image/jpeg", "sha256": "abc"}}),
        ),
    ];
    for body in &not_replies {
        assert_eq!(chat.whatsapp(body).await.status(), 200);
    }
    assert_eq!(outcomes(db).await, [("ignored".to_owned(), 4)]);
    // Nothing asked again: no message is due.
    chat.send_due(db, &[]).await;
    let captioned = message(
        "wamid.CAP",
        serde_json::json!({"type": "image", "image": {"id": "1479537139650974",
            "mime_type": "image/jpeg", "sha256": "abd", "caption": "4"}}),
    );
    assert_eq!(chat.whatsapp(&captioned).await.status(), 200);
    assert_eq!(
        answers(db, invitation).await,
        [answer("csat", Some(4), None, Some("csat"))]
    );
}

async fn opt_out_and_back_in_by_keyword(db: &TestDb) {
    let chat = Chat::start(db).await;
    chat.invite(db, SurveyChannel::Sms, &sid("invite")).await;
    chat.sms_reply(&sid("1"), "STOP").await;
    let confirmation = chat.send_due(db, &[&sid("stop")]).await;
    assert_eq!(confirmation[0].kind, MessageKind::OptOut);
    // Planning another SMS survey for this customer now skips them.
    let mut contact = closed_contact("T-2", "C-1", None, at("2026-11-20T02:00:00Z"));
    contact.phone = Some(Phone::parse(CUSTOMER_PHONE).unwrap());
    db.store
        .upsert_contacts(&[contact], chat.clock.now())
        .await
        .unwrap();
    let mut other = chat.campaign(SurveyChannel::Sms);
    other.name = "second".into();
    let counts = db
        .store
        .plan_invitations(&other, chat.clock.now(), true, &survey_key())
        .await
        .unwrap();
    assert_eq!((counts.invited, counts.skipped.opted_out), (0, 2));

    chat.sms_reply(&sid("2"), "Mulai").await;
    let confirmation = chat.send_due(db, &[&sid("start")]).await;
    assert_eq!(confirmation[0].kind, MessageKind::OptIn);
    let counts = db
        .store
        .plan_invitations(&other, chat.clock.now(), true, &survey_key())
        .await
        .unwrap();
    assert_eq!(counts.invited, 2);
    assert_eq!(
        outcomes(db).await,
        [("opt_in".to_owned(), 1), ("opt_out".to_owned(), 1)]
    );
}

async fn strangers_and_late_replies_are_kept_not_scored(db: &TestDb) {
    let chat = Chat::start(db).await;
    let invitation = chat.invite(db, SurveyChannel::Sms, &sid("invite")).await;
    // Someone surveyd never wrote to.
    let stranger = chat
        .twilio(
            "/webhooks/twilio/inbound",
            &[
                ("MessageSid", &sid("x")),
                ("From", "+6281399998888"),
                ("To", "+6285712345678"),
                ("Body", "5"),
            ],
        )
        .await;
    assert_eq!(stranger.status(), 200);
    // The customer, after the invitation expired (closed + 2h + 7d).
    chat.hand.set(at("2026-11-27T03:00:01Z"));
    chat.sms_reply(&sid("1"), "5").await;
    assert!(answers(db, invitation).await.is_empty());
    let closed = chat.send_due(db, &[&sid("closed")]).await;
    assert_eq!(closed[0].kind, MessageKind::Closed);
    assert_eq!(
        outcomes(db).await,
        [
            ("after_expiry".to_owned(), 1),
            ("no_invitation".to_owned(), 1)
        ]
    );
}

async fn a_gateway_callback_and_replay(db: &TestDb) {
    let chat = Chat::start(db).await;
    let invitation = chat.invite(db, SurveyChannel::Whatsapp, "fonnte-1").await;
    let post = |body: serde_json::Value| {
        let chat = &chat;
        async move {
            let raw = body.to_string();
            chat.app
                .client
                .post(chat.app.url("/webhooks/gateways/fonnte"))
                .header(
                    "X-Signature",
                    hmac_sha256_hex(GATEWAY_SECRET, raw.as_bytes()),
                )
                .body(raw)
                .send()
                .await
                .unwrap()
        }
    };
    let ok =
        post(serde_json::json!({"id": "in-1", "sender": "081234567890", "message": "lima"})).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(
        answers(db, invitation).await,
        [answer("csat", Some(5), None, Some("csat"))]
    );
    let status = post(serde_json::json!({"msgid": "fonnte-1", "state": "read"})).await;
    assert_eq!(status.status(), 200);

    // A callback without the sender fails to interpret, and stays.
    post(serde_json::json!({"id": "in-2", "from": "081234567890", "message": "ya"})).await;
    let inbox = db.store.inbox_status().await.unwrap();
    assert_eq!((inbox.total, inbox.failed), (3, 1));
    let failed = db.store.inbox_to_replay(false, 0, 10).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].error.as_deref(),
        Some("no `/sender` in the callback")
    );

    // With the gateway's field named right, a replay interprets it.
    let mut settings = chat.settings.clone();
    settings
        .gateways
        .get_mut("fonnte")
        .unwrap()
        .inbound
        .as_mut()
        .unwrap()
        .from = "/from".into();
    let interpreter = surveyd::app::Shared::load(&settings)
        .unwrap()
        .interpreter(&settings);
    let replay = replay(
        &db.store,
        &settings.webhook_providers(),
        &interpreter,
        true,
        &chat.clock,
    )
    .await
    .unwrap();
    assert_eq!((replay.replayed, replay.still_failing.len()), (1, 0));
    assert_eq!(db.store.inbox_status().await.unwrap().failed, 0);
    assert!(
        db.store
            .inbox_to_replay(true, 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(answers(db, invitation).await.len(), 2);
}

/// Twilio inbound replies (MessageSid, From, Body), sent all at once; their HTTP statuses.
async fn sms_replies_at_once(chat: &Chat, replies: &[(&str, &str, &str)]) -> Vec<u16> {
    let mut requests = tokio::task::JoinSet::new();
    for (i, (sid, from, body)) in replies.iter().enumerate() {
        let (client, base) = (chat.app.client.clone(), chat.app.base.clone());
        let params = [sid.to_string(), from.to_string(), body.to_string()];
        requests.spawn(async move {
            let [sid, from, body] = &params;
            let params = [
                ("MessageSid", sid.as_str()),
                ("From", from),
                ("To", "+6285712345678"),
                ("Body", body),
            ];
            let path = "/webhooks/twilio/inbound";
            let response =
                support::twilio::post_signed(&client, &base, PUBLIC_URL, path, &params).await;
            (i, response.status().as_u16())
        });
    }
    let mut statuses = vec![0; replies.len()];
    while let Some(done) = requests.join_next().await {
        let (i, status) = done.unwrap();
        statuses[i] = status;
    }
    statuses
}

/// Strangers' replies, one for each of `sids`, from numbers surveyd never wrote to.
fn strangers(sids: &[String]) -> Vec<(&str, &'static str, &'static str)> {
    sids.iter()
        .map(|sid| (sid.as_str(), "+6281399998888", "5"))
        .collect()
}

async fn a_request_the_database_refuses_holds_back_no_other(db: &TestDb) {
    let chat = Chat::start(db).await;
    let refused = sid("refused");
    db.refuse_inserts("inbox", &format!("NEW.event_id = '{refused}'"))
        .await;
    let sids: Vec<String> = (0..16).map(|i| sid(&i.to_string())).collect();
    let mut replies = strangers(&sids);
    replies.insert(7, (&refused, CUSTOMER_PHONE, "5"));
    let statuses = sms_replies_at_once(&chat, &replies).await;
    // Refused: the provider is told to try again, and nothing of it is kept.
    assert_eq!(statuses[7], 503);
    assert!(
        statuses
            .iter()
            .enumerate()
            .all(|(i, s)| i == 7 || *s == 200),
        "{statuses:?}"
    );
    assert_eq!(outcomes(db).await, [("no_invitation".to_owned(), 16)]);

    // The provider's retry, once the database takes it.
    db.accept_inserts("inbox").await;
    assert_eq!(chat.sms_reply(&sid("refused"), "5").await.status(), 200);
    assert_eq!(outcomes(db).await, [("no_invitation".to_owned(), 17)]);
}

async fn a_storage_failure_while_interpreting_is_kept_for_replay(db: &TestDb) {
    let chat = Chat::start(db).await;
    let invitation = chat.invite(db, SurveyChannel::Sms, &sid("invite")).await;
    db.refuse_inserts("responses", "NEW.number = 2").await;
    let sids: Vec<String> = (0..8).map(|i| sid(&format!("x{i}"))).collect();
    let mut replies = strangers(&sids);
    let reply = sid("1");
    replies.push((&reply, CUSTOMER_PHONE, "2"));
    let statuses = sms_replies_at_once(&chat, &replies).await;
    // Stored, so acknowledged; its interpretation undone and its error kept.
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let status = db.store.inbox_status().await.unwrap();
    assert_eq!((status.total, status.failed), (9, 1));
    assert_eq!(status.outcomes, [("no_invitation".to_owned(), 8)]);
    let failed = db.store.inbox_to_replay(false, 0, 10).await.unwrap();
    assert!(
        failed[0]
            .error
            .as_deref()
            .is_some_and(|e| e.starts_with("storage failed while interpreting")),
        "{failed:?}"
    );
    assert!(answers(db, invitation).await.is_empty());
    chat.send_due(db, &[]).await;

    // Replayed once the database takes it: answered once, the next question queued once.
    db.accept_inserts("responses").await;
    let interpreter = surveyd::app::Shared::load(&chat.settings)
        .unwrap()
        .interpreter(&chat.settings);
    let replay = replay(
        &db.store,
        &chat.settings.webhook_providers(),
        &interpreter,
        true,
        &chat.clock,
    )
    .await
    .unwrap();
    assert_eq!((replay.replayed, replay.still_failing.len()), (1, 0));
    assert_eq!(
        answers(db, invitation).await,
        [answer("csat", Some(2), None, Some("csat"))]
    );
    let next = chat.send_due(db, &[&sid("q2")]).await;
    assert_eq!(next[0].question.as_deref(), Some("resolved"));
}

async fn nul_in_a_callback_is_kept_as_a_replacement_mark(db: &TestDb) {
    let chat = Chat::start(db).await;
    let body = b"{\"sender\": \"0812\0\", \"message\": \"5\"}";
    let response = chat
        .app
        .client
        .post(chat.app.url("/webhooks/gateways/fonnte"))
        .header("X-Signature", hmac_sha256_hex(GATEWAY_SECRET, body))
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let status = db.store.inbox_status().await.unwrap();
    assert_eq!(status.total, 1);
    let stored = db.store.inbox_to_replay(false, 0, 10).await.unwrap();
    assert!(stored[0].payload.contains("0812\u{FFFD}"), "{stored:?}");
}

/// Twilio signs names and values run together, so a captured reply re-sent with a boundary
/// between its parameters moved keeps a valid signature — Twilio's own library computes the
/// same one. It is refused, naming the field, and stores no second reply.
async fn a_reshuffled_twilio_reply_is_refused(db: &TestDb) {
    let chat = Chat::start(db).await;
    let invitation = chat.invite(db, SurveyChannel::Sms, &sid("invite")).await;
    let path = "/webhooks/twilio/inbound";
    let url = format!("{PUBLIC_URL}{path}");
    let message = sid("in2");
    let to = "+6285712345678";
    let signed = [
        ("MessageSid", message.as_str()),
        ("From", CUSTOMER_PHONE),
        ("To", to),
        ("Body", "4"),
    ];
    let signature = support::twilio::sdk_signature(&url, &signed);
    let post = |form: Vec<(&'static str, String)>| {
        let (chat, signature) = (&chat, &signature);
        async move {
            let response = chat
                .app
                .client
                .post(chat.app.url(path))
                .header("X-Twilio-Signature", signature)
                .form(&form)
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let owned = |form: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
        form.iter().map(|(k, v)| (*k, v.to_string())).collect()
    };
    assert_eq!(post(owned(&signed)).await.0, 200);
    assert_eq!(answers(db, invitation).await.len(), 1);

    // `To` and its value moved into the MessageSid: a "new" message id, the same signature.
    let swallowed = format!("{message}To{to}");
    let reshuffled = [
        ("MessageSid", swallowed.as_str()),
        ("From", CUSTOMER_PHONE),
        ("Body", "4"),
    ];
    assert_eq!(support::twilio::sdk_signature(&url, &reshuffled), signature);
    let (status, reason) = post(owned(&reshuffled)).await;
    assert_eq!(status, 400, "{reason}");
    assert!(reason.starts_with("MessageSid: "), "{reason}");
    // The MessageSid moved into the sender instead: no message id at all.
    let swallowed = format!("{CUSTOMER_PHONE}MessageSid{message}");
    let reshuffled = [("From", swallowed.as_str()), ("To", to), ("Body", "4")];
    assert_eq!(support::twilio::sdk_signature(&url, &reshuffled), signature);
    let (status, reason) = post(owned(&reshuffled)).await;
    assert_eq!(status, 400, "{reason}");
    assert_eq!(reason, "MessageSid: missing");
    // One message id given twice, a SID not of Twilio's shape, a status that is none of
    // Twilio's: refused even when signed.
    let reply = |sid| {
        vec![
            ("MessageSid", sid),
            ("From", CUSTOMER_PHONE),
            ("To", to),
            ("Body", "4"),
        ]
    };
    let mut twice = reply(message.as_str());
    twice.push(("MessageSid", &message));
    assert_eq!(
        refused(&chat, path, &twice).await,
        "MessageSid: given more than once"
    );
    let fake = refused(&chat, path, &reply("SMin0002")).await;
    assert!(fake.contains("not a Twilio message SID"), "{fake}");
    let status = [
        ("MessageSid", message.as_str()),
        ("MessageStatus", "delivered:x"),
    ];
    let status = refused(&chat, "/webhooks/twilio/status", &status).await;
    assert!(status.starts_with("MessageStatus: "), "{status}");

    assert_eq!(answers(db, invitation).await.len(), 1, "no second reply");
    assert_eq!(db.store.inbox_status().await.unwrap().total, 1);
}

/// Twilio's signed POST of `form` to `path`, refused with 400: the reason given.
async fn refused(chat: &Chat, path: &str, form: &[(&str, &str)]) -> String {
    let response = chat.twilio(path, form).await;
    assert_eq!(response.status(), 400);
    response.text().await.unwrap()
}

/// A WhatsApp message or status whose id is not a `wamid.` id is refused, naming where.
async fn a_whatsapp_event_without_a_message_id_is_refused(db: &TestDb) {
    let chat = Chat::start(db).await;
    let body = support::meta::webhook_body(
        "messages",
        serde_json::json!([{"from": "6281234567890", "id": "", "timestamp": "1763800100",
            "type": "text", "text": {"body": "5"}}]),
    );
    let response = chat.whatsapp(&body).await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.text().await.unwrap(),
        "entry[0].changes[0].value.messages[0].id: \"\" is not a WhatsApp message id (wamid. and base64)"
    );
    let body = support::meta::webhook_body(
        "statuses",
        serde_json::json!([{"id": "wamid.OUT1", "timestamp": "1763800050",
            "recipient_id": "6281234567890"}]),
    );
    let response = chat.whatsapp(&body).await;
    assert_eq!(response.status(), 400);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .starts_with("entry[0].changes[0].value.statuses[0].status: ")
    );
    assert_eq!(db.store.inbox_status().await.unwrap().total, 0);
}

/// A form of a quarter of a million parameters with a bogus signature is refused by its
/// count, before it is parsed or any signature computed.
#[tokio::test]
async fn a_form_of_too_many_parameters_is_refused_by_its_count() {
    let db = TestDb::sqlite().await;
    let chat = Chat::start(&db).await;
    let body = "a=1&".repeat(250_000);
    assert!(body.len() <= chat.settings.http.max_body_bytes);
    let response = chat
        .app
        .client
        .post(chat.app.url("/webhooks/twilio/inbound"))
        .header("X-Twilio-Signature", "bm90IGl0IGF0IGFsbA==")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(
        response.text().await.unwrap(),
        "the form has more than 200 parameters"
    );
    assert_eq!(db.store.inbox_status().await.unwrap().total, 0);
}

/// A Webhooks Rule has Twilio sign with a shared key: the callback carries
/// `X-Twilio-Webhooks-Signature-Settings`, and is verified with `twilio.webhook_shared_key` by
/// the algorithm the header names (signed here by Twilio's own library); while no shared key
/// is configured it is refused and nothing is stored.
async fn a_twilio_callback_signed_with_a_shared_key(db: &TestDb) {
    let chat = Chat::start(db).await;
    let invitation = chat.invite(db, SurveyChannel::Sms, &sid("invite")).await;
    let path = "/webhooks/twilio/inbound";
    let message = sid("shared");
    let form = [
        ("MessageSid", message.as_str()),
        ("From", CUSTOMER_PHONE),
        ("To", "+6285712345678"),
        ("Body", "4"),
    ];
    let shared_key = "b1946ac92492d2347c6235b4d2611184";
    let url = format!("{PUBLIC_URL}{path}");
    let Some(signature) =
        support::twilio::sdk_signature_with("HMAC_SHA256", shared_key, &url, &form)
    else {
        eprintln!("skipped: the installed twilio package does not sign with HMAC_SHA256");
        return;
    };
    let post = |app: &TestApp| {
        app.client
            .post(app.url(path))
            .header("X-Twilio-Signature", &signature)
            .header(
                "X-Twilio-Webhooks-Signature-Settings",
                "key=HK0123456789abcdef0123456789abcdef,algorithm=HMAC_SHA256",
            )
            .form(&form)
            .send()
    };
    let refused = post(&chat.app).await.unwrap();
    assert_eq!(refused.status(), 403);
    let reason = refused.text().await.unwrap();
    assert!(reason.contains("twilio.webhook_shared_key"), "{reason}");
    assert_eq!(db.store.inbox_status().await.unwrap().total, 0);

    let mut settings = chat.settings.clone();
    settings.twilio.webhook_shared_key = Some(Secret::new(shared_key.into()));
    let app = TestApp::spawn_with_clock(db, settings, chat.clock.clone()).await;
    assert_eq!(post(&app).await.unwrap().status(), 200);
    assert_eq!(answers(db, invitation).await.len(), 1);
    app.stop().await;
}

on_both_backends!(
    a_status_of_no_known_message_is_given_up_after_a_while,
    what_is_no_reply_on_whatsapp_is_acknowledged_not_asked_again,
    an_sms_survey_is_a_conversation,
    twice_no_answer_keeps_the_words_as_a_comment,
    statuses_move_forward_only,
    bad_signatures_store_nothing,
    a_whatsapp_conversation_with_buttons_and_statuses,
    opt_out_and_back_in_by_keyword,
    strangers_and_late_replies_are_kept_not_scored,
    a_gateway_callback_and_replay,
    a_request_the_database_refuses_holds_back_no_other,
    a_storage_failure_while_interpreting_is_kept_for_replay,
    nul_in_a_callback_is_kept_as_a_replacement_mark,
    a_reshuffled_twilio_reply_is_refused,
    a_long_comment_is_cut_to_the_questions_length,
    a_whatsapp_event_without_a_message_id_is_refused,
    a_twilio_callback_signed_with_a_shared_key,
);
