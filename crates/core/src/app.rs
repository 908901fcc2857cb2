//! `AppCore`: the one facade the desktop shell (and the end-to-end tests) use.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use secureclose_protocol::{
    Challenge, Company, CompanyUpdate, LoginResponse, Role, SessionGrant, User, UserUpdate,
};
use sha2::{Digest, Sha256};

use crate::auth::{token_account, LoginState, PendingLogin, SignedInSession};
use crate::cache::{self, now_millis, Cache, SessionMeta};
use crate::client::{validate_cloud_url, CloudClient};
use crate::error::CoreError;
use crate::ipc::{AppInfo, CacheStatus, LoginOutcome, SessionView, UsersPage};
use crate::keystore::KeyStore;
use crate::sensitive::Sensitive;

const CACHE_FILE: &str = "cache.db";
const SETTINGS_FILE: &str = "settings.json";

pub struct CoreConfig {
    /// Per-OS-user directory for the cache and settings.
    pub data_dir: PathBuf,
    pub cloud_url: String,
    pub key_store: Arc<dyn KeyStore>,
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Settings {
    cloud_url: Option<String>,
}

pub struct AppCore {
    data_dir: PathBuf,
    keys: Arc<dyn KeyStore>,
    /// Keychain account of this data dir's cache key: one key per cache, so
    /// two data dirs (dev, tests) never overwrite each other's key.
    key_account: String,
    /// `None` while the cache is unreadable (see `reset_cache`).
    cache: RwLock<Option<Arc<Cache>>>,
    client: RwLock<CloudClient>,
    state: tokio::sync::Mutex<LoginState>,
    /// Serialises reset_cache so two resets cannot race on the file.
    reset_lock: tokio::sync::Mutex<()>,
    online: AtomicBool,
}

impl AppCore {
    /// Opens the cache and restores a still-valid session. Never fails on an
    /// unreadable cache: `app_info().cache_status` says so and
    /// `reset_cache` recovers.
    pub async fn open(config: CoreConfig) -> Result<AppCore, CoreError> {
        std::fs::create_dir_all(&config.data_dir)?;
        let data_dir = config
            .data_dir
            .canonicalize()
            .unwrap_or(config.data_dir.clone());
        let client = CloudClient::new(&config.cloud_url)?;
        let key_account = cache_key_account(&data_dir);
        let cache =
            match Cache::open(&data_dir.join(CACHE_FILE), &*config.key_store, &key_account).await {
                Ok(cache) => Some(Arc::new(cache)),
                Err(err @ (CoreError::CacheUnreadable { .. } | CoreError::Keychain { .. })) => {
                    tracing::warn!(error = %err, "local cache unavailable; the UI offers a reset");
                    None
                }
                Err(err) => return Err(err),
            };
        let core = AppCore {
            data_dir,
            keys: config.key_store,
            key_account,
            cache: RwLock::new(cache),
            client: RwLock::new(client),
            state: tokio::sync::Mutex::new(LoginState::SignedOut),
            reset_lock: tokio::sync::Mutex::new(()),
            online: AtomicBool::new(false),
        };
        core.restore_session().await;
        Ok(core)
    }

    /// The cloud URL saved by `set_cloud_url` in `data_dir`, if any. The shell
    /// uses it when no SECURECLOSE_CLOUD_URL is set.
    pub fn saved_cloud_url(data_dir: &Path) -> Option<String> {
        let text = std::fs::read_to_string(data_dir.join(SETTINGS_FILE)).ok()?;
        serde_json::from_str::<Settings>(&text).ok()?.cloud_url
    }

    pub fn app_info(&self) -> AppInfo {
        AppInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            cloud_url: self.client().base_url().to_owned(),
            cache_status: match self.cache_opt() {
                Some(_) => CacheStatus::Ready,
                None => CacheStatus::Unreadable,
            },
        }
    }

