//! Service configuration.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::sealing::SealingKey;
use crate::sms::SmsConfig;

/// Default listen address of the local development cloud.
pub const DEFAULT_BIND: &str = "127.0.0.1:8787";

#[derive(Clone)]
pub struct CloudConfig {
    /// `sqlite://PATH?mode=rwc` or `postgres://...`.
    pub database_url: String,
    pub bind: SocketAddr,
    /// Development conveniences (verbose logs, the SMS outbox and its
    /// endpoint). Never changes security checks.
    pub dev_mode: bool,
    /// SMS gateway. `None`: the dev outbox in dev mode, otherwise no gateway
    /// (second-factor logins then fail with sms_failed). `start` refuses the
    /// dev outbox outside dev mode.
    pub sms: Option<SmsConfig>,
    /// Seals authenticator-app secrets in the database. Required outside dev
    /// mode (`start` refuses to run without it); dev mode falls back to a
    /// fixed key anyone can derive.
    pub totp_key: Option<SealingKey>,
    /// Time source of every expiry and limit (tests use a `ManualClock`).
    pub clock: Arc<dyn Clock>,
    /// Lifetime of a session token from login.
    pub session_ttl: Duration,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Password hashes running at once; more would only thrash the CPU cache.
    pub hash_concurrency: usize,
    /// Logins allowed to wait for a hashing slot before we answer 503 server_busy.
    pub hash_queue_limit: usize,
    pub max_db_connections: u32,
    /// Failed passwords one source address may send per window before its
    /// sign-ins wait for the window to end (accounts are not counted then).
    pub source_failure_limit: i64,
    pub source_window: Duration,
}

impl CloudConfig {
    pub fn new(database_url: impl Into<String>, bind: SocketAddr) -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        Self {
            database_url: database_url.into(),
            bind,
            dev_mode: false,
            sms: None,
            totp_key: None,
            clock: Arc::new(SystemClock),
            session_ttl: Duration::from_secs(12 * 60 * 60),
            max_body_bytes: 64 * 1024,
            hash_concurrency: cores,
            // A queue of a few hundred milliseconds of hashing per core; beyond
            // that clients are better served by a quick "retry later".
            hash_queue_limit: cores * 16,
            max_db_connections: 10,
            // A person mistyping never gets near it; a guesser gets 120 tries
            // an hour from one address, across all emails together.
            source_failure_limit: 30,
            source_window: Duration::from_secs(15 * 60),
        }
    }
}

impl std::fmt::Debug for CloudConfig {
    // A PostgreSQL URL may carry a password: Debug output shows it redacted.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudConfig")
            .field("database_url", &redact_url_password(&self.database_url))
            .field("bind", &self.bind)
            .field("dev_mode", &self.dev_mode)
            .field("sms", &self.sms)
            .field("totp_key", &self.totp_key)
            .field("session_ttl", &self.session_ttl)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("hash_concurrency", &self.hash_concurrency)
            .field("hash_queue_limit", &self.hash_queue_limit)
            .field("max_db_connections", &self.max_db_connections)
            .field("source_failure_limit", &self.source_failure_limit)
            .field("source_window", &self.source_window)
            .finish()
    }
}

/// `scheme://user:secret@host/db` -> `scheme://user:***@host/db`, for logs.
pub fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_string();
    };
    match rest[..at].split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***{}", &rest[at..]),
        None => url.to_string(),
    }
}

/// The per-OS data directory of the cloud when no database URL is given.
pub fn default_data_dir() -> PathBuf {
    let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if cfg!(windows) {
        if let Some(dir) = env("LOCALAPPDATA") {
            return PathBuf::from(dir).join("SecureClose").join("cloud");
        }
    } else if cfg!(target_os = "macos") {
        if let Some(home) = env("HOME") {
            return PathBuf::from(home)
                .join("Library/Application Support/SecureClose")
                .join("cloud");
        }
    } else if let Some(dir) = env("XDG_DATA_HOME") {
        return PathBuf::from(dir).join("secureclose").join("cloud");
    } else if let Some(home) = env("HOME") {
        return PathBuf::from(home)
            .join(".local/share/secureclose")
            .join("cloud");
    }
    PathBuf::from(".secureclose-cloud")
}

/// `sqlite://<data dir>/cloud.db?mode=rwc`.
pub fn default_database_url() -> String {
    sqlite_url_for(&default_data_dir().join("cloud.db"))
}

pub fn sqlite_url_for(path: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_database_is_a_creatable_sqlite_file() {
        let url = default_database_url();
        assert!(
            url.starts_with("sqlite://"),
            "embedded default is SQLite: {url}"
        );
        assert!(
            url.ends_with("cloud.db?mode=rwc"),
            "mode=rwc lets the first start create the file: {url}"
        );
    }

    #[test]
    fn database_passwords_never_show_in_debug_output() {
        assert_eq!(
            redact_url_password("postgres://app:s3cret@db.internal:5432/cloud"),
            "postgres://app:***@db.internal:5432/cloud"
        );
        assert_eq!(
            redact_url_password("postgres://postgres@127.0.0.1:5432/db"),
            "postgres://postgres@127.0.0.1:5432/db"
        );
        assert_eq!(
            redact_url_password("sqlite:///tmp/a@b/cloud.db?mode=rwc"),
            "sqlite:///tmp/a@b/cloud.db?mode=rwc"
        );
        let config = CloudConfig::new(
            "postgres://app:s3cret@db/cloud",
            DEFAULT_BIND.parse().unwrap(),
        );
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn defaults_bound_hashing_and_bodies() {
        let config = CloudConfig::new("sqlite://x.db", DEFAULT_BIND.parse().unwrap());
        assert!(config.hash_concurrency >= 1);
        assert!(config.hash_queue_limit >= config.hash_concurrency);
        assert_eq!(config.max_body_bytes, 64 * 1024);
        assert_eq!(config.session_ttl, Duration::from_secs(43_200));
    }
}
