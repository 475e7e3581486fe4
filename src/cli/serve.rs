//! `surveyd serve`: the daemon.

use crate::clock::Clock;
use crate::config::Settings;
use crate::server::{AppState, Application, shutdown_signal};

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    settings.load_campaigns()?;
    let store = super::open_pool(&settings, settings.database.max_connections).await?;
    let state = AppState::new(store.clone(), settings, Clock::system());
    let app = Application::bind(state.clone())
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", state.settings.http.listen))?;
    let addr = app.local_addr()?;
    println!("surveyd listening on http://{addr}");
    tracing::info!(%addr, database = %state.settings.database.url, "serving");
    app.run_until(shutdown_signal()).await?;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}
