//! Sending one-time codes by SMS: the [`SmsGateway`] trait, a Twilio
//! Programmable Messaging client, and the development outbox.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyPool;

use crate::clock::Clock;
use crate::error::CloudError;

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SmsError>> + Send + 'a>>;

/// Delivers one text message. Implementations must not log the body outside
/// development (it holds a code).
pub trait SmsGateway: Send + Sync {
    fn send<'a>(&'a self, to: &'a str, body: &'a str) -> SendFuture<'a>;
    /// For logs and health: "twilio", "dev-outbox", "unconfigured".
    fn name(&self) -> &'static str;
}

/// Why a message was not sent, in words an admin can act on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SmsError {
    #[error("the SMS provider rejected the server's credentials")]
    Auth,
    #[error("this number cannot receive text messages")]
    InvalidNumber,
    #[error("the SMS provider is rate limiting this server; try again in a minute")]
    RateLimited,
    #[error("the SMS provider could not be reached")]
    Network,
    #[error("the SMS provider refused the message (error {0})")]
    Rejected(String),
    #[error("no SMS gateway is configured on this server")]
    NotConfigured,
    #[error("the development outbox could not store the message")]
    Outbox,
}

impl From<SmsError> for CloudError {
    fn from(error: SmsError) -> Self {
        match error {
            // The user can fix this one: say so next to the phone field.
            SmsError::InvalidNumber => CloudError::InvalidPhone(
                "This number cannot receive text messages; check it or use another mobile number"
                    .into(),
            ),
            other => CloudError::SmsFailed(other.to_string()),
        }
    }
}

/// Which gateway a server uses.
#[derive(Clone, Debug)]
pub enum SmsConfig {
    /// Stores messages in `sms_outbox` and prints them: development only.
    DevOutbox,
    Twilio(TwilioConfig),
}

pub const TWILIO_DEFAULT_BASE_URL: &str = "https://api.twilio.com";

#[derive(Clone)]
pub struct TwilioConfig {
    pub account_sid: String,
    pub auth_token: String,
    /// Sender: an E.164 number or a messaging service's number.
    pub from: String,
    /// `https://api.twilio.com`; a local server in tests.
    pub base_url: String,
}

impl std::fmt::Debug for TwilioConfig {
    // The auth token is a credential.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioConfig")
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"<redacted>")
            .field("from", &self.from)
            .field("base_url", &self.base_url)
            .finish()
    }
}

pub struct TwilioGateway {
    config: TwilioConfig,
    http: reqwest::Client,
}

impl TwilioGateway {
    pub fn new(config: TwilioConfig) -> Result<Self, CloudError> {
        // The SID goes into the URL path: only Twilio's own alphabet.
        if config.account_sid.is_empty()
            || !config
                .account_sid
                .chars()
                .all(|c| c.is_ascii_alphanumeric())
        {
            return Err(CloudError::Config(
                "SECURECLOSE_TWILIO_ACCOUNT_SID must be a Twilio account SID (AC...)".into(),
            ));
        }
        if config.auth_token.is_empty() || config.from.trim().is_empty() {
            return Err(CloudError::Config(
                "Twilio needs SECURECLOSE_TWILIO_AUTH_TOKEN and SECURECLOSE_TWILIO_FROM".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| CloudError::Config(format!("HTTP client: {e}")))?;
        Ok(Self { config, http })
    }

    fn messages_url(&self) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.config.base_url.trim_end_matches('/'),
            self.config.account_sid
        )
    }

    async fn send_message(&self, to: &str, body: &str) -> Result<(), SmsError> {
        let response = self
            .http
            .post(self.messages_url())
            .basic_auth(&self.config.account_sid, Some(&self.config.auth_token))
            .form(&[
                ("To", to),
                ("From", self.config.from.as_str()),
                ("Body", body),
            ])
            .send()
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "Twilio unreachable");
                SmsError::Network
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        // Twilio errors: {"code": 21211, "message": "...", "status": 400, ...}
        let detail: serde_json::Value = response.json().await.unwrap_or_default();
        let code = detail["code"].as_i64();
        tracing::warn!(status = status.as_u16(), twilio_code = ?code, "Twilio refused a message");
        Err(classify_twilio_error(status.as_u16(), code))
    }
}

