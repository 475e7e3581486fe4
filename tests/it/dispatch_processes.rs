//! `surveyd dispatch` as separate processes against a real SMTP server: killed with SIGKILL
//! midway and run again (every message arrives; duplicates only from deliveries in flight at
//! the kill), and two dispatchers on one PostgreSQL database at once (nothing sent twice).

use crate::support;
use crate::support::daemon::Daemon;
use crate::support::{SmtpServer, TestDb};
use chrono::Utc;
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};
use surveyd::domain::ContactRecord;

const DELIVERIES: usize = 2000;

/// `count` contacts closed a day ago, each invited by the default campaign.
async fn seed(db: &TestDb, count: usize) {
    let now = Utc::now();
    let contacts: Vec<ContactRecord> = (0..count)
        .map(|i| {
            let email = format!("customer{i}@example.com");
            support::closed_contact(
                &format!("T-{i}"),
                &format!("C-{i}"),
                Some(&email),
                now - chrono::Duration::days(1),
            )
        })
        .collect();
    db.store.upsert_contacts(&contacts, now).await.unwrap();
    let settings = db.settings();
    let planned = db
        .store
        .plan_invitations(&settings.campaigns[0], now, false, &support::survey_key())
        .await
        .unwrap();
    assert_eq!(planned.invited as usize, count);
}

/// A config file for `surveyd dispatch` against `db` and the SMTP server on `port`. Logs at
/// warn: a line per message at info would fill the pipe of a process killed unread.
fn config(dir: &Path, db: &TestDb, port: u16, lease: &str) -> std::path::PathBuf {
    let path = dir.join("surveyd.toml");
    std::fs::write(
        &path,
        format!(
            "[database]\nurl = \"{}\"\n\
             [survey]\npublic_url = \"https://survey.example.com\"\nkey = \"{}\"\n\
             [dispatch]\nlease = \"{lease}\"\nbatch_size = 100\n\
             [email]\ntransport = \"smtp\"\n[email.smtp]\nport = {port}\nmax_connections = 8\ntimeout = \"10s\"\n\
             [log]\nlevel = \"warn\"\n",
            db.url,
            support::SURVEY_KEY
        ),
    )
    .unwrap();
    path
}

async fn killed_midway_then_run_again(db: &TestDb) {
    seed(db, DELIVERIES).await;
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    // A short lease, so the dead process's claims are taken over quickly.
    let config = config(dir.path(), db, smtp.port, "1s");

    let first = Daemon::start(&config, "dispatch");
    let deadline = Instant::now() + Duration::from_secs(60);
    while smtp.messages().len() < DELIVERIES / 3 {
        assert!(
            Instant::now() < deadline,
            "the first dispatcher sent too little"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    first.kill();
    let at_kill = db.store.outbox_status(Utc::now()).await.unwrap();
    assert!(at_kill.sent < DELIVERIES as u64, "killed before the end");

    // Run again until everything is sent: claims of the dead process are taken over once
    // their one-second lease has run out.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        Daemon::start(&config, "dispatch").finish();
        let status = db.store.outbox_status(Utc::now()).await.unwrap();
        if status.sent == DELIVERIES as u64 {
            assert_eq!((status.failed, status.queued, status.sending), (0, 0, 0));
            break;
        }
        assert!(Instant::now() < deadline, "not all sent: {status:?}");
    }
    let seen = smtp_settled(&smtp, DELIVERIES);
    support::assert_crash_repeats("crash test", &seen, DELIVERIES, &at_kill);
}

async fn two_dispatchers_send_nothing_twice(db: &TestDb) {
    seed(db, DELIVERIES).await;
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), db, smtp.port, "5m");
    let (a, b) = (
        Daemon::start(&config, "dispatch"),
        Daemon::start(&config, "dispatch"),
    );
    a.finish();
    b.finish();
    let status = db.store.outbox_status(Utc::now()).await.unwrap();
    assert_eq!(status.sent, DELIVERIES as u64);
    let seen = smtp_settled(&smtp, DELIVERIES);
    assert_eq!(seen.len(), DELIVERIES);
    assert!(seen.values().all(|n| *n == 1), "a message was sent twice");
}

/// The arrivals once at least `count` messages are in (the server writes each as it is
/// accepted, so they are all there when the dispatchers have recorded them).
fn smtp_settled(smtp: &SmtpServer, count: usize) -> HashMap<String, usize> {
    let messages = smtp.wait_for(count, Duration::from_secs(10));
    assert!(
        messages.len() >= count,
        "{} of {count} arrived",
        messages.len()
    );
    support::arrivals(&messages)
}

#[tokio::test]
async fn sqlite_dispatch_killed_midway_then_run_again() {
    killed_midway_then_run_again(&TestDb::sqlite().await).await;
}

#[tokio::test]
async fn postgres_dispatch_killed_midway_then_run_again() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    killed_midway_then_run_again(&db).await;
}

#[tokio::test]
async fn postgres_two_dispatchers_send_nothing_twice() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    two_dispatchers_send_nothing_twice(&db).await;
}
