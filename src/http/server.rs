//! The HTTP server: routes, shared state, health checks, the limits on connections (header
//! timeout, open connections) and graceful shutdown.
//!
//! `GET /healthz` answers `ok` while the process serves; `GET /readyz` answers JSON: the
//! database, its pending migrations (either failing is 503) and, as warnings, deliveries
//! stuck in `sending` past their lease.

use super::api::ApiState;
use super::contacts::post_contacts;
use super::dashboard::DashboardState;
use super::metrics::MetricsState;
use super::ratelimit;
use super::settings::HttpSettings;
use super::survey::SurveyState;
use super::webhooks::WebhookState;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef, State};
use axum::http::StatusCode;
use axum::http::{HeaderName, HeaderValue, header};
use axum::routing::{get, post};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// Headers on every response: pages run no script at all and load nothing from elsewhere
/// (styles are inline), cannot be framed, and send no referrer (survey links carry tokens).
const SECURITY_HEADERS: [(HeaderName, &str); 3] = [
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "no-referrer"),
];

/// The server's settings and limits, and the narrow state of each group of routes.
#[derive(Clone)]
pub struct AppState {
    pub http: Arc<HttpSettings>,
    /// Per-address request limits of the public routes, and the per-token limit of the API.
    pub limits: ratelimit::Limits,
    pub api: ApiState,
    pub survey: SurveyState,
    pub webhooks: WebhookState,
    pub dashboard: DashboardState,
}

impl FromRef<AppState> for ApiState {
    fn from_ref(state: &AppState) -> Self {
        state.api.clone()
    }
}

impl FromRef<AppState> for SurveyState {
    fn from_ref(state: &AppState) -> Self {
        state.survey.clone()
    }
}

impl FromRef<AppState> for WebhookState {
    fn from_ref(state: &AppState) -> Self {
        state.webhooks.clone()
    }
}

impl FromRef<AppState> for DashboardState {
    fn from_ref(state: &AppState) -> Self {
        state.dashboard.clone()
    }
}

impl FromRef<AppState> for MetricsState {
    fn from_ref(state: &AppState) -> Self {
        MetricsState {
            store: state.api.store.clone(),
            clock: state.api.clock.clone(),
        }
    }
}

/// The routes, with per-address limits on the public ones, body limits, request timeouts,
/// security headers (and `Cache-Control: no-store` on the dashboard) and request tracing.
pub fn router(state: AppState) -> Router {
    let body_limit = state.http.max_body_bytes;
    let limits = &state.limits;
    // The dashboard's pages show personal data: no cache keeps them.
    let dashboard =
        super::dashboard::routes(&limits.sign_in).layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    let pages = super::survey::pages().merge(dashboard);
    let unsubscribe = super::survey::unsubscribe_route();
    let webhooks = super::webhooks::routes();
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(super::metrics::get_metrics))
        .route("/v1/contacts", post(post_contacts))
        .route(
            "/v1/campaigns/{name}/runs",
            post(super::campaigns::post_run),
        )
        .route("/v1/reports/scores", get(super::reports::get_scores))
        .route("/v1/alerts", get(super::alerts::list))
        .route(
            "/v1/alerts/{id}/acknowledge",
            post(super::alerts::acknowledge),
        )
        .route("/v1/alerts/{id}/resolve", post(super::alerts::resolve))
        .merge(ratelimit::apply(pages, &limits.pages))
        .merge(ratelimit::apply(unsubscribe, &limits.unsubscribe))
        .merge(ratelimit::apply(webhooks, &limits.webhooks))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            state.http.request_timeout,
        ));
    let router = SECURITY_HEADERS
        .into_iter()
        .fold(router, |router, (name, value)| {
            router.layer(SetResponseHeaderLayer::if_not_present(
                name,
                HeaderValue::from_static(value),
            ))
        });
    router
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// The span of one request. It names the route matched (`/s/{token}`), never the path and
/// query as sent: survey and unsubscribe links carry their token there, and logs are no
/// place for it.
fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("(no route)", |path| path.as_str());
    tracing::debug_span!(
        "request",
        method = %request.method(),
        route,
        version = ?request.version(),
    )
}

/// What `GET /readyz` found.
#[derive(Debug, serde::Serialize)]
struct Readiness {
    /// `ready`, or `not ready` (503): the database does not answer or lacks migrations.
    status: &'static str,
    /// `ok` or `unreachable`.
    database: &'static str,
    /// Migrations this binary carries that the database lacks (`null`: cannot tell).
    pending_migrations: Option<u64>,
    /// Per channel, the claims still `sending` past their lease.
    stuck_deliveries: Vec<Stuck>,
    /// What is wrong without making the daemon unready, in words.
    warnings: Vec<String>,
}

