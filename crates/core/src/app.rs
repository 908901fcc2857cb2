//! `AppCore`: the one facade the desktop shell (and the end-to-end tests)
//! use. Opening, the cloud address and cache recovery are here; everything
//! else is delegated (`session`, `edits`, `accounts`, `directory`, `sync`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use secureclose_protocol::{
    Challenge, Company, CompanyUpdate, NewUserRequest, ReauthStep, RecoveryCodes, RecoveryStatus,
    SecondFactorMethod, SetupCodeGrant, SetupCodeTexted, TotpEnrollment, TotpStatus,
    TrustedComputer, User, UserUpdate,
};

use crate::accounts;
use crate::cache;
use crate::client::validate_cloud_url;
pub use crate::context::cloud_cache_path;
use crate::context::{adopt_legacy_cache, open_cache, CloudScope, Context};
use crate::directory;
use crate::edits::{self, KeyedEdit, QueuedEdit};
use crate::error::{desktop_codes, CoreError};
use crate::keystore::KeyStore;
use crate::policy::{self, PolicySource};
use crate::sensitive::Sensitive;
use crate::session::{self, factors, password, reauth, sign_in, tokens};
use crate::sync::{self, shared::SyncShared};
use crate::views::{
    AppInfo, CacheStatus, LoginOutcome, PasswordCheck, SessionView, SyncStatus, UsersPage,
};

const SETTINGS_FILE: &str = "settings.json";

/// The address used when nothing else is configured: the local dev cloud
/// in debug builds, the SecureClose cloud (https) in release builds.
pub const DEFAULT_CLOUD_URL: &str = if cfg!(debug_assertions) {
    "http://127.0.0.1:8787"
} else {
    "https://cloud.secureclose.net"
};

pub struct CoreConfig {
    /// Per-OS-user directory for the cache and settings.
    pub data_dir: PathBuf,
    /// The address to use unless the machine policy locks another one.
    pub cloud_url: String,
    pub key_store: Arc<dyn KeyStore>,
    /// Where the machine-wide cloud policy is read ([`PolicySource::machine`]
    /// in the app; a file of their own, or none, in tests).
    pub policy: PolicySource,
    /// How often the background sync checks the cloud while online
    /// ([`CoreConfig::DEFAULT_SYNC_INTERVAL`] in the app).
    pub sync_interval: Duration,
}

impl CoreConfig {
    pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(30);
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Settings {
    cloud_url: Option<String>,
}

/// The desktop's one facade. Cheap handle over the shared state, which the
/// background sync task also reaches (weakly: dropping the core stops it).
pub struct AppCore {
    inner: Arc<Context>,
}

impl AppCore {
    /// Opens the cache and restores a still-valid session (and its sync).
    /// Never fails on an unreadable cache: `app_info().cache_status` says so
    /// and `reset_cache` recovers.
    pub async fn open(config: CoreConfig) -> Result<AppCore, CoreError> {
        let inner = Arc::new(open_context(config).await?);
        session::restore(&inner).await;
        Ok(AppCore { inner })
    }

    /// The cloud URL saved by `set_cloud_url` in `data_dir`, if any. The shell
    /// uses it when no SECURECLOSE_CLOUD_URL is set.
    pub fn saved_cloud_url(data_dir: &Path) -> Option<String> {
        let text = std::fs::read_to_string(data_dir.join(SETTINGS_FILE)).ok()?;
        serde_json::from_str::<Settings>(&text).ok()?.cloud_url
    }

    pub fn app_info(&self) -> AppInfo {
        app_info(&self.inner)
    }

    /// Recovery of an unreadable cache: opens it when the keychain now
    /// gives a key that reads it (a keychain that was locked or busy at
    /// start); returns a keychain error unchanged (nothing moved); only when
    /// the key we have definitely cannot read the file, moves it aside (kept,
    /// timestamped, its key kept in the keychain beside it) and starts an
    /// empty cache with a new key. Refused (`cache_readable`) on a readable
    /// cache. Data re-syncs at the next login.
    pub async fn reset_cache(&self) -> Result<AppInfo, CoreError> {
        reset_cache(&self.inner).await
    }

