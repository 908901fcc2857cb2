//! `AppCore`: the one facade the desktop shell (and the end-to-end tests) use.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use secureclose_protocol::{
    codes, Challenge, Company, CompanyUpdate, LoginResponse, Role, SessionGrant, User, UserUpdate,
};
use sha2::{Digest, Sha256};

use crate::auth::{token_account, LoginCell, LoginState, PendingLogin, SignedInSession};
use crate::cache::{self, now_millis, Cache, RevokedReason, SessionMeta};
use crate::client::{validate_cloud_url, CloudClient};
use crate::error::{desktop_codes, CoreError};
use crate::ipc::{AppInfo, CacheStatus, LoginOutcome, SessionView, SyncStatus, UsersPage};
use crate::keystore::KeyStore;
use crate::offline;
use crate::policy::{self, CloudPolicy, PolicySource};
use crate::sensitive::Sensitive;
use crate::sync::{Delivery, SyncShared};

const CACHE_FILE: &str = "cache.db";
const SETTINGS_FILE: &str = "settings.json";
/// One folder per cloud under the data dir (see [`cloud_cache_path`]).
const CLOUDS_DIR: &str = "clouds";

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

/// How long an edit waits for the cloud's answer before the dialog closes on
/// the optimistic result (the sync keeps trying in the background).
const EDIT_WAIT: Duration = Duration::from_secs(4);

/// Keychain account of a user's trusted-device token (for `/login/resume`)
/// with the cloud named `cloud` (see [`cloud_ns`]).
pub fn device_account(cloud: &str, user_id: &str) -> String {
    format!("device:{cloud}:{user_id}")
}

/// Names one cloud's local state: its cache folder and keychain accounts.
/// Everything local (cache rows, outbox, notices, offline verifiers,
/// session and device tokens) belongs to one cloud address, so changing the
/// address never lets data, queued edits or credentials cross to another.
pub fn cloud_ns(normalised_url: &str) -> String {
    hex::encode(&Sha256::digest(normalised_url.as_bytes())[..8])
}

/// The cache file of the cloud at `cloud_url` under `data_dir`.
pub fn cloud_cache_path(data_dir: &Path, cloud_url: &str) -> Result<PathBuf, CoreError> {
    let url = validate_cloud_url(cloud_url)?;
    let data_dir = data_dir
        .canonicalize()
        .unwrap_or_else(|_| data_dir.to_owned());
    Ok(cloud_dir(&data_dir, &url).join(CACHE_FILE))
}

fn cloud_dir(data_dir: &Path, normalised_url: &str) -> PathBuf {
    data_dir.join(CLOUDS_DIR).join(cloud_ns(normalised_url))
}

/// The cloud the core talks to now, and the name of its local state.
#[derive(Clone)]
pub(crate) struct CloudScope {
    pub(crate) client: CloudClient,
    /// [`cloud_ns`] of the client's address.
    pub(crate) ns: String,
    /// This cloud's cache file and the keychain account of its key.
    cache_path: PathBuf,
    key_account: String,
}

impl CloudScope {
    fn new(data_dir: &Path, url: &str) -> Result<Self, CoreError> {
        let client = CloudClient::new(url)?;
        let dir = cloud_dir(data_dir, client.base_url());
        Ok(CloudScope {
            ns: cloud_ns(client.base_url()),
            cache_path: dir.join(CACHE_FILE),
            key_account: cache_key_account(&dir),
            client,
        })
    }
}

/// An edit written to the cache and the outbox, not yet answered by the
/// cloud. `idempotency_key` is `None` when the edit changed nothing (no row
/// was queued).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedEdit<T> {
    pub idempotency_key: Option<String>,
    /// The entity as the cache now shows it (optimistic).
    pub entity: T,
}

/// What [`AppCore::update_user_keyed`] (or `update_company_keyed`) returned:
/// the answer the dialog gets, and the idempotency key the edit was queued
/// under, so a harness can find the edit on the cloud.
#[derive(Debug)]
pub struct KeyedEdit<T> {
    /// `None` when nothing was queued: refused on the desktop, or no change.
    pub idempotency_key: Option<String>,
    /// Exactly what [`AppCore::update_user`] returns for the same call.
    pub result: Result<T, CoreError>,
}

/// A sign-in checked on this device: the password stays in memory (never on
/// disk) to resume a cloud session when the network returns.
#[derive(Clone)]
pub(crate) struct OfflineSignIn {
    pub email: String,
    pub password: Sensitive<String>,
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Settings {
    cloud_url: Option<String>,
}

/// The desktop's one facade. Cheap handle over the shared state, which the
/// background sync task also reaches (weakly: dropping the core stops it).
pub struct AppCore {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    data_dir: PathBuf,
    pub(crate) keys: Arc<dyn KeyStore>,
    /// The machine-wide policy read at start (`None`: there is none).
    policy: Option<CloudPolicy>,
    /// `None` while the cache is unreadable (see `reset_cache`).
    cache: RwLock<Option<Arc<Cache>>>,
    /// The cloud and its local state; replaced (with the cache) by
    /// `set_cloud_url`. One key per cache file, so two data dirs or two
    /// clouds never overwrite each other's key.
    cloud: RwLock<CloudScope>,
    pub(crate) state: LoginCell,
    /// Serialises reset_cache so two resets cannot race on the file.
    reset_lock: tokio::sync::Mutex<()>,
    pub(crate) online: AtomicBool,
    pub(crate) sync: SyncShared,
    /// Set while signed in offline (until the session resumes).
    pub(crate) offline: Mutex<Option<OfflineSignIn>>,
    /// The password of a login waiting for its code: the offline verifier is
    /// written only once the code is verified.
    pending_password: Mutex<Option<Sensitive<String>>>,
}

impl AppCore {
    /// Opens the cache and restores a still-valid session (and its sync).
    /// Never fails on an unreadable cache: `app_info().cache_status` says so
    /// and `reset_cache` recovers.
    pub async fn open(config: CoreConfig) -> Result<AppCore, CoreError> {
        let inner = Arc::new(Inner::open(config).await?);
        inner.restore_session().await;
        Ok(AppCore { inner })
    }

    /// The cloud URL saved by `set_cloud_url` in `data_dir`, if any. The shell
    /// uses it when no SECURECLOSE_CLOUD_URL is set.
    pub fn saved_cloud_url(data_dir: &Path) -> Option<String> {
        let text = std::fs::read_to_string(data_dir.join(SETTINGS_FILE)).ok()?;
        serde_json::from_str::<Settings>(&text).ok()?.cloud_url
    }

