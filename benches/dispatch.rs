//! Dispatch benchmark, end to end: due email deliveries in a fresh database → the release
//! `surveyd dispatch` → Postfix's `smtp-sink` on loopback. In the same run it measures the
//! ceiling: Postfix's `smtp-source` against the same sink with the same number of
//! connections and messages of the same size. SQLite always; PostgreSQL too when
//! `TEST_POSTGRES_URL` is set. Then `surveyd report --by agent` over a million answered
//! invitations on each backend.
//!
//!     cargo bench --bench dispatch                            # 100,000 messages
//!     cargo bench --bench dispatch -- --messages 20000 --responses 100000
//!
//! Then 100,000 SMS (as many as `--messages`) through the Twilio emulator of the tests, beside
//! what `wrk` gets from the emulator alone.
//!
//! Needs `smtp-sink` and `smtp-source` (Debian's `postfix` package) and `wrk`.

mod common;

#[path = "../tests/it/support/emulator.rs"]
mod emulator;
#[path = "../tests/it/support/twilio.rs"]
#[allow(dead_code)] // the benchmark uses the emulator, not the test helpers beside it
mod twilio;

use common::{contact, databases, figure, free_port, settings};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use surveyd::config::DatabaseUrl;
use surveyd::domain::SurveyChannel;
use surveyd::domain::{ContactRecord, Email, ExternalId, Phone};
use surveyd::store::Store;

/// Connections, for both surveyd and smtp-source.
const CONNECTIONS: usize = 16;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let option = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(|v| v.replace('_', "").parse().expect("a number"))
            .unwrap_or(default)
    };
    let messages = option("--messages", 100_000);
    let responses = option("--responses", 1_000_000);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let work = tempfile::tempdir().unwrap();

    let port = free_port();
    let _sink = Sink::start(port);
    println!(
        "dispatch benchmark: {messages} messages, {CONNECTIONS} connections, smtp-sink on port {port}"
    );
    let size = runtime.block_on(sample_size(work.path()));
    let ceiling = smtp_source(port, messages, size);
    println!("  ceiling (smtp-source, {size}-byte messages): {ceiling:.0} messages/s");

    for (name, url) in databases(&runtime, work.path(), "dispatch") {
        let store = runtime.block_on(seed_deliveries(&url, messages, SurveyChannel::Email));
        let seconds = timed_dispatch(&config_file(work.path(), &url, port));
        let sent = runtime
            .block_on(store.outbox_status(chrono::Utc::now()))
            .unwrap()
            .sent;
        assert_eq!(sent as usize, messages, "every delivery sent");
        let rate = messages as f64 / seconds;
        println!(
            "  {name}: {messages} sent in {seconds:.1} s = {rate:.0} messages/s ({:.0}% of the ceiling)",
            100.0 * rate / ceiling
        );
        figure(
            &format!("email sent, {messages} messages"),
            name,
            rate,
            "messages/s",
            Some((ceiling, "smtp-source")),
        );
        runtime.block_on(store.close());
    }

    sms_benchmark(&runtime, work.path(), messages, port);

    println!("report benchmark: `surveyd report --by agent` over {responses} answered invitations");
    for (name, url) in databases(&runtime, work.path(), "report") {
        runtime.block_on(seed_responses(&url, responses));
        let config = config_file(work.path(), &url, port);
        let mut best = f64::MAX;
        for _ in 0..3 {
            let started = Instant::now();
            let out = Command::new(env!("CARGO_BIN_EXE_surveyd"))
                .args([
                    "--config", &config, "report", "--by", "agent", "--format", "csv",
                ])
                .output()
                .unwrap();
            best = best.min(started.elapsed().as_secs_f64());
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(String::from_utf8_lossy(&out.stdout).lines().count() > 1);
        }
        println!("  {name}: {best:.2} s (best of 3, whole command)");
        figure(
            &format!("`report --by agent`, {responses} answers"),
            name,
            best,
            "s",
            None,
        );
    }
}

