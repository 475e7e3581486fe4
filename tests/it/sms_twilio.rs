//! The survey over SMS through Twilio, end to end: the dispatcher sends to a local emulator
//! of Twilio's Messages API, the customer's replies come back through the signed webhook,
//! and each answer brings the next question — on SQLite and PostgreSQL. Provider errors are
//! sorted as Twilio means them: invalid number and opt-out are final, throttling and outages
//! are retried.

use crate::support;
use crate::support::twilio::{Behaviour, TwilioEmulator, sid};
use crate::support::{TestApp, TestDb, closed_contact, survey_key};
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;
use surveyd::campaign::Campaign;
use surveyd::clock::{Clock, ManualClock};
use surveyd::config::Settings;
use surveyd::dispatch::{DispatchCounts, Mode};
use surveyd::domain::Phone;
use surveyd::domain::SurveyChannel;
use surveyd::store::{Breakdown, StoredAnswer};

const PUBLIC_URL: &str = "https://surveys.example.co.id";
const CUSTOMER: &str = "+6281234567890";

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

struct Sms {
    app: TestApp,
    settings: Settings,
    clock: Clock,
    hand: ManualClock,
    twilio: TwilioEmulator,
}

impl Sms {
    /// The daemon with SMS through the emulator (no rate limit) and one customer per number
    /// in `numbers`, each with a contact closed at 01:00.
    async fn start(db: &TestDb, behaviour: Behaviour, numbers: &[&str]) -> Sms {
        let twilio = TwilioEmulator::start(behaviour).await;
        let (clock, hand) = Clock::manual(at("2026-11-20T02:00:00Z"));
        let mut settings = db.settings();
        settings.survey.public_url = PUBLIC_URL.parse().unwrap();
        twilio.configure(&mut settings);
        settings.twilio.max_connections = 2;
        let base = settings.campaigns[0].clone();
        settings.campaigns = vec![Campaign {
            name: "post-contact-sms".into(),
            channels: vec![SurveyChannel::Sms],
            ..base
        }];
        let contacts = support::phone_contacts(numbers, at("2026-11-20T01:00:00Z"));
        db.store
            .upsert_contacts(&contacts, clock.now())
            .await
            .unwrap();
        let app = TestApp::spawn_with_clock(db, settings.clone(), clock.clone()).await;
        Sms {
            app,
            settings,
            clock,
            hand,
            twilio,
        }
    }

    async fn plan(&self, db: &TestDb) -> u64 {
        db.store
            .plan_invitations(
                &self.settings.campaigns[0],
                self.clock.now(),
                false,
                &survey_key(),
            )
            .await
            .unwrap()
            .invited
    }

    async fn dispatch(&self, db: &TestDb) -> DispatchCounts {
        let dispatcher = Arc::new(
            surveyd::app::dispatcher(db.store.clone(), &self.settings, self.clock.clone()).unwrap(),
        );
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        dispatcher.run(Mode::UntilIdle, stopped).await.unwrap()
    }

    /// The customer's reply, as Twilio delivers it to the webhook.
    async fn reply(&self, sid: &str, body: &str) {
        let response = support::twilio::post_signed(
            &self.app.client,
            &self.app.base,
            PUBLIC_URL,
            "/webhooks/twilio/inbound",
            &[
                ("MessageSid", sid),
                ("From", CUSTOMER),
                ("To", support::twilio::FROM),
                ("Body", body),
            ],
        )
        .await;
        assert_eq!(response.status(), 200);
    }
}

async fn answers(db: &TestDb) -> Vec<StoredAnswer> {
    // The only invitation of the test.
    let mut answers = db.store.answers(1).await.unwrap();
    answers.sort_by(|a, b| a.question.cmp(&b.question));
    answers
}

