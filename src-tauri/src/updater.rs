//! In-app updates through tauri-plugin-updater, behind two commands of our own.
//!
//! The UI never gets the plugin's JS API (capabilities/default.json grants no
//! `updater:` permission): it can only ask "is there an update?" and "install
//! the one you found". The URL, the signature and the public key never cross
//! the IPC boundary, and the plugin verifies the download against the public
//! key built into this binary (tauri.conf.json `plugins.updater.pubkey`)
//! before anything is installed.

use std::sync::Mutex;

use secureclose_core::views::{UpdateInfo, UpdateProgress};
use secureclose_protocol::ApiError;
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_updater::{Update, UpdaterExt};

/// Code of every updater failure the UI shows (quietly: the app keeps working).
pub const UPDATE_FAILED: &str = "update_failed";

/// The update found by the last check, kept here so `install_update` installs
/// exactly what was announced (the UI cannot name another URL).
#[derive(Default)]
pub struct PendingUpdate(Mutex<Option<Update>>);

fn failed(context: &str, err: &tauri_plugin_updater::Error) -> ApiError {
    tracing::warn!(error = %err, "{context}");
    let message = match err {
        tauri_plugin_updater::Error::Minisign(_) | tauri_plugin_updater::Error::Base64(_) => {
            "The update was refused: its signature does not match SecureClose's release key."
                .to_owned()
        }
        tauri_plugin_updater::Error::SignedVersionMismatch { .. }
        | tauri_plugin_updater::Error::MissingSignedVersion => {
            "The update was refused: it is not signed for the version it claims to be.".to_owned()
        }
        _ => format!("{context}: {err}"),
    };
    ApiError::new(UPDATE_FAILED, message)
}

/// The release public key is configured (release and update-test builds). A
/// development build has none and never checks.
fn configured<R: Runtime>(app: &AppHandle<R>) -> bool {
    app.config()
        .plugins
        .0
        .get("updater")
        .and_then(|c| c.get("pubkey"))
        .and_then(|k| k.as_str())
        .is_some_and(|k| !k.trim().is_empty())
}

/// The installed version (from the bundle's configuration, which is what the
/// updater compares and what an admin needs to report).
pub fn current_version<R: Runtime>(app: &AppHandle<R>) -> String {
    app.package_info().version.to_string()
}

/// Asks the configured endpoint for a newer release and remembers it.
pub async fn check<R: Runtime>(
    app: &AppHandle<R>,
    pending: &PendingUpdate,
) -> Result<Option<UpdateInfo>, ApiError> {
    if !configured(app) {
        tracing::debug!("no release key configured: update checks are off in this build");
        return Ok(None);
    }
    let updater = app
        .updater()
        .map_err(|e| failed("The updater is not available", &e))?;
    let found = updater
        .check()
        .await
        .map_err(|e| failed("Could not check for updates", &e))?;
    let info = found.as_ref().map(|u| UpdateInfo {
        version: u.version.clone(),
        current_version: u.current_version.clone(),
        notes: u.body.clone(),
        published_at: u.date.map(|d| d.unix_timestamp().saturating_mul(1000)),
    });
    match &info {
        Some(info) => tracing::info!(version = %info.version, "update available"),
        None => tracing::info!(current = %current_version(app), "SecureClose is up to date"),
    }
    *pending.0.lock().map_err(|_| poisoned())? = found;
    Ok(info)
}

/// Downloads the remembered update, verifies its signature, installs it and
/// restarts into it. Returns only on failure.
pub async fn install<R: Runtime>(
    app: &AppHandle<R>,
    pending: &PendingUpdate,
    on_progress: Channel<UpdateProgress>,
) -> Result<(), ApiError> {
    let update = pending
        .0
        .lock()
        .map_err(|_| poisoned())?
        .take()
        .ok_or_else(|| ApiError::new(UPDATE_FAILED, "No update to install: check again."))?;
    tracing::info!(version = %update.version, "downloading update");
    let mut downloaded = 0u64;
    // A closed channel (window reloaded) must not stop the install.
    let result = update
        .download_and_install(
            |chunk, total| {
                downloaded += chunk as u64;
                let _ = on_progress.send(UpdateProgress::Downloading { downloaded, total });
            },
            || {
                let _ = on_progress.send(UpdateProgress::Installing);
            },
        )
        .await;
    if let Err(e) = result {
        // Keep it: the person may retry (a network failure) without a new check.
        let error = failed("The update could not be installed", &e);
        if let Ok(mut slot) = pending.0.lock() {
            *slot = Some(update);
        }
        return Err(error);
    }
    tracing::info!(version = %update.version, "update installed, restarting");
    app.restart()
}

fn poisoned() -> ApiError {
    ApiError::new(
        UPDATE_FAILED,
        "The updater is in an inconsistent state: restart SecureClose.",
    )
}

/// Registers the plugin and the state the commands use.
pub fn plugin<R: Runtime>() -> tauri::plugin::TauriPlugin<R, tauri_plugin_updater::Config> {
    tauri_plugin_updater::Builder::new().build()
}

pub fn manage<R: Runtime>(app: &AppHandle<R>) {
    app.manage(PendingUpdate::default());
}
