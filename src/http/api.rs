//! What every HTTP API route shares: bearer-token authentication, a request limit per token
//! (`http.rate_limit.api`), and one error type that turns into a JSON response (a clear
//! message on 4xx, nothing internal on 5xx).

use super::ratelimit::Buckets;
use crate::auth::{ConfiguredToken, SurveyKey, TokenHash};
use crate::campaign::Campaign;
use crate::clock::Clock;
use crate::domain::Defaults;
use crate::intake::ParseContext;
use crate::scoring::ReportSettings;
use crate::store::Store;
use axum::Json;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

/// What the API's handlers reach: the store, the tokens and their limit, and what contacts,
/// campaign runs and reports are read with.
#[derive(Clone)]
pub struct ApiState {
    pub store: Store,
    pub clock: Clock,
    /// The tokens of `[[api.tokens]]`; those made by `surveyd tokens create` are in the store.
    pub tokens: Arc<[ConfiguredToken]>,
    /// Requests per token (`http.rate_limit.api`; `None`: no limit).
    pub limit: Option<Arc<Buckets<String>>>,
    /// How posted contacts are parsed (the default country and locale).
    pub parse_context: Arc<ParseContext>,
    /// What survey tokens are made with (by the planner).
    pub survey_key: SurveyKey,
    /// The campaigns by name.
    pub campaigns: Arc<HashMap<String, Campaign>>,
    pub reports: Arc<ReportSettings>,
    pub defaults: Arc<Defaults>,
}

/// An API failure as the client sees it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or invalid bearer token")]
    Unauthorized,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The token's `http.rate_limit.api` is spent for the next this-many seconds.
    #[error("too many requests for this token; try again later")]
    TooManyRequests(u64),
    #[error("internal error")]
    Internal(#[from] crate::store::StoreError),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooManyRequests(seconds) => {
                let body = Json(json!({ "error": self.to_string() }));
                return super::ratelimit::too_many_requests(*seconds, body);
            }
            ApiError::Internal(e) => {
                tracing::error!(error = %e, "request failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let mut response = (status, Json(json!({ "error": self.to_string() }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// The authenticated caller of an API route: the name of the token it presented.
#[derive(Debug, Clone)]
pub struct ApiClient {
    pub token_name: String,
}

impl<S: Send + Sync> FromRequestParts<S> for ApiClient
where
    ApiState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let state = ApiState::from_ref(state);
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        let hash = TokenHash::of(token);
        let configured = state.tokens.iter().find(|t| t.sha256.expose() == &hash);
        let token_name = match configured {
            Some(configured) => configured.name.clone(),
            None => state
                .store
                .use_token(&hash, state.clock.now())
                .await?
                .ok_or(ApiError::Unauthorized)?,
        };
        if let Some(limit) = &state.limit {
            limit
                .check(&token_name)
                .map_err(ApiError::TooManyRequests)?;
        }
        Ok(ApiClient { token_name })
    }
}
