//! `POST /v1/contacts`: one contact object or an array of them, in the import format.
//!
//! Valid items are stored even when others are not; the answer is 200 when all were good and
//! 422 with each bad item's index, field and reason otherwise — the first [`LISTED`] problems
//! (and warnings), with a count of the others, so the answer stays small whatever was sent.

use crate::http::api::{ApiClient, ApiError, ApiState};
use crate::intake::{FieldError, RawContact};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::Value;

/// Problems, and warnings, listed at most in one answer; the others are counted.
pub const LISTED: usize = 100;

#[derive(Debug, Serialize)]
pub struct ItemError {
    pub index: usize,
    pub field: Option<String>,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct PostContactsResponse {
    pub received: usize,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: usize,
    /// The first [`LISTED`] problems.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ItemError>,
    /// Problems found beyond those listed.
    #[serde(skip_serializing_if = "is_zero")]
    pub errors_not_listed: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "is_zero")]
    pub warnings_not_listed: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The first [`LISTED`] of what is pushed, and a count of the rest.
#[derive(Debug)]
struct Listed<T> {
    listed: Vec<T>,
    not_listed: usize,
}

impl<T> Listed<T> {
    fn new() -> Self {
        Listed {
            listed: Vec::new(),
            not_listed: 0,
        }
    }

    fn push(&mut self, item: impl FnOnce() -> T) {
        match self.listed.len() < LISTED {
            true => self.listed.push(item()),
            false => self.not_listed += 1,
        }
    }
}

pub async fn post_contacts(
    State(state): State<ApiState>,
    client: ApiClient,
    body: Bytes,
) -> Result<(StatusCode, Json<PostContactsResponse>), ApiError> {
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))?;
    let items = match value {
        Value::Array(items) => items,
        object @ Value::Object(_) => vec![object],
        _ => {
            return Err(ApiError::BadRequest(
                "the body must be a contact object or an array of them".into(),
            ));
        }
    };

    let now = state.clock.now();
    let mut records = Vec::with_capacity(items.len());
    let mut errors = Listed::new();
    let mut warnings = Listed::new();
    for (index, item) in items.iter().enumerate() {
        let problems: Vec<FieldError> = match item {
            Value::Object(object) => {
                let (raw, mut problems, unknown) = RawContact::from_json(object);
                for key in unknown {
                    warnings.push(|| {
                        format!(
                            "item {index}: unknown key `{}` is ignored",
                            key.escape_debug()
                        )
                    });
                }
                match raw.parse(&state.parse_context, now) {
                    Ok(record) if problems.is_empty() => {
                        records.push(record);
                        continue;
                    }
                    Ok(_) => problems,
                    Err(more) => {
                        problems.extend(more);
                        problems
                    }
                }
            }
            _ => vec![FieldError::record("must be a JSON object")],
        };
        for p in problems {
            errors.push(|| ItemError {
                index,
                field: p.field,
                reason: p.reason,
            });
        }
    }

    let counts = state
        .store
        .upsert_contacts(&records, state.clock.now())
        .await?;
    let rejected = items.len() - records.len();
    tracing::info!(
        token = %client.token_name,
        received = items.len(),
        inserted = counts.inserted,
        updated = counts.updated,
        rejected,
        "contacts received"
    );
    let status = if errors.listed.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((
        status,
        Json(PostContactsResponse {
            received: items.len(),
            inserted: counts.inserted,
            updated: counts.updated,
            unchanged: counts.unchanged,
            rejected,
            errors: errors.listed,
            errors_not_listed: errors.not_listed,
            warnings: warnings.listed,
            warnings_not_listed: warnings.not_listed,
        }),
    ))
}
