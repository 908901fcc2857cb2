//! `AppCore`: the one facade the desktop shell (and the end-to-end tests) use.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use secureclose_protocol::{Company, LoginResponse};
use sha2::{Digest, Sha256};

use crate::auth::{token_account, LoginState, SignedInSession};
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

    /// Online login: password to the cloud, token to the keychain, company
    /// and users to the cache (one transaction), then `SignedIn`.
    pub async fn login(&self, email: &str, password: &str) -> Result<LoginOutcome, CoreError> {
        let cache = self.cache()?;
        let client = self.client();
        let response = self.track(client.login(email.trim(), password).await)?;
        let LoginResponse::SignedIn {
            session,
            user,
            company,
        } = response
        else {
            // Replaced by the second-factor states of the login state machine.
            return Err(CoreError::Cloud {
                status: 501,
                code: "second_factor_unsupported".into(),
                message: "This version of SecureClose cannot complete a two-factor sign-in yet."
                    .into(),
            });
        };
        let token = Sensitive::new(session.token.clone());
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
            expires_at: session.expires_at,
            signed_in_at: now_millis(),
        };
        if let Err(err) = cache.store_login(&company, &users, &meta).await {
            self.forget_token(&user.id);
            *state = LoginState::SignedOut;
            return Err(err);
        }
        state.password_accepted(SignedInSession {
            user_id: user.id.clone(),
            company_id: company.id.clone(),
            expires_at: session.expires_at,
        });
        drop(state);
        tracing::info!(user_id = %user.id, company_id = %company.id, users = users.len(), "signed in");
        Ok(LoginOutcome::SignedIn {
            session: SessionView {
                user,
                company,
                online: true,
                last_synced_at: cache.last_synced_at().await?,
            },
        })
    }

    /// Revokes the session on the cloud (best effort: offline sign-out must
    /// still work), deletes the token, and signs out. The encrypted cache is
    /// kept. Signing out twice is not an error.
    pub async fn logout(&self) -> Result<(), CoreError> {
        let Ok(session) = self.state.lock().await.sign_out() else {
            return Ok(());
        };
        let account = token_account(&session.user_id);
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
        self.keys.delete(&account)?;
        if let Some(cache) = self.cache_opt() {
            cache.clear_session().await?;
        }
        tracing::info!(user_id = %session.user_id, "signed out");
        Ok(())
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

fn cache_key_account(data_dir: &Path) -> String {
    let digest = Sha256::digest(data_dir.to_string_lossy().as_bytes());
    format!("cache-key:{}", &hex::encode(digest)[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::tests::{dead_url, fake_cloud, PASSWORD, TOKEN};
    use crate::keystore::tests::MemoryKeyStore;

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

    #[tokio::test]
    async fn login_caches_the_company_and_users_and_keeps_the_token_out_of_the_cache() {
        let (url, _server) = fake_cloud().await;
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(MemoryKeyStore::default());
        let core = core_at(dir.path(), &url, &keys).await;
        assert_eq!(core.app_info().cache_status, CacheStatus::Ready);
        assert_eq!(core.session().await.unwrap(), None, "starts signed out");
        assert!(matches!(
            core.list_users("", 0, 50).await,
            Err(CoreError::NotSignedIn)
        ));

        let LoginOutcome::SignedIn { session } = core
            .login("alice@desertmotors.example", PASSWORD)
            .await
            .unwrap();
        assert_eq!(session.user.email, "alice@desertmotors.example");
        assert!(session.online && session.last_synced_at.is_some());
        assert_eq!(
            token_in(&keys).as_deref(),
            Some(TOKEN.as_bytes()),
            "the session token goes to the keychain"
        );
        let page = core.list_users("car", 0, 50).await.unwrap();
        assert_eq!((page.total, page.users[0].id.as_str()), (1, "u3"));
        assert_eq!(core.company().await.unwrap().name, "Desert Motors");
        assert_eq!(
            core.session().await.unwrap().unwrap().user.id,
            "u1",
            "session is read back from the cache"
        );

        // The token must be nowhere in the data dir.
        core.cache_opt().unwrap().close().await;
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            // A -wal/-shm may vanish as SQLite finishes closing.
            let Ok(bytes) = std::fs::read(entry.unwrap().path()) else {
                continue;
            };
            assert!(
                !bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
                "the token must never be written to disk"
            );
        }
    }

    #[tokio::test]
    async fn users_are_readable_offline_after_a_restart() {
        let (url, server) = fake_cloud().await;
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(MemoryKeyStore::default());
        let core = core_at(dir.path(), &url, &keys).await;
        core.login("alice@desertmotors.example", PASSWORD)
            .await
            .unwrap();
        core.cache_opt().unwrap().close().await;
        drop(core);
        server.abort();

        let core = core_at(dir.path(), &url, &keys).await;
        let session = core.session().await.unwrap().expect("session restored");
        assert!(
            !session.online,
            "no cloud call has succeeded since the start"
        );
        assert_eq!(
            core.list_users("", 0, 50).await.unwrap().total,
            3,
            "the cache serves the users without the cloud"
        );
        core.logout().await.expect("sign-out works offline");
        assert_eq!(token_in(&keys), None, "the token is deleted even offline");
        assert_eq!(core.session().await.unwrap(), None);
    }

    #[tokio::test]
    async fn logout_deletes_the_token_and_keeps_the_cache() {
        let (url, _server) = fake_cloud().await;
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(MemoryKeyStore::default());
        let core = core_at(dir.path(), &url, &keys).await;
        core.login("alice@desertmotors.example", PASSWORD)
            .await
            .unwrap();
        core.logout().await.unwrap();
        assert_eq!(token_in(&keys), None);
        assert!(matches!(core.company().await, Err(CoreError::NotSignedIn)));
        core.logout().await.expect("a second sign-out is harmless");
        let cache = core.cache_opt().unwrap();
        assert_eq!(
            cache.list_users("", 0, 10).await.unwrap().1,
            3,
            "the encrypted cache stays for the next sign-in"
        );
        drop(cache);
        let restarted = core_at(dir.path(), &url, &keys).await;
        assert_eq!(
            restarted.session().await.unwrap(),
            None,
            "no session comes back"
        );
    }

    #[tokio::test]
    async fn wrong_password_and_offline_are_errors_and_stay_signed_out() {
        let (url, _server) = fake_cloud().await;
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(MemoryKeyStore::default());
        let core = core_at(dir.path(), &url, &keys).await;
        let err = core.login("a@b.example", "wrong").await.unwrap_err();
        assert_eq!(err.code(), "invalid_credentials");
        assert_eq!(core.session().await.unwrap(), None);

        let dead = dead_url().await;
        let core = core_at(dir.path(), &dead, &keys).await;
        let err = core.login("a@b.example", PASSWORD).await.unwrap_err();
        assert_eq!(err.code(), "offline", "got {err:?}");
        assert_eq!(token_in(&keys), None);
    }

    #[tokio::test]
    async fn missing_key_reports_unreadable_and_reset_recovers() {
        let (url, _server) = fake_cloud().await;
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(MemoryKeyStore::default());
        let core = core_at(dir.path(), &url, &keys).await;
        core.login("alice@desertmotors.example", PASSWORD)
            .await
            .unwrap();
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
        let err = core
            .login("alice@desertmotors.example", PASSWORD)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "cache_unreadable");

        let info = core.reset_cache().await.unwrap();
        assert_eq!(info.cache_status, CacheStatus::Ready);
        let kept: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("cache.db.unreadable-"))
            .collect();
        assert!(!kept.is_empty(), "the old cache is kept aside, not deleted");
        core.login("alice@desertmotors.example", PASSWORD)
            .await
            .expect("login re-syncs into the fresh cache");
        assert_eq!(core.list_users("", 0, 50).await.unwrap().total, 3);
    }

    #[tokio::test]
    async fn set_cloud_url_validates_persists_and_signs_out() {
        let (url, _server) = fake_cloud().await;
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(MemoryKeyStore::default());
        let core = core_at(dir.path(), &url, &keys).await;
        core.login("alice@desertmotors.example", PASSWORD)
            .await
            .unwrap();
        let err = core
            .set_cloud_url("http://cloud.example")
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid_cloud_url");
        assert!(
            core.session().await.unwrap().is_some(),
            "a refused URL changes nothing"
        );

        let info = core.set_cloud_url("https://cloud.example/").await.unwrap();
        assert_eq!(info.cloud_url, "https://cloud.example");
        assert_eq!(
            AppCore::saved_cloud_url(dir.path()).as_deref(),
            Some("https://cloud.example"),
            "the setting survives a restart"
        );
        assert_eq!(
            core.session().await.unwrap(),
            None,
            "a session belongs to the cloud that issued it"
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

    #[test]
    fn each_data_dir_gets_its_own_key_account() {
        assert_ne!(
            cache_key_account(Path::new("/a")),
            cache_key_account(Path::new("/b")),
            "two data dirs sharing a key account would make one cache unreadable"
        );
    }
}
