//! The survey on WhatsApp through Meta's Cloud API, end to end against a local emulator: the
//! invitation as an approved template (outside the 24-hour window), the next questions as
//! buttons or text once the customer has written, answers by tapping; and an invitation that
//! WhatsApp refuses (131047, no template) moving to SMS, then to email — on SQLite and
//! PostgreSQL.

use crate::support;
use crate::support::meta::MetaEmulator;
use crate::support::twilio::{Behaviour, TwilioEmulator};
use crate::support::{TestApp, TestDb, closed_contact, survey_key};
use chrono::{DateTime, Utc};
use serde_json::json;
use std::sync::Arc;
use surveyd::campaign::Campaign;
use surveyd::clock::{Clock, ManualClock};
use surveyd::config::{Secret, Settings, WhatsappTemplate};
use surveyd::dispatch::Mode;
use surveyd::domain::Phone;
use surveyd::domain::SurveyChannel;

const CUSTOMER: &str = "+6281234567890";
const WA_ID: &str = "6281234567890";

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

struct Wa {
    app: TestApp,
    settings: Settings,
    clock: Clock,
    hand: ManualClock,
    meta: MetaEmulator,
}

impl Wa {
    async fn start(
        db: &TestDb,
        channels: Vec<SurveyChannel>,
        template: Option<WhatsappTemplate>,
        edit: impl FnOnce(&mut Settings),
    ) -> Wa {
        let meta = MetaEmulator::start().await;
        let (clock, hand) = Clock::manual(at("2026-11-20T03:00:00Z"));
        let mut settings = db.settings();
        settings.channels.whatsapp = Some("meta".into());
        settings.whatsapp.base_url = meta.base.parse().unwrap();
        settings.whatsapp.phone_number_id = Some(support::meta::PHONE_NUMBER_ID.into());
        settings.whatsapp.access_token = Some(Secret::new(support::meta::ACCESS_TOKEN.into()));
        settings.whatsapp.app_secret = Some(Secret::new(support::meta::APP_SECRET.into()));
        settings.whatsapp.rate_per_second = 0.0;
        settings.whatsapp.template = template;
        let base = settings.campaigns[0].clone();
        settings.campaigns = vec![Campaign {
            name: "post-contact-wa".into(),
            channels,
            delay: std::time::Duration::from_secs(3600),
            ..base
        }];
        edit(&mut settings);
        let mut contact = closed_contact(
            "T-1",
            "C-1",
            Some("dewi@example.com"),
            at("2026-11-20T01:00:00Z"),
        );
        contact.phone = Some(Phone::parse(CUSTOMER).unwrap());
        db.store
            .upsert_contacts(&[contact], clock.now())
            .await
            .unwrap();
        let counts = db
            .store
            .plan_invitations(&settings.campaigns[0], clock.now(), false, &survey_key())
            .await
            .unwrap();
        assert_eq!(counts.invited, 1);
        let app = TestApp::spawn_with_clock(db, settings.clone(), clock.clone()).await;
        meta.statuses_to(app.url("/webhooks/whatsapp"));
        Wa {
            app,
            settings,
            clock,
            hand,
            meta,
        }
    }

    async fn dispatch(&self, db: &TestDb) -> surveyd::dispatch::DispatchCounts {
        let dispatcher = Arc::new(
            surveyd::app::dispatcher(db.store.clone(), &self.settings, self.clock.clone()).unwrap(),
        );
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        dispatcher.run(Mode::UntilIdle, stopped).await.unwrap()
    }

    async fn reply(&self, id: &str, message: serde_json::Value) {
        let url = self.app.url("/webhooks/whatsapp");
        let response = self
            .meta
            .reply(&self.app.client, &url, WA_ID, id, message)
            .await;
        assert_eq!(response.status(), 200);
    }

    fn last(&self) -> serde_json::Value {
        self.meta.accepted().last().cloned().expect("a message")
    }
}

/// An approved template in Indonesian and US English, with the customer's name and three
/// quick replies.
fn invite_template(name: &str) -> WhatsappTemplate {
    WhatsappTemplate {
        name: name.into(),
        languages: [("id", "id"), ("en", "en_US")]
            .map(|(locale, code)| (locale.to_owned(), code.to_owned()))
            .into(),
        parameters: vec!["customer_name".into()],
        fallbacks: Default::default(),
        buttons: vec!["csat_5".into(), "csat_3".into(), "csat_1".into()],
    }
}

