//! Campaign planning on both backends: audience filters, skips by reason, dry runs, at most
//! one invitation per campaign and contact, and the contact-frequency cap across campaigns —
//! each even with two planners at once.

use crate::support;
use crate::support::TestDb;
use chrono::{DateTime, Utc};
use surveyd::campaign::Campaign;
use surveyd::campaign::sample::Sample;
use surveyd::domain::SurveyChannel;
use surveyd::domain::{ContactChannel, ContactRecord, ExternalId, Resolution};
use surveyd::store::{PlanCounts, SkipCounts};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

const NOW: &str = "2026-11-21T00:00:00Z";

fn campaign(extra_audience: &str) -> Campaign {
    toml::from_str(&format!(
        "name = \"after-contact\"\nquestionnaire = \"post-contact\"\nchannel = \"email\"\n\
         delay = \"2h\"\nexpiry = \"7d\"\n[audience]\nlookback = \"3d\"\n{extra_audience}"
    ))
    .unwrap()
}

fn contact(id: &str, customer: &str, closed: &str, email: bool) -> ContactRecord {
    let address = format!("{customer}@example.co.id");
    ContactRecord {
        customer_name: Some("Siti Lestari".into()),
        team: Some(ExternalId::parse("Billing").unwrap()),
        contact_channel: Some(ContactChannel::Phone),
        category: Some("billing".into()),
        resolution: Some(Resolution::Resolved),
        ..support::closed_contact(id, customer, email.then_some(address.as_str()), at(closed))
    }
}

/// Five contacts in the window (one without email, one opted out) and one too old.
async fn seed(db: &TestDb) {
    let mut escalated = contact("T-5", "C-5", "2026-11-20T05:00:00Z", true);
    escalated.resolution = Some(Resolution::Escalated);
    let contacts = vec![
        contact("T-1", "C-1", "2026-11-20T01:00:00Z", true),
        contact("T-2", "C-2", "2026-11-20T02:00:00Z", false),
        contact("T-3", "C-3", "2026-11-20T03:00:00Z", true),
        contact("T-4", "C-1", "2026-11-19T04:00:00Z", true),
        escalated,
        contact("T-OLD", "C-6", "2026-11-10T00:00:00Z", true),
    ];
    db.store.upsert_contacts(&contacts, at(NOW)).await.unwrap();
    assert!(
        db.store
            .opt_out("C-3", SurveyChannel::Email, "test", at(NOW))
            .await
            .unwrap()
    );
    assert!(
        !db.store
            .opt_out("C-3", SurveyChannel::Email, "test", at(NOW))
            .await
            .unwrap()
    );
}

/// `n` customers, each with one contact closed the day before [`NOW`].
async fn seed_many(db: &TestDb, n: usize) {
    let contacts: Vec<_> = (0..n)
        .map(|i| {
            contact(
                &format!("T-{i}"),
                &format!("C-{i}"),
                "2026-11-20T01:00:00Z",
                true,
            )
        })
        .collect();
    db.store.upsert_contacts(&contacts, at(NOW)).await.unwrap();
}

fn plan(eligible: u64, invited: u64, already: u64, no_address: u64, opted_out: u64) -> PlanCounts {
    PlanCounts {
        eligible,
        invited,
        skipped: SkipCounts {
            already_invited: already,
            no_address,
            opted_out,
            ..SkipCounts::default()
        },
    }
}

async fn planning_invites_once_and_counts_skips(db: &TestDb) {
    seed(db).await;
    let c = campaign("");
    let dry = db
        .store
        .plan_invitations(&c, at(NOW), true, &support::survey_key())
        .await
        .unwrap();
    assert_eq!(dry, plan(5, 3, 0, 1, 1));
    assert_eq!(
        db.store.table_counts().await.unwrap().invitations,
        0,
        "a dry run writes nothing"
    );

    assert_eq!(
        db.store
            .plan_invitations(&c, at(NOW), false, &support::survey_key())
            .await
            .unwrap(),
        dry
    );
    let counts = db.store.table_counts().await.unwrap();
    assert_eq!((counts.invitations, counts.deliveries), (3, 3));

    assert_eq!(
        db.store
            .plan_invitations(&c, at(NOW), false, &support::survey_key())
            .await
            .unwrap(),
        plan(5, 0, 3, 1, 1)
    );
    let counts = db.store.table_counts().await.unwrap();
    assert_eq!((counts.invitations, counts.deliveries), (3, 3));
}

async fn audience_filters_narrow_the_contacts(db: &TestDb) {
    seed(db).await;
    let resolved = campaign("resolutions = [\"resolved\"]");
    assert_eq!(
        db.store
            .plan_invitations(&resolved, at(NOW), true, &support::survey_key())
            .await
            .unwrap(),
        plan(4, 2, 0, 1, 1)
    );
    let other_team = campaign("teams = [\"Retail\"]");
    assert_eq!(
        db.store
            .plan_invitations(&other_team, at(NOW), true, &support::survey_key())
            .await
            .unwrap(),
        plan(0, 0, 0, 0, 0)
    );
    let billing_by_phone = campaign(
        "teams = [\"Billing\"]\ncategories = [\"billing\"]\ncontact_channels = [\"phone\"]",
    );
    assert_eq!(
        db.store
            .plan_invitations(&billing_by_phone, at(NOW), true, &support::survey_key())
            .await
            .unwrap(),
        plan(5, 3, 0, 1, 1)
    );
}

