//! Data protection: a customer forgotten on request, and personal data erased after the
//! retention period — the personal data goes, the scores and reports stay, and each erasure
//! is in the audit log.

use crate::support;
use crate::support::{TestDb, closed_contact, survey_key};
use chrono::{DateTime, Duration, Utc};
use surveyd::alerts::AlertRule;
use surveyd::domain::{ContactRecord, Phone};
use surveyd::store::{AlertAction, Erased, Processed, RawEvent, StoredAnswer};

const COMMENT: &str = "Agennya ramah, tapi lama";

fn answers(rating: i16) -> Vec<StoredAnswer> {
    vec![
        StoredAnswer {
            question: "csat".into(),
            metric: Some("csat".into()),
            number: Some(rating),
            text: None,
        },
        StoredAnswer {
            question: "comment".into(),
            metric: None,
            number: None,
            text: Some(COMMENT.into()),
        },
    ]
}

/// Customer `C-{i}` with a phone, an email, an attribute and a contact closed at `closed_at`.
fn customer(i: usize, closed_at: DateTime<Utc>) -> ContactRecord {
    let mut c = closed_contact(
        &format!("T-{i}"),
        &format!("C-{i}"),
        Some(&format!("c{i}@example.com")),
        closed_at,
    );
    c.phone = Some(Phone::parse(&format!("+62812000000{i:02}")).unwrap());
    c.attributes = [("order".to_owned(), serde_json::json!(format!("INV-{i}")))]
        .into_iter()
        .collect();
    c
}

