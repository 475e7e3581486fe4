//! The HTTP API: health, bearer tokens, `POST /v1/contacts` (partial success, limits).

use crate::support;
use crate::support::{TestApp, TestDb};
use reqwest::StatusCode;
use serde_json::{Value, json};
use surveyd::auth::TokenHash;
use surveyd::config::{ConfiguredToken, Secret, Settings};

const TOKEN: &str = "helpdesk-secret-token";

fn settings_with_token(db: &TestDb) -> Settings {
    let mut settings = db.settings();
    settings.api.tokens = vec![ConfiguredToken {
        name: "helpdesk".into(),
        sha256: Secret::new(TokenHash::of(TOKEN)),
    }];
    settings.http.max_body_bytes = 64 * 1024;
    settings
}

/// A 429's `Retry-After`: whole seconds, at least 1 and no more than the slow test rates'.
fn assert_retry_after(refused: &reqwest::Response) {
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=100).contains(&wait), "Retry-After: {wait}");
}

fn contact(id: &str) -> Value {
    json!({
        "contact_id": id,
        "closed_at": "2026-11-20T10:00:00+07:00",
        "customer_id": format!("C-{id}"),
        "customer_name": "Budi Santoso",
        "phone": "0812-3456-7890",
        "agent_id": "A-1",
        "team": "Billing",
        "resolution": "resolved"
    })
}