async fn opting_out_an_unknown_customer_is_an_error(db: &TestDb) {
    let err = db
        .store
        .opt_out("C-404", SurveyChannel::Email, "test", at(NOW))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no customer `C-404`"), "{err}");
}

async fn two_planners_at_once_invite_nobody_twice(db: &TestDb) {
    seed_many(db, 2500).await;
    let c = campaign("");
    let key = support::survey_key();
    let (a, b) = tokio::join!(
        db.store.plan_invitations(&c, at(NOW), false, &key),
        db.store.plan_invitations(&c, at(NOW), false, &key)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.invited + b.invited, 2500, "{a:?} {b:?}");
    assert_eq!(a.skipped.already_invited + b.skipped.already_invited, 2500);
    let counts = db.store.table_counts().await.unwrap();
    assert_eq!((counts.invitations, counts.deliveries), (2500, 2500));
}

/// The campaign named `name`, capped at one invitation per customer per `days` (0: no cap).
fn capped(name: &str, days: u64) -> Campaign {
    Campaign {
        name: name.into(),
        frequency_cap: Some(std::time::Duration::from_secs(days * 86_400)),
        ..campaign("")
    }
}

async fn the_frequency_cap_spans_campaigns_and_runs(db: &TestDb) {
    seed(db).await;
    let key = support::survey_key();
    let run = |c: Campaign, now: &str| {
        let now = at(now);
        let key = &key;
        async move {
            db.store
                .plan_invitations(&c, now, false, key)
                .await
                .unwrap()
        }
    };
    // C-1 has two contacts: one invitation (for the earlier), the other capped.
    let first = run(capped("first", 7), NOW).await;
    assert_eq!(
        (first.invited, first.skipped.frequency_cap),
        (2, 1),
        "{first:?}"
    );
    assert_eq!((first.skipped.no_address, first.skipped.opted_out), (1, 1));
    // Another capped campaign at once: every reachable customer was just invited.
    let second = run(capped("second", 7), NOW).await;
    assert_eq!(
        (second.invited, second.skipped.frequency_cap),
        (0, 3),
        "{second:?}"
    );
    // A campaign without a cap invites them all the same, and counts as their latest.
    let uncapped = run(capped("uncapped", 0), NOW).await;
    assert_eq!((uncapped.invited, uncapped.skipped.frequency_cap), (3, 0));
    // Six days on, still capped; eight days on, a new contact of C-5's is invited.
    let later = contact("T-7", "C-5", "2026-11-27T00:00:00Z", true);
    db.store.upsert_contacts(&[later], at(NOW)).await.unwrap();
    let six_days = run(capped("second", 7), "2026-11-27T01:00:00Z").await;
    assert_eq!(
        (six_days.invited, six_days.skipped.frequency_cap),
        (0, 1),
        "{six_days:?}"
    );
    let eight_days = run(capped("second", 7), "2026-11-29T00:00:00Z").await;
    assert_eq!(
        (eight_days.invited, eight_days.skipped.frequency_cap),
        (1, 0),
        "{eight_days:?}"
    );
    // The dry run's count agrees with what the cap admits.
    let dry = db
        .store
        .plan_invitations(&capped("third", 7), at("2026-11-29T00:00:00Z"), true, &key)
        .await
        .unwrap();
    assert_eq!((dry.invited, dry.skipped.frequency_cap), (0, 1), "{dry:?}");
}

async fn two_capped_campaigns_at_once_invite_each_customer_once(db: &TestDb) {
    seed_many(db, 500).await;
    let key = support::survey_key();
    let (a, b) = (capped("one", 7), capped("two", 7));
    let (a, b) = tokio::join!(
        db.store.plan_invitations(&a, at(NOW), false, &key),
        db.store.plan_invitations(&b, at(NOW), false, &key)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.invited + b.invited, 500, "{a:?} {b:?}");
    assert_eq!(a.skipped.frequency_cap + b.skipped.frequency_cap, 500);
    assert_eq!(db.store.table_counts().await.unwrap().invitations, 500);
}

