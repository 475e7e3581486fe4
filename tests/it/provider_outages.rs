//! Providers that fail mid-run, on both backends: the SMTP server stops while messages are
//! on their way and comes back later; an SMS gateway answers 5xx, then 429 with Retry-After,
//! then hangs past the timeout. After recovery every invitation is delivered, none twice
//! beyond those on the wire when the SMTP server died, none lost.

use crate::support;
use crate::support::twilio::{Behaviour, TwilioEmulator};
use crate::support::{SmtpServer, SurveyLoop, TestDb};
use chrono::Duration;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use surveyd::campaign::Campaign;
use surveyd::domain::SurveyChannel;

const EMAILS: usize = 400;
const TEXTS: usize = 60;

async fn the_smtp_server_dies_mid_run_and_comes_back(db: &TestDb) {
    let smtp = SmtpServer::start();
    let port = smtp.port;
    let run = SurveyLoop::start(db, port).await;
    let addresses: Vec<String> = (0..EMAILS)
        .map(|i| format!("customer{i}@example.com"))
        .collect();
    let addresses: Vec<&str> = addresses.iter().map(String::as_str).collect();
    assert_eq!(run.invite(db, &addresses).await as usize, EMAILS);

    // Dispatch; the server dies once a quarter has arrived.
    let dispatch = tokio::spawn({
        let (settings, clock, store) = (run.settings.clone(), run.clock.clone(), db.store.clone());
        async move {
            let dispatcher =
                std::sync::Arc::new(surveyd::app::dispatcher(store, &settings, clock).unwrap());
            let (_stop, stopped) = tokio::sync::watch::channel(false);
            dispatcher
                .run(surveyd::dispatch::Mode::UntilIdle, stopped)
                .await
                .unwrap()
        }
    });
    let first = tokio::task::spawn_blocking(move || {
        smtp.wait_for(EMAILS / 4, std::time::Duration::from_secs(60));
        smtp.stop()
    })
    .await
    .unwrap();
    let during = dispatch.await.unwrap();
    assert!(
        first.len() >= EMAILS / 4 && first.len() < EMAILS,
        "{}",
        first.len()
    );
    assert!(during.retried > 0 || during.deferred > 0, "{during:?}");
    let status = db.store.outbox_status(run.clock.now()).await.unwrap();
    assert_eq!(
        status.failed, 0,
        "a transient outage fails nothing: {status:?}"
    );
    assert_eq!(status.sent + status.queued, EMAILS as u64, "{status:?}");

    // Back on the same port: each later run sends what has come due.
    let back = SmtpServer::start_on(port);
    for _ in 0..10 {
        run.hand.advance(Duration::hours(2));
        run.dispatch(db).await;
        if db.store.outbox_status(run.clock.now()).await.unwrap().sent as usize == EMAILS {
            break;
        }
    }
    let status = db.store.outbox_status(run.clock.now()).await.unwrap();
    assert_eq!(
        (status.sent, status.failed, status.queued, status.sending),
        (EMAILS as u64, 0, 0, 0),
        "{status:?}"
    );
    let second = back.wait_for(EMAILS - first.len(), std::time::Duration::from_secs(10));
    let seen = support::arrivals(first.iter().chain(&second));
    assert_eq!(seen.len(), EMAILS, "every invitation's message arrived");
    // Only messages on the wire when the server died can arrive twice: one per connection.
    let duplicates = support::repeats(&seen);
    let connections = run.settings.email.smtp.max_connections;
    assert!(duplicates <= connections, "{duplicates} duplicates");
    run.app.stop().await;
}

async fn an_sms_gateway_fails_throttles_and_hangs_then_recovers(db: &TestDb) {
    let twilio = TwilioEmulator::start(Behaviour::default()).await;
    let mut run = SurveyLoop::start(db, support::free_port()).await;
    twilio.configure(&mut run.settings);
    run.settings.twilio.max_connections = 4;
    run.settings.twilio.timeout = std::time::Duration::from_millis(300);
    // Every failure of each phase is met (the circuit breaker, tested on its own in
    // sms_twilio.rs, would pause the lane after five).
    run.settings.dispatch.breaker_failures = 0;
    let base = run.settings.campaigns[0].clone();
    run.settings.campaigns = vec![Campaign {
        name: "post-contact-sms".into(),
        channels: vec![SurveyChannel::Sms],
        ..base
    }];
    let numbers: Vec<String> = (0..TEXTS).map(|i| format!("+628129{i:07}")).collect();
    let numbers: Vec<&str> = numbers.iter().map(String::as_str).collect();
    let closed = run.clock.now() - Duration::hours(3);
    let contacts = support::phone_contacts(&numbers, closed);
    db.store.upsert_contacts(&contacts, closed).await.unwrap();
    assert_eq!(run.plan(db, false).await.invited as usize, TEXTS);

    // Phase by phase: server errors, then 429 with Retry-After, then no answer at all.
    let behaviour = &twilio.behaviour;
    let phases: [(&std::sync::atomic::AtomicUsize, usize); 3] = [
        (&behaviour.unavailable, 12),
        (&behaviour.throttle, 12),
        (&behaviour.hang, 4),
    ];
    for (counter, failures) in phases {
        counter.store(failures, Ordering::SeqCst);
        let before = behaviour.requests.load(Ordering::SeqCst);
        run.dispatch(db).await;
        assert_eq!(counter.load(Ordering::SeqCst), 0, "every failure was met");
        assert!(behaviour.requests.load(Ordering::SeqCst) > before);
        run.hand.advance(Duration::hours(2));
    }
    for _ in 0..10 {
        run.dispatch(db).await;
        if db.store.outbox_status(run.clock.now()).await.unwrap().sent as usize == TEXTS {
            break;
        }
        run.hand.advance(Duration::hours(2));
    }
    let status = db.store.outbox_status(run.clock.now()).await.unwrap();
    assert_eq!(
        (status.sent, status.failed, status.queued),
        (TEXTS as u64, 0, 0),
        "{status:?}"
    );
    // Refused and unanswered requests were not messages: each customer got exactly one.
    let mut to: HashMap<String, usize> = HashMap::new();
    for accepted in twilio.accepted() {
        *to.entry(accepted.to).or_default() += 1;
    }
    assert_eq!(to.len(), TEXTS);
    assert!(to.values().all(|n| *n == 1), "{to:?}");
    run.app.stop().await;
}

on_both_backends!(
    the_smtp_server_dies_mid_run_and_comes_back,
    an_sms_gateway_fails_throttles_and_hangs_then_recovers,
);
