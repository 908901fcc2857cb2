//! Sign in and out (tag `session`): the requests of `service::sign_in`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use secureclose_protocol::sync::ResumeRequest;
use secureclose_protocol::{
    ApiError, Challenge, EnrollPhoneRequest, EnrollTotpRequest, LoginRequest, LoginResponse,
    ResendCodeRequest, TotpEnrollment, VerifyCodeRequest,
};

use super::extract::ApiJson;
use crate::error::CloudError;
use crate::service::sessions::{self, AuthedUser, SourceAddr};
use crate::service::sign_in;
use crate::state::AppState;

/// Email + password. Whether a second factor follows is recomputed from the
/// database every time: (user toggle OR company toggle) AND DMS support.
/// A user who needs it and has a mobile phone gets a code now
/// (`second_factor_required`); one without a verified phone must enrol one
/// (`phone_enrollment_required`). Nobody, admins included, skips it.
/// A phone on file that is not yet verified (an admin entered or changed it)
/// gets the code too and becomes verified by it: the article's first procedure.
/// An email is unique per company only: when the password matches the
/// accounts of several companies, the answer is `company_choice_required`
/// and the client repeats the login with one `company_id`.
#[utoipa::path(
    post,
    path = "/api/v1/login",
    tag = "session",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Password accepted: signed_in, second_factor_required (code sent), phone_enrollment_required, or company_choice_required (the password matched accounts at several companies)", body = LoginResponse),
        (status = 400, description = "validation: malformed request, or sms_country_not_allowed (the phone on file)", body = ApiError),
        (status = 401, description = "invalid_credentials", body = ApiError),
        (status = 403, description = "account_disabled (only after a correct password)", body = ApiError),
        (status = 413, description = "payload_too_large", body = ApiError),
        (status = 423, description = "account_locked: 100 consecutive failures; an admin must re-activate the account", body = ApiError),
        (status = 429, description = "rate_limited (growing delay after repeated failures; retry_at), sms_limit or sms_daily_cap (retry_at)", body = ApiError),
        (status = 502, description = "sms_failed: the code could not be sent", body = ApiError),
        (status = 503, description = "server_busy: too many logins queued; retry", body = ApiError),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    source: SourceAddr,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, CloudError> {
    Ok(Json(sign_in::login(&state, &source, request).await?))
}

/// Finishes a login with the code sent by SMS. For an enrolment, the phone
/// that received the code is saved to the profile as verified.
#[utoipa::path(
    post,
    path = "/api/v1/login/verify",
    tag = "session",
    request_body = VerifyCodeRequest,
    responses(
        (status = 200, description = "Code accepted: signed_in", body = LoginResponse),
        (status = 400, description = "invalid_code (attempts_left), code_expired, or validation", body = ApiError),
        (status = 401, description = "challenge_closed: 5 wrong codes, attempt expired or already used; sign in again", body = ApiError),
        (status = 403, description = "account_disabled", body = ApiError),
        (status = 423, description = "account_locked", body = ApiError),
        (status = 429, description = "rate_limited: growing delay after repeated failures (retry_at)", body = ApiError),
    )
)]
pub async fn verify(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<VerifyCodeRequest>,
) -> Result<Json<LoginResponse>, CloudError> {
    Ok(Json(sign_in::verify(&state, request).await?))
}