async fn sampling_picks_the_same_contacts_every_run(db: &TestDb) {
    seed_many(db, 400).await;
    let c = Campaign {
        sample: Some(Sample {
            share: 0.25,
            min_per_agent: 0,
        }),
        ..campaign("")
    };
    let key = support::survey_key();
    let dry = db
        .store
        .plan_invitations(&c, at(NOW), true, &key)
        .await
        .unwrap();
    let real = db
        .store
        .plan_invitations(&c, at(NOW), false, &key)
        .await
        .unwrap();
    assert_eq!(dry, real);
    assert!((60..=140).contains(&real.invited), "{real:?}");
    assert_eq!(real.invited + real.skipped.not_sampled, 400);
    // Run again: the invited are already invited, the others still out of the sample.
    let again = db
        .store
        .plan_invitations(&c, at(NOW), false, &key)
        .await
        .unwrap();
    assert_eq!(again.invited, 0);
    assert_eq!(
        (again.skipped.already_invited, again.skipped.not_sampled),
        (real.invited, real.skipped.not_sampled)
    );
}

/// With a per-agent minimum, a sampled campaign run again invites nobody new: the agents
/// topped up in the first run count their invited contacts toward the minimum, so a
/// scheduled campaign (or a planning run taken over after a crash) does not slowly survey
/// everyone.
async fn a_topped_up_sample_is_the_same_on_every_run(db: &TestDb) {
    // 398 contacts of six agents: one agent with most of them, five with a few dozen.
    let agents = ["A-BIG", "A-1", "A-2", "A-3", "A-4", "A-5"];
    let contacts: Vec<_> = (0..398)
        .map(|i| {
            let mut c = contact(
                &format!("T-{i}"),
                &format!("C-{i}"),
                "2026-11-20T01:00:00Z",
                true,
            );
            let agent = agents[if i < 248 { 0 } else { 1 + i % 5 }];
            c.agent_id = Some(ExternalId::parse(agent).unwrap());
            c
        })
        .collect();
    db.store.upsert_contacts(&contacts, at(NOW)).await.unwrap();
    let c = Campaign {
        sample: Some(Sample {
            share: 0.25,
            min_per_agent: 5,
        }),
        ..campaign("")
    };
    let key = support::survey_key();
    let first = db
        .store
        .plan_invitations(&c, at(NOW), false, &key)
        .await
        .unwrap();
    assert_eq!(first.invited + first.skipped.not_sampled, 398, "{first:?}");
    let ids: Vec<String> = (0..398).map(|i| format!("T-{i}")).collect();
    let invited = || async {
        let mut invited: Vec<String> = db
            .store
            .invited(&c.name, &ids)
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.external_id)
            .collect();
        invited.sort();
        invited
    };
    let after_first = invited().await;
    assert_eq!(after_first.len() as u64, first.invited);
    for agent in agents {
        let mine = (0..398)
            .filter(|&i| agents[if i < 248 { 0 } else { 1 + i % 5 }] == agent)
            .filter(|i| after_first.contains(&format!("T-{i}")))
            .count();
        assert!(mine >= 5, "{agent} has {mine} invited");
    }
    for run in ["second", "third"] {
        let again = db
            .store
            .plan_invitations(&c, at(NOW), false, &key)
            .await
            .unwrap();
        assert_eq!(again.invited, 0, "the {run} run invited more: {again:?}");
        assert_eq!(
            (again.skipped.already_invited, again.skipped.not_sampled),
            (first.invited, first.skipped.not_sampled),
            "the {run} run"
        );
        assert_eq!(invited().await, after_first, "the {run} run");
    }
}

/// A contact closed longer ago than the delay and expiry together would only expire unsent:
/// it is counted as too late and gets no invitation; one closed a minute later is invited.
async fn contacts_closed_too_long_ago_are_too_late(db: &TestDb) {
    // Expiry 7d + delay 2h before NOW is 2026-11-13T22:00.
    let mut c = campaign("");
    c.audience.lookback = std::time::Duration::from_secs(14 * 86_400);
    let contacts = vec![
        contact("T-LATE", "C-1", "2026-11-13T22:00:00Z", true),
        contact("T-JUST", "C-2", "2026-11-13T22:01:00Z", true),
    ];
    db.store.upsert_contacts(&contacts, at(NOW)).await.unwrap();
    let counts = db
        .store
        .plan_invitations(&c, at(NOW), false, &support::survey_key())
        .await
        .unwrap();
    assert_eq!(
        (counts.eligible, counts.invited, counts.skipped.too_late),
        (2, 1, 1)
    );
    let invited = db
        .store
        .invited(&c.name, &["T-LATE".into(), "T-JUST".into()])
        .await
        .unwrap();
    assert_eq!(
        invited
            .iter()
            .map(|i| i.external_id.as_str())
            .collect::<Vec<_>>(),
        ["T-JUST"]
    );
}

on_both_backends!(
    a_topped_up_sample_is_the_same_on_every_run,
    contacts_closed_too_long_ago_are_too_late,
    sampling_picks_the_same_contacts_every_run,
    the_frequency_cap_spans_campaigns_and_runs,
    two_capped_campaigns_at_once_invite_each_customer_once,
    planning_invites_once_and_counts_skips,
    audience_filters_narrow_the_contacts,
    opting_out_an_unknown_customer_is_an_error,
    two_planners_at_once_invite_nobody_twice,
);
