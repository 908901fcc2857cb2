//! Offline-first sync (tag `sync`): the requests of `service::sync`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use secureclose_protocol::sync::{ChangesPage, ChangesQuery, PushRequest, PushResponse};
use secureclose_protocol::ApiError;

use super::extract::ApiJson;
use crate::error::CloudError;
use crate::service::sessions::AuthedUser;
use crate::service::sync;
use crate::state::AppState;

/// Changes of the caller's company after `since`, in change order: users
/// changed (disabled ones included), ids of deleted users, and the company
/// when it changed. Any signed-in user may pull: every desktop caches its
/// company. Answered gzip-compressed when the client accepts it.
#[utoipa::path(
    get,
    path = "/api/v1/sync/changes",
    tag = "sync",
    security(("bearer" = [])),
    params(ChangesQuery),
    responses(
        (status = 200, description = "One page; an idle check is empty lists with the same cursor", body = ChangesPage),
        (status = 400, description = "validation: since negative, limit outside 1..=5000, or a malformed query", body = ApiError),
        (status = 401, description = "unauthenticated or session_expired", body = ApiError),
        (status = 403, description = "account_disabled", body = ApiError),
    )
)]
pub async fn changes(
    State(state): State<AppState>,
    authed: AuthedUser,
    query: Result<Query<ChangesQuery>, QueryRejection>,
) -> Result<Json<ChangesPage>, CloudError> {
    let Query(query) = query.map_err(|_| {
        CloudError::Validation("since must be an integer and limit 1 to 5000".into())
    })?;
    Ok(Json(sync::changes(&state, &authed, &query).await?))
}

/// Applies a desktop's offline edits, each in its own transaction, in order.
/// Per mutation: a key seen before answers with its first result (nothing
/// changes); otherwise each changed field is merged three-way against its
/// `base` (anyone else's newer value makes the whole mutation a `conflict`),
/// then the admin edit rules apply exactly as for PATCH (`rejected` with
/// their code). Security fields therefore never regress from a stale client.
#[utoipa::path(
    post,
    path = "/api/v1/sync/push",
    tag = "sync",
    security(("bearer" = [])),
    request_body = PushRequest,
    responses(
        (status = 200, description = "One result per mutation, in request order (a non-admin's are each rejected: forbidden)", body = PushResponse),
        (status = 400, description = "validation: more than 500 mutations, or a malformed body", body = ApiError),
        (status = 413, description = "payload_too_large: the body exceeds 2 MiB", body = ApiError),
        (status = 401, description = "unauthenticated or session_expired", body = ApiError),
        (status = 403, description = "account_disabled", body = ApiError),
    )
)]
pub async fn push(
    State(state): State<AppState>,
    authed: AuthedUser,
    ApiJson(request): ApiJson<PushRequest>,
) -> Result<Json<PushResponse>, CloudError> {
    Ok(Json(sync::push(&state, &authed, request).await?))
}
