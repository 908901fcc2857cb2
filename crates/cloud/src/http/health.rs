use axum::extract::State;
use axum::Json;
use secureclose_protocol::{ApiError, Health};

use crate::error::CloudError;
use crate::service;
use crate::state::AppState;

/// Liveness and database reachability.
#[utoipa::path(
    get,
    path = "/api/v1/health",
    tag = "meta",
    responses(
        (status = 200, description = "Service and database are up", body = Health),
        (status = 500, description = "Database unreachable", body = ApiError),
    )
)]
pub async fn health(State(state): State<AppState>) -> Result<Json<Health>, CloudError> {
    service::ping(&state).await?;
    Ok(Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        database: state.db.dialect.name().into(),
    }))
}
