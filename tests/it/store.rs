//! The storage suite: every test runs against SQLite and against PostgreSQL.

use crate::support;
use crate::support::TestDb;
use chrono::{DateTime, Duration, Utc};
use surveyd::auth::TokenHash;
use surveyd::domain::{ContactChannel, ContactRecord, Email, ExternalId, Phone, Resolution};
use surveyd::store::{StoreError, UpsertCounts};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn contact(id: &str, customer: &str) -> ContactRecord {
    ContactRecord {
        contact_id: ExternalId::parse(id).unwrap(),
        closed_at: at("2026-11-20T03:00:00Z"),
        opened_at: Some(at("2026-11-20T02:30:00Z")),
        customer_id: ExternalId::parse(customer).unwrap(),
        customer_name: Some("Budi Santoso".into()),
        email: Some(Email::parse("budi@example.co.id").unwrap()),
        phone: Some(Phone::parse("+6281234567890").unwrap()),
        whatsapp: None,
        locale: None,
        time_zone: None,
        segment: Some("retail".into()),
        agent_id: Some(ExternalId::parse("A-1").unwrap()),
        agent_name: Some("Sari".into()),
        team: Some(ExternalId::parse("Billing").unwrap()),
        contact_channel: Some(ContactChannel::Phone),
        category: Some("billing".into()),
        resolution: Some(Resolution::Resolved),
        attributes: serde_json::json!({"priority": "high", "csat_eligible": true})
            .as_object()
            .unwrap()
            .clone(),
    }
}

fn counts(inserted: u64, updated: u64, unchanged: u64) -> UpsertCounts {
    UpsertCounts {
        inserted,
        updated,
        unchanged,
    }
}

async fn upsert_inserts_then_changes_nothing(db: &TestDb) {
    let now = at("2026-11-21T00:00:00Z");
    let batch = vec![contact("T-1", "C-1"), contact("T-2", "C-2")];
    assert_eq!(
        db.store.upsert_contacts(&batch, now).await.unwrap(),
        counts(2, 0, 0)
    );
    assert_eq!(
        db.store.upsert_contacts(&batch, now).await.unwrap(),
        counts(0, 0, 2)
    );

    let stored = db.store.find_contact("T-1").await.unwrap().unwrap();
    assert_eq!(stored, batch[0], "what is read back is what was written");
    let t = db.store.table_counts().await.unwrap();
    assert_eq!((t.contacts, t.customers, t.agents, t.teams), (2, 2, 1, 1));
}

async fn a_changed_record_is_updated(db: &TestDb) {
    let now = at("2026-11-21T00:00:00Z");
    db.store
        .upsert_contacts(&[contact("T-1", "C-1")], now)
        .await
        .unwrap();
    let mut changed = contact("T-1", "C-1");
    changed.resolution = Some(Resolution::Escalated);
    changed.team = Some(ExternalId::parse("Retail").unwrap());
    assert_eq!(
        db.store
            .upsert_contacts(&[changed.clone()], now)
            .await
            .unwrap(),
        counts(0, 1, 0)
    );
    let stored = db.store.find_contact("T-1").await.unwrap().unwrap();
    assert_eq!(stored.resolution, Some(Resolution::Escalated));
    assert_eq!(stored.team.unwrap().as_str(), "Retail");
}

async fn the_last_duplicate_in_a_batch_wins(db: &TestDb) {
    let mut second = contact("T-1", "C-1");
    second.category = Some("refund".into());
    let result = db
        .store
        .upsert_contacts(&[contact("T-1", "C-1"), second], Utc::now())
        .await
        .unwrap();
    assert_eq!(result, counts(1, 0, 0));
    let stored = db.store.find_contact("T-1").await.unwrap().unwrap();
    assert_eq!(stored.category.as_deref(), Some("refund"));
}

async fn missing_customer_fields_keep_what_is_stored(db: &TestDb) {
    db.store
        .upsert_contacts(&[contact("T-1", "C-1")], Utc::now())
        .await
        .unwrap();
    let mut sparse = contact("T-2", "C-1");
    sparse.email = None;
    sparse.customer_name = None;
    sparse.whatsapp = Some(Phone::parse("+6281298765432").unwrap());
    db.store
        .upsert_contacts(&[sparse], Utc::now())
        .await
        .unwrap();
    let stored = db.store.find_contact("T-1").await.unwrap().unwrap();
    assert_eq!(stored.email.unwrap().as_str(), "budi@example.co.id");
    assert_eq!(stored.customer_name.as_deref(), Some("Budi Santoso"));
    assert_eq!(stored.whatsapp.unwrap().as_str(), "+6281298765432");
}

