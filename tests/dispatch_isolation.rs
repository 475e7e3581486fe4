//! What keeps the outbox moving whatever happens to one message: a live process takes back
//! its own claims lost without an outcome once their lease runs out (and leaves those still
//! in hand to their worker), a stuck claim shows in `/readyz` until then, and the
//! send-duration histogram times the provider without the wait for the rate limit. Then
//! arbitrary Unicode names and address local parts, imported and sent to a real SMTP
//! server: every delivery ends sent or failed with a reason, none stays `sending`, nothing
//! panics.

// This binary uses a part of the shared helpers.
#[allow(dead_code)]
#[path = "it/support/mod.rs"]
mod support;

use chrono::Duration;
use proptest::prelude::*;
use serde_json::Value;
use std::sync::Arc;
use support::twilio::{Behaviour, TwilioEmulator};
use support::{SmtpServer, SurveyLoop, TestDb};
use surveyd::campaign::Campaign;
use surveyd::dispatch::{DispatchCounts, Dispatcher, Mode};
use surveyd::domain::SurveyChannel;

async fn run_once(dispatcher: &Arc<Dispatcher>) -> DispatchCounts {
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    Arc::clone(dispatcher)
        .run(Mode::UntilIdle, stopped)
        .await
        .unwrap()
}

async fn readiness(run: &SurveyLoop) -> (u16, Value) {
    let r = reqwest::get(run.app.url("/readyz")).await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// Claims this process made whose jobs were lost (claimed under its name, never handed to a
/// sender, as when a sender died mid-send) stay untouched while their lease holds, show as
/// stuck once it runs out, and are then taken back and sent by the same live process — each
/// message once.
async fn a_live_process_takes_back_its_own_lost_claims(db: &TestDb) {
    let smtp = SmtpServer::start();
    let run = SurveyLoop::start(db, smtp.port).await;
    let addresses = ["one@example.com", "two@example.com", "three@example.com"];
    assert_eq!(run.invite(db, &addresses).await, 3);
    let dispatcher = Arc::new(
        surveyd::app::dispatcher(db.store.clone(), &run.settings, run.clock.clone()).unwrap(),
    );
    let lease = Duration::from_std(run.settings.dispatch.lease).unwrap();
    let now = run.clock.now();
    let lost = db
        .store
        .claim_due("email", dispatcher.owner(), now, now + lease, 2)
        .await
        .unwrap();
    assert_eq!(lost.len(), 2);

    // While the lease holds they are left alone; the third goes.
    let counts = run_once(&dispatcher).await;
    assert_eq!((counts.sent, counts.failed), (1, 0));
    let status = db.store.outbox_status(run.clock.now()).await.unwrap();
    assert_eq!((status.sent, status.sending), (1, 2));
    assert!(
        db.store
            .stuck_deliveries(run.clock.now())
            .await
            .unwrap()
            .is_empty()
    );
    let (code, ready) = readiness(&run).await;
    assert_eq!(
        (code, ready["warnings"].clone()),
        (200, serde_json::json!([]))
    );

    // The lease runs out: stuck, and said so (a warning: the daemon still serves).
    run.hand.advance(lease + Duration::seconds(90));
    let stuck = db.store.stuck_deliveries(run.clock.now()).await.unwrap();
    assert_eq!(stuck.len(), 1, "{stuck:?}");
    assert_eq!(
        (stuck[0].channel.as_str(), stuck[0].deliveries),
        ("email", 2)
    );
    assert_eq!(stuck[0].oldest_lease_until, now + lease);
    let (code, ready) = readiness(&run).await;
    assert_eq!(code, 200, "{ready}");
    assert_eq!(ready["status"], "ready");
    assert_eq!(
        ready["stuck_deliveries"],
        serde_json::json!([{"channel": "email", "deliveries": 2, "past_lease_seconds": 90}])
    );
    assert_eq!(
        ready["warnings"],
        serde_json::json!([
            "2 email deliveries stuck in sending, the oldest 1m 30s past its lease"
        ])
    );

    // The same process takes them back and sends them.
    let counts = run_once(&dispatcher).await;
    assert_eq!((counts.sent, counts.failed, counts.retried), (2, 0, 0));
    let status = db.store.outbox_status(run.clock.now()).await.unwrap();
    assert_eq!((status.sent, status.sending, status.queued), (3, 0, 0));
    let seen = support::arrivals(&smtp.wait_for(3, std::time::Duration::from_secs(10)));
    assert_eq!(seen.len(), 3);
    assert_eq!(support::repeats(&seen), 0, "each message once");
    let (_, ready) = readiness(&run).await;
    assert_eq!(ready["stuck_deliveries"], serde_json::json!([]));
    run.app.stop().await;
}

/// Of a process's lapsed claims, only those it no longer holds go back to the queue; another
/// process's are not its to take back this way.
async fn lapsed_claims_still_in_hand_are_left_to_their_worker(db: &TestDb) {
    let run = SurveyLoop::start(db, support::free_port()).await;
    let addresses = ["one@example.com", "two@example.com", "three@example.com"];
    assert_eq!(run.invite(db, &addresses).await, 3);
    let now = run.clock.now();
    let claimed = db
        .store
        .claim_due("email", "me", now, now + Duration::minutes(5), 10)
        .await
        .unwrap();
    let held = claimed[0].delivery_id;
    let later = now + Duration::minutes(6);
    let not_yet = db
        .store
        .requeue_lost_claims("email", "me", now + Duration::minutes(4), |_| false)
        .await
        .unwrap();
    assert!(not_yet.is_empty(), "the lease still holds");
    let others = db
        .store
        .requeue_lost_claims("email", "someone else", later, |_| false)
        .await
        .unwrap();
    assert!(others.is_empty(), "not theirs");
    let mut lost = db
        .store
        .requeue_lost_claims("email", "me", later, |id| id == held)
        .await
        .unwrap();
    lost.sort();
    let mut expected: Vec<i64> = claimed[1..].iter().map(|c| c.delivery_id).collect();
    expected.sort();
    assert_eq!(lost, expected);
    let status = db.store.outbox_status(later).await.unwrap();
    assert_eq!((status.queued, status.due, status.sending), (2, 2, 1));
    // Taken back with their due time and the attempt they used (the message may have gone).
    let again = db
        .store
        .claim_due("email", "me", later, later + Duration::minutes(5), 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 2);
    assert!(again.iter().all(|c| c.attempts == 2), "{again:?}");
    run.app.stop().await;
}

on_both_backends!(
    a_live_process_takes_back_its_own_lost_claims,
    lapsed_claims_still_in_hand_are_left_to_their_worker,
);

/// Ten messages at ten a second take about a second, nearly all of it waiting for the rate
/// limit: the histogram holds only the provider's answers.
#[tokio::test]
async fn the_send_duration_leaves_out_the_wait_for_the_rate_limit() {
    let db = TestDb::sqlite().await;
    let twilio = TwilioEmulator::start(Behaviour::default()).await;
    let mut run = SurveyLoop::start(&db, support::free_port()).await;
    twilio.configure(&mut run.settings);
    run.settings.twilio.rate_per_second = 10.0;
    run.settings.twilio.max_connections = 4;
    let base = run.settings.campaigns[0].clone();
    run.settings.campaigns = vec![Campaign {
        name: "post-contact-sms".into(),
        channels: vec![SurveyChannel::Sms],
        ..base
    }];
    let numbers: Vec<String> = (0..10).map(|i| format!("+628129{i:07}")).collect();
    let numbers: Vec<&str> = numbers.iter().map(String::as_str).collect();
    let closed = run.clock.now() - Duration::hours(3);
    let contacts = support::phone_contacts(&numbers, closed);
    db.store.upsert_contacts(&contacts, closed).await.unwrap();
    assert_eq!(run.plan(&db, false).await.invited, 10);

    let series = r#"surveyd_send_duration_seconds_sum{channel="sms",provider="twilio"}"#;
    let count = r#"surveyd_send_duration_seconds_count{channel="sms",provider="twilio"}"#;
    let (sum_before, count_before) = (support::counter(series), support::counter(count));
    let started = std::time::Instant::now();
    let counts = run.dispatch(&db).await;
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(counts.sent, 10);
    assert_eq!(support::counter(count) - count_before, 10.0);
    assert!(elapsed >= 0.85, "the rate limit held them back: {elapsed}s");
    let timed = support::counter(series) - sum_before;
    assert!(
        timed < elapsed / 3.0,
        "{timed}s timed of {elapsed}s: the wait is not in the histogram"
    );
    run.app.stop().await;
}

/// Characters for names: any at all, with line breaks, controls and the characters that
/// mean something in a header made common.
fn name_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => any::<char>(),
        3 => prop::sample::select(vec![
            '\n', '\r', '\t', '\u{0}', '\u{7f}', '\u{85}', '\u{2028}', '\u{feff}', '"', '\\',
            '<', '>', ',', ';', ':', '@', '=', '?', '(', ' ', 'é', 'ß', '山', '🙂',
        ]),
        4 => prop::char::range('a', 'z'),
    ]
}