    /// Recovery: moves the current cache file aside (kept, timestamped),
    /// creates a new key and an empty cache. Data re-syncs at the next login;
    /// whoever was signed in is signed out.
    pub async fn reset_cache(&self) -> Result<AppInfo, CoreError> {
        let _guard = self.reset_lock.lock().await;
        let old = self.write_cache(None);
        if let Some(old) = old {
            old.close().await;
        }
        if let Ok(session) = self.state.lock().await.sign_out() {
            self.forget_token(&session.user_id);
        }
        let (cache, moved) = cache::reset(
            &self.data_dir.join(CACHE_FILE),
            &*self.keys,
            &self.key_account,
        )
        .await?;
        if let Some(moved) = moved {
            tracing::info!(kept_at = %moved.display(), "previous cache kept aside");
        }
        self.write_cache(Some(Arc::new(cache)));
        Ok(self.app_info())
    }

    /// Online login: the password to the cloud. A user who needs no second
    /// factor is signed in at once (see `complete_sign_in`); otherwise the
    /// state machine waits for the code (`verify_code`) or, before that, for
    /// a phone to enrol (`enroll_phone`).
    pub async fn login(&self, email: &str, password: &str) -> Result<LoginOutcome, CoreError> {
        let cache = self.cache()?;
        let client = self.client();
        let email = email.trim();
        let response = self.track(client.login(email, password).await)?;
        match response {
            LoginResponse::SignedIn {
                session,
                user,
                company,
            } => {
                self.complete_sign_in(&cache, &client, session, user, company, None)
                    .await
            }
            LoginResponse::SecondFactorRequired { challenge } => {
                let pending = PendingLogin::new(email, challenge);
                let view = pending.challenge.clone();
                let replaced = self.state.lock().await.needs_second_factor(pending);
                self.end_replaced_session(replaced).await;
                tracing::info!("password accepted; a code was sent");
                Ok(LoginOutcome::NeedsSecondFactor { challenge: view })
            }
            LoginResponse::PhoneEnrollmentRequired { challenge } => {
                let pending = PendingLogin::new(email, challenge);
                let view = pending.challenge.clone();
                let replaced = self.state.lock().await.needs_phone_enrollment(pending);
                self.end_replaced_session(replaced).await;
                tracing::info!("password accepted; a phone must be enrolled");
                Ok(LoginOutcome::NeedsPhoneEnrollment { challenge: view })
            }
        }
    }

    /// Completes the pending login with the code the user typed. On success
    /// this is exactly a signed-in login (`complete_sign_in`).
    pub async fn verify_code(&self, code: &str) -> Result<LoginOutcome, CoreError> {
        let cache = self.cache()?;
        let challenge_id = self
            .state
            .lock()
            .await
            .awaiting_code()?
            .challenge_id()
            .clone();
        let client = self.client();
        let response = self
            .attempt_call(client.verify_code(&challenge_id, code.trim()).await)
            .await?;
        match response {
            LoginResponse::SignedIn {
                session,
                user,
                company,
            } => {
                self.complete_sign_in(&cache, &client, session, user, company, Some(&challenge_id))
                    .await
            }
            LoginResponse::SecondFactorRequired { .. }
            | LoginResponse::PhoneEnrollmentRequired { .. } => Err(CoreError::CloudUnreachable {
                url: client.base_url().to_owned(),
                detail: "a verified code was answered with another login step".into(),
            }),
        }
    }

    /// Asks the cloud to send a new code for the pending login (its cooldown
    /// and send limits come back as errors with `retry_at`).
    pub async fn resend_code(&self) -> Result<Challenge, CoreError> {
        let challenge_id = self.state.lock().await.pending()?.challenge_id().clone();
        let challenge = self
            .attempt_call(self.client().resend_code(&challenge_id).await)
            .await?;
        let mut state = self.state.lock().await;
        same_attempt(&state, &challenge_id)?;
        Ok(state.code_resent(challenge)?.clone())
    }

