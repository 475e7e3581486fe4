//! `surveyd serve`: the daemon: the HTTP server, the dispatch workers, the planner of
//! scheduled campaigns, the poller of SQL sources, the keeper of the reports' per-day summary,
//! retention (erasing personal data past `[retention]`) and (on SQLite) the checkpointer, stopped together by SIGINT/SIGTERM (requests and messages
//! in hand finish first).

use crate::clock::Clock;
use crate::config::Settings;
use crate::dispatch::{Dispatcher, Mode};
use crate::http::{AppState, Application, shutdown_signal};
use crate::intake::source::SourcePoller;
use crate::scheduler::Scheduler;
use std::sync::Arc;

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let store = super::open_pool(&settings, settings.database.max_connections).await?;
    let clock = Clock::system();
    let dispatcher = Arc::new(Dispatcher::new(store.clone(), &settings, clock.clone())?);
    let scheduler = Scheduler::new(
        store.clone(),
        &settings.campaigns,
        settings.survey_key()?,
        clock.clone(),
        settings.defaults.time_zone.tz(),
        crate::process::name(),
        settings.scheduler.lease,
    );
    let poller = SourcePoller::new(
        store.clone(),
        &settings.sources,
        &settings.defaults,
        settings.scheduler.lease,
        clock.clone(),
    )?;
    let summary = settings.reports.summary(&settings.defaults);
    let retention = (settings.retention.clone(), settings.email.clone());
    let state = AppState::new(store.clone(), settings, clock.clone())?;
    if let Some(warning) = state.alerts.unrouted() {
        tracing::warn!("{warning}");
    }
    let app = Application::bind(state.clone())
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", state.settings.http.listen))?;
    let addr = app.local_addr()?;
    println!("surveyd listening on http://{addr}");
    tracing::info!(%addr, database = %state.settings.database.url, "serving");

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let started = std::time::Instant::now();
    tracing::info!(lease_owner = dispatcher.owner(), "dispatching");
    let workers = tokio::spawn(dispatcher.run(Mode::UntilShutdown, stopped.clone()));
    let planner = tokio::spawn(scheduler.run(stopped.clone()));
    let sources = tokio::spawn(poller.run(stopped.clone()));
    let checkpoints = tokio::spawn(checkpoint(store.clone(), stopped.clone()));
    let summaries = tokio::spawn(keep_summary(store.clone(), summary, stopped.clone()));
    let retention = tokio::spawn(keep_retention(
        store.clone(),
        retention,
        clock,
        stopped.clone(),
    ));
    let mut server_stopped = stopped;
    let server = app.run_until(async move {
        let _ = server_stopped.wait_for(|stop| *stop).await;
    });
    let server = tokio::spawn(server);
    let mut workers = workers;
    let early = tokio::select! {
        () = shutdown_signal() => None,
        finished = &mut workers => Some(finished),
    };
    let _ = stop.send(true);
    // The workers stop only on shutdown; finishing first means they failed.
    let counts = match early {
        None => workers.await??,
        Some(finished) => {
            let error = match finished {
                Ok(Ok(_)) => anyhow::anyhow!("the dispatch workers stopped unexpectedly"),
                Ok(Err(e)) => e.context("the dispatch workers failed"),
                Err(e) => anyhow::Error::from(e).context("the dispatch workers failed"),
            };
            server.await??;
            planner.await?;
            sources.await?;
            checkpoints.await?;
            summaries.await?;
            retention.await?;
            store.close().await;
            return Err(error);
        }
    };
    server.await??;
    planner.await?;
    sources.await?;
    checkpoints.await?;
    summaries.await?;
    retention.await?;
    store.close().await;
    counts.log("stopped", started.elapsed());
    Ok(())
}

/// On SQLite, checkpoints the write-ahead log four times a second in the background: commits then
/// find little to copy (the WAL is checkpointed on commit only every 64 MiB, for bulk writes),
/// so a webhook's answer never waits for a large checkpoint.
async fn checkpoint(store: crate::store::Store, mut stopped: tokio::sync::watch::Receiver<bool>) {
    if !matches!(store, crate::store::Store::Sqlite(_)) {
        return;
    }
    loop {
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_millis(250)) => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
        if let Err(e) = store.checkpoint().await {
            tracing::warn!(error = %e, "cannot checkpoint the database");
        }
    }
}

/// Runs `job` at once and then every `period`, until the daemon stops (a job in progress is
/// dropped then: each writes in short transactions, so stopping mid-way loses nothing).
async fn every<F, Fut>(
    period: std::time::Duration,
    mut stopped: tokio::sync::watch::Receiver<bool>,
    mut job: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    loop {
        tokio::select! {
            () = job() => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
        tokio::select! {
            () = tokio::time::sleep(period) => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
    }
}

/// Keeps the reports' per-day summary up to date: every half minute, counts again the days
/// changed since (reports are exact without it, but read changed days from the rows; a busy
/// day is counted twice a minute rather than after every reply).
async fn keep_summary(
    store: crate::store::Store,
    settings: crate::store::SummarySettings,
    stopped: tokio::sync::watch::Receiver<bool>,
) {
    every(std::time::Duration::from_secs(30), stopped, || async {
        match store.refresh_report_days(&settings).await {
            Ok(0) => {}
            Ok(days) => tracing::debug!(days, "report summary refreshed"),
            Err(e) => tracing::warn!(error = %e, "cannot refresh the report summary"),
        }
    })
    .await
}

/// Erases personal data past `[retention]`, every `retention.every` (not at all when it is
/// kept): in the database, and the emails of the file outbox.
async fn keep_retention(
    store: crate::store::Store,
    (settings, email): (
        crate::config::RetentionSettings,
        crate::config::EmailSettings,
    ),
    clock: Clock,
    stopped: tokio::sync::watch::Receiver<bool>,
) {
    if settings.personal_data.is_zero() {
        return;
    }
    every(settings.every, stopped, || async {
        let now = clock.now();
        let Some(cutoff) = settings.cutoff(now) else {
            return;
        };
        // The file outbox first, so the audit event counts its emails too.
        let files = crate::channels::email::prune_file_outbox(&email, cutoff).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot prune the file outbox; trying again later");
            None
        });
        if let Err(e) = store.apply_retention(cutoff, "daemon", now, files).await {
            tracing::warn!(error = %e, "cannot apply retention; trying again later");
        }
    })
    .await
}