/// A template with no approved language for the customer's locale (Indonesian here) is not
/// sent with a language Meta does not have: the invitation fails with the reason and moves
/// to the next channel.
async fn no_approved_language_moves_on_with_the_reason(db: &TestDb) {
    let outbox = tempfile::tempdir().unwrap();
    let outbox_dir = outbox.path().to_owned();
    let mut template = invite_template("survey_invite");
    template.languages = [("en".to_owned(), "en_US".to_owned())].into();
    let channels = vec![SurveyChannel::Whatsapp, SurveyChannel::Email];
    let wa = Wa::start(db, channels, Some(template), |s| {
        s.email.outbox_dir = outbox_dir;
    })
    .await;
    wa.dispatch(db).await;
    wa.dispatch(db).await;
    assert!(wa.meta.accepted().is_empty());
    assert_eq!(std::fs::read_dir(outbox.path()).unwrap().count(), 1);
    let failures = db.store.failed_deliveries(10).await.unwrap();
    let reason = failures[0].last_error.clone().unwrap_or_default();
    assert!(
        reason.contains("template `survey_invite` has no approved language for locale id"),
        "{reason}"
    );
}

async fn a_survey_on_whatsapp(db: &TestDb) {
    let template = invite_template("survey_invite");
    let wa = Wa::start(db, vec![SurveyChannel::Whatsapp], Some(template), |_| {}).await;
    wa.meta.throttle(1);
    // The throughput limit (130429) is retried later, not failed.
    assert_eq!(wa.dispatch(db).await.retried, 1);
    assert!(wa.meta.accepted().is_empty());
    wa.hand.advance(chrono::Duration::hours(1));
    assert_eq!(wa.dispatch(db).await.sent, 1);
    let invite = wa.last();
    assert_eq!(invite["to"], WA_ID);
    assert_eq!(invite["type"], "template");
    assert_eq!(invite["template"]["name"], "survey_invite");
    assert_eq!(invite["template"]["language"]["code"], "id");
    assert_eq!(
        invite["template"]["components"][0]["parameters"][0]["text"],
        "Customer C-1"
    );
    assert_eq!(
        invite["template"]["components"][1]["parameters"][0]["payload"],
        "csat_5"
    );
    assert_eq!(invite["template"]["components"][3]["index"], "2");

    // The customer taps the template's first quick reply.
    wa.reply(
        "wamid.IN1",
        json!({"type": "button", "button": {"payload": "csat_5", "text": "Sangat puas"}}),
    )
    .await;
    wa.dispatch(db).await;
    let yes_no = wa.last();
    assert_eq!(yes_no["type"], "interactive");
    assert_eq!(yes_no["interactive"]["type"], "button");
    let buttons = &yes_no["interactive"]["action"]["buttons"];
    assert_eq!(
        buttons[0]["reply"],
        json!({"id": "resolved_1", "title": "Ya"})
    );
    assert_eq!(
        buttons[1]["reply"],
        json!({"id": "resolved_0", "title": "Tidak"})
    );
    assert!(
        yes_no["interactive"]["body"]["text"]
            .as_str()
            .unwrap()
            .starts_with("Apakah masalah Anda selesai")
    );

    wa.reply(
        "wamid.IN2",
        json!({"type": "interactive", "interactive": {"type": "button_reply", "button_reply": {"id": "resolved_0", "title": "Tidak"}}}),
    )
    .await;
    wa.dispatch(db).await;
    let comment = wa.last();
    assert_eq!(comment["type"], "text");
    assert!(
        comment["text"]["body"]
            .as_str()
            .unwrap()
            .contains("(Balas - untuk melewati)")
    );
    wa.reply(
        "wamid.IN3",
        json!({"type": "text", "text": {"body": "Lama sekali 😤"}}),
    )
    .await;
    wa.dispatch(db).await;
    assert!(
        wa.last()["text"]["body"]
            .as_str()
            .unwrap()
            .starts_with("Terima kasih, Customer C-1!")
    );

    let mut answers = db.store.answers(1).await.unwrap();
    answers.sort_by(|a, b| a.question.cmp(&b.question));
    let got: Vec<_> = answers
        .iter()
        .map(|a| (a.question.as_str(), a.number, a.text.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            ("comment", None, Some("Lama sekali 😤")),
            ("csat", Some(5), None),
            ("resolved", Some(0), None)
        ]
    );
}