/// A desktop that signed in offline gets a cloud session back without a new
/// SMS code: the password (checked, counted and locked exactly like
/// `/login`) plus the device token of an earlier sign-in on that device.
/// Refused unless the grant is this user's, live (30 days, not revoked), the
/// user active, the company allows offline use, and, when the user needs 2FA
/// now, the grant's last second factor is within the company's offline hours.
/// The refusal never says which check failed. The used grant is replaced.
#[utoipa::path(
    post,
    path = "/api/v1/login/resume",
    tag = "session",
    request_body = ResumeRequest,
    responses(
        (status = 200, description = "signed_in: a new session and a new device token", body = LoginResponse),
        (status = 400, description = "validation: malformed request", body = ApiError),
        (status = 401, description = "resume_refused: sign in again online", body = ApiError),
        (status = 423, description = "account_locked", body = ApiError),
        (status = 429, description = "rate_limited (retry_at)", body = ApiError),
        (status = 503, description = "server_busy", body = ApiError),
    )
)]
pub async fn resume(
    State(state): State<AppState>,
    source: SourceAddr,
    ApiJson(request): ApiJson<ResumeRequest>,
) -> Result<Json<LoginResponse>, CloudError> {
    Ok(Json(sign_in::resume(&state, &source, request).await?))
}

/// Sends a new code for the attempt (30 s cooldown; at most 5 sends per
/// 10 minutes per user and per number). The new code replaces the old one.
#[utoipa::path(
    post,
    path = "/api/v1/login/resend",
    tag = "session",
    request_body = ResendCodeRequest,
    responses(
        (status = 200, description = "A new code was sent", body = Challenge),
        (status = 400, description = "validation: no phone entered yet (enrolment), or sms_country_not_allowed", body = ApiError),
        (status = 401, description = "challenge_closed", body = ApiError),
        (status = 429, description = "resend_too_soon, sms_limit or sms_daily_cap (retry_at)", body = ApiError),
        (status = 502, description = "sms_failed", body = ApiError),
    )
)]
pub async fn resend(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<ResendCodeRequest>,
) -> Result<Json<Challenge>, CloudError> {
    Ok(Json(sign_in::resend(&state, &request).await?))
}

/// Enrolment: the mobile phone to verify; a code is sent to it. Parsed to
/// E.164 (US default region, international accepted).
#[utoipa::path(
    post,
    path = "/api/v1/login/enroll-phone",
    tag = "session",
    request_body = EnrollPhoneRequest,
    responses(
        (status = 200, description = "A code was sent to the new number", body = Challenge),
        (status = 400, description = "invalid_phone, sms_country_not_allowed, or validation (not an enrolment)", body = ApiError),
        (status = 401, description = "challenge_closed", body = ApiError),
        (status = 429, description = "resend_too_soon, sms_limit or sms_daily_cap (retry_at)", body = ApiError),
        (status = 502, description = "sms_failed", body = ApiError),
    )
)]
pub async fn enroll_phone(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<EnrollPhoneRequest>,
) -> Result<Json<Challenge>, CloudError> {
    Ok(Json(sign_in::enroll_phone(&state, &request).await?))
}

/// Enrolment at sign-in with an authenticator app: a secret shown once (as
/// for the profile's setup); the app's first code, sent to `/login/verify`
/// with `method: "totp"`, turns it on and finishes the sign-in.
#[utoipa::path(
    post,
    path = "/api/v1/login/enroll-totp",
    tag = "session",
    request_body = EnrollTotpRequest,
    responses(
        (status = 200, description = "The secret to add to the app", body = TotpEnrollment),
        (status = 400, description = "validation (not an enrolment)", body = ApiError),
        (status = 401, description = "challenge_closed", body = ApiError),
    )
)]
pub async fn enroll_totp(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<EnrollTotpRequest>,
) -> Result<Json<TotpEnrollment>, CloudError> {
    Ok(Json(sign_in::enroll_totp(&state, &request).await?))
}

/// Revokes the caller's session; the token stops working at once.
#[utoipa::path(
    post,
    path = "/api/v1/logout",
    tag = "session",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Session revoked"),
        (status = 401, description = "unauthenticated or session_expired", body = ApiError),
    )
)]
pub async fn logout(
    State(state): State<AppState>,
    authed: AuthedUser,
) -> Result<StatusCode, CloudError> {
    sessions::sign_out(&state, &authed).await?;
    Ok(StatusCode::NO_CONTENT)
}
