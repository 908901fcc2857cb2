//! Secrets at rest: the cache key and the session token live in the OS
//! keychain, never on disk next to the data they protect.
//!
//! keyring 3 compiles in whatever backends the features enable and silently
//! falls back to an in-memory mock when none is enabled. With both
//! `sync-secret-service` and `linux-native` on, its compile-time default is
//! Secret Service; we choose explicitly at run time instead, so that a machine
//! without a Secret Service daemon still gets a real (kernel) store and the
//! log says which one is in use.

use keyring::credential::CredentialBuilder;
use keyring::Entry;
use zeroize::Zeroizing;

use crate::error::CoreError;

/// The keychain "service" every SecureClose entry is filed under.
pub const SERVICE: &str = "SecureClose";

pub trait KeyStore: Send + Sync {
    /// The secret stored under `account`, or `None` when there is none.
    fn get(&self, account: &str) -> Result<Option<Vec<u8>>, CoreError>;
    fn set(&self, account: &str, secret: &[u8]) -> Result<(), CoreError>;
    /// Deleting an absent entry is not an error.
    fn delete(&self, account: &str) -> Result<(), CoreError>;
}

/// Which OS store an [`OsKeyStore`] writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// freedesktop Secret Service (GNOME Keyring, KWallet): persistent.
    SecretService,
    /// Linux kernel keyutils (session keyring): survives only until logout/reboot.
    KernelKeyring,
    MacosKeychain,
    WindowsCredentialManager,
}

pub struct OsKeyStore {
    backend: Backend,
    builder: Box<CredentialBuilder>,
}

impl std::fmt::Debug for OsKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OsKeyStore")
            .field("backend", &self.backend)
            .finish()
    }
}

impl OsKeyStore {
    /// Picks the platform's real store. On Linux: Secret Service when it
    /// answers, otherwise the kernel keyring.
    pub fn new() -> Result<Self, CoreError> {
        let (backend, builder) = Self::pick()?;
        match backend {
            Backend::KernelKeyring => tracing::warn!(
                "no Secret Service reachable; using the kernel keyring, whose secrets last \
                 only until logout (the cache then needs a reset and re-sync)"
            ),
            _ => tracing::info!(?backend, "keychain backend selected"),
        }
        Ok(Self { backend, builder })
    }

    /// Force one Linux backend (tests, or a user setting).
    #[cfg(target_os = "linux")]
    pub fn with_backend(backend: Backend) -> Result<Self, CoreError> {
        let builder = match backend {
            Backend::SecretService => keyring::secret_service::default_credential_builder(),
            Backend::KernelKeyring => keyring::keyutils::default_credential_builder(),
            other => {
                return Err(CoreError::Keychain {
                    detail: format!("{other:?} is not available on Linux"),
                })
            }
        };
        Ok(Self { backend, builder })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    #[cfg(target_os = "linux")]
    fn pick() -> Result<(Backend, Box<CredentialBuilder>), CoreError> {
        let ss = keyring::secret_service::default_credential_builder();
        // A read of an absent entry tells us whether the daemon answers
        // without writing anything.
        let probe = ss
            .build(None, SERVICE, "probe")
            .map(Entry::new_with_credential)
            .and_then(|entry| entry.get_password());
        match probe {
            Ok(_) | Err(keyring::Error::NoEntry) => Ok((Backend::SecretService, ss)),
            Err(err) => {
                tracing::debug!(error = %err, "Secret Service probe failed");
                Ok((
                    Backend::KernelKeyring,
                    keyring::keyutils::default_credential_builder(),
                ))
            }
        }
    }

    #[cfg(target_os = "macos")]
    fn pick() -> Result<(Backend, Box<CredentialBuilder>), CoreError> {
        Ok((
            Backend::MacosKeychain,
            keyring::default::default_credential_builder(),
        ))
    }

    #[cfg(target_os = "windows")]
    fn pick() -> Result<(Backend, Box<CredentialBuilder>), CoreError> {
        Ok((
            Backend::WindowsCredentialManager,
            keyring::default::default_credential_builder(),
        ))
    }

    fn entry(&self, account: &str) -> Result<Entry, CoreError> {
        self.builder
            .build(None, SERVICE, account)
            .map(Entry::new_with_credential)
            .map_err(CoreError::keychain)
    }
}

impl KeyStore for OsKeyStore {
    fn get(&self, account: &str) -> Result<Option<Vec<u8>>, CoreError> {
        match self.entry(account)?.get_password() {
            Ok(hex_secret) => {
                let hex_secret = Zeroizing::new(hex_secret);
                hex::decode(hex_secret.as_bytes())
                    .map(Some)
                    // Not our format (someone edited the entry): treat it as a
                    // wrong secret, and say so without echoing it.
                    .map_err(|_| CoreError::Keychain {
                        detail: format!("the keychain entry {account} is not hex-encoded"),
                    })
            }
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(err) => Err(CoreError::keychain(err)),
        }
    }

