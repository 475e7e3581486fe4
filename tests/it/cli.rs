//! The `surveyd` binary as a user runs it: configuration layers, import and list, tokens,
//! and the daemon's start and graceful stop.

use crate::support;
use crate::support::{CSV_HEADER, TestDb};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `surveyd` run in `dir` with the given environment and nothing inherited from SURVEYD_*.
fn surveyd(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_surveyd"));
    cmd.current_dir(dir).args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("SURVEYD_") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd.envs(env.iter().copied());
    cmd
}

fn run(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> (Output, String, String) {
    let output = surveyd(dir, env, args).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

#[test]
fn help_explains_each_command() {
    let dir = tempfile::tempdir().unwrap();
    let (out, stdout, _) = run(dir.path(), &[], &["--help"]);
    assert!(out.status.success());
    for word in ["serve", "migrate", "contacts", "tokens", "--config"] {
        assert!(stdout.contains(word), "--help lacks {word}:\n{stdout}");
    }
    let (_, stdout, _) = run(dir.path(), &[], &["contacts", "import", "--help"]);
    for word in [
        "--rejects",
        "--format",
        "contact_id, closed_at, customer_id",
    ] {
        assert!(
            stdout.contains(word),
            "import --help lacks {word}:\n{stdout}"
        );
    }
}

#[test]
fn defaults_create_the_sqlite_file_on_first_use() {
    let dir = tempfile::tempdir().unwrap();
    let (out, stdout, stderr) = run(dir.path(), &[], &["migrate"]);
    assert!(out.status.success(), "{stderr}");
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .count();
    assert!(
        stdout.contains(&format!("{migrations} migration(s) applied")),
        "{stdout}"
    );
    assert!(dir.path().join("data/surveyd.db").exists());
    let (_, stdout, _) = run(dir.path(), &[], &["migrate"]);
    assert!(stdout.contains("0 migration(s) applied"), "{stdout}");
}

#[test]
fn config_layers_and_secrets_are_redacted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("site.toml"),
        "[http]\nlisten = \"0.0.0.0:9000\"\n[defaults]\ntime_zone = \"Asia/Makassar\"\n",
    )
    .unwrap();
    let (out, stdout, stderr) = run(
        dir.path(),
        &[
            ("SURVEYD_CONFIG", "site.toml"),
            (
                "SURVEYD_DATABASE_URL",
                "postgres://surveyd:hunter2@db.internal/surveyd",
            ),
            ("SURVEYD_DEFAULTS_LOCALE", "en"),
        ],
        &["config", "show"],
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("listen = \"0.0.0.0:9000\""),
        "file layer:\n{stdout}"
    );
    assert!(
        stdout.contains("time_zone = \"Asia/Makassar\""),
        "file layer:\n{stdout}"
    );
    assert!(
        stdout.contains("locale = \"en\""),
        "environment layer:\n{stdout}"
    );
    assert!(
        stdout.contains("postgres://surveyd:[redacted]@db.internal/surveyd"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("hunter2"),
        "the password leaked:\n{stdout}"
    );
}

#[test]
fn a_bad_config_is_refused_with_place_key_value_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().canonicalize().unwrap().join("site.toml");
    let at = |line: usize| format!("{}, line {line}: ", file.display());
    let cases = [
        (
            "[defaults]\ntime_zone = \"Mars/Base\"\n",
            format!("{}defaults.time_zone = \"Mars/Base\": ", at(2)),
            "not an IANA time zone",
        ),
        (
            "[http]\nlisten = 8080\n",
            format!("{}http.listen = 8080: ", at(2)),
            "must be an address and port such as \"127.0.0.1:8080\", not a whole number",
        ),
        (
            "[database]\nurl = \"mysql://x\"\n",
            format!("{}database.url: ", at(2)),
            "neither sqlite",
        ),
        (
            "# the site\n[htp]\nlisten = \"127.0.0.1:1\"\n",
            format!("{}htp: is not a setting (did you mean http?)", at(2)),
            "the sections are database, http,",
        ),
        (
            "[api]\ntokens = [{ name = \"x\", sha256 = \"abc\" }]\n",
            format!("{}api.tokens.0.sha256: ", at(2)),
            "64 hex digits",
        ),
        (
            "[retention]\npersonal_data = \"10d\"\n",
            format!("{}retention.personal_data = \"10d\": ", at(2)),
            "must be longer than campaign post-contact-email's lookback, delay and expiry together (21d 2h)",
        ),
        (
            "[http.rate_limit]\npages = { per_second = 1, burst = 0 }\n",
            format!("{}http.rate_limit.pages.burst = 0: ", at(2)),
            "must be at least 1",
        ),
        (
            "[email]\nsmtp_password = \"x\"\n",
            format!("{}email.smtp_password = \"x\": is not a setting", at(2)),
            "the keys of [email] are transport, from, outbox_dir, smtp and dkim",
        ),
        (
            "[dispatch]\nlease = \"5 minutes please\"\n",
            format!("{}dispatch.lease = \"5 minutes please\": ", at(2)),
            "write it like 30s, 5m, 2h or 7d",
        ),
        (
            "[[campaigns]]\nname = \"x\"\nquestionnaire = \"post-contact\"\nchannels = \"fax\"\n\
             delay = \"2h\"\nexpiry = \"7d\"\n[campaigns.audience]\nlookback = \"1d\"\n",
            format!("{}campaigns.0.channels = \"fax\": ", at(4)),
            "must be email, sms or whatsapp",
        ),
    ];
    for (content, place, reason) in cases {
        std::fs::write(&file, content).unwrap();
        let (out, _, stderr) = run(
            dir.path(),
            &[],
            &["--config", "site.toml", "config", "show"],
        );
        assert!(!out.status.success(), "accepted:\n{content}");
        assert!(
            stderr.contains(&place) && stderr.contains(reason),
            "for\n{content}\nwanted {place}… {reason}\ngot: {stderr}"
        );
        for rust in ["enum", "struct", "untagged", "``"] {
            assert!(!stderr.contains(rust), "{rust} in {stderr}");
        }
    }
    let (out, _, stderr) = run(
        dir.path(),
        &[("SURVEYD_HTTP_LISTEN", "nowhere")],
        &["config", "show"],
    );
    assert!(!out.status.success());
    assert!(
        stderr.contains("environment variable SURVEYD_HTTP_LISTEN: http.listen = \"nowhere\": "),
        "{stderr}"
    );
    let (out, _, stderr) = run(
        dir.path(),
        &[("SURVEYD_EMAIL_SMTP_PASWORD", "x")],
        &["config", "show"],
    );
    assert!(!out.status.success());
    assert!(
        stderr.contains(
            "environment variable SURVEYD_EMAIL_SMTP_PASWORD: names no setting (did you mean \
             SURVEYD_EMAIL_SMTP_PASSWORD?)"
        ),
        "{stderr}"
    );
    let (out, _, stderr) = run(dir.path(), &[], &["--config", "missing.toml", "migrate"]);
    assert!(!out.status.success());
    let missing = dir.path().canonicalize().unwrap().join("missing.toml");
    assert!(
        stderr.contains(&format!(
            "the configuration file {} does not exist",
            missing.display()
        )),
        "{stderr}"
    );
}