    /// Enrolment: sends the phone the user typed; the cloud texts a code to
    /// it. The phone is saved to the profile only once that code verifies.
    pub async fn enroll_phone(&self, mobile_phone: &str) -> Result<Challenge, CoreError> {
        let challenge_id = self.state.lock().await.enrolling()?.challenge_id().clone();
        let challenge = self
            .attempt_call(
                self.client()
                    .enroll_phone(&challenge_id, mobile_phone.trim())
                    .await,
            )
            .await?;
        let mut state = self.state.lock().await;
        same_attempt(&state, &challenge_id)?;
        Ok(state.phone_submitted(challenge)?.clone())
    }

    /// Abandons a pending login (back to signed out, challenge forgotten).
    /// Does nothing to a signed-in session.
    pub async fn cancel_login(&self) -> Result<(), CoreError> {
        if self.state.lock().await.cancel() {
            tracing::info!("pending login cancelled");
        }
        Ok(())
    }

    /// An admin's edit of a user of their company. The cloud decides; its
    /// answer is what the cache stores.
    pub async fn update_user(&self, user_id: &str, update: &UserUpdate) -> Result<User, CoreError> {
        let (session, token, cache) = self.admin_context("editing users").await?;
        let user = self
            .signed_in_call(self.client().update_user(&token, user_id, update).await)
            .await?;
        if user.company_id == session.company_id {
            cache.store_user(&user).await?;
        } else {
            tracing::warn!(%user_id, "the cloud returned another company's user; not cached");
        }
        tracing::info!(%user_id, version = user.version, "user updated");
        Ok(user)
    }

    /// An admin's edit of their company's profile; cached as the cloud answers.
    pub async fn update_company(&self, update: &CompanyUpdate) -> Result<Company, CoreError> {
        let (session, token, cache) = self.admin_context("editing the company").await?;
        let company = self
            .signed_in_call(self.client().update_company(&token, update).await)
            .await?;
        if company.id == session.company_id {
            cache.store_company(&company).await?;
        } else {
            tracing::warn!("the cloud returned another company; not cached");
        }
        tracing::info!(company_id = %company.id, version = company.version, "company updated");
        Ok(company)
    }

    /// Re-fetches the signed-in user, the company and its users from the
    /// cloud into the cache (one transaction), and returns the fresh view.
    pub async fn refresh(&self) -> Result<SessionView, CoreError> {
        let session = self.state.lock().await.require_session()?.clone();
        let cache = self.cache()?;
        let token = self.session_token(&session)?;
        let client = self.client();
        let me = self.signed_in_call(client.me(&token).await).await?;
        let mut users = self.signed_in_call(client.users(&token).await).await?.users;
        if !users.iter().any(|u| u.id == me.user.id) {
            users.push(me.user.clone());
        }
        let state = self.state.lock().await;
        // Signed out (or someone else signed in) while we were fetching.
        if state.session() != Some(&session) {
            return Err(CoreError::NotSignedIn);
        }
        let meta = match cache.session_meta().await? {
            Some(meta) => meta,
            None => SessionMeta {
                user_id: session.user_id.clone(),
                company_id: session.company_id.clone(),
                expires_at: session.expires_at,
                signed_in_at: now_millis(),
            },
        };
        cache.store_login(&me.company, &users, &meta).await?;
        drop(state);
        tracing::info!(users = users.len(), "refreshed from the cloud");
        Ok(SessionView {
            user: me.user,
            company: me.company,
            online: true,
            offline_sign_in: false,
            last_synced_at: cache.last_synced_at().await?,
        })
    }

    /// Revokes the session on the cloud (best effort: offline sign-out must
    /// still work), deletes the token, and signs out. The encrypted cache is
    /// kept. Signing out twice is not an error; a pending login is dropped.
    pub async fn logout(&self) -> Result<(), CoreError> {
        let Ok(session) = self.state.lock().await.sign_out() else {
            return Ok(());
        };
        self.end_session(&session, true).await
    }

