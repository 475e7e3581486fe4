//! `POST /v1/campaigns/{name}/runs[?dry_run=true]`: runs a campaign's planning, as
//! `surveyd campaign run` does, and answers with the counts.

use crate::http::api::{ApiClient, ApiError, ApiState};
use crate::store::PlanCounts;
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
pub struct RunParams {
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Serialize)]
pub struct RunResponse {
    pub campaign: String,
    pub dry_run: bool,
    #[serde(flatten)]
    pub counts: PlanCounts,
}

pub async fn post_run(
    State(state): State<ApiState>,
    client: ApiClient,
    Path(name): Path<String>,
    Query(params): Query<RunParams>,
) -> Result<Json<RunResponse>, ApiError> {
    let campaign = state
        .campaigns
        .get(&name)
        .ok_or_else(|| ApiError::NotFound(format!("no campaign `{name}`")))?;
    let counts = crate::scheduler::run_by_hand(
        &state.store,
        campaign,
        "api",
        params.dry_run,
        &state.survey_key,
        &state.clock,
    )
    .await?;
    tracing::info!(
        campaign = %name,
        client = %client.token_name,
        dry_run = params.dry_run,
        invited = counts.invited,
        "campaign run"
    );
    Ok(Json(RunResponse {
        campaign: name,
        dry_run: params.dry_run,
        counts,
    }))
}
