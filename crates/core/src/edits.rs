//! Admins' edits of users and the company: checked and applied to the
//! cache, queued in the outbox (one transaction), pushed by the sync, and
//! waited for (bounded) so the dialog can show the cloud's answer.

use std::sync::Arc;
use std::time::Duration;

use secureclose_protocol::{Company, CompanyUpdate, Role, User, UserUpdate};

use crate::cache::Cache;
use crate::context::Context;
use crate::error::CoreError;
use crate::session::lock;
use crate::session::state::SignedInSession;
use crate::sync::{self, shared::Delivery};

/// How long an edit waits for the cloud's answer before the dialog closes on
/// the optimistic result (the sync keeps trying in the background).
const EDIT_WAIT: Duration = Duration::from_secs(4);

/// An edit written to the cache and the outbox, not yet answered by the
/// cloud. `idempotency_key` is `None` when the edit changed nothing (no row
/// was queued).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedEdit<T> {
    pub idempotency_key: Option<String>,
    /// The entity as the cache now shows it (optimistic).
    pub entity: T,
}

/// What [`AppCore::update_user_keyed`] (or `update_company_keyed`) returned:
/// the answer the dialog gets, and the idempotency key the edit was queued
/// under, so a harness can find the edit on the cloud.
#[derive(Debug)]
pub struct KeyedEdit<T> {
    /// `None` when nothing was queued: refused on the desktop, or no change.
    pub idempotency_key: Option<String>,
    /// Exactly what [`AppCore::update_user`] returns for the same call.
    pub result: Result<T, CoreError>,
}

pub(crate) async fn queue_user_edit(
    ctx: &Context,
    user_id: &str,
    update: &UserUpdate,
    key: String,
) -> Result<QueuedEdit<User>, CoreError> {
    let (session, cache) = admin_context(ctx, "editing users").await?;
    let (entity, queued) = cache
        .enqueue_user_edit(&session.user_id, &session.company_id, user_id, update, &key)
        .await?;
    if queued {
        tracing::info!(%user_id, "user edit queued");
    }
    Ok(QueuedEdit {
        idempotency_key: queued.then_some(key),
        entity,
    })
}

pub(crate) async fn queue_company_edit(
    ctx: &Context,
    update: &CompanyUpdate,
    key: String,
) -> Result<QueuedEdit<Company>, CoreError> {
    let (session, cache) = admin_context(ctx, "editing the company").await?;
    let (entity, queued) = cache
        .enqueue_company_edit(&session.user_id, &session.company_id, update, &key)
        .await?;
    if queued {
        tracing::info!(company_id = %session.company_id, "company edit queued");
    }
    Ok(QueuedEdit {
        idempotency_key: queued.then_some(key),
        entity,
    })
}

pub(crate) async fn update_user(
    ctx: &Context,
    user_id: &str,
    update: &UserUpdate,
) -> KeyedEdit<User> {
    // The waiter exists before the row does, so a pass already in flight
    // that picks the row up answers the dialog rather than a notice.
    let (key, receiver) = ctx.sync.new_waiter();
    let queued = match queue_user_edit(ctx, user_id, update, key.clone()).await {
        Ok(queued) if queued.idempotency_key.is_some() => queued,
        other => {
            // Nothing was queued, so no pass can have counted on it.
            let _ = ctx.sync.forget_waiter(&key);
            return KeyedEdit {
                idempotency_key: None,
                result: other.map(|queued| queued.entity),
            };
        }
    };
    let result = match await_delivery(ctx, &key, receiver).await {
        Delivery::Applied {
            user: Some(user), ..
        } => Ok(user),
        Delivery::Refused(err) => Err(err),
        _ => Ok(queued.entity),
    };
    KeyedEdit {
        idempotency_key: Some(key),
        result,
    }
}

pub(crate) async fn update_company(ctx: &Context, update: &CompanyUpdate) -> KeyedEdit<Company> {
    let (key, receiver) = ctx.sync.new_waiter();
    let queued = match queue_company_edit(ctx, update, key.clone()).await {
        Ok(queued) if queued.idempotency_key.is_some() => queued,
        other => {
            // Nothing was queued, so no pass can have counted on it.
            let _ = ctx.sync.forget_waiter(&key);
            return KeyedEdit {
                idempotency_key: None,
                result: other.map(|queued| queued.entity),
            };
        }
    };
    let result = match await_delivery(ctx, &key, receiver).await {
        Delivery::Applied {
            company: Some(company),
            ..
        } => Ok(company),
        Delivery::Refused(err) => Err(err),
        _ => Ok(queued.entity),
    };
    KeyedEdit {
        idempotency_key: Some(key),
        result,
    }
}

/// Wakes the sync for a queued edit and waits (bounded) for its answer.
async fn await_delivery(
    ctx: &Context,
    key: &str,
    mut receiver: tokio::sync::oneshot::Receiver<Delivery>,
) -> Delivery {
    ctx.sync.publish(sync::current_status(ctx).await);
    ctx.sync.wake();
    let mut delivery = tokio::time::timeout(EDIT_WAIT, &mut receiver).await;
    // Too late for the dialog: a later refusal becomes a notice, unless
    // a pass already has the answer in hand and counted on this dialog
    // to show it; then it is moments away (bounded again all the same:
    // a core shutting down aborts passes).
    if delivery.is_err() && !ctx.sync.forget_waiter(key) {
        delivery = tokio::time::timeout(EDIT_WAIT, &mut receiver).await;
    }
    match delivery {
        Ok(Ok(delivery)) => delivery,
        _ => Delivery::NotSent,
    }
}

/// The signed-in session, its token and the cache, for an admin action.
/// Mirrors the cloud's rule locally: only admins edit (the cloud enforces it).
pub(crate) async fn admin_context(
    ctx: &Context,
    action: &'static str,
) -> Result<(SignedInSession, Arc<Cache>), CoreError> {
    let session = ctx.state.lock().await.require_session()?.clone();
    lock::check(ctx, &session).await?;
    let cache = ctx.cache()?;
    let me = cache.user(&session.user_id).await?;
    if !me.is_some_and(|me| me.role == Role::Admin) {
        return Err(CoreError::Forbidden { action });
    }
    Ok((session, cache))
}