    pub async fn session(&self) -> Result<Option<SessionView>, CoreError> {
        let Some(session) = self.state.lock().await.session().cloned() else {
            return Ok(None);
        };
        let cache = self.cache()?;
        let (Some(user), Some(company)) = (
            cache.user(&session.user_id).await?,
            cache.company(&session.company_id).await?,
        ) else {
            return Ok(None);
        };
        Ok(Some(SessionView {
            user,
            company,
            online: self.online.load(Ordering::Relaxed),
            offline_sign_in: false,
            last_synced_at: cache.last_synced_at().await?,
        }))
    }

    /// A page of the signed-in company's users from the cache (works
    /// offline). `query` is a case-insensitive prefix of name or email.
    pub async fn list_users(
        &self,
        query: &str,
        offset: u32,
        limit: u32,
    ) -> Result<UsersPage, CoreError> {
        self.state.lock().await.require_session()?;
        let (users, total) = self.cache()?.list_users(query, offset, limit).await?;
        Ok(UsersPage { users, total })
    }

    pub async fn company(&self) -> Result<Company, CoreError> {
        let company_id = self
            .state
            .lock()
            .await
            .require_session()?
            .company_id
            .clone();
        self.cache()?
            .company(&company_id)
            .await?
            .ok_or(CoreError::NotSignedIn)
    }

    /// Validates (https, or http only to loopback), saves for the next start,
    /// and switches. A session belongs to its cloud: changing the URL signs out.
    pub async fn set_cloud_url(&self, url: &str) -> Result<AppInfo, CoreError> {
        let url = validate_cloud_url(url)?;
        if url != self.client().base_url() {
            self.logout().await?;
            let client = CloudClient::new(&url)?;
            let settings = Settings {
                cloud_url: Some(url.clone()),
            };
            let json = serde_json::to_string_pretty(&settings)
                .map_err(|err| CoreError::Io(std::io::Error::other(err)))?;
            std::fs::write(self.data_dir.join(SETTINGS_FILE), json)?;
            *self.client.write().unwrap_or_else(|p| p.into_inner()) = client;
            self.online.store(false, Ordering::Relaxed);
            tracing::info!(%url, "cloud URL changed");
        }
        Ok(self.app_info())
    }

    /// The one path to `SignedIn`, after a password alone or after a code
    /// (`attempt` = the challenge it answered): the users to the cache with
    /// the company (one transaction), the token to the keychain.
    async fn complete_sign_in(
        &self,
        cache: &Cache,
        client: &CloudClient,
        grant: SessionGrant,
        user: User,
        company: Company,
        attempt: Option<&Sensitive<String>>,
    ) -> Result<LoginOutcome, CoreError> {
        let token = Sensitive::new(grant.token.clone());
        let mut users = match self.track(client.users(&token).await) {
            Ok(list) => list.users,
            Err(err) => {
                let _ = client.logout(&token).await;
                return Err(err);
            }
        };
        if !users.iter().any(|u| u.id == user.id) {
            users.push(user.clone());
        }

        let mut state = self.state.lock().await;
        if let Some(attempt) = attempt {
            // Cancelled (or replaced by a new login) while the code was checked.
            if let Err(err) = same_attempt(&state, attempt) {
                drop(state);
                let _ = client.logout(&token).await;
                return Err(err);
            }
        }
        if let Some(previous) = state.session() {
            if previous.user_id != user.id {
                self.forget_token(&previous.user_id);
            }
        }
        let account = token_account(&user.id);
        self.keys.set(&account, token.expose().as_bytes())?;
        let meta = SessionMeta {
            user_id: user.id.clone(),
            company_id: company.id.clone(),
            expires_at: grant.expires_at,
            signed_in_at: now_millis(),
        };
        if let Err(err) = cache.store_login(&company, &users, &meta).await {
            self.forget_token(&user.id);
            *state = LoginState::SignedOut;
            return Err(err);
        }
        let signed_in = SignedInSession {
            user_id: user.id.clone(),
            company_id: company.id.clone(),
            expires_at: grant.expires_at,
        };
        match attempt {
            None => state.password_accepted(signed_in),
            Some(_) => state.code_accepted(signed_in)?,
        }
        drop(state);
        tracing::info!(user_id = %user.id, company_id = %company.id, users = users.len(),
            second_factor = attempt.is_some(), "signed in");
        Ok(LoginOutcome::SignedIn {
            session: SessionView {
                user,
                company,
                online: true,
                offline_sign_in: false,
                last_synced_at: cache.last_synced_at().await?,
            },
        })
    }

