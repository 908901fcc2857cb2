//! The cloud's error type and its `{code, message}` HTTP form.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use secureclose_protocol::rules::Refusal;
use secureclose_protocol::{codes, ApiError};

/// Code for a known path called with the wrong method (not in `protocol::codes`
/// because clients never branch on it).
pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";

#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    #[error("The email or password is incorrect.")]
    InvalidCredentials,
    #[error("This account is disabled. Ask your SecureClose administrator.")]
    AccountDisabled,
    #[error("Sign in to continue.")]
    Unauthenticated,
    #[error("Your session has expired. Sign in again.")]
    SessionExpired,
    #[error("You are not allowed to do this: only administrators change other users and the company profile.")]
    Forbidden,
    #[error("Not found.")]
    NotFound,
    #[error("This method is not allowed here.")]
    MethodNotAllowed,
    #[error("{0}")]
    Validation(String),
    #[error("The request is too large.")]
    PayloadTooLarge,
    #[error("The server is busy. Try again in a moment.")]
    ServerBusy,
    #[error("That code is not correct.")]
    InvalidCode { attempts_left: u32 },
    #[error("That code has expired. Send a new one.")]
    CodeExpired,
    #[error("This sign-in attempt has ended (too many wrong codes, or it waited too long).")]
    ChallengeClosed,
    #[error("Please wait before asking for another code.")]
    ResendTooSoon { retry_at: i64 },
    #[error("Too many codes have been sent to this account or number. Try again later.")]
    SmsLimit { retry_at: i64 },
    #[error("Text messages to numbers in {country} are not enabled for your company (allowed: {allowed}). Use a mobile number in an allowed country, or ask your administrator.")]
    SmsCountryNotAllowed { country: String, allowed: String },
    #[error("Your company has sent all the text messages it may send today ({cap}). Try again after midnight UTC, or ask your administrator.")]
    SmsDailyCap { cap: i64, retry_at: i64 },
    #[error("The text message could not be sent: {0}")]
    SmsFailed(String),
    #[error("{0}")]
    InvalidPhone(String),
    /// An edit the shared edit rules refuse (`protocol::rules`): its own
    /// code (`validation`, `invalid_phone`, `phone_required`,
    /// `phone_needed_for_two_factor`, `two_factor_unavailable`) and words.
    #[error("{0}")]
    Refused(#[from] Refusal),
    #[error("This account is locked after too many failed sign-ins. Ask your administrator to unlock it.")]
    AccountLocked,
    #[error("Too many failed attempts. Wait a moment before trying again.")]
    RateLimited { retry_at: i64 },
    #[error("{0}")]
    Conflict(String),
    #[error(
        "This user has no mobile phone on file. Add one in Edit, or give them the code yourself."
    )]
    NoMobilePhone,
    #[error("This setup code no longer works: it was used, it expired, or the password was reset again. Reset the password for a new code.")]
    SetupCodeNotCurrent,
    #[error("This setup code was already texted {limit} times. Give it to them yourself, or reset the password for a new code.")]
    SetupCodeTextLimit { limit: u32 },
    #[error("Change your own password in your profile: it asks for your current password.")]
    OwnPasswordReset,
    #[error("Sign in again to sync your changes.")]
    ResumeRefused,
    #[error("Another administrator must reset your own two-step verification.")]
    OwnTwoFactorReset,
    #[error("Confirm it's you: enter your password (and a code) again.")]
    ReauthRequired,
    #[error("Your authenticator app cannot be checked right now. Use a text message instead, or ask your administrator to reset your two-factor; then set the app up again.")]
    TotpUnreadable,
    #[error("configuration: {0}")]
    Config(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("internal: {0}")]
    Internal(String),
}