fn write_contacts(dir: &Path) {
    let mut file = std::fs::File::create(dir.join("contacts.csv")).unwrap();
    writeln!(file, "{CSV_HEADER}").unwrap();
    writeln!(file, "T-1,2026-11-20 10:00,C-1,Budi Santoso,budi@example.co.id,0812-3456-7890,A-1,Sari,Billing,phone,resolved").unwrap();
    writeln!(file, "T-2,2026-11-20 11:00,C-2,Jane Doe,jane@example.com,+44 20 7946 0958,A-2,Tono,Retail,email,escalated").unwrap();
    writeln!(file, "T-3,2026-11-20 12:00,C-3,Ani,ani@,08123,,,,,").unwrap();
}

fn import_and_list(dir: &Path, env: &[(&str, &str)]) {
    write_contacts(dir);
    let (out, stdout, stderr) = run(
        dir,
        env,
        &["contacts", "import", "contacts.csv", "--rejects", "bad.csv"],
    );
    assert!(
        out.status.success(),
        "bad rows do not fail the import: {stderr}"
    );
    assert!(
        stdout.contains("read 3, inserted 2, updated 0, unchanged 0, duplicates 0, rejected 1"),
        "{stdout}"
    );
    assert!(
        stderr.contains("rejected: line 4: field `email`"),
        "{stderr}"
    );
    assert!(
        std::fs::read_to_string(dir.join("bad.csv"))
            .unwrap()
            .contains("T-3")
    );

    let (out, stdout, _) = run(dir, env, &["contacts", "import", "contacts.csv", "--json"]);
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (report["unchanged"].as_u64(), report["inserted"].as_u64()),
        (Some(2), Some(0))
    );

    let (out, stdout, _) = run(
        dir,
        env,
        &["contacts", "list", "--format", "json", "--limit", "1"],
    );
    assert!(out.status.success());
    let list: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["contact_id"], "T-2");
    assert_eq!(list[0]["phone"], "+442079460958");
    assert_eq!(list[0]["closed_at"], "2026-11-20T04:00:00Z");
    let (_, table, _) = run(dir, env, &["contacts", "list"]);
    assert!(
        table.contains("Budi Santoso") && table.contains("+6281234567890"),
        "{table}"
    );
}

#[test]
fn import_and_list_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    import_and_list(dir.path(), &[]);
}

#[tokio::test]
async fn import_and_list_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = db.url.clone();
    let path = dir.path().to_owned();
    tokio::task::spawn_blocking(move || import_and_list(&path, &[("SURVEYD_DATABASE_URL", &url)]))
        .await
        .unwrap();
}

#[test]
fn an_unreadable_file_fails_the_import() {
    let dir = tempfile::tempdir().unwrap();
    let (out, _, stderr) = run(dir.path(), &[], &["contacts", "import", "nope.csv"]);
    assert!(!out.status.success());
    assert!(stderr.contains("cannot read nope.csv"), "{stderr}");
    std::fs::write(dir.path().join("x.csv"), "name,email\nBudi,b@x.id\n").unwrap();
    let (out, _, stderr) = run(dir.path(), &[], &["contacts", "import", "x.csv"]);
    assert!(!out.status.success());
    assert!(stderr.contains("x.csv: line 1: the header lacks the required column(s): contact_id, closed_at, customer_id"), "{stderr}");
}

