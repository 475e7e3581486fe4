//! Files that hold personal data are their owner's alone: a new SQLite database (and its
//! journal) is created 0600 in folders made 0700, and the file transport writes each `.eml`
//! 0600 into an outbox folder it makes 0700.

#![cfg(unix)]

use crate::support::{TestDb, closed_contact, survey_key};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use surveyd::clock::Clock;
use surveyd::dispatch::Mode;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn the_database_and_the_email_outbox_are_private() {
    // TestDb makes its file in a folder that does not exist yet: `nested/surveyd.db`.
    let db = TestDb::sqlite().await;
    let file = Path::new(db.url.strip_prefix("sqlite://").unwrap());
    assert_eq!(mode(file), 0o600, "{}", file.display());
    assert_eq!(mode(file.parent().unwrap()), 0o700);

    let outbox = tempfile::tempdir().unwrap();
    let dir = outbox.path().join("data/outbox");
    let mut settings = db.settings();
    settings.email.outbox_dir = dir.clone();
    let now = chrono::Utc::now();
    let contacts = [closed_contact(
        "T-1",
        "C-1",
        Some("budi@example.co.id"),
        now - chrono::Duration::hours(3),
    )];
    db.store.upsert_contacts(&contacts, now).await.unwrap();
    db.store
        .plan_invitations(&settings.campaigns[0], now, false, &survey_key())
        .await
        .unwrap();
    let dispatcher =
        Arc::new(surveyd::app::dispatcher(db.store.clone(), &settings, Clock::system()).unwrap());
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    assert_eq!(
        dispatcher.run(Mode::UntilIdle, stopped).await.unwrap().sent,
        1
    );

    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&outbox.path().join("data")), 0o700);
    let messages: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(messages[0].extension().is_some_and(|e| e == "eml"));
    assert_eq!(mode(&messages[0]), 0o600);
    // SQLite's write-ahead log takes the database file's mode.
    let wal = file.with_extension("db-wal");
    assert_eq!(mode(&wal), 0o600);
}
