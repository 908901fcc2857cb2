//! What any signed-in user may read (tag `account`).

use axum::extract::State;
use axum::Json;
use secureclose_protocol::{
    ActivateRequest, ApiError, ChangePasswordRequest, ChangePasswordResponse, Company,
    LoginResponse, MeResponse, UsersResponse,
};

use super::extract::ApiJson;
use crate::error::CloudError;
use crate::service::sessions::SourceAddr;
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

/// First sign-in: the setup code an admin handed over, and the password the
/// person chooses (15 to 256 characters, not common, not containing their
/// email, name or company). Answers exactly like `/login` with that
/// password: signed in, or the second factor / phone enrolment follows. A
/// wrong, used or expired code is `invalid_credentials`, counted like a
/// wrong password.
#[utoipa::path(
    post,
    path = "/api/v1/account/activate",
    tag = "session",
    request_body = ActivateRequest,
    responses(
        (status = 200, description = "signed_in, second_factor_required or phone_enrollment_required", body = LoginResponse),
        (status = 400, description = "password_refused (the message says which rule) or validation", body = ApiError),
        (status = 401, description = "invalid_credentials: wrong, used or expired setup code", body = ApiError),
        (status = 403, description = "account_disabled", body = ApiError),
        (status = 423, description = "account_locked", body = ApiError),
        (status = 429, description = "rate_limited (retry_at)", body = ApiError),
        (status = 503, description = "server_busy", body = ApiError),
    )
)]
pub async fn activate(
    State(state): State<AppState>,
    source: SourceAddr,
    ApiJson(request): ApiJson<ActivateRequest>,
) -> Result<Json<LoginResponse>, CloudError> {
    Ok(Json(
        service::sign_in::activate(&state, &source, request).await?,
    ))
}

/// The signed-in user changes their password. Every other session, offline
/// device grant and sign-in attempt of the user ends; this session stays.
/// `device_token` (optional): this device's grant, answered with its
/// replacement (the old one ends with the others).
#[utoipa::path(
    post,
    path = "/api/v1/account/password",
    tag = "account",
    security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 200, description = "Changed; this device's new grant when one was named", body = ChangePasswordResponse),
        (status = 400, description = "invalid_credentials: the current password is wrong; password_refused: the new one breaks a rule", body = ApiError),
        (status = 401, description = "unauthenticated or session_expired", body = ApiError),
        (status = 403, description = "account_disabled", body = ApiError),
        (status = 423, description = "account_locked", body = ApiError),
        (status = 429, description = "rate_limited (retry_at)", body = ApiError),
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    source: SourceAddr,
    authed: AuthedUser,
    ApiJson(request): ApiJson<ChangePasswordRequest>,
) -> Result<Json<ChangePasswordResponse>, CloudError> {
    Ok(Json(
        service::sign_in::change_password(&state, &source, &authed, request).await?,
    ))
}