    pub fn app_info(&self) -> AppInfo {
        self.inner.app_info()
    }

    /// Recovery of an unreadable cache: opens it when the keychain now
    /// gives a key that reads it (a keychain that was locked or busy at
    /// start); returns a keychain error unchanged (nothing moved); only when
    /// the key we have definitely cannot read the file, moves it aside (kept,
    /// timestamped, its key kept in the keychain beside it) and starts an
    /// empty cache with a new key. Refused (`cache_readable`) on a readable
    /// cache. Data re-syncs at the next login.
    pub async fn reset_cache(&self) -> Result<AppInfo, CoreError> {
        self.inner.reset_cache().await
    }

    /// Online login; when the cloud cannot be reached (never on a refusal),
    /// the offline sign-in rules decide (see `offline`).
    pub async fn login(&self, email: &str, password: &str) -> Result<LoginOutcome, CoreError> {
        self.inner.login(email, password).await
    }

    pub async fn verify_code(&self, code: &str) -> Result<LoginOutcome, CoreError> {
        self.inner.verify_code(code).await
    }

    pub async fn resend_code(&self) -> Result<Challenge, CoreError> {
        self.inner.resend_code().await
    }

    pub async fn enroll_phone(&self, mobile_phone: &str) -> Result<Challenge, CoreError> {
        self.inner.enroll_phone(mobile_phone).await
    }

    pub async fn cancel_login(&self) -> Result<(), CoreError> {
        self.inner.cancel_login().await
    }

    /// An admin's edit of a user: applied to the cache and queued in one
    /// transaction, then pushed. Online, waits (up to ~4 s) for the cloud:
    /// applied → the cloud's user; refused → rolled back and
    /// `CoreError::Cloud {code, message}`. Offline or slow → the optimistic
    /// user (the edit stays queued; a later refusal becomes a notice).
    pub async fn update_user(&self, user_id: &str, update: &UserUpdate) -> Result<User, CoreError> {
        self.inner.update_user(user_id, update).await.result
    }

    /// As [`AppCore::update_user`], for the company profile.
    pub async fn update_company(&self, update: &CompanyUpdate) -> Result<Company, CoreError> {
        self.inner.update_company(update).await.result
    }

    /// [`AppCore::update_user`], with the idempotency key the edit was
    /// queued under (for harnesses that check each edit's fate on the cloud).
    pub async fn update_user_keyed(&self, user_id: &str, update: &UserUpdate) -> KeyedEdit<User> {
        self.inner.update_user(user_id, update).await
    }

    /// [`AppCore::update_company`], with the idempotency key the edit was
    /// queued under.
    pub async fn update_company_keyed(&self, update: &CompanyUpdate) -> KeyedEdit<Company> {
        self.inner.update_company(update).await
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
        let queued = self.inner.queue_user_edit(user_id, update, key).await?;
        self.inner.sync.wake();
        Ok(queued)
    }

    /// As [`AppCore::queue_user_edit`], for the company profile.
    pub async fn queue_company_edit(
        &self,
        update: &CompanyUpdate,
    ) -> Result<QueuedEdit<Company>, CoreError> {
        let key = uuid::Uuid::new_v4().to_string();
        let queued = self.inner.queue_company_edit(update, key).await?;
        self.inner.sync.wake();
        Ok(queued)
    }

    /// Idempotency keys of the signed-in user's edits still in the outbox,
    /// oldest first.
    pub async fn pending_edit_keys(&self) -> Result<Vec<String>, CoreError> {
        let session = self.inner.state.lock().await.require_session()?.clone();
        let cache = self.inner.cache()?;
        Ok(cache
            .outbox_batch(&session.user_id, &session.company_id, usize::MAX)
            .await?
            .into_iter()
            .map(|entry| entry.mutation.idempotency_key)
            .collect())
    }

    pub async fn refresh(&self) -> Result<SessionView, CoreError> {
        self.inner.refresh().await
    }

    /// Signs out (revoking the session on the cloud when reachable) and
    /// stops the sync. Queued edits stay for the same user's next session.
    pub async fn logout(&self) -> Result<(), CoreError> {
        self.inner.logout().await
    }

    pub async fn session(&self) -> Result<Option<SessionView>, CoreError> {
        self.inner.session().await
    }

    pub async fn list_users(
        &self,
        query: &str,
        offset: u32,
        limit: u32,
    ) -> Result<UsersPage, CoreError> {
        self.inner.list_users(query, offset, limit).await
    }

    pub async fn company(&self) -> Result<Company, CoreError> {
        self.inner.company().await
    }

    pub async fn set_cloud_url(&self, url: &str) -> Result<AppInfo, CoreError> {
        self.inner.set_cloud_url(url).await
    }

    /// Every change of the sync status (the shell forwards it to the UI as
    /// the `sync-status` event).
    pub fn subscribe_sync(&self) -> tokio::sync::watch::Receiver<SyncStatus> {
        self.inner.sync.subscribe()
    }

    /// The status now, with fresh counts from the cache.
    pub async fn sync_status(&self) -> SyncStatus {
        self.inner.current_status().await
    }

    /// Runs a sync pass now (waiting for one in flight) and returns the
    /// status after it. Offline is a status, not an error.
    pub async fn sync_now(&self) -> Result<SyncStatus, CoreError> {
        self.inner.state.lock().await.require_session()?;
        self.inner.sync_once().await;
        Ok(self.inner.current_status().await)
    }

    /// Hides a notice for good; returns the status without it.
    pub async fn dismiss_sync_notice(&self, id: i64) -> Result<SyncStatus, CoreError> {
        let session = self.inner.state.lock().await.require_session()?.clone();
        self.inner
            .cache()?
            .dismiss_notice(&session.user_id, id)
            .await?;
        let status = self.inner.current_status().await;
        self.inner.sync.publish(status.clone());
        Ok(status)
    }
}

impl Drop for AppCore {
    fn drop(&mut self) {
        self.inner.sync.abort();
    }
}

impl Inner {
    async fn open(config: CoreConfig) -> Result<Inner, CoreError> {
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
        Ok(Inner {
            data_dir,
            keys: config.key_store,
            policy,
            cache: RwLock::new(cache),
            cloud: RwLock::new(scope),
            state: LoginCell::default(),
            reset_lock: tokio::sync::Mutex::new(()),
            online: AtomicBool::new(false),
            sync: SyncShared::new(config.sync_interval),
            offline: Mutex::new(None),
            pending_password: Mutex::new(None),
        })
    }

