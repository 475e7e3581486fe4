//! What the command line prints from stored data is safe to print: a customer's or agent's
//! name or a comment holding terminal escapes (`ESC [31m`, BEL) shows them escaped in every
//! table and list.

use crate::support;
use crate::support::{TestDb, closed_contact};
use surveyd::alerts::AlertRule;
use surveyd::domain::ExternalId;
use surveyd::store::StoredAnswer;

#[tokio::test]
async fn names_cannot_drive_the_terminal() {
    let db = TestDb::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!("[database]\nurl = \"{}\"\n", db.url);
    // Intake turns control characters into spaces; these are stored as another path (an older
    // version, a chat reply) may have left them.
    let now = chrono::Utc::now();
    let mut contact = closed_contact(
        "T-1",
        "C-1",
        Some("budi@example.co.id"),
        now - chrono::Duration::hours(3),
    );
    contact.customer_name = Some("Budi\u{1b}[31m Santoso\u{7}".into());
    contact.agent_id = Some(ExternalId::parse("A-1").unwrap());
    contact.agent_name = Some("Sari\u{1b}]0;owned\u{7}".into());
    db.store.upsert_contacts(&[contact], now).await.unwrap();
    let settings = db.settings();
    let claimed = support::plan_and_send(&db, &settings, now, |_| now).await;
    let answers = [
        StoredAnswer {
            question: "csat".into(),
            metric: Some("csat".into()),
            number: Some(1),
            text: None,
        },
        StoredAnswer {
            question: "comment".into(),
            metric: None,
            number: None,
            text: Some("slow\u{1b}[2J\u{1b}[H".into()),
        },
    ];
    db.store
        .save_answers(
            claimed[0].invitation_id,
            &answers,
            "whatsapp",
            now,
            &AlertRule::new(&settings.alerts),
        )
        .await
        .unwrap();

    for args in [
        &["customers", "show", "C-1"][..],
        &["report", "--by", "agent"][..],
        &["alerts", "list"][..],
        &["alerts", "show", "1"][..],
    ] {
        let stdout = support::surveyd_with_config(dir.path(), &config, args);
        assert!(
            !stdout.contains(['\u{1b}', '\u{7}']),
            "{args:?} printed a control character: {stdout:?}"
        );
        assert!(stdout.contains(r"\u{1b}"), "{args:?}: {stdout}");
    }
}