#[test]
fn tokens_are_shown_once_and_stored_hashed() {
    let dir = tempfile::tempdir().unwrap();
    let (out, token, stderr) = run(dir.path(), &[], &["tokens", "create", "helpdesk"]);
    assert!(out.status.success(), "{stderr}");
    let token = token.trim();
    assert!(token.starts_with("sd_"), "{token}");
    let (out, _, stderr) = run(dir.path(), &[], &["tokens", "create", "helpdesk"]);
    assert!(!out.status.success());
    assert!(
        stderr.contains("a token named `helpdesk` already exists"),
        "{stderr}"
    );
    let (_, list, _) = run(dir.path(), &[], &["tokens", "list", "--format", "json"]);
    assert!(
        list.contains("\"helpdesk\"") && !list.contains(token),
        "{list}"
    );
    let db = std::fs::read(dir.path().join("data/surveyd.db")).unwrap();
    assert!(
        !db.windows(token.len()).any(|w| w == token.as_bytes()),
        "the token is stored in clear"
    );

    let mut hash = surveyd(dir.path(), &[], &["tokens", "hash"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    hash.stdin.take().unwrap().write_all(b"abc\n").unwrap();
    let out = hash.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn serve_answers_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples/contacts.csv"),
        dir.path().join("contacts.csv"),
    )
    .unwrap();
    let (out, _, stderr) = run(dir.path(), &[], &["contacts", "import", "contacts.csv"]);
    assert!(out.status.success(), "{stderr}");
    let mut child = surveyd(
        dir.path(),
        &[("SURVEYD_HTTP_LISTEN", "127.0.0.1:0")],
        &["serve"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("surveyd listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_owned();

    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    // The daemon counts the reports' per-day summary by itself: the imported contacts' days.
    let db = format!("sqlite://{}", dir.path().join("data/surveyd.db").display());
    let summarised = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let pool = sqlx::SqlitePool::connect(&db).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (days, changes): (i64, i64) = sqlx::query_as(
                "SELECT (SELECT COUNT(DISTINCT day) FROM report_days), \
                 (SELECT COUNT(*) FROM report_changes) + (SELECT COUNT(*) FROM report_dirty_days)",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            if (days > 0 && changes == 0) || Instant::now() > deadline {
                break (days, changes);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    assert!(
        summarised.0 > 0 && summarised.1 == 0,
        "days counted, changes left: {summarised:?}"
    );

    // Nine invitations for the daemon to send (the example file's contacts are too old to be
    // surveyed; the demo's closed just now).
    let (out, _, stderr) = run(dir.path(), &[], &["demo"]);
    assert!(out.status.success(), "{stderr}");
    let (out, token, stderr) = run(dir.path(), &[], &["tokens", "create", "prometheus"]);
    assert!(out.status.success(), "{stderr}");
    let token = token.trim().to_owned();
    // The metrics: the daemon's own sends, and the queue read from the database.
    let get = |path: &str, token: Option<&str>| {
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        std::io::Read::read_to_string(&mut stream, &mut response).unwrap();
        response
    };
    let unsigned = get("/metrics", None);
    assert!(unsigned.starts_with("HTTP/1.1 401"), "{unsigned}");
    let sent = r#"surveyd_deliveries_total{channel="email",provider="file",outcome="sent"} 9"#;
    let deadline = Instant::now() + Duration::from_secs(10);
    let metrics = loop {
        let metrics = get("/metrics", Some(&token));
        if metrics.contains(sent) || Instant::now() > deadline {
            break metrics;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    for line in [
        sent,
        r#"surveyd_queue_deliveries{channel="email",state="queued"} 0"#,
        r#"surveyd_queue_deliveries{channel="sms",state="due"} 0"#,
        r#"surveyd_queue_oldest_due_seconds{channel="email"} 0"#,
        r#"surveyd_send_duration_seconds_count{channel="email",provider="file"} 9"#,
        r#"surveyd_alerts{state="open"} 0"#,
    ] {
        assert!(metrics.contains(line), "no `{line}` in:\n{metrics}");
    }

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "surveyd did not stop within 10 s of SIGTERM"
        );
        std::thread::yield_now();
    };
    assert!(exit.success(), "stopped with {exit:?}");
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut logs).unwrap();
    assert!(logs.contains("serving"), "{logs}");
    assert!(
        !logs.contains('\x1b'),
        "logs to a pipe carry no terminal colour codes: {logs:?}"
    );
}

#[test]
fn campaign_list_shows_the_default_campaign_and_names_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (out, stdout, stderr) = run(dir.path(), &[], &["campaign", "list", "--format", "json"]);
    assert!(out.status.success(), "{stderr}");
    let campaigns: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(campaigns[0]["name"], "post-contact-email");
    assert_eq!(campaigns[0]["questionnaire"], "post-contact");
    assert_eq!(campaigns[0]["delay"], "2h");

    let file = dir.path().join("campaigns.toml");
    std::fs::write(
        &file,
        r#"
[[campaigns]]
name = "refunds"
questionnaire = "nps"
channel = "email"
delay = "30m"
expiry = "3d"
audience = { lookback = "7d", categories = ["refund"] }
"#,
    )
    .unwrap();
    let args = ["--config", file.to_str().unwrap(), "campaign", "list"];
    let (out, stdout, stderr) = run(dir.path(), &[], &args);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stderr.contains(
            "campaign `refunds`: questionnaire `nps` does not exist (known: post-contact)"
        ),
        "{stderr}"
    );
    assert!(
        !stderr.contains("post-contact-email"),
        "the file replaces the default campaigns"
    );

    std::fs::write(
        &file,
        std::fs::read_to_string(&file)
            .unwrap()
            .replace("\"nps\"", "\"post-contact\""),
    )
    .unwrap();
    let (out, stdout, stderr) = run(dir.path(), &[], &args);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("refunds") && stdout.contains("categories: refund"),
        "{stdout}"
    );
    assert!(!stdout.contains("post-contact-email"), "{stdout}");
}

#[test]
fn campaign_run_invites_once_and_dry_run_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let closed = (chrono::Utc::now() - chrono::Duration::hours(5)).to_rfc3339();
    std::fs::write(
        dir.path().join("c.csv"),
        format!("contact_id,closed_at,customer_id,email\nT-1,{closed},C-1,a@example.co.id\nT-2,{closed},C-2,\n"),
    )
    .unwrap();
    let env: [(&str, &str); 0] = [];
    let (out, _, stderr) = run(dir.path(), &env, &["contacts", "import", "c.csv"]);
    assert!(out.status.success(), "{stderr}");
    let plan = |extra: &[&str]| {
        let mut args = vec!["campaign", "run", "post-contact-email", "--format", "json"];
        args.extend_from_slice(extra);
        let (out, stdout, stderr) = run(dir.path(), &env, &args);
        assert!(out.status.success(), "{stderr}");
        let counts: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        (
            counts["invited"].clone(),
            counts["skipped"]["already_invited"].clone(),
            counts["skipped"]["no_address"].clone(),
        )
    };
    use serde_json::json;
    assert_eq!(plan(&["--dry-run"]), (json!(1), json!(0), json!(1)));
    assert_eq!(plan(&[]), (json!(1), json!(0), json!(1)));
    assert_eq!(plan(&[]), (json!(0), json!(1), json!(1)));

    let (out, _, stderr) = run(dir.path(), &env, &["campaign", "run", "nope"]);
    assert!(!out.status.success());
    assert!(
        stderr.contains("no campaign `nope` (known: post-contact-email)"),
        "{stderr}"
    );
}

#[test]
fn templates_check_names_file_and_line_and_locale_gaps() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing beside the binary: the built-in set.
    let (out, stdout, stderr) = run(dir.path(), &[], &["templates", "check"]);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("built-in templates (no templates.dir)"),
        "{stdout}"
    );
    assert!(stdout.contains("ok: 0 warning(s)"), "{stdout}");

    // Exported, then trimmed to the files being changed: the rest stay built in.
    let (out, stdout, stderr) = run(dir.path(), &[], &["templates", "export", "templates"]);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("files written to"), "{stdout}");
    let templates = dir.path().join("templates");
    for gone in ["sms", "whatsapp", "email/id"] {
        std::fs::remove_dir_all(templates.join(gone)).unwrap();
    }
    let (out, _, stderr) = run(dir.path(), &[], &["templates", "export", "templates"]);
    assert!(!out.status.success());
    assert!(stderr.contains("already exists"), "{stderr}");
    let over = [("SURVEYD_TEMPLATES_DIR", "templates")];
    let (out, stdout, stderr) = run(dir.path(), &over, &["templates", "check"]);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("overridden by the files of"), "{stdout}");
    assert!(stdout.contains("ok: 0 warning(s)"), "{stdout}");

    let questionnaire = templates.join("questionnaires/post-contact.toml");
    let text = std::fs::read_to_string(&questionnaire).unwrap();
    std::fs::write(
        &questionnaire,
        text.replace(", en = \"Was your issue resolved on this contact?\"", ""),
    )
    .unwrap();
    std::fs::write(
        templates.join("email/en/body.txt.hbs"),
        "Hello {{customer_name}},\n\n{{survey_link}}\n",
    )
    .unwrap();
    let words = templates.join("page/text/en.toml");
    let text = std::fs::read_to_string(&words).unwrap();
    std::fs::write(&words, text.replace("submit = \"Send my answers\"\n", "")).unwrap();
    std::fs::write(
        templates.join("page/message.hbs"),
        "{{#> layout}}\n<h1>{{heading}}</h1>\n<p>{{bdy}}</p>\n{{/layout}}\n",
    )
    .unwrap();
    let (out, stdout, _) = run(dir.path(), &over, &["templates", "check"]);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("page/text/en.toml: `submit` is missing"),
        "{stdout}"
    );
    assert!(
        stdout.contains("page/message.hbs: line 3:") && stdout.contains("bdy"),
        "{stdout}"
    );
    assert!(
        stdout.contains("question `resolved` has no `en` text; `en` customers see the `id` one"),
        "{stdout}"
    );
    assert!(
        stdout.contains("email/en/body.txt.hbs: line 3:") && stdout.contains("survey_link"),
        "{stdout}"
    );
}

