//! Types the desktop shell returns to the UI. Their TypeScript twins in
//! `ui/src/bindings/` are generated from these (feature `ts`); a test fails
//! when the committed files are stale.

use secureclose_protocol::{Company, User};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AppInfo {
    pub version: String,
    pub cloud_url: String,
    pub cache_status: CacheStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum CacheStatus {
    Ready,
    /// The cache exists but cannot be decrypted: the UI offers `reset_cache`.
    Unreadable,
}

/// What the signed-in person sees about themselves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SessionView {
    pub user: User,
    pub company: Company,
    /// Whether the last call to the cloud succeeded.
    pub online: bool,
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub last_synced_at: Option<i64>,
}

/// Result of a password login. Tagged by `state` so the 2FA issue adds
/// `needs_second_factor` and `needs_phone_enrollment` without changing
/// how the UI reads `signed_in`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum LoginOutcome {
    SignedIn { session: SessionView },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct UsersPage {
    pub users: Vec<User>,
    /// Number of users matching the query (all pages).
    pub total: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipc_json_matches_the_contract() {
        let info = AppInfo {
            version: "0.1.0".into(),
            cloud_url: "http://127.0.0.1:8787".into(),
            cache_status: CacheStatus::Unreadable,
        };
        assert_eq!(
            serde_json::to_value(&info).unwrap(),
            serde_json::json!({"version": "0.1.0", "cloud_url": "http://127.0.0.1:8787", "cache_status": "unreadable"}),
            "the UI reads these exact field names and values"
        );
    }
}