impl CloudError {
    pub fn status(&self) -> StatusCode {
        match self {
            CloudError::InvalidCredentials
            | CloudError::Unauthenticated
            | CloudError::SessionExpired => StatusCode::UNAUTHORIZED,
            CloudError::AccountDisabled | CloudError::Forbidden | CloudError::ReauthRequired => {
                StatusCode::FORBIDDEN
            }
            CloudError::InvalidCode { .. }
            | CloudError::NoMobilePhone
            | CloudError::SetupCodeNotCurrent
            | CloudError::OwnPasswordReset
            | CloudError::OwnTwoFactorReset
            | CloudError::CodeExpired
            | CloudError::InvalidPhone(_)
            | CloudError::SmsCountryNotAllowed { .. }
            | CloudError::Refused(_) => StatusCode::BAD_REQUEST,
            CloudError::ChallengeClosed | CloudError::ResumeRefused => StatusCode::UNAUTHORIZED,
            CloudError::ResendTooSoon { .. }
            | CloudError::SmsLimit { .. }
            | CloudError::SmsDailyCap { .. }
            | CloudError::SetupCodeTextLimit { .. }
            | CloudError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            CloudError::SmsFailed(_) => StatusCode::BAD_GATEWAY,
            CloudError::AccountLocked => StatusCode::LOCKED,
            CloudError::Conflict(_) | CloudError::TotpUnreadable => StatusCode::CONFLICT,
            CloudError::NotFound => StatusCode::NOT_FOUND,
            CloudError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            CloudError::Validation(_) => StatusCode::BAD_REQUEST,
            CloudError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            CloudError::ServerBusy => StatusCode::SERVICE_UNAVAILABLE,
            CloudError::Config(_)
            | CloudError::Database(_)
            | CloudError::Migrate(_)
            | CloudError::Io(_)
            | CloudError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            CloudError::InvalidCredentials => codes::INVALID_CREDENTIALS,
            CloudError::AccountDisabled => codes::ACCOUNT_DISABLED,
            CloudError::Unauthenticated => codes::UNAUTHENTICATED,
            CloudError::SessionExpired => codes::SESSION_EXPIRED,
            CloudError::Forbidden => codes::FORBIDDEN,
            CloudError::NotFound => codes::NOT_FOUND,
            CloudError::MethodNotAllowed => METHOD_NOT_ALLOWED,
            CloudError::Validation(_) => codes::VALIDATION,
            CloudError::PayloadTooLarge => codes::PAYLOAD_TOO_LARGE,
            CloudError::ServerBusy => codes::SERVER_BUSY,
            CloudError::InvalidCode { .. } => codes::INVALID_CODE,
            CloudError::CodeExpired => codes::CODE_EXPIRED,
            CloudError::ChallengeClosed => codes::CHALLENGE_CLOSED,
            CloudError::ResendTooSoon { .. } => codes::RESEND_TOO_SOON,
            CloudError::SmsLimit { .. } => codes::SMS_LIMIT,
            CloudError::SmsCountryNotAllowed { .. } => codes::SMS_COUNTRY_NOT_ALLOWED,
            CloudError::SmsDailyCap { .. } => codes::SMS_DAILY_CAP,
            CloudError::SmsFailed(_) => codes::SMS_FAILED,
            CloudError::InvalidPhone(_) => codes::INVALID_PHONE,
            CloudError::Refused(refusal) => refusal.code,
            CloudError::AccountLocked => codes::ACCOUNT_LOCKED,
            CloudError::RateLimited { .. } => codes::RATE_LIMITED,
            CloudError::Conflict(_) => codes::CONFLICT,
            CloudError::NoMobilePhone => codes::NO_MOBILE_PHONE,
            CloudError::SetupCodeNotCurrent => codes::SETUP_CODE_NOT_CURRENT,
            CloudError::SetupCodeTextLimit { .. } => codes::SETUP_CODE_TEXT_LIMIT,
            CloudError::OwnPasswordReset => codes::OWN_PASSWORD_RESET,
            CloudError::ResumeRefused => codes::RESUME_REFUSED,
            CloudError::TotpUnreadable => codes::TOTP_UNREADABLE,
            CloudError::OwnTwoFactorReset => codes::OWN_TWO_FACTOR_RESET,
            CloudError::ReauthRequired => codes::REAUTH_REQUIRED,
            CloudError::Config(_)
            | CloudError::Database(_)
            | CloudError::Migrate(_)
            | CloudError::Io(_)
            | CloudError::Internal(_) => codes::INTERNAL,
        }
    }