/// Runs a command in `dir` (nothing beside it: the built-in templates serve); it must succeed.
/// Its standard output.
fn ok(dir: &Path, args: &[&str]) -> String {
    let (out, stdout, stderr) = run(dir, &[], args);
    assert!(out.status.success(), "{args:?}: {stdout}{stderr}");
    stdout
}

/// The survey loop on the embedded defaults, today: the demo's contacts and plan, dispatch to
/// the file outbox, the outbox and the report.
#[test]
fn the_quick_start_loop_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let ok = |args: &[&str]| ok(dir.path(), args);
    let demo: serde_json::Value = serde_json::from_str(&ok(&["demo", "--format", "json"])).unwrap();
    assert_eq!(demo["contacts"], 10);
    assert_eq!(demo["plan"]["invited"], 9);
    assert_eq!(demo["plan"]["skipped"]["no_address"], 1);
    assert_eq!(demo["links"].as_array().map(Vec::len), Some(9));
    assert_eq!(demo["links"][0]["customer"], "Budi Santoso");
    // Run again, it adds new contacts that are surveyed too.
    let again: serde_json::Value =
        serde_json::from_str(&ok(&["demo", "--format", "json"])).unwrap();
    assert_eq!(again["plan"]["invited"], 9, "{again}");

    let sent: serde_json::Value =
        serde_json::from_str(&ok(&["dispatch", "--format", "json"])).unwrap();
    let sent_now = sent[0]["sent"].as_u64().unwrap();
    assert_eq!(sent_now, 18, "{sent}");
    let outbox = dir.path().join("data/outbox");
    let emails: Vec<String> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(emails.len() as u64, sent_now);
    // The README's sed line finds the rating link in the List-Unsubscribe header's token.
    assert!(
        emails
            .iter()
            .all(|e| e.contains("\r\nList-Unsubscribe: <http://127.0.0.1:8080/u/"))
    );

    let status: serde_json::Value =
        serde_json::from_str(&ok(&["outbox", "status", "--format", "json"])).unwrap();
    assert_eq!(
        (status[0]["sent"].as_u64(), status[0]["queued"].as_u64()),
        (Some(sent_now), Some(0))
    );
    let failed: serde_json::Value =
        serde_json::from_str(&ok(&["outbox", "failed", "--format", "json"])).unwrap();
    assert_eq!(failed.as_array().map(Vec::len), Some(0));
    let (out, _, stderr) = run(dir.path(), &[], &["outbox", "retry", "999"]);
    assert!(!out.status.success());
    assert!(
        stderr.contains("no failed, expired or cancelled delivery 999"),
        "{stderr}"
    );

    let report: serde_json::Value =
        serde_json::from_str(&ok(&["report", "--by", "agent", "--format", "json"])).unwrap();
    let agents: Vec<(&str, u64)> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["keys"][0]["key"].as_str().unwrap(),
                r["sent"].as_u64().unwrap(),
            )
        })
        .collect();
    let per_run = sent_now / 9;
    assert_eq!(
        agents,
        [
            ("A-01", 2 * per_run),
            ("A-02", 2 * per_run),
            ("A-03", per_run),
            ("A-04", 2 * per_run),
            ("A-05", 2 * per_run)
        ]
    );
    assert!(report["rows"][0]["csat"].is_null(), "no answers yet");
    assert_eq!(report["rows"][0]["enough_answers"], false);
    let csv = ok(&["report", "--format", "csv"]);
    assert!(
        csv.starts_with("sent,responses,enough_answers,response_rate,response_rate_low,"),
        "{csv}"
    );
    assert!(
        csv.contains(&format!("\n{sent_now},0,false,0.0000,0.0000,")),
        "{csv}"
    );
    let (out, _, stderr) = run(dir.path(), &[], &["report", "--by", "agent,agent"]);
    assert!(!out.status.success());
    assert!(stderr.contains("`agent` is named twice"), "{stderr}");
    let (out, _, stderr) = run(
        dir.path(),
        &[],
        &["report", "--by", "team", "--period", "day"],
    );
    assert!(!out.status.success());
    assert!(
        stderr.contains("--period: a period of a day needs a `period` breakdown"),
        "{stderr}"
    );
}

