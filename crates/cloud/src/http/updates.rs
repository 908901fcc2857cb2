//! The desktop updater's endpoint. Public (no session): the app checks before
//! anyone signs in, and the manifest holds nothing secret.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use crate::error::CloudError;
use crate::service::releases::{self, UpdateManifest};
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct UpdateQuery {
    /// The running app's bundle type (`deb`, `rpm`, `appimage`, `nsis`, `msi`, `app`): a
    /// .deb install must be offered a .deb. Absent or unknown (a dev build): no update.
    pub installer: Option<String>,
}

/// The newest release for this platform when newer than `current_version`.
#[utoipa::path(
    get,
    path = "/updates/{target}/{arch}/{current_version}",
    tag = "updates",
    params(
        ("target" = String, Path, description = "linux, windows or darwin"),
        ("arch" = String, Path, description = "x86_64, aarch64, ..."),
        ("current_version" = String, Path, description = "The running app's semantic version"),
        UpdateQuery,
    ),
    responses(
        (status = 200, description = "A newer release (tauri-plugin-updater manifest)", body = UpdateManifest),
        (status = 204, description = "The app is up to date"),
        (status = 400, description = "validation: current_version is not a semantic version"),
    )
)]
pub async fn check(
    State(state): State<AppState>,
    Path((target, arch, current_version)): Path<(String, String, String)>,
    Query(query): Query<UpdateQuery>,
) -> Result<Response, CloudError> {
    let current = releases::parse_version(&current_version)?;
    let Some(installer) = query.installer else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let newer = releases::newer_than(&state.db, &target, &arch, &installer, &current).await?;
    Ok(match newer {
        Some(manifest) => Json(manifest).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}
