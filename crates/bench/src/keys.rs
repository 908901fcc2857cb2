//! The keychain stand-in of the benches: the cache key lives in memory, since
//! they measure SQLCipher and sync, not the OS keychain.

use std::collections::HashMap;
use std::sync::Mutex;

use secureclose_core::{CoreError, KeyStore};

#[derive(Default)]
pub struct MemoryKeys(Mutex<HashMap<String, Vec<u8>>>);

impl KeyStore for MemoryKeys {
    fn get(&self, account: &str) -> Result<Option<Vec<u8>>, CoreError> {
        Ok(self.lock().get(account).cloned())
    }
    fn set(&self, account: &str, secret: &[u8]) -> Result<(), CoreError> {
        self.lock().insert(account.to_owned(), secret.to_vec());
        Ok(())
    }
    fn delete(&self, account: &str) -> Result<(), CoreError> {
        self.lock().remove(account);
        Ok(())
    }
}

impl MemoryKeys {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<u8>>> {
        // A poisoned lock only means another bench thread panicked; the map is fine.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The raw key of the (one) cache opened with these keys, to open the
    /// same file beside core in the same run.
    pub fn cache_key(&self) -> Option<Vec<u8>> {
        self.lock()
            .iter()
            .find(|(account, _)| account.starts_with("cache-key:"))
            .map(|(_, key)| key.clone())
    }
}
