//! The email survey loop on both backends, against a real SMTP server process: planning,
//! dispatch, the received messages, the survey and unsubscribe pages, the report; and what
//! happens when the SMTP server is down or refuses one address.

use crate::support;
use crate::support::{SmtpServer, SurveyLoop, TestDb};
use chrono::{DateTime, Utc};
use mail_parser::{MessageParser, MimeHeaders};
use surveyd::auth::survey_token_digest;
use surveyd::domain::{ContactRecord, ExternalId, Locale};
use surveyd::store::Breakdown;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

const CLOSED: &str = "2026-11-20T01:00:00Z";

fn contact(id: &str, customer: &str, email: &str, locale: &str) -> ContactRecord {
    ContactRecord {
        locale: Some(Locale::parse(locale).unwrap()),
        agent_id: Some(ExternalId::parse("A-1").unwrap()),
        agent_name: Some("Sari Wijaya".into()),
        team: Some(ExternalId::parse("Billing").unwrap()),
        category: Some("billing".into()),
        ..support::closed_contact(id, customer, Some(email), at(CLOSED))
    }
}

/// Stores `contacts` (closed at `CLOSED`) and plans the campaign two hours later.
async fn invite(
    db: &TestDb,
    run: &SurveyLoop,
    contacts: &[ContactRecord],
) -> surveyd::store::PlanCounts {
    db.store
        .upsert_contacts(contacts, at(CLOSED))
        .await
        .unwrap();
    run.hand.set(at("2026-11-20T04:00:00Z"));
    run.plan(db, false).await
}

fn header<'a>(message: &'a mail_parser::Message<'a>, name: &'static str) -> &'a str {
    message
        .header_raw(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .trim()
}

/// The token in a message's List-Unsubscribe link.
fn token_of(message: &mail_parser::Message<'_>, base: &str) -> String {
    let link = header(message, "List-Unsubscribe");
    link.strip_prefix(&format!("<{base}/u/"))
        .and_then(|rest| rest.strip_suffix('>'))
        .unwrap_or_else(|| panic!("unexpected List-Unsubscribe {link}"))
        .to_owned()
}

