//! The daemon assembled in one place: the services `surveyd serve` runs — the dispatcher,
//! the planner of scheduled campaigns, the poller of SQL sources, the HTTP server, the keeper
//! of the reports' per-day summary, retention (erasing personal data past `[retention]`) and,
//! on SQLite, the checkpointer — built once from the settings, started together, and stopped
//! together by SIGINT/SIGTERM (requests and messages in hand finish first).

use crate::alerts::AlertRule;
use crate::auth::SurveyKey;
use crate::campaign::Campaign;
use crate::channels::email::EmailChannel;
use crate::channels::{ChatProvider, EmailSettings, HttpApi};
use crate::clock::Clock;
use crate::config::Settings;
use crate::dispatch::{DispatchParts, Dispatcher, Mode};
use crate::domain::SurveyChannel;
use crate::http::api::ApiState;
use crate::http::dashboard::DashboardState;
use crate::http::survey::SurveyState;
use crate::http::webhooks::WebhookState;
use crate::http::{AppState, Application, shutdown_signal};
use crate::intake::ParseContext;
use crate::intake::source::SourcePoller;
use crate::questionnaire::Questionnaire;
use crate::render::Renderer;
use crate::render::page::Pages;
use crate::replies::conversation::Interpreter;
use crate::scheduler::Scheduler;
use crate::store::{RetentionSettings, Store};
use crate::survey::SurveyPages;
use crate::webhooks::inbox::InboxWriter;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// What the daemon's services share, loaded once from the settings: the questionnaires, the
/// campaigns by name, the survey key and the alert rule.
pub struct Shared {
    pub questionnaires: Arc<HashMap<String, Questionnaire>>,
    pub campaigns: Arc<HashMap<String, Campaign>>,
    pub survey_key: SurveyKey,
    pub alerts: Arc<AlertRule>,
}

impl Shared {
    pub fn load(settings: &Settings) -> anyhow::Result<Shared> {
        Ok(Shared {
            questionnaires: Arc::new(settings.load_campaigns()?),
            campaigns: Arc::new(
                settings
                    .campaigns
                    .iter()
                    .map(|c| (c.name.clone(), c.clone()))
                    .collect(),
            ),
            survey_key: settings.survey_key()?,
            alerts: Arc::new(AlertRule::new(&settings.alerts)),
        })
    }

    /// The interpreter of webhook events (replies, statuses) for these campaigns.
    pub fn interpreter(&self, settings: &Settings) -> Interpreter {
        Interpreter::new(
            Arc::clone(&self.questionnaires),
            Arc::clone(&self.campaigns),
            &settings.defaults,
            Arc::clone(&self.alerts),
            &settings.dispatch,
        )
    }
}

/// The dispatcher `settings` describe, on `store`: for the daemon and the one-off commands
/// that send (`surveyd dispatch`, `surveyd preview --send`).
pub fn dispatcher(store: Store, settings: &Settings, clock: Clock) -> anyhow::Result<Dispatcher> {
    let shared = Shared::load(settings)?;
    Ok(Dispatcher::new(
        store,
        dispatch_parts(settings, &shared)?,
        clock,
    ))
}

/// What the dispatcher sends with: the templates, survey key and channels `settings` name.
fn dispatch_parts(settings: &Settings, shared: &Shared) -> anyhow::Result<DispatchParts> {
    let renderer = Renderer::load(&settings.template_files()?)
        .map_err(|problems| anyhow::anyhow!("templates: {}", problems.join("; ")))?;
    let chat = |channel| -> anyhow::Result<_> {
        Ok(ChatProvider::for_channel(settings.providers(), channel)?.map(Arc::new))
    };
    let webhook = match &settings.alerts.webhook {
        Some(w) => Some(HttpApi::new("alerts.webhook", w.timeout, 4, 0.0)?),
        None => None,
    };
    Ok(DispatchParts {
        settings: settings.dispatch.clone(),
        alerts: settings.alerts.clone(),
        public_url: settings.survey.public_url.clone(),
        defaults: settings.defaults.clone(),
        renderer,
        questionnaires: Arc::clone(&shared.questionnaires),
        campaigns: Arc::clone(&shared.campaigns),
        key: shared.survey_key.clone(),
        email: EmailChannel::new(&settings.email, &settings.survey.public_url)?,
        sms: chat(SurveyChannel::Sms)?,
        whatsapp: chat(SurveyChannel::Whatsapp)?,
        webhook,
    })
}

