//! The HTTP server's own limits on connections, over raw TCP: a half-sent request, or a
//! keep-alive connection left idle, is closed after `http.header_timeout`; past
//! `http.max_connections` a new connection is closed at once and counted, while the open ones
//! are still answered.

use crate::support::{TestApp, TestDb, counter};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HALF_SENT: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n";
const REQUEST: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
const REFUSED: &str = "surveyd_http_connections_refused_total";

async fn spawn(db: &TestDb, configure: impl FnOnce(&mut surveyd::config::Settings)) -> TestApp {
    let mut settings = db.settings();
    configure(&mut settings);
    TestApp::spawn(db, settings).await
}

fn address(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// Everything the server sends until it closes the connection (a reset counts as closed),
/// or `None` if it is still open after `deadline`.
async fn until_closed(stream: &mut TcpStream, deadline: Duration) -> Option<String> {
    let mut received = Vec::new();
    match tokio::time::timeout(deadline, stream.read_to_end(&mut received)).await {
        Ok(_) => Some(String::from_utf8_lossy(&received).into_owned()),
        Err(_) => None,
    }
}

/// Sends `GET /healthz` on `stream` and reads the answer (the body `ok` ends it).
async fn healthz(stream: &mut TcpStream) -> String {
    stream.write_all(REQUEST).await.unwrap();
    let mut received = Vec::new();
    let mut chunk = [0u8; 1024];
    let read = async {
        while !received.ends_with(b"\r\n\r\nok") {
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed before answering: {received:?}");
            received.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("an answer within 10 s");
    String::from_utf8(received).unwrap()
}

#[tokio::test]
async fn a_half_sent_request_is_closed_after_the_header_timeout() {
    let db = TestDb::sqlite().await;
    let timeout = Duration::from_millis(300);
    let app = spawn(&db, |s| s.http.header_timeout = timeout).await;
    let started = Instant::now();
    let mut stream = TcpStream::connect(address(&app)).await.unwrap();
    stream.write_all(HALF_SENT).await.unwrap();
    let answer = until_closed(&mut stream, Duration::from_secs(10))
        .await
        .expect("the server closes a half-sent request");
    assert!(started.elapsed() >= timeout, "{:?}", started.elapsed());
    assert!(!answer.contains("200 OK"), "{answer}");
    // A whole request on a fresh connection is answered as ever.
    let mut stream = TcpStream::connect(address(&app)).await.unwrap();
    assert!(healthz(&mut stream).await.starts_with("HTTP/1.1 200 OK"));
    app.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let db = TestDb::sqlite().await;
    let timeout = Duration::from_millis(300);
    let app = spawn(&db, |s| s.http.header_timeout = timeout).await;
    let mut stream = TcpStream::connect(address(&app)).await.unwrap();
    assert!(healthz(&mut stream).await.starts_with("HTTP/1.1 200 OK"));
    let answered = Instant::now();
    let rest = until_closed(&mut stream, Duration::from_secs(10))
        .await
        .expect("the server closes an idle keep-alive connection");
    assert!(answered.elapsed() >= timeout, "{:?}", answered.elapsed());
    assert!(!rest.contains("200 OK"), "{rest}");
    app.stop().await;
}

#[tokio::test]
async fn connections_past_the_cap_are_closed_and_counted() {
    let db = TestDb::sqlite().await;
    let app = spawn(&db, |s| {
        s.http.max_connections = 3;
        s.http.header_timeout = Duration::from_secs(60);
    })
    .await;
    let mut good = TcpStream::connect(address(&app)).await.unwrap();
    assert!(healthz(&mut good).await.starts_with("HTTP/1.1 200 OK"));
    let before = counter(REFUSED);
    // Two half-sent requests take the other two places.
    let mut idle = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(address(&app)).await.unwrap();
        stream.write_all(HALF_SENT).await.unwrap();
        idle.push(stream);
    }
    // The server takes connections in the order they came: the fourth is closed unanswered.
    let mut extra = TcpStream::connect(address(&app)).await.unwrap();
    let _ = extra.write_all(REQUEST).await;
    let answer = until_closed(&mut extra, Duration::from_secs(10))
        .await
        .expect("a connection past the cap is closed");
    assert_eq!(answer, "", "closed without an answer");
    assert!(counter(REFUSED) >= before + 1.0);
    // The connection that was open keeps being answered.
    assert!(healthz(&mut good).await.starts_with("HTTP/1.1 200 OK"));
    // Once a place is free, a new connection is served again.
    drop(idle.pop());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut stream = TcpStream::connect(address(&app)).await.unwrap();
        stream.write_all(REQUEST).await.unwrap();
        let mut first = [0u8; 15];
        if stream.read_exact(&mut first).await.is_ok() {
            assert_eq!(&first, b"HTTP/1.1 200 OK");
            break;
        }
        assert!(Instant::now() < deadline, "no place freed within 10 s");
    }
    drop(idle);
    drop(good);
    app.stop().await;
}

#[test]
fn no_connections_or_no_header_time_is_refused_at_start() {
    let problem = |variable: &str, value: &str| {
        let variables = [(variable.to_owned(), value.to_owned())];
        surveyd::config::Settings::load_from(None, variables)
            .unwrap_err()
            .to_string()
    };
    let refused = problem("SURVEYD_HTTP_MAX_CONNECTIONS", "0");
    assert!(
        refused.contains("http.max_connections = 0: must be at least 1"),
        "{refused}"
    );
    let refused = problem("SURVEYD_HTTP_HEADER_TIMEOUT", "0s");
    assert!(refused.contains("http.header_timeout"), "{refused}");
}
