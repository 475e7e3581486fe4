//! Request logs name the route, never the path and query as sent: survey and unsubscribe
//! links carry their token there. (A binary of its own, as every test that captures logs.)

// This binary uses a part of the shared helpers.
#[allow(dead_code)]
#[path = "it/support/mod.rs"]
mod support;

#[allow(dead_code)]
mod logs;

use support::{TestApp, TestDb};

#[tokio::test]
async fn survey_tokens_never_reach_the_request_log() {
    let (captured, _logging) = logs::capture(tracing::Level::DEBUG);

    let db = TestDb::sqlite().await;
    let app = TestApp::spawn(&db, db.settings()).await;
    let token = "tOkEn-5ecret-0f-a-5urvey-l1nk";
    for request in [
        app.client.get(app.url(&format!("/s/{token}?r=5"))),
        app.client.post(app.url(&format!("/u/{token}"))),
        app.client
            .get(app.url(&format!("/s/{token}/more?t={token}"))),
    ] {
        request.send().await.unwrap();
    }
    app.stop().await;

    let log = captured.text();
    assert!(log.contains("finished processing request"), "{log}");
    assert!(!log.contains(token), "{log}");
    assert!(log.contains(r#""route":"/s/{token}""#), "{log}");
    assert!(log.contains(r#""route":"/u/{token}""#), "{log}");
    assert!(log.contains(r#""route":"(no route)""#), "{log}");
}
