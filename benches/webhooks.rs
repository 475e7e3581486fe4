//! Webhook ingestion benchmark: `wrk` sends signed Twilio inbound replies — each a first
//! answer from a different customer with an SMS invitation out — to the release
//! `surveyd serve`, which verifies, stores in the inbox and interprets each one (records the
//! answer, queues the next question) before answering. Prints the replies stored and
//! interpreted per second and wrk's latency percentiles, on SQLite, and on PostgreSQL when
//! `TEST_POSTGRES_URL` is set. The daemon's dispatch workers are idle during the run (long
//! poll interval), so the figure is the webhook path's own. wrk sends from one address, so
//! the per-address webhook limit is turned off.
//!
//!     cargo bench --bench webhooks                        # 100,000 customers, 10 s
//!     cargo bench --bench webhooks -- --customers 50000
//!
//! Needs `wrk` (Debian's package).

mod common;
#[path = "../tests/load/outbox.rs"]
mod outbox;

use common::{contact, databases, figure, free_port, settings};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use surveyd::config::DatabaseUrl;
use surveyd::domain::SurveyChannel;
use surveyd::domain::{ContactRecord, Phone};
use surveyd::store::Store;

const PUBLIC_URL: &str = "https://surveys.example.co.id";
const AUTH_TOKEN: &str = "a3f9c2e7d1b84f06a5c3e9d2b7f10c48";
const CONNECTIONS: usize = 32;
const SECONDS: u64 = 10;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let customers: usize = args
        .iter()
        .position(|a| a == "--customers")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.replace('_', "").parse().expect("a number"))
        .unwrap_or(100_000);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let work = tempfile::tempdir().unwrap();
    let script = wrk_script(work.path(), customers);
    println!(
        "webhook benchmark: signed Twilio replies from {customers} customers, wrk with {CONNECTIONS} connections for {SECONDS} s"
    );
    for (name, url) in databases(&runtime, work.path(), "webhooks") {
        let store = runtime.block_on(seed(&url, customers));
        let port = free_port();
        let config = config_file(work.path(), &url, port);
        let daemon = Daemon::start(&config, port);
        let out = Command::new("wrk")
            .args([
                "-t2",
                &format!("-c{CONNECTIONS}"),
                &format!("-d{SECONDS}s"),
                "--latency",
                "-s",
            ])
            .arg(&script)
            .arg(format!("http://127.0.0.1:{port}"))
            .output()
            .expect("wrk runs (Debian's wrk package)");
        // The ceiling: the same daemon answering `GET /healthz`, which touches nothing.
        let health = Command::new("wrk")
            .args(["-t2", &format!("-c{CONNECTIONS}"), &format!("-d{SECONDS}s")])
            .arg(format!("http://127.0.0.1:{port}/healthz"))
            .output()
            .unwrap();
        let ceiling: f64 = String::from_utf8_lossy(&health.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("Requests/sec:"))
            .and_then(|n| n.trim().parse().ok())
            .expect("wrk prints Requests/sec");
        drop(daemon);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            !text.contains("Non-2xx"),
            "surveyd refused requests:\n{text}"
        );
        let inbox = runtime.block_on(store.inbox_status()).unwrap();
        let answers = inbox
            .outcomes
            .iter()
            .find(|(o, _)| o == "answer")
            .map_or(0, |(_, n)| *n);
        let requests: u64 = text
            .lines()
            .find(|l| l.contains("requests in"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        // Past the last customer the replies are repeats, acknowledged as duplicates, and the
        // figure would be capped by the number of customers.
        assert!(
            requests <= customers as u64,
            "wrk sent {requests} replies in {SECONDS} s but there are only {customers} customers: run with more (--customers)"
        );
        let seconds = SECONDS as f64;
        let p = |label: &str| {
            text.lines()
                .find(|l| l.trim_start().starts_with(label))
                .and_then(|l| l.split_whitespace().nth(1))
                .unwrap_or("?")
                .to_owned()
        };
        println!(
            "  {name}: {answers} replies stored and interpreted in {seconds:.2} s = {:.0}/s ({requests} requests, {} failed); latency p50 {} p99 {}",
            answers as f64 / seconds,
            inbox.failed,
            p("50%"),
            p("99%")
        );
        figure(
            "webhook replies stored and interpreted",
            name,
            answers as f64 / seconds,
            "replies/s",
            Some((ceiling, "wrk → `GET /healthz`")),
        );
        figure(
            "webhook reply latency, p99",
            name,
            milliseconds(&p("99%")),
            "ms",
            None,
        );
        runtime.block_on(store.close());
    }
}

/// A latency as wrk prints it (`850.00us`, `11.28ms`, `1.02s`), in milliseconds.
fn milliseconds(latency: &str) -> f64 {
    let split = latency
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(latency.len());
    let (number, unit) = latency.split_at(split);
    let number: f64 = number.parse().expect("wrk prints a latency");
    match unit {
        "us" => number / 1000.0,
        "ms" => number,
        "s" => number * 1000.0,
        "m" => number * 60_000.0,
        _ => panic!("unknown unit in wrk's latency {latency:?}"),
    }
}