async fn list_is_newest_first_and_limited(db: &TestDb) {
    let mut records = Vec::new();
    for i in 0..5 {
        let mut c = contact(&format!("T-{i}"), &format!("C-{i}"));
        c.closed_at = at("2026-11-20T00:00:00Z") + Duration::hours(i);
        c.opened_at = None;
        records.push(c);
    }
    db.store
        .upsert_contacts(&records, Utc::now())
        .await
        .unwrap();
    let listed = db.store.list_contacts(3).await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|c| c.contact_id.as_str()).collect();
    assert_eq!(ids, ["T-4", "T-3", "T-2"]);
}

async fn concurrent_upserts_never_duplicate(db: &TestDb) {
    let records: Vec<ContactRecord> = (0..200)
        .map(|i| contact(&format!("T-{i}"), &format!("C-{}", i % 50)))
        .collect();
    let writers = (0..4).map(|_| {
        let store = db.store.clone();
        let records = records.clone();
        tokio::spawn(async move { store.upsert_contacts(&records, Utc::now()).await.unwrap() })
    });
    let mut total = UpsertCounts::default();
    for w in writers {
        total += w.await.unwrap();
    }
    assert_eq!(
        total.inserted, 200,
        "each contact inserted exactly once: {total:?}"
    );
    assert_eq!(total.inserted + total.updated + total.unchanged, 800);
    let t = db.store.table_counts().await.unwrap();
    assert_eq!((t.contacts, t.customers), (200, 50));
}

async fn migrations_run_once(db: &TestDb) {
    assert_eq!(db.store.migrate().await.unwrap(), 0, "already up to date");
    db.store.ping().await.unwrap();
}