    /// Online login; when the cloud cannot be reached (never on a refusal),
    /// the offline sign-in rules decide (see `offline`).
    pub async fn login(&self, email: &str, password: &str) -> Result<LoginOutcome, CoreError> {
        sign_in::login(&self.inner, email, password).await
    }

    /// First sign-in with the setup code an admin handed over: the cloud
    /// takes `new_password` as the account's password and answers like a
    /// login, so the second factor or phone enrolment follow as after
    /// [`AppCore::login`]. Needs the cloud.
    pub async fn activate(
        &self,
        email: &str,
        setup_code: Sensitive<String>,
        new_password: Sensitive<String>,
    ) -> Result<LoginOutcome, CoreError> {
        sign_in::activate(&self.inner, email, setup_code, new_password).await
    }

    /// A new password judged by the cloud's rules as it is typed: its
    /// strength and the rule it breaks. Signed in, judged for the session's
    /// user and company; otherwise for `email` alone.
    pub async fn check_new_password(
        &self,
        password: Sensitive<String>,
        email: &str,
    ) -> Result<PasswordCheck, CoreError> {
        password::check_new_password(&self.inner, password, email).await
    }

    /// The signed-in person changes their password (online only): every
    /// other session of theirs ends, this one stays, and this computer's
    /// offline sign-in and unlock take the new password from now on.
    pub async fn change_password(
        &self,
        current: Sensitive<String>,
        new: Sensitive<String>,
    ) -> Result<(), CoreError> {
        password::change_password(&self.inner, current, new).await
    }

    /// Finishes the pending sign-in with a code of `method` (the texted code
    /// or the authenticator app's); the attempt must offer that method.
    pub async fn verify_code(
        &self,
        method: SecondFactorMethod,
        code: &str,
    ) -> Result<LoginOutcome, CoreError> {
        sign_in::verify_code(&self.inner, method, code, false).await
    }

    /// [`AppCore::verify_code`] with "Don't ask for a code on this computer"
    /// ticked: where the company allows it, later sign-ins here skip the code.
    pub async fn verify_code_trusting_this_computer(
        &self,
        method: SecondFactorMethod,
        code: &str,
    ) -> Result<LoginOutcome, CoreError> {
        sign_in::verify_code(&self.inner, method, code, true).await
    }

    /// The signed-in person's trusted computers, this one marked (online only).
    pub async fn trusted_computers(&self) -> Result<Vec<TrustedComputer>, CoreError> {
        factors::trusted_computers(&self.inner).await
    }

    pub async fn revoke_trusted_computer(&self, id: &str) -> Result<(), CoreError> {
        factors::revoke_trusted_computer(&self.inner, id).await
    }

    /// An admin's view of a user's trusted computers (online only).
    pub async fn user_trusted_computers(
        &self,
        user_id: &str,
    ) -> Result<Vec<TrustedComputer>, CoreError> {
        accounts::user_trusted_computers(&self.inner, user_id).await
    }

    pub async fn revoke_user_trusted_computer(
        &self,
        user_id: &str,
        id: &str,
    ) -> Result<(), CoreError> {
        accounts::revoke_user_trusted_computer(&self.inner, user_id, id).await
    }

    /// Whether the signed-in person has an authenticator app (online only).
    pub async fn totp_status(&self) -> Result<TotpStatus, CoreError> {
        factors::totp_status(&self.inner).await
    }

    /// Starts adding an authenticator app: its secret, shown once.
    pub async fn begin_totp(&self) -> Result<TotpEnrollment, CoreError> {
        factors::begin_totp(&self.inner).await
    }