/// A wrk script that sends, across its threads without overlap, one signed inbound reply
/// ("5", a first answer) from each customer. The requests are read from a data file (a
/// script holding them all as constants is more than LuaJIT loads).
fn wrk_script(dir: &Path, customers: usize) -> std::path::PathBuf {
    let url = format!("{PUBLIC_URL}/webhooks/twilio/inbound");
    let mut lines = String::with_capacity(customers * 260);
    for i in 0..customers {
        let params: Vec<(String, String)> = [
            ("MessageSid", format!("SM{i:032x}")),
            (
                "AccountSid",
                "AC0123456789abcdef0123456789abcdef".to_owned(),
            ),
            ("From", phone(i)),
            ("To", "+6285712345678".to_owned()),
            ("Body", "5".to_owned()),
            ("NumMedia", "0".to_owned()),
            ("NumSegments", "1".to_owned()),
            ("SmsStatus", "received".to_owned()),
            ("ApiVersion", "2010-04-01".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let signature = surveyd::webhooks::signature::twilio_signature(AUTH_TOKEN, &url, &params);
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&params)
            .finish();
        lines.push_str(&format!("{body} {signature}\n"));
    }
    let data = dir.join("replies.txt");
    std::fs::write(&data, lines).unwrap();
    let script = dir.join("replies.lua");
    std::fs::write(
        &script,
        format!(
            "local threads = 0\n\
             function setup(thread) thread:set(\"tid\", threads); threads = threads + 1 end\n\
             function init(args)\n\
               items = {{}}\n\
               for line in io.lines(\"{}\") do\n\
                 local body, signature = line:match(\"^(%S+) (%S+)$\")\n\
                 items[#items + 1] = {{body, signature}}\n\
               end\n\
               i = tid; step = 2\n\
             end\n\
             function request()\n\
               local item = items[(i % #items) + 1]\n\
               i = i + step\n\
               return wrk.format(\"POST\", \"/webhooks/twilio/inbound\", {{[\"Content-Type\"] = \"application/x-www-form-urlencoded\", [\"X-Twilio-Signature\"] = item[2]}}, item[1])\n\
             end\n",
            data.display()
        ),
    )
    .unwrap();
    script
}

fn phone(i: usize) -> String {
    format!("+62812{i:08}")
}

/// `customers` customers, each with an SMS invitation sent (so a reply is a first answer).
async fn seed(url: &str, customers: usize) -> Store {
    let store = Store::open(&DatabaseUrl::parse(url).unwrap(), 4)
        .await
        .unwrap();
    let now = chrono::Utc::now();
    let contacts: Vec<ContactRecord> = (0..customers)
        .map(|i| ContactRecord {
            phone: Some(Phone::parse(&phone(i)).unwrap()),
            ..contact(i, now - chrono::Duration::hours(3))
        })
        .collect();
    for chunk in contacts.chunks(10_000) {
        store.upsert_contacts(chunk, now).await.unwrap();
    }
    let settings = settings(url);
    let mut campaign = settings.campaigns[0].clone();
    campaign.channels = vec![SurveyChannel::Sms];
    let planned = store
        .plan_invitations(&campaign, now, false, &settings.survey_key().unwrap())
        .await
        .unwrap();
    assert_eq!(planned.invited as usize, customers);
    // Sent, as a dispatcher records it.
    outbox::record_all_sent(&store, "sms", now).await;
    // As `surveyd contacts import` and planning do after writing this many rows.
    store
        .refresh_statistics(
            customers as u64,
            "customers, contacts, invitations, deliveries",
        )
        .await
        .unwrap();
    // As a running daemon keeps it: the reports' summary counted.
    let settings = surveyd::config::Settings::load(None).unwrap();
    store
        .refresh_report_days(&settings.reports.summary(&settings.defaults))
        .await
        .unwrap();
    // The seed's writes reach the disk now, not while the replies are measured.
    match &common::raw::Raw::connect(url).await {
        common::raw::Raw::Sqlite(pool) => sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(pool)
            .await
            .map(drop),
        common::raw::Raw::Postgres(pool) => sqlx::query("CHECKPOINT").execute(pool).await.map(drop),
    }
    .unwrap();
    store
}

fn config_file(dir: &Path, url: &str, port: u16) -> String {
    let path = dir.join("hooks.toml");
    std::fs::write(
        &path,
        format!(
            "[database]\nurl = \"{url}\"\nmax_connections = 16\n[http]\nlisten = \"127.0.0.1:{port}\"\n\
             [templates]\ndir = \"{}/templates\"\n\
             [survey]\npublic_url = \"{PUBLIC_URL}\"\nkey = \"{}\"\n\
             [dispatch]\npoll_interval = \"1h\"\n\
             [http.rate_limit]\nwebhooks = {{ per_second = 0, burst = 0 }}\n\
             [twilio]\nauth_token = \"{AUTH_TOKEN}\"\n\
             [log]\nlevel = \"warn\"\n",
            env!("CARGO_MANIFEST_DIR"),
            "42".repeat(32)
        ),
    )
    .unwrap();
    path.display().to_string()
}

/// The release `surveyd serve`, stopped with SIGTERM when dropped.
struct Daemon(Child);

impl Daemon {
    fn start(config: &str, port: u16) -> Daemon {
        let child = Command::new(env!("CARGO_BIN_EXE_surveyd"))
            .args(["--config", config, "serve"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "surveyd serve did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Daemon(child)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}
