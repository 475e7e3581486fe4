//! Report values against values computed independently: a fixed data set (agents of two
//! teams with different satisfaction, an agent with one answer, one with 500, one with only 5s,
//! one never answered; repeat contacts; answers over two weeks either side of midnight in
//! Jakarta) goes through the store's real paths (import, planning, send, answers), and every
//! number of `--by agent`, `--by team,period` (weeks in Asia/Jakarta, days in New York across
//! the end of daylight saving) and the overall report is checked against
//! `tests/reference/reports.py` (statsmodels, scipy, numpy) — on SQLite and PostgreSQL.

use crate::support;
use surveyd::alerts::AlertRule;

use crate::support::{TestApp, TestDb, closed_contact};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use surveyd::auth::TokenHash;
use surveyd::clock::Clock;
use surveyd::config::{ConfiguredToken, Secret};
use surveyd::domain::ExternalId;
use surveyd::scoring::{Report, ReportRow};
use surveyd::store::{
    Breakdown, Parts, Period, ReportQuery, StoredAnswer, SummarySettings, Tallies,
};

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// A small deterministic generator (xorshift), so the data set is the same on every run.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.next() % 1_000_000) as f64 / 1_000_000.0 < p
    }
}

/// One invitation of the data set, as the reference script reads it.
struct Planned {
    agent: &'static str,
    team: &'static str,
    customer: String,
    category: Option<&'static str>,
    closed_at: DateTime<Utc>,
    opened_at: Option<DateTime<Utc>>,
    answer: Option<Answers>,
}

#[derive(Clone, Copy)]
struct Answers {
    delay: i64,
    csat: Option<i16>,
    nps: Option<i16>,
    ces: Option<i16>,
    fcr: Option<i16>,
}

/// Agents: (id, team, invitations, answer rate, chance of a 4–5).
const AGENTS: [(&str, &str, usize, f64, f64); 12] = [
    ("A01", "T1", 90, 0.7, 0.95),
    ("A02", "T1", 90, 0.7, 0.90),
    ("A03", "T1", 90, 0.6, 0.85),
    ("A04", "T1", 90, 0.7, 0.80),
    ("A05", "T1", 90, 0.8, 0.75),
    ("A06", "T1", 90, 0.7, 0.70),
    ("A07", "T1", 90, 0.5, 0.60),
    ("A08", "T1", 90, 0.7, 0.50),
    ("A-ONE", "T1", 1, 1.0, 1.0),
    ("A-BIG", "T1", 700, 0.72, 0.55),
    ("A20", "T2", 30, 1.0, 1.0),
    ("A21", "T2", 10, 0.0, 0.0),
];

fn data_set() -> Vec<Planned> {
    let mut dice = Dice(0x5eed_1234_abcd_0001);
    let start = at("2026-11-01T00:00:00Z");
    let categories = [Some("billing"), Some("delivery"), None];
    let mut planned = Vec::new();
    for (agent, team, count, rate, top) in AGENTS {
        for _ in 0..count {
            // Closed any minute over two weeks; many near midnight in Jakarta (17:00 UTC).
            let minute = dice.below(14 * 24 * 60) as i64;
            let closed_at = start + Duration::minutes(minute);
            let answered = dice.chance(rate);
            let all_fives = agent == "A20";
            let answer = answered.then(|| Answers {
                delay: 30 + dice.below(3 * 86_400) as i64,
                csat: (all_fives || !dice.chance(0.05)).then(|| {
                    if all_fives {
                        5
                    } else if dice.chance(top) {
                        4 + dice.below(2) as i16
                    } else {
                        1 + dice.below(3) as i16
                    }
                }),
                nps: (all_fives || dice.chance(0.8))
                    .then(|| if all_fives { 10 } else { dice.below(11) as i16 }),
                ces: (all_fives || dice.chance(0.6)).then(|| {
                    if all_fives {
                        1
                    } else {
                        1 + dice.below(7) as i16
                    }
                }),
                fcr: dice.chance(0.9).then(|| dice.below(10).min(1) as i16),
            });
            planned.push(Planned {
                agent,
                team,
                // 400 customers: many contact more than once, some in the same category.
                customer: format!("C{}", dice.below(400)),
                category: categories[dice.below(3) as usize],
                closed_at,
                opened_at: dice
                    .chance(0.8)
                    .then(|| closed_at - Duration::minutes(5 + dice.below(60 * 24 * 3) as i64)),
                answer,
            });
        }
    }
    planned.sort_by_key(|p| p.closed_at);
    planned
}

/// The `i`th planned contact as imported.
fn contact_of(i: usize, p: &Planned) -> surveyd::domain::ContactRecord {
    let mut c = closed_contact(
        &format!("T-{i:05}"),
        &p.customer,
        Some(&format!("{}@example.com", p.customer.to_lowercase())),
        p.closed_at,
    );
    c.opened_at = p.opened_at;
    c.agent_id = Some(ExternalId::parse(p.agent).unwrap());
    c.agent_name = Some(format!("Agent {}", p.agent));
    c.team = Some(ExternalId::parse(p.team).unwrap());
    c.category = p.category.map(str::to_owned);
    c
}

