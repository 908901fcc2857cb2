//! The UI's IPC surface: each command delegates to `AppCore` and turns a
//! `CoreError` into the `{code, message}` the UI shows. No logic lives here.

use std::sync::Arc;

use secureclose_core::ipc::{AppInfo, LoginOutcome, SessionView, UsersPage};
use secureclose_core::AppCore;
use secureclose_protocol::{ApiError, Company};
use tauri::State;

type Core<'a> = State<'a, Arc<AppCore>>;

fn api(err: secureclose_core::CoreError) -> ApiError {
    // Full detail for the log; the person gets the message only.
    tracing::warn!(code = err.code(), error = %err, "command failed");
    ApiError::from(&err)
}

#[tauri::command]
pub fn app_info(core: Core<'_>) -> AppInfo {
    core.app_info()
}

#[tauri::command]
pub async fn reset_cache(core: Core<'_>) -> Result<AppInfo, ApiError> {
    core.reset_cache().await.map_err(api)
}

#[tauri::command]
pub async fn set_cloud_url(core: Core<'_>, url: String) -> Result<AppInfo, ApiError> {
    core.set_cloud_url(&url).await.map_err(api)
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