/// SMS through the Twilio emulator (tests/it/support/twilio.rs) with the rate limit off: the
/// release `surveyd dispatch` against what `wrk` gets from the emulator alone.
fn sms_benchmark(runtime: &tokio::runtime::Runtime, dir: &Path, messages: usize, smtp_port: u16) {
    let twilio = runtime.block_on(twilio::TwilioEmulator::start(twilio::Behaviour::default()));
    let messages_url = format!(
        "{}/2010-04-01/Accounts/{}/Messages.json",
        twilio.base,
        twilio::ACCOUNT_SID
    );
    println!(
        "SMS benchmark: {messages} messages through the Twilio emulator, {CONNECTIONS} connections"
    );
    let ceiling = wrk(dir, &messages_url);
    println!(
        "  ceiling (wrk against the emulator, {CONNECTIONS} connections, 10 s): {ceiling:.0} requests/s"
    );
    let extra = format!(
        "[channels]\nsms = \"twilio\"\n[twilio]\nbase_url = \"{}\"\naccount_sid = \"{}\"\n\
         auth_token = \"{}\"\nfrom = \"{}\"\nrate_per_second = 0\nmax_connections = {CONNECTIONS}\n",
        twilio.base,
        twilio::ACCOUNT_SID,
        twilio::AUTH_TOKEN,
        twilio::FROM
    );
    for (name, url) in databases(runtime, dir, "sms") {
        let store = runtime.block_on(seed_deliveries(&url, messages, SurveyChannel::Sms));
        let before = twilio.accepted().len();
        let seconds = timed_dispatch(&config_with(dir, &url, smtp_port, &extra));
        assert_eq!(
            twilio.accepted().len() - before,
            messages,
            "every SMS accepted"
        );
        let rate = messages as f64 / seconds;
        println!(
            "  {name}: {messages} sent in {seconds:.1} s = {rate:.0} messages/s ({:.0}% of the emulator's ceiling)",
            100.0 * rate / ceiling
        );
        figure(
            &format!("SMS sent (Twilio emulator), {messages} messages"),
            name,
            rate,
            "messages/s",
            Some((ceiling, "wrk → emulator")),
        );
        runtime.block_on(store.close());
    }
}

/// Runs the release `surveyd dispatch` with `config` until nothing is due; its seconds.
fn timed_dispatch(config: &str) -> f64 {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_surveyd"))
        .args(["--config", config, "dispatch", "--format", "json"])
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    seconds
}

/// Requests per second `wrk` gets from the emulator: SMS-sized form POSTs with Basic auth over
/// [`CONNECTIONS`] connections for 10 seconds.
fn wrk(dir: &Path, url: &str) -> f64 {
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        twilio::ACCOUNT_SID,
        twilio::AUTH_TOKEN
    ));
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("To", "+6281200000001")
        .append_pair("From", twilio::FROM)
        .append_pair(
            "Body",
            &"Halo Customer 1, terima kasih telah menghubungi kami. ".repeat(3),
        )
        .append_pair(
            "StatusCallback",
            "https://survey.example.com/webhooks/twilio/status",
        )
        .finish();
    let script = dir.join("twilio.lua");
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.body = \"{body}\"\n\
             wrk.headers[\"Content-Type\"] = \"application/x-www-form-urlencoded\"\n\
             wrk.headers[\"Authorization\"] = \"Basic {auth}\"\n"
        ),
    )
    .unwrap();
    let out = Command::new("wrk")
        .args(["-t2", &format!("-c{CONNECTIONS}"), "-d10s", "-s"])
        .arg(&script)
        .arg(url)
        .output()
        .expect("wrk runs (Debian's wrk package)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("Non-2xx"),
        "the emulator refused wrk's requests:\n{text}"
    );
    text.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no rate in wrk's output:\n{text}"))
}

/// smtp-sink, accepting everything and keeping nothing.
struct Sink(Child);

