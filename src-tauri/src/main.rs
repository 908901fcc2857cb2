//! SecureClose desktop shell: opens the core, registers the commands, shows
//! the window. Everything else lives in `secureclose-core`.

// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;
mod updater;

use std::path::PathBuf;
use std::sync::Arc;

use secureclose_core::app::DEFAULT_CLOUD_URL;
use secureclose_core::error::desktop_codes;
use secureclose_core::{AppCore, CoreConfig, OsKeyStore, PolicySource};
use secureclose_protocol::ApiError;
use tauri::{Emitter, Manager};
use tracing_subscriber::EnvFilter;

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    #[allow(clippy::expect_used)] // start-up: nothing to show without a window
    tauri::Builder::default()
        .plugin(updater::plugin())
        .setup(|app| {
            updater::manage(app.handle());
            let data_dir = match std::env::var_os("SECURECLOSE_DATA_DIR") {
                Some(dir) => PathBuf::from(dir),
                None => app.path().app_data_dir()?,
            };
            // Explicit env wins (dev, tests), then the user's saved setting,
            // then the build's default; a machine policy that locks the
            // address overrides all three (in core).
            let cloud_url = std::env::var("SECURECLOSE_CLOUD_URL")
                .ok()
                .or_else(|| AppCore::saved_cloud_url(&data_dir))
                .unwrap_or_else(|| DEFAULT_CLOUD_URL.to_owned());
            tracing::info!(
                version = %updater::current_version(app.handle()),
                data_dir = %data_dir.display(),
                %cloud_url,
                "starting SecureClose"
            );
            let key_store = Arc::new(OsKeyStore::new()?);
            let opened = tauri::async_runtime::block_on(AppCore::open(CoreConfig {
                data_dir,
                cloud_url,
                key_store,
                policy: PolicySource::machine(),
                sync_interval: CoreConfig::DEFAULT_SYNC_INTERVAL,
            }));
            let core = match opened {
                Ok(core) => core,
                // A machine policy that cannot be used: no sign-in (its lock
                // may be what keeps this computer on the right cloud), but a
                // window that tells the person why instead of no window.
                Err(err) if err.code() == desktop_codes::CLOUD_POLICY_INVALID => {
                    tracing::error!(error = %err, "the machine policy cannot be used");
                    app.manage(commands::StartupProblem(ApiError::from(&err)));
                    return Ok(());
                }
                Err(err) => return Err(err.into()),
            };
            // The status bar follows the sync through this event.
            let mut status = core.subscribe_sync();
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                while status.changed().await.is_ok() {
                    let now = status.borrow_and_update().clone();
                    if let Err(err) = handle.emit("sync-status", now) {
                        tracing::warn!(error = %err, "could not send the sync status to the UI");
                    }
                }
            });
            app.manage(Arc::new(core));
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::reset_cache,
            commands::set_cloud_url,
            commands::login,
            commands::logout,
            commands::session,
            commands::list_users,
            commands::company,
            commands::verify_code,
            commands::resend_code,
            commands::enroll_phone,
            commands::enroll_totp,
            commands::choose_company,
            commands::cancel_login,
            commands::update_user,
            commands::update_company,
            commands::create_user,
            commands::reset_password,
            commands::text_setup_code,
            commands::revoke_sessions,
            commands::reset_two_factor,
            commands::recovery_status,
            commands::regenerate_recovery_codes,
            commands::save_recovery_codes,
            commands::reauthenticate,
            commands::verify_reauth,
            commands::resend_reauth_code,
            commands::trusted_computers,
            commands::revoke_trusted_computer,
            commands::user_trusted_computers,
            commands::revoke_user_trusted_computer,
            commands::refresh,
            commands::lock_session,
            commands::unlock_session,
            commands::check_update,
            commands::install_update,
            commands::sync_status,
            commands::sync_now,
            commands::dismiss_sync_notice,
            commands::activate,
            commands::check_new_password,
            commands::change_password,
            commands::totp_status,
            commands::begin_totp,
            commands::confirm_totp,
            commands::remove_totp,
        ])
        .run(tauri::generate_context!())
        .expect("SecureClose failed to start (see the log above for the cause)");
}