/// `customers forget`: the customer's emails leave the file outbox, the counts are printed,
/// and the audit log shows it; an unknown id is an error naming it. `retention apply` removes
/// the file outbox's emails older than the retention.
#[test]
fn a_customer_is_forgotten_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let ok = |args: &[&str]| ok(dir.path(), args);
    ok(&["demo"]);
    ok(&["dispatch"]);
    let outbox = dir.path().join("data/outbox");
    let holding = |address: &str| {
        std::fs::read_dir(&outbox)
            .unwrap()
            .filter(|e| {
                std::fs::read_to_string(e.as_ref().unwrap().path())
                    .unwrap()
                    .contains(address)
            })
            .count()
    };
    assert_eq!(holding("budi@example.co.id"), 1);

    let erased: serde_json::Value = serde_json::from_str(&ok(&[
        "customers",
        "forget",
        "DEMO-C-01",
        "--yes",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(erased[0]["customers"], 1);
    assert_eq!(erased[0]["outbox_files"], 1);
    assert_eq!(holding("budi@example.co.id"), 0);
    assert_eq!(std::fs::read_dir(&outbox).unwrap().count(), 8);

    let audit: serde_json::Value =
        serde_json::from_str(&ok(&["retention", "audit", "--format", "json"])).unwrap();
    assert_eq!(audit[0]["action"], "customer.forget");
    assert_eq!(audit[0]["actor"], "cli");
    let recorded: serde_json::Value =
        serde_json::from_str(audit[0]["detail"].as_str().unwrap()).unwrap();
    assert_eq!(recorded, erased[0], "the audit counts what was printed");

    let (out, _, stderr) = run(
        dir.path(),
        &[],
        &["customers", "forget", "DEMO-C-01", "--yes"],
    );
    assert!(!out.status.success());
    assert!(
        stderr.contains("no customer has the id `DEMO-C-01`"),
        "{stderr}"
    );
    // Nothing in the database is older than a year: retention erases nothing there; one
    // email of the file outbox written two years ago goes.
    let old = std::fs::read_dir(&outbox)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let two_years_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(730 * 86_400);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(two_years_ago)
        .unwrap();
    let applied: serde_json::Value =
        serde_json::from_str(&ok(&["retention", "apply", "--format", "json"])).unwrap();
    assert_eq!(applied[0]["customers"], 0);
    assert_eq!(applied[0]["outbox_files"], 1);
    assert!(!old.exists());
    assert_eq!(std::fs::read_dir(&outbox).unwrap().count(), 7);
}

/// The production example loads as it is shipped, and its campaign checks against the
/// templates.
#[test]
fn the_production_example_config_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/production.example.toml"
    );
    let args = ["--config", config, "campaign", "list", "--format", "json"];
    let (out, stdout, stderr) = run(dir.path(), &[], &args);
    assert!(out.status.success(), "{stderr}");
    let campaigns: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(campaigns[0]["name"], "post-contact-whatsapp");
    let (out, stdout, stderr) = run(dir.path(), &[], &["--config", config, "config", "show"]);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("format = \"json\""), "{stdout}");
}

