//! Email over an encrypted, authenticated SMTP connection, against a real server (aiosmtpd)
//! with a certificate from a CA the test makes: STARTTLS with AUTH PLAIN, implicit TLS with
//! AUTH LOGIN, the private CA trusted through `email.smtp.ca_file` and refused without it,
//! and credentials refused over an unencrypted connection unless allowed.

use crate::support::{SmtpServer, SurveyLoop, TestCa, TestDb, free_port};
use surveyd::channels::SmtpTls;

const USER: &str = "surveyd";
const PASSWORD: &str = "s3cret-relay-password";

/// A server on a free port with `options`, and the loop sending to it as `localhost` (the
/// name in the certificate) with `tls`, the credentials and, if given, the CA file.
async fn start(
    db: &TestDb,
    options: &[&str],
    tls: SmtpTls,
    ca_file: Option<String>,
) -> (SmtpServer, SurveyLoop) {
    let auth = format!("{USER}:{PASSWORD}");
    let mut all = vec!["--auth", auth.as_str()];
    all.extend_from_slice(options);
    let server = SmtpServer::start_with(free_port(), &all);
    let run = SurveyLoop::start_with(db, server.port, |s| {
        s.email.smtp.host = "localhost".into();
        s.email.smtp.tls = tls;
        s.email.smtp.ca_file = ca_file.map(Into::into);
        s.email.smtp.username = Some(USER.into());
        s.email.smtp.password = Some(surveyd::config::Secret::new(PASSWORD.into()));
        s.email.smtp.allow_insecure_auth = tls == SmtpTls::None;
    })
    .await;
    (server, run)
}

fn tls_options<'a>(mode: &'a str, cert: &'a str, key: &'a str) -> Vec<&'a str> {
    vec!["--tls", mode, "--cert", cert, "--key", key]
}

#[tokio::test]
async fn starttls_with_auth_plain_trusting_a_private_ca() {
    let db = TestDb::sqlite().await;
    let ca = TestCa::new();
    let (cert, key) = (ca.path("server.pem"), ca.path("server.key"));
    let mut options = tls_options("starttls", &cert, &key);
    options.extend(["--mechanisms", "PLAIN"]);
    let (server, run) = start(&db, &options, SmtpTls::Starttls, Some(ca.path("ca.pem"))).await;
    assert_eq!(run.invite(&db, &["budi@example.co.id"]).await, 1);
    assert_eq!(run.dispatch(&db).await.sent, 1);
    assert_eq!(server.messages().len(), 1);
    assert_eq!(server.logins(), [format!("PLAIN {USER}")]);
}

#[tokio::test]
async fn implicit_tls_with_auth_login() {
    let db = TestDb::sqlite().await;
    let ca = TestCa::new();
    let (cert, key) = (ca.path("server.pem"), ca.path("server.key"));
    let mut options = tls_options("implicit", &cert, &key);
    options.extend(["--mechanisms", "LOGIN"]);
    let (server, run) = start(&db, &options, SmtpTls::Implicit, Some(ca.path("ca.pem"))).await;
    assert_eq!(run.invite(&db, &["budi@example.co.id"]).await, 1);
    assert_eq!(run.dispatch(&db).await.sent, 1);
    assert_eq!(server.messages().len(), 1);
    assert_eq!(server.logins(), [format!("LOGIN {USER}")]);
}

/// Without the CA file the server's certificate is not trusted: nothing is sent (and no
/// password), the delivery waits for a retry with the reason.
#[tokio::test]
async fn a_certificate_from_an_unknown_ca_is_refused() {
    let ca = TestCa::new();
    let (cert, key) = (ca.path("server.pem"), ca.path("server.key"));
    for (mode, tls) in [
        ("starttls", SmtpTls::Starttls),
        ("implicit", SmtpTls::Implicit),
    ] {
        let db = TestDb::sqlite().await;
        let options = tls_options(mode, &cert, &key);
        let (server, run) = start(&db, &options, tls, None).await;
        run.invite(&db, &["budi@example.co.id"]).await;
        let counts = run.dispatch(&db).await;
        assert_eq!((counts.sent, counts.retried), (0, 1), "{mode}: {counts:?}");
        assert!(server.messages().is_empty());
        assert!(server.logins().is_empty());
        let errors = db
            .texts("SELECT last_error FROM deliveries WHERE status = 'queued'")
            .await;
        assert!(
            errors
                .iter()
                .flatten()
                .any(|e| e.contains("certificate") && e.contains("UnknownIssuer")),
            "{mode}: {errors:?}"
        );
    }
}

/// A password over `tls = "none"` is refused when the channel is built (so `surveyd serve`
/// does not start), naming the way out; allowed explicitly, it is sent.
#[tokio::test]
async fn credentials_in_clear_only_when_allowed() {
    let db = TestDb::sqlite().await;
    let (server, mut run) = start(&db, &[], SmtpTls::None, None).await;
    run.settings.email.smtp.allow_insecure_auth = false;
    let refused = surveyd::app::dispatcher(db.store.clone(), &run.settings, run.clock.clone())
        .map(|_| ())
        .expect_err("refused")
        .to_string();
    assert!(
        refused.contains("unencrypted") && refused.contains("allow_insecure_auth"),
        "{refused}"
    );
    run.settings.email.smtp.allow_insecure_auth = true;
    assert_eq!(run.invite(&db, &["budi@example.co.id"]).await, 1);
    assert_eq!(run.dispatch(&db).await.sent, 1);
    assert_eq!(server.logins().len(), 1);
}
