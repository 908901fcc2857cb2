//! The core's one error type. Every variant maps to a stable `code` and a
//! message written for the person at the desk (see `From<&CoreError> for ApiError`).
//! No variant carries a secret: keys, tokens and passwords never reach an error.

use secureclose_protocol::{codes, ApiError};

/// Codes the desktop adds to the shared `protocol::codes`.
pub mod desktop_codes {
    pub const CACHE_UNREADABLE: &str = "cache_unreadable";
    pub const CACHE: &str = "cache_error";
    /// `reset_cache` on a cache that can be read: refused, nothing changes.
    pub const CACHE_READABLE: &str = "cache_readable";
    pub const KEYCHAIN: &str = "keychain_error";
    pub const OFFLINE: &str = "offline";
    pub const CLOUD_UNREACHABLE: &str = "cloud_unreachable";
    pub const CLOUD_PROTOCOL: &str = "cloud_protocol";
    pub const INVALID_CLOUD_URL: &str = "invalid_cloud_url";
    /// The cloud address answered with a redirect, which is never followed.
    pub const CLOUD_REDIRECTED: &str = "cloud_redirected";
    /// The machine-wide policy locks the cloud address: not changeable here.
    pub const CLOUD_URL_LOCKED: &str = "cloud_url_locked";
    /// The machine-wide policy exists but cannot be used.
    pub const CLOUD_POLICY_INVALID: &str = "cloud_policy_invalid";
    /// The core did not open and no reason was recorded.
    pub const STARTUP_FAILED: &str = "startup_failed";
    pub const NOT_SIGNED_IN: &str = "not_signed_in";
    /// A code, resend or phone was sent with no sign-in waiting for it
    /// (cancelled, closed by the cloud, or never started).
    pub const NO_PENDING_LOGIN: &str = "no_pending_login";
    /// A code of a second factor this sign-in does not offer (an
    /// authenticator code for a user without one, or for a phone enrolment).
    pub const METHOD_NOT_OFFERED: &str = "method_not_offered";
    // Offline sign-in: the cloud is unreachable and the cache must decide.
    pub const OFFLINE_UNKNOWN_USER: &str = "offline_unknown_user";
    pub const OFFLINE_LOCKED: &str = "offline_locked";
    pub const OFFLINE_NOT_ALLOWED: &str = "offline_not_allowed";
    pub const OFFLINE_GRACE_EXPIRED: &str = "offline_grace_expired";
    /// The cloud disabled or removed this account, or no longer accepts its
    /// password: no offline sign-in here until an online one succeeds.
    pub const OFFLINE_REVOKED: &str = "offline_revoked";
    /// An edit of a row whose phone and 2FA this computer only has withheld
    /// (a non-admin's sync brought it): the next sync brings it in full.
    pub const USER_NOT_DOWNLOADED: &str = "user_not_downloaded";
    /// The session is locked (idle lock): only unlock or sign out answer.
    pub const SESSION_LOCKED: &str = "session_locked";
    /// The core ended the session (absolute limit reached, or too many
    /// wrong passwords at the lock screen): a full sign-in is needed.
    pub const SESSION_ENDED: &str = "session_ended";
}

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The cache file exists but cannot be decrypted with the key we have (or
    /// the key is gone from the keychain). Recovery: `AppCore::reset_cache`.
    #[error("the local cache cannot be read: {reason}")]
    CacheUnreadable { reason: String },

    /// SQLCipher is not compiled in: a key would be silently ignored and the
    /// cache written in plain text, so we refuse to run.
    #[error("the local cache is not encrypted: SQLCipher is missing from this build")]
    EncryptionUnavailable,

    #[error("local cache error: {0}")]
    Cache(#[from] sqlx::Error),

    #[error("local cache migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),

    #[error("file system error: {0}")]
    Io(#[from] std::io::Error),

    /// The OS keychain refused or is unreachable. `detail` comes from the
    /// keyring crate, which never includes the secret itself.
    #[error("keychain error: {detail}")]
    Keychain { detail: String },

    /// The machine-wide cloud policy exists but cannot be used (see `policy`).
    #[error("the machine-wide cloud policy cannot be used: {reason}")]
    Policy { reason: String },

    #[error("invalid cloud URL: {reason}")]
    InvalidCloudUrl { reason: String },

    /// No network route to the cloud (DNS failure, connection refused).
    #[error("offline: cannot reach the SecureClose cloud at {url}")]
    Offline { url: String },

    /// Connected, but the cloud did not answer in time or answered with
    /// something that is not our API.
    #[error("the SecureClose cloud at {url} did not respond properly: {detail}")]
    CloudUnreachable { url: String, detail: String },

    /// The cloud answered with a `{code, message}` error body. The extras
    /// (tries left on a code, when a limit lifts) reach the UI unchanged.
    #[error("cloud error {status}: {code}")]
    Cloud {
        status: u16,
        code: String,
        message: String,
        attempts_left: Option<u32>,
        retry_at: Option<i64>,
    },

    /// The cloud answered with a 3xx. Never followed: a 307/308 would resend
    /// a password or code to another host. `location` is where it pointed.
    #[error("the SecureClose cloud at {url} answered with a redirect (HTTP {status}) to {location:?}; redirects are not followed")]
    CloudRedirected {
        url: String,
        status: u16,
        location: String,
    },

    #[error("not signed in")]
    NotSignedIn,

    /// The idle lock covers the session: reads and edits are refused until
    /// the password is entered again (`AppCore::unlock_session`).
    #[error("the session is locked")]
    SessionLocked,

    /// The core ended the session on this computer; `message` says why, for
    /// the person (never a secret).
    #[error("the session ended: {message}")]
    SessionEnded { message: String },

    /// No sign-in is waiting for a second factor (or for a phone).
    #[error("no sign-in is waiting for this step")]
    NoPendingLogin,

    /// Refused locally: only admins edit users or the company. This mirrors
    /// the cloud's rule (the cloud enforces it whatever the client sends).
    #[error("forbidden: {action} needs an admin")]
    Forbidden { action: &'static str },

    /// Refused on this device with a contract code and a sentence for the
    /// person: an invalid phone in an edit, or an offline sign-in outside
    /// the rules (see `desktop_codes::OFFLINE_*`).
    #[error("refused: {code}")]
    Refused {
        code: &'static str,
        message: String,
        retry_at: Option<i64>,
    },
}

/// An edit the shared edit rules refuse: the cloud's code and words, from
/// the desktop, before anything is queued.
impl From<secureclose_protocol::rules::Refusal> for CoreError {
    fn from(refusal: secureclose_protocol::rules::Refusal) -> Self {
        CoreError::Refused {
            code: refusal.code,
            message: refusal.message,
            retry_at: None,
        }
    }
}

impl CoreError {
    pub fn code(&self) -> &str {
        match self {
            CoreError::CacheUnreadable { .. } => desktop_codes::CACHE_UNREADABLE,
            CoreError::EncryptionUnavailable
            | CoreError::Cache(_)
            | CoreError::Migration(_)
            | CoreError::Io(_) => desktop_codes::CACHE,
            CoreError::Keychain { .. } => desktop_codes::KEYCHAIN,
            CoreError::InvalidCloudUrl { .. } => desktop_codes::INVALID_CLOUD_URL,
            CoreError::Policy { .. } => desktop_codes::CLOUD_POLICY_INVALID,
            CoreError::Offline { .. } => desktop_codes::OFFLINE,
            CoreError::CloudUnreachable { .. } => desktop_codes::CLOUD_UNREACHABLE,
            CoreError::CloudRedirected { .. } => desktop_codes::CLOUD_REDIRECTED,
            CoreError::Cloud { code, .. } => code,
            CoreError::NotSignedIn => desktop_codes::NOT_SIGNED_IN,
            CoreError::SessionLocked => desktop_codes::SESSION_LOCKED,
            CoreError::SessionEnded { .. } => desktop_codes::SESSION_ENDED,
            CoreError::NoPendingLogin => desktop_codes::NO_PENDING_LOGIN,
            CoreError::Forbidden { .. } => codes::FORBIDDEN,
            CoreError::Refused { code, .. } => code,
        }
    }

    /// A message for a person. Internal details (SQL errors, paths) stay in the logs.
    pub fn user_message(&self) -> String {
        match self {
            CoreError::CacheUnreadable { .. } => "The local cache on this computer cannot be \
                 read (its key is missing or does not match). You can start a fresh cache: \
                 the unreadable file is kept aside and your data is downloaded again at your \
                 next sign-in."
                .into(),
            CoreError::EncryptionUnavailable => "This build of SecureClose cannot encrypt its \
                 local cache, so it will not store any data. Please reinstall SecureClose."
                .into(),
            CoreError::Cache(_) | CoreError::Migration(_) | CoreError::Io(_) => {
                "The local cache could not be read or written. Please try again; if it keeps \
                 happening, restart SecureClose."
                    .into()
            }
            CoreError::Keychain { .. } => "SecureClose could not use the system keychain \
                 (Credential Manager, Keychain or Secret Service). Make sure it is unlocked \
                 and try again."
                .into(),
            CoreError::Policy { reason } => format!(
                "The SecureClose settings your organisation installed on this computer cannot \
                 be used ({reason}). Contact your IT administrator."
            ),
            CoreError::InvalidCloudUrl { reason } => {
                format!("The cloud address is not valid: {reason}.")
            }
            CoreError::Offline { url } => format!(
                "You appear to be offline: SecureClose cannot reach its cloud at {url}. \
                 Check your network connection and try again."
            ),
            CoreError::CloudUnreachable { url, .. } => format!(
                "The SecureClose cloud at {url} is not responding. Please try again in a moment."
            ),
            CoreError::CloudRedirected { url, .. } => format!(
                "The address {url} sent SecureClose to another address, which SecureClose does \
                 not follow. Nothing was sent there. Check the cloud address in Server settings, \
                 or ask your administrator for the right one."
            ),
            CoreError::Cloud { code, message, .. } => match code.as_str() {
                // The cloud's messages are already written for people; keep them.
                _ if !message.is_empty() => message.clone(),
                codes::INVALID_CREDENTIALS => "The email or password is incorrect.".into(),
                _ => format!("The SecureClose cloud refused the request ({code})."),
            },
            CoreError::NotSignedIn => "Please sign in first.".into(),
            CoreError::SessionLocked => {
                "SecureClose is locked. Enter your password to continue.".into()
            }
            CoreError::SessionEnded { message } => message.clone(),
            CoreError::NoPendingLogin => {
                "This sign-in is no longer waiting for a code. Please sign in again.".into()
            }
            CoreError::Forbidden { .. } => {
                "Only an administrator of your company can make this change.".into()
            }
            CoreError::Refused { message, .. } => message.clone(),
        }
    }

    /// Builds the error for a cloud `{code, message, ..}` body.
    pub(crate) fn from_api(status: u16, api: ApiError) -> Self {
        CoreError::Cloud {
            status,
            code: api.code,
            message: api.message,
            attempts_left: api.attempts_left,
            retry_at: api.retry_at,
        }
    }

    /// True when the cloud says this login attempt is over (too many wrong
    /// codes, attempt expired, account locked): only a new sign-in helps.
    pub fn ends_login_attempt(&self) -> bool {
        matches!(self, CoreError::Cloud { code, .. }
            if code == codes::CHALLENGE_CLOSED || code == codes::ACCOUNT_LOCKED)
    }

    /// True when the cloud says this account is disabled: the end of its
    /// session and of its offline access on this computer.
    pub fn is_account_disabled(&self) -> bool {
        matches!(self, CoreError::Cloud { code, .. } if code == codes::ACCOUNT_DISABLED)
    }

    /// True when the cloud says our session token is no longer valid.
    pub fn is_session_rejected(&self) -> bool {
        matches!(self, CoreError::Cloud { code, .. }
            if code == codes::UNAUTHENTICATED || code == codes::SESSION_EXPIRED)
    }

    pub(crate) fn keychain(err: impl std::fmt::Display) -> Self {
        CoreError::Keychain {
            detail: err.to_string(),
        }
    }
}

impl From<&CoreError> for ApiError {
    fn from(err: &CoreError) -> Self {
        let api = ApiError::new(err.code(), err.user_message());
        match err {
            CoreError::Cloud {
                attempts_left,
                retry_at,
                ..
            } => ApiError {
                attempts_left: *attempts_left,
                retry_at: *retry_at,
                ..api
            },
            CoreError::Refused { retry_at, .. } => ApiError {
                retry_at: *retry_at,
                ..api
            },
            _ => api,
        }
    }
}

impl From<CoreError> for ApiError {
    fn from(err: CoreError) -> Self {
        ApiError::from(&err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_unreadable_tells_the_user_about_the_fresh_cache_recovery() {
        let api = ApiError::from(&CoreError::CacheUnreadable {
            reason: "file is not a database".into(),
        });
        assert_eq!(
            api.code, "cache_unreadable",
            "the UI switches screens on this code"
        );
        assert!(
            api.message.contains("fresh cache") && api.message.contains("sign-in"),
            "the user must learn there is a recovery path: {}",
            api.message
        );
    }

    #[test]
    fn cloud_error_keeps_the_cloud_code_and_message() {
        let api = ApiError::from(&CoreError::from_api(
            401,
            ApiError::new(
                codes::INVALID_CREDENTIALS,
                "The email or password is incorrect.",
            ),
        ));
        assert_eq!(
            api.code,
            codes::INVALID_CREDENTIALS,
            "codes are a stable contract"
        );
        assert_eq!(api.message, "The email or password is incorrect.");
    }

    #[test]
    fn offline_and_unreachable_have_distinct_codes_and_name_the_cloud() {
        let offline = ApiError::from(&CoreError::Offline {
            url: "https://cloud.example".into(),
        });
        let slow = ApiError::from(&CoreError::CloudUnreachable {
            url: "https://cloud.example".into(),
            detail: "timeout".into(),
        });
        assert_eq!(offline.code, "offline");
        assert_eq!(slow.code, "cloud_unreachable");
        assert!(
            offline.message.contains("https://cloud.example"),
            "the user must see which address failed: {}",
            offline.message
        );
    }

    #[test]
    fn internal_details_do_not_reach_the_user_message() {
        let err = CoreError::Cache(sqlx::Error::Protocol("SELECT secret FROM x".into()));
        let api = ApiError::from(&err);
        assert_eq!(api.code, "cache_error");
        assert!(
            !api.message.contains("SELECT"),
            "SQL belongs in logs, not the UI: {}",
            api.message
        );
    }

    #[test]
    fn session_rejection_is_recognised_for_both_codes() {
        for code in [codes::UNAUTHENTICATED, codes::SESSION_EXPIRED] {
            let err = CoreError::from_api(401, ApiError::new(code, ""));
            assert!(err.is_session_rejected(), "{code} means the token is dead");
        }
        assert!(!CoreError::NotSignedIn.is_session_rejected());
    }

    #[test]
    fn second_factor_extras_reach_the_ui() {
        let wrong = ApiError::from(&CoreError::from_api(
            400,
            ApiError::new(codes::INVALID_CODE, "That code is not right.").with_attempts_left(3),
        ));
        assert_eq!(
            (wrong.code.as_str(), wrong.attempts_left, wrong.retry_at),
            (codes::INVALID_CODE, Some(3), None),
            "the code dialog shows the attempts left from this field"
        );
        let wait = ApiError::from(&CoreError::from_api(
            429,
            ApiError::new(codes::RESEND_TOO_SOON, "Wait a little.").with_retry_at(1_234),
        ));
        assert_eq!(
            wait.retry_at,
            Some(1_234),
            "the resend countdown is driven by retry_at"
        );
        assert_eq!(wait.message, "Wait a little.", "the cloud's words are kept");
        let local = ApiError::from(&CoreError::NotSignedIn);
        assert_eq!((local.attempts_left, local.retry_at), (None, None));
    }

    #[test]
    fn closed_attempts_and_locks_end_the_login_but_a_wrong_code_does_not() {
        let err = |code: &str| CoreError::from_api(400, ApiError::new(code, "m"));
        assert!(err(codes::CHALLENGE_CLOSED).ends_login_attempt());
        assert!(err(codes::ACCOUNT_LOCKED).ends_login_attempt());
        assert!(
            !err(codes::INVALID_CODE).ends_login_attempt(),
            "a wrong code leaves tries: the dialog must stay open"
        );
        assert!(
            !err(codes::CODE_EXPIRED).ends_login_attempt(),
            "an expired code can be resent within the same attempt"
        );
    }

    #[test]
    fn local_refusals_have_contract_codes() {
        let forbidden = ApiError::from(&CoreError::Forbidden {
            action: "editing users",
        });
        assert_eq!(
            forbidden.code,
            codes::FORBIDDEN,
            "same code as the cloud's 403"
        );
        assert_eq!(
            ApiError::from(&CoreError::NoPendingLogin).code,
            "no_pending_login"
        );
    }
}