/// The HTTP server's state for `settings`, on `store`: the survey pages, the dashboard, the
/// webhooks' inbox writer (started on the current tokio runtime) and the request limits.
pub fn http_state(
    store: Store,
    settings: Settings,
    clock: Clock,
    shared: &Shared,
) -> anyhow::Result<AppState> {
    // Counting starts with the server, before the first scrape.
    crate::telemetry::recorder();
    let pages = Pages::load(&settings.template_files()?)
        .map_err(|problems| anyhow::anyhow!("templates: {}", problems.join("; ")))?;
    let survey = SurveyState {
        store: store.clone(),
        clock: clock.clone(),
        survey: Arc::new(SurveyPages {
            pages,
            questionnaires: Arc::clone(&shared.questionnaires),
            fallback: settings.defaults.locale.clone(),
        }),
        alerts: Arc::clone(&shared.alerts),
    };
    let providers = Arc::new(settings.webhook_providers());
    let webhooks = WebhookState {
        inbox: InboxWriter::start(
            store.clone(),
            settings.database.max_connections,
            Arc::clone(&providers),
            shared.interpreter(&settings),
            clock.clone(),
        ),
        clock: clock.clone(),
        public_url: settings.survey.public_url.clone(),
        providers,
    };
    let dashboard = DashboardState {
        dashboard: Arc::new(crate::dashboard::Dashboard::new(
            store.clone(),
            clock.clone(),
            &settings.dashboard,
            (&settings.reports, &settings.defaults),
            &shared.survey_key,
        )),
        secure_cookie: settings.survey.public_url.scheme() == "https",
    };
    let limits = crate::http::ratelimit::Limits::new(&settings.http.rate_limit)?;
    let api = ApiState {
        store,
        clock,
        tokens: settings.api.tokens.into(),
        limit: limits.api.clone(),
        parse_context: Arc::new(ParseContext::of(&settings.defaults)),
        survey_key: shared.survey_key.clone(),
        campaigns: Arc::clone(&shared.campaigns),
        reports: Arc::new(settings.reports),
        defaults: Arc::new(settings.defaults),
    };
    Ok(AppState {
        http: Arc::new(settings.http),
        limits,
        api,
        survey,
        webhooks,
        dashboard,
    })
}

