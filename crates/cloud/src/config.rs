//! Service configuration.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Default listen address of the local development cloud.
pub const DEFAULT_BIND: &str = "127.0.0.1:8787";

#[derive(Debug, Clone)]
pub struct CloudConfig {
    /// `sqlite://PATH?mode=rwc` or `postgres://...`.
    pub database_url: String,
    pub bind: SocketAddr,
    /// Development conveniences (verbose logs). Never changes security checks.
    pub dev_mode: bool,
    /// Lifetime of a session token from login.
    pub session_ttl: Duration,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Password hashes running at once; more would only thrash the CPU cache.
    pub hash_concurrency: usize,
    /// Logins allowed to wait for a hashing slot before we answer 503 server_busy.
    pub hash_queue_limit: usize,
    pub max_db_connections: u32,
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
            session_ttl: Duration::from_secs(12 * 60 * 60),
            max_body_bytes: 64 * 1024,
            hash_concurrency: cores,
            // A queue of a few hundred milliseconds of hashing per core; beyond
            // that clients are better served by a quick "retry later".
            hash_queue_limit: cores * 16,
            max_db_connections: 10,
        }
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
    fn defaults_bound_hashing_and_bodies() {
        let config = CloudConfig::new("sqlite://x.db", DEFAULT_BIND.parse().unwrap());
        assert!(config.hash_concurrency >= 1);
        assert!(config.hash_queue_limit >= config.hash_concurrency);
        assert_eq!(config.max_body_bytes, 64 * 1024);
        assert_eq!(config.session_ttl, Duration::from_secs(43_200));
    }
}
