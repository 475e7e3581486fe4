//! Reminders end to end, on an injected clock and on both backends: invitations go by email
//! to a real SMTP server; a customer who answered gets no reminder; the others get the
//! reminder's own email, inside the send window (a reminder due on Sunday waits for Monday);
//! the second reminder goes on the campaign's next channel (SMS, through the Twilio emulator)
//! where the customer has a number, and the reply there is the survey's answer. A reminder
//! pushed by the window past the invitation's expiry never goes, and the expiry counts from
//! the send.

use crate::support;
use crate::support::twilio::{Behaviour, TwilioEmulator, sid};
use crate::support::{SmtpServer, TestApp, TestDb, survey_key};
use chrono::{DateTime, NaiveTime, Utc};
use mail_parser::MessageParser;
use std::sync::Arc;
use surveyd::campaign::window::SendWindow;
use surveyd::campaign::{Campaign, Reminder, ReminderChannel};
use surveyd::clock::{Clock, ManualClock};
use surveyd::config::{EmailTransport, Settings, SmtpTls};
use surveyd::dispatch::{DispatchCounts, Mode};
use surveyd::domain::SurveyChannel;
use surveyd::domain::{ContactRecord, Email, Phone, TimeZone};

const PUBLIC_URL: &str = "https://surveys.example.co.id";

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn days(n: u64) -> std::time::Duration {
    std::time::Duration::from_secs(n * 86_400)
}

/// 09:00–20:00, Monday to Friday.
fn office_hours() -> SendWindow {
    SendWindow {
        start: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
        end: NaiveTime::from_hms_opt(20, 0, 0).unwrap(),
        weekdays_only: true,
    }
}

/// The daemon (webhooks and survey pages) and what a dispatcher needs, sending email to a
/// real SMTP server and SMS to the Twilio emulator, on a clock the test moves.
struct Reminding {
    app: TestApp,
    settings: Settings,
    clock: Clock,
    hand: ManualClock,
    smtp: SmtpServer,
    twilio: TwilioEmulator,
}

impl Reminding {
    async fn start(db: &TestDb, campaign: Campaign, now: DateTime<Utc>) -> Reminding {
        let smtp = SmtpServer::start();
        let twilio = TwilioEmulator::start(Behaviour::default()).await;
        let (clock, hand) = Clock::manual(now);
        let mut settings = db.settings();
        settings.survey.public_url = PUBLIC_URL.parse().unwrap();
        settings.email.transport = EmailTransport::Smtp;
        settings.email.smtp.port = smtp.port;
        settings.email.smtp.tls = SmtpTls::None;
        settings.email.smtp.timeout = std::time::Duration::from_secs(5);
        twilio.configure(&mut settings);
        settings.campaigns = vec![campaign];
        let app = TestApp::spawn_with_clock(db, settings.clone(), clock.clone()).await;
        Reminding {
            app,
            settings,
            clock,
            hand,
            smtp,
            twilio,
        }
    }

    fn campaign(&self) -> &Campaign {
        &self.settings.campaigns[0]
    }

    async fn plan(&self, db: &TestDb, contacts: &[ContactRecord]) -> u64 {
        db.store
            .upsert_contacts(contacts, self.clock.now())
            .await
            .unwrap();
        db.store
            .plan_invitations(self.campaign(), self.clock.now(), false, &survey_key())
            .await
            .unwrap()
            .invited
    }

    async fn dispatch_at(&self, db: &TestDb, now: &str) -> DispatchCounts {
        self.hand.set(at(now));
        let dispatcher = Arc::new(
            surveyd::app::dispatcher(db.store.clone(), &self.settings, self.clock.clone()).unwrap(),
        );
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        dispatcher.run(Mode::UntilIdle, stopped).await.unwrap()
    }

    /// The survey page of contact `contact_id` (its internal id).
    fn page(&self, contact_id: i64) -> String {
        let token = survey_key().token(&self.campaign().name, contact_id);
        self.app.url(&format!("/s/{token}"))
    }

    /// The emails received so far: (recipient, subject, text body).
    fn emails(&self, count: usize) -> Vec<(String, String, String)> {
        let raw = self
            .smtp
            .wait_for(count, std::time::Duration::from_secs(10));
        assert_eq!(raw.len(), count);
        let mut emails: Vec<_> = raw
            .iter()
            .map(|eml| {
                let message = MessageParser::default().parse(eml.as_bytes()).unwrap();
                let to = message.to().and_then(|a| a.first()).unwrap();
                (
                    to.address().unwrap().to_owned(),
                    message.subject().unwrap().to_owned(),
                    message.body_text(0).unwrap().into_owned(),
                )
            })
            .collect();
        emails.sort();
        emails
    }
}

