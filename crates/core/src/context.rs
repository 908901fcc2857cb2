//! The handles every part of the core shares: the cache slot, the cloud
//! (client and the name of its local state), the keychain, the login state,
//! the online flag and the sync's shared state. Imports nothing above it
//! (`session`, `edits`, `sync`, `app` use it; it uses none of them).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use sha2::{Digest, Sha256};

use crate::cache::{self, Cache};
use crate::client::{validate_cloud_url, CloudClient};
use crate::error::CoreError;
use crate::keystore::KeyStore;
use crate::policy::CloudPolicy;
use crate::sensitive::Sensitive;
use crate::session::state::LoginCell;
use crate::sync::shared::SyncShared;
use crate::views::LockedSession;

pub(crate) const CACHE_FILE: &str = "cache.db";
/// One folder per cloud under the data dir (see [`cloud_cache_path`]).
const CLOUDS_DIR: &str = "clouds";

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
    pub(crate) cache_path: PathBuf,
    pub(crate) key_account: String,
}

impl CloudScope {
    pub(crate) fn new(data_dir: &Path, url: &str) -> Result<Self, CoreError> {
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

/// A sign-in checked on this device: the password stays in memory (never on
/// disk) to resume a cloud session when the network returns.
#[derive(Clone)]
pub(crate) struct OfflineSignIn {
    pub email: String,
    pub password: Sensitive<String>,
}

/// An offline sign-in waiting for the authenticator app's code
/// (`session::offline_app`): the password checked here and the app's
/// secret, both in memory only.
#[derive(Debug)]
pub(crate) struct OfflineAppAttempt {
    pub email: String,
    pub user_id: String,
    pub password: Sensitive<String>,
    pub secret: Sensitive<String>,
    pub tries_left: u32,
    pub expires_at: i64,
}

/// Starts (or restarts) the background sync for the session now signed in.
/// Given by `app` at open (it is `sync::start`): the session code starts the
/// sync without depending on the sync code, which depends on it.
pub(crate) type SyncStarter = fn(&Arc<Context>);

/// Shared by the facade, the session code, the edits and the sync task
/// (which holds it weakly: dropping the core stops it).
pub(crate) struct Context {
    pub(crate) data_dir: PathBuf,
    pub(crate) keys: Arc<dyn KeyStore>,
    /// The machine-wide policy read at start (`None`: there is none).
    pub(crate) policy: Option<CloudPolicy>,
    /// `None` while the cache is unreadable (see `reset_cache`).
    cache: RwLock<Option<Arc<Cache>>>,
    /// The cloud and its local state; replaced (with the cache) by
    /// `set_cloud_url`. One key per cache file, so two data dirs or two
    /// clouds never overwrite each other's key.
    cloud: RwLock<CloudScope>,
    pub(crate) state: LoginCell,
    /// Serialises reset_cache and set_cloud_url so they cannot race on files.
    pub(crate) reset_lock: tokio::sync::Mutex<()>,
    pub(crate) online: AtomicBool,
    pub(crate) sync: SyncShared,
    start_sync: SyncStarter,
    /// Set while signed in offline (until the session resumes).
    pub(crate) offline: Mutex<Option<OfflineSignIn>>,
    /// The password of a login waiting for its code: the offline verifier is
    /// written only once the code is verified.
    pending_password: Mutex<Option<Sensitive<String>>>,
    /// An offline sign-in waiting for the authenticator app's code.
    offline_app: Mutex<Option<OfflineAppAttempt>>,
    /// The id of an open re-authentication attempt (`session::reauth`).
    reauth_attempt: Mutex<Option<Sensitive<String>>>,
    /// Set while the session is locked (see `session::lock`); the cache's
    /// `meta` keeps the same fact across restarts.
    locked: Mutex<Option<LockedSession>>,
    /// Why the sync ended the session (the cloud's own words), until the UI
    /// reads it once from `session()` or someone signs in.
    end_reason: Mutex<Option<String>>,
}

impl Context {
    pub(crate) fn new(
        data_dir: PathBuf,
        keys: Arc<dyn KeyStore>,
        policy: Option<CloudPolicy>,
        scope: CloudScope,
        cache: Option<Arc<Cache>>,
        sync: SyncShared,
        start_sync: SyncStarter,
    ) -> Context {
        Context {
            data_dir,
            keys,
            policy,
            cache: RwLock::new(cache),
            cloud: RwLock::new(scope),
            state: LoginCell::default(),
            reset_lock: tokio::sync::Mutex::new(()),
            online: AtomicBool::new(false),
            sync,
            start_sync,
            offline: Mutex::new(None),
            pending_password: Mutex::new(None),
            reauth_attempt: Mutex::new(None),
            offline_app: Mutex::new(None),
            end_reason: Mutex::new(None),
            locked: Mutex::new(None),
        }
    }

    /// See [`SyncStarter`].
    pub(crate) fn start_sync(self: &Arc<Self>) {
        (self.start_sync)(self)
    }

    /// Switches to another cloud and its cache (the caller has signed out).
    /// Returns the previous cache, for the caller to close.
    pub(crate) fn switch_cloud(
        &self,
        scope: CloudScope,
        cache: Option<Arc<Cache>>,
    ) -> Option<Arc<Cache>> {
        let old = self.write_cache(cache);
        *self.cloud.write().unwrap_or_else(|p| p.into_inner()) = scope;
        self.online.store(false, Ordering::Relaxed);
        old
    }

    pub(crate) fn client(&self) -> CloudClient {
        self.scope().client
    }

    pub(crate) fn scope(&self) -> CloudScope {
        self.cloud.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn cache_opt(&self) -> Option<Arc<Cache>> {
        self.cache.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn cache(&self) -> Result<Arc<Cache>, CoreError> {
        self.cache_opt().ok_or_else(|| CoreError::CacheUnreadable {
            reason: "the cache could not be opened at start".into(),
        })
    }

    pub(crate) fn write_cache(&self, cache: Option<Arc<Cache>>) -> Option<Arc<Cache>> {
        let mut slot = self.cache.write().unwrap_or_else(|p| p.into_inner());
        std::mem::replace(&mut *slot, cache)
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

    pub(crate) fn signed_in_offline(&self) -> bool {
        self.offline
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    pub(crate) fn hold_pending_password(&self, password: Option<Sensitive<String>>) {
        *self
            .pending_password
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = password;
    }

    pub(crate) fn hold_offline_app(&self, attempt: Option<OfflineAppAttempt>) {
        *self.offline_app.lock().unwrap_or_else(|p| p.into_inner()) = attempt;
    }

    pub(crate) fn take_offline_app(&self) -> Option<OfflineAppAttempt> {
        self.offline_app
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    pub(crate) fn hold_reauth_attempt(&self, attempt: Option<Sensitive<String>>) {
        *self
            .reauth_attempt
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = attempt;
    }

    pub(crate) fn reauth_attempt(&self) -> Option<Sensitive<String>> {
        self.reauth_attempt
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn take_pending_password(&self) -> Option<Sensitive<String>> {
        self.pending_password
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    pub(crate) fn locked(&self) -> Option<LockedSession> {
        self.locked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn set_locked(&self, locked: Option<LockedSession>) {
        *self.locked.lock().unwrap_or_else(|p| p.into_inner()) = locked;
    }

    /// Keeps (or, with `None`, forgets) why the session ended.
    pub(crate) fn set_end_reason(&self, reason: Option<String>) {
        *self.end_reason.lock().unwrap_or_else(|p| p.into_inner()) = reason;
    }

    /// Why the session ended, once.
    pub(crate) fn take_end_reason(&self) -> Option<String> {
        self.end_reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Whatever ended the session: the sync stops, the held password goes,
    /// no lock is left.
    pub(crate) fn session_ended(&self) {
        self.set_locked(None);
        self.sync.stop();
        *self.offline.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.hold_pending_password(None);
    }
}

/// Before caches were per cloud, one `cache.db` sat in the data dir: at the
/// first start after the upgrade it becomes the cache of the address in use
/// now (the one it was last synced with), so queued edits and offline
/// sign-ins survive the upgrade. Best effort: on any failure the old file
/// stays where it was (kept, never deleted) and this cloud starts empty.
pub(crate) fn adopt_legacy_cache(data_dir: &Path, scope: &CloudScope, keys: &dyn KeyStore) {
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
pub(crate) async fn open_cache(
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

pub(crate) fn cache_key_account(data_dir: &Path) -> String {
    let digest = Sha256::digest(data_dir.to_string_lossy().as_bytes());
    format!("cache-key:{}", &hex::encode(digest)[..16])
}