/// Stores the data set through the store's own paths: import, planning, the send recorded
/// at its time, the answers saved at theirs.
async fn store_data_set(db: &TestDb, planned: &[Planned]) -> Vec<Value> {
    let now = at("2026-11-16T00:00:00Z");
    let contacts: Vec<_> = planned
        .iter()
        .enumerate()
        .map(|(i, p)| contact_of(i, p))
        .collect();
    db.store.upsert_contacts(&contacts, now).await.unwrap();
    // Contact ids were given in `planned` order; each is sent two hours after its close.
    let planned_of = |c: &surveyd::store::Claimed| &planned[c.contact_id as usize - 1];
    let claimed = support::plan_and_send(db, &db.settings(), now, |c| {
        planned_of(c).closed_at + Duration::hours(2)
    })
    .await;
    assert_eq!(claimed.len(), planned.len());
    let mut invitations = Vec::new();
    for c in claimed {
        let p = planned_of(&c);
        assert_eq!(p.closed_at, c.closed_at);
        let sent_at = p.closed_at + Duration::hours(2);
        if let Some(a) = p.answer {
            let answer = |question: &str, metric: &str, number: Option<i16>| {
                number.map(|n| StoredAnswer {
                    question: question.into(),
                    metric: Some(metric.into()),
                    number: Some(n),
                    text: None,
                })
            };
            let answers: Vec<StoredAnswer> = [
                answer("csat", "csat", a.csat),
                answer("recommend", "nps", a.nps),
                answer("effort", "ces", a.ces),
                answer("resolved", "fcr", a.fcr),
            ]
            .into_iter()
            .flatten()
            .collect();
            let answered_at = sent_at + Duration::seconds(a.delay);
            assert!(
                db.store
                    .save_answers(
                        c.invitation_id,
                        &answers,
                        "email",
                        answered_at,
                        &AlertRule::default()
                    )
                    .await
                    .unwrap()
            );
        }
        invitations.push(json!({
            "agent": p.agent,
            "team": p.team,
            "sent_at": sent_at,
            "answered": p.answer.is_some(),
            "delay": p.answer.map(|a| a.delay),
            "csat": p.answer.and_then(|a| a.csat),
            "nps": p.answer.and_then(|a| a.nps),
            "ces": p.answer.and_then(|a| a.ces),
            "fcr": p.answer.and_then(|a| a.fcr),
        }));
    }
    invitations
}

const NOW: &str = "2026-11-17T00:00:00Z";

/// The reports checked, as the reference script and surveyd each name them.
fn reports() -> [(&'static str, Vec<Breakdown>, &'static str, Period); 4] {
    [
        ("all", vec![], "Asia/Jakarta", Period::Week),
        (
            "agent",
            vec![Breakdown::Agent],
            "Asia/Jakarta",
            Period::Week,
        ),
        (
            "team,period",
            vec![Breakdown::Team, Breakdown::Period],
            "Asia/Jakarta",
            Period::Week,
        ),
        (
            "agent,period (New York days)",
            vec![Breakdown::Agent, Breakdown::Period],
            "America/New_York",
            Period::Day,
        ),
    ]
}

