//! `GET /v1/reports/scores?by=team,period&period=week&since=2026-11-01&until=2026-12-01`: the
//! report `surveyd report --format json` prints, for a bearer token.

use crate::domain::DateArg;
use crate::http::api::{ApiClient, ApiError, ApiState};
use crate::scoring::Report;
use crate::store::{Breakdown, Period};
use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoresParams {
    /// One or two breakdowns: `agent`, `team,period`.
    by: Option<String>,
    period: Option<Period>,
    /// `YYYY-MM-DD` (midnight in the reports' time zone) or RFC 3339.
    since: Option<String>,
    until: Option<String>,
}

pub async fn get_scores(
    State(state): State<ApiState>,
    _client: ApiClient,
    Query(params): Query<ScoresParams>,
) -> Result<Json<Report>, ApiError> {
    let tz = state.reports.time_zone(&state.defaults);
    let date = |name: &str, text: &Option<String>| {
        text.as_deref()
            .map(|t| {
                t.parse::<DateArg>()
                    .map_err(|e| e.to_string())
                    .and_then(|d| d.instant(tz).map_err(|e| e.to_string()))
                    .map_err(|e| ApiError::BadRequest(format!("`{name}`: {e}")))
            })
            .transpose()
    };
    let by = match params.by.as_deref() {
        Some(text) => {
            Breakdown::parse_list(text).map_err(|e| ApiError::BadRequest(format!("`by`: {e}")))?
        }
        None => Vec::new(),
    };
    Breakdown::check_period(&by, params.period)
        .map_err(|e| ApiError::BadRequest(format!("`period`: {e}")))?;
    let query = state.reports.query(
        &state.defaults,
        by,
        params.period,
        (date("since", &params.since)?, date("until", &params.until)?),
        state.clock.now(),
    );
    Ok(Json(
        Report::run(&state.store, &query, state.reports.min_answers).await?,
    ))
}
