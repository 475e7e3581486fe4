//! What the benchmarks share: a fresh PostgreSQL database, a free port, settings for a
//! database URL.
#![allow(dead_code)] // each benchmark uses its own part

use surveyd::config::{DatabaseUrl, Settings};

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

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The embedded defaults on `url`, with the shipped templates and a fixed survey key.
pub fn settings(url: &str) -> Settings {
    let mut settings = Settings::load(None).unwrap();
    settings.database.url = DatabaseUrl::parse(url).unwrap();
    settings.templates.dir = concat!(env!("CARGO_MANIFEST_DIR"), "/templates").into();
    settings.survey.key = Some(surveyd::config::Secret::new("42".repeat(32)));
    settings
}
