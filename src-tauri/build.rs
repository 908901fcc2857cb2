/// The app's own commands. Declaring them makes Tauri generate one
/// `allow-<command>` permission each, so capabilities/default.json grants
/// exactly these and a new command is unreachable until it is listed there.
const COMMANDS: &[&str] = &[
    "app_info",
    "reset_cache",
    "set_cloud_url",
    "login",
    "logout",
    "session",
    "list_users",
    "company",
    "verify_code",
    "resend_code",
    "enroll_phone",
    "enroll_totp",
    "choose_company",
    "cancel_login",
    "update_user",
    "update_company",
    "create_user",
    "reset_password",
    "text_setup_code",
    "revoke_sessions",
    "reset_two_factor",
    "refresh",
    "lock_session",
    "unlock_session",
    "check_update",
    "install_update",
    "sync_status",
    "sync_now",
    "dismiss_sync_notice",
    "activate",
    "check_new_password",
    "change_password",
    "totp_status",
    "begin_totp",
    "confirm_totp",
    "remove_totp",
    "recovery_status",
    "regenerate_recovery_codes",
    "save_recovery_codes",
    "reauthenticate",
    "verify_reauth",
    "resend_reauth_code",
    "trusted_computers",
    "revoke_trusted_computer",
    "user_trusted_computers",
    "revoke_user_trusted_computer",
];

fn main() {
    let attributes = tauri_build::Attributes::new()
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(err) = tauri_build::try_build(attributes) {
        // Build scripts report failure by panicking; this is build time, not the app.
        panic!("tauri build step failed: {err:#}");
    }
}
