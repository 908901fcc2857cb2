//! The cloud's error type and its `{code, message}` HTTP form.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use secureclose_protocol::{codes, ApiError};

/// Code for a known path called with the wrong method (not in `protocol::codes`
/// because clients never branch on it).
pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";

#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("this account is disabled; ask your administrator")]
    AccountDisabled,
    #[error("sign in to continue")]
    Unauthenticated,
    #[error("your session has expired; sign in again")]
    SessionExpired,
    #[error("you are not allowed to do this")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    Validation(String),
    #[error("the request body is too large")]
    PayloadTooLarge,
    #[error("the server is busy; try again in a moment")]
    ServerBusy,
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
            CloudError::AccountDisabled | CloudError::Forbidden => StatusCode::FORBIDDEN,
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
        let message = if self.status().is_server_error() && !matches!(self, CloudError::ServerBusy)
        {
            "internal server error".to_string()
        } else {
            self.to_string()
        };
        ApiError::new(self.code(), message)
    }
}

impl IntoResponse for CloudError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() && !matches!(self, CloudError::ServerBusy) {
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