/// Every `SURVEYD_*` variable the README, the docs, the shipped configuration and the systemd
/// unit name takes effect: set together over a file with every optional setting, each shows
/// in `config show` at its key, secrets as `[redacted]` and nowhere in clear.
#[test]
fn every_documented_variable_takes_effect() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut documented = std::collections::BTreeSet::new();
    let mut texts = vec![
        root.join("README.md"),
        root.join("debian/surveyd.service"),
        root.join("debian/surveyd.toml"),
    ];
    for folder in ["docs", "config"] {
        for entry in std::fs::read_dir(root.join(folder)).unwrap() {
            texts.push(entry.unwrap().path());
        }
    }
    for path in texts {
        let text = std::fs::read_to_string(&path).unwrap();
        for (at, _) in text.match_indices("SURVEYD_") {
            let name: String = text[at..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if !name.ends_with('_') {
                documented.insert(name);
            }
        }
    }
    // (variable, value, key in `config show`, shown value: None for a secret)
    let cases: &[(&str, &str, &str, Option<&str>)] = &[
        (
            "SURVEYD_ALERTS_TEAM_LEADS_BILLING",
            "boss@example.co.id",
            "alerts.team_leads.Billing",
            Some("boss@example.co.id"),
        ),
        (
            "SURVEYD_ALERTS_WEBHOOK_SECRET",
            "another-secret-of-16",
            "alerts.webhook.secret",
            None,
        ),
        (
            "SURVEYD_ALERTS_WEBHOOK_URL",
            "https://hooks.example.co.id/in",
            "alerts.webhook.url",
            Some("https://hooks.example.co.id/in"),
        ),
        (
            "SURVEYD_CAMPAIGNS_POST_CONTACT_EMAIL_DELAY",
            "3h",
            "campaigns.0.delay",
            Some("3h"),
        ),
        (
            "SURVEYD_DATABASE_URL",
            "postgres://surveyd:s3cret-db@db.internal/surveyd",
            "database.url",
            Some("postgres://surveyd:[redacted]@db.internal/surveyd"),
        ),
        (
            "SURVEYD_EMAIL_SMTP_PASSWORD",
            "98765432109876",
            "email.smtp.password",
            None,
        ),
        (
            "SURVEYD_EMAIL_SMTP_USERNAME",
            "mailer",
            "email.smtp.username",
            Some("mailer"),
        ),
        (
            "SURVEYD_GATEWAYS_FONNTE_INBOUND_SECRET",
            "s3cret-fonnte-in",
            "gateways.fonnte.inbound.secret",
            None,
        ),
        (
            "SURVEYD_GATEWAYS_FONNTE_SEND_AUTH_VALUE",
            "s3cret-fonnte-out",
            "gateways.fonnte.send.auth.value",
            None,
        ),
        (
            "SURVEYD_GATEWAYS__MY_GATEWAY__SEND__URL",
            "https://mine.example/send",
            "gateways.my_gateway.send.url",
            Some("https://mine.example/send"),
        ),
        (
            "SURVEYD_HTTP_LISTEN",
            "0.0.0.0:9000",
            "http.listen",
            Some("0.0.0.0:9000"),
        ),
        (
            "SURVEYD_HTTP_RATE_LIMIT_PAGES",
            "{ per_second = 5, burst = 50 }",
            "http.rate_limit.pages.burst",
            Some("50"),
        ),
        ("SURVEYD_LOG_FORMAT", "json", "log.format", Some("json")),
        (
            "SURVEYD_SOURCES_HELPDESK_URL",
            "postgres://reader:s3cret-src@other/helpdesk",
            "sources.0.url",
            Some("postgres://reader:[redacted]@other/helpdesk"),
        ),
        (
            "SURVEYD_SURVEY_KEY",
            "abababababababababababababababababababababababababababababababab",
            "survey.key",
            None,
        ),
        (
            "SURVEYD_TEMPLATES_DIR",
            "/srv/surveyd/templates",
            "templates.dir",
            Some("/srv/surveyd/templates"),
        ),
        (
            "SURVEYD_TWILIO_ACCOUNT_SID",
            "AC0123456789",
            "twilio.account_sid",
            Some("AC0123456789"),
        ),
        (
            "SURVEYD_TWILIO_AUTH_TOKEN",
            "s3cret-twilio",
            "twilio.auth_token",
            None,
        ),
        (
            "SURVEYD_WHATSAPP_ACCESS_TOKEN",
            "s3cret-meta-access",
            "whatsapp.access_token",
            None,
        ),
        (
            "SURVEYD_WHATSAPP_APP_SECRET",
            "s3cret-meta-app",
            "whatsapp.app_secret",
            None,
        ),
        (
            "SURVEYD_WHATSAPP_VERIFY_TOKEN",
            "s3cret-meta-verify",
            "whatsapp.verify_token",
            None,
        ),
    ];
    // Named for what they are not: the file's variable, and a typo shown being refused.
    let not_settings = ["SURVEYD_CONFIG", "SURVEYD_EMAIL_SMTP_PASWORD"];
    for name in &documented {
        assert!(
            not_settings.contains(&name.as_str()) || cases.iter().any(|c| c.0 == name),
            "{name} is documented but not tested here: add it to the cases"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let fixture = root.join("tests/fixtures/every-key.toml");
    let mut env: Vec<(&str, &str)> = cases.iter().map(|c| (c.0, c.1)).collect();
    let fixture = fixture.to_str().unwrap();
    env.push(("SURVEYD_CONFIG", fixture));
    let (out, stdout, stderr) = run(dir.path(), &env, &["config", "show"]);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.starts_with("# The built-in defaults, then "),
        "{stdout}"
    );
    let shown: toml::Value = toml::from_str(&stdout).unwrap();
    for (variable, value, key, expected) in cases {
        let mut at = &shown;
        for step in key.split('.') {
            at = match step.parse::<usize>() {
                Ok(i) => &at[i],
                Err(_) => at
                    .get(step)
                    .unwrap_or_else(|| panic!("{variable}: no {key} in\n{stdout}")),
            };
        }
        let text = match at {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match expected {
            Some(expected) => assert_eq!(&text, expected, "{variable}"),
            None => {
                assert_eq!(text, "[redacted]", "{variable}");
                assert!(
                    !stdout.contains(value),
                    "{variable}'s value is shown:\n{stdout}"
                );
            }
        }
    }
    for secret in ["s3cret-db", "s3cret-src"] {
        assert!(!stdout.contains(secret), "{secret} leaked");
    }
}

/// A command that only reads, run where there is no database (the wrong folder, a server
/// whose settings it did not see), says so and creates nothing; on PostgreSQL, a database
/// without surveyd's tables likewise.
#[tokio::test(flavor = "multi_thread")]
async fn read_only_commands_refuse_to_create_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let reads: [&[&str]; 6] = [
        &["report"],
        &["outbox", "status"],
        &["inbox", "status"],
        &["alerts", "list"],
        &["export", "responses"],
        &["contacts", "list"],
    ];
    let missing = dir.path().canonicalize().unwrap().join("data/surveyd.db");
    for args in reads {
        let (out, stdout, stderr) = run(dir.path(), &[], args);
        assert!(!out.status.success(), "{args:?} ran: {stdout}");
        assert!(
            stderr.contains(&format!("no database at {}", missing.display()))
                && stderr.contains("set database.url or SURVEYD_CONFIG"),
            "{args:?}: {stderr}"
        );
    }
    assert!(!dir.path().join("data").exists(), "a folder was created");
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    // A database the tests made with the tables dropped: nothing of surveyd's in it.
    db.store.close().await;
    let url = db.url.clone();
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query("DROP SCHEMA public CASCADE")
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query("CREATE SCHEMA public")
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let (out, _, stderr) = run(dir.path(), &[("SURVEYD_DATABASE_URL", &url)], &["report"]);
    assert!(!out.status.success());
    assert!(stderr.contains("(it has no surveyd tables)"), "{stderr}");
}

/// Every list with nothing in it says so in a sentence (JSON stays `[]`).
#[test]
fn empty_lists_say_so_in_words() {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["migrate"]);
    for (args, sentence) in [
        (&["alerts", "list"][..], "no alerts"),
        (
            &["alerts", "list", "--state", "resolved"],
            "no resolved alerts",
        ),
        (
            &["outbox", "failed"],
            "no failed, expired or cancelled deliveries",
        ),
        (&["tokens", "list"], "no tokens"),
        (&["retention", "audit"], "no audit events"),
        (&["inbox", "status"], "no events"),
        (
            &["campaign", "runs", "post-contact-email"],
            "no runs of campaign",
        ),
        (&["sources", "list"], "no sources"),
        (&["contacts", "list"], "no contacts"),
    ] {
        let table = ok(dir.path(), args);
        assert!(table.starts_with(sentence), "{args:?}: {table}");
        assert!(
            !table.contains('+') && !table.contains('|'),
            "{args:?}: {table}"
        );
        if args != ["inbox", "status"] {
            let json = ok(dir.path(), &[args, &["--format", "json"]].concat());
            assert_eq!(json.trim(), "[]", "{args:?}");
        }
    }
}