    /// The app's first code makes it a sign-in factor.
    pub async fn confirm_totp(
        &self,
        enrollment_id: &str,
        code: &str,
    ) -> Result<TotpStatus, CoreError> {
        factors::confirm_totp(&self.inner, enrollment_id, code).await
    }

    pub async fn remove_totp(&self) -> Result<(), CoreError> {
        factors::remove_totp(&self.inner).await
    }

    /// How many of the person's recovery codes are unused (online only).
    pub async fn recovery_status(&self) -> Result<RecoveryStatus, CoreError> {
        factors::recovery_status(&self.inner).await
    }

    /// A new set of recovery codes (after a re-authentication); the old set
    /// stops working.
    pub async fn regenerate_recovery_codes(&self) -> Result<RecoveryCodes, CoreError> {
        factors::regenerate_recovery_codes(&self.inner).await
    }

    /// Re-authentication before a security change: the current password.
    pub async fn reauthenticate(
        &self,
        password: Sensitive<String>,
    ) -> Result<ReauthStep, CoreError> {
        reauth::reauthenticate(&self.inner, &password).await
    }

    /// Re-authentication: the code; until when (epoch ms) the proof counts.
    pub async fn verify_reauth(
        &self,
        method: SecondFactorMethod,
        code: &str,
    ) -> Result<i64, CoreError> {
        reauth::verify_reauth(&self.inner, method, code).await
    }

    pub async fn resend_reauth_code(&self) -> Result<Challenge, CoreError> {
        reauth::resend_reauth_code(&self.inner).await
    }

    /// Saves codes just shown to a new owner-only text file in `dir`.
    pub async fn save_recovery_codes(
        &self,
        dir: &std::path::Path,
        codes: &[String],
    ) -> Result<std::path::PathBuf, CoreError> {
        factors::save_recovery_codes(&self.inner, dir, codes).await
    }

    pub async fn resend_code(&self) -> Result<Challenge, CoreError> {
        sign_in::resend_code(&self.inner).await
    }

    pub async fn enroll_phone(&self, mobile_phone: &str) -> Result<Challenge, CoreError> {
        sign_in::enroll_phone(&self.inner, mobile_phone).await
    }

    /// Enrolment with an authenticator app: its secret, shown once; the
    /// app's first code (`verify_code` with `Totp`) finishes the sign-in.
    pub async fn enroll_totp(&self) -> Result<TotpEnrollment, CoreError> {
        sign_in::enroll_totp(&self.inner).await
    }

    /// After `NeedsCompanyChoice`: signs in to the account at `company_id`
    /// (one of the companies offered) with the password held meanwhile.
    pub async fn choose_company(&self, company_id: &str) -> Result<LoginOutcome, CoreError> {
        sign_in::choose_company(&self.inner, company_id).await
    }

    pub async fn cancel_login(&self) -> Result<(), CoreError> {
        sign_in::cancel_login(&self.inner).await
    }

    /// An admin's edit of a user: applied to the cache and queued in one
    /// transaction, then pushed. Online, waits (up to ~4 s) for the cloud:
    /// applied → the cloud's user; refused → rolled back and
    /// `CoreError::Cloud {code, message}`. Offline or slow → the optimistic
    /// user (the edit stays queued; a later refusal becomes a notice).
    pub async fn update_user(&self, user_id: &str, update: &UserUpdate) -> Result<User, CoreError> {
        edits::update_user(&self.inner, user_id, update)
            .await
            .result
    }

    /// As [`AppCore::update_user`], for the company profile.
    pub async fn update_company(&self, update: &CompanyUpdate) -> Result<Company, CoreError> {
        edits::update_company(&self.inner, update).await.result
    }

    /// An admin adds a user (needs the connection: never queued). The new
    /// user is cached; the one-time setup code is only in the answer.
    pub async fn create_user(&self, request: &NewUserRequest) -> Result<SetupCodeGrant, CoreError> {
        accounts::create_user(&self.inner, request).await
    }

