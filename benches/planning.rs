//! Planning benchmark: 1,000,000 closed contacts — every one a different customer, 120 agents
//! in 6 teams, four time zones — planned by one email campaign with the rules on: a 7-day
//! frequency cap, a 09:00–20:00 send window (applied when each invitation is dispatched, so
//! planning carries it at no cost), and a 50% sample with at least 5 contacts per agent.
//! The contacts are seeded in-process; the run is the release `surveyd campaign run`, timed
//! from start to exit. Prints its time, the contacts read and the invitations written per
//! second, on SQLite, and on PostgreSQL when `TEST_POSTGRES_URL` is set.
//!
//!     cargo bench --bench planning                       # 1,000,000 contacts
//!     cargo bench --bench planning -- --contacts 200000

mod common;

use common::{contact, databases, figure};
use std::time::Instant;
use surveyd::config::DatabaseUrl;
use surveyd::domain::{ContactRecord, Email, ExternalId, TimeZone};
use surveyd::store::Store;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let contacts: usize = args
        .iter()
        .position(|a| a == "--contacts")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.replace('_', "").parse().expect("a number"))
        .unwrap_or(1_000_000);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let work = tempfile::tempdir().unwrap();
    println!(
        "planning benchmark: {contacts} closed contacts, frequency cap 7d, window 09:00–20:00, 50% sample (5 per agent at least)"
    );
    for (name, url) in databases(&runtime, work.path(), "planning") {
        runtime.block_on(async {
            let store = Store::open(&DatabaseUrl::parse(&url).unwrap(), 4)
                .await
                .unwrap();
            let now = chrono::Utc::now();
            let seeded = Instant::now();
            for start in (0..contacts).step_by(10_000) {
                let chunk: Vec<ContactRecord> = (start..(start + 10_000).min(contacts))
                    .map(|i| planned_contact(i, now))
                    .collect();
                store.upsert_contacts(&chunk, now).await.unwrap();
            }
            store
                .refresh_statistics(contacts as u64, "customers, contacts")
                .await
                .unwrap();
            let seeding = seeded.elapsed().as_secs_f64();

            store.close().await;
            let config = work.path().join("planning.toml");
            std::fs::write(&config, config_file(&url)).unwrap();
            let started = Instant::now();
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_surveyd"))
                .arg("--config")
                .arg(&config)
                .args(["campaign", "run", "bench", "--format", "json"])
                .output()
                .unwrap();
            let seconds = started.elapsed().as_secs_f64();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let counts: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(counts["eligible"].as_u64(), Some(contacts as u64));
            let invited = counts["invited"].as_u64().unwrap();
            println!(
                "  {name}: planned in {seconds:.1} s: {:.0} contacts/s read, {invited} invitations = {:.0}/s written ({} not sampled); seeding took {seeding:.1} s",
                contacts as f64 / seconds,
                invited as f64 / seconds,
                counts["skipped"]["not_sampled"],
            );
            figure(
                &format!("planning, {contacts} contacts"),
                name,
                invited as f64 / seconds,
                "invitations/s",
                None,
            );
        });
    }
}

/// The defaults on `url`, with the one campaign benchmarked.
fn config_file(url: &str) -> String {
    format!(
        "[database]\nurl = \"{url}\"\n[templates]\ndir = \"{}/templates\"\n\
         [survey]\nkey = \"{}\"\n[log]\nlevel = \"warn\"\n\
         [[campaigns]]\nname = \"bench\"\nquestionnaire = \"post-contact\"\nchannels = [\"email\"]\n\
         delay = \"2h\"\nexpiry = \"7d\"\nfrequency_cap = \"7d\"\n\
         window = {{ start = \"09:00\", end = \"20:00\" }}\n\
         sample = {{ share = 0.5, min_per_agent = 5 }}\n\
         [campaigns.audience]\nlookback = \"3d\"\n",
        env!("CARGO_MANIFEST_DIR"),
        "42".repeat(32)
    )
}

const ZONES: [&str; 4] = [
    "Asia/Jakarta",
    "Asia/Makassar",
    "Asia/Jayapura",
    "Europe/Amsterdam",
];

/// Contact `i`, closed within the last two days, of its own customer.
fn planned_contact(i: usize, now: chrono::DateTime<chrono::Utc>) -> ContactRecord {
    ContactRecord {
        email: Some(Email::parse(&format!("c{i}@example.co.id")).unwrap()),
        time_zone: Some(TimeZone::parse(ZONES[i % ZONES.len()]).unwrap()),
        agent_id: Some(ExternalId::parse(&format!("A-{}", i % 120)).unwrap()),
        agent_name: Some(format!("Agent {}", i % 120)),
        team: Some(ExternalId::parse(&format!("team-{}", i % 6)).unwrap()),
        ..contact(
            i,
            now - chrono::Duration::seconds((i % 172_800) as i64 + 60),
        )
    }
}