async fn the_email_loop_end_to_end(db: &TestDb) {
    let smtp = SmtpServer::start();
    let run = SurveyLoop::start(db, smtp.port).await;
    let planned = invite(
        db,
        &run,
        &[
            contact("T-1", "C-ID", "budi@example.co.id", "id"),
            contact("T-2", "C-EN", "maria@example.com", "en"),
        ],
    )
    .await;
    assert_eq!(planned.invited, 2);

    // Due at closed_at + 2h: not a minute before.
    run.hand.set(at("2026-11-20T02:59:00Z"));
    assert_eq!(run.dispatch(db).await.sent, 0);
    run.hand.set(at("2026-11-20T03:00:00Z"));
    let counts = run.dispatch(db).await;
    assert_eq!((counts.sent, counts.failed, counts.retried), (2, 0, 0));
    let again = run.plan(db, false).await;
    assert_eq!((again.invited, again.skipped.already_invited), (0, 2));

    let raw = smtp.wait_for(2, std::time::Duration::from_secs(10));
    assert_eq!(raw.len(), 2);
    let mut id_token = None;
    for eml in &raw {
        let message = MessageParser::default().parse(eml.as_bytes()).unwrap();
        let to = header(&message, "To");
        let indonesian = to.contains("budi@example.co.id");
        // multipart/alternative: text first, then HTML.
        assert_eq!(
            message.content_type().unwrap().subtype(),
            Some("alternative")
        );
        let parts: Vec<String> = message
            .parts
            .iter()
            .filter_map(|p| p.content_type())
            .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("")))
            .collect();
        assert_eq!(parts, ["multipart/alternative", "text/plain", "text/html"]);
        assert!(header(&message, "Message-ID").starts_with("<delivery-"));
        assert_eq!(
            header(&message, "List-Unsubscribe-Post"),
            "List-Unsubscribe=One-Click"
        );
        let token = token_of(&message, &run.app.base);
        let text = message.body_text(0).unwrap();
        let html = message.body_html(0).unwrap();
        let survey = format!("{}/s/{token}", run.app.base);
        for value in 1..=5 {
            assert!(text.contains(&format!("{survey}?r={value}")), "{text}");
        }
        assert!(
            html.contains(&format!("{}/u/{token}", run.app.base)),
            "{html}"
        );
        if indonesian {
            assert!(text.starts_with("Halo Customer C-ID"), "{text}");
            assert!(text.contains("Seberapa puas Anda"), "{text}");
            assert!(text.contains("20 November 2026"), "{text}");
            id_token = Some(token);
        } else {
            assert!(text.starts_with("Hello Customer C-EN"), "{text}");
            assert!(text.contains("How satisfied are you"), "{text}");
        }
    }
    let token = id_token.expect("the Indonesian customer's message");
    let invitation = db
        .store
        .invitation_by_token(&survey_token_digest(&token))
        .await
        .unwrap()
        .expect("the token opens its invitation");
    let answers = || db.store.answers(invitation.id);

    // A scanner following the rating link and the unsubscribe link records nothing.
    let page = reqwest::get(format!("{}/s/{token}?r=4", run.app.base))
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"value="4" checked"#), "{html}");
    assert!(html.contains(r#"<html lang="id">"#));
    assert!(answers().await.unwrap().is_empty());
    let confirm = reqwest::get(format!("{}/u/{token}", run.app.base))
        .await
        .unwrap();
    assert_eq!(confirm.status(), 200);
    db.store
        .upsert_contacts(
            &[contact("T-3", "C-ID", "budi@example.co.id", "id")],
            at(CLOSED),
        )
        .await
        .unwrap();
    let dry = run.plan(db, true).await;
    assert_eq!((dry.invited, dry.skipped.opted_out), (1, 0));

    // A bad value: 422 with the form again; nothing stored.
    let form = |pairs: &[(&str, &str)]| {
        run.app
            .client
            .post(format!("{}/s/{token}", run.app.base))
            .form(pairs)
            .send()
    };
    let refused = form(&[("csat", "9"), ("resolved", "1")]).await.unwrap();
    assert_eq!(refused.status(), 422);
    assert!(refused.text().await.unwrap().contains("role=\"alert\""));
    assert!(answers().await.unwrap().is_empty());

    // Answers are recorded, then replaced by a second submission.
    let ok = form(&[("csat", "4"), ("resolved", "1"), ("comment", "Cepat <b>")])
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.text().await.unwrap().contains("Terima kasih"));
    assert_eq!(answers().await.unwrap().len(), 3);
    let ok = form(&[("csat", "2"), ("resolved", "0")]).await.unwrap();
    assert_eq!(ok.status(), 200);
    let mut stored = answers().await.unwrap();
    stored.sort_by(|a, b| a.question.cmp(&b.question));
    let numbers: Vec<(&str, Option<i16>)> = stored
        .iter()
        .map(|a| (a.question.as_str(), a.number))
        .collect();
    assert_eq!(numbers, [("csat", Some(2)), ("resolved", Some(0))]);

    let rows = support::report_rows(db, &[Breakdown::Agent], None, None).await;
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(
        (row.keys[0].key.as_str(), row.keys[0].name.as_deref()),
        ("A-1", Some("Sari Wijaya"))
    );
    assert_eq!((row.sent, row.responses), (2, 1));
    let tally = |p: Option<surveyd::scoring::Proportion>| p.map(|p| (p.n, p.count));
    assert_eq!(
        (tally(row.csat), tally(row.fcr)),
        (Some((1, 0)), Some((1, 0)))
    );
    let all = support::report_rows(db, &[], None, None).await;
    assert_eq!((all[0].sent, all[0].responses), (2, 1));
    let by_team = support::report_rows(db, &[Breakdown::Team], None, None).await;
    assert_eq!(
        (by_team[0].keys[0].key.as_str(), by_team[0].sent),
        ("Billing", 2)
    );
    // The period is [since, until) over the time sent (03:00).
    let sent = at("2026-11-20T03:00:00Z");
    let count = |since, until| async move {
        let rows = support::report_rows(db, &[Breakdown::Campaign], since, until).await;
        rows.iter()
            .find(|r| r.sent > 0)
            .map(|r| (r.keys[0].key.clone(), r.sent))
    };
    assert_eq!(count(None, Some(sent)).await, None);
    assert_eq!(
        count(Some(sent), None).await,
        Some(("post-contact-email".to_owned(), 2))
    );

    // One-click unsubscribe: a POST with the RFC 8058 body, 200 without a redirect, twice.
    for _ in 0..2 {
        let done = run
            .app
            .client
            .post(format!("{}/u/{token}", run.app.base))
            .form(&[("List-Unsubscribe", "One-Click")])
            .send()
            .await
            .unwrap();
        assert_eq!(done.status(), 200);
        assert!(done.headers().get("location").is_none());
    }
    let dry = run.plan(db, true).await;
    assert_eq!((dry.invited, dry.skipped.opted_out), (0, 1));

    // Unknown tokens and expired invitations.
    let unknown = reqwest::get(format!("{}/s/not-a-token", run.app.base))
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    run.hand.advance(chrono::Duration::days(8));
    let late = reqwest::get(format!("{}/s/{token}", run.app.base))
        .await
        .unwrap();
    assert_eq!(late.status(), 410);
    let late = form(&[("csat", "5"), ("resolved", "1")]).await.unwrap();
    assert_eq!(late.status(), 410);
    assert_eq!(answers().await.unwrap().len(), 2);
    run.app.stop().await;
}