impl Sink {
    fn start(port: u16) -> Sink {
        let mut command = Command::new("smtp-sink");
        // It refuses to run as root unless told which user to become.
        if unsafe { libc::geteuid() } == 0 {
            command.args(["-u", "nobody"]);
        }
        let child = command
            .args([&format!("127.0.0.1:{port}"), "1024"])
            .stdout(Stdio::null())
            .spawn()
            .expect("smtp-sink runs (Debian's postfix package)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "smtp-sink did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Sink(child)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Messages per second smtp-source reaches: `count` messages of `size` bytes over
/// [`CONNECTIONS`] sessions, each kept open for the next message.
fn smtp_source(port: u16, count: usize, size: usize) -> f64 {
    let started = Instant::now();
    let status = Command::new("smtp-source")
        .args([
            "-d",
            "-s",
            &CONNECTIONS.to_string(),
            "-m",
            &count.to_string(),
            "-l",
            &size.to_string(),
            "-f",
            "care@example.com",
            "-t",
            "customer@example.com",
            &format!("127.0.0.1:{port}"),
        ])
        .status()
        .expect("smtp-source runs (Debian's postfix package)");
    assert!(status.success());
    count as f64 / started.elapsed().as_secs_f64()
}

/// The size of one rendered invitation email, for a like-for-like ceiling.
async fn sample_size(dir: &Path) -> usize {
    let url = format!("sqlite://{}/sample.db", dir.display());
    let store = seed_deliveries(&url, 1, SurveyChannel::Email).await;
    let outbox = dir.join("sample-outbox");
    let mut settings = settings(&url);
    settings.email.outbox_dir = outbox.clone();
    let dispatcher = std::sync::Arc::new(
        surveyd::app::dispatcher(store.clone(), &settings, surveyd::clock::Clock::system())
            .unwrap(),
    );
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    dispatcher
        .run(surveyd::dispatch::Mode::UntilIdle, stopped)
        .await
        .unwrap();
    store.close().await;
    std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len() as usize)
        .next()
        .expect("one message written")
}

fn config_file(dir: &Path, url: &str, port: u16) -> String {
    config_with(dir, url, port, "")
}

/// The benchmark's configuration file, with `extra` TOML appended.
fn config_with(dir: &Path, url: &str, port: u16, extra: &str) -> String {
    let path = dir.join("bench.toml");
    std::fs::write(
        &path,
        format!(
            "[database]\nurl = \"{url}\"\n[templates]\ndir = \"{}/templates\"\n\
             [survey]\npublic_url = \"https://survey.example.com\"\nkey = \"{}\"\n\
             [email]\ntransport = \"smtp\"\n[email.smtp]\nport = {port}\nmax_connections = {CONNECTIONS}\n{extra}",
            env!("CARGO_MANIFEST_DIR"),
            "42".repeat(32)
        ),
    )
    .unwrap();
    path.display().to_string()
}

/// `count` contacts closed a day ago, planned by the default campaign: `count` due deliveries.
async fn seed_deliveries(url: &str, count: usize, channel: SurveyChannel) -> Store {
    let store = Store::open(&DatabaseUrl::parse(url).unwrap(), 4)
        .await
        .unwrap();
    let now = chrono::Utc::now();
    let contacts: Vec<ContactRecord> = (0..count)
        .map(|i| ContactRecord {
            email: Some(Email::parse(&format!("customer{i}@example.com")).unwrap()),
            phone: Some(Phone::parse(&format!("+62812{i:08}")).unwrap()),
            agent_id: Some(ExternalId::parse(&format!("A-{}", i % 200)).unwrap()),
            agent_name: Some(format!("Agent {}", i % 200)),
            team: Some(ExternalId::parse(&format!("Team-{}", i % 12)).unwrap()),
            category: Some("billing".into()),
            ..contact(i, now - chrono::Duration::days(1))
        })
        .collect();
    for chunk in contacts.chunks(10_000) {
        store.upsert_contacts(chunk, now).await.unwrap();
    }
    let settings = settings(url);
    let mut campaign = settings.campaigns[0].clone();
    campaign.channels = vec![channel];
    let planned = store
        .plan_invitations(&campaign, now, false, &settings.survey_key().unwrap())
        .await
        .unwrap();
    assert_eq!(planned.invited as usize, count);
    store
}

/// `count` sent and answered invitations (CSAT, resolved) over 200 agents in 12 teams,
/// written by SQL inside the database.
async fn seed_responses(url: &str, count: usize) {
    let store = seed_deliveries(url, 0, SurveyChannel::Email).await;
    let sqlite = url.starts_with("sqlite");
    let numbers = if sqlite {
        format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}) "
        )
    } else {
        format!("WITH n(i) AS (SELECT generate_series(1, {count})) ")
    };
    let now = if sqlite {
        "'2026-11-01 00:00:00+00:00'"
    } else {
        "TIMESTAMPTZ '2026-11-01 00:00:00+00'"
    };
    let statements = [
        format!(
            "INSERT INTO teams (external_id, name, created_at, updated_at) {numbers} SELECT 'Team-' || i, 'Team ' || i, {now}, {now} FROM n WHERE i <= 12"
        ),
        format!(
            "INSERT INTO agents (external_id, name, team_id, created_at, updated_at) {numbers} SELECT 'A-' || i, 'Agent ' || i, 1 + i % 12, {now}, {now} FROM n WHERE i <= 200"
        ),
        format!(
            "INSERT INTO customers (external_id, name, email, created_at, updated_at) {numbers} SELECT 'C-' || i, 'Customer ' || i, 'c' || i || '@example.com', {now}, {now} FROM n"
        ),
        format!(
            "INSERT INTO contacts (external_id, customer_id, agent_id, team_id, closed_at, created_at, updated_at) {numbers} SELECT 'T-' || i, i, 1 + i % 200, 1 + (i % 200) % 12, {now}, {now}, {now} FROM n"
        ),
        format!(
            "INSERT INTO invitations (campaign, contact_id, customer_id, questionnaire, channel, state, created_at, sent_at, answered_at, csat, fcr) {numbers} SELECT 'post-contact-email', i, i, 'post-contact', 'email', 'answered', {now}, {now}, {now}, 1 + (i * 7 + i / 200) % 5, (i + i / 200) % 4 / 3 FROM n"
        ),
        format!(
            "INSERT INTO responses (invitation_id, question, metric, number, channel, received_at) {numbers} SELECT i, 'csat', 'csat', 1 + (i * 7 + i / 200) % 5, 'email', {now} FROM n"
        ),
        format!(
            "INSERT INTO responses (invitation_id, question, metric, number, channel, received_at) {numbers} SELECT i, 'resolved', 'fcr', (i + i / 200) % 4 / 3, 'email', {now} FROM n"
        ),
    ];
    match &common::raw::Raw::connect(url).await {
        common::raw::Raw::Sqlite(pool) => {
            for sql in &statements {
                sqlx::query(sql).execute(pool).await.unwrap();
            }
        }
        common::raw::Raw::Postgres(pool) => {
            for sql in &statements {
                sqlx::query(sql).execute(pool).await.unwrap();
            }
            sqlx::query("ANALYZE").execute(pool).await.unwrap();
        }
    }
    store.close().await;
}