#[derive(Debug, serde::Serialize)]
struct Stuck {
    channel: String,
    deliveries: i64,
    /// How long the longest-stuck has been past its lease, in seconds.
    past_lease_seconds: i64,
}

/// Ready when the database answers and has every migration this binary carries (else 503).
/// Deliveries stuck in `sending` past their lease are a warning, not unreadiness: the queue
/// is shared by every daemon, and taking them all out of the load balancer would stop the
/// webhooks and survey pages too, without freeing a single message.
async fn readyz(State(state): State<MetricsState>) -> (StatusCode, axum::Json<Readiness>) {
    let mut readiness = Readiness {
        status: "ready",
        database: "ok",
        pending_migrations: None,
        stuck_deliveries: Vec::new(),
        warnings: Vec::new(),
    };
    let unavailable = |mut readiness: Readiness| {
        readiness.status = "not ready";
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(readiness))
    };
    if let Err(e) = state.store.ping().await {
        tracing::warn!(error = %e, "not ready: the database does not answer");
        readiness.database = "unreachable";
        return unavailable(readiness);
    }
    let pending = match state.store.pending_migrations().await {
        Ok(pending) => pending,
        Err(e) => {
            tracing::warn!(error = %e, "not ready: cannot read the database's migrations");
            return unavailable(readiness);
        }
    };
    readiness.pending_migrations = Some(pending as u64);
    let now = state.clock.now();
    match state.store.stuck_deliveries(now).await {
        Ok(stuck) => {
            for s in stuck {
                let past = now - s.oldest_lease_until;
                readiness.warnings.push(format!(
                    "{} {} deliver{} stuck in sending, the oldest {} past its lease",
                    s.deliveries,
                    s.channel,
                    if s.deliveries == 1 { "y" } else { "ies" },
                    crate::dispatch::journal::human(past),
                ));
                readiness.stuck_deliveries.push(Stuck {
                    channel: s.channel,
                    deliveries: s.deliveries,
                    past_lease_seconds: past.num_seconds(),
                });
            }
        }
        Err(e) => readiness
            .warnings
            .push(format!("cannot read the deliveries in sending: {e}")),
    }
    if pending > 0 {
        tracing::warn!(pending, "not ready: database migrations are pending");
        return unavailable(readiness);
    }
    (StatusCode::OK, axum::Json(readiness))
}

/// A bound server, ready to run.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Binds the configured address (port 0 picks a free port).
    pub async fn bind(state: AppState) -> std::io::Result<Application> {
        let listener = TcpListener::bind(state.http.listen).await?;
        Ok(Application { listener, state })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves HTTP/1.1 until `shutdown` resolves, then finishes the requests in flight.
    ///
    /// A connection must send each request's headers within `http.header_timeout` of opening
    /// or of the previous response (hyper's header read timeout, which also runs while a
    /// keep-alive connection idles), and at most `http.max_connections` are open at once:
    /// one more is closed as soon as it is accepted, and counted.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        use tower::Service;
        let http = Arc::clone(&self.state.http);
        let max_connections = http.max_connections;
        let open = Arc::new(tokio::sync::Semaphore::new(max_connections));
        let mut connection = hyper::server::conn::http1::Builder::new();
        connection
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(http.header_timeout);
        let mut services = router(self.state).into_make_service_with_connect_info::<SocketAddr>();
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let (stream, remote) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        accept_failed(e).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
                metrics::counter!(crate::telemetry::CONNECTIONS_REFUSED).increment(1);
                tracing::debug!(%remote, max_connections, "connection refused: too many open");
                continue;
            };
            let Ok(service) = services.call(remote).await;
            let served = graceful.watch(connection.serve_connection(
                hyper_util::rt::TokioIo::new(stream),
                hyper_util::service::TowerToHyperService::new(service),
            ));
            tokio::spawn(async move {
                if let Err(e) = served.await {
                    tracing::debug!(%remote, error = %e, "connection ended");
                }
                drop(permit);
            });
        }
        drop(self.listener);
        graceful.shutdown().await;
        Ok(())
    }
}

/// After a failed `accept`: a connection the peer dropped before it was taken is nothing;
/// anything else (out of file descriptors) is logged, and accepting pauses a moment rather
/// than spinning.
async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "cannot accept connections");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        tokio::signal::ctrl_c().await.expect("listen for Ctrl-C");
    };
    #[cfg(unix)]
    let terminate = async {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("listen for SIGTERM")
            .recv()
            .await;
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => tracing::info!("SIGINT received, shutting down"),
        _ = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}