    /// Ends `session` on this device: revokes it on the cloud when `revoke`
    /// (best effort), deletes its token, forgets it in the cache.
    async fn end_session(&self, session: &SignedInSession, revoke: bool) -> Result<(), CoreError> {
        let account = token_account(&session.user_id);
        if revoke {
            match self.keys.get(&account) {
                Ok(Some(bytes)) => {
                    let token = Sensitive::new(String::from_utf8_lossy(&bytes).into_owned());
                    let revoked = self.client().logout(&token).await;
                    if let Err(err) = self.track(revoked) {
                        tracing::warn!(error = %err, "could not revoke the session on the cloud");
                    }
                }
                Ok(None) => {}
                Err(err) => tracing::warn!(error = %err, "could not read the session token"),
            }
        }
        self.keys.delete(&account)?;
        if let Some(cache) = self.cache_opt() {
            cache.clear_session().await?;
        }
        tracing::info!(user_id = %session.user_id, "signed out");
        Ok(())
    }

    /// A new login replaced someone's session: that session ends here too.
    async fn end_replaced_session(&self, replaced: Option<SignedInSession>) {
        if let Some(session) = replaced {
            if let Err(err) = self.end_session(&session, true).await {
                tracing::warn!(error = %err, "could not end the replaced session");
            }
        }
    }

    /// For calls on a pending login: when the cloud says the attempt is
    /// over, the state machine forgets it so the UI starts a new sign-in.
    async fn attempt_call<T>(&self, result: Result<T, CoreError>) -> Result<T, CoreError> {
        let result = self.track(result);
        if let Err(err) = &result {
            if err.ends_login_attempt() && self.state.lock().await.cancel() {
                tracing::info!(code = err.code(), "the cloud closed the login attempt");
            }
        }
        result
    }

    /// For calls with the session token: a rejected token ends the session
    /// locally (the cloud already forgot it), so `session()` agrees with the UI.
    async fn signed_in_call<T>(&self, result: Result<T, CoreError>) -> Result<T, CoreError> {
        let result = self.track(result);
        if let Err(err) = &result {
            if err.is_session_rejected() {
                let ended = self.state.lock().await.sign_out();
                if let Ok(session) = ended {
                    if let Err(end_err) = self.end_session(&session, false).await {
                        tracing::warn!(error = %end_err, "could not end the rejected session");
                    }
                }
            }
        }
        result
    }

    /// The signed-in session, its token and the cache, for an admin action.
    /// Mirrors the cloud's rule locally: only admins edit (the cloud enforces it).
    async fn admin_context(
        &self,
        action: &'static str,
    ) -> Result<(SignedInSession, Sensitive<String>, Arc<Cache>), CoreError> {
        let session = self.state.lock().await.require_session()?.clone();
        let cache = self.cache()?;
        let me = cache.user(&session.user_id).await?;
        if !me.is_some_and(|me| me.role == Role::Admin) {
            return Err(CoreError::Forbidden { action });
        }
        let token = self.session_token(&session)?;
        Ok((session, token, cache))
    }

