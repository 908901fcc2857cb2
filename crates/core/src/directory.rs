//! What the signed-in person reads: their session, their company and its
//! users, from the cache (so it works offline), and a refresh from the cloud.

use std::sync::atomic::Ordering;

use secureclose_protocol::{rules, Company};

use crate::cache::{now_millis, SessionMeta};
use crate::context::Context;
use crate::error::CoreError;
use crate::session::{self, lock, tokens};
use crate::views::{SessionView, UsersPage};

/// Re-fetches the signed-in user, the company and its users from the
/// cloud into the cache (one transaction), and returns the fresh view.
pub(crate) async fn refresh(ctx: &Context) -> Result<SessionView, CoreError> {
    let session = ctx.state.lock().await.require_session()?.clone();
    lock::check(ctx, &session).await?;
    if ctx.signed_in_offline() {
        // No cloud session until the sync resumes one.
        return Err(CoreError::Offline {
            url: ctx.client().base_url().to_owned(),
        });
    }
    let cache = ctx.cache()?;
    let token = tokens::session_token(ctx, &session)?;
    let client = ctx.client();
    let me = session::signed_in_call(ctx, client.me(&token).await).await?;
    let mut users = session::signed_in_call(ctx, client.users(&token).await)
        .await?
        .users;
    if !users.iter().any(|u| u.id == me.user.id) {
        users.push(me.user.clone());
    }
    let state = ctx.state.lock().await;
    // Signed out (or someone else signed in) while we were fetching.
    if state.session() != Some(&session) {
        return Err(CoreError::NotSignedIn);
    }
    let meta = match cache.session_meta().await? {
        Some(meta) => meta,
        None => SessionMeta {
            user_id: session.user_id.clone(),
            company_id: session.company_id.clone(),
            expires_at: session.expires_at,
            signed_in_at: now_millis(),
        },
    };
    cache.store_login(&me.company, &users, &meta).await?;
    drop(state);
    tracing::info!(users = users.len(), "refreshed from the cloud");
    Ok(SessionView {
        idle_lock_minutes: me.company.session_policy.idle_lock_minutes,
        user: me.user,
        company: me.company,
        online: true,
        offline_sign_in: false,
        last_synced_at: cache.last_synced_at().await?,
    })
}

pub(crate) async fn session(ctx: &Context) -> Result<Option<SessionView>, CoreError> {
    let Some(session) = ctx.state.lock().await.session().cloned() else {
        // Ended by the sync: the UI shows why once, then the sign-in page.
        return match ctx.take_end_reason() {
            Some(message) => Err(CoreError::SessionEnded { message }),
            None => Ok(None),
        };
    };
    lock::check(ctx, &session).await?;
    let cache = ctx.cache()?;
    let (Some(user), Some(company)) = (
        cache.user(&session.user_id).await?,
        cache.company(&session.company_id).await?,
    ) else {
        return Ok(None);
    };
    Ok(Some(SessionView {
        idle_lock_minutes: company.session_policy.idle_lock_minutes,
        user,
        company,
        online: ctx.online.load(Ordering::Relaxed),
        offline_sign_in: ctx.signed_in_offline(),
        last_synced_at: cache.last_synced_at().await?,
    }))
}

/// A page of the signed-in company's users from the cache (works
/// offline). `query` is a case-insensitive prefix of name or email.
pub(crate) async fn list_users(
    ctx: &Context,
    query: &str,
    offset: u32,
    limit: u32,
) -> Result<UsersPage, CoreError> {
    let session = lock::guard(ctx).await?;
    let cache = ctx.cache()?;
    // The cache is shared by everyone who signs in on this computer, so it may
    // hold an admin's full rows: a non-admin sees what the cloud would send
    // them (`rules::as_seen_by`). An unknown role counts as non-admin.
    let is_admin = cache.is_admin(&session.user_id).await?;
    let only_active_besides = (!is_admin).then_some(session.user_id.as_str());
    let (mut users, total) = cache
        .list_users(query, only_active_besides, offset, limit)
        .await?;
    if !is_admin {
        for user in users.iter_mut().filter(|u| u.id != session.user_id) {
            rules::withhold_security(user);
        }
    }
    Ok(UsersPage { users, total })
}

pub(crate) async fn company(ctx: &Context) -> Result<Company, CoreError> {
    let company_id = lock::guard(ctx).await?.company_id;
    ctx.cache()?
        .company(&company_id)
        .await?
        .ok_or(CoreError::NotSignedIn)
}