/// Characters for an address's local part: mostly what addresses hold, some anything.
fn local_char() -> impl Strategy<Value = char> {
    prop_oneof![
        6 => prop::char::range('a', 'z'),
        2 => prop::sample::select(vec![
            '.', '+', '-', '_', '"', ' ', '\\', '\n', '(', 'é', '日', '0', '9',
        ]),
        1 => any::<char>(),
    ]
}

/// Characters a local part may hold unquoted (RFC 5322 atext, and the letters of RFC 6531).
fn atext_char() -> impl Strategy<Value = char> {
    prop_oneof![
        6 => prop::char::range('a', 'z'),
        2 => prop::sample::select(vec![
            '0', '9', '!', '#', '$', '%', '&', '\'', '*', '+', '-', '/', '=', '?', '^', '_', '`',
            '{', '|', '}', '~', 'é', 'ß', '日', 'я', '🙂',
        ]),
    ]
}

/// Local parts: most as addresses are written (atoms joined by dots), some the test SMTP
/// server refuses for good (`reject…`) or for now (`defer…`), some of anything (the
/// importer refuses most of those).
fn local_part() -> impl Strategy<Value = String> {
    let atoms = || prop::collection::vec(text_of(atext_char(), 1..6), 1..4);
    prop_oneof![
        3 => atoms().prop_map(|atoms| atoms.join(".")),
        1 => (prop::sample::select(vec!["reject", "defer"]), atoms())
            .prop_map(|(refused, atoms)| format!("{refused}{}", atoms.join("."))),
        1 => text_of(local_char(), 1..16),
    ]
}

