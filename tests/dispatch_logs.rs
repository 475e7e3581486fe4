//! The log of a dispatch run: one line per delivery at info, with the delivery, invitation,
//! campaign, channel and provider as fields, durations as people read them, and no name,
//! address or Rust structure anywhere. (A binary of its own: the test captures every line
//! of its thread, and tracing's per-callsite caching is shared with other tests' threads.)

// This binary uses a part of the shared helpers.
#[allow(dead_code)]
#[path = "it/support/mod.rs"]
mod support;

#[allow(dead_code)]
mod logs;

use serde_json::Value;
use support::{SmtpServer, SurveyLoop, TestDb};

#[tokio::test]
async fn each_delivery_is_logged_once_with_its_ids_and_no_personal_data() {
    let (captured, _logging) = logs::capture(tracing::Level::INFO);

    let db = TestDb::sqlite().await;
    let smtp = SmtpServer::start();
    let run = SurveyLoop::start(&db, smtp.port).await;
    let addresses = [
        "fine@example.com",
        "reject.me@example.com",
        "defer.me@example.com",
    ];
    assert_eq!(run.invite(&db, &addresses).await, 3);
    let counts = run.dispatch(&db).await;
    assert_eq!((counts.sent, counts.failed, counts.retried), (1, 1, 1));
    counts.log("dispatch finished", std::time::Duration::from_millis(1_250));

    let lines = captured.lines();
    let fields = |line: &Value| line["fields"].clone();
    let outcomes: Vec<Value> = lines
        .iter()
        .map(fields)
        .filter(|f| f["delivery"].is_i64() && f["outcome"].is_string())
        .collect();
    assert_eq!(outcomes.len(), 3, "one line per delivery: {outcomes:#?}");
    let mut by_outcome: Vec<&str> = outcomes
        .iter()
        .map(|f| f["outcome"].as_str().unwrap())
        .collect();
    by_outcome.sort();
    assert_eq!(by_outcome, ["failed", "retried", "sent"]);
    let mut deliveries: Vec<i64> = outcomes
        .iter()
        .map(|f| f["delivery"].as_i64().unwrap())
        .collect();
    deliveries.sort();
    deliveries.dedup();
    assert_eq!(deliveries.len(), 3);
    for f in &outcomes {
        assert!(f["invitation"].is_i64(), "{f}");
        assert_eq!(f["campaign"], "post-contact-email");
        assert_eq!(f["channel"], "email");
        assert_eq!(f["provider"], "smtp");
    }
    let retried = outcomes.iter().find(|f| f["outcome"] == "retried").unwrap();
    let retry_in = retried["retry_in"].as_str().unwrap();
    // The backoff (1m with jitter) as written in settings: `45s`, `1m`, `52s`.
    let wait = humantime::parse_duration(retry_in).expect("a duration as people write it");
    assert!(
        (30..=60).contains(&wait.as_secs()) && !retry_in.starts_with("PT"),
        "human-readable: {retry_in}"
    );
    let failed = outcomes.iter().find(|f| f["outcome"] == "failed").unwrap();
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("550") && error.contains("[address]"),
        "{error}"
    );
    let finished = lines
        .iter()
        .map(fields)
        .find(|f| f["message"] == "dispatch finished")
        .expect("the counts are logged");
    assert_eq!(
        (
            finished["sent"].clone(),
            finished["failed"].clone(),
            finished["took"].clone()
        ),
        (1.into(), 1.into(), "1s".into())
    );
    // Nothing anywhere names the customers or their addresses, nor prints a Rust structure.
    let text = captured.text();
    for personal in ["example.com", "Budi", "DispatchCounts", "\"PT"] {
        assert!(
            !text.contains(personal),
            "`{personal}` in the logs:\n{text}"
        );
    }
    run.app.stop().await;
}
