//! The only code that starts or ends a session on this computer. Every
//! start (online sign-in, offline sign-in, the last run's session restored,
//! an offline session resumed on the cloud) goes through [`establish`];
//! every end through [`end_session`].

pub mod offline;
pub mod sign_in;
pub mod state;
pub mod tokens;

use std::sync::Arc;

use secureclose_protocol::{Company, SessionGrant, User};

use crate::cache::{now_millis, Cache, RevokedReason, SessionMeta};
use crate::context::{Context, OfflineSignIn};
use crate::error::CoreError;
use state::{LoginState, SignedInSession};

/// How a session starts (see [`establish`]).
pub(crate) enum Start<'a> {
    /// Signed in with the cloud: its grant, and the user and company it
    /// answered with (written to the cache). `after_code`: completed with a
    /// code (the login was waiting for one).
    Online {
        grant: &'a SessionGrant,
        user: &'a User,
        company: &'a Company,
        after_code: bool,
    },
    /// Signed in on this computer alone: no cloud token yet; the held
    /// password lets the sync resume a cloud session.
    Offline { held: OfflineSignIn },
    /// The last run's session: its token and cached session are already here.
    Restored,
    /// The sync traded an offline sign-in for a cloud session.
    Resumed { grant: &'a SessionGrant },
}

/// Starts `session`, in this order: the previous person's token goes; this
/// session's token is kept (offline: any old one goes, the resume brings a
/// fresh one) and the cached session written; the device token is kept (a
/// failure there only costs offline resume, so it is a warning); the login
/// state moves to signed in; the offline marker is set or cleared; the sync
/// starts (a resumed session is already the sync's own). A failure before
/// the state moves leaves nobody signed in: no token, state signed out, the
/// error returned. The caller holds the login state's lock throughout.
pub(crate) async fn establish(
    ctx: &Arc<Context>,
    state: &mut LoginState,
    cache: &Cache,
    session: SignedInSession,
    start: Start<'_>,
) -> Result<(), CoreError> {
    if let Some(previous) = state.session() {
        if previous.user_id != session.user_id {
            tokens::forget_token(ctx, &previous.user_id);
        }
    }
    if let Err(err) = write_session(ctx, cache, &session, &start).await {
        tokens::forget_token(ctx, &session.user_id);
        *state = LoginState::SignedOut;
        return Err(err);
    }
    if let Start::Online { grant, .. } | Start::Resumed { grant } = &start {
        if let Some(device_token) = &grant.device_token {
            if let Err(err) = tokens::store_device_token(ctx, &session.user_id, device_token) {
                tracing::warn!(error = %err, "could not keep the device token; offline resume will not work");
            }
        }
    }
    match &start {
        Start::Online {
            after_code: true, ..
        } => state.code_accepted(session)?,
        _ => state.password_accepted(session),
    }
    let resumed = matches!(start, Start::Resumed { .. });
    *ctx.offline.lock().unwrap_or_else(|p| p.into_inner()) = match start {
        Start::Offline { held } => Some(held),
        _ => None,
    };
    if !resumed {
        ctx.start_sync();
    }
    Ok(())
}

/// The token and the cached session of a start.
async fn write_session(
    ctx: &Context,
    cache: &Cache,
    session: &SignedInSession,
    start: &Start<'_>,
) -> Result<(), CoreError> {
    let meta = SessionMeta {
        user_id: session.user_id.clone(),
        company_id: session.company_id.clone(),
        expires_at: session.expires_at,
        signed_in_at: now_millis(),
    };
    match start {
        Start::Online {
            grant,
            user,
            company,
            ..
        } => {
            tokens::store_session_token(ctx, &session.user_id, &grant.token)?;
            cache.store_sign_in(company, user, &meta).await
        }
        Start::Resumed { grant } => {
            tokens::store_session_token(ctx, &session.user_id, &grant.token)?;
            cache.set_session(&meta).await
        }
        Start::Offline { .. } => {
            // A token left from an older session would be refused (401) and
            // sign this person out: the resume brings a fresh one.
            tokens::forget_token(ctx, &session.user_id);
            cache.set_session(&meta).await
        }
        Start::Restored => Ok(()),
    }
}

/// Ends `session` on this device: revokes it on the cloud when `revoke`
/// (best effort), deletes its token, forgets it in the cache.
pub(crate) async fn end_session(
    ctx: &Context,
    session: &SignedInSession,
    revoke: bool,
) -> Result<(), CoreError> {
    if revoke {
        match tokens::session_token(ctx, session) {
            Ok(token) => {
                let revoked = ctx.client().logout(&token).await;
                if let Err(err) = ctx.track(revoked) {
                    tracing::warn!(error = %err, "could not revoke the session on the cloud");
                }
            }
            Err(CoreError::NotSignedIn) => {}
            Err(err) => tracing::warn!(error = %err, "could not read the session token"),
        }
    }
    ctx.session_ended();
    ctx.keys
        .delete(&tokens::token_account(&ctx.scope().ns, &session.user_id))?;
    if let Some(cache) = ctx.cache_opt() {
        cache.clear_session().await?;
    }
    tracing::info!(user_id = %session.user_id, "signed out");
    Ok(())
}