async fn smtp_down_then_back(db: &TestDb) {
    let port = support::free_port();
    let run = SurveyLoop::start(db, port).await;
    invite(
        db,
        &run,
        &[
            contact("T-1", "C-1", "one@example.com", "en"),
            contact("T-2", "C-2", "two@example.com", "en"),
        ],
    )
    .await;
    let counts = run.dispatch(db).await;
    assert_eq!((counts.sent, counts.retried), (0, 2));
    let status = db.store.outbox_status(run.clock.now()).await.unwrap();
    assert_eq!((status.queued, status.due), (2, 0), "queued for later");
    // The metrics' view of the queue: two waiting on email, none due yet.
    let queues = db.store.queue_depth(run.clock.now()).await.unwrap();
    assert_eq!(queues.len(), 1, "{queues:?}");
    assert_eq!(
        (
            queues[0].channel.as_str(),
            queues[0].queued,
            queues[0].due,
            queues[0].sending
        ),
        ("email", 2, 0, 0)
    );
    assert!(queues[0].oldest_queued_due_at > Some(run.clock.now()));
    let later = run.clock.now() + chrono::Duration::hours(2);
    let late = db.store.queue_depth(later).await.unwrap();
    assert_eq!(late[0].due, 2, "both due two hours on");

    let smtp = SmtpServer::start_on(port);
    run.hand.advance(chrono::Duration::hours(1));
    let counts = run.dispatch(db).await;
    assert_eq!((counts.sent, counts.retried), (2, 0));
    assert_eq!(
        smtp.wait_for(2, std::time::Duration::from_secs(10)).len(),
        2
    );
    run.app.stop().await;
}

