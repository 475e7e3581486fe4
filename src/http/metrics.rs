//! `GET /metrics` (a bearer token of `[api]`, as for the API): the Prometheus exposition text
//! of [`crate::telemetry`], every dispatch channel's queue included.

use super::api::{ApiClient, ApiError};
use crate::clock::Clock;
use crate::store::Store;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

/// What the metrics route and the health checks read: the database, at the clock's now.
#[derive(Clone)]
pub struct MetricsState {
    pub store: Store,
    pub clock: Clock,
}

pub async fn get_metrics(
    _client: ApiClient,
    State(state): State<MetricsState>,
) -> Result<impl IntoResponse, ApiError> {
    let text =
        crate::telemetry::render(&state.store, state.clock.now(), crate::dispatch::channels())
            .await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    ))
}