    fn set(&self, account: &str, secret: &[u8]) -> Result<(), CoreError> {
        // Hex so every backend (some store UTF-16/UTF-8 text only) keeps the
        // bytes exactly.
        let hex_secret = Zeroizing::new(hex::encode(secret));
        self.entry(account)?
            .set_password(&hex_secret)
            .map_err(CoreError::keychain)
    }

    fn delete(&self, account: &str) -> Result<(), CoreError> {
        match self.entry(account)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(err) => Err(CoreError::keychain(err)),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// In-memory stand-in for tests whose unit under test is not the keychain.
    #[derive(Default)]
    pub(crate) struct MemoryKeyStore {
        pub(crate) entries: Mutex<HashMap<String, Vec<u8>>>,
    }

    impl MemoryKeyStore {
        pub(crate) fn contains(&self, account: &str) -> bool {
            self.entries
                .lock()
                .expect("test lock")
                .contains_key(account)
        }
    }

    impl KeyStore for MemoryKeyStore {
        fn get(&self, account: &str) -> Result<Option<Vec<u8>>, CoreError> {
            Ok(self
                .entries
                .lock()
                .expect("test lock")
                .get(account)
                .cloned())
        }
        fn set(&self, account: &str, secret: &[u8]) -> Result<(), CoreError> {
            self.entries
                .lock()
                .expect("test lock")
                .insert(account.into(), secret.to_vec());
            Ok(())
        }
        fn delete(&self, account: &str) -> Result<(), CoreError> {
            self.entries.lock().expect("test lock").remove(account);
            Ok(())
        }
    }

    /// A keychain that can be made to fail (locked, daemon busy) and come
    /// back, over a [`MemoryKeyStore`] that keeps what it held meanwhile.
    #[derive(Default)]
    pub(crate) struct FlakyKeyStore {
        pub(crate) inner: MemoryKeyStore,
        pub(crate) down: std::sync::atomic::AtomicBool,
    }

    impl FlakyKeyStore {
        pub(crate) fn set_down(&self, down: bool) {
            self.down.store(down, std::sync::atomic::Ordering::SeqCst);
        }

        fn check(&self) -> Result<(), CoreError> {
            if self.down.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(CoreError::Keychain {
                    detail: "the keychain is locked".into(),
                });
            }
            Ok(())
        }
    }

    impl KeyStore for FlakyKeyStore {
        fn get(&self, account: &str) -> Result<Option<Vec<u8>>, CoreError> {
            self.check()?;
            self.inner.get(account)
        }
        fn set(&self, account: &str, secret: &[u8]) -> Result<(), CoreError> {
            self.check()?;
            self.inner.set(account, secret)
        }
        fn delete(&self, account: &str) -> Result<(), CoreError> {
            self.check()?;
            self.inner.delete(account)
        }
    }

    fn unique_account(label: &str) -> String {
        format!("test:{label}:{}", hex::encode(rand::random::<[u8; 6]>()))
    }