/// A new login replaced someone's session: that session ends here too.
pub(crate) async fn end_replaced(ctx: &Context, replaced: Option<SignedInSession>) {
    if let Some(session) = replaced {
        if let Err(err) = end_session(ctx, &session, true).await {
            tracing::warn!(error = %err, "could not end the replaced session");
        }
    }
}

/// For calls on a pending login: when the cloud says the attempt is
/// over, the state machine forgets it so the UI starts a new sign-in.
pub(crate) async fn attempt_call<T>(
    ctx: &Context,
    result: Result<T, CoreError>,
) -> Result<T, CoreError> {
    let result = ctx.track(result);
    if let Err(err) = &result {
        if err.ends_login_attempt() && ctx.state.lock().await.cancel() {
            ctx.hold_pending_password(None);
            tracing::info!(code = err.code(), "the cloud closed the login attempt");
        }
    }
    result
}

/// For calls with the session token: a rejected token ends the session
/// locally (the cloud already forgot it), so `session()` agrees with the UI.
pub(crate) async fn signed_in_call<T>(
    ctx: &Context,
    result: Result<T, CoreError>,
) -> Result<T, CoreError> {
    let result = ctx.track(result);
    if let Err(err) = &result {
        if err.is_session_rejected() || err.is_account_disabled() {
            let ended = ctx.state.lock().await.sign_out();
            if let Ok(session) = ended {
                if err.is_account_disabled() {
                    revoke_disabled_account(ctx, &session.user_id).await;
                }
                if let Err(end_err) = end_session(ctx, &session, false).await {
                    tracing::warn!(error = %end_err, "could not end the rejected session");
                }
            }
        }
    }
    result
}

/// Signs back in from the last run when its session has not expired and
/// its token is still in the keychain; otherwise tidies up.
pub(crate) async fn restore(ctx: &Arc<Context>) {
    let Some(cache) = ctx.cache_opt() else {
        return;
    };
    let meta = match cache.session_meta().await {
        Ok(Some(meta)) => meta,
        Ok(None) => return,
        Err(err) => {
            tracing::warn!(error = %err, "could not read the cached session");
            return;
        }
    };
    let session = SignedInSession {
        user_id: meta.user_id,
        company_id: meta.company_id,
        expires_at: meta.expires_at,
    };
    let has_token = tokens::session_token(ctx, &session).is_ok();
    if has_token && session.expires_at > now_millis() {
        let mut state = ctx.state.lock().await;
        match establish(ctx, &mut state, &cache, session, Start::Restored).await {
            Ok(()) => tracing::info!("previous session restored"),
            Err(err) => tracing::warn!(error = %err, "could not restore the previous session"),
        }
    } else {
        tokens::forget_token(ctx, &session.user_id);
        if let Err(err) = cache.clear_session().await {
            tracing::warn!(error = %err, "could not clear the stale session");
        }
    }
}

/// Revokes the session on the cloud (best effort: offline sign-out must
/// still work), deletes the token, and signs out. The encrypted cache is
/// kept. Signing out twice is not an error; a pending login is dropped.
pub(crate) async fn logout(ctx: &Context) -> Result<(), CoreError> {
    let Ok(session) = ctx.state.lock().await.sign_out() else {
        return Ok(());
    };
    end_session(ctx, &session, true).await
}

/// The cloud said `user_id` is disabled: their offline access here ends.
pub(crate) async fn revoke_disabled_account(ctx: &Context, user_id: &str) {
    if let Some(cache) = ctx.cache_opt() {
        revoke_offline_access(ctx, &cache, Some(user_id), None, RevokedReason::Disabled).await;
    }
}

/// Ends an account's offline access on this computer: verifier and
/// marker in the cache (see `Cache::revoke_offline`), device token and
/// session token from the keychain. Best effort per step, logged.
pub(crate) async fn revoke_offline_access(
    ctx: &Context,
    cache: &Cache,
    user_id: Option<&str>,
    email: Option<&str>,
    reason: RevokedReason,
) {
    if let Err(err) = cache
        .revoke_offline(user_id, email, reason, now_millis())
        .await
    {
        tracing::warn!(error = %err, "could not revoke offline access in the cache");
    }
    let user_id = match (user_id, email) {
        (Some(id), _) => Some(id.to_owned()),
        (None, Some(email)) => match cache.revoked_user_id(email).await {
            Ok(id) => id,
            Err(err) => {
                tracing::warn!(error = %err, "could not look up the revoked account");
                None
            }
        },
        (None, None) => None,
    };
    if let Some(user_id) = &user_id {
        tokens::forget_device_token(ctx, user_id);
        tokens::forget_token(ctx, user_id);
    }
    tracing::info!(
        ?reason,
        user_id = user_id.as_deref().unwrap_or(""),
        "the cloud ended this account's offline access on this computer"
    );
}
