//! Send windows end to end: invitations due at one moment reach customers in Jakarta,
//! Jayapura and Amsterdam only inside each one's own 09:00–20:00; the others wait for their
//! next opening and go then, on an injected clock — on SQLite and PostgreSQL. (The window's
//! arithmetic around midnight and daylight saving is tested in `campaign::window`.)

use crate::support::{TestDb, closed_contact, survey_key};
use chrono::{DateTime, NaiveTime, Utc};
use std::sync::Arc;
use surveyd::campaign::window::SendWindow;
use surveyd::clock::Clock;
use surveyd::dispatch::{DispatchCounts, Mode};
use surveyd::domain::TimeZone;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

async fn invitations_wait_for_the_customer_s_window(db: &TestDb) {
    let (clock, hand) = Clock::manual(at("2026-11-20T12:30:00Z"));
    let outbox = tempfile::tempdir().unwrap();
    let mut settings = db.settings();
    settings.email.outbox_dir = outbox.path().to_owned();
    let nine_to_eight = SendWindow {
        start: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
        end: NaiveTime::from_hms_opt(20, 0, 0).unwrap(),
        weekdays_only: false,
    };
    settings.campaigns[0].window = Some(nine_to_eight);
    // Closed at 08:00 UTC, due at 10:00 UTC (two hours on). At 12:30 UTC it is 19:30 in
    // Jakarta and 13:30 in Amsterdam, but 21:30 in Jayapura.
    let contacts: Vec<_> = ["Asia/Jakarta", "Asia/Jayapura", "Europe/Amsterdam"]
        .iter()
        .enumerate()
        .map(|(i, zone)| {
            let mut c = closed_contact(
                &format!("T-{i}"),
                &format!("C-{i}"),
                Some(&format!("c{i}@example.com")),
                at("2026-11-20T08:00:00Z"),
            );
            c.time_zone = Some(TimeZone::parse(zone).unwrap());
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
    assert_eq!(planned.invited, 3);
    let dispatch = || {
        let dispatcher =
            Arc::new(surveyd::app::dispatcher(db.store.clone(), &settings, clock.clone()).unwrap());
        async move {
            let (_stop, stopped) = tokio::sync::watch::channel(false);
            dispatcher.run(Mode::UntilIdle, stopped).await.unwrap()
        }
    };
    assert_eq!(
        dispatch().await,
        DispatchCounts {
            sent: 2,
            deferred: 1,
            ..Default::default()
        }
    );
    // Jayapura's invitation waits for 09:00 there (00:00 UTC), not dropped, not retried.
    let status = db.store.outbox_status(clock.now()).await.unwrap();
    assert_eq!((status.queued, status.due, status.failed), (1, 0, 0));
    let opening = at("2026-11-21T00:00:00Z");
    let status = db.store.outbox_status(opening).await.unwrap();
    assert_eq!((status.due, status.oldest_due_at), (1, Some(opening)));
    hand.set(at("2026-11-20T23:59:59Z"));
    assert_eq!(dispatch().await, DispatchCounts::default());
    hand.set(at("2026-11-21T00:00:00Z"));
    assert_eq!(dispatch().await.sent, 1);
    let sent = std::fs::read_dir(outbox.path()).unwrap().count();
    assert_eq!(sent, 3);
}

on_both_backends!(invitations_wait_for_the_customer_s_window);
