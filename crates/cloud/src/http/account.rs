//! What any signed-in user may read (tag `account`).

use axum::extract::State;
use axum::Json;
use secureclose_protocol::{ApiError, Company, MeResponse, UsersResponse};

use crate::error::CloudError;
use crate::service::{self, sessions::AuthedUser};
use crate::state::AppState;

/// The signed-in user and their company.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "account",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = MeResponse),
        (status = 401, description = "unauthenticated or session_expired", body = ApiError),
        (status = 403, description = "account_disabled", body = ApiError),
    )
)]
pub async fn me(
    State(state): State<AppState>,
    authed: AuthedUser,
) -> Result<Json<MeResponse>, CloudError> {
    Ok(Json(service::account::me(&state, authed).await?))
}

/// The caller's own company profile.
#[utoipa::path(
    get,
    path = "/api/v1/company",
    tag = "account",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's company", body = Company),
        (status = 401, description = "unauthenticated or session_expired", body = ApiError),
        (status = 403, description = "account_disabled", body = ApiError),
    )
)]
pub async fn company(
    State(state): State<AppState>,
    authed: AuthedUser,
) -> Result<Json<Company>, CloudError> {
    Ok(Json(service::account::company(&state, &authed).await?))
}

/// Every user of the caller's company (never another company's).
#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "account",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Users of the caller's company, by display name", body = UsersResponse),
        (status = 401, description = "unauthenticated or session_expired", body = ApiError),
        (status = 403, description = "account_disabled", body = ApiError),
    )
)]
pub async fn users(
    State(state): State<AppState>,
    authed: AuthedUser,
) -> Result<Json<UsersResponse>, CloudError> {
    let users = service::account::users(&state, &authed).await?;
    Ok(Json(UsersResponse { users }))
}