/// Twilio status + error code -> what went wrong.
/// https://www.twilio.com/docs/api/errors (20003 auth, 21211/21614 number, 20429 rate).
pub fn classify_twilio_error(status: u16, code: Option<i64>) -> SmsError {
    match (status, code) {
        (401 | 403, _) | (_, Some(20003)) => SmsError::Auth,
        (_, Some(21211 | 21614 | 21610)) => SmsError::InvalidNumber,
        (429, _) | (_, Some(20429)) => SmsError::RateLimited,
        (_, Some(code)) => SmsError::Rejected(code.to_string()),
        (status, None) => SmsError::Rejected(format!("HTTP {status}")),
    }
}

impl SmsGateway for TwilioGateway {
    fn send<'a>(&'a self, to: &'a str, body: &'a str) -> SendFuture<'a> {
        Box::pin(self.send_message(to, body))
    }

    fn name(&self) -> &'static str {
        "twilio"
    }
}

/// Development: keeps every message in the database (read with
/// `secureclose-cloud outbox` or `GET /api/v1/dev/outbox`) and prints it.
pub struct DevOutboxGateway {
    pool: AnyPool,
    clock: Arc<dyn Clock>,
}

impl DevOutboxGateway {
    pub fn new(pool: AnyPool, clock: Arc<dyn Clock>) -> Self {
        Self { pool, clock }
    }

    async fn store(&self, to: &str, body: &str) -> Result<(), SmsError> {
        crate::db::sms_outbox::insert(&self.pool, to, body, self.clock.now_ms())
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "dev outbox insert failed");
                SmsError::Outbox
            })?;
        // Development only: the developer reads the code from the console.
        eprintln!("SMS to {to}: {body}");
        Ok(())
    }
}

impl SmsGateway for DevOutboxGateway {
    fn send<'a>(&'a self, to: &'a str, body: &'a str) -> SendFuture<'a> {
        Box::pin(self.store(to, body))
    }

    fn name(&self) -> &'static str {
        "dev-outbox"
    }
}

/// A production server started without SMS configuration: 2FA logins fail
/// with a clear sms_failed instead of silently skipping the second factor.
pub struct UnconfiguredGateway;

impl SmsGateway for UnconfiguredGateway {
    fn send<'a>(&'a self, _to: &'a str, _body: &'a str) -> SendFuture<'a> {
        Box::pin(async { Err(SmsError::NotConfigured) })
    }

    fn name(&self) -> &'static str {
        "unconfigured"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_errors_map_to_clear_causes() {
        assert_eq!(classify_twilio_error(401, Some(20003)), SmsError::Auth);
        assert_eq!(
            classify_twilio_error(400, Some(21211)),
            SmsError::InvalidNumber
        );
        assert_eq!(
            classify_twilio_error(429, Some(20429)),
            SmsError::RateLimited
        );
        assert_eq!(
            classify_twilio_error(400, Some(30007)),
            SmsError::Rejected("30007".into())
        );
        assert!(matches!(
            CloudError::from(SmsError::InvalidNumber),
            CloudError::InvalidPhone(_)
        ));
        assert!(matches!(
            CloudError::from(SmsError::Network),
            CloudError::SmsFailed(_)
        ));
    }

    #[test]
    fn twilio_config_debug_hides_the_token() {
        let config = TwilioConfig {
            account_sid: "AC123".into(),
            auth_token: "tok-secret".into(),
            from: "+15005550006".into(),
            base_url: TWILIO_DEFAULT_BASE_URL.into(),
        };
        assert!(!format!("{config:?}").contains("tok-secret"));
    }

    #[test]
    fn a_sid_that_could_change_the_url_path_is_refused() {
        let config = TwilioConfig {
            account_sid: "../evil".into(),
            auth_token: "t".into(),
            from: "+15005550006".into(),
            base_url: TWILIO_DEFAULT_BASE_URL.into(),
        };
        assert!(TwilioGateway::new(config).is_err());
    }
}