async fn health_and_readiness(db: &TestDb) {
    let app = TestApp::spawn(db, db.settings()).await;
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({
            "status": "ready",
            "database": "ok",
            "pending_migrations": 0,
            "stuck_deliveries": [],
            "warnings": [],
        })
    );
    // Pages (here the survey page of an unknown link) run no script, load nothing from
    // elsewhere, cannot be framed and send no referrer.
    let r = app
        .client
        .get(app.url("/s/not-a-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let header = |name: &str| r.headers()[name].to_str().unwrap().to_owned();
    let csp = header("content-security-policy");
    assert!(csp.starts_with("default-src 'none';"), "{csp}");
    assert!(
        csp.contains("frame-ancestors 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("referrer-policy"), "no-referrer");
    app.stop().await;
}

async fn contacts_need_a_valid_token(db: &TestDb) {
    let app = TestApp::spawn(db, settings_with_token(db)).await;
    let url = "/v1/contacts";
    let none = app.post_json(url, None, &contact("T-1")).await;
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
    let wrong = app.post_json(url, Some("nope"), &contact("T-1")).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(db.store.table_counts().await.unwrap().contacts, 0);

    let ok = app.post_json(url, Some(TOKEN), &contact("T-1")).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let body: Value = ok.json().await.unwrap();
    assert_eq!(body["inserted"], 1);

    // A token made with `surveyd tokens create` lives in the database.
    let (token, hash) = surveyd::auth::new_token();
    db.store
        .create_token("crm", &hash, chrono::Utc::now())
        .await
        .unwrap();
    let ok = app.post_json(url, Some(&token), &contact("T-2")).await;
    assert_eq!(ok.status(), StatusCode::OK);
    db.store.revoke_token("crm").await.unwrap();
    let revoked = app.post_json(url, Some(&token), &contact("T-3")).await;
    assert_eq!(revoked.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

async fn valid_items_are_stored_and_bad_ones_named(db: &TestDb) {
    let app = TestApp::spawn(db, settings_with_token(db)).await;
    let mut bad_phone = contact("T-2");
    bad_phone["phone"] = json!("08123");
    let mut no_customer = contact("T-3");
    no_customer.as_object_mut().unwrap().remove("customer_id");
    no_customer["colour"] = json!("red");
    let body = json!([
        contact("T-1"),
        bad_phone,
        "not an object",
        no_customer,
        contact("T-5")
    ]);
    let r = app.post_json("/v1/contacts", Some(TOKEN), &body).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["received"], 5);
    assert_eq!(body["inserted"], 2);
    assert_eq!(body["rejected"], 3);
    assert_eq!(
        body["errors"],
        json!([
            {"index": 1, "field": "phone", "reason": "`08123` is not a valid phone number"},
            {"index": 2, "field": null, "reason": "must be a JSON object"},
            {"index": 3, "field": "customer_id", "reason": "is required but missing or empty"},
        ])
    );
    assert_eq!(
        body["warnings"],
        json!(["item 3: unknown key `colour` is ignored"])
    );
    let stored = db.store.find_contact("T-5").await.unwrap().unwrap();
    assert_eq!(stored.phone.unwrap().as_str(), "+6281234567890");
    assert_eq!(db.store.table_counts().await.unwrap().contacts, 2);
    app.stop().await;
}

async fn bodies_over_the_limit_and_bad_json_are_refused(db: &TestDb) {
    let app = TestApp::spawn(db, settings_with_token(db)).await;
    let url = "/v1/contacts";
    let many: Vec<Value> = (0..1000).map(|i| contact(&format!("T-{i}"))).collect();
    let r = app.post_json(url, Some(TOKEN), &many).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let r = app
        .client
        .post(app.url(url))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{\"contact_id\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("not valid JSON"),
        "{body}"
    );
    assert_eq!(db.store.table_counts().await.unwrap().contacts, 0);
    app.stop().await;
}

async fn campaign_runs_plan_once_over_the_api(db: &TestDb) {
    let app = TestApp::spawn(db, settings_with_token(db)).await;
    let mut item = contact("T-1");
    item["email"] = json!("budi@example.co.id");
    item["closed_at"] = json!((chrono::Utc::now() - chrono::Duration::hours(3)).to_rfc3339());
    let r = app.post_json("/v1/contacts", Some(TOKEN), &item).await;
    assert_eq!(r.status(), StatusCode::OK);

    let r = app
        .post_json("/v1/campaigns/post-contact-email/runs", None, &())
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let run = |path: &'static str| app.post_json(path, Some(TOKEN), &());
    let r = run("/v1/campaigns/nope/runs").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "no campaign `nope`"
    );

    let run_json =
        |path: &'static str| async move { run(path).await.json::<Value>().await.unwrap() };
    let dry = run_json("/v1/campaigns/post-contact-email/runs?dry_run=true").await;
    assert_eq!(
        (dry["dry_run"].clone(), dry["invited"].clone()),
        (json!(true), json!(1))
    );
    assert_eq!(db.store.table_counts().await.unwrap().invitations, 0);
    let first = run_json("/v1/campaigns/post-contact-email/runs").await;
    assert_eq!(
        (first["eligible"].clone(), first["invited"].clone()),
        (json!(1), json!(1))
    );
    let second = run_json("/v1/campaigns/post-contact-email/runs").await;
    assert_eq!(second["invited"], 0);
    assert_eq!(second["skipped"]["already_invited"], 1);
    assert_eq!(db.store.table_counts().await.unwrap().invitations, 1);
    app.stop().await;
}

async fn a_bad_array_gets_a_bounded_answer(db: &TestDb) {
    let mut settings = settings_with_token(db);
    settings.http.max_body_bytes = 1 << 20;
    let app = TestApp::spawn(db, settings).await;
    // Nearly 1 MB of items, each missing every required field and with an unknown key.
    let items: Vec<Value> = (0..90_000).map(|_| json!({"x": 1})).collect();
    let r = app.post_json("/v1/contacts", Some(TOKEN), &items).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = r.text().await.unwrap();
    assert!(text.len() < 32 * 1024, "{} bytes", text.len());
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["rejected"], 90_000);
    let listed = body["errors"].as_array().unwrap().len();
    assert_eq!(listed, 100);
    let not_listed = body["errors_not_listed"].as_u64().unwrap();
    // Each item lacks contact_id, closed_at and customer_id at least.
    assert!(listed as u64 + not_listed >= 3 * 90_000, "{not_listed}");
    assert_eq!(body["warnings"].as_array().unwrap().len(), 100);
    assert_eq!(body["warnings_not_listed"], 90_000 - 100);
    app.stop().await;
}

on_both_backends!(
    a_bad_array_gets_a_bounded_answer,
    campaign_runs_plan_once_over_the_api,
    health_and_readiness,
    contacts_need_a_valid_token,
    valid_items_are_stored_and_bad_ones_named,
    bodies_over_the_limit_and_bad_json_are_refused,
);

/// A sender that stops halfway through its body holds nothing: `http.request_timeout` answers
/// 408 and closes.
#[tokio::test]
async fn a_body_that_never_ends_times_out() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let db = TestDb::sqlite().await;
    let mut settings = settings_with_token(&db);
    settings.http.request_timeout = std::time::Duration::from_millis(500);
    let app = TestApp::spawn(&db, settings).await;
    let addr = app.url("").replace("http://", "");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!(
                "POST /v1/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
                 Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{{\"contact_id\":"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut response = String::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_string(&mut response),
    )
    .await
    .expect("answered within the deadline")
    .unwrap();
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    app.stop().await;
}

#[tokio::test]
async fn readiness_fails_while_migrations_are_pending() {
    let db = TestDb::sqlite().await;
    let app = TestApp::spawn(&db, db.settings()).await;
    let crate::support::Raw::Sqlite(pool) = &db.raw else {
        unreachable!("an SQLite test database")
    };
    // The database as it was before the newest migration was recorded.
    for sql in [
        "CREATE TABLE newest AS SELECT * FROM _sqlx_migrations \
         WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)",
        "DELETE FROM _sqlx_migrations WHERE version IN (SELECT version FROM newest)",
    ] {
        sqlx::query(sql).execute(pool).await.unwrap();
    }
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (body["status"].clone(), body["pending_migrations"].clone()),
        (json!("not ready"), json!(1))
    );
    sqlx::query("INSERT INTO _sqlx_migrations SELECT * FROM newest")
        .execute(pool)
        .await
        .unwrap();
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "ready once it is applied");
    app.stop().await;
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    let db = TestDb::sqlite().await;
    let app = TestApp::spawn(&db, db.settings()).await;
    db.store.close().await;
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (body["status"].clone(), body["database"].clone()),
        (json!("not ready"), json!("unreachable"))
    );
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "alive, just not ready");
    app.stop().await;
}