/// Times in tables are on the reports' clock with the zone's name (`reports.time_zone`, else
/// `defaults.time_zone`), in UTC with `--utc`; JSON keeps RFC 3339 in UTC.
#[test]
fn times_show_their_zone_and_utc_on_request() {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["tokens", "create", "helpdesk"]);
    let json: serde_json::Value =
        serde_json::from_str(&ok(dir.path(), &["tokens", "list", "--format", "json"])).unwrap();
    let created: chrono::DateTime<chrono::Utc> =
        json[0]["created_at"].as_str().unwrap().parse().unwrap();
    assert!(json[0]["created_at"].as_str().unwrap().ends_with('Z'));
    let shown = |zone: chrono_tz::Tz| {
        created
            .with_timezone(&zone)
            .format("%Y-%m-%d %H:%M %Z")
            .to_string()
    };
    let table = ok(dir.path(), &["tokens", "list"]);
    assert!(table.contains(&shown(chrono_tz::Asia::Jakarta)), "{table}");
    assert!(
        table.contains(" WIB ") && table.contains("never"),
        "{table}"
    );
    let utc = ok(dir.path(), &["tokens", "list", "--utc"]);
    assert!(utc.contains(&shown(chrono_tz::UTC)), "{utc}");
    let (out, makassar, stderr) = run(
        dir.path(),
        &[("SURVEYD_REPORTS_TIME_ZONE", "Asia/Makassar")],
        &["tokens", "list"],
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        makassar.contains(&shown(chrono_tz::Asia::Makassar)),
        "{makassar}"
    );
    assert!(makassar.contains(" WITA "), "{makassar}");
}

/// `customers show`: details, contacts, invitations and opt-outs, as a table and as JSON; an
/// unknown id is an error naming it.
#[test]
fn customers_show_lists_one_customer() {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["demo"]);
    let table = ok(dir.path(), &["customers", "show", "DEMO-C-01"]);
    for part in [
        "Budi Santoso",
        "budi@example.co.id",
        "Asia/Jakarta",
        "Sari Wijaya (A-01)",
        "post-contact-email",
        "planned",
        "no opt-outs",
    ] {
        assert!(table.contains(part), "no {part:?} in\n{table}");
    }
    let json: serde_json::Value = serde_json::from_str(&ok(
        dir.path(),
        &["customers", "show", "DEMO-C-01", "--format", "json"],
    ))
    .unwrap();
    assert_eq!(json["customer"]["name"], "Budi Santoso");
    assert_eq!(json["customer"]["locale"], "id");
    assert_eq!(json["contacts"].as_array().map(Vec::len), Some(1));
    assert_eq!(json["contacts"][0]["team"], "Billing");
    assert_eq!(json["invitations"][0]["campaign"], "post-contact-email");
    assert_eq!(json["invitations"][0]["channel"], "email");
    assert_eq!(json["opt_outs"], serde_json::json!([]));
    let (out, _, stderr) = run(dir.path(), &[], &["customers", "show", "C-NOPE"]);
    assert!(!out.status.success());
    assert!(
        stderr.contains("no customer has the id `C-NOPE`"),
        "{stderr}"
    );
}

/// `surveyd` with `answer` typed on a terminal as its standard input (a pseudo-terminal).
fn on_terminal(dir: &Path, args: &[&str], answer: &str) -> (Output, String, String) {
    use std::os::fd::{FromRawFd, OwnedFd};
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes the two descriptors it opens; no name, default settings.
    let opened = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(opened, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened and are owned here alone.
    let (master, slave) = unsafe {
        (
            std::fs::File::from_raw_fd(master),
            OwnedFd::from_raw_fd(slave),
        )
    };
    // Typed ahead: the terminal keeps the line until the command reads it.
    (&master).write_all(answer.as_bytes()).unwrap();
    let output = surveyd(dir, &[], args)
        .stdin(Stdio::from(slave))
        .output()
        .unwrap();
    drop(master);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

/// `customers forget` asks on a terminal (only "y" erases) and, from a script, refuses
/// without `--yes`; nothing is erased until it goes ahead.
#[test]
fn forgetting_a_customer_asks_first() {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["demo"]);
    let forget = ["customers", "forget", "DEMO-C-02"];
    let still_there = || ok(dir.path(), &["customers", "show", "DEMO-C-02"]);

    let (out, _, stderr) = run(dir.path(), &[], &forget);
    assert!(!out.status.success());
    assert!(
        stderr.contains("not forgetting customer `DEMO-C-02`: standard input is not a terminal")
            && stderr.contains("--yes"),
        "{stderr}"
    );
    assert!(still_there().contains("DEMO-C-02"));

    let (out, _, stderr) = on_terminal(dir.path(), &forget, "n\n");
    assert!(!out.status.success());
    assert!(stderr.contains("Forget customer `DEMO-C-02` ("), "{stderr}");
    assert!(stderr.contains("[y/N]"), "{stderr}");
    assert!(
        stderr.contains("customer `DEMO-C-02` not forgotten"),
        "{stderr}"
    );
    assert!(still_there().contains("DEMO-C-02"));

    let (out, stdout, stderr) = on_terminal(dir.path(), &forget, "y\n");
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("customer `DEMO-C-02` forgotten"),
        "{stderr}"
    );
    assert!(stdout.contains("customers"), "{stdout}");
    let (out, _, _) = run(dir.path(), &[], &["customers", "show", "DEMO-C-02"]);
    assert!(!out.status.success(), "forgotten: the id is gone");
}

