//! Detractor alerts end to end: a bad rating posted on the survey page raises an alert at
//! once; the dispatcher posts it to a webhook emulator (which fails the first post, so it is
//! retried like any delivery) with a valid HMAC-SHA256 signature, and emails the team's lead
//! through a real SMTP server; people acknowledge it over the API and resolve it with the CLI.
//! A good rating raises nothing; an SMS reply below the threshold raises one too. An alert
//! no one can be emailed fails with the reason; with no recipient at all it is kept, unsent.
//! Both backends.

use crate::support::{SmtpServer, SurveyLoop, TestDb, closed_contact, survey_key};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::sync::{Arc, Mutex};
use surveyd::alerts::AlertRule;
use surveyd::config::{AlertWebhook, ConfiguredToken, Secret};
use surveyd::domain::ExternalId;
use surveyd::store::StoredAnswer;

const SECRET: &str = "alert-webhook-secret-0123";
const TOKEN: &str = "ops-token";

/// A webhook receiver: keeps every post (headers and body); answers 503 to the first
/// `failures` of them.
#[derive(Clone)]
struct Receiver {
    posts: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    failures: Arc<Mutex<usize>>,
    url: String,
}

impl Receiver {
    async fn start(failures: usize) -> Receiver {
        let receiver = Receiver {
            posts: Arc::default(),
            failures: Arc::new(Mutex::new(failures)),
            url: String::new(),
        };
        let state = receiver.clone();
        let app = axum::Router::new().route(
            "/hooks/surveyd",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move {
                    state.posts.lock().unwrap().push((headers, body));
                    let mut failures = state.failures.lock().unwrap();
                    if *failures > 0 {
                        *failures -= 1;
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        StatusCode::NO_CONTENT
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver {
            url: format!("http://127.0.0.1:{port}/hooks/surveyd"),
            ..receiver
        }
    }

    fn posts(&self) -> Vec<(HeaderMap, Bytes)> {
        self.posts.lock().unwrap().clone()
    }
}

/// Whether `headers` sign `body` with the shared secret: HMAC-SHA256 of "{timestamp}.{body}".
fn signed(headers: &HeaderMap, body: &[u8]) -> bool {
    let timestamp = headers["x-surveyd-timestamp"].to_str().unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    headers["x-surveyd-signature"].to_str().unwrap() == expected
}

/// Polls `check` until it holds, for at most five seconds.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !check() {
        assert!(std::time::Instant::now() < until, "{what}: not within 5 s");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn a_bad_rating_raises_an_alert_that_reaches_the_webhook_and_the_lead(db: &TestDb) {
    let smtp = SmtpServer::start();
    let receiver = Receiver::start(1).await;
    let run = SurveyLoop::start_with(db, smtp.port, |settings| {
        settings.alerts.webhook = Some(AlertWebhook {
            url: receiver.url.parse().unwrap(),
            secret: Secret::new(SECRET.into()),
            timeout: std::time::Duration::from_secs(5),
        });
        settings.alerts.team_leads =
            [("Billing".to_owned(), "Lead <lead@example.co.id>".to_owned())].into();
        settings.api.tokens = vec![ConfiguredToken {
            name: "ops".into(),
            sha256: Secret::new(surveyd::auth::TokenHash::of(TOKEN)),
        }];
    })
    .await;
    let closed = run.clock.now() - chrono::Duration::hours(3);
    let contacts: Vec<_> = ["unhappy", "happy"]
        .iter()
        .enumerate()
        .map(|(i, who)| {
            let mut c = closed_contact(
                &format!("T-{i}"),
                &format!("C-{i}"),
                Some(&format!("{who}@example.co.id")),
                closed,
            );
            c.agent_id = Some(ExternalId::parse("A-1").unwrap());
            c.agent_name = Some("Sari Wijaya".into());
            c.team = Some(ExternalId::parse("Billing").unwrap());
            c.category = Some("refund".into());
            c
        })
        .collect();
    db.store.upsert_contacts(&contacts, closed).await.unwrap();
    assert_eq!(run.plan(db, false).await.invited, 2);
    assert_eq!(run.dispatch(db).await.sent, 2);
    let form = |contact: i64, pairs: &'static [(&'static str, &'static str)]| {
        let token = survey_key().token(&run.campaign().name, contact);
        run.app
            .client
            .post(format!("{}/s/{token}", run.app.base))
            .form(pairs)
            .send()
    };
    let ok = form(2, &[("csat", "5"), ("resolved", "1")]).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert!(
        db.store.alerts(None, 10).await.unwrap().is_empty(),
        "a good rating raises nothing"
    );
    let bad = form(
        1,
        &[
            ("csat", "1"),
            ("resolved", "0"),
            ("comment", "Lama sekali <b>"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(bad.status(), 200);
    let alerts = db.store.alerts(Some("open"), 10).await.unwrap();
    assert_eq!(alerts.len(), 1, "raised with the answer");
    assert_eq!(alerts[0].reasons, "csat,unresolved");

    // The first post fails (503) and is retried after its backoff; the lead's email goes.
    let first = run.dispatch(db).await;
    assert_eq!((first.sent, first.retried), (1, 1), "{first:?}");
    eventually("the first post", || receiver.posts().len() == 1).await;
    run.hand.advance(chrono::Duration::minutes(10));
    assert_eq!(run.dispatch(db).await.sent, 1);
    let posts = receiver.posts();
    assert_eq!(posts.len(), 2);
    let (headers, body) = &posts[1];
    assert!(signed(headers, body), "the signature checks out");
    assert_eq!(headers["content-type"], "application/json");
    let mut tampered = body.to_vec();
    tampered[10] ^= 1;
    assert!(
        !signed(headers, &tampered),
        "a changed body fails the check"
    );
    assert_eq!(
        posts[0].0["x-surveyd-delivery"], headers["x-surveyd-delivery"],
        "the retry is the same delivery"
    );
    let json: Value = serde_json::from_slice(body).unwrap();
    let alert = &json["alert"];
    assert_eq!(json["event"], "alert.raised");
    assert_eq!(alert["state"], "open");
    assert_eq!(alert["customer_id"], "C-0");
    assert_eq!(alert["contact_id"], "T-0");
    assert_eq!(alert["agent_name"], "Sari Wijaya");
    assert_eq!(alert["team"], "Billing");
    let answers: Vec<(String, Value)> = alert["answers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let value = if a["number"].is_null() {
                a["text"].clone()
            } else {
                a["number"].clone()
            };
            (a["question"].as_str().unwrap().to_owned(), value)
        })
        .collect();
    assert_eq!(
        answers,
        [
            ("comment".to_owned(), Value::from("Lama sekali <b>")),
            ("csat".to_owned(), Value::from(1)),
            ("resolved".to_owned(), Value::from(0))
        ]
    );
    let messages = smtp.wait_for(3, std::time::Duration::from_secs(5));
    let lead = messages
        .iter()
        .find(|m| m.contains("To: Lead <lead@example.co.id>"))
        .expect("the team's lead got the alert");
    assert!(
        lead.contains("Subject: Detractor alert: Customer C-0"),
        "{lead}"
    );
    assert!(
        lead.contains("csat: 1") && lead.contains("Lama sekali"),
        "{lead}"
    );
    assert!(!lead.contains("List-Unsubscribe"), "{lead}");

    // Acknowledged over the API (once), resolved with the CLI.
    let id = alerts[0].id;
    let acknowledge = || {
        run.app
            .client
            .post(format!("{}/v1/alerts/{id}/acknowledge", run.app.base))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({ "note": "Calling her back" }))
            .send()
    };
    let acknowledged: Value = acknowledge().await.unwrap().json().await.unwrap();
    assert_eq!(
        (
            acknowledged["state"].as_str(),
            acknowledged["acknowledged_by"].as_str()
        ),
        (Some("acknowledged"), Some("ops"))
    );
    let again = acknowledge().await.unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let anonymous = run
        .app
        .client
        .get(format!("{}/v1/alerts", run.app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("surveyd.toml");
    std::fs::write(&config, format!("[database]\nurl = \"{}\"\n", db.url)).unwrap();
    let cli = std::process::Command::new(env!("CARGO_BIN_EXE_surveyd"))
        .env_remove("SURVEYD_CONFIG")
        .arg("--config")
        .arg(&config)
        .args([
            "alerts",
            "resolve",
            &id.to_string(),
            "--by",
            "dewi",
            "--note",
            "Refunded",
        ])
        .output()
        .unwrap();
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&cli.stdout),
        format!("alert {id} is resolved (dewi)\n")
    );
    let resolved: Value = run
        .app
        .client
        .get(format!("{}/v1/alerts?state=resolved", run.app.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resolved[0]["id"], id);
    assert_eq!(resolved[0]["resolved_note"], "Refunded");
    assert_eq!(resolved[0]["resolved_by"], "dewi");
    assert_eq!(
        resolved[0]["acknowledged_note"], "Calling her back",
        "resolving keeps the acknowledgement's note"
    );
    // Both notes, each with its step, in the CLI's list and its view of the one alert; times
    // on the reports' clock (Asia/Jakarta by default), or in UTC with --utc.
    let command = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_surveyd"))
            .env_remove("SURVEYD_CONFIG")
            .arg("--config")
            .arg(&config)
            .args(args)
            .output()
            .unwrap()
    };
    let cli = |args: &[&str]| {
        let out = command(args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let list = cli(&["alerts", "list"]);
    let show = cli(&["alerts", "show", &id.to_string()]);
    for shown in [&list, &show] {
        assert!(shown.contains("by ops: Calling her back"), "{shown}");
        assert!(shown.contains("by dewi: Refunded"), "{shown}");
        assert!(shown.contains(" WIB"), "{shown}");
    }
    assert!(show.contains("Lama sekali <b>"), "{show}");
    let raised = alerts[0].created_at;
    let jakarta = raised.with_timezone(&chrono_tz::Asia::Jakarta);
    assert!(
        show.contains(&jakarta.format("%Y-%m-%d %H:%M WIB").to_string()),
        "{show}"
    );
    let utc = cli(&["alerts", "show", &id.to_string(), "--utc"]);
    assert!(
        utc.contains(&raised.format("%Y-%m-%d %H:%M UTC").to_string()),
        "{utc}"
    );
    assert!(cli(&["alerts", "list", "--state", "open"]).contains("no open alerts"));
    let unknown = command(&["alerts", "show", "999"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no alert 999"));
    run.app.stop().await;
}

/// An alert whose team has no lead, with no `alerts.email` to fall back on, is not dropped:
/// its email fails with the reason, which `surveyd outbox failed` shows.
async fn an_alert_no_one_can_be_emailed_fails_with_the_reason(db: &TestDb) {
    let smtp = SmtpServer::start();
    let run = SurveyLoop::start_with(db, smtp.port, |settings| {
        settings.alerts.team_leads =
            [("Billing".to_owned(), "lead@example.co.id".to_owned())].into();
    })
    .await;
    let closed = run.clock.now() - chrono::Duration::hours(3);
    let mut contact = closed_contact("T-0", "C-0", Some("c0@example.co.id"), closed);
    contact.team = Some(ExternalId::parse("Support").unwrap());
    db.store.upsert_contacts(&[contact], closed).await.unwrap();
    assert_eq!(run.plan(db, false).await.invited, 1);
    assert_eq!(run.dispatch(db).await.sent, 1);
    let token = survey_key().token(&run.campaign().name, 1);
    let answered = run
        .app
        .client
        .post(format!("{}/s/{token}", run.app.base))
        .form(&[("csat", "1"), ("resolved", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 200);
    let alert = db.store.alerts(None, 1).await.unwrap().remove(0);

    let counts = run.dispatch(db).await;
    assert_eq!((counts.sent, counts.failed), (0, 1), "{counts:?}");
    let reason = format!(
        "alert {} goes to no one by email: alerts.team_leads has no lead for team `Support`, \
         and alerts.email is empty",
        alert.id
    );
    let failed = db.store.failed_deliveries(10).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].last_error.as_deref(), Some(reason.as_str()));

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("surveyd.toml");
    std::fs::write(&config, format!("[database]\nurl = \"{}\"\n", db.url)).unwrap();
    let cli = std::process::Command::new(env!("CARGO_BIN_EXE_surveyd"))
        .env_remove("SURVEYD_CONFIG")
        .arg("--config")
        .arg(&config)
        .args(["outbox", "failed"])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&cli.stdout);
    assert!(shown.contains(&reason), "{shown}");
    run.app.stop().await;
}

/// With no recipient configured at all nothing is queued for an alert (the daemon warns of it
/// at start: `tests/cli.rs`); the alert itself is kept and listed.
async fn an_alert_with_no_recipient_configured_is_kept_and_listed(db: &TestDb) {
    let settings = db.settings();
    assert!(
        settings.alerts.team_leads.is_empty() && settings.alerts.email.is_empty(),
        "the defaults name no recipient"
    );
    let now = chrono::Utc::now();
    let contact = closed_contact("T-0", "C-0", Some("c0@example.co.id"), now);
    db.store.upsert_contacts(&[contact], now).await.unwrap();
    let mut campaign = settings.campaigns[0].clone();
    campaign.delay = std::time::Duration::ZERO;
    let planned = db
        .store
        .plan_invitations(&campaign, now, false, &survey_key())
        .await
        .unwrap();
    assert_eq!(planned.invited, 1);
    let rule = AlertRule::new(&settings.alerts);
    assert!(rule.unrouted().is_some());
    let rating = StoredAnswer {
        question: "csat".into(),
        metric: Some("csat".into()),
        number: Some(1),
        text: None,
    };
    assert!(
        db.store
            .save_answers(1, &[rating], "email", now, &rule)
            .await
            .unwrap()
    );
    assert_eq!(db.store.alerts(Some("open"), 10).await.unwrap().len(), 1);
    let queued = db
        .texts("SELECT CAST(COUNT(*) AS TEXT) FROM deliveries WHERE kind = 'alert'")
        .await;
    assert_eq!(queued, [Some("0".to_owned())]);
}

/// Upgrading keeps the one note an alert had before each step had its own: an alert resolved
/// without being acknowledged had it written on resolving; otherwise it stays the
/// acknowledgement's.
async fn an_earlier_note_stays_with_its_step_after_the_upgrade(db: &TestDb) {
    let settings = db.settings();
    let now = chrono::Utc::now();
    let contacts: Vec<_> = ["C-0", "C-1"]
        .iter()
        .enumerate()
        .map(|(i, customer)| {
            closed_contact(&format!("T-{i}"), customer, Some("c@example.co.id"), now)
        })
        .collect();
    db.store.upsert_contacts(&contacts, now).await.unwrap();
    let mut campaign = settings.campaigns[0].clone();
    campaign.delay = std::time::Duration::ZERO;
    db.store
        .plan_invitations(&campaign, now, false, &survey_key())
        .await
        .unwrap();
    let rule = AlertRule::new(&settings.alerts);
    for invitation in [1, 2] {
        let rating = StoredAnswer {
            question: "csat".into(),
            metric: Some("csat".into()),
            number: Some(1),
            text: None,
        };
        db.store
            .save_answers(invitation, &[rating], "email", now, &rule)
            .await
            .unwrap();
    }
    // Back to the schema before 0012, as the previous version left the two alerts: one
    // acknowledged with a note, one resolved at once with a note.
    let back = [
        "DELETE FROM _sqlx_migrations WHERE version = 12",
        "ALTER TABLE alerts DROP COLUMN resolved_note",
        "UPDATE alerts SET state = 'acknowledged', acknowledged_at = created_at, \
         acknowledged_by = 'ops', note = 'Calling back' WHERE invitation_id = 1",
        "UPDATE alerts SET state = 'resolved', resolved_at = created_at, resolved_by = 'ops', \
         note = 'Refunded' WHERE invitation_id = 2",
    ];
    for sql in back {
        db.raw.execute(sql).await.unwrap();
    }
    let url = surveyd::config::DatabaseUrl::parse(&db.url).unwrap();
    let upgraded = surveyd::store::Store::open(&url, 1).await.unwrap();
    let notes: Vec<_> = upgraded
        .alerts(None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.invitation_id, a.acknowledged_note, a.resolved_note))
        .collect();
    upgraded.close().await;
    assert_eq!(
        notes,
        [
            (2, None, Some("Refunded".to_owned())),
            (1, Some("Calling back".to_owned()), None)
        ]
    );
}

on_both_backends!(
    a_bad_rating_raises_an_alert_that_reaches_the_webhook_and_the_lead,
    an_earlier_note_stays_with_its_step_after_the_upgrade,
    an_alert_no_one_can_be_emailed_fails_with_the_reason,
    an_alert_with_no_recipient_configured_is_kept_and_listed,
);
