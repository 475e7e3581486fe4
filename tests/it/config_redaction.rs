//! `surveyd config show` hides the passwords and secret query parameters inside URLs (the
//! database's, a source's, the alert webhook's) as it hides other secrets.

use crate::support;

#[test]
fn config_show_hides_secrets_inside_urls() {
    let dir = tempfile::tempdir().unwrap();
    let config = r#"
[database]
url = "postgres://surveyd:db-pass-1@db.internal:5432/surveyd?sslmode=require&password=db-pass-2"

[alerts.webhook]
url = "https://hooks.example.co.id/surveyd?team=billing&token=hook-token-3&sig=hook-sig-4"
secret = "a webhook secret of length"

[[sources]]
name = "helpdesk"
url = "postgres://reader:source-pass-5@helpdesk.internal/tickets"
query = "SELECT 1"
schedule = { every = "5m" }
"#;
    let shown = support::surveyd_with_config(dir.path(), config, &["config", "show"]);
    for secret in [
        "db-pass-1",
        "db-pass-2",
        "hook-token-3",
        "hook-sig-4",
        "source-pass-5",
    ] {
        assert!(!shown.contains(secret), "{secret} shown:\n{shown}");
    }
    for kept in [
        "postgres://surveyd:[redacted]@db.internal:5432/surveyd?sslmode=require&password=[redacted]",
        "https://hooks.example.co.id/surveyd?team=billing&token=[redacted]&sig=[redacted]",
        "postgres://reader:[redacted]@helpdesk.internal/tickets",
    ] {
        assert!(shown.contains(kept), "{kept} not shown:\n{shown}");
    }
}