/// A customer in Jakarta (UTC+7) with an email address and, when given, a phone number;
/// the contact closed on Friday 20 November 2026 at 08:00 there.
fn contact(i: usize, phone: Option<&str>) -> ContactRecord {
    ContactRecord {
        phone: phone.map(|p| Phone::parse(p).unwrap()),
        email: Some(Email::parse(&format!("c{i}@example.co.id")).unwrap()),
        time_zone: Some(TimeZone::parse("Asia/Jakarta").unwrap()),
        ..support::closed_contact(
            &format!("T-{i}"),
            &format!("C-{i}"),
            None,
            at("2026-11-20T01:00:00Z"),
        )
    }
}

async fn reminders_go_to_those_who_have_not_answered(db: &TestDb) {
    let base = db.settings().campaigns[0].clone();
    let campaign = Campaign {
        name: "after-contact".into(),
        channels: vec![SurveyChannel::Email, SurveyChannel::Sms],
        window: Some(office_hours()),
        reminders: vec![
            Reminder {
                after: days(2),
                channel: ReminderChannel::Same,
            },
            Reminder {
                after: days(4),
                channel: ReminderChannel::Next,
            },
        ],
        ..base
    };
    let r = Reminding::start(db, campaign, at("2026-11-20T01:00:00Z")).await;
    // C-0 will answer; C-1 has a phone too; C-2 has only email.
    let planned = r
        .plan(
            db,
            &[
                contact(0, Some("+6281200000000")),
                contact(1, Some("+6281211111111")),
                contact(2, None),
            ],
        )
        .await;
    assert_eq!(planned, 3);

    // Friday 10:00 in Jakarta: the three invitations go by email.
    let sent = r.dispatch_at(db, "2026-11-20T03:00:00Z").await;
    assert_eq!(sent.sent, 3);
    let invitations = r.emails(3);
    assert!(
        invitations
            .iter()
            .all(|(_, subject, _)| subject.starts_with("Bagaimana layanan kami")),
        "{invitations:?}"
    );
    let status = db
        .store
        .outbox_status(at("2026-11-20T03:00:00Z"))
        .await
        .unwrap();
    assert_eq!(status.queued, 6, "two reminders per invitation wait");

    // C-0 answers on the survey page on Saturday.
    r.hand.set(at("2026-11-21T00:00:00Z"));
    let answered = r
        .app
        .client
        .post(r.page(1))
        .form(&[("csat", "5"), ("resolved", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 200);

    // Sunday 10:00: the first reminders are due. C-0's is cancelled (answered); the others
    // wait for Monday 09:00 (the window is weekdays only).
    let counts = r.dispatch_at(db, "2026-11-22T03:00:00Z").await;
    assert_eq!(
        counts,
        DispatchCounts {
            failed: 1,
            deferred: 2,
            ..Default::default()
        }
    );
    let cancelled = db.store.failed_deliveries(10).await.unwrap();
    assert_eq!(cancelled.len(), 1);
    assert_eq!(
        (
            cancelled[0].customer.as_str(),
            cancelled[0].status.as_str(),
            cancelled[0].last_error.as_deref()
        ),
        ("C-0", "cancelled", Some("the customer answered"))
    );
    assert_eq!(
        r.dispatch_at(db, "2026-11-23T01:59:00Z").await,
        DispatchCounts::default()
    );
    assert_eq!(r.dispatch_at(db, "2026-11-23T02:00:00Z").await.sent, 2);
    let emails = r.emails(5);
    let reminders: Vec<_> = emails
        .iter()
        .filter(|(_, subject, _)| subject.starts_with("Sekadar mengingatkan"))
        .collect();
    let to: Vec<&str> = reminders.iter().map(|(to, _, _)| to.as_str()).collect();
    assert_eq!(to, ["c1@example.co.id", "c2@example.co.id"]);
    for (_, _, text) in &reminders {
        assert!(text.contains("Kami belum menerima jawaban Anda"), "{text}");
        assert!(text.contains(&format!("{PUBLIC_URL}/s/")), "{text}");
    }

    // Tuesday 10:00: the second reminder goes on the next channel: SMS for C-1, who has a
    // number; email again for C-2, who has none. C-0's is cancelled like the first.
    let counts = r.dispatch_at(db, "2026-11-24T03:00:00Z").await;
    assert_eq!((counts.sent, counts.failed), (2, 1));
    let sms = r.twilio.last_to("+6281211111111");
    assert!(
        sms.body
            .starts_with("Halo Customer C-1, sekadar mengingatkan"),
        "{}",
        sms.body
    );
    assert!(sms.body.contains("Balas 1-5."), "{}", sms.body);
    assert_eq!(r.twilio.accepted().len(), 1);
    let emails = r.emails(6);
    assert_eq!(
        emails
            .iter()
            .filter(|(to, subject, _)| to == "c2@example.co.id"
                && subject.starts_with("Sekadar mengingatkan"))
            .count(),
        2
    );

    // C-1 answers the SMS reminder: the survey goes on over SMS.
    let reply = support::twilio::post_signed(
        &r.app.client,
        &r.app.base,
        PUBLIC_URL,
        "/webhooks/twilio/inbound",
        &[
            ("MessageSid", &sid("reply1")),
            ("From", "+6281211111111"),
            ("To", support::twilio::FROM),
            ("Body", "4"),
        ],
    )
    .await;
    assert_eq!(reply.status(), 200);
    let answers = db.store.answers(2).await.unwrap();
    assert_eq!(
        answers
            .iter()
            .map(|a| (a.question.as_str(), a.number))
            .collect::<Vec<_>>(),
        [("csat", Some(4))]
    );
    assert_eq!(r.dispatch_at(db, "2026-11-24T03:01:00Z").await.sent, 1);
    let next = r.twilio.last_to("+6281211111111");
    assert!(
        next.body.starts_with("Apakah masalah Anda selesai"),
        "{}",
        next.body
    );

    // Nothing more is queued: every reminder went or was cancelled (C-0's two).
    let status = db
        .store
        .outbox_status(at("2026-12-31T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!((status.queued, status.sent, status.cancelled), (0, 8, 2));
}

async fn a_reminder_never_goes_after_the_expiry(db: &TestDb) {
    let base = db.settings().campaigns[0].clone();
    let campaign = Campaign {
        name: "short".into(),
        channels: vec![SurveyChannel::Email],
        window: Some(SendWindow {
            weekdays_only: false,
            ..office_hours()
        }),
        expiry: days(2) + std::time::Duration::from_secs(22 * 3600),
        reminders: vec![Reminder {
            after: days(2) + std::time::Duration::from_secs(20 * 3600),
            channel: ReminderChannel::Same,
        }],
        ..base
    };
    let r = Reminding::start(db, campaign, at("2026-11-19T17:00:00Z")).await;
    // Closed at midnight in Jakarta: due at 02:00 there, outside the window.
    let mut c = contact(0, None);
    c.closed_at = at("2026-11-19T17:00:00Z");
    assert_eq!(r.plan(db, &[c]).await, 1);
    let counts = r.dispatch_at(db, "2026-11-19T19:00:00Z").await;
    assert_eq!(counts.deferred, 1);
    // Sent at 09:00 in Jakarta: open for answers until 2d 22h later, 23 November 00:00 UTC,
    // not 2d 22h after it was first due.
    assert_eq!(r.dispatch_at(db, "2026-11-20T02:00:00Z").await.sent, 1);
    r.hand.set(at("2026-11-22T18:00:00Z"));
    let page = r.app.client.get(r.page(1)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    // The reminder is due at 05:00 in Jakarta on the 23rd; the window moves it to 09:00,
    // after the expiry, so it expires unsent.
    assert_eq!(r.dispatch_at(db, "2026-11-22T22:00:00Z").await.deferred, 1);
    r.hand.set(at("2026-11-23T00:00:00Z"));
    let page = r.app.client.get(r.page(1)).send().await.unwrap();
    assert_eq!(page.status(), 410);
    let counts = r.dispatch_at(db, "2026-11-23T02:00:00Z").await;
    assert_eq!(
        counts,
        DispatchCounts {
            failed: 1,
            ..Default::default()
        }
    );
    let expired = db.store.failed_deliveries(10).await.unwrap();
    assert_eq!(
        (expired[0].status.as_str(), expired[0].channel.as_str()),
        ("expired", "email")
    );
    assert_eq!(r.emails(1).len(), 1);
}

on_both_backends!(
    reminders_go_to_those_who_have_not_answered,
    a_reminder_never_goes_after_the_expiry
);