/// Text of `len` characters drawn from `chars`.
fn text_of(
    chars: impl Strategy<Value = char>,
    len: std::ops::Range<usize>,
) -> impl Strategy<Value = String> {
    prop::collection::vec(chars, len).prop_map(String::from_iter)
}

/// One case: the contacts imported through the intake's parser (what files, the API and SQL
/// sources share), planned and dispatched — moving the clock on until nothing is left to try.
async fn import_and_dispatch(smtp: &SmtpServer, contacts: &[(String, String)]) {
    use surveyd::config::{EmailTransport, SmtpTls};
    use surveyd::intake::{Column, ParseContext, RawContact};
    let db = TestDb::sqlite().await;
    let (clock, hand) = surveyd::clock::Clock::manual(chrono::Utc::now());
    let mut settings = db.settings();
    settings.email.transport = EmailTransport::Smtp;
    settings.email.smtp.port = smtp.port;
    settings.email.smtp.tls = SmtpTls::None;
    settings.email.smtp.max_connections = 2;
    settings.email.smtp.timeout = std::time::Duration::from_secs(5);
    settings.campaigns[0].reminders.clear();
    let cx = ParseContext::of(&settings.defaults);
    let closed = (clock.now() - Duration::hours(3)).to_rfc3339();
    let mut records = Vec::new();
    for (i, (name, local)) in contacts.iter().enumerate() {
        let mut raw = RawContact::default();
        raw.set(Column::ContactId, format!("T-{i}"));
        raw.set(Column::ClosedAt, closed.as_str());
        raw.set(Column::CustomerId, format!("C-{i}"));
        raw.set(Column::CustomerName, name.as_str());
        raw.set(Column::Email, format!("{local}@example.com"));
        // An address the importer refuses is named there; the rest goes on.
        match raw.parse(&cx, clock.now()) {
            Ok(record) => records.push(record),
            Err(problems) => assert!(!problems.is_empty()),
        }
    }
    if records.is_empty() {
        return;
    }
    db.store
        .upsert_contacts(&records, clock.now())
        .await
        .unwrap();
    let planned = db
        .store
        .plan_invitations(
            &settings.campaigns[0],
            clock.now(),
            false,
            &support::survey_key(),
        )
        .await
        .unwrap();
    let dispatcher =
        Arc::new(surveyd::app::dispatcher(db.store.clone(), &settings, clock.clone()).unwrap());
    let arrived_before = smtp.messages().len();
    // Past every backoff (at most an hour) each time, well inside the 7-day expiry: a refused
    // address uses up its attempts; once the breaker opens on a run of refusals, one probe
    // goes per run.
    for _ in 0..40 {
        run_once(&dispatcher).await;
        let status = db.store.outbox_status(clock.now()).await.unwrap();
        if status.queued == 0 && status.sending == 0 {
            break;
        }
        hand.advance(Duration::hours(2));
    }
    let status = db.store.outbox_status(clock.now()).await.unwrap();
    assert_eq!(
        (status.queued, status.sending),
        (0, 0),
        "all ended: {status:?}"
    );
    assert_eq!(status.sent + status.failed, planned.invited, "{status:?}");
    for failed in db.store.failed_deliveries(100).await.unwrap() {
        let reason = failed.last_error.unwrap_or_default();
        assert!(!reason.is_empty(), "a failure has its reason");
        assert!(
            !reason.contains("internal error"),
            "nothing panicked: {reason}"
        );
    }
    let arrived = smtp.wait_for(
        arrived_before + status.sent as usize,
        std::time::Duration::from_secs(10),
    );
    assert_eq!(arrived.len() - arrived_before, status.sent as usize);
    for eml in &arrived[arrived_before..] {
        let message = mail_parser::MessageParser::default()
            .parse(eml.as_bytes())
            .expect("the message parses");
        let to = message
            .to()
            .and_then(|to| to.first())
            .expect("one recipient");
        let shown = to.name().unwrap_or_default();
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
    }
}

#[test]
fn arbitrary_names_and_local_parts_end_sent_or_failed() {
    let smtp = SmtpServer::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let contacts = prop::collection::vec((text_of(name_char(), 0..24), local_part()), 1..4);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(&contacts, |contacts| {
            runtime.block_on(import_and_dispatch(&smtp, &contacts));
            Ok(())
        })
        .unwrap();
}
