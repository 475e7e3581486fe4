//! Dashboard accounts against attack, on both backends: a signed-out session's cookie and its
//! form token stop working at once (so does every session of an account whose sessions are
//! ended with `surveyd dashboard end-sessions`, or whose password hash changes); wrong
//! passwords in a row for one account, from many addresses, lock it for a doubling while
//! that the right password does not get past (on an injected clock), however many arrive at
//! once; sign-ins beyond the bound on concurrent password checks get 429 with Retry-After, and
//! memory stays flat.

use crate::support;
use crate::support::{TestApp, TestDb, closed_contact};
use chrono::{DateTime, Duration, Utc};
use surveyd::alerts::AlertRule;
use surveyd::clock::Clock;
use surveyd::config::{DashboardUser, Secret, Settings};
use surveyd::store::StoredAnswer;

const PASSWORD: &str = "correct horse battery";

fn now() -> DateTime<Utc> {
    "2026-11-18T03:00:00Z".parse().unwrap()
}

fn with_account(db: &TestDb) -> Settings {
    let mut settings = db.settings();
    settings.dashboard.users = vec![DashboardUser {
        name: "ops".into(),
        password_hash: Secret::new(surveyd::dashboard::hash_password(PASSWORD).unwrap()),
    }];
    settings
}

/// A client that shows redirects instead of following them.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in from `address` (as the proxy's `X-Forwarded-For` says); the response.
async fn sign_in(app: &TestApp, password: &str, address: &str) -> reqwest::Response {
    client()
        .post(app.url("/dashboard/login"))
        .header("x-forwarded-for", address)
        .form(&[("name", "ops"), ("password", password)])
        .send()
        .await
        .unwrap()
}

