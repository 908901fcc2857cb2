use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use secureclose_protocol::{ApiError, LoginRequest, LoginResponse, SessionGrant, UserStatus};

use super::ApiJson;
use crate::auth::{new_session_token, normalize_email, token_hash, AuthedUser};
use crate::db::now_ms;
use crate::error::CloudError;
use crate::{store, AppState};

/// Longest password accepted; longer input only burns CPU in the hash.
const MAX_PASSWORD_BYTES: usize = 1024;

/// Email + password login. Answers `signed_in` with a fresh session token; the
/// 2FA issue adds the other `status` values.
#[utoipa::path(
    post,
    path = "/api/v1/login",
    tag = "session",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Password accepted", body = LoginResponse),
        (status = 400, description = "validation: malformed request", body = ApiError),
        (status = 401, description = "invalid_credentials", body = ApiError),
        (status = 403, description = "account_disabled (only after a correct password)", body = ApiError),
        (status = 413, description = "payload_too_large", body = ApiError),
        (status = 503, description = "server_busy: too many logins queued; retry", body = ApiError),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, CloudError> {
    let email = normalize_email(&request.email);
    if email.is_empty() || request.password.is_empty() {
        return Err(CloudError::Validation(
            "email and password are required".into(),
        ));
    }
    if request.password.len() > MAX_PASSWORD_BYTES {
        return Err(CloudError::Validation("the password is too long".into()));
    }
    let found = store::credentials_by_email(&state.db, &email).await?;
    let stored = found.as_ref().map(|c| c.password_hash.clone());
    // An unknown email is verified against a dummy hash: same cost, same answer.
    let matches = state.hasher.verify(request.password, stored).await?;
    let credentials = match found {
        Some(credentials) if matches => credentials,
        _ => return Err(CloudError::InvalidCredentials),
    };
    let user = credentials.user;
    if user.status == UserStatus::Disabled {
        return Err(CloudError::AccountDisabled);
    }
    let company = store::company_of(&state.db, &user).await?;

    let token = new_session_token();
    let now = now_ms();
    let expires_at = now.saturating_add(duration_ms(state.config.session_ttl));
    store::insert_session(&state.db, &token_hash(&token), &user.id, now, expires_at).await?;
    tracing::info!(user_id = %user.id, company_id = %company.id, "signed in");
    Ok(Json(LoginResponse::SignedIn {
        session: SessionGrant { token, expires_at },
        user,
        company,
    }))
}

fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
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
    store::revoke_session(&state.db, &authed.session_token_hash, now_ms()).await?;
    tracing::info!(user_id = %authed.user.id, "signed out");
    Ok(StatusCode::NO_CONTENT)
}