    /// An admin resets a user's password: a new setup code (needs the
    /// connection); the user's old password and sessions end.
    pub async fn reset_password(&self, user_id: &str) -> Result<SetupCodeGrant, CoreError> {
        accounts::reset_password(&self.inner, user_id).await
    }

    /// An admin texts a user's setup code (the one just shown to them) to
    /// the mobile phone on the user's profile (needs the connection).
    pub async fn text_setup_code(
        &self,
        user_id: &str,
        setup_code: Sensitive<String>,
    ) -> Result<SetupCodeTexted, CoreError> {
        accounts::text_setup_code(&self.inner, user_id, &setup_code).await
    }

    /// An admin resets a user's second factor, giving a reason (needs the
    /// connection); the user as the cloud now has them.
    pub async fn reset_two_factor(&self, user_id: &str, reason: &str) -> Result<User, CoreError> {
        accounts::reset_two_factor(&self.inner, user_id, reason).await
    }

    /// An admin signs a user out everywhere (needs the connection).
    pub async fn revoke_sessions(&self, user_id: &str) -> Result<(), CoreError> {
        accounts::revoke_sessions(&self.inner, user_id).await
    }

    /// [`AppCore::update_user`], with the idempotency key the edit was
    /// queued under (for harnesses that check each edit's fate on the cloud).
    pub async fn update_user_keyed(&self, user_id: &str, update: &UserUpdate) -> KeyedEdit<User> {
        edits::update_user(&self.inner, user_id, update).await
    }

    /// [`AppCore::update_company`], with the idempotency key the edit was
    /// queued under.
    pub async fn update_company_keyed(&self, update: &CompanyUpdate) -> KeyedEdit<Company> {
        edits::update_company(&self.inner, update).await
    }

    /// Queues an admin's edit of a user (cache + outbox, one transaction)
    /// and wakes the sync without waiting for the cloud. For harnesses that
    /// track idempotency keys: a key is acknowledged once it is no longer in
    /// [`AppCore::pending_edit_keys`].
    pub async fn queue_user_edit(
        &self,
        user_id: &str,
        update: &UserUpdate,
    ) -> Result<QueuedEdit<User>, CoreError> {
        let key = uuid::Uuid::new_v4().to_string();
        let queued = edits::queue_user_edit(&self.inner, user_id, update, key).await?;
        self.inner.sync.wake();
        Ok(queued)
    }

    /// As [`AppCore::queue_user_edit`], for the company profile.
    pub async fn queue_company_edit(
        &self,
        update: &CompanyUpdate,
    ) -> Result<QueuedEdit<Company>, CoreError> {
        let key = uuid::Uuid::new_v4().to_string();
        let queued = edits::queue_company_edit(&self.inner, update, key).await?;
        self.inner.sync.wake();
        Ok(queued)
    }

    /// Idempotency keys of the signed-in user's edits still in the outbox,
    /// oldest first.
    pub async fn pending_edit_keys(&self) -> Result<Vec<String>, CoreError> {
        let session = self.inner.state.lock().await.require_session()?.clone();
        session::lock::check(&self.inner, &session).await?;
        let cache = self.inner.cache()?;
        Ok(cache
            .outbox_batch(&session.user_id, &session.company_id, usize::MAX)
            .await?
            .into_iter()
            .map(|entry| entry.mutation.idempotency_key)
            .collect())
    }

    /// Locks the session (the UI saw no input for the company's idle time):
    /// reads and edits are refused with `session_locked` until
    /// [`AppCore::unlock_session`]; the sync goes on. Survives a restart.
    pub async fn lock_session(&self) -> Result<(), CoreError> {
        session::lock::lock(&self.inner).await
    }

