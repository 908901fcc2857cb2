//! Admin edits of users and the company (tag `admin`): the requests of
//! `service::users`. Only inside the caller's own company.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use secureclose_protocol::{
    ApiError, Company, CompanyUpdate, NewUserRequest, ResetTwoFactorRequest, SetupCodeGrant,
    SetupCodeTexted, TextSetupCodeRequest, TrustedComputer, User, UserUpdate,
};

use super::extract::ApiJson;
use crate::error::CloudError;
use crate::service::sessions::{AdminUser, AuthedUser};
use crate::service::{accounts, factor_reset, trusted, users};
use crate::state::AppState;

/// One user of the caller's company.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "The user", body = User),
        (status = 401, description = "unauthenticated or session_expired", body = ApiError),
        (status = 403, description = "forbidden: not a user of the caller's company", body = ApiError),
    )
)]
pub async fn get_user(
    State(state): State<AppState>,
    authed: AuthedUser,
    Path(id): Path<String>,
) -> Result<Json<User>, CloudError> {
    Ok(Json(users::get_user(&state, &authed.user, &id).await?))
}

/// An admin edits a user of their company (General Info and Login Info).
/// Rules: the phone is stored as E.164 and a changed phone is unverified
/// again; 2FA cannot be turned on without a phone, nor where the DMS does
/// not support it; the last active admin cannot be demoted or disabled.
/// A user's phone cannot be removed while 2FA applies to them.
/// Setting `status: active` also lifts a lock after 100 failures.
/// A change of phone, 2FA, status or lock ends the user's sessions, device
/// grants and open sign-in attempts (see db::security); an admin editing
/// themselves keeps the session they edit from. 2FA off closes attempts only.
#[utoipa::path(
    patch,
    path = "/api/v1/users/{id}",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    request_body = UserUpdate,
    responses(
        (status = 200, description = "The updated user", body = User),
        (status = 400, description = "invalid_phone, phone_required, two_factor_unavailable or validation", body = ApiError),
        (status = 401, description = "unauthenticated or session_expired", body = ApiError),
        (status = 403, description = "forbidden: caller is not an admin, or the user is not in the caller's company", body = ApiError),
        (status = 409, description = "conflict: the email belongs to another user", body = ApiError),
    )
)]
pub async fn update_user(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(id): Path<String>,
    ApiJson(update): ApiJson<UserUpdate>,
) -> Result<Json<User>, CloudError> {
    Ok(Json(
        users::update_user(&state, &admin, &id, &update).await?,
    ))
}

/// An admin edits their company profile (name, company-wide 2FA toggle,
/// offline sign-in 1-168 h, idle lock 5-60 min, session limit 1-24 h).
#[utoipa::path(
    patch,
    path = "/api/v1/company",
    tag = "admin",
    security(("bearer" = [])),
    request_body = CompanyUpdate,
    responses(
        (status = 200, description = "The updated company", body = Company),
        (status = 400, description = "two_factor_unavailable or validation", body = ApiError),
        (status = 401, description = "unauthenticated or session_expired", body = ApiError),
        (status = 403, description = "forbidden: caller is not an admin", body = ApiError),
    )
)]
pub async fn update_company(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiJson(update): ApiJson<CompanyUpdate>,
) -> Result<Json<Company>, CloudError> {
    Ok(Json(users::update_company(&state, &admin, &update).await?))
}

/// An admin deletes a user of their company: a soft delete (the row stays as
/// a tombstone that clients pull), every session and device grant of the user
/// revoked. Never yourself, never the last active admin.
#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "validation: yourself, or the last active admin", body = ApiError),
        (status = 401, description = "unauthenticated or session_expired", body = ApiError),
        (status = 403, description = "forbidden: caller is not an admin, or the user is not in the caller's company", body = ApiError),
    )
)]
pub async fn delete_user(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(id): Path<String>,
) -> Result<StatusCode, CloudError> {
    users::delete_user(&state, &admin, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An admin adds a user to their company. The answer carries a one-time
/// setup code (12 characters, works once, for 72 hours) that the person
/// redeems at `POST /api/v1/account/activate` to choose their password.
#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "admin",
    security(("bearer" = [])),
    request_body = NewUserRequest,
    responses(
        (status = 201, description = "The new user and their setup code", body = SetupCodeGrant),
        (status = 400, description = "validation, invalid_phone, phone_required or two_factor_unavailable", body = ApiError),
        (status = 401, description = "unauthenticated or session_expired", body = ApiError),
        (status = 403, description = "forbidden: caller is not an admin", body = ApiError),
        (status = 409, description = "conflict: the email belongs to another user", body = ApiError),
    )
)]
pub async fn create_user(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiJson(request): ApiJson<NewUserRequest>,
) -> Result<(StatusCode, Json<SetupCodeGrant>), CloudError> {
    let grant = accounts::create_user(&state, &admin, &request).await?;
    Ok((StatusCode::CREATED, Json(grant)))
}

