//! The UI's IPC surface: each command delegates to `AppCore` and turns a
//! `CoreError` into the `{code, message}` the UI shows. No logic lives here.

use std::sync::Arc;

use secureclose_core::error::desktop_codes;
use secureclose_core::sensitive::Sensitive;
use secureclose_core::views::{
    AppInfo, LoginOutcome, PasswordCheck, SessionView, SyncStatus, UpdateInfo, UpdateProgress,
    UsersPage,
};
use secureclose_core::AppCore;
use secureclose_protocol::{
    ApiError, Challenge, Company, CompanyUpdate, NewUserRequest, ReauthStep, RecoveryCodes,
    RecoveryStatus, SecondFactorMethod, SetupCodeGrant, SetupCodeTexted, TotpEnrollment,
    TotpStatus, TrustedComputer, User, UserUpdate,
};
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, State};

use crate::updater::{self, PendingUpdate};

type Core<'a> = State<'a, Arc<AppCore>>;

fn api(err: secureclose_core::CoreError) -> ApiError {
    // Full detail for the log; the person gets the message only.
    tracing::warn!(code = err.code(), error = %err, "command failed");
    ApiError::from(&err)
}

/// The version shown (to admins, support) is the installed bundle's, which
/// the updater compares, not the core crate's.
fn with_app_version(app: &AppHandle, info: AppInfo) -> AppInfo {
    AppInfo {
        version: updater::current_version(app),
        ..info
    }
}

/// Why the core did not open (managed instead of the core): the first
/// command the UI sends answers with it, so the window says what is wrong.
pub struct StartupProblem(pub ApiError);

#[tauri::command]
pub fn app_info(app: AppHandle) -> Result<AppInfo, ApiError> {
    match app.try_state::<Arc<AppCore>>() {
        Some(core) => Ok(with_app_version(&app, core.app_info())),
        None => Err(app
            .try_state::<StartupProblem>()
            .map(|problem| problem.0.clone())
            .unwrap_or_else(|| {
                ApiError::new(desktop_codes::STARTUP_FAILED, "SecureClose did not start.")
            })),
    }
}

#[tauri::command]
pub async fn reset_cache(app: AppHandle, core: Core<'_>) -> Result<AppInfo, ApiError> {
    let info = core.reset_cache().await.map_err(api)?;
    Ok(with_app_version(&app, info))
}

#[tauri::command]
pub async fn set_cloud_url(
    app: AppHandle,
    core: Core<'_>,
    url: String,
) -> Result<AppInfo, ApiError> {
    let info = core.set_cloud_url(&url).await.map_err(api)?;
    Ok(with_app_version(&app, info))
}

#[tauri::command]
pub async fn login(
    core: Core<'_>,
    email: String,
    password: String,
) -> Result<LoginOutcome, ApiError> {
    core.login(&email, &password).await.map_err(api)
}

#[tauri::command]
pub async fn logout(core: Core<'_>) -> Result<(), ApiError> {
    core.logout().await.map_err(api)
}

#[tauri::command]
pub async fn session(core: Core<'_>) -> Result<Option<SessionView>, ApiError> {
    core.session().await.map_err(api)
}

#[tauri::command]
pub async fn list_users(
    core: Core<'_>,
    query: String,
    offset: u32,
    limit: u32,
) -> Result<UsersPage, ApiError> {
    core.list_users(&query, offset, limit).await.map_err(api)
}

#[tauri::command]
pub async fn company(core: Core<'_>) -> Result<Company, ApiError> {
    core.company().await.map_err(api)
}

#[tauri::command]
/// `method` absent: the texted code.
pub async fn verify_code(
    core: Core<'_>,
    code: String,
    method: Option<SecondFactorMethod>,
    remember: Option<bool>,
) -> Result<LoginOutcome, ApiError> {
    let method = method.unwrap_or_default();
    if remember.unwrap_or(false) {
        core.verify_code_trusting_this_computer(method, &code).await
    } else {
        core.verify_code(method, &code).await
    }
    .map_err(api)
}

#[tauri::command]
pub async fn resend_code(core: Core<'_>) -> Result<Challenge, ApiError> {
    core.resend_code().await.map_err(api)
}

#[tauri::command]
pub async fn enroll_phone(core: Core<'_>, mobile_phone: String) -> Result<Challenge, ApiError> {
    core.enroll_phone(&mobile_phone).await.map_err(api)
}

/// Enrolment with an authenticator app instead of a phone: its secret.
#[tauri::command]
pub async fn enroll_totp(core: Core<'_>) -> Result<TotpEnrollment, ApiError> {
    core.enroll_totp().await.map_err(api)
}

/// After `needs_company_choice`: the company the person picked.
#[tauri::command]
pub async fn choose_company(core: Core<'_>, company_id: String) -> Result<LoginOutcome, ApiError> {
    core.choose_company(&company_id).await.map_err(api)
}