/// The daemon warns at start when answers raise alerts that would go to no one.
#[test]
fn serve_warns_when_alerts_go_to_no_one() {
    let dir = tempfile::tempdir().unwrap();
    let warning = "detractor alerts are raised (alerts.csat_at_most = 2, alerts.nps_at_most = 6, \
                   alerts.unresolved = true) but go to no one";
    let logs = |env: &[(&str, &str)]| {
        let mut env = env.to_vec();
        env.push(("SURVEYD_HTTP_LISTEN", "127.0.0.1:0"));
        let mut child = surveyd(dir.path(), &env, &["serve"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Started (the warning comes before the address is printed), then stopped.
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("surveyd listening on"), "{line}");
        child.kill().unwrap();
        child.wait().unwrap();
        let mut logs = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut logs).unwrap();
        logs
    };
    let unrouted = logs(&[]);
    assert!(unrouted.contains(warning), "{unrouted}");
    assert!(unrouted.contains("WARN"), "{unrouted}");
    let routed = logs(&[("SURVEYD_ALERTS_TEAM_LEADS_BILLING", "lead@example.co.id")]);
    assert!(!routed.contains("go to no one"), "{routed}");
}

/// `campaign preview` shows each channel's message as it would go, in the language asked
/// for, for a sample or a stored contact; `--to` sends one test message to a real SMTP server
/// and records nothing.
#[test]
fn campaign_preview_renders_each_channel_and_sends_one_test_message() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = support::SmtpServer::start();
    std::fs::write(
        dir.path().join("site.toml"),
        format!(
            "[email]\ntransport = \"smtp\"\n[email.smtp]\nport = {}\n\
             [[campaigns]]\nname = \"chat\"\nquestionnaire = \"post-contact\"\n\
             channels = [\"whatsapp\", \"sms\", \"email\"]\ndelay = \"1h\"\nexpiry = \"3d\"\n\
             [campaigns.audience]\nlookback = \"2d\"\n",
            smtp.port
        ),
    )
    .unwrap();
    let env = [("SURVEYD_CONFIG", "site.toml")];
    let (out, stdout, stderr) = run(dir.path(), &env, &["campaign", "preview", "chat"]);
    assert!(out.status.success(), "{stderr}");
    for part in [
        "== whatsapp to +6281234567890",
        "== sms to +6281234567890 (GSM-7",
        "Balas 1-5.",
        "== email to Budi Santoso <budi@example.co.id>",
        "Subject: Bagaimana layanan kami bersama Sari Wijaya?",
    ] {
        assert!(stdout.contains(part), "no {part:?} in\n{stdout}");
    }
    let (out, stdout, stderr) = run(
        dir.path(),
        &env,
        &[
            "campaign",
            "preview",
            "chat",
            "--channel",
            "email",
            "--locale",
            "en",
            "--kind",
            "reminder",
        ],
    );
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("Subject: A quick reminder"), "{stdout}");
    assert!(!stdout.contains("== sms"), "{stdout}");

    // A stored contact's own data.
    ok(dir.path(), &["demo"]);
    let contact = {
        let list: serde_json::Value =
            serde_json::from_str(&ok(dir.path(), &["contacts", "list", "--format", "json"]))
                .unwrap();
        list.as_array()
            .unwrap()
            .iter()
            .find(|c| c["customer_name"] == "Emily Clarke")
            .map(|c| c["contact_id"].as_str().unwrap().to_owned())
            .unwrap()
    };
    let (out, stdout, stderr) = run(
        dir.path(),
        &[],
        &[
            "campaign",
            "preview",
            "post-contact-email",
            "--contact",
            &contact,
        ],
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("== email to Emily Clarke <emily@example.com>"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Hello Emily Clarke"),
        "her language: {stdout}"
    );

    let before: serde_json::Value =
        serde_json::from_str(&ok(dir.path(), &["outbox", "status", "--format", "json"])).unwrap();
    let (out, stdout, stderr) = run(
        dir.path(),
        &env,
        &[
            "campaign",
            "preview",
            "chat",
            "--to",
            "tester@example.co.id",
        ],
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("sent a test email to tester@example.co.id"),
        "{stdout}"
    );
    let got = smtp.wait_for(1, Duration::from_secs(10));
    assert_eq!(got.len(), 1);
    assert!(got[0].contains("tester@example.co.id"), "{}", got[0]);
    let after: serde_json::Value =
        serde_json::from_str(&ok(dir.path(), &["outbox", "status", "--format", "json"])).unwrap();
    assert_eq!(before, after, "a test message is not a delivery");
    let (out, _, stderr) = run(
        dir.path(),
        &env,
        &["campaign", "preview", "chat", "--to", "not an address"],
    );
    assert!(!out.status.success());
    assert!(
        stderr.contains("is neither an email address nor a phone number"),
        "{stderr}"
    );
}
