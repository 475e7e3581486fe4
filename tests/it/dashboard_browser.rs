//! The dashboard in headless Chromium: without a session it sends you to sign in; a wrong
//! password is refused; signed in, the charts are drawn (a point per week with answers, a bar
//! per ranked agent and per channel), the open alert is listed (raised at a time with its
//! zone) and acknowledged with a note by its button, the session cookie is out of the page's reach (HttpOnly), nothing scrolls sideways
//! on a phone, and a screenshot is kept in `target/screenshots/`. Both backends.

use crate::support;
use crate::support::browser::Driver;
use crate::support::{TestApp, TestDb, closed_contact};
use chrono::{DateTime, Duration, Utc};
use fantoccini::Locator;
use surveyd::alerts::AlertRule;
use surveyd::clock::Clock;
use surveyd::config::{DashboardUser, Secret};
use surveyd::domain::ExternalId;
use surveyd::store::StoredAnswer;

const PASSWORD: &str = "correct horse battery";

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// Wednesday 2026-11-18, 10:00 in Jakarta.
const NOW: &str = "2026-11-18T03:00:00Z";

/// 4 agents with 12 answers in each of the last three weeks, one agent with two answers
/// (not ranked), all by email; contact 1's CSAT of 1 raises an alert.
async fn seed(db: &TestDb, settings: &surveyd::config::Settings) -> usize {
    let now = at(NOW);
    // Sent on Mondays to Wednesdays of the weeks of 2026-11-02, -09 and -16.
    let mut contacts = Vec::new();
    for week in 0..3i64 {
        for agent in ["A-1", "A-2", "A-3", "A-4"] {
            for i in 0..12i64 {
                contacts.push((
                    agent,
                    at("2026-11-02T02:00:00Z")
                        + Duration::days(7 * week + i % 3)
                        + Duration::minutes(i),
                ));
            }
        }
    }
    contacts.push(("A-5", at("2026-11-10T02:00:00Z")));
    contacts.push(("A-5", at("2026-11-11T02:00:00Z")));
    let records: Vec<_> = contacts
        .iter()
        .enumerate()
        .map(|(i, (agent, sent))| {
            let mut c = closed_contact(
                &format!("T-{i}"),
                &format!("C-{i}"),
                Some(&format!("c{i}@example.co.id")),
                *sent - Duration::hours(2),
            );
            c.agent_id = Some(ExternalId::parse(agent).unwrap());
            c.agent_name = Some(format!("Agent {agent}"));
            c.team = Some(ExternalId::parse("Billing").unwrap());
            c
        })
        .collect();
    db.store.upsert_contacts(&records, now).await.unwrap();
    let sent_at = |c: &surveyd::store::Claimed| contacts[c.contact_id as usize - 1].1;
    let claimed = support::plan_and_send(db, settings, now, sent_at).await;
    let rule = AlertRule::new(&settings.alerts);
    for c in claimed {
        let sent = sent_at(&c);
        let n = c.contact_id as i16;
        let csat = if c.contact_id == 1 { 1 } else { 3 + n % 3 };
        let answers = [("csat", "csat", csat), ("recommend", "nps", 7 + n % 4)].map(|(q, m, v)| {
            StoredAnswer {
                question: q.into(),
                metric: Some(m.into()),
                number: Some(v),
                text: None,
            }
        });
        db.store
            .save_answers(
                c.invitation_id,
                &answers,
                "email",
                sent + Duration::hours(1),
                &rule,
            )
            .await
            .unwrap();
    }
    contacts.len()
}

