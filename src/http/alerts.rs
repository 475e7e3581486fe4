//! The alert API, for a bearer token: `GET /v1/alerts[?state=open&limit=100]` lists alerts
//! (newest first) with their answers; `POST /v1/alerts/{id}/acknowledge` and
//! `POST /v1/alerts/{id}/resolve` (optional JSON body `{"note": "…"}`) move one on, in the
//! token's name.

use crate::http::api::{ApiClient, ApiError, ApiState};
use crate::store::{Alert, AlertAction, StoreError};
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    state: Option<String>,
    limit: Option<i64>,
}

pub async fn list(
    State(state): State<ApiState>,
    _client: ApiClient,
    Query(params): Query<ListParams>,
) -> Result<Json<Vec<Alert>>, ApiError> {
    if let Some(s) = &params.state
        && !matches!(s.as_str(), "open" | "acknowledged" | "resolved")
    {
        return Err(ApiError::BadRequest(format!(
            "`state`: `{s}` is not open, acknowledged or resolved"
        )));
    }
    let limit = params.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(
        state.store.alerts(params.state.as_deref(), limit).await?,
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveBody {
    note: Option<String>,
}

pub async fn acknowledge(
    state: State<ApiState>,
    client: ApiClient,
    id: Path<i64>,
    body: Option<Json<MoveBody>>,
) -> Result<Json<Alert>, ApiError> {
    move_alert(state, client, id, AlertAction::Acknowledge, body).await
}

pub async fn resolve(
    state: State<ApiState>,
    client: ApiClient,
    id: Path<i64>,
    body: Option<Json<MoveBody>>,
) -> Result<Json<Alert>, ApiError> {
    move_alert(state, client, id, AlertAction::Resolve, body).await
}

async fn move_alert(
    State(state): State<ApiState>,
    client: ApiClient,
    Path(id): Path<i64>,
    action: AlertAction,
    body: Option<Json<MoveBody>>,
) -> Result<Json<Alert>, ApiError> {
    let note = body.and_then(|Json(b)| b.note);
    match state
        .store
        .move_alert(
            id,
            action,
            &client.token_name,
            note.as_deref(),
            state.clock.now(),
        )
        .await
    {
        Ok(alert) => {
            tracing::info!(alert = id, action = action.as_ref(), by = %client.token_name, "alert moved");
            Ok(Json(alert))
        }
        Err(StoreError::NotFound(e)) => Err(ApiError::NotFound(e)),
        Err(StoreError::Conflict(e)) => Err(ApiError::Conflict(e)),
        Err(e) => Err(e.into()),
    }
}