/// Signs in with the right password; the session cookie (`name=value`).
async fn session(app: &TestApp) -> String {
    let response = sign_in(app, PASSWORD, "192.0.2.1").await;
    assert_eq!(response.status(), 303);
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

/// `/dashboard` with `cookie`: the status and the page's form token, if it shows one.
async fn dashboard(app: &TestApp, cookie: &str) -> (u16, Option<String>) {
    let response = client()
        .get(app.url("/dashboard"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let page = response.text().await.unwrap();
    let csrf = page
        .split(r#"name="csrf" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(str::to_owned);
    (status, csrf)
}

async fn post(app: &TestApp, path: &str, cookie: &str, csrf: &str) -> reqwest::Response {
    client()
        .post(app.url(path))
        .header("cookie", cookie)
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap()
}

/// One answered invitation whose CSAT of 1 raised an alert.
async fn an_alert(db: &TestDb, settings: &Settings) {
    let contact = closed_contact(
        "T-1",
        "C-1",
        Some("c1@example.co.id"),
        now() - Duration::hours(3),
    );
    db.store.upsert_contacts(&[contact], now()).await.unwrap();
    let sent = now() - Duration::hours(1);
    let claimed = support::plan_and_send(db, settings, now(), |_| sent).await;
    let answer = StoredAnswer {
        question: "csat".into(),
        metric: Some("csat".into()),
        number: Some(1),
        text: None,
    };
    db.store
        .save_answers(
            claimed[0].invitation_id,
            &[answer],
            "email",
            now(),
            &AlertRule::new(&settings.alerts),
        )
        .await
        .unwrap();
}

async fn alert_state(db: &TestDb) -> String {
    db.texts("SELECT state FROM alerts").await[0]
        .clone()
        .unwrap()
}

async fn signing_out_ends_the_session(db: &TestDb) {
    let settings = with_account(db);
    an_alert(db, &settings).await;
    let (clock, _hand) = Clock::manual(now());
    let app = TestApp::spawn_with_clock(db, settings, clock).await;
    let cookie = session(&app).await;
    let (status, csrf) = dashboard(&app, &cookie).await;
    assert_eq!(status, 200);
    let csrf = csrf.expect("the page carries a form token");

    let out = post(&app, "/dashboard/logout", &cookie, &csrf).await;
    assert_eq!(out.status(), 303);
    assert_eq!(out.headers()["location"], "/dashboard/login");

    // The old cookie, replayed, opens nothing, and its token moves no alert.
    let (status, _) = dashboard(&app, &cookie).await;
    assert_eq!(
        status, 303,
        "a signed-out session still opens the dashboard"
    );
    let replay = post(&app, "/dashboard/alerts/1/acknowledge", &cookie, &csrf).await;
    assert_eq!(replay.status(), 303);
    assert_eq!(replay.headers()["location"], "/dashboard/login");
    assert_eq!(alert_state(db).await, "open");
    app.stop().await;
}

async fn ending_an_accounts_sessions_from_the_command_line(db: &TestDb) {
    let settings = with_account(db);
    an_alert(db, &settings).await;
    let app = TestApp::spawn(db, settings.clone()).await;
    let (first, second) = (session(&app).await, session(&app).await);
    let (status, csrf) = dashboard(&app, &first).await;
    assert_eq!(status, 200);

    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_surveyd"))
        .current_dir(dir.path())
        .env_clear()
        .env("SURVEYD_DATABASE_URL", &db.url)
        .args(["dashboard", "end-sessions", "ops"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.trim(), "2 session(s) of `ops` ended");

    for cookie in [&first, &second] {
        assert_eq!(
            dashboard(&app, cookie).await.0,
            303,
            "a live session survived"
        );
    }
    let ack = post(
        &app,
        "/dashboard/alerts/1/acknowledge",
        &first,
        &csrf.unwrap(),
    )
    .await;
    assert_eq!(ack.status(), 303);
    assert_eq!(alert_state(db).await, "open");
    // Signing in again works.
    assert_eq!(dashboard(&app, &session(&app).await).await.0, 200);
    app.stop().await;

    // An account removed from the settings, or given a new password, keeps no session.
    let app = TestApp::spawn(db, settings.clone()).await;
    let cookie = session(&app).await;
    app.stop().await;
    let mut changed = settings.clone();
    changed.dashboard.users[0].password_hash =
        Secret::new(surveyd::dashboard::hash_password("another long password").unwrap());
    let mut removed = settings;
    removed.dashboard.users.clear();
    for settings in [changed, removed] {
        let app = TestApp::spawn(db, settings).await;
        assert_eq!(dashboard(&app, &cookie).await.0, 303);
        app.stop().await;
    }
}

async fn wrong_passwords_in_a_row_lock_the_account(db: &TestDb) {
    let mut settings = with_account(db);
    // Each guess from another address, as a proxy reports them: the per-address limit never bites.
    settings.http.rate_limit.forwarded_for = true;
    let (clock, hand) = Clock::manual(now());
    let app = TestApp::spawn_with_clock(db, settings, clock).await;
    let guesses = std::sync::atomic::AtomicU32::new(0);
    let wrong = async || {
        let guess = guesses.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let address = format!("198.51.100.{guess}");
        sign_in(&app, "wrong password", &address).await.status()
    };
    for _ in 0..5 {
        assert_eq!(wrong().await, 401);
    }
    let locked = |response: reqwest::Response| {
        assert_eq!(response.status(), 429);
        response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
    };
    // Locked for a minute: the right password is refused too, from a fresh address.
    let retry = locked(sign_in(&app, PASSWORD, "203.0.113.7").await);
    assert!((60..=61).contains(&retry), "Retry-After: {retry}");
    hand.advance(Duration::seconds(30));
    assert_eq!(
        wrong().await,
        429,
        "a guess during the lock is refused unchecked"
    );
    hand.advance(Duration::seconds(31));
    // One more wrong password after it: locked again, for twice as long.
    assert_eq!(wrong().await, 401);
    let retry = locked(sign_in(&app, PASSWORD, "203.0.113.8").await);
    assert!((120..=121).contains(&retry), "Retry-After: {retry}");
    hand.advance(Duration::seconds(121));
    assert_eq!(sign_in(&app, PASSWORD, "203.0.113.9").await.status(), 303);
    // The right password started the count again: four more wrong ones do not lock.
    for _ in 0..4 {
        assert_eq!(wrong().await, 401);
    }
    assert_eq!(sign_in(&app, PASSWORD, "203.0.113.10").await.status(), 303);
    app.stop().await;
}

async fn a_burst_of_guesses_locks_the_account_after_the_threshold(db: &TestDb) {
    let mut settings = with_account(db);
    settings.http.rate_limit.forwarded_for = true;
    settings.dashboard.sign_in.concurrency = 1;
    settings.dashboard.sign_in.wait = std::time::Duration::from_secs(60);
    let (clock, _hand) = Clock::manual(now());
    let app = TestApp::spawn_with_clock(db, settings, clock).await;
    // All arrive before the first is checked: each queued guess sees the lock of the ones
    // before it once its turn comes, so only the first five reach a password check.
    let guesses = (0..20).map(|i| {
        let app = &app;
        async move {
            let address = format!("198.51.100.{i}");
            sign_in(app, "wrong password", &address)
                .await
                .status()
                .as_u16()
        }
    });
    let mut statuses = futures_util::future::join_all(guesses).await;
    statuses.sort();
    assert_eq!(statuses, [[401; 5].as_slice(), &[429; 15]].concat());
    app.stop().await;
}

/// The process's peak resident memory, in KiB.
fn peak_memory_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

async fn concurrent_sign_ins_beyond_the_bound_get_429(db: &TestDb) {
    let mut settings = with_account(db);
    settings.http.rate_limit.sign_in.per_second = 0.0;
    settings.dashboard.sign_in.concurrency = 2;
    settings.dashboard.sign_in.wait = std::time::Duration::from_millis(20);
    settings.dashboard.sign_in.lock_after = 0;
    let app = TestApp::spawn(db, settings).await;
    let before = peak_memory_kib();
    let attempts = (0..60).map(|i| {
        let app = &app;
        async move {
            let response = sign_in(app, "wrong password", &format!("10.0.0.{}", i % 6)).await;
            let retry = response.headers().get("retry-after").cloned();
            (response.status().as_u16(), retry)
        }
    });
    let answers = futures_util::future::join_all(attempts).await;
    // The kernel shows the peak as at least the current size, and records it lazily: it can
    // read lower later, when other tests of this binary freed memory meanwhile.
    let grown_mib = peak_memory_kib().saturating_sub(before) / 1024;
    let turned_away: Vec<_> = answers.iter().filter(|(s, _)| *s == 429).collect();
    let checked = answers.iter().filter(|(s, _)| *s == 401).count();
    assert_eq!(turned_away.len() + checked, 60, "{answers:?}");
    assert!(checked >= 2, "{answers:?}");
    assert!(!turned_away.is_empty(), "no sign-in was turned away");
    assert!(turned_away.iter().all(|(_, retry)| retry.is_some()));
    // 60 Argon2id checks at once would hold about 1.1 GiB; two at a time hold 38 MiB.
    assert!(grown_mib < 300, "peak memory grew by {grown_mib} MiB");
    eprintln!(
        "{checked} checked, {} turned away; peak memory grew by {grown_mib} MiB",
        turned_away.len()
    );
    app.stop().await;
}

on_both_backends!(
    signing_out_ends_the_session,
    ending_an_accounts_sessions_from_the_command_line,
    wrong_passwords_in_a_row_lock_the_account,
    a_burst_of_guesses_locks_the_account_after_the_threshold,
    concurrent_sign_ins_beyond_the_bound_get_429,
);