    /// Unlocks with the signed-in person's password (this computer's offline
    /// verifier checks it; wrong ones count, and at the offline lock limit
    /// the session ends). Returns the session as before the lock.
    pub async fn unlock_session(
        &self,
        password: Sensitive<String>,
    ) -> Result<SessionView, CoreError> {
        session::lock::unlock(&self.inner, password).await?;
        directory::session(&self.inner)
            .await?
            .ok_or(CoreError::NotSignedIn)
    }

    pub async fn refresh(&self) -> Result<SessionView, CoreError> {
        directory::refresh(&self.inner).await
    }

    /// Signs out (revoking the session on the cloud when reachable) and
    /// stops the sync. Queued edits stay for the same user's next session.
    pub async fn logout(&self) -> Result<(), CoreError> {
        session::logout(&self.inner).await
    }

    pub async fn session(&self) -> Result<Option<SessionView>, CoreError> {
        directory::session(&self.inner).await
    }

    pub async fn list_users(
        &self,
        query: &str,
        offset: u32,
        limit: u32,
    ) -> Result<UsersPage, CoreError> {
        directory::list_users(&self.inner, query, offset, limit).await
    }

    pub async fn company(&self) -> Result<Company, CoreError> {
        directory::company(&self.inner).await
    }

    pub async fn set_cloud_url(&self, url: &str) -> Result<AppInfo, CoreError> {
        set_cloud_url(&self.inner, url).await
    }

    /// Every change of the sync status (the shell forwards it to the UI as
    /// the `sync-status` event).
    pub fn subscribe_sync(&self) -> tokio::sync::watch::Receiver<SyncStatus> {
        self.inner.sync.subscribe()
    }

    /// The status now, with fresh counts from the cache.
    pub async fn sync_status(&self) -> SyncStatus {
        sync::current_status(&self.inner).await
    }

    /// Runs a sync pass now (waiting for one in flight) and returns the
    /// status after it. Offline is a status, not an error.
    pub async fn sync_now(&self) -> Result<SyncStatus, CoreError> {
        let session = self.inner.state.lock().await.require_session()?.clone();
        session::lock::check(&self.inner, &session).await?;
        sync::sync_once(&self.inner).await;
        Ok(sync::current_status(&self.inner).await)
    }

    /// Hides a notice for good; returns the status without it.
    pub async fn dismiss_sync_notice(&self, id: i64) -> Result<SyncStatus, CoreError> {
        let session = self.inner.state.lock().await.require_session()?.clone();
        session::lock::check(&self.inner, &session).await?;
        self.inner
            .cache()?
            .dismiss_notice(&session.user_id, id)
            .await?;
        let status = sync::current_status(&self.inner).await;
        self.inner.sync.publish(status.clone());
        Ok(status)
    }
}

impl Drop for AppCore {
    fn drop(&mut self) {
        self.inner.sync.abort();
    }
}

/// Reads the machine policy, picks the cloud address (a locked policy
/// wins), adopts a cache from before per-cloud caches, opens this cloud's
/// cache.
async fn open_context(config: CoreConfig) -> Result<Context, CoreError> {
    std::fs::create_dir_all(&config.data_dir)?;
    let data_dir = config
        .data_dir
        .canonicalize()
        .unwrap_or(config.data_dir.clone());
    let policy = policy::load(&config.policy)?;
    let url = match &policy {
        Some(policy) if policy.locked => {
            if validate_cloud_url(&config.cloud_url).ok().as_deref()
                != Some(policy.cloud_url.as_str())
            {
                tracing::warn!(locked = %policy.cloud_url, asked = %config.cloud_url,
                    "the machine policy locks the cloud address; using it");
            }
            policy.cloud_url.clone()
        }
        _ => config.cloud_url.clone(),
    };
    let scope = CloudScope::new(&data_dir, &url)?;
    adopt_legacy_cache(&data_dir, &scope, &*config.key_store);
    let cache = open_cache(&scope, &*config.key_store).await?;
    Ok(Context::new(
        data_dir,
        config.key_store,
        policy,
        scope,
        cache,
        SyncShared::new(config.sync_interval),
        sync::start,
    ))
}

fn app_info(ctx: &Context) -> AppInfo {
    AppInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        cloud_url: ctx.client().base_url().to_owned(),
        default_cloud_url: match &ctx.policy {
            Some(policy) => policy.cloud_url.clone(),
            None => DEFAULT_CLOUD_URL.to_owned(),
        },
        cloud_url_locked: ctx.policy.as_ref().is_some_and(|p| p.locked),
        cache_status: match ctx.cache_opt() {
            Some(_) => CacheStatus::Ready,
            None => CacheStatus::Unreadable,
        },
        locked: ctx.locked(),
    }
}

