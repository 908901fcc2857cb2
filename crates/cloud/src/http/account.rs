//! What any signed-in user may read (tag `account`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use secureclose_protocol::{
    ActivateRequest, ApiError, ChangePasswordRequest, ChangePasswordResponse, Company,
    ConfirmTotpRequest, LoginResponse, MeResponse, ReauthDone, ReauthRequest, ReauthStep,
    RecoveryCodes, RecoveryStatus, TotpEnrollment, TotpStatus, TrustedComputer, UsersResponse,
    VerifyCodeRequest,
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

/// Whether the caller has an authenticator app set up.
#[utoipa::path(
    get,
    path = "/api/v1/account/totp",
    tag = "account",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "enabled, and since when", body = TotpStatus),
        (status = 401, description = "unauthenticated or session_expired", body = ApiError),
        (status = 403, description = "account_disabled", body = ApiError),
    )
)]
pub async fn totp_status(
    State(state): State<AppState>,
    authed: AuthedUser,
) -> Result<Json<TotpStatus>, CloudError> {
    Ok(Json(service::totp::status(&state, &authed).await?))
}

/// Starts adding an authenticator app: a new secret (base32, and as an
/// `otpauth://` URI for a QR code), shown this once. Sign-in is unchanged
/// until the first code is confirmed (15 minutes, 5 tries). A new start
/// replaces an unconfirmed one.
#[utoipa::path(
    post,
    path = "/api/v1/account/totp",
    tag = "account",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The secret to put in the app", body = TotpEnrollment),
        (status = 401, description = "unauthenticated or session_expired", body = ApiError),
        (status = 403, description = "account_disabled", body = ApiError),
        (status = 409, description = "conflict: an authenticator app is already set up", body = ApiError),
    )
)]
pub async fn begin_totp(
    State(state): State<AppState>,
    authed: AuthedUser,
) -> Result<Json<TotpEnrollment>, CloudError> {
    Ok(Json(service::totp::begin(&state, &authed).await?))
}

/// The app's first code: the authenticator app becomes a sign-in factor.
/// The caller's other sessions and open sign-ins end; this one stays.
#[utoipa::path(
    post,
    path = "/api/v1/account/totp/confirm",
    tag = "account",
    security(("bearer" = [])),
    request_body = ConfirmTotpRequest,
    responses(
        (status = 200, description = "Active", body = TotpStatus),
        (status = 400, description = "invalid_code (attempts_left), or validation: malformed code, or the setup ended (unknown, another user's, expired, too many wrong codes)", body = ApiError),
        (status = 401, description = "unauthenticated or session_expired", body = ApiError),
        (status = 403, description = "account_disabled", body = ApiError),
        (status = 409, description = "conflict: an authenticator app is already set up", body = ApiError),
    )
)]
pub async fn confirm_totp(
    State(state): State<AppState>,
    authed: AuthedUser,
    ApiJson(request): ApiJson<ConfirmTotpRequest>,
) -> Result<Json<TotpStatus>, CloudError> {
    Ok(Json(
        service::totp::confirm(&state, &authed, &request).await?,
    ))
}

/// Removes the caller's authenticator app. The caller's other sessions and
/// open sign-ins end; this one stays.
#[utoipa::path(
    delete,
    path = "/api/v1/account/totp",
    tag = "account",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "unauthenticated or session_expired", body = ApiError),
        (status = 403, description = "account_disabled", body = ApiError),
        (status = 404, description = "not_found: no authenticator app is set up", body = ApiError),
    )
)]
pub async fn remove_totp(
    State(state): State<AppState>,
    authed: AuthedUser,
) -> Result<StatusCode, CloudError> {
    service::totp::remove(&state, &authed).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// How many of the caller's recovery codes are unused, and when the set was
/// issued (`issued_at: null`: never, or an admin reset their factors).
#[utoipa::path(
    get,
    path = "/api/v1/account/recovery-codes",
    tag = "account",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's recovery codes, counted", body = RecoveryStatus),
        (status = 401, description = "unauthenticated or session_expired", body = ApiError),
    )
)]
pub async fn recovery_status(
    State(state): State<AppState>,
    authed: AuthedUser,
) -> Result<Json<RecoveryStatus>, CloudError> {
    Ok(Json(service::recovery::status(&state, &authed.user).await?))
}

