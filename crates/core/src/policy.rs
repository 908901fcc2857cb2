//! The machine-wide cloud address policy (security review, finding 1: a
//! user must not be able to point the app at another server): an IT
//! administrator locks every OS user of a computer to one cloud address, in
//! a place a standard user cannot write:
//!
//! - Linux: `/etc/secureclose/policy.json`, owned by root and writable by
//!   nobody else (file and folder; checked here, anything else is refused),
//!   `{"cloud_url": "https://cloud.example", "locked": true}` (`locked`
//!   defaults to true: a policy exists to lock).
//! - Windows: `HKLM\SOFTWARE\Policies\SecureClose\Desktop`, values
//!   `CloudUrl` (REG_SZ) and `LockCloudUrl` (REG_DWORD, default 1). Only
//!   administrators (or Group Policy) write under HKLM\SOFTWARE\Policies.
//! - macOS: managed preferences of `com.secureclose.desktop` (an MDM
//!   profile), read from `/Library/Managed Preferences/com.secureclose.desktop.plist`,
//!   keys `CloudUrl` (string) and `LockCloudUrl` (bool, default true).
//!
//! A policy that exists but cannot be used (unreadable, malformed, a bad
//! address, writable by a standard user) is an error, never "no policy":
//! failing open would let whoever broke it choose the cloud.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::client::validate_cloud_url;
use crate::error::CoreError;

/// Where the policy is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    /// No machine policy is consulted (tests whose subject is not the policy).
    None,
    /// A JSON policy file that only the account `owner_uid` may write (on
    /// Unix; ignored elsewhere). Linux's machine policy, and tests.
    File { path: PathBuf, owner_uid: u32 },
    /// `HKLM\SOFTWARE\Policies\SecureClose\Desktop` (Windows).
    #[cfg(windows)]
    WindowsRegistry,
    /// The managed preferences of `com.secureclose.desktop` (macOS).
    #[cfg(target_os = "macos")]
    MacManagedPreferences,
}

/// The Linux policy file.
pub const LINUX_POLICY_FILE: &str = "/etc/secureclose/policy.json";
#[cfg(windows)]
pub const WINDOWS_POLICY_KEY: &str = r"HKLM\SOFTWARE\Policies\SecureClose\Desktop";
#[cfg(target_os = "macos")]
pub const MACOS_MANAGED_PREFERENCES: &str =
    "/Library/Managed Preferences/com.secureclose.desktop.plist";

impl PolicySource {
    /// This operating system's machine-wide location.
    pub fn machine() -> Self {
        #[cfg(windows)]
        return PolicySource::WindowsRegistry;
        #[cfg(target_os = "macos")]
        return PolicySource::MacManagedPreferences;
        #[cfg(not(any(windows, target_os = "macos")))]
        PolicySource::File {
            path: PathBuf::from(LINUX_POLICY_FILE),
            owner_uid: 0,
        }
    }
}

/// What the machine policy says about the cloud address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudPolicy {
    /// Validated and normalised, as [`validate_cloud_url`] returns it.
    pub cloud_url: String,
    /// The address cannot be changed in the app (nor by the environment).
    pub locked: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    cloud_url: String,
    locked: Option<bool>,
}

/// Reads the policy; `Ok(None)` when there is none.
pub fn load(source: &PolicySource) -> Result<Option<CloudPolicy>, CoreError> {
    match source {
        PolicySource::None => Ok(None),
        PolicySource::File { path, owner_uid } => load_file(path, *owner_uid),
        #[cfg(windows)]
        PolicySource::WindowsRegistry => windows::load(),
        #[cfg(target_os = "macos")]
        PolicySource::MacManagedPreferences => macos::load(),
    }
}

fn invalid(where_: &str, reason: impl std::fmt::Display) -> CoreError {
    CoreError::Policy {
        reason: format!("{where_}: {reason}"),
    }
}