/// Runs the daemon on `store` until SIGINT or SIGTERM: the HTTP server, the dispatch workers,
/// the planner, the source poller and the background upkeep, each built once from `settings`.
pub async fn serve(store: Store, settings: Settings) -> anyhow::Result<()> {
    let clock = Clock::system();
    let shared = Shared::load(&settings)?;
    let dispatcher = Arc::new(Dispatcher::new(
        store.clone(),
        dispatch_parts(&settings, &shared)?,
        clock.clone(),
    ));
    let scheduler = Scheduler::new(
        store.clone(),
        &settings.campaigns,
        shared.survey_key.clone(),
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
    if let Some(warning) = plain_public_url(&settings.survey.public_url) {
        tracing::warn!("{warning}");
    }
    if let Some(warning) = shared.alerts.unrouted() {
        tracing::warn!("{warning}");
    }
    let (listen, database) = (settings.http.listen, settings.database.url.clone());
    let state = http_state(store.clone(), settings, clock.clone(), &shared)?;
    let app = Application::bind(state)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let addr = app.local_addr()?;
    println!("surveyd listening on http://{addr}");
    tracing::info!(%addr, %database, "serving");

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let started = std::time::Instant::now();
    tracing::info!(lease_owner = dispatcher.owner(), "dispatching");
    let workers = tokio::spawn(dispatcher.run(Mode::UntilShutdown, stopped.clone()));
    // The services that run beside the workers until shutdown.
    let background = [
        tokio::spawn(scheduler.run(stopped.clone())),
        tokio::spawn(poller.run(stopped.clone())),
        tokio::spawn(checkpoint(store.clone(), stopped.clone())),
        tokio::spawn(keep_summary(store.clone(), summary, stopped.clone())),
        tokio::spawn(keep_retention(
            store.clone(),
            retention,
            clock,
            stopped.clone(),
        )),
    ];
    let mut server_stopped = stopped;
    let server = tokio::spawn(app.run_until(async move {
        let _ = server_stopped.wait_for(|stop| *stop).await;
    }));
    let mut workers = workers;
    let early = tokio::select! {
        () = shutdown_signal() => None,
        finished = &mut workers => Some(finished),
    };
    let _ = stop.send(true);
    // The workers stop only on shutdown; finishing first means they failed.
    let dispatched = match early {
        None => workers.await.map_err(anyhow::Error::from).and_then(|r| r),
        Some(Ok(Ok(_))) => Err(anyhow::anyhow!("the dispatch workers stopped unexpectedly")),
        Some(Ok(Err(e))) => Err(e.context("the dispatch workers failed")),
        Some(Err(e)) => Err(anyhow::Error::from(e).context("the dispatch workers failed")),
    };
    server.await??;
    for service in background {
        service.await?;
    }
    store.close().await;
    let counts = dispatched?;
    counts.log("stopped", started.elapsed());
    Ok(())
}

/// Why a `survey.public_url` that is not HTTPS matters, unless it is this machine's (a trial):
/// customers' links and answers travel in clear, and mailbox providers honour one-click
/// unsubscribe (RFC 8058) only over HTTPS.
fn plain_public_url(url: &url::Url) -> Option<String> {
    let local = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    (url.scheme() != "https" && !local).then(|| {
        format!(
            "survey.public_url {url} is not HTTPS: survey links and answers cross the network \
             in clear, and mailbox providers ignore one-click unsubscribe (RFC 8058) on it"
        )
    })
}

/// On SQLite, checkpoints the write-ahead log four times a second in the background: commits then
/// find little to copy (the WAL is checkpointed on commit only every 64 MiB, for bulk writes),
/// so a webhook's answer never waits for a large checkpoint.
async fn checkpoint(store: Store, stopped: watch::Receiver<bool>) {
    if !store.single_writer() {
        return;
    }
    every(Duration::from_millis(250), stopped, || async {
        if let Err(e) = store.checkpoint().await {
            tracing::warn!(error = %e, "cannot checkpoint the database");
        }
    })
    .await
}

/// Runs `job` at once and then every `period`, until the daemon stops.
async fn every<F, Fut>(period: Duration, stopped: watch::Receiver<bool>, mut job: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    crate::process::repeat(stopped, || {
        let run = job();
        async move {
            run.await;
            period
        }
    })
    .await
}

/// Keeps the reports' per-day summary up to date: every half minute, counts again the days
/// changed since (reports are exact without it, but read changed days from the rows; a busy
/// day is counted twice a minute rather than after every reply).
async fn keep_summary(
    store: Store,
    settings: crate::store::SummarySettings,
    stopped: watch::Receiver<bool>,
) {
    every(Duration::from_secs(30), stopped, || async {
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
    store: Store,
    (settings, email): (RetentionSettings, EmailSettings),
    clock: Clock,
    stopped: watch::Receiver<bool>,
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

#[cfg(test)]
mod tests {
    use super::plain_public_url;

    #[test]
    fn a_public_url_in_clear_is_warned_of_unless_it_is_this_machine() {
        let warned = |url: &str| plain_public_url(&url.parse().unwrap()).is_some();
        assert!(warned("http://surveys.example.co.id"));
        assert!(!warned("https://surveys.example.co.id"));
        assert!(!warned("http://127.0.0.1:8080"));
        assert!(!warned("http://localhost:8080"));
    }
}
