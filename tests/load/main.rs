//! A webhook storm: 50,000 signed Twilio replies sent at once from many connections — 45,000
//! customers' first answers, 10% of them sent again (a provider's retries), and 1% with a bad
//! signature. Every valid reply is counted exactly once, every bad one refused with nothing
//! stored, and nothing is lost. (A binary of its own: the load of 50,000 requests would
//! overlap the timing of the tests beside it.)

// This binary uses a part of the shared helpers.
#[allow(dead_code)]
#[path = "../it/support/mod.rs"]
mod support;

mod outbox;

use rand::seq::SliceRandom;
use std::sync::{Arc, Mutex};
use support::{TestApp, TestDb};
use surveyd::config::Secret;
use surveyd::domain::Phone;
use surveyd::domain::SurveyChannel;
use surveyd::webhooks::signature::twilio_signature;

const PUBLIC_URL: &str = "https://surveys.example.co.id";
const CUSTOMERS: usize = 45_000;
const DUPLICATES: usize = CUSTOMERS / 10;
const FORGED: usize = 500;
/// Requests in flight at once.
const CONNECTIONS: usize = 64;

fn phone(i: usize) -> String {
    format!("+62812{i:08}")
}

/// One request: its form and its `X-Twilio-Signature`.
struct Reply {
    form: Vec<(String, String)>,
    signature: String,
    forged: bool,
}

fn reply(sid: String, from: &str, token: &str, forged: bool) -> Reply {
    let form = vec![
        ("MessageSid".to_owned(), sid),
        ("From".to_owned(), from.to_owned()),
        ("To".to_owned(), support::twilio::FROM.to_owned()),
        ("Body".to_owned(), "5".to_owned()),
    ];
    let url = format!("{PUBLIC_URL}/webhooks/twilio/inbound");
    let signature = twilio_signature(token, &url, &form);
    Reply {
        form,
        signature,
        forged,
    }
}

/// Every customer with an SMS invitation out, as a dispatcher records it.
async fn seed(db: &TestDb, settings: &surveyd::config::Settings) {
    let now = chrono::Utc::now();
    let contacts: Vec<_> = (0..CUSTOMERS)
        .map(|i| surveyd::domain::ContactRecord {
            phone: Some(Phone::parse(&phone(i)).unwrap()),
            ..support::closed_contact(
                &format!("T-{i}"),
                &format!("C-{i}"),
                None,
                now - chrono::Duration::hours(3),
            )
        })
        .collect();
    for chunk in contacts.chunks(10_000) {
        db.store.upsert_contacts(chunk, now).await.unwrap();
    }
    let mut campaign = settings.campaigns[0].clone();
    campaign.channels = vec![SurveyChannel::Sms];
    let planned = db
        .store
        .plan_invitations(&campaign, now, false, &support::survey_key())
        .await
        .unwrap();
    assert_eq!(planned.invited as usize, CUSTOMERS);
    outbox::record_all_sent(&db.store, "sms", now).await;
    // As `surveyd contacts import` and planning do after writing this many rows.
    db.store
        .refresh_statistics(
            CUSTOMERS as u64,
            "customers, contacts, invitations, deliveries",
        )
        .await
        .unwrap();
}

async fn count(db: &TestDb, sql: &str) -> i64 {
    db.texts(sql).await[0].as_deref().unwrap().parse().unwrap()
}

async fn a_storm_of_replies_counts_each_once(db: &TestDb) {
    let mut settings = db.settings();
    settings.survey.public_url = PUBLIC_URL.parse().unwrap();
    settings.twilio.auth_token = Some(Secret::new(support::twilio::AUTH_TOKEN.into()));
    // Twilio calls from many addresses; here every request comes from 127.0.0.1.
    settings.http.rate_limit.webhooks.per_second = 0.0;
    let started = std::time::Instant::now();
    seed(db, &settings).await;
    eprintln!("seeded in {:?}", started.elapsed());
    let app = TestApp::spawn(db, settings).await;

    let token = support::twilio::AUTH_TOKEN;
    let mut replies: Vec<Reply> = (0..CUSTOMERS)
        .map(|i| reply(format!("SM{i:032x}"), &phone(i), token, false))
        .collect();
    // A provider's retries: the same event again (same MessageSid, same signature).
    replies.extend(
        (0..DUPLICATES).map(|i| reply(format!("SM{:032x}", i * 10), &phone(i * 10), token, false)),
    );
    // Forged: signed with another token.
    replies.extend(
        (0..FORGED).map(|i| reply(format!("SMforged{i}"), &phone(i), "not-the-token", true)),
    );
    replies.shuffle(&mut rand::rng());
    let total = replies.len();
    assert_eq!(total, 50_000);

    let forged_before = support::counter(
        r#"surveyd_webhook_signature_failures_total{provider="twilio",reason="invalid"}"#,
    );
    let queue = Arc::new(Mutex::new(replies));
    let statuses = Arc::new(Mutex::new(Vec::with_capacity(total)));
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..CONNECTIONS {
        let (queue, statuses) = (Arc::clone(&queue), Arc::clone(&statuses));
        let (client, url) = (app.client.clone(), app.url("/webhooks/twilio/inbound"));
        senders.spawn(async move {
            loop {
                let Some(reply) = queue.lock().unwrap().pop() else {
                    break;
                };
                let status = client
                    .post(&url)
                    .header("X-Twilio-Signature", &reply.signature)
                    .form(&reply.form)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16();
                statuses.lock().unwrap().push((reply.forged, status));
            }
        });
    }
    while let Some(sent) = senders.join_next().await {
        sent.unwrap();
    }

    eprintln!("stormed in {:?}", started.elapsed());
    let statuses = statuses.lock().unwrap().clone();
    assert_eq!(statuses.len(), total, "every request was answered");
    let refused = statuses
        .iter()
        .filter(|(forged, s)| *forged && *s == 403)
        .count();
    let accepted = statuses
        .iter()
        .filter(|(forged, s)| !*forged && *s == 200)
        .count();
    assert_eq!((accepted, refused), (CUSTOMERS + DUPLICATES, FORGED));

    // Each customer's answer stored once, interpreted once: one event, one rating, one next
    // question; nothing of the forged ones.
    let inbox = db.store.inbox_status().await.unwrap();
    assert_eq!(
        (inbox.total, inbox.failed, inbox.unprocessed),
        (CUSTOMERS as u64, 0, 0)
    );
    let ratings =
        "SELECT CAST(COUNT(*) AS TEXT) FROM responses WHERE question = 'csat' AND number = 5";
    assert_eq!(count(db, ratings).await, CUSTOMERS as i64);
    let answered = "SELECT CAST(COUNT(*) AS TEXT) FROM invitations WHERE csat = 5";
    assert_eq!(count(db, answered).await, CUSTOMERS as i64);
    let next = "SELECT CAST(COUNT(*) AS TEXT) FROM deliveries WHERE kind = 'question'";
    assert_eq!(count(db, next).await, CUSTOMERS as i64);
    let forged_after = support::counter(
        r#"surveyd_webhook_signature_failures_total{provider="twilio",reason="invalid"}"#,
    );
    assert!(forged_after >= forged_before + FORGED as f64);
    app.stop().await;
}

on_both_backends!(a_storm_of_replies_counts_each_once);