    fn round_trip(store: &OsKeyStore) {
        let account = unique_account("roundtrip");
        // Bytes that are not valid UTF-8, as a raw key is.
        let secret: Vec<u8> = (0u8..=255).rev().take(32).collect();
        assert_eq!(
            store.get(&account).unwrap(),
            None,
            "fresh account must be empty"
        );
        store.set(&account, &secret).unwrap();
        assert_eq!(
            store.get(&account).unwrap().as_deref(),
            Some(secret.as_slice()),
            "the keychain must return exactly the bytes stored"
        );
        store.set(&account, b"replaced").unwrap();
        assert_eq!(
            store.get(&account).unwrap().as_deref(),
            Some(&b"replaced"[..]),
            "set must overwrite, or a new cache key would be paired with the old one"
        );
        store.delete(&account).unwrap();
        assert_eq!(
            store.get(&account).unwrap(),
            None,
            "delete must remove the secret"
        );
        store
            .delete(&account)
            .expect("deleting an absent entry is not an error (logout twice)");
    }

    #[test]
    #[ignore = "needs a keychain session: run scripts/test"]
    #[cfg(target_os = "linux")]
    fn os_keystore_picks_a_real_backend_and_round_trips() {
        let store = OsKeyStore::new().unwrap();
        // scripts/test runs this inside dbus-run-session with gnome-keyring:
        // then Secret Service must win; without a session bus, the kernel
        // keyring (never keyring's in-memory mock).
        let expected = if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some() {
            Backend::SecretService
        } else {
            Backend::KernelKeyring
        };
        assert_eq!(
            store.backend(),
            expected,
            "the preferred real store must be selected"
        );
        round_trip(&store);
    }

    #[test]
    #[ignore = "needs a keychain session: run scripts/test"]
    #[cfg(target_os = "linux")]
    fn secret_service_backend_round_trips() {
        let store = OsKeyStore::with_backend(Backend::SecretService).unwrap();
        round_trip(&store);
    }

    #[test]
    #[ignore = "needs a keychain session: run scripts/test"]
    #[cfg(target_os = "linux")]
    fn kernel_keyring_backend_round_trips() {
        let store = OsKeyStore::with_backend(Backend::KernelKeyring).unwrap();
        round_trip(&store);
    }

    #[test]
    #[ignore = "needs a keychain session: run scripts/test"]
    #[cfg(not(target_os = "linux"))]
    fn os_keystore_round_trips() {
        round_trip(&OsKeyStore::new().unwrap());
    }

    #[tokio::test]
    #[ignore = "needs a keychain session: run scripts/test"]
    async fn cache_key_deleted_from_the_real_keychain_is_unreadable_then_recoverable() {
        use crate::cache::{reset, Cache};
        let store = OsKeyStore::new().unwrap();
        let account = unique_account("cache-key");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.db");
        Cache::open(&path, &store, &account)
            .await
            .unwrap()
            .close()
            .await;
        let key = store
            .get(&account)
            .unwrap()
            .expect("the cache key is in the keychain");
        assert_eq!(key.len(), 32, "a raw 256-bit key");
        store.delete(&account).unwrap();

        let err = Cache::open(&path, &store, &account).await.err();
        assert!(
            matches!(err, Some(CoreError::CacheUnreadable { .. })),
            "a key deleted from the keychain must give cache_unreadable, got {err:?}"
        );
        let (cache, moved) = reset(&path, &store, &account).await.unwrap();
        assert!(
            moved.is_some_and(|p| p.exists()),
            "the old file is kept aside"
        );
        cache.close().await;
        Cache::open(&path, &store, &account)
            .await
            .expect("the fresh cache opens with the new keychain key");
        store.delete(&account).unwrap();
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn debug_of_the_store_shows_only_the_backend() {
        // Building a store touches no keychain, so this runs anywhere.
        let os = OsKeyStore::with_backend(Backend::KernelKeyring).unwrap();
        assert_eq!(
            format!("{os:?}"),
            "OsKeyStore { backend: KernelKeyring }",
            "the log line names the backend in use"
        );
    }
}