/// Plans every contact (one invitation each, ids in contact order), answers each with a
/// rating and a comment, and stores one processed webhook event per customer that carries
/// the customer's number as Twilio writes it.
async fn seed(db: &TestDb, contacts: &[ContactRecord], now: DateTime<Utc>) {
    db.store.upsert_contacts(contacts, now).await.unwrap();
    let mut campaign = db.settings().campaigns[0].clone();
    campaign.audience.lookback = std::time::Duration::from_secs(800 * 86_400);
    campaign.delay = std::time::Duration::ZERO;
    let planned = db
        .store
        .plan_invitations(&campaign, now, false, &survey_key())
        .await
        .unwrap();
    assert_eq!(planned.invited as usize, contacts.len());
    let rule = AlertRule::new(&db.settings().alerts);
    for (i, contact) in contacts.iter().enumerate() {
        // A 1 raises a detractor alert.
        let rating = if i == 0 { 1 } else { 5 };
        let answered = db
            .store
            .save_answers(
                i as i64 + 1,
                &answers(rating),
                "email",
                contact.closed_at,
                &rule,
            )
            .await
            .unwrap();
        assert!(answered);
        let number = contact.phone.as_ref().unwrap().as_str().replace('+', "%2B");
        let event = RawEvent {
            provider: "twilio".into(),
            event_id: format!("SM{i}"),
            kind: "message",
            payload: format!("From={number}&Body=jelek%20sekali"),
        };
        let mut tx = db.store.begin().await.unwrap();
        let ids = tx
            .inbox_insert(&[(&event, contact.closed_at)])
            .await
            .unwrap();
        tx.inbox_processed(&[Processed {
            id: ids[0].unwrap(),
            result: Ok("answer"),
            at: contact.closed_at,
            awaits: None,
        }])
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
}

async fn report(db: &TestDb) -> Vec<(String, u64, u64)> {
    let rows = support::report_rows(db, &[surveyd::store::Breakdown::Campaign], None, None).await;
    rows.iter()
        .map(|r| {
            (
                r.keys[0].key.clone(),
                r.responses,
                r.csat.map_or(0, |p| p.count),
            )
        })
        .collect()
}

async fn a_forgotten_customer_is_erased_everywhere(db: &TestDb) {
    let now = Utc::now();
    let contacts = [
        customer(1, now - Duration::days(2)),
        customer(2, now - Duration::days(1)),
    ];
    seed(db, &contacts, now).await;
    // The invitations' messages are still queued (nothing was dispatched).
    let before = report(db).await;
    // The customer's alert carries a note from each step.
    let alert = db.store.alerts(None, 1).await.unwrap()[0].id;
    for (action, note) in [
        (AlertAction::Acknowledge, "Calling C-1 back"),
        (AlertAction::Resolve, "C-1 refunded"),
    ] {
        db.store
            .move_alert(alert, action, "ops", Some(note), now)
            .await
            .unwrap();
    }

    // The caller removed 2 emails from the file outbox before.
    let forgotten = db
        .store
        .forget_customer("C-1", "cli", now, Some(2))
        .await
        .unwrap()
        .expect("customer C-1 exists");
    let e = &forgotten.erased;
    assert_eq!(
        (e.customers, e.contacts, e.comments, e.inbox_events),
        (1, 1, 1, 1),
        "{e:?}"
    );
    assert_eq!(e.alert_notes, 2, "both notes: {e:?}");
    assert_eq!(e.outbox_files, Some(2));
    let notes = db
        .texts("SELECT COALESCE(note, '') || COALESCE(resolved_note, '') FROM alerts")
        .await;
    assert_eq!(notes, [Some(String::new())]);
    // The customer's row holds nothing of them; the other customer is untouched.
    let rows = db
        .texts(
            "SELECT COALESCE(external_id, '') || '|' || COALESCE(name, '') || '|' || \
             COALESCE(email, '') || '|' || COALESCE(phone, '') FROM customers ORDER BY id",
        )
        .await;
    assert_eq!(
        rows[0].as_deref(),
        Some(
            format!(
                "{}|||",
                forgotten.subject.replace("customer:", "forgotten:")
            )
            .as_str()
        )
    );
    assert_eq!(
        rows[1].as_deref(),
        Some("C-2|Customer C-2|c2@example.com|+6281200000002")
    );
    let attributes = db
        .texts("SELECT CAST(attributes AS TEXT) FROM contacts ORDER BY id")
        .await;
    assert_eq!(attributes[0].as_deref(), Some("{}"));
    assert!(attributes[1].as_deref().unwrap().contains("INV-2"));
    let comments = db
        .texts("SELECT text FROM responses WHERE question = 'comment' ORDER BY invitation_id")
        .await;
    assert_eq!(comments, [None, Some(COMMENT.to_owned())]);
    let payloads = db.texts("SELECT payload FROM inbox ORDER BY id").await;
    assert_eq!(payloads[0].as_deref(), Some(""));
    assert!(payloads[1].as_deref().unwrap().contains("6281200000002"));
    // The message still queued for the customer is cancelled; the scores stay.
    assert_eq!(e.cancelled, 1, "{e:?}");
    assert_eq!(report(db).await, before);

    let audit = db.store.audit_events(10).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(
        (audit[0].actor.as_str(), audit[0].action.as_str()),
        ("cli", "customer.forget")
    );
    assert_eq!(
        audit[0].subject.as_deref(),
        Some(forgotten.subject.as_str())
    );
    assert!(!audit[0].detail.contains("C-1"), "{}", audit[0].detail);
    let recorded: Erased = serde_json::from_str(&audit[0].detail).unwrap();
    assert_eq!(&recorded, e, "the audit counts what was erased and printed");
    // The helpdesk id is gone: asking again finds no one.
    assert!(
        db.store
            .forget_customer("C-1", "cli", now, None)
            .await
            .unwrap()
            .is_none()
    );
}

async fn retention_erases_what_is_older_and_keeps_the_scores(db: &TestDb) {
    let now = Utc::now();
    let old = now - Duration::days(400);
    let contacts = [
        customer(1, old),
        customer(2, old + Duration::hours(1)),
        customer(3, now - Duration::days(3)),
    ];
    // Planned as each contact closed, so invitations 1–2 were made 400 days ago.
    for contact in &contacts {
        seed_one(db, contact).await;
    }
    let before = report(db).await;
    let cutoff = now - Duration::days(365);
    let erased = db
        .store
        .apply_retention(cutoff, "daemon", now, Some(1))
        .await
        .unwrap();
    assert_eq!(
        (
            erased.customers,
            erased.contacts,
            erased.comments,
            erased.inbox_events
        ),
        (2, 2, 2, 2),
        "{erased:?}"
    );
    let names = db.texts("SELECT name FROM customers ORDER BY id").await;
    assert_eq!(names, [None, None, Some("Customer C-3".to_owned())]);
    let comments = db
        .texts("SELECT text FROM responses WHERE question = 'comment' ORDER BY invitation_id")
        .await;
    assert_eq!(comments, [None, None, Some(COMMENT.to_owned())]);
    let payloads = db.texts("SELECT payload FROM inbox ORDER BY id").await;
    assert_eq!(
        payloads.iter().filter(|p| p.as_deref() == Some("")).count(),
        2
    );
    assert_eq!(report(db).await, before, "the scores stay");
    let audit = db.store.audit_events(10).await.unwrap();
    assert_eq!(
        (
            audit.len(),
            audit[0].action.as_str(),
            audit[0].actor.as_str()
        ),
        (1, "retention.apply", "daemon")
    );
    let recorded: Erased = serde_json::from_str(&audit[0].detail).unwrap();
    assert_eq!(recorded, erased, "the audit counts the outbox's file too");
    assert_eq!(recorded.outbox_files, Some(1));

    // Again: nothing left to erase, nothing logged.
    let again = db
        .store
        .apply_retention(cutoff, "daemon", now, Some(0))
        .await
        .unwrap();
    assert_eq!(again.to_string(), "nothing");
    assert_eq!(db.store.audit_events(10).await.unwrap().len(), 1);

    // A year on, the third customer's turn; and an erased customer imported again is kept.
    let later = now + Duration::days(400);
    let mut back = customer(1, later - Duration::days(1));
    back.contact_id = surveyd::domain::ExternalId::parse("T-1b").unwrap();
    db.store.upsert_contacts(&[back], later).await.unwrap();
    let erased = db
        .store
        .apply_retention(later - Duration::days(365), "daemon", later, None)
        .await
        .unwrap();
    assert_eq!((erased.customers, erased.comments), (1, 1), "{erased:?}");
    let names = db.texts("SELECT name FROM customers ORDER BY id").await;
    assert_eq!(names, [Some("Customer C-1".to_owned()), None, None]);
}

/// `seed` for one contact, planned and answered at its close.
async fn seed_one(db: &TestDb, contact: &ContactRecord) {
    let at = contact.closed_at;
    db.store
        .upsert_contacts(std::slice::from_ref(contact), at)
        .await
        .unwrap();
    let mut campaign = db.settings().campaigns[0].clone();
    campaign.delay = std::time::Duration::ZERO;
    db.store
        .plan_invitations(&campaign, at, false, &survey_key())
        .await
        .unwrap();
    let id: i64 = db
        .texts("SELECT CAST(MAX(id) AS TEXT) FROM invitations")
        .await[0]
        .as_deref()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        db.store
            .save_answers(id, &answers(5), "email", at, &AlertRule::default())
            .await
            .unwrap()
    );
    let event = RawEvent {
        provider: "twilio".into(),
        event_id: format!("SM{id}"),
        kind: "message",
        payload: format!("From={}&Body=ok", contact.phone.as_ref().unwrap().as_str()),
    };
    let mut tx = db.store.begin().await.unwrap();
    let ids = tx.inbox_insert(&[(&event, at)]).await.unwrap();
    tx.inbox_processed(&[Processed {
        id: ids[0].unwrap(),
        result: Ok("answer"),
        at,
        awaits: None,
    }])
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

on_both_backends!(
    a_forgotten_customer_is_erased_everywhere,
    retention_erases_what_is_older_and_keeps_the_scores,
);
