//! The idle lock and the absolute session limit. The UI asks for the lock
//! after the company's idle time (it sees the input; the core does not);
//! from then on the core refuses the person's reads and edits
//! ([`guard`]) until the password is entered again ([`unlock`]), checked
//! against this computer's offline verifier with its slow-down and lock
//! counters. The lock is kept in the cache, so a restart starts locked. The
//! absolute limit ends the session once `max_session_hours` have passed
//! since sign-in, checked by [`guard`] and at each sync pass.

use secureclose_protocol::SessionPolicy;

use crate::cache::{now_millis, Cache};
use crate::context::Context;
use crate::error::CoreError;
use crate::sensitive::Sensitive;
use crate::session::offline;
use crate::session::state::SignedInSession;
use crate::views::LockedSession;

/// The limits of the signed-in person's company (`Company::session_policy`;
/// the defaults when the company is not cached yet).
pub(crate) async fn limits_of(cache: &Cache, company_id: &str) -> Result<SessionPolicy, CoreError> {
    Ok(cache
        .company(company_id)
        .await?
        .map(|company| company.session_policy)
        .unwrap_or_default())
}

/// The session a read or edit may use: signed in, not locked, within the
/// absolute limit (which, once passed, ends the session here).
pub(crate) async fn guard(ctx: &Context) -> Result<SignedInSession, CoreError> {
    let session = ctx.state.signed_in()?;
    check(ctx, &session).await?;
    Ok(session)
}

/// [`guard`] for a session the caller already holds.
pub(crate) async fn check(ctx: &Context, session: &SignedInSession) -> Result<(), CoreError> {
    if ctx.locked().is_some() {
        return Err(CoreError::SessionLocked);
    }
    enforce_limit(ctx, session).await
}

/// Ends `session` when its absolute limit has passed; otherwise nothing.
pub(crate) async fn enforce_limit(
    ctx: &Context,
    session: &SignedInSession,
) -> Result<(), CoreError> {
    let Some(cache) = ctx.cache_opt() else {
        return Ok(());
    };
    let Some(meta) = cache.session_meta().await? else {
        return Ok(());
    };
    if meta.user_id != session.user_id {
        return Ok(());
    }
    let limits = limits_of(&cache, &session.company_id).await?;
    if now_millis() < meta.signed_in_at.saturating_add(limits.max_session_ms()) {
        return Ok(());
    }
    tracing::info!(
        max_session_hours = limits.max_session_hours,
        "the session reached its time limit; signing out"
    );
    end(ctx, session).await;
    Err(CoreError::SessionEnded {
        message: format!(
            "You have been signed in for {} hours, the most your company allows for one \
             session. Sign in again to continue.",
            limits.max_session_hours
        ),
    })
}

/// True when the cached session is past its absolute limit (for the
/// restore at start, which then does not sign anyone in).
pub(crate) async fn expired_in_cache(cache: &Cache) -> Result<bool, CoreError> {
    let Some(meta) = cache.session_meta().await? else {
        return Ok(false);
    };
    let limits = limits_of(cache, &meta.company_id).await?;
    Ok(now_millis() >= meta.signed_in_at.saturating_add(limits.max_session_ms()))
}

/// Locks the signed-in session (the UI saw no input for the idle time).
/// Locking a locked session changes nothing.
pub(crate) async fn lock(ctx: &Context) -> Result<(), CoreError> {
    let session = ctx.state.signed_in()?;
    if ctx.locked().is_some() {
        return Ok(());
    }
    enforce_limit(ctx, &session).await?;
    let cache = ctx.cache()?;
    let who = locked_view(&cache, &session).await?;
    // On disk first: a crash right after must still start locked.
    cache.set_session_locked(true).await?;
    ctx.set_locked(Some(who));
    tracing::info!("session locked");
    Ok(())
}

/// After a restore: the session starts locked when it was locked.
pub(crate) async fn restore_lock(
    ctx: &Context,
    cache: &Cache,
    session: &SignedInSession,
) -> Result<(), CoreError> {
    if cache.session_locked().await? {
        ctx.set_locked(Some(locked_view(cache, session).await?));
        tracing::info!("restored session starts locked");
    }
    Ok(())
}

async fn locked_view(cache: &Cache, session: &SignedInSession) -> Result<LockedSession, CoreError> {
    let user = cache.user(&session.user_id).await?;
    Ok(match user {
        Some(user) => LockedSession {
            display_name: user.display_name,
            email: user.email,
        },
        None => LockedSession {
            display_name: String::new(),
            email: String::new(),
        },
    })
}

/// Unlocks with the signed-in person's password, checked against this
/// computer's offline verifier (slowed down and counted as offline
/// sign-in's are). At the offline lock limit the session ends.
pub(crate) async fn unlock(ctx: &Context, password: Sensitive<String>) -> Result<(), CoreError> {
    // Checked even when not locked: an unlock never skips the password.
    let session = ctx.state.signed_in()?;
    enforce_limit(ctx, &session).await?;
    let cache = ctx.cache()?;
    let email = cache
        .user(&session.user_id)
        .await?
        .map(|user| user.email)
        .unwrap_or_default();
    let credential = cache
        .offline_credentials(&email, Some(&session.company_id))
        .await?
        .into_iter()
        .find(|credential| credential.user_id == session.user_id);
    let Some(credential) = credential else {
        // Nothing here can check the password: only a full sign-in can.
        end(ctx, &session).await;
        return Err(CoreError::SessionEnded {
            message: "This computer cannot check your password to unlock SecureClose. \
                      Sign in again to continue."
                .into(),
        });
    };
    let now = now_millis();
    if let Err(err) = offline::throttle(&credential, now) {
        if credential.failures >= offline::LOCK_AFTER_FAILURES {
            return Err(too_many(ctx, &session).await);
        }
        return Err(err);
    }
    let verifier = credential.verifier.clone();
    let matches =
        tokio::task::spawn_blocking(move || offline::verify(&verifier, password.expose()))
            .await
            .unwrap_or(false);
    if !matches {
        let failures = cache.record_offline_failure(&session.user_id, now).await?;
        tracing::info!(failures, "wrong password at the lock screen");
        if failures >= offline::LOCK_AFTER_FAILURES {
            return Err(too_many(ctx, &session).await);
        }
        return Err(CoreError::Refused {
            code: secureclose_protocol::codes::INVALID_CREDENTIALS,
            message: "That password is not correct.".into(),
            retry_at: None,
        });
    }
    cache.clear_offline_failures(&session.user_id).await?;
    cache.set_session_locked(false).await?;
    ctx.set_locked(None);
    tracing::info!("session unlocked");
    Ok(())
}

async fn too_many(ctx: &Context, session: &SignedInSession) -> CoreError {
    tracing::info!("too many wrong passwords at the lock screen; signing out");
    end(ctx, session).await;
    CoreError::SessionEnded {
        message: "Too many wrong passwords. You have been signed out; sign in again to \
                  continue."
            .into(),
    }
}

/// Ends `session` (if it is still the one signed in), revoking it on the
/// cloud when reachable.
async fn end(ctx: &Context, session: &SignedInSession) {
    let ended = {
        let mut state = ctx.state.lock().await;
        if state.session() != Some(session) {
            return;
        }
        state.sign_out()
    };
    if let Ok(ended) = ended {
        if let Err(err) = super::end_session(ctx, &ended, true).await {
            tracing::warn!(error = %err, "could not end the session");
        }
    }
}