async fn a_survey_by_sms(db: &TestDb) {
    let sms = Sms::start(db, Behaviour::default(), &[CUSTOMER]).await;
    assert_eq!(sms.plan(db).await, 1);
    // Not due before closed_at + 2h.
    assert_eq!(sms.dispatch(db).await.sent, 0);
    sms.hand.set(at("2026-11-20T03:00:00Z"));
    assert_eq!(
        sms.dispatch(db).await,
        DispatchCounts {
            sent: 1,
            ..Default::default()
        }
    );
    let invite = sms.twilio.last_to(CUSTOMER);
    assert_eq!(invite.from, support::twilio::FROM);
    assert_eq!(
        invite.status_callback.as_deref(),
        Some("https://surveys.example.co.id/webhooks/twilio/status")
    );
    assert!(
        invite.body.starts_with("Halo Customer C-0, terima kasih"),
        "{}",
        invite.body
    );
    assert!(
        invite.body.contains("Seberapa puas") && invite.body.contains("Balas 1-5."),
        "{}",
        invite.body
    );

    sms.reply(&sid("r1"), "4 bintang").await;
    sms.dispatch(db).await;
    let second = sms.twilio.last_to(CUSTOMER);
    assert!(
        second.body.starts_with("Apakah masalah Anda selesai"),
        "{}",
        second.body
    );
    assert!(
        second.body.contains("Balas YA atau TIDAK."),
        "{}",
        second.body
    );

    sms.reply(&sid("r2"), "Ya").await;
    sms.dispatch(db).await;
    assert!(
        sms.twilio
            .last_to(CUSTOMER)
            .body
            .contains("(Balas - untuk melewati)")
    );
    sms.reply(&sid("r3"), "-").await;
    sms.dispatch(db).await;
    assert!(
        sms.twilio
            .last_to(CUSTOMER)
            .body
            .starts_with("Terima kasih, Customer C-0!")
    );
    assert_eq!(sms.twilio.accepted().len(), 4);
    let got: Vec<_> = answers(db)
        .await
        .into_iter()
        .map(|a| (a.question, a.number))
        .collect();
    assert_eq!(
        got,
        [
            ("csat".to_owned(), Some(4)),
            ("resolved".to_owned(), Some(1))
        ]
    );

    // Twilio reports the invitation delivered.
    let status = support::twilio::post_signed(
        &sms.app.client,
        &sms.app.base,
        PUBLIC_URL,
        "/webhooks/twilio/status",
        &[
            ("MessageSid", &invite.sid),
            ("MessageStatus", "delivered"),
            ("To", CUSTOMER),
        ],
    )
    .await;
    assert_eq!(status.status(), 200);
    assert!(
        db.store
            .inbox_status()
            .await
            .unwrap()
            .outcomes
            .contains(&("status".to_owned(), 1))
    );
}

async fn provider_errors_are_sorted(db: &TestDb) {
    let invalid = "+6281299990001";
    let opted_out = "+6281299990002";
    let behaviour = Behaviour {
        invalid: [invalid.to_owned()].into(),
        opted_out: [opted_out.to_owned()].into(),
        throttle: 1.into(),
        unavailable: 1.into(),
        ..Behaviour::default()
    };
    let sms = Sms::start(db, behaviour, &[CUSTOMER, invalid, opted_out]).await;
    assert_eq!(sms.plan(db).await, 3);
    sms.hand.set(at("2026-11-20T03:00:00Z"));
    // Two senders: the first requests meet the 429 and the 503 (whichever message they carry).
    let first = sms.dispatch(db).await;
    assert_eq!(first.sent + first.retried + first.failed, 3, "{first:?}");
    assert!(first.retried >= 1, "{first:?}");

    let status = db.store.outbox_status(sms.clock.now()).await.unwrap();
    assert!(
        status.oldest_due_at.is_none() || status.due == 0,
        "retries wait: {status:?}"
    );
    sms.hand.advance(Duration::hours(2));
    sms.dispatch(db).await;
    sms.hand.advance(Duration::hours(2));
    sms.dispatch(db).await;

    let status = db.store.outbox_status(sms.clock.now()).await.unwrap();
    assert_eq!(
        (status.sent, status.failed, status.cancelled, status.queued),
        (1, 1, 1, 0),
        "{status:?}"
    );
    let failures = db.store.failed_deliveries(10).await.unwrap();
    let reason = |status: &str| {
        failures
            .iter()
            .find(|f| f.status == status)
            .and_then(|f| f.last_error.clone())
            .unwrap_or_default()
    };
    assert!(reason("failed").contains("21211"), "{failures:?}");
    assert!(reason("cancelled").contains("21610"), "{failures:?}");
    // The opt-out Twilio reported is recorded: another SMS campaign skips that customer.
    let mut other = sms.settings.campaigns[0].clone();
    other.name = "another".into();
    let counts = db
        .store
        .plan_invitations(&other, sms.clock.now(), true, &survey_key())
        .await
        .unwrap();
    assert_eq!((counts.invited, counts.skipped.opted_out), (2, 1));
    assert_eq!(sms.twilio.accepted().len(), 1);
}