    /// The `{code, message}` a client sees. Internal details (SQL, paths) stay
    /// in the server log only.
    pub fn to_api_error(&self) -> ApiError {
        let message = if self.is_internal() {
            "internal server error".to_string()
        } else {
            self.to_string()
        };
        let error = ApiError::new(self.code(), message);
        match self {
            CloudError::InvalidCode { attempts_left } => error.with_attempts_left(*attempts_left),
            CloudError::ResendTooSoon { retry_at }
            | CloudError::SmsLimit { retry_at }
            | CloudError::SmsDailyCap { retry_at, .. }
            | CloudError::RateLimited { retry_at } => error.with_retry_at(*retry_at),
            _ => error,
        }
    }

    /// Server faults whose details belong in the log, not in the answer.
    /// (server_busy and sms_failed are 5xx too, but their message helps the user.)
    pub fn is_internal(&self) -> bool {
        self.status().is_server_error()
            && !matches!(self, CloudError::ServerBusy | CloudError::SmsFailed(_))
    }
}

impl IntoResponse for CloudError {
    fn into_response(self) -> Response {
        let status = self.status();
        if self.is_internal() {
            tracing::error!(error = %self, "request failed");
        }
        (status, Json(self.to_api_error())).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_details_from_clients() {
        let err = CloudError::Internal("SELECT secret FROM x failed at /var/db".into());
        let api = err.to_api_error();
        assert_eq!(api.code, codes::INTERNAL);
        assert!(
            !api.message.contains("secret") && !api.message.contains("/var/db"),
            "internals must not leak to clients: {}",
            api.message
        );
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn second_factor_errors_carry_their_extras_and_statuses() {
        let wrong = CloudError::InvalidCode { attempts_left: 3 };
        assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
        assert_eq!(wrong.to_api_error().attempts_left, Some(3));
        let soon = CloudError::ResendTooSoon { retry_at: 42 };
        assert_eq!(soon.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(soon.to_api_error().retry_at, Some(42));
        assert_eq!(CloudError::AccountLocked.status().as_u16(), 423);
        assert_eq!(CloudError::ChallengeClosed.status().as_u16(), 401);
        let failed = CloudError::SmsFailed("the carrier is unreachable".into());
        assert_eq!(failed.status().as_u16(), 502);
        assert!(
            failed.to_api_error().message.contains("carrier"),
            "an SMS failure says why, so the user knows it is not their fault"
        );
        let refused = CloudError::from(Refusal {
            code: codes::TWO_FACTOR_UNAVAILABLE,
            message: "Two-factor authentication is not available with your DMS integration.".into(),
        });
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        let api = refused.to_api_error();
        assert_eq!(
            (api.code.as_str(), api.message.as_str()),
            (
                codes::TWO_FACTOR_UNAVAILABLE,
                "Two-factor authentication is not available with your DMS integration."
            ),
            "a refusal of the shared rules keeps its own code and words"
        );
    }

    #[test]
    fn auth_errors_map_to_the_contract_statuses_and_codes() {
        let cases = [
            (
                CloudError::InvalidCredentials,
                401,
                codes::INVALID_CREDENTIALS,
            ),
            (CloudError::SessionExpired, 401, codes::SESSION_EXPIRED),
            (CloudError::Unauthenticated, 401, codes::UNAUTHENTICATED),
            (CloudError::AccountDisabled, 403, codes::ACCOUNT_DISABLED),
            (CloudError::ServerBusy, 503, codes::SERVER_BUSY),
            (CloudError::PayloadTooLarge, 413, codes::PAYLOAD_TOO_LARGE),
        ];
        for (err, status, code) in cases {
            assert_eq!(err.status().as_u16(), status, "status of {err:?}");
            assert_eq!(err.to_api_error().code, code, "code of {err:?}");
        }
        assert_eq!(
            CloudError::ServerBusy.to_api_error().message,
            CloudError::ServerBusy.to_string(),
            "server_busy tells the client to retry, so its message is not the generic one"
        );
    }
}
