//! `surveyd serve`: opens the database and runs the daemon ([`crate::app::serve`]).

use crate::config::Settings;

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let store = super::open_pool(&settings, settings.database.max_connections).await?;
    crate::app::serve(store, settings).await
}