async fn without_a_provider_sms_fails_with_the_reason(db: &TestDb) {
    let mut sms = Sms::start(db, Behaviour::default(), &[CUSTOMER]).await;
    sms.settings.channels.sms = None;
    sms.plan(db).await;
    sms.hand.set(at("2026-11-20T03:00:00Z"));
    assert_eq!(sms.dispatch(db).await.failed, 1);
    let failures = db.store.failed_deliveries(10).await.unwrap();
    assert_eq!(
        failures[0].last_error.as_deref(),
        Some("no provider is configured for sms (channels.sms)")
    );
    assert!(sms.twilio.accepted().is_empty());
}

async fn a_failed_channel_moves_the_invitation_to_the_next(db: &TestDb) {
    let invalid = "+6281299990001";
    let undelivered = "+6281299990003";
    let behaviour = Behaviour {
        invalid: [invalid.to_owned()].into(),
        ..Behaviour::default()
    };
    let mut sms = Sms::start(db, behaviour, &[invalid, undelivered]).await;
    let outbox = tempfile::tempdir().unwrap();
    sms.settings.email.outbox_dir = outbox.path().to_owned();
    sms.settings.campaigns[0].channels = vec![SurveyChannel::Sms, SurveyChannel::Email];
    sms.settings.campaigns[0].reminders = vec![surveyd::campaign::Reminder {
        after: std::time::Duration::from_secs(2 * 86_400),
        channel: surveyd::campaign::ReminderChannel::Same,
    }];
    // Both customers have an email address; a third has only that.
    let mut contacts = Vec::new();
    for (i, number) in [invalid, undelivered].iter().enumerate() {
        let mut c = closed_contact(
            &format!("T-{i}"),
            &format!("C-{i}"),
            Some(&format!("c{i}@example.com")),
            at("2026-11-20T01:00:00Z"),
        );
        c.phone = Some(Phone::parse(number).unwrap());
        contacts.push(c);
    }
    contacts.push(closed_contact(
        "T-9",
        "C-9",
        Some("c9@example.com"),
        at("2026-11-20T01:00:00Z"),
    ));
    db.store
        .upsert_contacts(&contacts, sms.clock.now())
        .await
        .unwrap();
    let counts = db
        .store
        .plan_invitations(
            &sms.settings.campaigns[0],
            sms.clock.now(),
            false,
            &survey_key(),
        )
        .await
        .unwrap();
    assert_eq!(counts.invited, 3);
    sms.hand.set(at("2026-11-20T03:00:00Z"));
    let app = TestApp::spawn_with_clock(db, sms.settings.clone(), sms.clock.clone()).await;
    sms.app = app;
    // 21211 is final for SMS: that invitation is queued again as an email, due now.
    sms.dispatch(db).await;
    sms.dispatch(db).await;
    let emails = |dir: &std::path::Path| std::fs::read_dir(dir).unwrap().count();
    assert_eq!(
        emails(outbox.path()),
        2,
        "the SMS that failed and the email-only customer"
    );
    let sent = sms.twilio.last_to(undelivered);

    // Twilio later reports the other SMS undelivered: it moves to email too.
    let status = support::twilio::post_signed(
        &sms.app.client,
        &sms.app.base,
        PUBLIC_URL,
        "/webhooks/twilio/status",
        &[
            ("MessageSid", &sent.sid),
            ("MessageStatus", "undelivered"),
            ("ErrorCode", "30003"),
        ],
    )
    .await;
    assert_eq!(status.status(), 200);
    sms.dispatch(db).await;
    assert_eq!(emails(outbox.path()), 3);
    // Each invitation ended on email.
    let by_channel = support::report_rows(db, &[Breakdown::Channel], None, None).await;
    let channels: Vec<_> = by_channel
        .iter()
        .map(|r| (r.keys[0].key.as_str(), r.sent))
        .collect();
    assert_eq!(channels, [("email", 3)]);
    // The undelivered SMS's reminder gave way to the email's: every reminder goes by email.
    let status = db.store.outbox_status(sms.clock.now()).await.unwrap();
    assert_eq!(
        (status.sent, status.failed, status.cancelled, status.queued),
        (4, 1, 1, 3),
        "{status:?}"
    );
    sms.hand.advance(Duration::days(2));
    assert_eq!(sms.dispatch(db).await.sent, 3);
    assert_eq!(emails(outbox.path()), 6);
    assert_eq!(sms.twilio.accepted().len(), 1);
}