async fn a_5xx_fails_that_delivery_only(db: &TestDb) {
    let smtp = SmtpServer::start();
    let run = SurveyLoop::start(db, smtp.port).await;
    invite(
        db,
        &run,
        &[
            contact("T-1", "C-1", "reject.me@example.com", "en"),
            contact("T-2", "C-2", "fine@example.com", "en"),
            contact("T-3", "C-3", "defer.me@example.com", "en"),
        ],
    )
    .await;
    let counts = run.dispatch(db).await;
    assert_eq!((counts.sent, counts.failed, counts.retried), (1, 1, 1));
    let failed = db.store.failed_deliveries(10).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].customer, "C-1");
    let reason = failed[0].last_error.as_deref().unwrap();
    assert!(reason.contains("550"), "{reason}");
    let status = db.store.outbox_status(run.clock.now()).await.unwrap();
    assert_eq!((status.sent, status.failed, status.queued), (1, 1, 1));
    // The deferred one waits to retry; the channel's latest error is one of the two.
    assert_eq!(status.retrying, 1);
    assert_eq!(status.latest_errors.len(), 1, "{status:?}");
    assert_eq!(status.latest_errors[0].channel, "email");
    assert!(
        status.latest_errors[0].error.contains("550")
            || status.latest_errors[0].error.contains("451"),
        "{status:?}"
    );

    // Requeued by hand, it is tried again (and refused again): the latest error now.
    run.hand.advance(chrono::Duration::seconds(10));
    assert_eq!(
        db.store
            .retry_deliveries(Some(failed[0].delivery_id), run.clock.now())
            .await
            .unwrap(),
        1
    );
    let counts = run.dispatch(db).await;
    assert_eq!((counts.sent, counts.failed), (0, 1));
    assert_eq!(smtp.messages().len(), 1);
    let latest = &db
        .store
        .outbox_status(run.clock.now())
        .await
        .unwrap()
        .latest_errors;
    assert_eq!(
        (
            latest.len(),
            latest[0].delivery_id,
            latest[0].status.as_str()
        ),
        (1, failed[0].delivery_id, "failed")
    );
    assert!(latest[0].error.contains("550"), "{latest:?}");
    // --all-failed takes every failed one (the deferred one is still queued, not failed).
    assert_eq!(
        db.store
            .retry_deliveries(None, run.clock.now())
            .await
            .unwrap(),
        1
    );
    run.app.stop().await;
}

/// Names with line breaks and other control characters (as a quoted CSV field, a JSON
/// string or a helpdesk's database can hold them) once made lettre panic and killed the
/// sender: now each message goes with the name on one line in its To header.
async fn names_with_line_breaks_go_out_on_one_header_line(db: &TestDb) {
    let smtp = SmtpServer::start();
    let run = SurveyLoop::start(db, smtp.port).await;
    let names = [
        ("budi@example.co.id", "Budi\nSantoso"),
        ("sari@example.co.id", "Sari\r\nDewi\t"),
        ("maria@example.com", "\u{85}Maria\u{2028}Lopez\u{7}"),
        ("plain@example.com", "Plain Name"),
    ];
    let contacts: Vec<ContactRecord> = names
        .iter()
        .enumerate()
        .map(|(i, (email, name))| ContactRecord {
            customer_name: Some((*name).into()),
            ..contact(&format!("T-{i}"), &format!("C-{i}"), email, "en")
        })
        .collect();
    assert_eq!(invite(db, &run, &contacts).await.invited, 4);
    let counts = run.dispatch(db).await;
    assert_eq!((counts.sent, counts.failed, counts.retried), (4, 0, 0));
    let status = db.store.outbox_status(run.clock.now()).await.unwrap();
    assert_eq!((status.sent, status.sending, status.queued), (4, 0, 0));

    let raw = smtp.wait_for(4, std::time::Duration::from_secs(10));
    let mut shown: Vec<(String, String)> = raw
        .iter()
        .map(|eml| {
            let message = MessageParser::default().parse(eml.as_bytes()).unwrap();
            let to = message.to().and_then(|to| to.first()).unwrap();
            (
                to.address().unwrap().to_owned(),
                to.name().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    shown.sort();
    assert_eq!(
        shown,
        [
            ("budi@example.co.id".into(), "Budi Santoso".into()),
            ("maria@example.com".into(), "Maria Lopez".into()),
            ("plain@example.com".into(), "Plain Name".into()),
            ("sari@example.co.id".into(), "Sari Dewi".into()),
        ]
    );
    run.app.stop().await;
}

on_both_backends!(
    the_email_loop_end_to_end,
    smtp_down_then_back,
    a_5xx_fails_that_delivery_only,
    names_with_line_breaks_go_out_on_one_header_line,
);
