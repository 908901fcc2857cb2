//! A keychain stand-in that survives a process restart, for the crash
//! harness: the OS keychain is not the subject there, and a SIGKILLed
//! process must find its cache key and session token again. Test-only: the
//! secrets sit in a file of a temp dir (mode 0600).

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use secureclose_core::{CoreError, KeyStore};

pub struct FileKeyStore {
    path: PathBuf,
    /// Serialises read-modify-write within this process.
    lock: Mutex<()>,
}

impl FileKeyStore {
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            lock: Mutex::new(()),
        }
    }

    /// Every entry, hex-decoded (the crash test opens the cache with the key).
    pub fn entries(&self) -> Result<BTreeMap<String, Vec<u8>>, CoreError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(e.into()),
        };
        let hexed: BTreeMap<String, String> =
            serde_json::from_str(&text).map_err(|e| CoreError::Keychain {
                detail: format!("key file is not JSON: {e}"),
            })?;
        hexed
            .into_iter()
            .map(|(account, value)| {
                hex::decode(value)
                    .map(|secret| (account, secret))
                    .map_err(|e| CoreError::Keychain {
                        detail: format!("key file entry is not hex: {e}"),
                    })
            })
            .collect()
    }

    /// Written to a temp file and renamed: a SIGKILL mid-write must not
    /// leave a torn key file (that would be a harness bug, not a core one).
    fn save(&self, entries: &BTreeMap<String, Vec<u8>>) -> Result<(), CoreError> {
        let hexed: BTreeMap<&String, String> =
            entries.iter().map(|(k, v)| (k, hex::encode(v))).collect();
        let json = serde_json::to_vec(&hexed).map_err(|e| CoreError::Keychain {
            detail: format!("cannot encode the key file: {e}"),
        })?;
        let tmp = self.path.with_extension("tmp");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(&json)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        Ok(())
    }

    fn update(&self, change: impl FnOnce(&mut BTreeMap<String, Vec<u8>>)) -> Result<(), CoreError> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut entries = self.entries()?;
        change(&mut entries);
        self.save(&entries)
    }
}

impl KeyStore for FileKeyStore {
    fn get(&self, account: &str) -> Result<Option<Vec<u8>>, CoreError> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        Ok(self.entries()?.remove(account))
    }
    fn set(&self, account: &str, secret: &[u8]) -> Result<(), CoreError> {
        self.update(|e| {
            e.insert(account.to_owned(), secret.to_vec());
        })
    }
    fn delete(&self, account: &str) -> Result<(), CoreError> {
        self.update(|e| {
            e.remove(account);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_survive_a_new_instance_and_deletes_stick() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let store = FileKeyStore::new(&path);
        assert_eq!(store.get("a").unwrap(), None);
        store.set("a", &[0, 1, 255]).unwrap();
        store.set("b", b"tok").unwrap();
        store.delete("b").unwrap();
        let reopened = FileKeyStore::new(&path);
        assert_eq!(
            reopened.get("a").unwrap(),
            Some(vec![0, 1, 255]),
            "a restarted harness must find its cache key, or the cache is unreadable"
        );
        assert_eq!(
            reopened.get("b").unwrap(),
            None,
            "a deleted token must stay deleted"
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600,
            "secrets readable by the owner only"
        );
    }
}