/// The SMS harness sending WhatsApp through Twilio instead, with status callbacks.
async fn whatsapp_start(db: &TestDb, template: Option<surveyd::channels::ContentTemplate>) -> Sms {
    let mut sms = Sms::start(db, Behaviour::default(), &[CUSTOMER]).await;
    sms.settings.channels.sms = None;
    sms.settings.channels.whatsapp = Some("twilio".into());
    sms.settings.twilio.whatsapp_from = Some("+14155238886".into());
    sms.settings.twilio.whatsapp_template = template;
    sms.settings.campaigns[0].channels = vec![SurveyChannel::Whatsapp];
    sms.app = TestApp::spawn_with_clock(db, sms.settings.clone(), sms.clock.clone()).await;
    *sms.twilio.behaviour.callbacks_to.lock().unwrap() = Some(sms.app.base.clone());
    assert_eq!(sms.plan(db).await, 1);
    sms.hand.set(at("2026-11-20T03:00:00Z"));
    sms
}

async fn whatsapp_through_twilio(db: &TestDb) {
    let template = surveyd::channels::ContentTemplate {
        content_sids: [
            (
                "id".to_owned(),
                "HXb5b62575e6e4ff6129ad7c8efe1f983e".to_owned(),
            ),
            (
                "en".to_owned(),
                "HX0123456789abcdef0123456789abcdef".to_owned(),
            ),
        ]
        .into(),
        parameters: vec!["customer_name".into(), "agent_name".into()],
        fallbacks: [("agent_name".to_owned(), "tim kami".to_owned())].into(),
    };
    let sms = whatsapp_start(db, Some(template)).await;
    assert_eq!(sms.dispatch(db).await.sent, 1);
    // Outside the 24-hour window: the approved Content template in the customer's language,
    // its variables filled (the agent's name missing, its fallback), and no Body.
    let invite = sms.twilio.last_to(&format!("whatsapp:{CUSTOMER}"));
    assert_eq!(invite.from, "whatsapp:+14155238886");
    assert_eq!(
        invite.content_sid.as_deref(),
        Some("HXb5b62575e6e4ff6129ad7c8efe1f983e")
    );
    let variables: serde_json::Value =
        serde_json::from_str(invite.content_variables.as_deref().unwrap()).unwrap();
    assert_eq!(
        variables,
        serde_json::json!({"1": "Customer C-0", "2": "tim kami"})
    );
    assert_eq!(invite.body, "");
    // The reply comes from a `whatsapp:` address and continues the same conversation.
    sms.twilio.customer_wrote(CUSTOMER);
    let reply = support::twilio::post_signed(
        &sms.app.client,
        &sms.app.base,
        PUBLIC_URL,
        "/webhooks/twilio/inbound",
        &[
            ("MessageSid", &sid("w1")),
            ("From", &format!("whatsapp:{CUSTOMER}")),
            ("To", "whatsapp:+14155238886"),
            ("Body", "5"),
        ],
    )
    .await;
    assert_eq!(reply.status(), 200);
    sms.dispatch(db).await;
    // Inside the window, free-form text.
    let next = sms.twilio.last_to(&format!("whatsapp:{CUSTOMER}"));
    assert_eq!(next.content_sid, None);
    assert!(
        next.body.starts_with("Apakah masalah Anda selesai"),
        "{}",
        next.body
    );
}