#[tauri::command]
pub async fn cancel_login(core: Core<'_>) -> Result<(), ApiError> {
    core.cancel_login().await.map_err(api)
}

#[tauri::command]
pub async fn update_user(
    core: Core<'_>,
    user_id: String,
    update: UserUpdate,
) -> Result<User, ApiError> {
    core.update_user(&user_id, &update).await.map_err(api)
}

#[tauri::command]
pub async fn update_company(core: Core<'_>, update: CompanyUpdate) -> Result<Company, ApiError> {
    core.update_company(&update).await.map_err(api)
}

/// The answer carries the new user's one-time setup code: it goes to the
/// window that shows it and nowhere else (`SetupCodeGrant`'s Debug redacts it).
#[tauri::command]
pub async fn create_user(
    core: Core<'_>,
    request: NewUserRequest,
) -> Result<SetupCodeGrant, ApiError> {
    core.create_user(&request).await.map_err(api)
}

#[tauri::command]
pub async fn reset_password(core: Core<'_>, user_id: String) -> Result<SetupCodeGrant, ApiError> {
    core.reset_password(&user_id).await.map_err(api)
}

/// The setup code comes back from the window that shows it, to be texted to
/// the phone on the user's profile.
#[tauri::command]
pub async fn text_setup_code(
    core: Core<'_>,
    user_id: String,
    setup_code: String,
) -> Result<SetupCodeTexted, ApiError> {
    core.text_setup_code(&user_id, Sensitive::new(setup_code))
        .await
        .map_err(api)
}

#[tauri::command]
pub async fn reset_two_factor(
    core: Core<'_>,
    user_id: String,
    reason: String,
) -> Result<User, ApiError> {
    core.reset_two_factor(&user_id, &reason).await.map_err(api)
}

#[tauri::command]
pub async fn revoke_sessions(core: Core<'_>, user_id: String) -> Result<(), ApiError> {
    core.revoke_sessions(&user_id).await.map_err(api)
}

#[tauri::command]
pub async fn lock_session(core: Core<'_>) -> Result<(), ApiError> {
    core.lock_session().await.map_err(api)
}

#[tauri::command]
pub async fn unlock_session(core: Core<'_>, password: String) -> Result<SessionView, ApiError> {
    core.unlock_session(Sensitive::new(password))
        .await
        .map_err(api)
}

/// First sign-in with a setup code; answers like `login`.
#[tauri::command]
pub async fn activate(
    core: Core<'_>,
    email: String,
    setup_code: String,
    new_password: String,
) -> Result<LoginOutcome, ApiError> {
    core.activate(
        &email,
        Sensitive::new(setup_code),
        Sensitive::new(new_password),
    )
    .await
    .map_err(api)
}

/// The strength meter and the refusal reason as a new password is typed.
#[tauri::command]
pub async fn check_new_password(
    core: Core<'_>,
    password: String,
    email: String,
) -> Result<PasswordCheck, ApiError> {
    core.check_new_password(Sensitive::new(password), &email)
        .await
        .map_err(api)
}

#[tauri::command]
pub async fn totp_status(core: Core<'_>) -> Result<TotpStatus, ApiError> {
    core.totp_status().await.map_err(api)
}

#[tauri::command]
pub async fn begin_totp(core: Core<'_>) -> Result<TotpEnrollment, ApiError> {
    core.begin_totp().await.map_err(api)
}

#[tauri::command]
pub async fn confirm_totp(
    core: Core<'_>,
    enrollment_id: String,
    code: String,
) -> Result<TotpStatus, ApiError> {
    core.confirm_totp(&enrollment_id, &code).await.map_err(api)
}

#[tauri::command]
pub async fn remove_totp(core: Core<'_>) -> Result<(), ApiError> {
    core.remove_totp().await.map_err(api)
}

#[tauri::command]
pub async fn recovery_status(core: Core<'_>) -> Result<RecoveryStatus, ApiError> {
    core.recovery_status().await.map_err(api)
}

/// The codes go back to the window that shows them, and nowhere else
/// (`RecoveryCodes`'s Debug redacts them).
#[tauri::command]
pub async fn regenerate_recovery_codes(core: Core<'_>) -> Result<RecoveryCodes, ApiError> {
    core.regenerate_recovery_codes().await.map_err(api)
}

#[tauri::command]
pub async fn reauthenticate(core: Core<'_>, password: String) -> Result<ReauthStep, ApiError> {
    core.reauthenticate(Sensitive::new(password))
        .await
        .map_err(api)
}

#[tauri::command]
pub async fn verify_reauth(
    core: Core<'_>,
    code: String,
    method: SecondFactorMethod,
) -> Result<i64, ApiError> {
    core.verify_reauth(method, &code).await.map_err(api)
}

#[tauri::command]
pub async fn resend_reauth_code(core: Core<'_>) -> Result<Challenge, ApiError> {
    core.resend_reauth_code().await.map_err(api)
}