fn reference(planned: &[Planned], invitations: Vec<Value>) -> Value {
    let contacts: Vec<Value> = planned
        .iter()
        .map(|p| {
            json!({
                "agent": p.agent,
                "team": p.team,
                "customer": p.customer,
                "category": p.category,
                "opened_at": p.opened_at,
                "closed_at": p.closed_at,
            })
        })
        .collect();
    let specs: serde_json::Map<String, Value> = reports()
        .into_iter()
        .map(|(name, by, tz, period)| {
            let by: Vec<&str> = by.iter().map(|b| b.as_ref()).collect();
            (
                name.to_owned(),
                json!({ "by": by, "time_zone": tz, "period": period.as_ref() }),
            )
        })
        .collect();
    let input = json!({
        "now": NOW,
        "top_box": 4,
        "repeat_days": 7,
        "min_answers": 10,
        "invitations": invitations,
        "contacts": contacts,
        "reports": specs,
    });
    if let Ok(path) = std::env::var("REPORTS_REFERENCE_INPUT") {
        std::fs::write(path, input.to_string()).unwrap();
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/reference/reports.py");
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs the reference script");
    serde_json::to_writer(child.stdin.take().unwrap(), &input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the reference script failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn close(what: &str, ours: f64, theirs: &Value, tolerance: f64) {
    let theirs = theirs
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: {theirs}"));
    assert!(
        (ours - theirs).abs() <= tolerance,
        "{what}: surveyd {ours}, reference {theirs}"
    );
}

/// An estimate `[value, low, high, n]` (the reference's) against ours.
fn estimate(what: &str, ours: Option<(f64, f64, f64, u64)>, theirs: &Value) {
    match (ours, theirs.as_array()) {
        (None, None) => {}
        (Some((value, low, high, n)), Some(t)) => {
            close(&format!("{what} value"), value, &t[0], 1e-9);
            close(&format!("{what} low"), low, &t[1], 1e-6);
            close(&format!("{what} high"), high, &t[2], 1e-6);
            assert_eq!(Some(n), t[3].as_u64(), "{what} n");
        }
        (ours, _) => panic!("{what}: surveyd {ours:?}, reference {theirs}"),
    }
}

fn check_row(what: &str, row: &ReportRow, expected: &Value) {
    assert_eq!(Some(row.sent), expected["sent"].as_u64(), "{what} sent");
    assert_eq!(
        Some(row.responses),
        expected["responses"].as_u64(),
        "{what} responses"
    );
    assert_eq!(
        Some(row.enough_answers),
        expected["enough"].as_bool(),
        "{what} enough"
    );
    let share = |p: &Option<surveyd::scoring::Proportion>| p.map(|p| (p.value, p.low, p.high, p.n));
    estimate(
        &format!("{what} response rate"),
        share(&row.response_rate),
        &expected["response_rate"],
    );
    estimate(&format!("{what} CSAT"), share(&row.csat), &expected["csat"]);
    estimate(&format!("{what} FCR"), share(&row.fcr), &expected["fcr"]);
    estimate(
        &format!("{what} FCR contacts"),
        share(&row.fcr_contacts),
        &expected["fcr_contacts"],
    );
    estimate(
        &format!("{what} NPS"),
        row.nps.map(|p| (p.value, p.low, p.high, p.n)),
        &expected["nps"],
    );
    estimate(
        &format!("{what} CES"),
        row.ces.map(|p| (p.value, p.low, p.high, p.n)),
        &expected["ces"],
    );
    match (row.median_answer_seconds, expected["median"].as_f64()) {
        (None, None) => {}
        // Medians come from 10% bands.
        (Some(ours), Some(theirs)) => assert!(
            (ours / theirs - 1.0).abs() <= 0.1,
            "{what} median: surveyd {ours}, reference {theirs}"
        ),
        (ours, theirs) => panic!("{what} median: surveyd {ours:?}, reference {theirs:?}"),
    }
    if let Some(s) = expected.get("csat_shrunk").and_then(Value::as_array) {
        let ours = row
            .csat_shrunk
            .unwrap_or_else(|| panic!("{what}: no shrunk CSAT"));
        close(&format!("{what} shrunk"), ours.value, &s[0], 1e-9);
        close(&format!("{what} shrunk low"), ours.low, &s[1], 1e-6);
        close(&format!("{what} shrunk high"), ours.high, &s[2], 1e-6);
    }
    match (&row.trend, expected.get("trend")) {
        (None, None) => {}
        (Some(ours), Some(theirs)) => {
            assert_eq!(
                ours.previous_period,
                theirs["previous_period"].as_str().unwrap()
            );
            for (name, change, scale) in [("csat", ours.csat, 1.0), ("nps", ours.nps, 1.0)] {
                match (change, theirs.get(name)) {
                    (None, None) => {}
                    (Some(c), Some(t)) => {
                        close(
                            &format!("{what} {name} change"),
                            c.change * scale,
                            &t[0],
                            1e-9,
                        );
                        close(&format!("{what} {name} z"), c.z, &t[1], 1e-6);
                        assert_eq!(c.significant, t[1].as_f64().unwrap().abs() > 1.959964);
                    }
                    (c, t) => panic!("{what} {name} change: surveyd {c:?}, reference {t:?}"),
                }
            }
        }
        (ours, theirs) => panic!("{what} trend: surveyd {ours:?}, reference {theirs:?}"),
    }
}

async fn reports_match_the_reference(db: &TestDb) {
    let planned = data_set();
    let invitations = store_data_set(db, &planned).await;
    let expected = reference(&planned, invitations);
    let settings = db.settings();
    for (name, by, tz, period) in reports() {
        let query = ReportQuery {
            by: by.clone(),
            period,
            time_zone: surveyd::domain::TimeZone::parse(tz).unwrap(),
            since: None,
            until: None,
            csat_top_box: settings.reports.csat_top_box,
            repeat_window: Some(Duration::days(7)),
            now: at(NOW),
        };
        // From the rows, then from the per-day summary counted in the report's zone.
        for from_summary in [false, true] {
            let tallies = if from_summary {
                db.store
                    .refresh_report_days(&summary_settings(&query))
                    .await
                    .unwrap();
                db.store.report_tallies(&query).await.unwrap()
            } else {
                db.store
                    .report_tallies_from_rows(&query, Parts::All)
                    .await
                    .unwrap()
            };
            let label = format!("{name} ({})", if from_summary { "summary" } else { "rows" });
            check_report(
                &Report::new(&query, tallies, 10),
                &expected[name],
                &label,
                &by,
            );
        }
    }
}

/// A report of everything stored, in Asia/Jakarta, CSAT from 4 up, as of [`NOW`].
fn jakarta(by: Vec<Breakdown>, repeat_window: Option<Duration>) -> ReportQuery {
    ReportQuery {
        by,
        period: Period::Week,
        time_zone: surveyd::domain::TimeZone::parse("Asia/Jakarta").unwrap(),
        since: None,
        until: None,
        csat_top_box: 4,
        repeat_window,
        now: at(NOW),
    }
}

/// The summary settings a query reads.
fn summary_settings(query: &ReportQuery) -> SummarySettings {
    SummarySettings {
        time_zone: query.time_zone,
        repeat_window: query.repeat_window.unwrap(),
        csat_top_box: query.csat_top_box,
    }
}

fn check_report(report: &Report, expected: &Value, name: &str, by: &[Breakdown]) {
    let expected = expected.as_object().unwrap();
    let ours: BTreeMap<String, &ReportRow> = report
        .rows
        .iter()
        .map(|r| {
            let key: Vec<&str> = r.keys.iter().map(|k| k.key.as_str()).collect();
            (key.join("|"), r)
        })
        .collect();
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "{name}: the groups"
    );
    for (key, row) in &ours {
        check_row(&format!("{name} [{key}]"), row, &expected[key.as_str()]);
    }
    if by == [Breakdown::Agent] {
        agent_leaderboard(report, expected);
    }
}

/// The leaderboard ranks agents with enough answers by shrunk CSAT; shrinking moves the
/// one-answer agent near the team's mean and leaves the 500-answer one near its own.
fn agent_leaderboard(report: &Report, expected: &serde_json::Map<String, Value>) {
    let row = |agent: &str| report.rows.iter().find(|r| r.keys[0].key == agent).unwrap();
    let team_mean = {
        let (x, n) = report
            .rows
            .iter()
            .filter(|r| expected[&r.keys[0].key]["team"] == "T1")
            .filter_map(|r| r.csat)
            .fold((0, 0), |(x, n), p| (x + p.count, n + p.n));
        x as f64 / n as f64
    };
    let one = row("A-ONE");
    assert_eq!(one.csat.unwrap().value, 1.0);
    let shrunk = one.csat_shrunk.unwrap().value;
    assert!(
        (shrunk - team_mean).abs() <= 0.2 * (1.0 - team_mean),
        "one answer moves most of the way to the team: shrunk {shrunk}, team mean {team_mean}"
    );
    assert!(!one.enough_answers && one.rank.is_none());
    let big = row("A-BIG");
    assert!(big.csat.unwrap().n >= 450);
    let (raw, shrunk) = (big.csat.unwrap().value, big.csat_shrunk.unwrap().value);
    assert!(
        (shrunk - raw).abs() <= 0.1 * (raw - team_mean).abs(),
        "500 answers stay near their own: raw {raw}, shrunk {shrunk}, team mean {team_mean}"
    );
    // Edge cases: never answered; only 5s.
    let none = row("A21");
    assert!(none.csat.is_none() && none.nps.is_none() && none.rank.is_none());
    assert_eq!(none.response_rate.unwrap().value, 0.0);
    let fives = row("A20");
    assert_eq!(fives.csat.unwrap().high, 1.0);
    assert_eq!(fives.nps.unwrap().value, 100.0);
    // Ranked rows come first, by shrunk CSAT.
    let ranked: Vec<&ReportRow> = report.rows.iter().filter(|r| r.rank.is_some()).collect();
    assert_eq!(
        ranked.iter().map(|r| r.rank.unwrap()).collect::<Vec<_>>(),
        (1..=ranked.len() as u32).collect::<Vec<_>>()
    );
    assert!(
        ranked
            .windows(2)
            .all(|w| w[0].csat_shrunk.unwrap().value >= w[1].csat_shrunk.unwrap().value)
    );
    assert_eq!(report.rows[..ranked.len()].len(), ranked.len());
    assert!(report.rows[..ranked.len()].iter().all(|r| r.rank.is_some()));
}

/// `GET /v1/reports/scores` serves the report the library computes, for a bearer token only.
async fn the_api_serves_reports(db: &TestDb) {
    let planned = data_set();
    store_data_set(db, &planned).await;
    let mut settings = db.settings();
    settings.api.tokens = vec![ConfiguredToken {
        name: "bi".into(),
        sha256: Secret::new(TokenHash::of(TOKEN)),
    }];
    let (clock, _hand) = Clock::manual(at(NOW));
    let app = TestApp::spawn_with_clock(db, settings.clone(), clock).await;
    let client = reqwest::Client::new();
    let url = app.url("/v1/reports/scores?by=team,period&period=week&since=2026-11-02");
    let anonymous = client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), reqwest::StatusCode::UNAUTHORIZED);
    let served: Value = client
        .get(&url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let query = settings.reports.query(
        &settings.defaults,
        vec![Breakdown::Team, Breakdown::Period],
        Some(Period::Week),
        // Midnight in Jakarta.
        (Some(at("2026-11-01T17:00:00Z")), None),
        at(NOW),
    );
    let computed = Report::run(&db.store, &query, settings.reports.min_answers)
        .await
        .unwrap();
    // Both through JSON text, as served.
    let computed: Value = serde_json::from_str(&serde_json::to_string(&computed).unwrap()).unwrap();
    assert!(served == computed, "served {served}\n\ncomputed {computed}");
    assert_eq!(
        served["rows"].as_array().unwrap().len(),
        4,
        "two teams, two weeks"
    );
    let bad = client
        .get(app.url("/v1/reports/scores?by=team,shoe"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), reqwest::StatusCode::BAD_REQUEST);
    let error = bad.json::<Value>().await.unwrap()["error"].to_string();
    assert!(error.contains("`by`: `shoe` is not a breakdown"), "{error}");
    app.stop().await;
}

/// FCR from the contact records follows imports in any order: a contact imported later, of the
/// same customer and category and opened within the window, makes an earlier one a repeat;
/// another category or a later opening does not.
async fn a_later_import_makes_an_earlier_contact_a_repeat(db: &TestDb) {
    let contact = |id: &str, category: &str, closed: &str, opened: &str| {
        let mut c = closed_contact(id, "C-1", Some("c1@example.co.id"), at(closed));
        c.category = Some(category.into());
        c.opened_at = Some(at(opened));
        c
    };
    let fcr = || async {
        let query = ReportQuery {
            until: Some(at("2026-11-02T00:00:00Z")),
            ..jakarta(vec![], Some(Duration::days(7)))
        };
        // With the import noted but not yet in the summary, then with the summary refreshed.
        let pending = Report::run(&db.store, &query, 10).await.unwrap();
        db.store
            .refresh_report_days(&summary_settings(&query))
            .await
            .unwrap();
        let refreshed = Report::run(&db.store, &query, 10).await.unwrap();
        let fcr = |r: &Report| r.rows[0].fcr_contacts.map(|p| (p.count, p.n));
        assert_eq!(fcr(&pending), fcr(&refreshed));
        fcr(&refreshed)
    };
    let now = at("2026-11-16T00:00:00Z");
    let first = contact(
        "T-1",
        "billing",
        "2026-11-01T10:00:00Z",
        "2026-11-01T09:00:00Z",
    );
    db.store.upsert_contacts(&[first], now).await.unwrap();
    assert_eq!(
        fcr().await,
        Some((1, 1)),
        "alone, it was resolved at first contact"
    );
    let elsewhere = contact(
        "T-2",
        "delivery",
        "2026-11-03T10:00:00Z",
        "2026-11-03T09:00:00Z",
    );
    let too_late = contact(
        "T-3",
        "billing",
        "2026-11-09T10:00:00Z",
        "2026-11-08T11:00:00Z",
    );
    db.store
        .upsert_contacts(&[elsewhere, too_late], now)
        .await
        .unwrap();
    assert_eq!(
        fcr().await,
        Some((1, 1)),
        "another category, or eight days on"
    );
    let repeat = contact(
        "T-4",
        "billing",
        "2026-11-05T10:00:00Z",
        "2026-11-05T09:00:00Z",
    );
    db.store.upsert_contacts(&[repeat], now).await.unwrap();
    assert_eq!(
        fcr().await,
        Some((0, 1)),
        "opened four days after it closed"
    );
}

/// The time to answer runs from the send to the first answer: a customer who changes their
/// answers later keeps the time of their first ones (and their first `answered_at`).
async fn a_changed_answer_keeps_the_first_time_to_answer(db: &TestDb) {
    let sent_at = at("2026-11-02T03:00:00Z");
    let contacts: Vec<_> = (0..3)
        .map(|i| {
            closed_contact(
                &format!("T-{i}"),
                &format!("C-{i}"),
                Some(&format!("c{i}@example.com")),
                sent_at - Duration::hours(2),
            )
        })
        .collect();
    let now = at("2026-11-16T00:00:00Z");
    db.store.upsert_contacts(&contacts, now).await.unwrap();
    let claimed = support::plan_and_send(db, &db.settings(), now, |_| sent_at).await;
    assert_eq!(claimed.len(), 3);
    let csat = |n: i16| {
        vec![StoredAnswer {
            question: "csat".into(),
            metric: Some("csat".into()),
            number: Some(n),
            text: None,
        }]
    };
    // First answers after 20, 22 and 25 s; each changed minutes later.
    for (c, (first, again)) in claimed.iter().zip([(20, 400), (22, 300), (25, 200)]) {
        for (seconds, rating) in [(first, 2), (again, 5)] {
            let saved = db
                .store
                .save_answers(
                    c.invitation_id,
                    &csat(rating),
                    "email",
                    sent_at + Duration::seconds(seconds),
                    &AlertRule::default(),
                )
                .await
                .unwrap();
            assert!(saved);
        }
    }
    let firsts = db
        .texts("SELECT CAST(answer_seconds AS TEXT) FROM invitations ORDER BY answer_seconds")
        .await;
    assert_eq!(
        firsts,
        [Some("20".into()), Some("22".into()), Some("25".into())]
    );
    let query = jakarta(vec![], None);
    let rows = db
        .store
        .report_tallies_from_rows(&query, Parts::All)
        .await
        .unwrap();
    db.store
        .refresh_report_days(&SummarySettings {
            time_zone: query.time_zone,
            repeat_window: Duration::days(7),
            csat_top_box: 4,
        })
        .await
        .unwrap();
    let summary = db.store.report_tallies(&query).await.unwrap();
    for (path, tallies) in [("rows", rows), ("summary", summary)] {
        let row = &Report::new(&query, tallies, 1).rows[0];
        let median = row.median_answer_seconds.unwrap();
        assert!(
            (median / 22.0 - 1.0).abs() <= 0.1,
            "{path}: median {median} s, the first answers' is 22 s"
        );
        // The answers themselves are the latest ones.
        assert_eq!(row.csat.map(|p| (p.count, p.n)), Some((3, 3)), "{path}");
    }
}

/// FCR from the contacts by its definition: a contact is a repeat when another contact of the
/// customer in the category was *opened* within the window after it closed — whichever of
/// them closes first — and a contact opened before it closed is no repeat of it. Counted the
/// same from the rows, from the summary with the new contacts noted but not counted, and
/// from the summary refreshed.
async fn a_repeat_is_any_contact_opened_within_the_window(db: &TestDb) {
    let contact = |id: &str, customer: &str, agent: &str, opened: &str, closed: &str| {
        let mut c = closed_contact(id, customer, None, at(closed));
        c.category = Some("billing".into());
        c.opened_at = Some(at(opened));
        c.agent_id = Some(ExternalId::parse(agent).unwrap());
        c
    };
    let query = jakarta(vec![Breakdown::Agent], Some(Duration::hours(12)));
    let settings = summary_settings(&query);
    let query = &query;
    let fcr = |stage: &'static str| async move {
        let rows = db
            .store
            .report_tallies_from_rows(query, Parts::Contacts)
            .await
            .unwrap();
        let summary = db.store.report_tallies(query).await.unwrap();
        let mut out = Vec::new();
        for (path, tallies) in [("rows", rows), ("summary", summary)] {
            let mut by_agent: Vec<(String, u64, u64)> = Report::new(query, tallies, 1)
                .rows
                .iter()
                .filter_map(|r| Some((r.keys[0].key.clone(), r.fcr_contacts?)))
                .map(|(agent, p)| (agent, p.count, p.n))
                .collect();
            by_agent.sort();
            out.push((path, by_agent));
        }
        assert_eq!(out[0].1, out[1].1, "{stage}: rows and summary");
        out.remove(0).1
    };
    let now = at("2026-11-16T00:00:00Z");
    // A closes at 23:00 in Jakarta; the summary is counted with A alone.
    let a = contact(
        "T-A",
        "C-1",
        "A",
        "2026-11-03T15:00:00Z",
        "2026-11-03T16:00:00Z",
    );
    db.store.upsert_contacts(&[a], now).await.unwrap();
    db.store.refresh_report_days(&settings).await.unwrap();
    assert_eq!(fcr("alone").await, [("A".to_owned(), 1, 1)]);
    // C opens an hour after A closed (the next day in Jakarta) and stays open for a day;
    // B opens 13 hours after A closed (outside the window) and closes first.
    let c = contact(
        "T-C",
        "C-1",
        "C",
        "2026-11-03T17:00:00Z",
        "2026-11-04T22:00:00Z",
    );
    let b = contact(
        "T-B",
        "C-1",
        "B",
        "2026-11-04T05:00:00Z",
        "2026-11-04T06:00:00Z",
    );
    // E closes two hours after F opened: F is no repeat of E.
    let e = contact(
        "T-E",
        "C-2",
        "E",
        "2026-11-05T01:00:00Z",
        "2026-11-05T03:00:00Z",
    );
    let f = contact(
        "T-F",
        "C-2",
        "F",
        "2026-11-05T01:00:00Z",
        "2026-11-05T04:00:00Z",
    );
    db.store.upsert_contacts(&[c, b, e, f], now).await.unwrap();
    let expected = [
        ("A".to_owned(), 0, 1),
        ("B".to_owned(), 1, 1),
        ("C".to_owned(), 1, 1),
        ("E".to_owned(), 1, 1),
        ("F".to_owned(), 1, 1),
    ];
    assert_eq!(fcr("noted").await, expected);
    db.store.refresh_report_days(&settings).await.unwrap();
    assert_eq!(fcr("refreshed").await, expected);
}

