//! `surveyd migrate`: create or upgrade the database, then exit.

use crate::config::Settings;
use crate::store::Store;
use anyhow::Context;

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let url = &settings.database.url;
    let store = Store::connect(url, settings.database.max_connections)
        .await
        .with_context(|| format!("cannot open the database {url}"))?;
    let applied = store.migrate().await.context("migration failed")?;
    println!("{url}: {applied} migration(s) applied, schema up to date");
    store.close().await;
    Ok(())
}
