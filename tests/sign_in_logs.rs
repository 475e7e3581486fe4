//! What a sign-in name can do to the text log: nothing — a name holding a line break and a
//! forged log line is logged escaped, on the one line of its event. (A binary of its own:
//! the test captures every line of its thread, and tracing's per-callsite caching is shared
//! with other tests' threads.)

// This binary uses a part of the shared helpers.
#[allow(dead_code)]
#[path = "it/support/mod.rs"]
mod support;

#[allow(dead_code)]
mod logs;

use logs::Captured;
use support::{TestApp, TestDb};

#[tokio::test]
async fn a_sign_in_name_cannot_forge_a_log_line() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);

    let db = TestDb::sqlite().await;
    let app = TestApp::spawn(&db, db.settings()).await;
    let forged =
        "2026-12-03T00:00:00.000000Z  INFO surveyd::dashboard: dashboard sign-in user=admin";
    let name = format!("nobody\n{forged}\r\u{1b}[2K");
    let response = app
        .client
        .post(app.url("/dashboard/login"))
        .form(&[("name", name.as_str()), ("password", "guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    app.stop().await;

    let text = captured.text();
    let refused: Vec<&str> = text.lines().filter(|l| l.contains("sign-in")).collect();
    assert_eq!(refused.len(), 1, "{text}");
    assert!(refused[0].contains("sign-in refused"), "{text}");
    assert!(
        !text.lines().any(|l| l.starts_with("2026-12-03T00:00:00")),
        "{text}"
    );
    assert!(!text.contains('\r') && !text.contains('\u{1b}'), "{text}");
}