/// A new set of ten recovery codes for the caller, shown once; the old set
/// stops working. Needs a re-authentication in the last five minutes and a
/// second factor to back up (a verified phone or an app).
#[utoipa::path(
    post,
    path = "/api/v1/account/recovery-codes",
    tag = "account",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new codes, shown once", body = RecoveryCodes),
        (status = 400, description = "validation: no second factor to back up", body = ApiError),
        (status = 401, description = "unauthenticated or session_expired", body = ApiError),
        (status = 403, description = "reauth_required", body = ApiError),
    )
)]
pub async fn regenerate_recovery_codes(
    State(state): State<AppState>,
    authed: AuthedUser,
) -> Result<Json<RecoveryCodes>, CloudError> {
    authed.require_fresh_reauth(state.now())?;
    Ok(Json(
        service::recovery::regenerate(&state, &authed.user).await?,
    ))
}

/// Re-authentication, step one: the caller's current password (checked,
/// counted and locked like a sign-in's). Answers `done` for someone without
/// a second factor, otherwise an attempt (a code texted unless they have an
/// authenticator app; `/login/resend` texts one) for `/account/reauth/verify`.
/// The proof lets this session make security changes for five minutes.
#[utoipa::path(
    post,
    path = "/api/v1/account/reauth",
    tag = "account",
    security(("bearer" = [])),
    request_body = ReauthRequest,
    responses(
        (status = 200, description = "Done, or the attempt to answer with a code", body = ReauthStep),
        (status = 400, description = "invalid_credentials: the password is wrong", body = ApiError),
        (status = 401, description = "unauthenticated or session_expired", body = ApiError),
        (status = 423, description = "account_locked", body = ApiError),
        (status = 429, description = "rate_limited, sms_limit or sms_daily_cap (retry_at)", body = ApiError),
    )
)]
pub async fn reauth(
    State(state): State<AppState>,
    source: SourceAddr,
    authed: AuthedUser,
    ApiJson(request): ApiJson<ReauthRequest>,
) -> Result<Json<ReauthStep>, CloudError> {
    Ok(Json(
        service::reauth::start(&state, &source, &authed, request.password).await?,
    ))
}

/// Re-authentication, step two: a code (`sms`, `totp` or `recovery`) for
/// the caller's own attempt, counted like a sign-in code.
#[utoipa::path(
    post,
    path = "/api/v1/account/reauth/verify",
    tag = "account",
    security(("bearer" = [])),
    request_body = VerifyCodeRequest,
    responses(
        (status = 200, description = "Proven: until when it counts", body = ReauthDone),
        (status = 400, description = "invalid_code (attempts_left), code_expired or validation", body = ApiError),
        (status = 401, description = "unauthenticated, session_expired or challenge_closed", body = ApiError),
    )
)]
pub async fn reauth_verify(
    State(state): State<AppState>,
    authed: AuthedUser,
    ApiJson(request): ApiJson<VerifyCodeRequest>,
) -> Result<Json<ReauthDone>, CloudError> {
    Ok(Json(
        service::reauth::verify(&state, &authed, &request).await?,
    ))
}

/// The caller's trusted computers (unexpired, unrevoked, since their last
/// security change), newest first.
#[utoipa::path(
    get,
    path = "/api/v1/account/trusted-computers",
    tag = "account",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's trusted computers", body = [TrustedComputer]),
        (status = 401, description = "unauthenticated or session_expired", body = ApiError),
    )
)]
pub async fn trusted_computers(
    State(state): State<AppState>,
    authed: AuthedUser,
) -> Result<Json<Vec<TrustedComputer>>, CloudError> {
    Ok(Json(service::trusted::list_own(&state, &authed).await?))
}

/// The caller stops trusting one of their computers: its next sign-in asks
/// for the code again.
#[utoipa::path(
    delete,
    path = "/api/v1/account/trusted-computers/{id}",
    tag = "account",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Trusted computer id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "unauthenticated or session_expired", body = ApiError),
        (status = 404, description = "not_found: not a live trusted computer of the caller", body = ApiError),
    )
)]
pub async fn revoke_trusted_computer(
    State(state): State<AppState>,
    authed: AuthedUser,
    Path(id): Path<String>,
) -> Result<StatusCode, CloudError> {
    service::trusted::revoke_own(&state, &authed, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