/// An admin resets another user's password: a new setup code (the earlier
/// one no longer works), the old password stops working, and every session,
/// offline device grant and sign-in attempt of the user ends. Admins change
/// their own password at `POST /api/v1/account/password` instead.
#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/reset-password",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "The user and their new setup code", body = SetupCodeGrant),
        (status = 400, description = "own_password_reset: the caller's own id", body = ApiError),
        (status = 401, description = "unauthenticated or session_expired", body = ApiError),
        (status = 403, description = "forbidden: caller is not an admin, or the user is not in the caller's company", body = ApiError),
    )
)]
pub async fn reset_password(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(id): Path<String>,
) -> Result<Json<SetupCodeGrant>, CloudError> {
    Ok(Json(accounts::reset_password(&state, &admin, &id).await?))
}

/// Break-glass for a lost phone or app: an admin resets another user's second
/// factor, giving a reason (5-500 characters, kept in the audit log). Removes
/// the user's authenticator app and their mobile phone, ends every session,
/// device grant and sign-in attempt of theirs; where 2FA applies to them they
/// enrol a factor again at their next sign-in. The old phone is texted a
/// notice (no code). Admins cannot reset their own: another admin must.
#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/reset-two-factor",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    request_body = ResetTwoFactorRequest,
    responses(
        (status = 200, description = "The user as now stored (no phone)", body = User),
        (status = 400, description = "validation (the reason) or own_two_factor_reset (the caller's own id)", body = ApiError),
        (status = 401, description = "unauthenticated or session_expired", body = ApiError),
        (status = 403, description = "forbidden: caller is not an admin, or the user is not in the caller's company", body = ApiError),
    )
)]
pub async fn reset_two_factor(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<ResetTwoFactorRequest>,
) -> Result<Json<User>, CloudError> {
    Ok(Json(
        factor_reset::reset_two_factor(&state, &admin, &id, &request).await?,
    ))
}

/// Sign a user out everywhere: every session, offline device grant and
/// sign-in attempt ends (an admin doing it to themselves keeps this session).
#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/revoke-sessions",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 204, description = "Every session of the user ended"),
        (status = 401, description = "unauthenticated or session_expired", body = ApiError),
        (status = 403, description = "forbidden: caller is not an admin, or the user is not in the caller's company", body = ApiError),
    )
)]
pub async fn revoke_sessions(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(id): Path<String>,
) -> Result<StatusCode, CloudError> {
    accounts::revoke_sessions(&state, &admin, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An admin texts a user's setup code (the one they were just shown after
/// Add user or Reset password) to the mobile phone on the user's profile,
/// never to a number from the request. One code is texted at most 3 times.
#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/setup-code/text",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    request_body = TextSetupCodeRequest,
    responses(
        (status = 200, description = "Sent: the masked number and the texts left", body = SetupCodeTexted),
        (status = 400, description = "setup_code_not_current (wrong, used, expired or replaced), no_mobile_phone, invalid_phone or sms_country_not_allowed", body = ApiError),
        (status = 401, description = "unauthenticated or session_expired", body = ApiError),
        (status = 403, description = "forbidden: caller is not an admin, or the user is not in the caller's company", body = ApiError),
        (status = 429, description = "setup_code_text_limit, sms_limit (the phone's SMS budget) or sms_daily_cap (the company's), with retry_at", body = ApiError),
        (status = 502, description = "sms_failed: the carrier did not take the message", body = ApiError),
    )
)]
pub async fn text_setup_code(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<TextSetupCodeRequest>,
) -> Result<Json<SetupCodeTexted>, CloudError> {
    Ok(Json(
        accounts::text_setup_code(&state, &admin, &id, &request.setup_code).await?,
    ))
}

/// A user's trusted computers (admins, same company).
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}/trusted-computers",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "The user's trusted computers", body = [TrustedComputer]),
        (status = 401, description = "unauthenticated or session_expired", body = ApiError),
        (status = 403, description = "forbidden: caller is not an admin, or the user is not in the caller's company", body = ApiError),
    )
)]
pub async fn user_trusted_computers(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(id): Path<String>,
) -> Result<Json<Vec<TrustedComputer>>, CloudError> {
    Ok(Json(trusted::list_of_user(&state, &admin, &id).await?))
}

/// An admin revokes one of a user's trusted computers.
#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}/trusted-computers/{computer_id}",
    tag = "admin",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "User id"),
        ("computer_id" = String, Path, description = "Trusted computer id"),
    ),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "unauthenticated or session_expired", body = ApiError),
        (status = 403, description = "forbidden: caller is not an admin, or the user is not in the caller's company", body = ApiError),
        (status = 404, description = "not_found: not a live trusted computer of that user", body = ApiError),
    )
)]
pub async fn revoke_user_trusted_computer(
    State(state): State<AppState>,
    admin: AdminUser,
    Path((id, computer_id)): Path<(String, String)>,
) -> Result<StatusCode, CloudError> {
    trusted::revoke_of_user(&state, &admin, &id, &computer_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