#[tauri::command]
pub async fn trusted_computers(core: Core<'_>) -> Result<Vec<TrustedComputer>, ApiError> {
    core.trusted_computers().await.map_err(api)
}

#[tauri::command]
pub async fn revoke_trusted_computer(core: Core<'_>, id: String) -> Result<(), ApiError> {
    core.revoke_trusted_computer(&id).await.map_err(api)
}

#[tauri::command]
pub async fn user_trusted_computers(
    core: Core<'_>,
    user_id: String,
) -> Result<Vec<TrustedComputer>, ApiError> {
    core.user_trusted_computers(&user_id).await.map_err(api)
}

#[tauri::command]
pub async fn revoke_user_trusted_computer(
    core: Core<'_>,
    user_id: String,
    id: String,
) -> Result<(), ApiError> {
    core.revoke_user_trusted_computer(&user_id, &id)
        .await
        .map_err(api)
}

/// Saves the codes just shown to a new text file in the Downloads folder;
/// its path, for the window to show.
#[tauri::command]
pub async fn save_recovery_codes(
    app: AppHandle,
    core: Core<'_>,
    codes: Vec<String>,
) -> Result<String, ApiError> {
    // Linux without XDG user dirs has no Downloads folder: the home folder then.
    let paths = app.path();
    let dir = paths
        .download_dir()
        .or_else(|_| paths.home_dir())
        .map_err(|e| {
            tracing::warn!(%e, "no Downloads or home folder");
            ApiError::new(
                desktop_codes::CACHE,
                "Your Downloads folder could not be found: copy or print the codes instead.",
            )
        })?;
    let path = core.save_recovery_codes(&dir, &codes).await.map_err(api)?;
    Ok(path.display().to_string())
}

#[tauri::command]
pub async fn change_password(
    core: Core<'_>,
    current_password: String,
    new_password: String,
) -> Result<(), ApiError> {
    core.change_password(
        Sensitive::new(current_password),
        Sensitive::new(new_password),
    )
    .await
    .map_err(api)
}

#[tauri::command]
pub async fn refresh(core: Core<'_>) -> Result<SessionView, ApiError> {
    core.refresh().await.map_err(api)
}

#[tauri::command]
pub async fn check_update(
    app: AppHandle,
    pending: State<'_, PendingUpdate>,
) -> Result<Option<UpdateInfo>, ApiError> {
    updater::check(&app, &pending).await
}

#[tauri::command]
pub async fn install_update(
    app: AppHandle,
    pending: State<'_, PendingUpdate>,
    on_progress: Channel<UpdateProgress>,
) -> Result<(), ApiError> {
    updater::install(&app, &pending, on_progress).await
}

#[tauri::command]
pub async fn sync_status(core: Core<'_>) -> Result<SyncStatus, ApiError> {
    Ok(core.sync_status().await)
}

#[tauri::command]
pub async fn sync_now(core: Core<'_>) -> Result<SyncStatus, ApiError> {
    core.sync_now().await.map_err(api)
}

#[tauri::command]
pub async fn dismiss_sync_notice(core: Core<'_>, id: i64) -> Result<SyncStatus, ApiError> {
    core.dismiss_sync_notice(id).await.map_err(api)
}

#[cfg(test)]
mod tests {
    //! A command works only when it is declared (build.rs), allowed
    //! (capabilities) and registered (main.rs); a missed one fails silently
    //! in the UI, so check the three lists agree.
    const BUILD_RS: &str = include_str!("../build.rs");
    const CAPABILITIES: &str = include_str!("../capabilities/default.json");
    const MAIN_RS: &str = include_str!("main.rs");

    fn declared() -> Vec<&'static str> {
        let start = BUILD_RS.find("const COMMANDS").unwrap();
        let list = &BUILD_RS[start..];
        let list = &list[..list.find("];").unwrap()];
        list.split('"').skip(1).step_by(2).collect()
    }

    #[test]
    fn every_declared_command_is_allowed_and_registered() {
        let commands = declared();
        assert!(commands.contains(&"verify_code") && commands.contains(&"refresh"));
        let capabilities: serde_json::Value = serde_json::from_str(CAPABILITIES).unwrap();
        let permissions: Vec<&str> = capabilities["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        let (core, allowed): (Vec<&str>, Vec<&str>) =
            permissions.iter().partition(|p| p.starts_with("core:"));
        assert_eq!(
            core,
            ["core:event:allow-listen", "core:event:allow-unlisten"],
            "of Tauri's own APIs the UI may only listen to events (sync-status)"
        );
        let expected: Vec<String> = commands
            .iter()
            .map(|c| format!("allow-{}", c.replace('_', "-")))
            .collect();
        assert_eq!(
            allowed, expected,
            "capabilities must allow exactly the declared commands"
        );
        for command in &commands {
            assert!(
                MAIN_RS.contains(&format!("commands::{command},")),
                "{command} is declared but not registered in generate_handler!"
            );
        }
    }
}