/// Recovery: moves the current cache file aside (kept, timestamped),
/// creates a new key and an empty cache. Data re-syncs at the next login;
/// whoever was signed in is signed out.
async fn reset_cache(ctx: &Context) -> Result<AppInfo, CoreError> {
    let _guard = ctx.reset_lock.lock().await;
    // A readable cache holds people's queued edits and offline
    // sign-ins: nothing to recover, and nobody at the sign-in screen may
    // throw it away.
    if ctx.cache_opt().is_some() {
        return Err(CoreError::Refused {
            code: desktop_codes::CACHE_READABLE,
            message: "The local cache on this computer can be read, so there is nothing \
                      to reset."
                .into(),
            retry_at: None,
        });
    }
    if let Ok(session) = ctx.state.lock().await.sign_out() {
        tokens::forget_token(ctx, &session.user_id);
    }
    ctx.session_ended();
    // Opens the old file when the keychain answers with its key now;
    // moves it aside only when that key definitely cannot read it.
    let scope = ctx.scope();
    let (cache, moved) = cache::reset(&scope.cache_path, &*ctx.keys, &scope.key_account).await?;
    if let Some(moved) = moved {
        tracing::info!(kept_at = %moved.display(), "previous cache kept aside");
    }
    ctx.write_cache(Some(Arc::new(cache)));
    Ok(app_info(ctx))
}

/// Validates (https, or http only to loopback), saves for the next start,
/// and switches. A session belongs to its cloud: changing the URL signs
/// out. Each cloud has its own cache (and keychain accounts): the new
/// address opens its own, the old one stays untouched for a switch back,
/// so nothing crosses between clouds and a mistaken change loses nothing.
/// Refused when the machine policy locks the address.
async fn set_cloud_url(ctx: &Context, url: &str) -> Result<AppInfo, CoreError> {
    if let Some(policy) = ctx.policy.as_ref().filter(|p| p.locked) {
        return Err(CoreError::Refused {
            code: desktop_codes::CLOUD_URL_LOCKED,
            message: format!(
                "Your organisation has set this computer's SecureClose address to {}. It \
                 cannot be changed here; ask your IT administrator.",
                policy.cloud_url
            ),
            retry_at: None,
        });
    }
    let url = validate_cloud_url(url)?;
    if url != ctx.client().base_url() {
        let _guard = ctx.reset_lock.lock().await;
        session::logout(ctx).await?;
        let scope = CloudScope::new(&ctx.data_dir, &url)?;
        let cache = open_cache(&scope, &*ctx.keys).await?;
        let settings = Settings {
            cloud_url: Some(url.clone()),
        };
        let json = serde_json::to_string_pretty(&settings)
            .map_err(|err| CoreError::Io(std::io::Error::other(err)))?;
        std::fs::write(ctx.data_dir.join(SETTINGS_FILE), json)?;
        // A pending login belongs to the old cloud too.
        if ctx.state.lock().await.cancel() {
            ctx.hold_pending_password(None);
        }
        if let Some(old) = ctx.switch_cloud(scope, cache) {
            old.close().await;
        }
        tracing::info!(%url, "cloud URL changed");
    }
    Ok(app_info(ctx))
}

#[cfg(test)]
mod tests;