/// The summary's days counted before the repeat definition changed (migration 0014) are
/// counted again after the upgrade: a day stored with no contacts at all reads, once
/// migrated, as its rows count it — two contacts, one of them a repeat.
async fn an_upgrade_counts_the_summary_again(db: TestDb) {
    let (earlier, pending, _folder) = support::migrations_before(&db, "0014").await;
    let now = at("2026-11-16T00:00:00Z");
    let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 3).unwrap();
    // Two contacts of one customer that day in Jakarta, the second opened an hour after the
    // first closed; a summary that counted that day (as empty) and every change since.
    let customer =
        "INSERT INTO customers (id, external_id, created_at, updated_at) VALUES (1, 'C-1', $1, $1)";
    let contact = "INSERT INTO contacts (id, external_id, customer_id, category, opened_at, closed_at, \
                   created_at, updated_at) VALUES ($1, $2, 1, 'billing', $3, $4, $5, $5)";
    let contacts = [
        (1, "T-1", "2026-11-03T01:00:00Z", "2026-11-03T02:00:00Z"),
        (2, "T-2", "2026-11-03T03:00:00Z", "2026-11-03T04:00:00Z"),
    ];
    let summary = "INSERT INTO report_summary (id, time_zone, repeat_window_seconds, csat_top_box) \
                   VALUES (1, 'Asia/Jakarta', 604800, 4)";
    // postcard's empty list: a day without data.
    let stored_day = "INSERT INTO report_days (day, dimension, tallies) VALUES ($1, 'all', $2)";
    macro_rules! before_0014 {
        ($pool:expr) => {{
            earlier.run($pool).await.unwrap();
            sqlx::query(customer)
                .bind(now)
                .execute($pool)
                .await
                .unwrap();
            for (id, external, opened, closed) in contacts {
                sqlx::query(contact)
                    .bind(id as i64)
                    .bind(external)
                    .bind(at(opened))
                    .bind(at(closed))
                    .bind(now)
                    .execute($pool)
                    .await
                    .unwrap();
            }
            sqlx::query(summary).execute($pool).await.unwrap();
            sqlx::query(stored_day)
                .bind(day)
                .bind(vec![0u8])
                .execute($pool)
                .await
                .unwrap();
            sqlx::query("DELETE FROM report_changes")
                .execute($pool)
                .await
                .unwrap();
        }};
    }
    match &db.raw {
        crate::support::Raw::Sqlite(pool) => before_0014!(pool),
        crate::support::Raw::Postgres(pool) => before_0014!(pool),
    }
    assert_eq!(db.store.migrate().await.unwrap(), pending);
    let query = jakarta(vec![], Some(Duration::days(7)));
    let fcr = |tallies: Tallies| {
        Report::new(&query, tallies, 1)
            .rows
            .first()
            .and_then(|r| r.fcr_contacts)
            .map(|p| (p.count, p.n))
    };
    let read = fcr(db.store.report_tallies(&query).await.unwrap());
    assert_eq!(read, Some((1, 2)), "read after the upgrade");
    let counted = db
        .store
        .refresh_report_days(&summary_settings(&query))
        .await
        .unwrap();
    assert_eq!(counted, 1, "the stored day is counted again");
    assert_eq!(fcr(db.store.report_tallies(&query).await.unwrap()), read);
}