    pub fn app_info(&self) -> AppInfo {
        AppInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            cloud_url: self.client().base_url().to_owned(),
            default_cloud_url: match &self.policy {
                Some(policy) => policy.cloud_url.clone(),
                None => DEFAULT_CLOUD_URL.to_owned(),
            },
            cloud_url_locked: self.policy.as_ref().is_some_and(|p| p.locked),
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
        // A readable cache holds people's queued edits and offline
        // sign-ins: nothing to recover, and nobody at the sign-in screen may
        // throw it away.
        if self.cache_opt().is_some() {
            return Err(CoreError::Refused {
                code: desktop_codes::CACHE_READABLE,
                message: "The local cache on this computer can be read, so there is nothing \
                          to reset."
                    .into(),
                retry_at: None,
            });
        }
        if let Ok(session) = self.state.lock().await.sign_out() {
            self.forget_token(&session.user_id);
        }
        self.session_ended();
        // Opens the old file when the keychain answers with its key now;
        // moves it aside only when that key definitely cannot read it.
        let scope = self.scope();
        let (cache, moved) =
            cache::reset(&scope.cache_path, &*self.keys, &scope.key_account).await?;
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
    async fn login(
        self: &Arc<Self>,
        email: &str,
        password: &str,
    ) -> Result<LoginOutcome, CoreError> {
        let cache = self.cache()?;
        let client = self.client();
        let email = email.trim();
        let response = match self.track(client.login(email, password).await) {
            Ok(response) => response,
            Err(CoreError::Offline { .. } | CoreError::CloudUnreachable { .. }) => {
                return self.offline_login(&cache, email, password).await;
            }
            Err(err) => {
                self.revoke_after_refused_login(&cache, email, password, &err)
                    .await;
                return Err(err);
            }
        };
        let password = Sensitive::new(password.to_owned());
        match response {
            LoginResponse::SignedIn {
                session,
                user,
                company,
            } => {
                self.complete_sign_in(
                    &cache,
                    &client,
                    session,
                    user,
                    company,
                    None,
                    Some(password),
                )
                .await
            }
            LoginResponse::SecondFactorRequired { challenge } => {
                self.hold_pending_password(Some(password));
                let pending = PendingLogin::new(email, challenge);
                let view = pending.challenge.clone();
                let replaced = self.state.lock().await.needs_second_factor(pending);
                self.end_replaced_session(replaced).await;
                tracing::info!("password accepted; a code was sent");
                Ok(LoginOutcome::NeedsSecondFactor { challenge: view })
            }
            LoginResponse::PhoneEnrollmentRequired { challenge } => {
                self.hold_pending_password(Some(password));
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
    async fn verify_code(self: &Arc<Self>, code: &str) -> Result<LoginOutcome, CoreError> {
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
                let password = self.take_pending_password();
                self.complete_sign_in(
                    &cache,
                    &client,
                    session,
                    user,
                    company,
                    Some(&challenge_id),
                    password,
                )
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
        self.hold_pending_password(None);
        Ok(())
    }

    async fn queue_user_edit(
        &self,
        user_id: &str,
        update: &UserUpdate,
        key: String,
    ) -> Result<QueuedEdit<User>, CoreError> {
        let (session, cache) = self.admin_context("editing users").await?;
        let (entity, queued) = cache
            .enqueue_user_edit(&session.user_id, &session.company_id, user_id, update, &key)
            .await?;
        if queued {
            tracing::info!(%user_id, "user edit queued");
        }
        Ok(QueuedEdit {
            idempotency_key: queued.then_some(key),
            entity,
        })
    }

    async fn queue_company_edit(
        &self,
        update: &CompanyUpdate,
        key: String,
    ) -> Result<QueuedEdit<Company>, CoreError> {
        let (session, cache) = self.admin_context("editing the company").await?;
        let (entity, queued) = cache
            .enqueue_company_edit(&session.user_id, &session.company_id, update, &key)
            .await?;
        if queued {
            tracing::info!(company_id = %session.company_id, "company edit queued");
        }
        Ok(QueuedEdit {
            idempotency_key: queued.then_some(key),
            entity,
        })
    }

    async fn update_user(&self, user_id: &str, update: &UserUpdate) -> KeyedEdit<User> {
        // The waiter exists before the row does, so a pass already in flight
        // that picks the row up answers the dialog rather than a notice.
        let (key, receiver) = self.sync.new_waiter();
        let queued = match self.queue_user_edit(user_id, update, key.clone()).await {
            Ok(queued) if queued.idempotency_key.is_some() => queued,
            other => {
                // Nothing was queued, so no pass can have counted on it.
                let _ = self.sync.forget_waiter(&key);
                return KeyedEdit {
                    idempotency_key: None,
                    result: other.map(|queued| queued.entity),
                };
            }
        };
        let result = match self.await_delivery(&key, receiver).await {
            Delivery::Applied {
                user: Some(user), ..
            } => Ok(user),
            Delivery::Refused(err) => Err(err),
            _ => Ok(queued.entity),
        };
        KeyedEdit {
            idempotency_key: Some(key),
            result,
        }
    }

    async fn update_company(&self, update: &CompanyUpdate) -> KeyedEdit<Company> {
        let (key, receiver) = self.sync.new_waiter();
        let queued = match self.queue_company_edit(update, key.clone()).await {
            Ok(queued) if queued.idempotency_key.is_some() => queued,
            other => {
                // Nothing was queued, so no pass can have counted on it.
                let _ = self.sync.forget_waiter(&key);
                return KeyedEdit {
                    idempotency_key: None,
                    result: other.map(|queued| queued.entity),
                };
            }
        };
        let result = match self.await_delivery(&key, receiver).await {
            Delivery::Applied {
                company: Some(company),
                ..
            } => Ok(company),
            Delivery::Refused(err) => Err(err),
            _ => Ok(queued.entity),
        };
        KeyedEdit {
            idempotency_key: Some(key),
            result,
        }
    }

    /// Wakes the sync for a queued edit and waits (bounded) for its answer.
    async fn await_delivery(
        &self,
        key: &str,
        mut receiver: tokio::sync::oneshot::Receiver<Delivery>,
    ) -> Delivery {
        self.sync.publish(self.current_status().await);
        self.sync.wake();
        let mut delivery = tokio::time::timeout(EDIT_WAIT, &mut receiver).await;
        // Too late for the dialog: a later refusal becomes a notice, unless
        // a pass already has the answer in hand and counted on this dialog
        // to show it; then it is moments away (bounded again all the same:
        // a core shutting down aborts passes).
        if delivery.is_err() && !self.sync.forget_waiter(key) {
            delivery = tokio::time::timeout(EDIT_WAIT, &mut receiver).await;
        }
        match delivery {
            Ok(Ok(delivery)) => delivery,
            _ => Delivery::NotSent,
        }
    }

    /// Re-fetches the signed-in user, the company and its users from the
    /// cloud into the cache (one transaction), and returns the fresh view.
    pub async fn refresh(&self) -> Result<SessionView, CoreError> {
        let session = self.state.lock().await.require_session()?.clone();
        if self.signed_in_offline() {
            // No cloud session until the sync resumes one.
            return Err(CoreError::Offline {
                url: self.client().base_url().to_owned(),
            });
        }
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
            offline_sign_in: self.signed_in_offline(),
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
        self.state.signed_in()?;
        let (users, total) = self.cache()?.list_users(query, offset, limit).await?;
        Ok(UsersPage { users, total })
    }

    pub async fn company(&self) -> Result<Company, CoreError> {
        let company_id = self.state.signed_in()?.company_id;
        self.cache()?
            .company(&company_id)
            .await?
            .ok_or(CoreError::NotSignedIn)
    }

    /// Validates (https, or http only to loopback), saves for the next start,
    /// and switches. A session belongs to its cloud: changing the URL signs
    /// out. Each cloud has its own cache (and keychain accounts): the new
    /// address opens its own, the old one stays untouched for a switch back,
    /// so nothing crosses between clouds and a mistaken change loses nothing.
    /// Refused when the machine policy locks the address.
    pub async fn set_cloud_url(&self, url: &str) -> Result<AppInfo, CoreError> {
        if let Some(policy) = self.policy.as_ref().filter(|p| p.locked) {
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
        if url != self.client().base_url() {
            let _guard = self.reset_lock.lock().await;
            self.logout().await?;
            let scope = CloudScope::new(&self.data_dir, &url)?;
            let cache = open_cache(&scope, &*self.keys).await?;
            let settings = Settings {
                cloud_url: Some(url.clone()),
            };
            let json = serde_json::to_string_pretty(&settings)
                .map_err(|err| CoreError::Io(std::io::Error::other(err)))?;
            std::fs::write(self.data_dir.join(SETTINGS_FILE), json)?;
            // A pending login belongs to the old cloud too.
            if self.state.lock().await.cancel() {
                self.hold_pending_password(None);
            }
            let old = self.write_cache(cache);
            *self.cloud.write().unwrap_or_else(|p| p.into_inner()) = scope;
            if let Some(old) = old {
                old.close().await;
            }
            self.online.store(false, Ordering::Relaxed);
            tracing::info!(%url, "cloud URL changed");
        }
        Ok(self.app_info())
    }

    /// The one path to `SignedIn`, after a password alone or after a code
    /// (`attempt` = the challenge it answered): the company and the user to
    /// the cache (one transaction), the token to the keychain; the sync it
    /// starts pulls the company's users (once, on a first sign-in here).
    #[allow(clippy::too_many_arguments)]
    async fn complete_sign_in(
        self: &Arc<Self>,
        cache: &Cache,
        client: &CloudClient,
        grant: SessionGrant,
        user: User,
        company: Company,
        attempt: Option<&Sensitive<String>>,
        password: Option<Sensitive<String>>,
    ) -> Result<LoginOutcome, CoreError> {
        let token = Sensitive::new(grant.token.clone());
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
        let account = self.token_account(&user.id);
        self.keys.set(&account, token.expose().as_bytes())?;
        let meta = SessionMeta {
            user_id: user.id.clone(),
            company_id: company.id.clone(),
            expires_at: grant.expires_at,
            signed_in_at: now_millis(),
        };
        if let Err(err) = cache.store_sign_in(&company, &user, &meta).await {
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
        *self.offline.lock().unwrap_or_else(|p| p.into_inner()) = None;
        if let Some(device_token) = &grant.device_token {
            if let Err(err) = self
                .keys
                .set(&self.device_account(&user.id), device_token.as_bytes())
            {
                tracing::warn!(error = %err, "could not keep the device token; offline resume will not work");
            }
        }
        if let Some(password) = password {
            self.save_verifier(cache, &user, password, attempt.is_some())
                .await;
        }
        self.start_sync();
        tracing::info!(user_id = %user.id, company_id = %company.id,
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
    pub(crate) async fn end_session(
        &self,
        session: &SignedInSession,
        revoke: bool,
    ) -> Result<(), CoreError> {
        let account = self.token_account(&session.user_id);
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
        self.session_ended();
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
                self.hold_pending_password(None);
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
            if err.is_session_rejected() || err.is_account_disabled() {
                let ended = self.state.lock().await.sign_out();
                if let Ok(session) = ended {
                    if err.is_account_disabled() {
                        self.revoke_disabled_account(&session.user_id).await;
                    }
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
    ) -> Result<(SignedInSession, Arc<Cache>), CoreError> {
        let session = self.state.lock().await.require_session()?.clone();
        let cache = self.cache()?;
        let me = cache.user(&session.user_id).await?;
        if !me.is_some_and(|me| me.role == Role::Admin) {
            return Err(CoreError::Forbidden { action });
        }
        Ok((session, cache))
    }

    pub(crate) fn session_token(
        &self,
        session: &SignedInSession,
    ) -> Result<Sensitive<String>, CoreError> {
        match self.keys.get(&self.token_account(&session.user_id))? {
            Some(bytes) => Ok(Sensitive::new(String::from_utf8_lossy(&bytes).into_owned())),
            None => Err(CoreError::NotSignedIn),
        }
    }

    /// Signs back in from the last run when its session has not expired and
    /// its token is still in the keychain; otherwise tidies up.
    async fn restore_session(self: &Arc<Self>) {
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
        let has_token = matches!(
            self.keys.get(&self.token_account(&meta.user_id)),
            Ok(Some(_))
        );
        if has_token && meta.expires_at > now_millis() {
            self.state.lock().await.password_accepted(SignedInSession {
                user_id: meta.user_id,
                company_id: meta.company_id,
                expires_at: meta.expires_at,
            });
            self.start_sync();
            tracing::info!("previous session restored");
        } else {
            self.forget_token(&meta.user_id);
            if let Err(err) = cache.clear_session().await {
                tracing::warn!(error = %err, "could not clear the stale session");
            }
        }
    }

    pub(crate) fn forget_token(&self, user_id: &str) {
        if let Err(err) = self.keys.delete(&self.token_account(user_id)) {
            tracing::warn!(error = %err, "could not delete a session token");
        }
    }

    /// Records whether the cloud answered, for `SessionView::online`.
    pub(crate) fn track<T>(&self, result: Result<T, CoreError>) -> Result<T, CoreError> {
        let offline = matches!(
            result,
            Err(CoreError::Offline { .. }
                | CoreError::CloudUnreachable { .. }
                | CoreError::CloudRedirected { .. })
        );
        self.online.store(!offline, Ordering::Relaxed);
        result
    }

    pub(crate) fn client(&self) -> CloudClient {
        self.scope().client
    }

    fn scope(&self) -> CloudScope {
        self.cloud.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Keychain account of `user_id`'s session token with the current cloud.
    pub(crate) fn token_account(&self, user_id: &str) -> String {
        token_account(&self.scope().ns, user_id)
    }

    /// Keychain account of `user_id`'s device token with the current cloud.
    pub(crate) fn device_account(&self, user_id: &str) -> String {
        device_account(&self.scope().ns, user_id)
    }

    pub(crate) fn cache_opt(&self) -> Option<Arc<Cache>> {
        self.cache.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn cache(&self) -> Result<Arc<Cache>, CoreError> {
        self.cache_opt().ok_or_else(|| CoreError::CacheUnreadable {
            reason: "the cache could not be opened at start".into(),
        })
    }

    /// The cloud refused a sign-in. `account_disabled` (only answered after
    /// a correct password) ends this account's offline access here; so does
    /// `invalid_credentials` for a password this computer would accept
    /// offline (changed on the cloud, or the account deleted). A wrong
    /// password that the verifier refuses too changes nothing, so a
    /// passer-by cannot wipe someone's offline access by mistyping.
    async fn revoke_after_refused_login(
        &self,
        cache: &Cache,
        email: &str,
        password: &str,
        err: &CoreError,
    ) {
        let reason = if err.is_account_disabled() {
            RevokedReason::Disabled
        } else if err.code() == codes::INVALID_CREDENTIALS {
            let Ok(Some(credential)) = cache.offline_credential(email).await else {
                return;
            };
            let verifier = credential.verifier.clone();
            let typed = Sensitive::new(password.to_owned());
            let known =
                tokio::task::spawn_blocking(move || offline::verify(&verifier, typed.expose()))
                    .await
                    .unwrap_or(false);
            if !known {
                return;
            }
            RevokedReason::Credentials
        } else {
            return;
        };
        self.revoke_offline_access(cache, None, Some(email), reason)
            .await;
    }

    /// The cloud said `user_id` is disabled: their offline access here ends.
    pub(crate) async fn revoke_disabled_account(&self, user_id: &str) {
        if let Some(cache) = self.cache_opt() {
            self.revoke_offline_access(&cache, Some(user_id), None, RevokedReason::Disabled)
                .await;
        }
    }

    /// Ends an account's offline access on this computer: verifier and
    /// marker in the cache (see `Cache::revoke_offline`), device token and
    /// session token from the keychain. Best effort per step, logged.
    pub(crate) async fn revoke_offline_access(
        &self,
        cache: &Cache,
        user_id: Option<&str>,
        email: Option<&str>,
        reason: RevokedReason,
    ) {
        if let Err(err) = cache
            .revoke_offline(user_id, email, reason, now_millis())
            .await
        {
            tracing::warn!(error = %err, "could not revoke offline access in the cache");
        }
        let user_id = match (user_id, email) {
            (Some(id), _) => Some(id.to_owned()),
            (None, Some(email)) => match cache.revoked_user_id(email).await {
                Ok(id) => id,
                Err(err) => {
                    tracing::warn!(error = %err, "could not look up the revoked account");
                    None
                }
            },
            (None, None) => None,
        };
        if let Some(user_id) = &user_id {
            if let Err(err) = self.keys.delete(&self.device_account(user_id)) {
                tracing::warn!(error = %err, "could not delete a device token");
            }
            self.forget_token(user_id);
        }
        tracing::info!(
            ?reason,
            user_id = user_id.as_deref().unwrap_or(""),
            "the cloud ended this account's offline access on this computer"
        );
    }

    /// Offline sign-in: the cached verifier and the company's offline policy
    /// decide (see `offline`). Success signs in without a cloud session; the
    /// sync resumes one when the cloud answers.
    async fn offline_login(
        self: &Arc<Self>,
        cache: &Cache,
        email: &str,
        password: &str,
    ) -> Result<LoginOutcome, CoreError> {
        let now = now_millis();
        if let Some(reason) = cache.offline_revoked(email).await? {
            return Err(offline::revoked(reason));
        }
        let credential = cache
            .offline_credential(email)
            .await?
            .ok_or_else(offline::unknown_user)?;
        offline::throttle(&credential, now)?;
        let verifier = credential.verifier.clone();
        let typed = Sensitive::new(password.to_owned());
        let matches =
            tokio::task::spawn_blocking(move || offline::verify(&verifier, typed.expose()))
                .await
                .unwrap_or(false);
        if !matches {
            let failures = cache
                .record_offline_failure(&credential.user_id, now)
                .await?;
            tracing::info!(failures, "wrong password for an offline sign-in");
            return Err(offline::wrong_password(failures));
        }
        let user = cache.user(&credential.user_id).await?;
        let company = match &user {
            Some(user) => cache.company(&user.company_id).await?,
            None => None,
        };
        offline::policy(&credential, user.as_ref(), company.as_ref(), now)?;
        let (Some(user), Some(company)) = (user, company) else {
            return Err(offline::unknown_user());
        };
        cache.clear_offline_failures(&user.id).await?;

        let signed_in = SignedInSession {
            user_id: user.id.clone(),
            company_id: company.id.clone(),
            // No cloud session yet: the resume sets the real expiry.
            expires_at: now.saturating_add(company.offline_policy.grace_ms()),
        };
        let mut state = self.state.lock().await;
        if let Some(previous) = state.session().cloned() {
            self.forget_token(&previous.user_id);
        }
        // A token left from an older session would be refused (401) and sign
        // this person out: the resume brings a fresh one.
        self.forget_token(&user.id);
        cache
            .set_session(&SessionMeta {
                user_id: user.id.clone(),
                company_id: company.id.clone(),
                expires_at: signed_in.expires_at,
                signed_in_at: now,
            })
            .await?;
        state.password_accepted(signed_in);
        drop(state);
        *self.offline.lock().unwrap_or_else(|p| p.into_inner()) = Some(OfflineSignIn {
            email: email.to_owned(),
            password: Sensitive::new(password.to_owned()),
        });
        self.start_sync();
        tracing::info!(user_id = %user.id, "signed in offline");
        Ok(LoginOutcome::SignedIn {
            session: SessionView {
                user,
                company,
                online: false,
                offline_sign_in: true,
                last_synced_at: cache.last_synced_at().await?,
            },
        })
    }

    /// Writes this person's offline verifier after an online sign-in. A
    /// failure only costs offline sign-in, so it is logged, not returned.
    async fn save_verifier(
        &self,
        cache: &Cache,
        user: &User,
        password: Sensitive<String>,
        second_factor: bool,
    ) {
        let verifier =
            tokio::task::spawn_blocking(move || offline::make_verifier(password.expose())).await;
        let now = now_millis();
        let saved = match verifier {
            Ok(Ok(verifier)) => {
                cache
                    .save_offline_credential(
                        &user.id,
                        &user.email,
                        &verifier,
                        now,
                        second_factor.then_some(now),
                    )
                    .await
            }
            Ok(Err(err)) => Err(err),
            Err(err) => Err(CoreError::Io(std::io::Error::other(err))),
        };
        if let Err(err) = saved {
            tracing::warn!(error = %err, "could not store the offline verifier");
        }
    }

    fn hold_pending_password(&self, password: Option<Sensitive<String>>) {
        *self
            .pending_password
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = password;
    }

    fn take_pending_password(&self) -> Option<Sensitive<String>> {
        self.pending_password
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    pub(crate) fn signed_in_offline(&self) -> bool {
        self.offline
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Whatever ended the session: the sync stops, the held password goes.
    fn session_ended(&self) {
        self.sync.stop();
        *self.offline.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.hold_pending_password(None);
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

/// Before caches were per cloud, one `cache.db` sat in the data dir: at the
/// first start after the upgrade it becomes the cache of the address in use
/// now (the one it was last synced with), so queued edits and offline
/// sign-ins survive the upgrade. Best effort: on any failure the old file
/// stays where it was (kept, never deleted) and this cloud starts empty.
fn adopt_legacy_cache(data_dir: &Path, scope: &CloudScope, keys: &dyn KeyStore) {
    let legacy = data_dir.join(CACHE_FILE);
    if !legacy.exists() || scope.cache_path.exists() {
        return;
    }
    let legacy_account = cache_key_account(data_dir);
    let adopted = (|| -> Result<bool, CoreError> {
        let Some(key) = keys.get(&legacy_account)? else {
            return Ok(false);
        };
        if let Some(dir) = scope.cache_path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        keys.set(&scope.key_account, &key)?;
        cache::move_with_sidecars(&legacy, &scope.cache_path)?;
        Ok(true)
    })();
    match adopted {
        Ok(true) => {
            if let Err(err) = keys.delete(&legacy_account) {
                tracing::warn!(error = %err, "could not delete the old cache key account");
            }
            tracing::info!(cloud = %scope.client.base_url(), "cache from before per-cloud caches adopted");
        }
        Ok(false) => {
            tracing::warn!("the cache from before per-cloud caches has no key; kept aside")
        }
        Err(err) => {
            tracing::warn!(error = %err, "could not adopt the cache from before per-cloud caches")
        }
    }
}

/// Opens a cloud's cache; `None` when it cannot be read now (the UI offers
/// `reset_cache`).
async fn open_cache(
    scope: &CloudScope,
    keys: &dyn KeyStore,
) -> Result<Option<Arc<Cache>>, CoreError> {
    match Cache::open(&scope.cache_path, keys, &scope.key_account).await {
        Ok(cache) => Ok(Some(Arc::new(cache))),
        Err(err @ (CoreError::CacheUnreadable { .. } | CoreError::Keychain { .. })) => {
            tracing::warn!(error = %err, "local cache unavailable; the UI offers a reset");
            Ok(None)
        }
        Err(err) => Err(err),
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
            policy: PolicySource::None,
            sync_interval: CoreConfig::DEFAULT_SYNC_INTERVAL,
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
        let cache = core.inner.cache_opt().unwrap();
        cache.store_login(&company(), &users, &meta).await.unwrap();
        cache.close().await;
        let account = core.inner.token_account("u1");
        drop(core);
        keys.set(&account, TOKEN.as_bytes()).unwrap();
        let core = core_at(dir, &url, keys).await;
        assert!(
            core.session().await.unwrap().is_some(),
            "set-up: the session must be restored from the cache"
        );
        core
    }

    #[tokio::test]
    async fn offline_login_of_someone_unknown_here_is_refused_and_stays_signed_out() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(MemoryKeyStore::default());
        let core = core_at(dir.path(), &dead_url().await, &keys).await;
        assert_eq!(core.app_info().cache_status, CacheStatus::Ready);
        let err = core.login("a@b.example", "pw").await.unwrap_err();
        assert_eq!(
            err.code(),
            "offline_unknown_user",
            "no verifier on this computer: the person must connect: {err:?}"
        );
        assert!(err.user_message().contains("Connect to the internet"));
        assert_eq!(token_in(&keys), None);
        assert_eq!(core.session().await.unwrap(), None);
        assert!(matches!(
            core.list_users("", 0, 50).await,
            Err(CoreError::NotSignedIn)
        ));
    }

    /// A core whose cache knows u1 (admin, offline verifier for `pw`) and
    /// whose cloud is unreachable.
    async fn known_offline(
        dir: &Path,
        keys: &Arc<MemoryKeyStore>,
        second_factor_at: Option<i64>,
    ) -> AppCore {
        let core = restored_offline(dir, keys, Role::Admin).await;
        let cache = core.inner.cache_opt().unwrap();
        let verifier = offline::make_verifier("pw-right").unwrap();
        cache
            .save_offline_credential(
                "u1",
                "alice@desertmotors.example",
                &verifier,
                now_millis(),
                second_factor_at,
            )
            .await
            .unwrap();
        core.logout().await.unwrap();
        core
    }

    #[tokio::test]
    async fn offline_login_checks_the_verifier_counts_failures_across_restarts_and_signs_in() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(MemoryKeyStore::default());
        let core = known_offline(dir.path(), &keys, Some(now_millis())).await;
        let err = core
            .login("ALICE@desertmotors.example", "wrong")
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid_credentials", "{err:?}");
        core.inner.cache_opt().unwrap().close().await;
        // The same cloud address: each address has its own cache.
        let url = core.app_info().cloud_url;
        drop(core);
        let core = core_at(dir.path(), &url, &keys).await;
        let credential = core
            .inner
            .cache_opt()
            .unwrap()
            .offline_credential("alice@desertmotors.example")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            credential.failures, 1,
            "failures are in the cache: they survive a restart"
        );

        let outcome = core
            .login("alice@desertmotors.example", "pw-right")
            .await
            .unwrap();
        let LoginOutcome::SignedIn { session } = outcome else {
            panic!("a right password within the policy signs in offline");
        };
        assert!(session.offline_sign_in && !session.online);
        assert!(core.session().await.unwrap().unwrap().offline_sign_in);
        assert_eq!(
            token_in(&keys),
            None,
            "no cloud session token until the resume"
        );
        let credential = core
            .inner
            .cache_opt()
            .unwrap()
            .offline_credential("alice@desertmotors.example")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(credential.failures, 0, "a success clears the count");
    }

    #[tokio::test]
    async fn offline_login_of_a_2fa_user_outside_the_grace_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(MemoryKeyStore::default());
        // u1 has 2FA on (test fixture) and the company allows 72 h.
        let core = known_offline(dir.path(), &keys, Some(now_millis() - 73 * 3_600_000)).await;
        let err = core
            .login("alice@desertmotors.example", "pw-right")
            .await
            .unwrap_err();
        assert_eq!(err.code(), "offline_grace_expired", "{err:?}");
        assert_eq!(core.session().await.unwrap(), None);
    }

    #[tokio::test]
    async fn missing_key_reports_unreadable_and_reset_recovers() {
        let url = dead_url().await;
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(MemoryKeyStore::default());
        let core = core_at(dir.path(), &url, &keys).await;
        core.inner.cache_opt().unwrap().close().await;
        let scope = core.inner.scope();
        drop(core);
        // Someone cleared the keychain entry of the cache key.
        keys.delete(&scope.key_account).unwrap();

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
        let kept: Vec<_> = std::fs::read_dir(scope.cache_path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("cache.db.unreadable-"))
            .collect();
        assert!(!kept.is_empty(), "the old cache is kept aside, not deleted");
    }

    fn kept_aside(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".unreadable-"))
            .collect()
    }

    /// Finding 11: a keychain that is locked at start (a transient error)
    /// must never cost the cache and the edits queued in it.
    #[tokio::test]
    async fn a_keychain_error_never_resets_the_cache_or_its_queued_edits() {
        use crate::keystore::tests::FlakyKeyStore;
        let dir = tempfile::tempdir().unwrap();
        let memory = Arc::new(MemoryKeyStore::default());
        let core = restored_offline(dir.path(), &memory, Role::Admin).await;
        let update = UserUpdate {
            display_name: Some("Bob (queued offline)".into()),
            ..UserUpdate::default()
        };
        core.update_user("u2", &update).await.unwrap();
        assert_eq!(core.sync_status().await.pending_edits, 1, "set-up: queued");
        let url = core.app_info().cloud_url;
        core.inner.cache_opt().unwrap().close().await;
        drop(core);

        let flaky = Arc::new(FlakyKeyStore::default());
        *flaky.inner.entries.lock().unwrap() = memory.entries.lock().unwrap().clone();
        flaky.set_down(true);
        let core = AppCore::open(CoreConfig {
            data_dir: dir.path().to_owned(),
            cloud_url: url,
            key_store: flaky.clone(),
            policy: PolicySource::None,
            sync_interval: CoreConfig::DEFAULT_SYNC_INTERVAL,
        })
        .await
        .unwrap();
        assert_eq!(core.app_info().cache_status, CacheStatus::Unreadable);
        let scope = core.inner.scope();
        let (account, cache_dir) = (
            scope.key_account,
            scope.cache_path.parent().unwrap().to_owned(),
        );
        let key = flaky.inner.get(&account).unwrap();

        let err = core.reset_cache().await.unwrap_err();
        assert_eq!(err.code(), "keychain_error", "{err:?}");
        assert!(
            kept_aside(&cache_dir).is_empty(),
            "a keychain error moves nothing aside"
        );
        assert_eq!(
            flaky.inner.get(&account).unwrap(),
            key,
            "nor replaces the key"
        );
        assert_eq!(core.app_info().cache_status, CacheStatus::Unreadable);

        // The keychain is unlocked: the same cache opens, edit and all.
        flaky.set_down(false);
        let info = core.reset_cache().await.unwrap();
        assert_eq!(info.cache_status, CacheStatus::Ready);
        assert!(kept_aside(&cache_dir).is_empty(), "nothing was lost");
        let cache = core.inner.cache_opt().unwrap();
        assert_eq!(
            cache.pending_edits("u1").await.unwrap(),
            1,
            "the queued edit survived"
        );
        assert_eq!(flaky.inner.get(&account).unwrap(), key);

        // Anyone at the sign-in screen: a readable cache is not thrown away.
        let err = core.reset_cache().await.unwrap_err();
        assert_eq!(err.code(), "cache_readable", "{err:?}");
        assert!(kept_aside(&cache_dir).is_empty());
        assert_eq!(cache.pending_edits("u1").await.unwrap(), 1);
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

    /// Finding 1: a machine policy locks the address; neither the config
    /// (environment, saved setting) nor Server settings can change it.
    #[cfg(unix)]
    #[tokio::test]
    async fn a_locked_policy_wins_over_the_config_and_refuses_changes() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let etc = tempfile::tempdir().unwrap();
        let path = etc.path().join("policy.json");
        std::fs::write(&path, r#"{"cloud_url": "https://cloud.dealer.example"}"#).unwrap();
        let owner_uid = std::fs::metadata(&path).unwrap().uid();
        let core = AppCore::open(CoreConfig {
            data_dir: dir.path().to_owned(),
            cloud_url: "http://127.0.0.1:9".into(),
            key_store: Arc::new(MemoryKeyStore::default()),
            policy: PolicySource::File { path, owner_uid },
            sync_interval: CoreConfig::DEFAULT_SYNC_INTERVAL,
        })
        .await
        .unwrap();
        let info = core.app_info();
        assert_eq!(info.cloud_url, "https://cloud.dealer.example");
        assert_eq!(info.default_cloud_url, "https://cloud.dealer.example");
        assert!(info.cloud_url_locked);
        let err = core
            .set_cloud_url("http://127.0.0.1:8787")
            .await
            .unwrap_err();
        assert_eq!(err.code(), "cloud_url_locked", "{err:?}");
        assert!(
            err.user_message().contains("organisation"),
            "{}",
            err.user_message()
        );
        assert_eq!(core.app_info().cloud_url, "https://cloud.dealer.example");
        assert_eq!(
            AppCore::saved_cloud_url(dir.path()),
            None,
            "nothing was saved"
        );
    }

    #[tokio::test]
    async fn without_a_policy_the_default_is_the_builds_and_nothing_is_locked() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(MemoryKeyStore::default());
        let core = core_at(dir.path(), "https://relay.example", &keys).await;
        let info = core.app_info();
        assert_eq!(info.default_cloud_url, DEFAULT_CLOUD_URL);
        assert!(!info.cloud_url_locked);
        assert_ne!(
            info.cloud_url, info.default_cloud_url,
            "the UI warns on this"
        );
        assert!(
            cfg!(debug_assertions) || DEFAULT_CLOUD_URL.starts_with("https://"),
            "release builds default to https"
        );
    }

    /// Finding 1: each address has its own cache and keychain accounts.
    #[tokio::test]
    async fn each_cloud_address_has_its_own_cache_and_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(MemoryKeyStore::default());
        let core = restored_offline(dir.path(), &keys, Role::Admin).await;
        let first = core.app_info().cloud_url;
        core.update_user(
            "u2",
            &UserUpdate {
                display_name: Some("Queued".into()),
                ..UserUpdate::default()
            },
        )
        .await
        .unwrap();
        let tokens_before = core.inner.token_account("u1");
        core.set_cloud_url("https://other.example").await.unwrap();
        assert_ne!(core.inner.token_account("u1"), tokens_before);
        let other = core.inner.cache_opt().unwrap();
        assert_eq!(
            other.pending_edits("u1").await.unwrap(),
            0,
            "nothing crossed"
        );
        assert_eq!(
            other.list_users("", 0, 10).await.unwrap().1,
            0,
            "no rows crossed"
        );
        core.set_cloud_url(&first).await.unwrap();
        let back = core.inner.cache_opt().unwrap();
        assert_eq!(
            back.pending_edits("u1").await.unwrap(),
            1,
            "switching back finds the first cloud's outbox intact"
        );
    }

    /// A data dir from before per-cloud caches: its cache (queued edit and
    /// all) becomes the cache of the address in use at the first start.
    #[tokio::test]
    async fn the_cache_from_before_per_cloud_caches_is_adopted_by_the_current_address() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(MemoryKeyStore::default());
        let core = restored_offline(dir.path(), &keys, Role::Admin).await;
        core.update_user(
            "u2",
            &UserUpdate {
                display_name: Some("Queued before the upgrade".into()),
                ..UserUpdate::default()
            },
        )
        .await
        .unwrap();
        let url = core.app_info().cloud_url;
        let scope = core.inner.scope();
        core.inner.cache_opt().unwrap().close().await;
        drop(core);
        // Lay it out as the previous version did.
        let data_dir = dir.path().canonicalize().unwrap();
        let legacy = data_dir.join(CACHE_FILE);
        cache::move_with_sidecars(&scope.cache_path, &legacy).unwrap();
        let key = keys.get(&scope.key_account).unwrap().unwrap();
        keys.delete(&scope.key_account).unwrap();
        keys.set(&cache_key_account(&data_dir), &key).unwrap();

        let core = core_at(dir.path(), &url, &keys).await;
        assert_eq!(core.app_info().cache_status, CacheStatus::Ready);
        assert!(!legacy.exists(), "moved, not copied");
        assert_eq!(
            core.inner
                .cache_opt()
                .unwrap()
                .pending_edits("u1")
                .await
                .unwrap(),
            1,
            "the queued edit survived the upgrade"
        );
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
    async fn an_offline_admin_edit_is_applied_locally_and_queued() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(MemoryKeyStore::default());
        let core = restored_offline(dir.path(), &keys, Role::Admin).await;
        let update = UserUpdate {
            mobile_phone: Some(Some("(480) 555-9999".into())),
            ..UserUpdate::default()
        };
        let user = core
            .update_user("u2", &update)
            .await
            .expect("offline, an admin's edit is accepted optimistically");
        assert_eq!(
            user.mobile_phone.as_deref(),
            Some("+14805559999"),
            "normalised as the cloud will"
        );
        let page = core.list_users("bob", 0, 10).await.unwrap();
        assert_eq!(page.users[0], user, "the cache shows the edit at once");
        let status = core.sync_now().await.unwrap();
        assert_eq!(
            status.pending_edits, 1,
            "the edit waits in the outbox: {status:?}"
        );
        assert_eq!(status.state, crate::ipc::SyncState::Offline, "{status:?}");
        assert!(
            status.next_retry_at.is_some(),
            "the status bar can say when it retries"
        );

        let err = core
            .update_user(
                "u2",
                &UserUpdate {
                    mobile_phone: Some(Some("12ab".into())),
                    ..UserUpdate::default()
                },
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid_phone", "{err:?}");
        assert_eq!(
            core.sync_status().await.pending_edits,
            1,
            "an invalid edit writes nothing"
        );
        let session = core.session().await.unwrap().expect("still signed in");
        assert!(!session.online, "the failed calls mark the app offline");

        let queued = core
            .queue_user_edit(
                "u2",
                &UserUpdate {
                    display_name: Some("Robert".into()),
                    ..UserUpdate::default()
                },
            )
            .await
            .unwrap();
        let key = queued
            .idempotency_key
            .expect("a change is queued with its key");
        assert_eq!(queued.entity.display_name, "Robert");
        let keys_now = core.pending_edit_keys().await.unwrap();
        assert_eq!(keys_now.len(), 2);
        assert_eq!(keys_now[1], key, "pending keys in edit order");
        let same = core
            .queue_user_edit(
                "u2",
                &UserUpdate {
                    display_name: Some("Robert".into()),
                    ..UserUpdate::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            same.idempotency_key, None,
            "nothing changed: nothing queued"
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