/// Without a Content template, a WhatsApp invitation through Twilio goes as text: Twilio
/// accepts it, then reports it failed (63016, outside the window) — the invitation fails
/// with that reason, as it would move to a next channel.
async fn free_form_whatsapp_through_twilio_fails_outside_the_window(db: &TestDb) {
    let sms = whatsapp_start(db, None).await;
    assert_eq!(sms.dispatch(db).await.sent, 1);
    support::eventually("the 63016 status applied", || async {
        db.texts("SELECT state FROM invitations").await == [Some("failed".to_owned())]
    })
    .await;
    assert!(sms.twilio.accepted().is_empty(), "nothing was delivered");
    let errors = db.texts("SELECT last_error FROM deliveries").await;
    assert_eq!(errors, [Some("Twilio error 63016".to_owned())]);
}

async fn a_stalled_provider_is_given_up_on_and_tried_again(db: &TestDb) {
    let behaviour = Behaviour {
        hang: 1.into(),
        ..Behaviour::default()
    };
    let mut sms = Sms::start(db, behaviour, &[CUSTOMER]).await;
    sms.settings.twilio.timeout = std::time::Duration::from_millis(300);
    assert_eq!(sms.plan(db).await, 1);
    sms.hand.set(at("2026-11-20T03:00:00Z"));
    // The request meets no answer: after the timeout it is a transient failure, retried later.
    let first = sms.dispatch(db).await;
    assert_eq!((first.sent, first.retried), (0, 1), "{first:?}");
    assert!(sms.twilio.accepted().is_empty());
    sms.hand.advance(Duration::hours(1));
    let second = sms.dispatch(db).await;
    assert_eq!(second.sent, 1, "{second:?}");
    assert_eq!(sms.twilio.accepted().len(), 1);
}

async fn a_failing_provider_is_paused_then_probed(db: &TestDb) {
    let behaviour = Behaviour {
        unavailable: 3.into(),
        ..Behaviour::default()
    };
    let customers: Vec<String> = (0..6).map(|i| format!("+62812345678{i}")).collect();
    let numbers: Vec<&str> = customers.iter().map(String::as_str).collect();
    let mut sms = Sms::start(db, behaviour, &numbers).await;
    sms.settings.twilio.max_connections = 1;
    sms.settings.dispatch.breaker_failures = 3;
    sms.settings.dispatch.breaker_cool_down = std::time::Duration::from_secs(60);
    assert_eq!(sms.plan(db).await, 6);
    sms.hand.set(at("2026-11-20T03:00:00Z"));
    // One daemon throughout: the breaker is its memory.
    let dispatcher = Arc::new(
        surveyd::app::dispatcher(db.store.clone(), &sms.settings, sms.clock.clone()).unwrap(),
    );
    let run = || {
        let dispatcher = Arc::clone(&dispatcher);
        async move {
            let (_stop, stopped) = tokio::sync::watch::channel(false);
            dispatcher.run(Mode::UntilIdle, stopped).await.unwrap()
        }
    };
    // Three 503s in a row open the breaker: the other three wait out the cool-down untried.
    let first = run().await;
    assert_eq!(
        (first.retried, first.deferred, first.sent),
        (3, 3, 0),
        "{first:?}"
    );
    assert_eq!(
        sms.twilio
            .behaviour
            .requests
            .load(std::sync::atomic::Ordering::SeqCst),
        3
    );
    // After it, one probe goes; it succeeds, and the rest follow.
    sms.hand.advance(Duration::seconds(60));
    let second = run().await;
    assert!(second.sent >= 3 && second.retried == 0, "{second:?}");
    // And the retries, when due.
    sms.hand.advance(Duration::hours(2));
    let third = run().await;
    assert_eq!(second.sent + third.sent, 6, "{third:?}");
    assert_eq!(sms.twilio.accepted().len(), 6);
}