    fn session_token(&self, session: &SignedInSession) -> Result<Sensitive<String>, CoreError> {
        match self.keys.get(&token_account(&session.user_id))? {
            Some(bytes) => Ok(Sensitive::new(String::from_utf8_lossy(&bytes).into_owned())),
            None => Err(CoreError::NotSignedIn),
        }
    }

    /// Signs back in from the last run when its session has not expired and
    /// its token is still in the keychain; otherwise tidies up.
    async fn restore_session(&self) {
        let Some(cache) = self.cache_opt() else {
            return;
        };
        let meta = match cache.session_meta().await {
            Ok(Some(meta)) => meta,
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(error = %err, "could not read the cached session");
                return;
            }
        };
        let has_token = matches!(self.keys.get(&token_account(&meta.user_id)), Ok(Some(_)));
        if has_token && meta.expires_at > now_millis() {
            self.state.lock().await.password_accepted(SignedInSession {
                user_id: meta.user_id,
                company_id: meta.company_id,
                expires_at: meta.expires_at,
            });
            tracing::info!("previous session restored");
        } else {
            self.forget_token(&meta.user_id);
            if let Err(err) = cache.clear_session().await {
                tracing::warn!(error = %err, "could not clear the stale session");
            }
        }
    }

    fn forget_token(&self, user_id: &str) {
        if let Err(err) = self.keys.delete(&token_account(user_id)) {
            tracing::warn!(error = %err, "could not delete a session token");
        }
    }

    /// Records whether the cloud answered, for `SessionView::online`.
    fn track<T>(&self, result: Result<T, CoreError>) -> Result<T, CoreError> {
        let offline = matches!(
            result,
            Err(CoreError::Offline { .. } | CoreError::CloudUnreachable { .. })
        );
        self.online.store(!offline, Ordering::Relaxed);
        result
    }

    fn client(&self) -> CloudClient {
        self.client
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn cache_opt(&self) -> Option<Arc<Cache>> {
        self.cache.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn cache(&self) -> Result<Arc<Cache>, CoreError> {
        self.cache_opt().ok_or_else(|| CoreError::CacheUnreadable {
            reason: "the cache could not be opened at start".into(),
        })
    }

    fn write_cache(&self, cache: Option<Arc<Cache>>) -> Option<Arc<Cache>> {
        let mut slot = self.cache.write().unwrap_or_else(|p| p.into_inner());
        std::mem::replace(&mut *slot, cache)
    }
}

/// Refuses a step whose answer belongs to an attempt that is no longer the
/// pending one (cancelled, or replaced by a new login meanwhile).
fn same_attempt(state: &LoginState, challenge_id: &Sensitive<String>) -> Result<(), CoreError> {
    match state.pending() {
        Ok(pending) if pending.challenge_id().expose() == challenge_id.expose() => Ok(()),
        _ => Err(CoreError::NoPendingLogin),
    }
}

fn cache_key_account(data_dir: &Path) -> String {
    let digest = Sha256::digest(data_dir.to_string_lossy().as_bytes());
    format!("cache-key:{}", &hex::encode(digest)[..16])
}

#[cfg(test)]
mod tests {
    //! Only what needs no cloud: the flows against the real cloud live in
    //! the `tests/` crate (end to end). An unreachable cloud is a closed port.
    use super::*;
    use crate::cache::tests::{company, user};
    use crate::client::tests::dead_url;
    use crate::keystore::tests::MemoryKeyStore;

    const TOKEN: &str = "tok-0123456789";

    async fn core_at(dir: &Path, url: &str, keys: &Arc<MemoryKeyStore>) -> AppCore {
        AppCore::open(CoreConfig {
            data_dir: dir.to_owned(),
            cloud_url: url.to_owned(),
            key_store: keys.clone(),
        })
        .await
        .unwrap()
    }

    fn token_in(keys: &MemoryKeyStore) -> Option<Vec<u8>> {
        keys.entries
            .lock()
            .unwrap()
            .iter()
            .find(|(k, _)| k.starts_with("session:"))
            .map(|(_, v)| v.clone())
    }

    /// A core restored from a previous run in which `role` (user u1) signed
    /// in, pointed at a cloud that no longer answers. No cloud is involved.
    async fn restored_offline(dir: &Path, keys: &Arc<MemoryKeyStore>, role: Role) -> AppCore {
        let url = dead_url().await;
        let core = core_at(dir, &url, keys).await;
        let mut me = user("u1", "Alice Admin", "alice@desertmotors.example");
        me.role = role;
        let users = [me, user("u2", "Bob Builder", "bob@desertmotors.example")];
        let meta = SessionMeta {
            user_id: "u1".into(),
            company_id: "c1".into(),
            expires_at: now_millis() + 3_600_000,
            signed_in_at: now_millis(),
        };
        let cache = core.cache_opt().unwrap();
        cache.store_login(&company(), &users, &meta).await.unwrap();
        cache.close().await;
        drop(core);
        keys.set(&token_account("u1"), TOKEN.as_bytes()).unwrap();
        let core = core_at(dir, &url, keys).await;
        assert!(
            core.session().await.unwrap().is_some(),
            "set-up: the session must be restored from the cache"
        );
        core
    }

    #[tokio::test]
    async fn offline_login_is_an_error_and_stays_signed_out() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(MemoryKeyStore::default());
        let core = core_at(dir.path(), &dead_url().await, &keys).await;
        assert_eq!(core.app_info().cache_status, CacheStatus::Ready);
        let err = core.login("a@b.example", "pw").await.unwrap_err();
        assert_eq!(err.code(), "offline", "got {err:?}");
        assert_eq!(token_in(&keys), None);
        assert_eq!(core.session().await.unwrap(), None);
        assert!(matches!(
            core.list_users("", 0, 50).await,
            Err(CoreError::NotSignedIn)
        ));
    }

    #[tokio::test]
    async fn missing_key_reports_unreadable_and_reset_recovers() {
        let url = dead_url().await;
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(MemoryKeyStore::default());
        let core = core_at(dir.path(), &url, &keys).await;
        core.cache_opt().unwrap().close().await;
        drop(core);
        // Someone cleared the keychain entry of the cache key.
        let account = cache_key_account(&dir.path().canonicalize().unwrap());
        keys.delete(&account).unwrap();

        let core = core_at(dir.path(), &url, &keys).await;
        assert_eq!(
            core.app_info().cache_status,
            CacheStatus::Unreadable,
            "open must not fail: the UI shows the recovery screen"
        );
        let err = core.login("a@b.example", "pw").await.unwrap_err();
        assert_eq!(
            err.code(),
            "cache_unreadable",
            "no login without a cache to hold its data"
        );

        let info = core.reset_cache().await.unwrap();
        assert_eq!(info.cache_status, CacheStatus::Ready);
        let kept: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("cache.db.unreadable-"))
            .collect();
        assert!(!kept.is_empty(), "the old cache is kept aside, not deleted");
    }

    #[tokio::test]
    async fn set_cloud_url_validates_and_persists() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(MemoryKeyStore::default());
        let core = core_at(dir.path(), "http://127.0.0.1:8787", &keys).await;
        let err = core
            .set_cloud_url("http://cloud.example")
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid_cloud_url");
        assert_eq!(core.app_info().cloud_url, "http://127.0.0.1:8787");
        let info = core.set_cloud_url("https://cloud.example/").await.unwrap();
        assert_eq!(info.cloud_url, "https://cloud.example");
        assert_eq!(
            AppCore::saved_cloud_url(dir.path()).as_deref(),
            Some("https://cloud.example"),
            "the setting survives a restart"
        );
    }

    #[tokio::test]
    async fn set_cloud_url_signs_out_the_session_of_the_old_cloud() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(MemoryKeyStore::default());
        let core = restored_offline(dir.path(), &keys, Role::User).await;
        core.set_cloud_url("https://cloud.example").await.unwrap();
        assert_eq!(
            core.session().await.unwrap(),
            None,
            "a session belongs to the cloud that issued it"
        );
        assert_eq!(token_in(&keys), None, "its token goes too");
    }

    #[tokio::test]
    async fn app_info_reports_the_crate_version() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(MemoryKeyStore::default());
        let core = core_at(dir.path(), "http://127.0.0.1:8787", &keys).await;
        let info = core.app_info();
        assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(info.cloud_url, "http://127.0.0.1:8787");
    }

    #[tokio::test]
    async fn second_factor_steps_without_a_pending_login_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(MemoryKeyStore::default());
        let core = core_at(dir.path(), &dead_url().await, &keys).await;
        for (step, err) in [
            ("verify_code", core.verify_code("123456").await.err()),
            ("resend_code", core.resend_code().await.err()),
            (
                "enroll_phone",
                core.enroll_phone("480 555 0100").await.err(),
            ),
        ] {
            assert!(
                matches!(err, Some(CoreError::NoPendingLogin)),
                "{step} with no login waiting must be refused before any cloud call, got {err:?}"
            );
        }
        core.cancel_login()
            .await
            .expect("cancelling nothing is harmless");
        assert_eq!(core.session().await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_non_admin_is_refused_locally_before_the_cloud() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(MemoryKeyStore::default());
        let core = restored_offline(dir.path(), &keys, Role::User).await;
        let err = core
            .update_user("u2", &UserUpdate::default())
            .await
            .unwrap_err();
        // The cloud is unreachable: `forbidden` (not `offline`) proves the
        // refusal is local.
        assert_eq!(err.code(), "forbidden", "got {err:?}");
        let err = core
            .update_company(&CompanyUpdate::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "forbidden", "got {err:?}");
        assert!(
            core.session().await.unwrap().is_some(),
            "a refusal does not sign out"
        );
    }

    #[tokio::test]
    async fn an_admin_edit_goes_to_the_cloud_and_changes_nothing_when_offline() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(MemoryKeyStore::default());
        let core = restored_offline(dir.path(), &keys, Role::Admin).await;
        let update = UserUpdate {
            mobile_phone: Some(Some("+14805559999".into())),
            ..UserUpdate::default()
        };
        let err = core.update_user("u2", &update).await.unwrap_err();
        assert_eq!(err.code(), "offline", "an admin's edit is sent: {err:?}");
        let page = core.list_users("bob", 0, 10).await.unwrap();
        assert_eq!(
            page.users[0].mobile_phone.as_deref(),
            Some("+14805551234"),
            "the cache only ever holds the cloud's answer, never the request"
        );
        let err = core.refresh().await.unwrap_err();
        assert_eq!(err.code(), "offline");
        let session = core.session().await.unwrap().expect("still signed in");
        assert!(!session.online, "the failed calls mark the app offline");
        assert_eq!(
            core.list_users("", 0, 10).await.unwrap().total,
            2,
            "a failed refresh keeps the cached users"
        );
    }

    #[tokio::test]
    async fn admin_actions_need_a_session() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(MemoryKeyStore::default());
        let core = core_at(dir.path(), &dead_url().await, &keys).await;
        assert!(matches!(
            core.update_user("u2", &UserUpdate::default()).await,
            Err(CoreError::NotSignedIn)
        ));
        assert!(matches!(
            core.update_company(&CompanyUpdate::default()).await,
            Err(CoreError::NotSignedIn)
        ));
        assert!(matches!(core.refresh().await, Err(CoreError::NotSignedIn)));
    }

    #[test]
    fn each_data_dir_gets_its_own_key_account() {
        assert_ne!(
            cache_key_account(Path::new("/a")),
            cache_key_account(Path::new("/b")),
            "two data dirs sharing a key account would make one cache unreadable"
        );
    }
}