async fn tokens_are_found_by_hash_and_revoked(db: &TestDb) {
    let now = at("2026-11-21T00:00:00Z");
    let (token, hash) = surveyd::auth::new_token();
    db.store.create_token("helpdesk", &hash, now).await.unwrap();
    assert!(matches!(
        db.store.create_token("helpdesk", &hash, now).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        db.store
            .use_token(&TokenHash::of(&token), now)
            .await
            .unwrap()
            .as_deref(),
        Some("helpdesk")
    );
    assert_eq!(
        db.store
            .use_token(&TokenHash::of("wrong"), now)
            .await
            .unwrap(),
        None
    );
    let listed = db.store.list_tokens().await.unwrap();
    assert_eq!(listed[0].last_used_at, Some(now));
    db.store.revoke_token("helpdesk").await.unwrap();
    assert_eq!(db.store.use_token(&hash, now).await.unwrap(), None);
    assert!(matches!(
        db.store.revoke_token("helpdesk").await,
        Err(StoreError::NotFound(_))
    ));
}

/// A survey link sent before migration 0007 (its token's hash stored as 64 hex digits) still
/// opens its invitation after the upgrade, which stores the hashes as 32 bytes; an answer
/// given before migration 0008 gets its NPS and time to answer filled in for reports.
async fn an_upgrade_keeps_the_links_already_sent(db: TestDb) {
    let (up_to_0006, pending, _folder) = support::migrations_before(&db, "0007").await;
    let now = Utc::now();
    let token = support::survey_key().token("after-call", 1);
    let hex_hash = TokenHash::of(&token).as_str().to_owned();
    let answered = now + chrono::Duration::hours(3);
    let insert = "INSERT INTO invitations (campaign, contact_id, customer_id, questionnaire, channel, \
                  state, token_sha256, created_at, sent_at, answered_at) \
                  VALUES ('after-call', 1, 1, 'post-contact', 'email', 'answered', $1, $2, $2, $3)";
    let answer = "INSERT INTO responses (invitation_id, question, metric, number, channel, received_at) \
                  VALUES (1, 'recommend', 'nps', 9, 'email', $1)";
    // The rows as surveyd wrote them at schema 0006: a contact, its invitation sent and
    // answered, and the answer.
    let customer =
        "INSERT INTO customers (id, external_id, created_at, updated_at) VALUES (1, 'C-1', $1, $1)";
    let contact = "INSERT INTO contacts (id, external_id, customer_id, closed_at, created_at, updated_at) \
                   VALUES (1, 'T-1', 1, $1, $1, $1)";
    macro_rules! at_0006 {
        ($pool:expr) => {{
            up_to_0006.run($pool).await.unwrap();
            sqlx::query(customer)
                .bind(now)
                .execute($pool)
                .await
                .unwrap();
            sqlx::query(contact).bind(now).execute($pool).await.unwrap();
            sqlx::query(insert)
                .bind(&hex_hash)
                .bind(now)
                .bind(answered)
                .execute($pool)
                .await
                .unwrap();
            sqlx::query(answer)
                .bind(answered)
                .execute($pool)
                .await
                .unwrap();
        }};
    }
    match &db.raw {
        crate::support::Raw::Sqlite(pool) => at_0006!(pool),
        crate::support::Raw::Postgres(pool) => at_0006!(pool),
    }
    assert_eq!(db.store.migrate().await.unwrap(), pending);
    let all = &support::report_rows(&db, &[], None, None).await[0];
    assert_eq!(all.nps.map(|n| (n.n, n.promoters)), Some((1, 1)));
    let median = all.median_answer_seconds.unwrap();
    assert!((median / 10_800.0 - 1.0).abs() <= 0.1, "{median}");
    let opened = db
        .store
        .invitation_by_token(&surveyd::auth::survey_token_digest(&token))
        .await
        .unwrap();
    assert_eq!(
        opened.map(|i| i.questionnaire).as_deref(),
        Some("post-contact")
    );
}

#[tokio::test]
async fn sqlite_an_upgrade_keeps_the_links_already_sent() {
    an_upgrade_keeps_the_links_already_sent(TestDb::sqlite_unmigrated().await).await;
}

#[tokio::test]
async fn postgres_an_upgrade_keeps_the_links_already_sent() {
    if let Some(db) = TestDb::postgres_unmigrated().await {
        an_upgrade_keeps_the_links_already_sent(db).await;
    }
}

/// A fresh database of the same backend as `db`.
async fn another_like(db: &TestDb) -> TestDb {
    if db.url.starts_with("sqlite:") {
        TestDb::sqlite().await
    } else {
        TestDb::postgres().await.unwrap()
    }
}

/// Plans the default email campaign for one contact closed two hours before `now` and claims
/// its invitation: the delivery's id and message key.
async fn first_claim(db: &TestDb, now: DateTime<Utc>) -> (i64, String) {
    let contact = support::closed_contact(
        "T-1",
        "C-1",
        Some("budi@example.co.id"),
        now - Duration::hours(2),
    );
    db.store.upsert_contacts(&[contact], now).await.unwrap();
    let settings = db.settings();
    let campaign = settings
        .campaigns
        .iter()
        .find(|c| c.name == "post-contact-email")
        .unwrap();
    let planned = db
        .store
        .plan_invitations(campaign, now, false, &support::survey_key())
        .await
        .unwrap();
    assert_eq!(planned.invited, 1);
    let claimed = db
        .store
        .claim_due("email", "test", now, now + Duration::minutes(5), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    (claimed[0].delivery_id, claimed[0].message_key.clone())
}

/// What an email's Message-ID is made of: a random key set at the delivery's first claim,
/// kept through its retries, and another for the delivery of the same id in another database
/// (a restore, a re-created file, a staging copy).
async fn a_delivery_s_message_key_is_its_own_and_kept_for_retries(db: &TestDb) {
    let now = Utc::now();
    let (id, key) = first_claim(db, now).await;
    assert_eq!(key.len(), 32, "{key}");
    assert!(key.chars().all(|c| c.is_ascii_hexdigit()), "{key}");
    let retry = surveyd::store::Outcome::Retry {
        delivery_id: id,
        due_at: now,
        error: "421 try later".into(),
    };
    db.store
        .record_outcomes("test", now, &[retry])
        .await
        .unwrap();
    let again = db
        .store
        .claim_due("email", "test", now, now + Duration::minutes(5), 10)
        .await
        .unwrap();
    assert_eq!((again[0].delivery_id, &again[0].message_key), (id, &key));

    let other = another_like(db).await;
    let (other_id, other_key) = first_claim(&other, now).await;
    assert_eq!(other_id, id, "the same delivery id in the other database");
    assert_ne!(other_key, key);
}

on_both_backends!(
    upsert_inserts_then_changes_nothing,
    a_changed_record_is_updated,
    the_last_duplicate_in_a_batch_wins,
    missing_customer_fields_keep_what_is_stored,
    list_is_newest_first_and_limited,
    concurrent_upserts_never_duplicate,
    migrations_run_once,
    tokens_are_found_by_hash_and_revoked,
    a_delivery_s_message_key_is_its_own_and_kept_for_retries,
);