async fn the_dashboard_in_a_browser(db: &TestDb) {
    let mut settings = db.settings();
    settings.dashboard.users = vec![DashboardUser {
        name: "ops".into(),
        password_hash: Secret::new(surveyd::dashboard::hash_password(PASSWORD).unwrap()),
    }];
    settings.dashboard.weeks = 4;
    seed(db, &settings).await;
    let (clock, _hand) = Clock::manual(at(NOW));
    let app = TestApp::spawn_with_clock(db, settings, clock).await;

    // Without a session: sent to sign in.
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let anonymous = plain.get(app.url("/dashboard")).send().await.unwrap();
    assert_eq!(anonymous.status(), 303);
    assert_eq!(anonymous.headers()["location"], "/dashboard/login");
    let forged = plain
        .get(app.url("/dashboard"))
        .header("cookie", "surveyd_session=6f7073.9999999999.00")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 303, "a forged session is refused");

    let login = plain
        .post(app.url("/dashboard/login"))
        .form(&[("name", "ops"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/dashboard"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let page = plain
        .get(app.url("/dashboard"))
        .header("cookie", cookie.split(';').next().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    // A form posted without the session's token is refused.
    let forged_form = plain
        .post(app.url("/dashboard/alerts/1/resolve"))
        .header("cookie", cookie.split(';').next().unwrap())
        .form(&[("csrf", "0000")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged_form.status(), 403);
    let driver = Driver::start();
    let browser = driver.browser().await;
    let result: Result<(), fantoccini::error::CmdError> = async {
        browser.goto(&app.url("/dashboard")).await?;
        assert!(
            browser
                .current_url()
                .await?
                .as_str()
                .ends_with("/dashboard/login")
        );
        let sign_in = |password: &'static str| {
            let browser = browser.clone();
            async move {
                browser
                    .find(Locator::Css("input[name=name]"))
                    .await?
                    .clear()
                    .await?;
                browser
                    .find(Locator::Css("input[name=name]"))
                    .await?
                    .send_keys("ops")
                    .await?;
                browser
                    .find(Locator::Css("input[name=password]"))
                    .await?
                    .send_keys(password)
                    .await?;
                browser
                    .find(Locator::Css("button[type=submit]"))
                    .await?
                    .click()
                    .await
            }
        };
        sign_in("wrong password!").await?;
        let error = browser
            .wait()
            .for_element(Locator::Css("p.error"))
            .await?
            .text()
            .await?;
        assert_eq!(error, "Wrong name or password.");
        sign_in(PASSWORD).await?;
        browser
            .wait()
            .for_element(Locator::Css("#leaderboard"))
            .await?;
        assert!(
            browser
                .current_url()
                .await?
                .as_str()
                .ends_with("/dashboard")
        );

        let count = |css: &'static str| {
            let browser = browser.clone();
            async move {
                Ok::<_, fantoccini::error::CmdError>(
                    browser.find_all(Locator::Css(css)).await?.len(),
                )
            }
        };
        // Three weeks with answers of the four shown.
        assert_eq!(count("#csat svg circle").await?, 3);
        assert_eq!(count("#nps svg circle").await?, 3);
        assert_eq!(count("#csat svg polygon.band").await?, 1);
        // Four ranked agents; the fifth has too few answers.
        assert_eq!(count("#leaderboard svg g.row").await?, 4);
        let note = browser
            .find(Locator::Css("#leaderboard p.note"))
            .await?
            .text()
            .await?;
        assert!(
            note.contains("1 agents have fewer than 10 answers"),
            "{note}"
        );
        assert_eq!(count("#channels svg g.row").await?, 1);
        assert_eq!(count("#alerts li.alert").await?, 1);
        // The session cookie is not readable by scripts.
        let cookies = browser.execute("return document.cookie", vec![]).await?;
        assert!(!cookies.as_str().unwrap_or("").contains("surveyd_session"));

        browser.set_window_size(1200, 1900).await?;
        let png = browser.screenshot().await?;
        assert!(png.starts_with(b"\x89PNG"));
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("dashboard.png"), &png).unwrap();

        // On a phone: nothing wider than the screen.
        browser.set_window_size(390, 844).await?;
        let overflow = browser
            .execute(
                "return document.documentElement.scrollWidth - window.innerWidth",
                vec![],
            )
            .await?;
        assert!(
            overflow.as_i64().unwrap_or(1) <= 0,
            "scrolls sideways by {overflow}"
        );
        std::fs::write(dir.join("dashboard-phone.png"), browser.screenshot().await?).unwrap();

        // Raised on the reports' clock, with the zone's name.
        let raised = browser
            .find(Locator::Css("li.alert dd"))
            .await?
            .text()
            .await?;
        assert!(raised.ends_with("WIB (open)"), "{raised}");
        browser
            .find(Locator::Css("li.alert input[name=note]"))
            .await?
            .send_keys("Calling her back")
            .await?;
        browser
            .find(Locator::XPath(
                "//li[contains(@class,'alert')]//button[normalize-space()='Acknowledge']",
            ))
            .await?
            .click()
            .await?;
        let acknowledged = browser
            .wait()
            .for_element(Locator::Css("li.alert.acknowledged"))
            .await?
            .text()
            .await?;
        assert!(
            acknowledged.contains("WIB by ops: Calling her back"),
            "{acknowledged}"
        );
        Ok(())
    }
    .await;
    let _ = browser.close().await;
    result.expect("the browser session");
    let alerts = db.store.alerts(None, 10).await.unwrap();
    assert_eq!(alerts[0].state, "acknowledged");
    assert_eq!(alerts[0].acknowledged_by.as_deref(), Some("ops"));
    assert_eq!(
        alerts[0].acknowledged_note.as_deref(),
        Some("Calling her back")
    );
    app.stop().await;
}

on_both_backends!(the_dashboard_in_a_browser);
