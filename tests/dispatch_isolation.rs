//! What keeps the outbox moving whatever happens to one message: a live process takes back
//! its own claims lost without an outcome once their lease runs out (and leaves those still
//! in hand to their worker), and the send-duration histogram times the provider without the
//! wait for the rate limit.

mod support;

use chrono::Duration;
use support::twilio::{Behaviour, TwilioEmulator};
use support::{SurveyLoop, TestDb};
use surveyd::campaign::{Campaign, SurveyChannel};

/// Stores one email contact per address (customer `C-{i}`, closed three hours before the
/// loop's time) and plans the campaign; returns how many were invited.
async fn invite(db: &TestDb, run: &SurveyLoop, addresses: &[&str]) -> u64 {
    let closed = run.clock.now() - Duration::hours(3);
    let contacts: Vec<_> = addresses
        .iter()
        .enumerate()
        .map(|(i, email)| surveyd::domain::ContactRecord {
            customer_name: Some(format!("Budi Santoso {i}")),
            ..support::closed_contact(&format!("T-{i}"), &format!("C-{i}"), Some(email), closed)
        })
        .collect();
    db.store.upsert_contacts(&contacts, closed).await.unwrap();
    run.plan(db, false).await.invited
}

/// Of a process's lapsed claims, only those it no longer holds go back to the queue; another
/// process's are not its to take back this way.
async fn lapsed_claims_still_in_hand_are_left_to_their_worker(db: &TestDb) {
    let run = SurveyLoop::start(db, support::free_port()).await;
    let addresses = ["one@example.com", "two@example.com", "three@example.com"];
    assert_eq!(invite(db, &run, &addresses).await, 3);
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

on_both_backends!(lapsed_claims_still_in_hand_are_left_to_their_worker);

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
