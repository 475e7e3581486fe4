//! `surveyd export responses`: one row per answered invitation, with the contact's ids and
//! each answer, as CSV (a column per question; a comment with a comma, quotes and a line
//! break survives) and as JSON lines — on SQLite and PostgreSQL, through the binary.

use crate::support;
use surveyd::alerts::AlertRule;

use crate::support::{TestDb, closed_contact, survey_key};
use chrono::{DateTime, Utc};
use surveyd::domain::ExternalId;
use surveyd::store::StoredAnswer;

const COMMENT: &str = "Cepat, \"ramah\"\nterima kasih";

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn answer(
    question: &str,
    metric: Option<&str>,
    number: Option<i16>,
    text: Option<&str>,
) -> StoredAnswer {
    StoredAnswer {
        question: question.into(),
        metric: metric.map(str::to_owned),
        number,
        text: text.map(str::to_owned),
    }
}

fn export(db: &TestDb, dir: &std::path::Path, args: &[&str]) -> String {
    let config = format!("[database]\nurl = \"{}\"\n", db.url);
    let args: Vec<&str> = ["export", "responses"]
        .into_iter()
        .chain(args.iter().copied())
        .collect();
    support::surveyd_with_config(dir, &config, &args)
}

async fn answered_invitations_are_exported(db: &TestDb) {
    let now = at("2026-11-20T05:00:00Z");
    let contacts: Vec<_> = (1..=3)
        .map(|i| {
            let mut c = closed_contact(
                &format!("T-{i}"),
                &format!("C-{i}"),
                Some(&format!("c{i}@example.com")),
                at("2026-11-20T01:00:00Z"),
            );
            c.agent_id = Some(ExternalId::parse("A-7").unwrap());
            c.team = Some(ExternalId::parse("Billing").unwrap());
            c.category = Some("refund".into());
            c
        })
        .collect();
    db.store.upsert_contacts(&contacts, now).await.unwrap();
    let campaign = &db.settings().campaigns[0];
    let planned = db
        .store
        .plan_invitations(campaign, now, false, &survey_key())
        .await
        .unwrap();
    assert_eq!(planned.invited, 3);
    let full = [
        answer("csat", Some("csat"), Some(5), None),
        answer("resolved", Some("fcr"), Some(1), None),
        answer("comment", None, None, Some(COMMENT)),
    ];
    assert!(
        db.store
            .save_answers(1, &full, "email", now, &AlertRule::default())
            .await
            .unwrap()
    );
    let short = [answer("csat", Some("csat"), Some(2), None)];
    assert!(
        db.store
            .save_answers(2, &short, "email", now, &AlertRule::default())
            .await
            .unwrap()
    );

    let dir = tempfile::tempdir().unwrap();
    let csv_text = export(db, dir.path(), &["--format", "csv"]);
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        header,
        [
            "invitation_id",
            "campaign",
            "channel",
            "contact_id",
            "customer_id",
            "agent_id",
            "team",
            "category",
            "contact_channel",
            "closed_at",
            "sent_at",
            "answered_at",
            "comment",
            "csat",
            "resolved"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2, "the unanswered invitation is not exported");
    let column = |row: &csv::StringRecord, name: &str| {
        row[header.iter().position(|h| h == name).unwrap()].to_owned()
    };
    assert_eq!(column(&rows[0], "contact_id"), "T-1");
    assert_eq!(column(&rows[0], "customer_id"), "C-1");
    assert_eq!(column(&rows[0], "agent_id"), "A-7");
    assert_eq!(column(&rows[0], "team"), "Billing");
    assert_eq!(column(&rows[0], "comment"), COMMENT);
    assert_eq!(
        (column(&rows[0], "csat"), column(&rows[0], "resolved")),
        ("5".into(), "1".into())
    );
    assert_eq!(
        (
            column(&rows[1], "csat"),
            column(&rows[1], "resolved"),
            column(&rows[1], "comment")
        ),
        ("2".into(), String::new(), String::new())
    );
    assert_eq!(
        column(&rows[1], "answered_at")
            .parse::<DateTime<Utc>>()
            .unwrap(),
        now
    );
    assert!(!csv_text.contains("c1@example.com"), "no addresses leave");

    let file = dir.path().join("responses.jsonl");
    export(
        db,
        dir.path(),
        &["--format", "jsonl", "--output", file.to_str().unwrap()],
    );
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["campaign"], campaign.name.as_str());
    assert_eq!(
        lines[0]["answers"],
        serde_json::json!({"comment": COMMENT, "csat": 5, "resolved": 1})
    );
    assert_eq!(lines[1]["answers"], serde_json::json!({"csat": 2}));
}

/// More answered invitations than one page (1,000) holds: each exported once.
async fn every_page_is_exported(db: &TestDb) {
    let now = at("2026-11-20T05:00:00Z");
    let contacts: Vec<_> = (0..1001)
        .map(|i| {
            closed_contact(
                &format!("T-{i}"),
                &format!("C-{i}"),
                Some(&format!("c{i}@example.com")),
                at("2026-11-20T01:00:00Z"),
            )
        })
        .collect();
    db.store.upsert_contacts(&contacts, now).await.unwrap();
    let campaign = &db.settings().campaigns[0];
    db.store
        .plan_invitations(campaign, now, false, &survey_key())
        .await
        .unwrap();
    let rating = [answer("csat", Some("csat"), Some(4), None)];
    for id in 1..=1001 {
        assert!(
            db.store
                .save_answers(id, &rating, "email", now, &AlertRule::default())
                .await
                .unwrap()
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let text = export(db, dir.path(), &["--format", "jsonl"]);
    let ids: std::collections::BTreeSet<i64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["invitation_id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(text.lines().count(), 1001);
    assert_eq!(ids, (1..=1001).collect());
}

on_both_backends!(answered_invitations_are_exported, every_page_is_exported);