async fn refused_on_whatsapp_then_sms_ends_on_email(db: &TestDb) {
    // WhatsApp without a template: the invitation goes as text; Meta accepts it and reports
    // it failed (131047) before the send is even answered. SMS: Twilio calls the number
    // invalid (21211). Email remains.
    let twilio = TwilioEmulator::start(Behaviour {
        invalid: [CUSTOMER.to_owned()].into(),
        ..Behaviour::default()
    })
    .await;
    let outbox = tempfile::tempdir().unwrap();
    let outbox_dir = outbox.path().to_owned();
    let wa = Wa::start(
        db,
        vec![
            SurveyChannel::Whatsapp,
            SurveyChannel::Sms,
            SurveyChannel::Email,
        ],
        None,
        |s| {
            twilio.configure(s);
            s.email.outbox_dir = outbox_dir;
        },
    )
    .await;
    assert_eq!(wa.dispatch(db).await.sent, 1, "accepted by Meta");
    // The failure came before the send was recorded: parked, then applied once it was.
    support::eventually("the invitation moved to SMS", || async {
        db.texts("SELECT channel FROM deliveries WHERE status = 'queued'")
            .await
            == [Some("sms".to_owned())]
    })
    .await;
    let inbox = db.store.inbox_status().await.unwrap();
    assert_eq!(inbox.outcomes, [("status_failed".to_owned(), 1)]);
    for _ in 0..2 {
        wa.dispatch(db).await;
    }
    assert!(wa.meta.accepted().is_empty());
    assert!(twilio.accepted().is_empty());
    assert_eq!(std::fs::read_dir(outbox.path()).unwrap().count(), 1);
    // WhatsApp's delivery was sent, and failed later with Meta's reason.
    let whatsapp = db
        .texts(
            "SELECT provider_status || ': ' || last_error FROM deliveries \
             WHERE channel = 'whatsapp'",
        )
        .await;
    assert_eq!(
        whatsapp,
        [Some(
            "failed: WhatsApp error 131047: Re-engagement message".to_owned()
        )]
    );
    let failures = db.store.failed_deliveries(10).await.unwrap();
    let reasons: Vec<_> = failures
        .iter()
        .map(|f| (f.channel.as_str(), f.last_error.clone().unwrap_or_default()))
        .collect();
    assert!(
        reasons
            .iter()
            .any(|(ch, r)| *ch == "sms" && r.contains("21211")),
        "{reasons:?}"
    );
}

async fn a_reminder_goes_as_its_own_template(db: &TestDb) {
    let template = invite_template;
    let reminder = template("survey_reminder");
    let wa = Wa::start(
        db,
        vec![SurveyChannel::Whatsapp],
        Some(template("survey_invite")),
        |s| {
            s.whatsapp.reminder_template = Some(reminder);
            s.campaigns[0].reminders = vec![surveyd::campaign::Reminder {
                after: std::time::Duration::from_secs(86_400),
                channel: surveyd::campaign::ReminderChannel::Same,
            }];
        },
    )
    .await;
    assert_eq!(wa.dispatch(db).await.sent, 1);
    assert_eq!(wa.last()["template"]["name"], "survey_invite");
    wa.hand.advance(chrono::Duration::hours(23));
    assert_eq!(wa.dispatch(db).await.sent, 0);
    wa.hand.advance(chrono::Duration::hours(1));
    assert_eq!(wa.dispatch(db).await.sent, 1);
    // The customer has not written: outside the 24-hour window, so the approved template.
    let sent = wa.last();
    assert_eq!(sent["type"], "template");
    assert_eq!(sent["template"]["name"], "survey_reminder");
    assert_eq!(
        sent["template"]["components"][0]["parameters"][0]["text"],
        "Customer C-1"
    );
    // A tap on the reminder answers the first question.
    wa.reply(
        "wamid.IN1",
        json!({"type": "button", "button": {"payload": "csat_3", "text": "Cukup"}}),
    )
    .await;
    let answers = db.store.answers(1).await.unwrap();
    assert_eq!(
        answers
            .iter()
            .map(|a| (a.question.as_str(), a.number))
            .collect::<Vec<_>>(),
        [("csat", Some(3))]
    );
    assert_eq!(wa.meta.accepted().len(), 2);
}

on_both_backends!(
    a_survey_on_whatsapp,
    no_approved_language_moves_on_with_the_reason,
    refused_on_whatsapp_then_sms_ends_on_email,
    a_reminder_goes_as_its_own_template
);