/// Past its burst, a client address gets 429 with Retry-After on the survey pages, the
/// the one-click unsubscribe, webhooks and the dashboard's sign-in, while another address (as
/// a trusted proxy reports it) and the API are let through; the refusals are counted.
#[tokio::test]
async fn public_routes_limit_each_address() {
    use surveyd::config::RequestRate;
    let db = TestDb::sqlite().await;
    let mut settings = settings_with_token(&db);
    let slow = |burst| RequestRate {
        per_second: 0.01,
        burst,
    };
    settings.http.rate_limit.pages = slow(3);
    settings.http.rate_limit.webhooks = slow(2);
    settings.http.rate_limit.sign_in = slow(1);
    settings.http.rate_limit.unsubscribe = slow(4);
    settings.http.rate_limit.forwarded_for = true;
    let app = TestApp::spawn(&db, settings).await;
    // As a proxy writes it: the last address is the one it saw.
    let from = |address: &'static str| {
        move |request: reqwest::RequestBuilder| {
            let request = request.header("X-Forwarded-For", format!("10.9.9.9, {address}"));
            async move { request.send().await.unwrap() }
        }
    };
    let (one, two) = (from("203.0.113.1"), from("203.0.113.2"));
    let limited = r#"surveyd_rate_limited_total{routes="pages"}"#;
    let before = support::counter(limited);

    let page = || app.client.get(app.url("/s/no-such-token"));
    for _ in 0..3 {
        assert_eq!(one(page()).await.status(), 404);
    }
    let refused = one(page()).await;
    assert_eq!(refused.status(), 429);
    assert_retry_after(&refused);
    assert!(support::counter(limited) > before);
    // Another address has its own bucket; the API is not limited by address.
    assert_eq!(two(page()).await.status(), 404);
    let api = app
        .client
        .get(app.url("/v1/alerts"))
        .bearer_auth(TOKEN)
        .header("X-Forwarded-For", "203.0.113.1");
    assert_eq!(api.send().await.unwrap().status(), 200);

    // Webhooks have their own bucket (the pages' is spent).
    let webhook = || app.client.post(app.url("/webhooks/whatsapp")).body("{}");
    for _ in 0..2 {
        assert_ne!(one(webhook()).await.status(), 429);
    }
    assert_eq!(one(webhook()).await.status(), 429);

    // The one-click unsubscribe has its own bucket too: a mailbox provider posts it for
    // many recipients from one address whose page requests are spent.
    let unsubscribe = || app.client.post(app.url("/u/no-such-token"));
    for _ in 0..4 {
        assert_eq!(one(unsubscribe()).await.status(), 404);
    }
    assert_eq!(one(unsubscribe()).await.status(), 429);

    // One sign-in attempt from an address with page requests to spare, then 429.
    let sign_in = || {
        app.client
            .post(app.url("/dashboard/login"))
            .form(&[("name", "ops"), ("password", "guess")])
    };
    let three = from("203.0.113.3");
    assert_ne!(three(sign_in()).await.status(), 429);
    assert_eq!(three(sign_in()).await.status(), 429);
    app.stop().await;
}