fn load_file(path: &Path, owner_uid: u32) -> Result<Option<CloudPolicy>, CoreError> {
    let shown = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(invalid(&shown, err)),
    };
    only_owner_writes(path, owner_uid).map_err(|reason| invalid(&shown, reason))?;
    let file: PolicyFile = serde_json::from_str(&text).map_err(|err| invalid(&shown, err))?;
    policy(&shown, &file.cloud_url, file.locked.unwrap_or(true)).map(Some)
}

fn policy(where_: &str, url: &str, locked: bool) -> Result<CloudPolicy, CoreError> {
    let cloud_url = validate_cloud_url(url).map_err(|err| invalid(where_, err))?;
    Ok(CloudPolicy { cloud_url, locked })
}

/// The file and its folder belong to `owner_uid` and nobody else can write
/// them: otherwise a standard user could point the app at their own server.
#[cfg(unix)]
fn only_owner_writes(path: &Path, owner_uid: u32) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let folder = path.parent().unwrap_or(Path::new("/"));
    for (what, at) in [("the policy file", path), ("its folder", folder)] {
        let meta = std::fs::metadata(at).map_err(|err| format!("{what}: {err}"))?;
        if meta.uid() != owner_uid {
            return Err(format!(
                "{what} must belong to user id {owner_uid}, not {}",
                meta.uid()
            ));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(format!("{what} must not be writable by group or others"));
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn only_owner_writes(_path: &Path, _owner_uid: u32) -> Result<(), String> {
    Ok(())
}

/// Not testable on the Linux build machine: compiled and run on Windows only.
#[cfg(windows)]
mod windows {
    use super::{invalid, policy, CloudPolicy, WINDOWS_POLICY_KEY};
    use crate::error::CoreError;

    /// `reg query` ships with every Windows; its output for one value is
    /// `    CloudUrl    REG_SZ    https://...`.
    fn value(name: &str) -> Result<Option<String>, CoreError> {
        let output = std::process::Command::new("reg")
            .args(["query", WINDOWS_POLICY_KEY, "/v", name])
            .output()
            .map_err(|err| invalid(WINDOWS_POLICY_KEY, err))?;
        if !output.status.success() {
            // The key or value does not exist.
            return Ok(None);
        }
        let text = String::from_utf8_lossy(&output.stdout);
        Ok(text.lines().find_map(|line| {
            let mut parts = line.split_whitespace();
            (parts.next() == Some(name)).then(|| {
                let _kind = parts.next();
                parts.collect::<Vec<_>>().join(" ")
            })
        }))
    }

    pub(super) fn load() -> Result<Option<CloudPolicy>, CoreError> {
        let Some(url) = value("CloudUrl")? else {
            return Ok(None);
        };
        let locked = match value("LockCloudUrl")?.as_deref() {
            None => true,
            Some("0x0") => false,
            Some("0x1") => true,
            Some(other) => {
                return Err(invalid(
                    WINDOWS_POLICY_KEY,
                    format!("LockCloudUrl must be a DWORD 0 or 1, not {other}"),
                ))
            }
        };
        policy(WINDOWS_POLICY_KEY, &url, locked).map(Some)
    }
}

/// Not testable on the Linux build machine: compiled and run on macOS only.
#[cfg(target_os = "macos")]
mod macos {
    use super::{invalid, policy, CloudPolicy, MACOS_MANAGED_PREFERENCES};
    use crate::error::CoreError;

    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Managed {
        cloud_url: Option<String>,
        lock_cloud_url: Option<bool>,
    }

    /// Managed preferences may be binary plists: `plutil` (part of macOS)
    /// turns them into JSON.
    pub(super) fn load() -> Result<Option<CloudPolicy>, CoreError> {
        if !std::path::Path::new(MACOS_MANAGED_PREFERENCES).exists() {
            return Ok(None);
        }
        let output = std::process::Command::new("/usr/bin/plutil")
            .args(["-convert", "json", "-o", "-", MACOS_MANAGED_PREFERENCES])
            .output()
            .map_err(|err| invalid(MACOS_MANAGED_PREFERENCES, err))?;
        if !output.status.success() {
            return Err(invalid(
                MACOS_MANAGED_PREFERENCES,
                "plutil could not read it",
            ));
        }
        let managed: Managed = serde_json::from_slice(&output.stdout)
            .map_err(|err| invalid(MACOS_MANAGED_PREFERENCES, err))?;
        let Some(url) = managed.cloud_url else {
            return Ok(None);
        };
        policy(
            MACOS_MANAGED_PREFERENCES,
            &url,
            managed.lock_cloud_url.unwrap_or(true),
        )
        .map(Some)
    }
}

// The file checks are Unix permissions; Windows and macOS readers cannot run here.
#[cfg(test)]
#[cfg(unix)]
mod tests {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use super::*;

    /// A policy folder and file owned by whoever runs the test, mode 0755/0644.
    fn policy_at(dir: &Path, json: &str) -> PolicySource {
        let folder = dir.join("secureclose");
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = folder.join("policy.json");
        std::fs::write(&path, json).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let owner_uid = std::fs::metadata(&path).unwrap().uid();
        PolicySource::File { path, owner_uid }
    }

    #[test]
    fn a_missing_file_is_no_policy() {
        let dir = tempfile::tempdir().unwrap();
        let source = PolicySource::File {
            path: dir.path().join("policy.json"),
            owner_uid: 0,
        };
        assert_eq!(load(&source).unwrap(), None);
        assert_eq!(load(&PolicySource::None).unwrap(), None);
    }

    #[test]
    fn a_policy_locks_by_default_and_normalises_its_address() {
        let dir = tempfile::tempdir().unwrap();
        let source = policy_at(
            dir.path(),
            r#"{"cloud_url": "https://cloud.dealer.example/"}"#,
        );
        assert_eq!(
            load(&source).unwrap(),
            Some(CloudPolicy {
                cloud_url: "https://cloud.dealer.example".into(),
                locked: true
            })
        );
        let source = policy_at(
            dir.path(),
            r#"{"cloud_url": "https://cloud.dealer.example", "locked": false}"#,
        );
        assert!(!load(&source).unwrap().unwrap().locked);
    }

    #[test]
    fn a_broken_policy_is_an_error_never_no_policy() {
        let dir = tempfile::tempdir().unwrap();
        for bad in [
            "not json",
            r#"{"cloud_url": "http://cloud.dealer.example"}"#,
            r#"{"cloud_url": "https://a.example", "lock": true}"#,
            r#"{}"#,
        ] {
            let source = policy_at(dir.path(), bad);
            let err = load(&source).unwrap_err();
            assert_eq!(err.code(), "cloud_policy_invalid", "{bad}: {err:?}");
            assert!(
                err.user_message().contains("policy.json"),
                "says which file: {}",
                err.user_message()
            );
        }
    }

    /// The attack: a standard user who can write the policy would choose
    /// the cloud. A file or folder others can write, or that belongs to
    /// someone else, is refused.
    #[test]
    fn a_policy_a_standard_user_could_change_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let source = policy_at(
            dir.path(),
            r#"{"cloud_url": "https://cloud.dealer.example"}"#,
        );
        let PolicySource::File { path, owner_uid } = source.clone() else {
            unreachable!()
        };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let err = load(&source).unwrap_err();
        assert!(err.to_string().contains("writable"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();

        let folder = path.parent().unwrap();
        std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = load(&source).unwrap_err();
        assert!(err.to_string().contains("folder"), "{err}");
        std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o755)).unwrap();

        let someone_else = PolicySource::File {
            path: path.clone(),
            owner_uid: owner_uid.wrapping_add(1),
        };
        let err = load(&someone_else).unwrap_err();
        assert!(err.to_string().contains("must belong"), "{err}");
        assert!(load(&source).unwrap().is_some(), "the right owner: fine");
    }
}
