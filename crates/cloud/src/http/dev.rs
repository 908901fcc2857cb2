//! Development-only endpoints (mounted only when the server runs with --dev).

use axum::extract::{Query, State};
use axum::Json;
use secureclose_protocol::OutboxMessage;
use serde::Deserialize;

use crate::error::CloudError;
use crate::state::AppState;
use crate::{phone, service};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct OutboxQuery {
    /// Only messages to this number (E.164; other spellings are normalised).
    pub to: Option<String>,
}

/// The development SMS outbox, newest first. Exists only in dev mode.
#[utoipa::path(
    get,
    path = "/api/v1/dev/outbox",
    tag = "dev",
    params(OutboxQuery),
    responses(
        (status = 200, description = "Messages the dev outbox recorded, newest first", body = [OutboxMessage]),
        (status = 404, description = "not_found: the server is not in dev mode"),
    )
)]
pub async fn outbox(
    State(state): State<AppState>,
    Query(query): Query<OutboxQuery>,
) -> Result<Json<Vec<OutboxMessage>>, CloudError> {
    // A raw "+" in a query string arrives as a space; normalising fixes both.
    let to = query
        .to
        .as_deref()
        .map(|to| phone::normalize(to).unwrap_or_else(|_| to.trim().to_string()));
    Ok(Json(service::dev_outbox(&state, to.as_deref()).await?))
}
