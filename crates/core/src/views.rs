//! Types the desktop shell returns to the UI. Their TypeScript twins in
//! `ui/src/bindings/` are generated from these (feature `ts`); a test fails
//! when the committed files are stale.

use secureclose_protocol::{Challenge, Company, CompanyChoice, RecoveryNotice, User};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AppInfo {
    pub version: String,
    pub cloud_url: String,
    /// The address this computer expects: the machine policy's, else the
    /// build's default. The sign-in screen warns when `cloud_url` differs.
    pub default_cloud_url: String,
    /// The machine policy locks the address: Server settings cannot change it.
    pub cloud_url_locked: bool,
    pub cache_status: CacheStatus,
    /// Set while the session is locked (idle lock, also after a restart):
    /// the UI shows the lock screen for this person and nothing else.
    pub locked: Option<LockedSession>,
}

/// Who the locked session belongs to: what the lock screen may show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LockedSession {
    pub display_name: String,
    pub email: String,
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
    /// Signed in with the password checked on this device (the cloud was
    /// unreachable); edits wait in the outbox until the session resumes.
    pub offline_sign_in: bool,
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub last_synced_at: Option<i64>,
    /// Minutes without input after which the UI locks the session
    /// (`session::limits`).
    pub idle_lock_minutes: u32,
}

/// Result of a password login (or of a verified code). Tagged by `state`.
/// The challenge's `challenge_id` is always blank here: core keeps the id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
// One outcome per sign-in, moved once to the UI: boxing the session would
// only complicate every match.
#[allow(clippy::large_enum_variant)]
pub enum LoginOutcome {
    SignedIn {
        session: SessionView,
        /// Recovery codes to show once now, or how many remain after one
        /// signed in (from the cloud's answer; never cached).
        recovery: Option<RecoveryNotice>,
    },
    /// A code was sent by SMS: show the code dialog.
    NeedsSecondFactor { challenge: Challenge },
    /// 2FA is required and no phone is verified: show the enrolment dialog.
    NeedsPhoneEnrollment { challenge: Challenge },
    /// The password matched accounts of this email at several companies (an
    /// email is unique per company only): the person picks one, core signs
    /// in to it (`choose_company`) with the password it holds meanwhile.
    NeedsCompanyChoice { companies: Vec<CompanyChoice> },
}

/// A new password judged as the person types it, by the rules the cloud
/// enforces (`secureclose_protocol::passwords`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PasswordCheck {
    /// 0 (very weak) to 4 (strong), for the strength meter.
    pub score: u8,
    /// The rule the password breaks, in a sentence; `None` when the cloud
    /// would accept it.
    pub refusal: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct UsersPage {
    pub users: Vec<User>,
    /// Number of users matching the query (all pages).
    pub total: u32,
}

/// What the background sync is doing; the status bar shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum SyncState {
    /// Signed out: no sync runs.
    Stopped,
    /// Online and nothing in flight.
    Idle,
    /// A pull or push is in flight.
    Syncing,
    /// The cloud cannot be reached; edits wait in the outbox.
    Offline,
    /// The last attempt failed (server error); the next one is at `next_retry_at`.
    WaitingToRetry,
    /// Signed in offline and the cloud would not resume the session: edits
    /// wait until the person signs in online again.
    NeedsSignIn,
}

/// An edit the cloud refused or found in conflict; it was rolled back in
/// the cache. Shown until dismissed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SyncNotice {
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub id: i64,
    /// What the edit was about, for a person: a user's name or "Company profile".
    pub subject: String,
    /// The cloud's error code, or "conflict".
    pub code: String,
    pub message: String,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub at: i64,
}

/// Pushed to the UI as the `sync-status` event on every change, and
/// returned by `sync_status` / `sync_now` / `dismiss_sync_notice`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SyncStatus {
    pub state: SyncState,
    pub online: bool,
    /// Edits in the outbox not yet acknowledged by the cloud.
    pub pending_edits: u32,
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub last_synced_at: Option<i64>,
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub next_retry_at: Option<i64>,
    pub notices: Vec<SyncNotice>,
}

/// A newer release, as the update banner shows it (the desktop shell's
/// updater fills it from the signed manifest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct UpdateInfo {
    pub version: String,
    pub current_version: String,
    /// Release notes (plain text).
    pub notes: Option<String>,
    /// Publication date, epoch milliseconds.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub published_at: Option<i64>,
}

/// Download progress of an update, streamed to the UI over a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum UpdateProgress {
    Downloading {
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        downloaded: u64,
        #[cfg_attr(feature = "ts", ts(type = "number | null"))]
        total: Option<u64>,
    },
    /// Downloaded and signature-checked: the installer runs, then the app restarts.
    Installing,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipc_json_matches_the_contract() {
        let info = AppInfo {
            version: "0.1.0".into(),
            cloud_url: "http://127.0.0.1:8787".into(),
            default_cloud_url: "https://cloud.secureclose.net".into(),
            cloud_url_locked: false,
            cache_status: CacheStatus::Unreadable,
            locked: None,
        };
        assert_eq!(
            serde_json::to_value(&info).unwrap(),
            serde_json::json!({"version": "0.1.0", "cloud_url": "http://127.0.0.1:8787",
                "default_cloud_url": "https://cloud.secureclose.net", "cloud_url_locked": false,
                "cache_status": "unreadable", "locked": null}),
            "the UI reads these exact field names and values"
        );
    }

    #[test]
    fn second_factor_outcomes_are_tagged_as_the_contract_says() {
        let challenge = Challenge {
            challenge_id: String::new(),
            phone_hint: Some("••• ••• 1234".into()),
            code_sent: true,
            code_expires_at: Some(600),
            resend_available_at: Some(30),
            attempts_left: 5,
            expires_at: 900,
            methods: vec![secureclose_protocol::SecondFactorMethod::Sms],
            trusted_computer_days: 0,
        };
        let json = serde_json::to_value(LoginOutcome::NeedsSecondFactor {
            challenge: challenge.clone(),
        })
        .unwrap();
        assert_eq!(json["state"], "needs_second_factor");
        assert_eq!(json["challenge"]["phone_hint"], "••• ••• 1234");
        let json = serde_json::to_value(LoginOutcome::NeedsPhoneEnrollment { challenge }).unwrap();
        assert_eq!(
            json["state"], "needs_phone_enrollment",
            "the UI opens the enrolment dialog on this exact value"
        );
    }
}
