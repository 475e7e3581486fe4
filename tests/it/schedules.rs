//! Scheduled planning on an injected clock, on SQLite and PostgreSQL: a campaign with a cron
//! schedule is planned once per tick even by two daemons looking at once; ticks missed while
//! no daemon ran make one run; a tick whose planner died is taken over when its lease runs
//! out; and every run is recorded.

use crate::support::{TestDb, closed_contact, survey_key};
use chrono::{DateTime, Duration, Utc};
use surveyd::campaign::Campaign;
use surveyd::campaign::schedule::Schedule;
use surveyd::clock::{Clock, ManualClock};
use surveyd::scheduler::Scheduler;

/// How long a daemon holds a tick.
const LEASE: std::time::Duration = std::time::Duration::from_secs(300);

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// The default campaign, planned every day at 09:00 in Jakarta (02:00 UTC).
fn daily(db: &TestDb) -> Campaign {
    let mut campaign = db.settings().campaigns[0].clone();
    campaign.schedule = Some(toml::from_str::<Schedule>(r#"cron = "0 9 * * *""#).unwrap());
    campaign
}

/// Two daemons' planners on one database and clock.
fn daemons(db: &TestDb, campaign: &Campaign) -> (Scheduler, Scheduler, ManualClock) {
    let (clock, hand) = Clock::manual(at("2026-11-20T01:00:00Z"));
    let daemon = |name: &str| {
        Scheduler::new(
            db.store.clone(),
            std::slice::from_ref(campaign),
            survey_key(),
            clock.clone(),
            chrono_tz::Asia::Jakarta,
            name.into(),
            LEASE,
        )
    };
    (daemon("one"), daemon("two"), hand)
}

async fn add_contact(db: &TestDb, id: &str, closed: &str) {
    let contact = closed_contact(
        id,
        &format!("C-{id}"),
        Some(&format!("{id}@example.com")),
        at(closed),
    );
    db.store
        .upsert_contacts(&[contact], at(closed))
        .await
        .unwrap();
}

async fn each_tick_is_planned_once_by_one_daemon(db: &TestDb) {
    let campaign = daily(db);
    let (one, two, hand) = daemons(db, &campaign);
    add_contact(db, "T-1", "2026-11-19T10:00:00Z").await;
    // First look, before today's 09:00: yesterday's tick was never planned — one run for it.
    let (a, b) = tokio::join!(one.tick(), two.tick());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.0.len() + b.0.len(), 1, "{a:?} {b:?}");
    let invited: u64 = a.0.iter().chain(&b.0).map(|(_, c)| c.invited).sum();
    assert_eq!(invited, 1);
    // The planner wakes for today's 09:00 Jakarta; the other too, unless it saw the tick
    // still being planned: then when that lease would run out (in case its planner dies).
    let (planner, other) = if a.0.is_empty() {
        (b.1, a.1)
    } else {
        (a.1, b.1)
    };
    assert_eq!(planner, Some(at("2026-11-20T02:00:00Z")));
    assert!(
        [at("2026-11-20T02:00:00Z"), at("2026-11-20T01:05:00Z")].contains(&other.unwrap()),
        "{other:?}"
    );
    // Looking again before the tick does nothing.
    hand.set(at("2026-11-20T01:59:59Z"));
    assert!(one.tick().await.unwrap().0.is_empty());

    add_contact(db, "T-2", "2026-11-20T01:30:00Z").await;
    hand.set(at("2026-11-20T02:00:00Z"));
    let (a, b) = tokio::join!(one.tick(), two.tick());
    let runs: Vec<_> = a.unwrap().0.into_iter().chain(b.unwrap().0).collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].1.invited, 1);

    // Down from Friday to Monday noon: Saturday's, Sunday's and Monday's ticks make one run.
    hand.set(at("2026-11-23T05:00:00Z"));
    assert_eq!(two.tick().await.unwrap().0.len(), 1);
    assert!(one.tick().await.unwrap().0.is_empty());

    let recorded = db.store.campaign_runs(&campaign.name, 10).await.unwrap();
    let ticks: Vec<_> = recorded
        .iter()
        .map(|r| (r.trigger.as_str(), r.scheduled_for))
        .collect();
    assert_eq!(
        ticks,
        [
            ("schedule", at("2026-11-23T02:00:00Z")),
            ("schedule", at("2026-11-20T02:00:00Z")),
            ("schedule", at("2026-11-19T02:00:00Z")),
        ]
    );
    assert!(
        recorded
            .iter()
            .all(|r| r.finished_at.is_some() && r.error.is_none())
    );
    assert_eq!(recorded[2].invited, Some(1));
}

async fn a_tick_whose_planner_died_is_taken_over(db: &TestDb) {
    let campaign = daily(db);
    let (_, two, hand) = daemons(db, &campaign);
    add_contact(db, "T-1", "2026-11-19T10:00:00Z").await;
    // A daemon took yesterday's tick and died planning it.
    let now = at("2026-11-20T01:00:00Z");
    let tick = at("2026-11-19T02:00:00Z");
    let lease = Duration::from_std(LEASE).unwrap();
    let dead = db
        .store
        .start_run(&campaign.name, "schedule", tick, "dead", now, now + lease)
        .await
        .unwrap();
    assert!(dead.is_some());
    // Inside its lease the tick stays its own; the other daemon will look again when the
    // lease runs out.
    hand.set(now + lease - Duration::seconds(1));
    let (runs, wake) = two.tick().await.unwrap();
    assert!(runs.is_empty());
    assert_eq!(wake, Some(now + lease));
    // After it, the second daemon plans it.
    hand.set(now + lease);
    let (runs, _) = two.tick().await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].1.invited, 1);
    let recorded = db.store.campaign_runs(&campaign.name, 10).await.unwrap();
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        (recorded[0].scheduled_for, recorded[0].invited),
        (tick, Some(1))
    );
}

async fn a_periodic_run_whose_planner_died_is_taken_over(db: &TestDb) {
    let mut campaign = daily(db);
    campaign.schedule = Some(toml::from_str::<Schedule>(r#"every = "15m""#).unwrap());
    let (_, two, hand) = daemons(db, &campaign);
    add_contact(db, "T-1", "2026-11-19T10:00:00Z").await;
    let now = at("2026-11-20T01:00:00Z");
    let lease = Duration::from_std(LEASE).unwrap();
    db.store
        .start_run(&campaign.name, "schedule", now, "dead", now, now + lease)
        .await
        .unwrap();
    // Its run is taken over, not left unfinished beside a new one.
    hand.set(now + lease);
    let (runs, _) = two.tick().await.unwrap();
    assert_eq!(runs.len(), 1);
    let recorded = db.store.campaign_runs(&campaign.name, 10).await.unwrap();
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        (recorded[0].scheduled_for, recorded[0].invited),
        (now, Some(1))
    );
    assert!(recorded[0].finished_at.is_some());
}

on_both_backends!(
    a_periodic_run_whose_planner_died_is_taken_over,
    each_tick_is_planned_once_by_one_daemon,
    a_tick_whose_planner_died_is_taken_over,
);
