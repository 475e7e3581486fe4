//! What the benchmarks share: the databases to run on (a fresh SQLite file, and a fresh
//! PostgreSQL database when `TEST_POSTGRES_URL` is set), a free port, settings for a
//! database URL, generated contacts, a connection of their own for the SQL they seed with,
//! and the figure lines `scripts/bench` gathers.
#![allow(dead_code)] // each benchmark uses its own part

#[path = "../../tests/it/support/raw.rs"]
pub mod raw;

use surveyd::config::{DatabaseUrl, Settings};

/// The databases a part named `name` runs on: a new SQLite file in `dir`, and a new
/// PostgreSQL database `surveyd_bench_{name}` when `TEST_POSTGRES_URL` is set.
pub fn databases(
    runtime: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    name: &str,
) -> Vec<(&'static str, String)> {
    let mut databases = vec![("SQLite", format!("sqlite://{}/{name}.db", dir.display()))];
    if let Ok(admin) = std::env::var("TEST_POSTGRES_URL") {
        databases.push((
            "PostgreSQL",
            runtime.block_on(fresh_postgres(&admin, &format!("surveyd_bench_{name}"))),
        ));
    }
    databases
}

/// A new, empty PostgreSQL database (dropped first if a run left it); its URL.
pub async fn fresh_postgres(admin: &str, name: &str) -> String {
    let pool = sqlx::PgPool::connect(admin).await.unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let mut url = url::Url::parse(admin).unwrap();
    url.set_path(name);
    url.to_string()
}

/// Prints one figure for `scripts/bench`'s table, as a line `FIGURE {json}`: what was
/// measured, on which backend, its value and unit, and the ceiling measured in the same run
/// (the same work done by a tool that does nothing else: smtp-source, wrk), if any.
pub fn figure(what: &str, backend: &str, value: f64, unit: &str, ceiling: Option<(f64, &str)>) {
    let line = serde_json::json!({
        "what": what,
        "backend": backend,
        "value": value,
        "unit": unit,
        "ceiling": ceiling.map(|(v, _)| v),
        "ceiling_by": ceiling.map(|(_, by)| by),
    });
    println!("FIGURE {line}");
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The embedded defaults on `url`, with the built-in templates and a fixed survey key.
pub fn settings(url: &str) -> Settings {
    let mut settings = Settings::load(None).unwrap();
    settings.database.url = DatabaseUrl::parse(url).unwrap();
    settings.survey.key = Some(surveyd::config::Secret::new("42".repeat(32)));
    settings
}

/// Contact `T-{i}` of its own customer `C-{i}` ("Customer {i}"), closed at `closed_at`; the
/// other fields empty for the benchmark to fill.
pub fn contact(
    i: usize,
    closed_at: chrono::DateTime<chrono::Utc>,
) -> surveyd::domain::ContactRecord {
    use surveyd::domain::{ContactRecord, ExternalId};
    ContactRecord {
        contact_id: ExternalId::parse(&format!("T-{i}")).unwrap(),
        closed_at,
        opened_at: None,
        customer_id: ExternalId::parse(&format!("C-{i}")).unwrap(),
        customer_name: Some(format!("Customer {i}")),
        email: None,
        phone: None,
        whatsapp: None,
        locale: None,
        time_zone: None,
        segment: None,
        agent_id: None,
        agent_name: None,
        team: None,
        contact_channel: None,
        category: None,
        resolution: None,
        attributes: Default::default(),
    }
}