#[tokio::test]
async fn sqlite_an_upgrade_counts_the_summary_again() {
    an_upgrade_counts_the_summary_again(TestDb::sqlite_unmigrated().await).await;
}

#[tokio::test]
async fn postgres_an_upgrade_counts_the_summary_again() {
    if let Some(db) = TestDb::postgres_unmigrated().await {
        an_upgrade_counts_the_summary_again(db).await;
    }
}

/// Tallies in key order, to compare.
fn sorted(mut t: Tallies) -> Tallies {
    t.groups
        .sort_by(|a, b| (&a.keys.key1, &a.keys.key2).cmp(&(&b.keys.key1, &b.keys.key2)));
    t.bands.sort_by(|a, b| {
        (&a.keys.key1, &a.keys.key2, a.band).cmp(&(&b.keys.key1, &b.keys.key2, b.band))
    });
    if let Some(r) = t.repeats.as_mut() {
        r.sort_by(|a, b| (&a.keys.key1, &a.keys.key2).cmp(&(&b.keys.key1, &b.keys.key2)));
    }
    t
}

/// Every kind of report the summary serves counts the same from it as from the rows: one
/// breakdown or none, with periods of each length, over ranges that start and end mid-day or
/// at midnight or inside one day — with the summary fresh, with changes noted but not yet
/// counted (a contact moved to another agent, a new contact making an earlier one a repeat),
/// and refreshed again.
async fn the_summary_counts_what_the_rows_count(db: &TestDb) {
    let planned = data_set();
    store_data_set(db, &planned).await;
    let jakarta = surveyd::domain::TimeZone::parse("Asia/Jakarta").unwrap();
    let settings = SummarySettings {
        time_zone: jakarta,
        repeat_window: Duration::days(7),
        csat_top_box: 4,
    };
    let days = db.store.refresh_report_days(&settings).await.unwrap();
    assert!(days >= 15, "two weeks of sends and closes: {days} days");
    let compare = |stage: &'static str| async move {
        let some = |t: &str| Some(at(t));
        let ranges = [
            (None, None),
            // Mid-day in Jakarta at both ends, then only one end.
            (some("2026-11-05T05:17:00Z"), some("2026-11-12T13:00:00Z")),
            (some("2026-11-05T05:17:00Z"), None),
            (None, some("2026-11-12T13:00:00Z")),
            // Jakarta midnights; and inside one day.
            (some("2026-11-04T17:00:00Z"), some("2026-11-10T17:00:00Z")),
            (some("2026-11-06T01:00:00Z"), some("2026-11-06T09:00:00Z")),
        ];
        let mut by_lists: Vec<(Vec<Breakdown>, Period)> = [
            Breakdown::Agent,
            Breakdown::Team,
            Breakdown::Campaign,
            Breakdown::Channel,
            Breakdown::Category,
            Breakdown::ContactChannel,
        ]
        .into_iter()
        .flat_map(|b| {
            [
                (vec![b], Period::Week),
                (vec![b, Breakdown::Period], Period::Day),
            ]
        })
        .collect();
        by_lists.push((vec![], Period::Week));
        for period in [Period::Day, Period::Week, Period::Month] {
            by_lists.push((vec![Breakdown::Period], period));
            by_lists.push((vec![Breakdown::Period, Breakdown::Team], period));
        }
        for (since, until) in ranges {
            for (by, period) in &by_lists {
                let query = ReportQuery {
                    by: by.clone(),
                    period: *period,
                    time_zone: jakarta,
                    since,
                    until,
                    csat_top_box: 4,
                    repeat_window: Some(Duration::days(7)),
                    now: at(NOW),
                };
                let summary = sorted(db.store.report_tallies(&query).await.unwrap());
                let rows = sorted(
                    db.store
                        .report_tallies_from_rows(&query, Parts::All)
                        .await
                        .unwrap(),
                );
                let what = format!("{stage}: {by:?} by {period:?} from {since:?} to {until:?}");
                assert!(
                    !rows.groups.is_empty() || since.is_some(),
                    "{what}: no data"
                );
                assert_eq!(summary.groups, rows.groups, "{what}: tallies");
                assert_eq!(summary.bands, rows.bands, "{what}: bands");
                assert_eq!(summary.repeats, rows.repeats, "{what}: repeats");
            }
        }
    };
    compare("fresh").await;

    // Changes noted, not counted: a contact moves to another agent and team; a new contact
    // follows an earlier one of the same customer and category a day after it closed.
    let now = at("2026-11-16T00:00:00Z");
    let moved = planned
        .iter()
        .position(|p| p.agent == "A01" && p.answer.is_some())
        .unwrap();
    let mut record = contact_of(moved, &planned[moved]);
    record.agent_id = Some(ExternalId::parse("A21").unwrap());
    record.team = Some(ExternalId::parse("T2").unwrap());
    let earlier = &planned[40];
    let mut follow_up = contact_of(planned.len(), earlier);
    follow_up.opened_at = Some(earlier.closed_at + Duration::days(1));
    follow_up.closed_at = earlier.closed_at + Duration::days(1) + Duration::hours(1);
    db.store
        .upsert_contacts(&[record, follow_up], now)
        .await
        .unwrap();
    compare("changes noted").await;
    let recounted = db.store.refresh_report_days(&settings).await.unwrap();
    assert!(
        (1..=6).contains(&recounted),
        "only the days the changes touch are counted again: {recounted}"
    );
    compare("refreshed").await;
    assert_eq!(db.store.refresh_report_days(&settings).await.unwrap(), 0);
}

const TOKEN: &str = "reports-token";

on_both_backends!(
    a_repeat_is_any_contact_opened_within_the_window,
    a_changed_answer_keeps_the_first_time_to_answer,
    reports_match_the_reference,
    the_summary_counts_what_the_rows_count,
    the_api_serves_reports,
    a_later_import_makes_an_earlier_contact_a_repeat
);
