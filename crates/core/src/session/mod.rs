//! The only code that starts or ends a session on this computer. Every
//! start (online sign-in, offline sign-in, the last run's session restored,
//! an offline session resumed on the cloud) goes through [`establish`];
//! every end through [`end_session`].

pub mod factors;
pub mod lock;
pub mod offline;
pub mod offline_app;
pub mod password;
pub mod reauth;
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
    ctx.set_end_reason(None);
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
    match start {
        // A resume happens under the lock (the sync continues), and a
        // restored session keeps the lock it had.
        Start::Resumed { .. } => {}
        Start::Restored => {
            let restored = state.session().cloned();
            let read = match &restored {
                Some(restored) => lock::restore_lock(ctx, cache, restored).await,
                None => Ok(()),
            };
            if let Err(err) = read {
                // Unknown lock state: locked is the safe side.
                tracing::warn!(error = %err, "could not read the lock of the restored session");
                ctx.set_locked(Some(crate::views::LockedSession {
                    display_name: String::new(),
                    email: String::new(),
                }));
            }
        }
        _ => ctx.set_locked(None),
    }
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
            // The session began at the offline sign-in: the absolute limit
            // counts from there.
            let signed_in_at = match cache.session_meta().await? {
                Some(old) if old.user_id == meta.user_id => old.signed_in_at,
                _ => meta.signed_in_at,
            };
            cache
                .set_session(&SessionMeta {
                    signed_in_at,
                    ..meta
                })
                .await
        }
        Start::Offline { .. } => {
            // A token left from an older session would be refused (401) and
            // sign this person out: the resume brings a fresh one.
            tokens::forget_token(ctx, &session.user_id);
            cache.set_session(&meta).await?;
            cache.set_session_locked(false).await
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
    // Past the absolute limit (or unknown): a full sign-in is needed.
    let over_limit = lock::expired_in_cache(&cache).await.unwrap_or(true);
    if over_limit {
        tracing::info!("the previous session reached its time limit; not restored");
    }
    if has_token && !over_limit && session.expires_at > now_millis() {
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
    ctx.set_end_reason(None);
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

#[cfg(test)]
mod tests {
    //! Each of the four starts through `establish`: afterwards the token, the
    //! cached session, the login state, the offline marker and the sync all
    //! say the same thing; and a failed write leaves nobody signed in.

    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::cache::tests::{company, user};
    use crate::client::tests::dead_url;
    use crate::context::CloudScope;
    use crate::keystore::tests::MemoryKeyStore;
    use crate::sensitive::Sensitive;
    use crate::sync::{self, shared::SyncShared};

    /// Ends the sync these tests started and closes the cache before the
    /// test returns: a sync pass still writing while the process exits has
    /// aborted the test binary ("double free") after the test passed.
    async fn stop_sync(ctx: &Context, cache: &crate::cache::Cache) {
        ctx.sync.abort();
        cache.close().await;
    }

    /// The cache fixture's session, signed in now: one signed in long ago is
    /// past the absolute limit, and the first sync pass would end it while a
    /// test still looks at it.
    fn cached_session() -> SessionMeta {
        SessionMeta {
            signed_in_at: now_millis(),
            ..crate::cache::tests::session()
        }
    }

    async fn context(dir: &Path, keys: &Arc<MemoryKeyStore>) -> (Arc<Context>, Arc<Cache>) {
        let scope = CloudScope::new(dir, &dead_url().await).unwrap();
        let cache = Arc::new(
            Cache::open(&scope.cache_path, &**keys, &scope.key_account)
                .await
                .unwrap(),
        );
        let ctx = Context::new(
            dir.to_owned(),
            keys.clone(),
            None,
            scope,
            Some(cache.clone()),
            SyncShared::new(Duration::from_secs(3600)),
            sync::start,
        );
        (Arc::new(ctx), cache)
    }

    fn signed_in(expires_at: i64) -> SignedInSession {
        SignedInSession {
            user_id: "u1".into(),
            company_id: "c1".into(),
            expires_at,
        }
    }

    fn grant(token: &str) -> SessionGrant {
        SessionGrant {
            token: token.into(),
            expires_at: 4_000_000_000_000,
            device_token: Some(format!("device-of-{token}")),
            recovery: None,
            trusted_computer: None,
            offline_app: None,
        }
    }

    fn stored(ctx: &Context, account: String) -> Option<String> {
        ctx.keys
            .get(&account)
            .unwrap()
            .map(|bytes| String::from_utf8(bytes).unwrap())
    }

    fn session_token_of(ctx: &Context, user_id: &str) -> Option<String> {
        stored(ctx, tokens::token_account(&ctx.scope().ns, user_id))
    }

    fn device_token_of(ctx: &Context, user_id: &str) -> Option<String> {
        stored(ctx, tokens::device_account(&ctx.scope().ns, user_id))
    }

    async fn cached_user_id(cache: &Cache) -> Option<String> {
        cache.session_meta().await.unwrap().map(|meta| meta.user_id)
    }

    fn held() -> OfflineSignIn {
        OfflineSignIn {
            email: "alice@desertmotors.example".into(),
            password: Sensitive::new("pw".into()),
        }
    }

    #[tokio::test]
    async fn an_online_start_keeps_both_tokens_caches_the_session_and_starts_the_sync() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(MemoryKeyStore::default());
        let (ctx, cache) = context(dir.path(), &keys).await;
        let grant = grant("online-token");
        let mut state = ctx.state.lock().await;
        let start = Start::Online {
            grant: &grant,
            user: &user("u1", "Alice", "alice@desertmotors.example"),
            company: &company(),
            after_code: false,
        };
        establish(&ctx, &mut state, &cache, signed_in(grant.expires_at), start)
            .await
            .unwrap();
        assert_eq!(state.session(), Some(&signed_in(grant.expires_at)));
        drop(state);
        assert_eq!(
            session_token_of(&ctx, "u1").as_deref(),
            Some("online-token")
        );
        assert_eq!(
            device_token_of(&ctx, "u1").as_deref(),
            Some("device-of-online-token")
        );
        assert_eq!(cached_user_id(&cache).await.as_deref(), Some("u1"));
        assert!(
            cache.user("u1").await.unwrap().is_some(),
            "the user is cached"
        );
        assert!(!ctx.signed_in_offline());
        assert!(ctx.sync.is_running(), "an online start starts the sync");
        stop_sync(&ctx, &cache).await;
    }

    #[tokio::test]
    async fn an_offline_start_drops_any_old_token_marks_offline_and_starts_the_sync() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(MemoryKeyStore::default());
        let (ctx, cache) = context(dir.path(), &keys).await;
        cache
            .store_login(
                &company(),
                &[user("u1", "Alice", "a@x.example")],
                &cached_session(),
            )
            .await
            .unwrap();
        tokens::store_session_token(&ctx, "u1", "stale").unwrap();
        let mut state = ctx.state.lock().await;
        let session = signed_in(4_000_000_000_000);
        establish(
            &ctx,
            &mut state,
            &cache,
            session.clone(),
            Start::Offline { held: held() },
        )
        .await
        .unwrap();
        assert_eq!(state.session(), Some(&session));
        drop(state);
        assert_eq!(
            session_token_of(&ctx, "u1"),
            None,
            "a token from an older session would be refused and sign this person out"
        );
        assert_eq!(cached_user_id(&cache).await.as_deref(), Some("u1"));
        assert!(
            ctx.signed_in_offline(),
            "the held password waits for the resume"
        );
        assert!(ctx.sync.is_running(), "the sync resumes a cloud session");
        stop_sync(&ctx, &cache).await;
    }

    #[tokio::test]
    async fn a_restored_start_keeps_the_last_runs_token_and_session_and_starts_the_sync() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(MemoryKeyStore::default());
        let (ctx, cache) = context(dir.path(), &keys).await;
        cache
            .store_login(
                &company(),
                &[user("u1", "Alice", "a@x.example")],
                &cached_session(),
            )
            .await
            .unwrap();
        tokens::store_session_token(&ctx, "u1", "last-run").unwrap();
        let mut state = ctx.state.lock().await;
        let session = signed_in(cached_session().expires_at);
        establish(&ctx, &mut state, &cache, session.clone(), Start::Restored)
            .await
            .unwrap();
        assert_eq!(state.session(), Some(&session));
        drop(state);
        assert_eq!(session_token_of(&ctx, "u1").as_deref(), Some("last-run"));
        assert_eq!(cached_user_id(&cache).await.as_deref(), Some("u1"));
        assert!(!ctx.signed_in_offline());
        assert!(ctx.sync.is_running());
        stop_sync(&ctx, &cache).await;
    }

    #[tokio::test]
    async fn a_resumed_start_keeps_the_new_tokens_clears_offline_and_leaves_the_sync_to_itself() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(MemoryKeyStore::default());
        let (ctx, cache) = context(dir.path(), &keys).await;
        cache
            .store_login(
                &company(),
                &[user("u1", "Alice", "a@x.example")],
                &cached_session(),
            )
            .await
            .unwrap();
        let offline = signed_in(1_000);
        ctx.state.lock().await.password_accepted(offline);
        *ctx.offline.lock().unwrap() = Some(held());
        let grant = grant("resumed-token");
        let mut state = ctx.state.lock().await;
        let resumed = signed_in(grant.expires_at);
        let start = Start::Resumed { grant: &grant };
        establish(&ctx, &mut state, &cache, resumed.clone(), start)
            .await
            .unwrap();
        assert_eq!(state.session(), Some(&resumed), "the cloud's expiry now");
        drop(state);
        assert_eq!(
            session_token_of(&ctx, "u1").as_deref(),
            Some("resumed-token")
        );
        assert_eq!(
            device_token_of(&ctx, "u1").as_deref(),
            Some("device-of-resumed-token"),
            "the used device token is replaced"
        );
        let meta = cache.session_meta().await.unwrap().unwrap();
        assert_eq!(meta.expires_at, grant.expires_at);
        assert!(!ctx.signed_in_offline(), "no password is held any more");
        assert!(
            !ctx.sync.is_running(),
            "the resume runs inside a sync pass: it must not start a second scheduler"
        );
    }

    #[tokio::test]
    async fn every_start_that_cannot_write_its_session_leaves_nobody_signed_in() {
        for name in ["online", "offline", "resumed"] {
            let dir = tempfile::tempdir().unwrap();
            let keys = Arc::new(MemoryKeyStore::default());
            let (ctx, cache) = context(dir.path(), &keys).await;
            // A closed pool: every cache write fails.
            cache.close().await;
            let grant = grant("token");
            let (user, company) = (user("u1", "Alice", "a@x.example"), company());
            let start = match name {
                "online" => Start::Online {
                    grant: &grant,
                    user: &user,
                    company: &company,
                    after_code: false,
                },
                "offline" => Start::Offline { held: held() },
                _ => Start::Resumed { grant: &grant },
            };
            let mut state = ctx.state.lock().await;
            let result =
                establish(&ctx, &mut state, &cache, signed_in(grant.expires_at), start).await;
            assert!(
                result.is_err(),
                "{name}: the failed write is the caller's error"
            );
            assert_eq!(state.session(), None, "{name}: nobody is signed in");
            drop(state);
            assert_eq!(
                session_token_of(&ctx, "u1"),
                None,
                "{name}: no token is left behind"
            );
            assert!(
                !ctx.sync.is_running(),
                "{name}: no sync for a session that did not start"
            );
        }
    }
}