async fn the_daily_cap_holds_invitations_for_the_next_day(db: &TestDb) {
    let customers: Vec<String> = (0..5).map(|i| format!("+62812345678{i}")).collect();
    let numbers: Vec<&str> = customers.iter().map(String::as_str).collect();
    let mut sms = Sms::start(db, Behaviour::default(), &numbers).await;
    sms.settings.dispatch.daily_caps = [(SurveyChannel::Sms, 3)].into();
    assert_eq!(sms.plan(db).await, 5);
    // 10:00 in Jakarta (defaults.time_zone): three go today, two wait for midnight there.
    sms.hand.set(at("2026-11-20T03:00:00Z"));
    let today = sms.dispatch(db).await;
    assert_eq!((today.sent, today.deferred), (3, 2), "{today:?}");
    assert_eq!(sms.dispatch(db).await, DispatchCounts::default());
    let midnight = at("2026-11-20T17:00:00Z");
    let status = db.store.outbox_status(midnight).await.unwrap();
    assert_eq!((status.due, status.oldest_due_at), (2, Some(midnight)));
    sms.hand.set(midnight);
    assert_eq!(sms.dispatch(db).await.sent, 2);
    assert_eq!(sms.twilio.accepted().len(), 5);
}

async fn an_overflowed_queue_sends_the_invitation_again(db: &TestDb) {
    let behaviour = Behaviour {
        overflow: 1.into(),
        ..Behaviour::default()
    };
    let mut sms = Sms::start(db, behaviour, &[CUSTOMER]).await;
    *sms.twilio.behaviour.callbacks_to.lock().unwrap() = Some(sms.app.base.clone());
    sms.settings.campaigns[0].reminders = vec![surveyd::campaign::Reminder {
        after: std::time::Duration::from_secs(2 * 86_400),
        channel: surveyd::campaign::ReminderChannel::Same,
    }];
    assert_eq!(sms.plan(db).await, 1);
    sms.hand.set(at("2026-11-20T03:00:00Z"));
    // Twilio accepts the invitation, then reports it dropped (30001) before the send is
    // answered: the status waits for the send to be recorded, then sends it again.
    assert_eq!(sms.dispatch(db).await.sent, 1);
    support::eventually("the overflowed status applied", || async {
        db.store.inbox_status().await.unwrap().outcomes == [("status_retry".to_owned(), 1)]
    })
    .await;
    let deliveries = "SELECT kind || ' ' || status || ' ' || COALESCE(provider_status, '-') \
                      FROM deliveries ORDER BY id";
    let texts = |rows: Vec<Option<String>>| rows.into_iter().flatten().collect::<Vec<_>>();
    assert_eq!(
        texts(db.texts(deliveries).await),
        [
            "invite sent failed",
            "reminder cancelled -",
            "invite queued -"
        ]
    );
    // Not at once: after the dispatcher's backoff (at most `backoff` for a first attempt).
    assert_eq!(sms.dispatch(db).await.sent, 0);
    sms.hand.advance(Duration::minutes(1));
    assert_eq!(sms.dispatch(db).await.sent, 1);
    assert_eq!(sms.twilio.accepted().len(), 1, "the second one arrived");
    assert_eq!(
        texts(db.texts(deliveries).await),
        [
            "invite sent failed",
            "reminder cancelled -",
            "invite sent -",
            "reminder queued -"
        ]
    );
    let attempts = db
        .texts("SELECT CAST(attempts AS TEXT) FROM deliveries WHERE kind = 'invite' ORDER BY id")
        .await;
    assert_eq!(texts(attempts), ["1", "2"]);
}

