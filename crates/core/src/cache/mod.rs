//! The encrypted local cache: SQLite + SQLCipher through sqlx.
//!
//! The key is 32 random bytes kept in the OS keychain and handed to SQLCipher
//! as a raw key (`x'..'`), so opening costs no PBKDF2. A cache that cannot be
//! decrypted is reported as `CoreError::CacheUnreadable`; it is only ever moved
//! aside by an explicit [`reset`], never deleted.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::ConnectOptions;
use zeroize::Zeroizing;

use crate::error::CoreError;
use crate::keystore::KeyStore;
use crate::sensitive::Sensitive;

mod company;
mod notices;
mod offline_credentials;
mod outbox;
mod session;
mod users;

pub use offline_credentials::{OfflineCredential, RevokedReason};
pub use outbox::{OutboxEntry, COMPANY_SUBJECT};
pub use session::{store_login_in, SessionMeta};
pub use users::list_users_in;
#[cfg(test)]
use users::{upsert_users, UPSERT_CHUNK};

const KEY_LEN: usize = 32;
/// SQLite's "file is not a database": what SQLCipher says for a wrong key.
const SQLITE_NOTADB: &str = "26";
/// Upper bound on one page, so a UI bug cannot load 100k rows at once.
pub const MAX_PAGE: u32 = 500;

pub struct Cache {
    pool: SqlitePool,
    path: PathBuf,
}

pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Cache {
    /// Opens the cache at `path` with the key stored under `key_account`,
    /// creating key and file when neither exists yet.
    pub async fn open(
        path: &Path,
        keys: &dyn KeyStore,
        key_account: &str,
    ) -> Result<Cache, CoreError> {
        let stored = keys.get(key_account)?.map(Sensitive::new);
        let file_exists = path.exists();
        let key = match stored {
            Some(key) if key.expose().len() == KEY_LEN => key,
            Some(_) => {
                return Err(CoreError::CacheUnreadable {
                    reason: "the cache key in the keychain has the wrong length".into(),
                })
            }
            // A file without its key is unreadable; making a new key here would
            // overwrite the only hope of reading it.
            None if file_exists => {
                return Err(CoreError::CacheUnreadable {
                    reason: "the cache key is missing from the keychain".into(),
                })
            }
            None => new_key(keys, key_account)?,
        };
        Self::connect(path, &key).await
    }

    async fn connect(path: &Path, key: &Sensitive<Vec<u8>>) -> Result<Cache, CoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        restrict_to_owner(path)?;
        let pragma_key = Zeroizing::new(format!("\"x'{}'\"", hex::encode(key.expose())));
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            // sqlx runs `key` before any other pragma (it is pre-registered first).
            .pragma("key", pragma_key.as_str().to_owned())
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            // The connect-time PRAGMA string carries the key: keep it out of logs.
            .disable_statement_logging();
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(map_open_error)?;

        // Without SQLCipher compiled in, `PRAGMA key` is silently ignored and
        // the file would be plain SQLite: refuse.
        let cipher: Option<String> = sqlx::query_scalar("PRAGMA cipher_version")
            .fetch_optional(&pool)
            .await
            .map_err(map_open_error)?;
        if cipher.as_deref().unwrap_or("").is_empty() {
            pool.close().await;
            return Err(CoreError::EncryptionUnavailable);
        }
        // A wrong key can pass the pragmas on an empty WAL; reading the schema
        // is what proves the key decrypts this file.
        sqlx::query("SELECT count(*) FROM sqlite_master")
            .fetch_one(&pool)
            .await
            .map_err(map_open_error)?;
        sqlx::migrate!("../../migrations").run(&pool).await?;
        tracing::debug!(cipher = cipher.as_deref().unwrap_or(""), "cache opened");
        Ok(Cache {
            pool,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checkpoints the WAL into the main file, then closes every connection.
    /// The explicit checkpoint makes the file complete even if SQLite's own
    /// close-time checkpoint finishes after the pool reports closed.
    pub async fn close(&self) {
        if let Err(err) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await
        {
            tracing::warn!(error = %err, "cache checkpoint failed");
        }
        self.pool.close().await;
    }

    pub async fn last_synced_at(&self) -> Result<Option<i64>, CoreError> {
        let value: Option<String> =
            sqlx::query_scalar("SELECT value FROM meta WHERE key = 'last_synced_at'")
                .fetch_optional(&self.pool)
                .await?;
        Ok(value.and_then(|v| v.parse().ok()))
    }
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Sqlite>;

/// A transaction that writes takes the write lock at BEGIN: a deferred one
/// that read first would fail with SQLITE_BUSY_SNAPSHOT (no busy wait) when
/// the background sync committed in between.
async fn write_tx(pool: &SqlitePool) -> Result<Tx<'static>, CoreError> {
    Ok(pool.begin_with("BEGIN IMMEDIATE").await?)
}

fn new_key(keys: &dyn KeyStore, key_account: &str) -> Result<Sensitive<Vec<u8>>, CoreError> {
    let key = Sensitive::new(rand::random::<[u8; KEY_LEN]>().to_vec());
    // The key reaches the keychain before the file exists, so no file is ever
    // written with a key we could lose.
    keys.set(key_account, key.expose())?;
    Ok(key)
}

fn map_open_error(err: sqlx::Error) -> CoreError {
    let not_a_db = err
        .as_database_error()
        .map(|db| db.code().as_deref() == Some(SQLITE_NOTADB))
        .unwrap_or(false);
    if not_a_db {
        CoreError::CacheUnreadable {
            reason: "the key does not decrypt the cache file".into(),
        }
    } else {
        CoreError::Cache(err)
    }
}

/// The recovery path, only on a definite "this key cannot read this file":
/// first the file is opened with the key the keychain has now, so a keychain
/// that failed earlier (locked, unreachable) and answers now simply opens
/// the old cache, queued edits and all. A keychain error now is returned as
/// is and changes nothing. Only when the cache is unreadable with the key we
/// have is the file (and its WAL/SHM sidecars) moved aside with a timestamp,
/// the old key kept in the keychain beside it ([`kept_key_account`]), a NEW
/// key stored and an empty cache created. Returns the cache and where the
/// old file went (`None`: nothing was moved).
pub async fn reset(
    path: &Path,
    keys: &dyn KeyStore,
    key_account: &str,
) -> Result<(Cache, Option<PathBuf>), CoreError> {
    match Cache::open(path, keys, key_account).await {
        Ok(cache) => return Ok((cache, None)),
        Err(CoreError::CacheUnreadable { reason }) => {
            tracing::warn!(%reason, "the cache cannot be read with the key we have");
        }
        Err(err) => return Err(err),
    }
    // The key that failed: kept (not overwritten) so the kept-aside file can
    // still be tried with it. Read before anything moves; a keychain error
    // here stops the reset with nothing changed.
    let old_key = keys.get(key_account)?.map(Sensitive::new);
    let moved = if path.exists() {
        let aside = aside_path(path);
        if let Some(old_key) = &old_key {
            keys.set(&kept_key_account(key_account, &aside), old_key.expose())?;
        }
        move_with_sidecars(path, &aside)?;
        tracing::warn!(moved_to = %aside.display(), "unreadable cache moved aside");
        Some(aside)
    } else {
        None
    };
    let key = new_key(keys, key_account)?;
    let cache = Cache::connect(path, &key).await?;
    Ok((cache, moved))
}

/// Moves a cache file and its WAL/SHM sidecars to `to` (same file system).
pub fn move_with_sidecars(from: &Path, to: &Path) -> Result<(), CoreError> {
    std::fs::rename(from, to)?;
    for suffix in ["-wal", "-shm"] {
        let sidecar_from = sidecar(from, suffix);
        if sidecar_from.exists() {
            std::fs::rename(&sidecar_from, sidecar(to, suffix))?;
        }
    }
    Ok(())
}

/// Keychain account of the key a kept-aside cache file had when it was moved
/// (`<cache key account>:kept:<file name>`), for a manual recovery.
pub fn kept_key_account(key_account: &str, aside: &Path) -> String {
    let name = aside
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{key_account}:kept:{name}")
}

/// Encrypted or not, the cache is nobody else's business on a shared
/// computer: create it readable by its owner only (SQLite gives the -wal and
/// -shm files the main file's mode). Windows and macOS user profiles are
/// already private to their owner.
fn restrict_to_owner(path: &Path) -> Result<(), CoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn aside_path(path: &Path) -> PathBuf {
    let stamp = now_millis();
    let mut n = 0;
    loop {
        let candidate = sidecar(
            path,
            &if n == 0 {
                format!(".unreadable-{stamp}")
            } else {
                format!(".unreadable-{stamp}-{n}")
            },
        );
        if !candidate.exists() {
            return candidate;
        }
        n += 1;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::keystore::tests::MemoryKeyStore;
    use secureclose_protocol::{Company, DmsIntegration, OfflinePolicy, Role, User, UserStatus};
    use sqlx::Row;

    pub(crate) fn company() -> Company {
        Company {
            id: "c1".into(),
            name: "Desert Motors".into(),
            two_factor_required: false,
            dms: DmsIntegration {
                kind: "cdk".into(),
                supports_two_factor: true,
            },
            offline_policy: OfflinePolicy {
                allowed: true,
                max_hours: 72,
            },
            session_policy: Default::default(),
            version: 3,
        }
    }

    pub(crate) fn user(id: &str, name: &str, email: &str) -> User {
        User {
            id: id.into(),
            company_id: "c1".into(),
            email: email.into(),
            display_name: name.into(),
            role: Role::User,
            status: UserStatus::Active,
            mobile_phone: Some("+14805551234".into()),
            phone_verified_at: None,
            two_factor_enabled: true,
            security_withheld: false,
            version: 1,
            updated_at: 1_700_000_000_000,
        }
    }

    pub(crate) fn session() -> SessionMeta {
        SessionMeta {
            user_id: "u1".into(),
            company_id: "c1".into(),
            expires_at: 9_999_999_999_999,
            signed_in_at: 1,
        }
    }

    pub(crate) async fn seeded(dir: &Path, keys: &MemoryKeyStore) -> Cache {
        let cache = Cache::open(&dir.join("cache.db"), keys, "cache-key")
            .await
            .unwrap();
        let users = vec![
            user("u1", "Alice Admin", "alice@desertmotors.example"),
            user("u2", "bob Builder", "bob@desertmotors.example"),
            user("u3", "Carol Finance", "carol.fi@desertmotors.example"),
            user("u4", "Ålesund Å", "zed@desertmotors.example"),
        ];
        cache
            .store_login(&company(), &users, &session())
            .await
            .unwrap();
        cache
    }

    #[tokio::test]
    async fn multi_row_upserts_store_every_row_across_chunks_and_update_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let cache = seeded(dir.path(), &MemoryKeyStore::default()).await;
        let n = UPSERT_CHUNK * 2 + 7;
        let mut users: Vec<User> = (0..n)
            .map(|i| {
                user(
                    &format!("b{i:05}"),
                    &format!("Bulk {i:05}"),
                    &format!("b{i}@x.example"),
                )
            })
            .collect();
        users.push(user("u1", "Alice Admin", "alice@desertmotors.example"));
        cache
            .store_login(&company(), &users, &session())
            .await
            .unwrap();
        let (_, total) = cache.list_users("", None, 0, 1).await.unwrap();
        assert_eq!(total as usize, n + 1, "no row lost at a chunk boundary");
        let last = &users[n - 1];
        assert_eq!(cache.user(&last.id).await.unwrap().as_ref(), Some(last));

        let mut changed = users[UPSERT_CHUNK].clone();
        changed.display_name = "Renamed".into();
        changed.version = 2;
        let mut tx = write_tx(&cache.pool).await.unwrap();
        upsert_users(&mut tx, &[&users[0], &changed]).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            cache.user(&changed.id).await.unwrap(),
            Some(changed),
            "an existing row is updated in place"
        );
        assert_eq!(
            cache.list_users("", None, 0, 1).await.unwrap().1 as usize,
            n + 1
        );
    }

    #[tokio::test]
    async fn cache_round_trips_company_users_and_session() {
        let dir = tempfile::tempdir().unwrap();
        let keys = MemoryKeyStore::default();
        let cache = seeded(dir.path(), &keys).await;
        assert_eq!(cache.company("c1").await.unwrap(), Some(company()));
        assert_eq!(
            cache.user("u3").await.unwrap(),
            Some(user("u3", "Carol Finance", "carol.fi@desertmotors.example")),
            "every user field must survive the cache"
        );
        assert_eq!(cache.session_meta().await.unwrap(), Some(session()));
        assert!(
            cache.last_synced_at().await.unwrap().is_some(),
            "login is a sync"
        );
        cache.clear_session().await.unwrap();
        assert_eq!(cache.session_meta().await.unwrap(), None);
        assert!(
            cache.company("c1").await.unwrap().is_some(),
            "sign-out keeps the cached company for the next offline start"
        );
    }

    #[tokio::test]
    async fn store_login_replaces_previous_company_data() {
        let dir = tempfile::tempdir().unwrap();
        let keys = MemoryKeyStore::default();
        let cache = seeded(dir.path(), &keys).await;
        cache
            .store_login(
                &company(),
                &[user("u1", "Alice Admin", "a@x.example")],
                &session(),
            )
            .await
            .unwrap();
        let (users, total) = cache.list_users("", None, 0, 50).await.unwrap();
        assert_eq!(
            total, 1,
            "users deleted on the cloud must leave the cache: {users:?}"
        );
    }

    #[tokio::test]
    async fn list_users_prefix_search_is_case_insensitive_on_name_and_email() {
        let dir = tempfile::tempdir().unwrap();
        let keys = MemoryKeyStore::default();
        let cache = seeded(dir.path(), &keys).await;

        let (all, total) = cache.list_users("", None, 0, 50).await.unwrap();
        let names: Vec<_> = all.iter().map(|u| u.display_name.as_str()).collect();
        assert_eq!(total, 4);
        assert_eq!(
            names,
            ["Alice Admin", "bob Builder", "Carol Finance", "Ålesund Å"],
            "sorted by name, ignoring ASCII case"
        );

        let (found, total) = cache.list_users("BO", None, 0, 50).await.unwrap();
        assert_eq!(
            (found.len(), total),
            (1, 1),
            "name prefix, any case: {found:?}"
        );
        assert_eq!(found[0].id, "u2");

        let (found, _) = cache.list_users("carol.f", None, 0, 50).await.unwrap();
        assert_eq!(found.len(), 1, "email prefix matches: {found:?}");

        let (found, _) = cache.list_users("zed@", None, 0, 50).await.unwrap();
        assert_eq!(
            found[0].id, "u4",
            "email prefix finds users whose name differs"
        );

        let (found, total) = cache.list_users("%", None, 0, 50).await.unwrap();
        assert_eq!(
            total, 0,
            "wildcards are literal, not LIKE patterns: {found:?}"
        );

        let (found, total) = cache.list_users("finance", None, 0, 50).await.unwrap();
        assert_eq!(total, 0, "prefix search, not substring: {found:?}");
    }

    #[tokio::test]
    async fn list_users_pages_with_offset_limit_and_full_total() {
        let dir = tempfile::tempdir().unwrap();
        let keys = MemoryKeyStore::default();
        let cache = seeded(dir.path(), &keys).await;
        let (page, total) = cache.list_users("", None, 1, 2).await.unwrap();
        let ids: Vec<_> = page.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(ids, ["u2", "u3"], "second and third by name");
        assert_eq!(total, 4, "total counts every match, not the page");
        let (page, total) = cache.list_users("", None, 10, 2).await.unwrap();
        assert!(page.is_empty());
        assert_eq!(total, 4);
    }

    #[tokio::test]
    async fn prefix_search_uses_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let keys = MemoryKeyStore::default();
        let cache = seeded(dir.path(), &keys).await;
        // Column 3 of EXPLAIN QUERY PLAN is the human-readable detail.
        let rows = sqlx::query(
            "EXPLAIN QUERY PLAN SELECT id FROM users \
             WHERE (display_name >= 'a' AND display_name < 'b') OR (email >= 'a' AND email < 'b')",
        )
        .fetch_all(&cache.pool)
        .await
        .unwrap();
        let details: Vec<String> = rows.iter().map(|r| r.get::<String, _>(3)).collect();
        assert!(
            details.iter().any(|d| d.contains("users_display_name"))
                && details.iter().any(|d| d.contains("users_email")),
            "a prefix search must not scan the whole table at 100k users: {details:?}"
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn cache_files_are_readable_by_their_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let keys = MemoryKeyStore::default();
        let cache = seeded(dir.path(), &keys).await;
        let path = cache.path().to_owned();
        for file in [path.clone(), sidecar(&path, "-wal")] {
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(
                mode,
                0o600,
                "{} must not be readable by other accounts on the computer",
                file.display()
            );
        }
        cache.close().await;
    }

    #[tokio::test]
    async fn cache_file_is_encrypted_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let keys = MemoryKeyStore::default();
        let cache = seeded(dir.path(), &keys).await;
        let path = cache.path().to_owned();
        cache.close().await;
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.len() > 1024, "the cache must hold the data");
        assert!(
            !bytes.starts_with(b"SQLite format 3"),
            "a plain SQLite header means SQLCipher is not active"
        );
        // Like `strings`: search every file of the cache for a user email.
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            // A -wal/-shm may vanish as SQLite finishes closing.
            let Ok(file) = std::fs::read(entry.unwrap().path()) else {
                continue;
            };
            assert!(
                !file
                    .windows(b"desertmotors.example".len())
                    .any(|w| w == b"desertmotors.example"),
                "user emails must not be readable on disk"
            );
        }
        let strings = std::process::Command::new("strings").arg(&path).output();
        if let Ok(out) = strings {
            assert!(
                !String::from_utf8_lossy(&out.stdout).contains("@desertmotors.example"),
                "`strings` finds a user email in the cache file"
            );
        }
    }

    #[tokio::test]
    async fn cache_reopens_with_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let keys = MemoryKeyStore::default();
        let cache = seeded(dir.path(), &keys).await;
        cache.close().await;
        let cache = Cache::open(&dir.path().join("cache.db"), &keys, "cache-key")
            .await
            .unwrap();
        assert_eq!(
            cache.list_users("", None, 0, 50).await.unwrap().1,
            4,
            "data persists"
        );
    }

    #[tokio::test]
    async fn wrong_key_is_cache_unreadable_and_keeps_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let keys = MemoryKeyStore::default();
        seeded(dir.path(), &keys).await.close().await;
        let path = dir.path().join("cache.db");
        let before = std::fs::read(&path).unwrap();
        keys.set("cache-key", &[7u8; 32]).unwrap();
        let err = Cache::open(&path, &keys, "cache-key").await.err();
        assert!(
            matches!(err, Some(CoreError::CacheUnreadable { .. })),
            "a wrong key must be reported as cache_unreadable, got {err:?}"
        );
        let after = std::fs::read(&path).unwrap();
        assert!(
            after == before,
            "a failed open must not touch the user's data"
        );
    }

    #[tokio::test]
    async fn missing_key_is_cache_unreadable_and_creates_no_new_key() {
        let dir = tempfile::tempdir().unwrap();
        let keys = MemoryKeyStore::default();
        seeded(dir.path(), &keys).await.close().await;
        keys.delete("cache-key").unwrap();
        let err = Cache::open(&dir.path().join("cache.db"), &keys, "cache-key")
            .await
            .err();
        assert!(
            matches!(err, Some(CoreError::CacheUnreadable { .. })),
            "a missing key must be reported as cache_unreadable, got {err:?}"
        );
        assert!(
            !keys.contains("cache-key"),
            "a new key would silently orphan the existing file"
        );
    }

    #[tokio::test]
    async fn reset_moves_the_unreadable_file_aside_and_starts_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let keys = MemoryKeyStore::default();
        seeded(dir.path(), &keys).await.close().await;
        let path = dir.path().join("cache.db");
        let old_bytes = std::fs::read(&path).unwrap();
        keys.delete("cache-key").unwrap();

        let (cache, moved) = reset(&path, &keys, "cache-key").await.unwrap();
        let moved = moved.expect("the old file must be kept aside");
        assert!(
            std::fs::read(&moved).unwrap() == old_bytes,
            "the unreadable file is preserved byte for byte (no silent data loss)"
        );
        assert!(
            moved
                .file_name()
                .unwrap()
                .to_string_lossy()
                .contains("unreadable-"),
            "the aside name says what it is: {moved:?}"
        );
        assert_eq!(
            cache.list_users("", None, 0, 50).await.unwrap().1,
            0,
            "fresh cache"
        );
        assert!(keys.contains("cache-key"), "a new key is stored");
        cache.close().await;
        Cache::open(&path, &keys, "cache-key")
            .await
            .expect("the fresh cache opens with the new key");
    }

    #[tokio::test]
    async fn a_reset_keeps_the_key_that_failed_beside_the_kept_file() {
        let dir = tempfile::tempdir().unwrap();
        let keys = MemoryKeyStore::default();
        seeded(dir.path(), &keys).await.close().await;
        let path = dir.path().join("cache.db");
        // The keychain now holds a key that does not read the file.
        let wrong = vec![7u8; KEY_LEN];
        keys.set("cache-key", &wrong).unwrap();
        let (cache, moved) = reset(&path, &keys, "cache-key").await.unwrap();
        let moved = moved.expect("a definite wrong key moves the file aside");
        assert_eq!(
            keys.get(&kept_key_account("cache-key", &moved)).unwrap(),
            Some(wrong),
            "the old key stays in the keychain beside the kept file"
        );
        assert_ne!(keys.get("cache-key").unwrap().unwrap(), vec![7u8; KEY_LEN]);
        cache.close().await;
    }

    #[tokio::test]
    async fn a_reset_of_a_cache_the_key_reads_moves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let keys = MemoryKeyStore::default();
        seeded(dir.path(), &keys).await.close().await;
        let path = dir.path().join("cache.db");
        let key = keys.get("cache-key").unwrap();
        let (cache, moved) = reset(&path, &keys, "cache-key").await.unwrap();
        assert_eq!(moved, None, "a readable cache is never moved aside");
        assert_eq!(keys.get("cache-key").unwrap(), key, "nor its key replaced");
        assert_eq!(cache.list_users("", None, 0, 50).await.unwrap().1, 4);
        cache.close().await;
    }

    #[tokio::test]
    async fn the_key_is_32_random_bytes_per_cache() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let keys_a = MemoryKeyStore::default();
        let keys_b = MemoryKeyStore::default();
        Cache::open(&a.path().join("c.db"), &keys_a, "k")
            .await
            .unwrap();
        Cache::open(&b.path().join("c.db"), &keys_b, "k")
            .await
            .unwrap();
        let ka = keys_a.get("k").unwrap().unwrap();
        let kb = keys_b.get("k").unwrap().unwrap();
        assert_eq!(ka.len(), 32, "256-bit raw key");
        assert_ne!(ka, kb, "keys must be random");
    }

    #[tokio::test]
    async fn edits_are_stored_in_place_and_keep_the_session() {
        let dir = tempfile::tempdir().unwrap();
        let keys = MemoryKeyStore::default();
        let cache = seeded(dir.path(), &keys).await;
        // The signed-in user (u1) edits their own phone and 2FA toggle.
        let mut edited = user("u1", "Alice Admin", "alice@desertmotors.example");
        edited.mobile_phone = Some("+14805559999".into());
        edited.two_factor_enabled = false;
        edited.version = 2;
        cache.store_user(&edited).await.unwrap();
        assert_eq!(
            cache.user("u1").await.unwrap(),
            Some(edited),
            "the cache holds the cloud's answer"
        );
        assert_eq!(
            cache.session_meta().await.unwrap(),
            Some(session()),
            "editing the signed-in user must not cascade-delete the session"
        );

        let mut company_now = company();
        company_now.two_factor_required = true;
        company_now.version = 4;
        cache.store_company(&company_now).await.unwrap();
        assert_eq!(cache.company("c1").await.unwrap(), Some(company_now));
        assert_eq!(
            cache.list_users("", None, 0, 50).await.unwrap().1,
            4,
            "updating the company row must not cascade-delete its users"
        );
        assert!(cache.session_meta().await.unwrap().is_some());

        let newcomer = user("u9", "Nora New", "nora@desertmotors.example");
        cache.store_user(&newcomer).await.unwrap();
        assert_eq!(
            cache.list_users("", None, 0, 50).await.unwrap().1,
            5,
            "a user unknown to the cache is added"
        );
    }
}
