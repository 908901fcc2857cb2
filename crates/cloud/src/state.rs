//! The shared state every request handler and service receives.

use std::sync::Arc;

use crate::config::CloudConfig;
use crate::db::Db;
use crate::error::CloudError;
use crate::passwords::PasswordHasher;
use crate::sealing::SealingKey;
use crate::sms::{DevOutboxGateway, SmsConfig, SmsGateway, TwilioGateway, UnconfiguredGateway};

/// Shared by every request handler. Holds no per-user state: counters,
/// challenges and sessions live in the database so instances agree.
#[derive(Clone)]
pub struct AppState {
    pub(crate) db: Db,
    pub(crate) hasher: Arc<PasswordHasher>,
    pub(crate) config: Arc<CloudConfig>,
    pub(crate) sms: Arc<dyn SmsGateway>,
    /// Seals and opens authenticator-app secrets (see [`totp_key`]).
    pub(crate) totp_key: Arc<SealingKey>,
}

impl AppState {
    pub(crate) fn now(&self) -> i64 {
        self.config.clock.now_ms()
    }
}

/// Picks the gateway for a configuration; the dev outbox only in dev mode.
pub(crate) fn sms_gateway(
    config: &CloudConfig,
    db: &Db,
) -> Result<Arc<dyn SmsGateway>, CloudError> {
    let choice = match (&config.sms, config.dev_mode) {
        (Some(choice), _) => Some(choice.clone()),
        (None, true) => Some(SmsConfig::DevOutbox),
        (None, false) => None,
    };
    Ok(match choice {
        Some(SmsConfig::DevOutbox) if !config.dev_mode => {
            return Err(CloudError::Config(
                "the dev SMS outbox is for development only: start with --dev, or configure \
                 Twilio (SECURECLOSE_SMS=twilio, SECURECLOSE_TWILIO_ACCOUNT_SID, \
                 SECURECLOSE_TWILIO_AUTH_TOKEN, SECURECLOSE_TWILIO_FROM)"
                    .into(),
            ))
        }
        Some(SmsConfig::DevOutbox) => {
            Arc::new(DevOutboxGateway::new(db.pool.clone(), config.clock.clone()))
        }
        Some(SmsConfig::Twilio(twilio)) => Arc::new(TwilioGateway::new(twilio)?),
        None => {
            tracing::warn!("no SMS gateway configured: second-factor sign-ins will fail");
            Arc::new(UnconfiguredGateway)
        }
    })
}

/// The key that seals TOTP secrets: the configured one; in dev mode the
/// fixed dev key when none is configured; otherwise a startup error, since a
/// production cloud with a guessable key would store secrets in the clear.
pub(crate) fn totp_key(config: &CloudConfig) -> Result<Arc<SealingKey>, CloudError> {
    match (&config.totp_key, config.dev_mode) {
        (Some(key), _) => Ok(Arc::new(key.clone())),
        (None, true) => Ok(Arc::new(SealingKey::dev())),
        (None, false) => Err(CloudError::Config(
            "SECURECLOSE_TOTP_KEY is required (outside --dev): 32 random bytes in base64, \
             e.g. from `openssl rand -base64 32`. It encrypts authenticator-app secrets; \
             keep it apart from the database and its backups"
                .into(),
        )),
    }
}