/// To a country where Twilio has no two-way SMS (Indonesia), `sms_mode = "auto"` sends the
/// survey page's link instead of a question — in one segment — and the reminder likewise;
/// answered on the page, the answer counts for SMS in the report. A number in a two-way
/// country (the UK) still gets the conversation.
async fn a_one_way_country_gets_the_survey_link(db: &TestDb) {
    let uk = "+447911123456";
    let mut sms = Sms::start(db, Behaviour::default(), &[CUSTOMER, uk]).await;
    sms.settings.twilio.sms_mode = surveyd::channels::TwilioSmsMode::Auto;
    sms.settings.campaigns[0].reminders = vec![surveyd::campaign::Reminder {
        after: std::time::Duration::from_secs(86_400),
        channel: surveyd::campaign::ReminderChannel::Same,
    }];
    sms.app = TestApp::spawn_with_clock(db, sms.settings.clone(), sms.clock.clone()).await;
    assert_eq!(sms.plan(db).await, 2);
    sms.hand.set(at("2026-11-20T03:00:00Z"));
    assert_eq!(sms.dispatch(db).await.sent, 2);
    let invite = sms.twilio.last_to(CUSTOMER);
    let link = format!("{PUBLIC_URL}/s/");
    let at_link = invite.body.find(&link).expect("the survey link");
    let token = invite.body[at_link + link.len()..].trim().to_owned();
    assert_eq!(token.len(), 22, "{}", invite.body);
    assert!(!invite.body.contains("Balas"), "{}", invite.body);
    assert_eq!(
        surveyd::render::sms::size(&invite.body).segments,
        1,
        "{}",
        invite.body
    );
    let conversation = sms.twilio.last_to(uk);
    assert!(
        conversation.body.contains("Balas 1-5."),
        "{}",
        conversation.body
    );
    // The reminder carries the link too.
    sms.hand.advance(Duration::days(1));
    assert_eq!(sms.dispatch(db).await.sent, 2);
    let reminder = sms.twilio.last_to(CUSTOMER);
    assert!(
        reminder.body.contains(&format!("{link}{token}")),
        "{}",
        reminder.body
    );
    assert_ne!(reminder.body, invite.body);
    // Answered on the page: an SMS invitation answered.
    let answered = sms
        .app
        .client
        .post(format!("{}/s/{token}", sms.app.base))
        .form(&[("csat", "4"), ("resolved", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 200);
    let rows = support::report_rows(db, &[Breakdown::Channel], None, None).await;
    let by_channel: Vec<_> = rows
        .iter()
        .map(|r| (r.keys[0].key.as_str(), r.sent, r.responses))
        .collect();
    assert_eq!(by_channel, [("sms", 2, 1)]);
}

on_both_backends!(
    a_one_way_country_gets_the_survey_link,
    an_overflowed_queue_sends_the_invitation_again,
    the_daily_cap_holds_invitations_for_the_next_day,
    a_failing_provider_is_paused_then_probed,
    a_stalled_provider_is_given_up_on_and_tried_again,
    whatsapp_through_twilio,
    free_form_whatsapp_through_twilio_fails_outside_the_window,
    a_failed_channel_moves_the_invitation_to_the_next,
    a_survey_by_sms,
    provider_errors_are_sorted,
    without_a_provider_sms_fails_with_the_reason,
);