/// `/metrics`: every series has its `# HELP`, the build is named, a claim stuck past its
/// lease shows in `surveyd_queue_oldest_sending_seconds`, and campaign runs are counted from
/// the database — those of `surveyd campaign run` too, a process nothing could scrape. (The
/// only test of this binary that sets the gauges: they are the process's.)
#[tokio::test]
async fn metrics_describe_every_series_and_read_the_database() {
    let db = TestDb::sqlite().await;
    let settings = settings_with_token(&db);
    let (clock, hand) = surveyd::clock::Clock::manual(chrono::Utc::now());
    let app = TestApp::spawn_with_clock(&db, settings.clone(), clock.clone()).await;
    let mut item = contact("T-1");
    item["email"] = json!("budi@example.co.id");
    item["closed_at"] = json!((clock.now() - chrono::Duration::hours(3)).to_rfc3339());
    let r = app.post_json("/v1/contacts", Some(TOKEN), &item).await;
    assert_eq!(r.status(), StatusCode::OK);
    // As `surveyd campaign run` plans: recorded with the trigger `cli`.
    let campaign = &settings.campaigns[0];
    let key = settings.survey_key().unwrap();
    surveyd::scheduler::run_by_hand(&db.store, campaign, "cli", false, &key, &clock)
        .await
        .unwrap();
    let metrics = || async {
        let r = app
            .client
            .get(app.url("/metrics"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.text().await.unwrap()
    };
    let text = metrics().await;
    let runs = r#"surveyd_campaign_runs_total{campaign="post-contact-email",trigger="cli",outcome="ok"} 1"#;
    assert!(text.contains(runs), "{text}");
    let last_run = text
        .lines()
        .find(|l| {
            l.starts_with(
                r#"surveyd_campaign_last_run_timestamp_seconds{campaign="post-contact-email",trigger="cli"}"#,
            )
        })
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .expect("the latest run's time");
    assert!(
        (last_run - clock.now().timestamp() as f64).abs() < 2.0,
        "{last_run}"
    );
    let version = format!(
        "surveyd_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    assert!(text.contains(&version), "{text}");
    assert!(
        text.contains(r#"surveyd_queue_oldest_sending_seconds{channel="email"} 0"#),
        "{text}"
    );
    // Every series exposed has its help line.
    let series: std::collections::BTreeSet<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap())
        .map(|name| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .filter(|base| text.contains(&format!("# TYPE {base} histogram")))
                .unwrap_or(name)
        })
        .collect();
    assert!(series.len() >= 6, "{series:?}");
    for name in series {
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "no help for {name}:\n{text}"
        );
    }

    // A claim whose job was lost, 90 seconds past its lease.
    let now = clock.now();
    let claimed = db
        .store
        .claim_due(
            "email",
            "a-daemon-that-died",
            now,
            now + chrono::Duration::minutes(5),
            10,
        )
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    hand.advance(chrono::Duration::seconds(5 * 60 + 90));
    let text = metrics().await;
    assert!(
        text.contains(r#"surveyd_queue_oldest_sending_seconds{channel="email"} 90"#),
        "{text}"
    );
    app.stop().await;
}

/// Each API token has its own bucket (`http.rate_limit.api`), wherever it calls from: past
/// it 429 with `Retry-After` and the reason, while another token is let through.
#[tokio::test]
async fn each_api_token_is_limited() {
    use surveyd::config::RequestRate;
    let db = TestDb::sqlite().await;
    let mut settings = settings_with_token(&db);
    settings.api.tokens.push(ConfiguredToken {
        name: "reports".into(),
        sha256: Secret::new(TokenHash::of("reports-secret-token")),
    });
    settings.http.rate_limit.api = RequestRate {
        per_second: 0.01,
        burst: 3,
    };
    let app = TestApp::spawn(&db, settings).await;
    let alerts = |token: &str| {
        app.client
            .get(app.url("/v1/alerts"))
            .bearer_auth(token)
            .send()
    };
    let limited = r#"surveyd_rate_limited_total{routes="api"}"#;
    let before = support::counter(limited);
    for _ in 0..3 {
        assert_eq!(alerts(TOKEN).await.unwrap().status(), StatusCode::OK);
    }
    let refused = alerts(TOKEN).await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_retry_after(&refused);
    assert_eq!(
        refused.json::<Value>().await.unwrap(),
        json!({"error": "too many requests for this token; try again later"})
    );
    assert!(support::counter(limited) > before);
    assert_eq!(
        alerts("reports-secret-token").await.unwrap().status(),
        StatusCode::OK
    );
    // A wrong token is refused as ever, not counted against anyone.
    assert_eq!(
        alerts("nope").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    app.stop().await;
}

/// The dashboard's pages, signed in or not, are never kept by a cache.
#[tokio::test]
async fn dashboard_pages_are_not_cached() {
    let db = TestDb::sqlite().await;
    let app = TestApp::spawn(&db, db.settings()).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in ["/dashboard", "/dashboard/login"] {
        let r = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.headers()["cache-control"], "no-store", "{path}");
    }
    // Not a page of the dashboard: left to its own headers.
    let r = client.get(app.url("/healthz")).send().await.unwrap();
    assert!(r.headers().get("cache-control").is_none());
    app.stop().await;
}
