use axum::extract::State;
use axum::Json;
use secureclose_protocol::{ApiError, Company, MeResponse, UsersResponse};

use crate::auth::AuthedUser;
use crate::error::CloudError;
use crate::{store, AppState};

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
    let company = store::company_of(&state.db, &authed.user).await?;
    Ok(Json(MeResponse {
        user: authed.user,
        company,
    }))
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
    Ok(Json(store::company_of(&state.db, &authed.user).await?))
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
    let users = store::users_of_company(&state.db, &authed.user.company_id).await?;
    Ok(Json(UsersResponse { users }))
}
