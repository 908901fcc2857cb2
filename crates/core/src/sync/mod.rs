//! Background sync: push the outbox (in order, in chunks), then pull the
//! company's changes page by page, each page stored with its cursor in one
//! cache transaction. One pass at a time (a tokio mutex); a scheduler task
//! per session runs a pass on start, after each edit, every
//! `sync_interval` while online, and with exponential backoff and full
//! jitter (1 s → 60 s) while the cloud cannot be reached — each retry starts
//! with a `/health` probe (the reconnect check). A 401 ends the session
//! cleanly (the outbox is kept). An offline sign-in first resumes a cloud
//! session (`/login/resume`).

pub(crate) mod shared;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use rand::Rng;
use secureclose_protocol::sync::{Mutation, MAX_PAGE_ROWS, MAX_PUSH_MUTATIONS};
use secureclose_protocol::{codes, LoginResponse};
use tokio::sync::Notify;

use crate::cache::{now_millis, Cache, RevokedReason};
use crate::client::CloudClient;
use crate::context::Context;
use crate::error::CoreError;
use crate::sensitive::Sensitive;
use crate::session::state::SignedInSession;
use crate::session::{self, tokens, Start};
use crate::views::{SyncState, SyncStatus};
use shared::stopped;

const BACKOFF_FIRST_MS: u64 = 1_000;
const BACKOFF_MAX_MS: u64 = 60_000;

/// What the scheduler does after a pass.
pub(crate) enum Next {
    After(Duration),
    /// Nothing to retry on its own (needs a new sign-in): wait for a wake.
    Wake,
    Stop,
}

/// Why a pass ended early.
enum PassError {
    /// The cloud could not be reached or failed: retry with backoff.
    Failed(CoreError),
    /// Signed in offline and the cloud will not resume the session.
    NeedsSignIn,
    /// The session ended during the pass (401, deleted, signed out).
    Ended,
}

impl From<CoreError> for PassError {
    fn from(err: CoreError) -> Self {
        PassError::Failed(err)
    }
}

/// Full jitter (AWS architecture blog): uniform in [0, min(cap, base·2ⁿ⁻¹)],
/// so desktops that lost the same network do not retry in step. A small
/// floor keeps a zero draw from spinning.
pub fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    let ceiling = BACKOFF_FIRST_MS
        .saturating_mul(1u64 << exp)
        .min(BACKOFF_MAX_MS);
    Duration::from_millis(rand::thread_rng().gen_range(100..=ceiling.max(100)))
}

async fn scheduler(core: Weak<Context>, wake: Arc<Notify>, generation: u64) {
    loop {
        let next = {
            let Some(core) = core.upgrade() else { return };
            if core.sync.generation.load(Ordering::SeqCst) != generation {
                return;
            }
            sync_once(&core).await
        };
        match next {
            Next::Stop => return,
            Next::After(delay) => {
                tokio::select! {
                    () = wake.notified() => {}
                    () = tokio::time::sleep(delay) => {}
                }
            }
            Next::Wake => wake.notified().await,
        }
    }
}

/// Starts (or restarts) the scheduler for the session now signed in.
pub(crate) fn start(ctx: &Arc<Context>) {
    let generation = ctx.sync.generation.fetch_add(1, Ordering::SeqCst) + 1;
    ctx.sync.failures.store(0, Ordering::Relaxed);
    let task = tokio::spawn(scheduler(
        Arc::downgrade(ctx),
        ctx.sync.wake.clone(),
        generation,
    ));
    let previous = ctx
        .sync
        .task
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .replace(task);
    // The previous scheduler sees the new generation and exits.
    drop(previous);
}

/// The status with fresh counts from the cache.
pub(crate) async fn current_status(ctx: &Context) -> SyncStatus {
    let current = ctx.sync.status.borrow().clone();
    status_with(ctx, current.state, current.next_retry_at).await
}

async fn status_with(ctx: &Context, state: SyncState, next_retry_at: Option<i64>) -> SyncStatus {
    // Without waiting for a sign-in in progress (see LoginCell).
    let session = ctx.state.signed_in().ok();
    let (Some(session), Some(cache)) = (session, ctx.cache_opt()) else {
        return stopped();
    };
    let (pending_edits, last_synced_at, notices) = tokio::join!(
        cache.pending_edits(&session.user_id),
        cache.last_synced_at(),
        cache.notices(&session.user_id)
    );
    SyncStatus {
        state,
        online: ctx.online.load(Ordering::Relaxed),
        pending_edits: pending_edits.unwrap_or(0),
        last_synced_at: last_synced_at.ok().flatten(),
        next_retry_at,
        notices: notices.unwrap_or_default(),
    }
}

async fn set_status(ctx: &Context, state: SyncState, next_retry_at: Option<i64>) {
    let status = status_with(ctx, state, next_retry_at).await;
    ctx.sync.publish(status);
}

/// One pass (waiting for any pass in flight), its outcome published.
pub(crate) async fn sync_once(ctx: &Arc<Context>) -> Next {
    let _one_at_a_time = ctx.sync.pass_lock.lock().await;
    let Some(session) = ctx.state.lock().await.session().cloned() else {
        ctx.sync.publish(stopped());
        return Next::Stop;
    };
    // The absolute limit holds whether or not anyone is at the desk (the
    // idle lock does not stop the sync, the limit does).
    if let Err(err) = session::lock::enforce_limit(ctx, &session).await {
        if matches!(err, CoreError::SessionEnded { .. }) {
            ctx.sync.release_waiters();
            ctx.sync.publish(stopped());
            return Next::Stop;
        }
        tracing::warn!(error = %err, "could not check the session's time limit");
    }
    set_status(ctx, SyncState::Syncing, None).await;
    match pass(ctx, session).await {
        Ok(()) => {
            ctx.sync.failures.store(0, Ordering::Relaxed);
            set_status(ctx, SyncState::Idle, None).await;
            Next::After(ctx.sync.interval)
        }
        Err(PassError::NeedsSignIn) => {
            ctx.sync.release_waiters();
            set_status(ctx, SyncState::NeedsSignIn, None).await;
            Next::Wake
        }
        Err(PassError::Ended) => {
            ctx.sync.publish(stopped());
            Next::Stop
        }
        Err(PassError::Failed(err)) => {
            ctx.sync.release_waiters();
            let failures = ctx.sync.failures.fetch_add(1, Ordering::Relaxed) + 1;
            let delay = backoff(failures);
            // No route at all reads "Offline"; a cloud that answered badly
            // (5xx, reset, timeout) reads "Can't reach SecureClose — retrying".
            let offline = matches!(err, CoreError::Offline { .. });
            tracing::info!(code = err.code(), error = %err, failures, "sync pass failed; retrying later");
            let retry_at = now_millis() + i64::try_from(delay.as_millis()).unwrap_or(0);
            let state = if offline {
                SyncState::Offline
            } else {
                SyncState::WaitingToRetry
            };
            set_status(ctx, state, Some(retry_at)).await;
            Next::After(delay)
        }
    }
}

async fn pass(ctx: &Arc<Context>, mut session: SignedInSession) -> Result<(), PassError> {
    let cache = ctx.cache()?;
    let client = ctx.client();
    if ctx.sync.failures.load(Ordering::Relaxed) > 0 {
        // Reconnect probe: while the cloud is away, each retry is one
        // small unauthenticated request, not a resume or a push.
        ctx.track(client.health().await)?;
    }
    let token = match tokens::session_token(ctx, &session) {
        Ok(token) => token,
        Err(CoreError::NotSignedIn) => resume(ctx, &cache, &client, &mut session).await?,
        Err(err) => return Err(err.into()),
    };
    push(ctx, &cache, &client, &token, &session).await?;
    pull(ctx, &cache, &client, &token, &session).await
}

/// A failed cloud call: a refused token ends the session (cleanly, the
/// outbox kept); anything else is retried.
async fn failed(ctx: &Context, err: CoreError, session: &SignedInSession) -> PassError {
    if err.is_account_disabled() {
        tracing::info!("the cloud says this account is disabled; signing out");
        session::revoke_disabled_account(ctx, &session.user_id).await;
        end_from_sync(ctx, session, err.user_message()).await;
        return PassError::Ended;
    }
    if err.is_session_rejected() {
        tracing::info!(
            code = err.code(),
            "the cloud ended the session; signing out"
        );
        // An expired session has the cloud's words; a revoked token's
        // "Sign in to continue." would not say what happened.
        let why = if err.code() == codes::SESSION_EXPIRED {
            err.user_message()
        } else {
            SESSION_ENDED_ON_CLOUD.into()
        };
        end_from_sync(ctx, session, why).await;
        return PassError::Ended;
    }
    PassError::Failed(err)
}

/// Why the session ended when the cloud refused its token (the UI puts
/// "You have been signed out:" before it).
const SESSION_ENDED_ON_CLOUD: &str = "your session was ended on the SecureClose cloud \
     (a password or security change, or an administrator). Sign in again to continue.";

/// Why the session of a person whose account was deleted on the cloud ended.
const ACCOUNT_REMOVED: &str = "an administrator removed your SecureClose account.";

/// Ends `session` from the sync; `why` is what the UI tells the person after
/// "You have been signed out:" (the cloud's own message where it gave one).
async fn end_from_sync(ctx: &Context, session: &SignedInSession, why: String) {
    let mut state = ctx.state.lock().await;
    if state.session() != Some(session) {
        return;
    }
    let ended = state.sign_out();
    ctx.set_end_reason(Some(why));
    // Before anyone can see "signed out": no dead token, no running sync.
    if let Ok(ended) = &ended {
        tokens::forget_token(ctx, &ended.user_id);
    }
    ctx.sync.stop();
    drop(state);
    if let Ok(ended) = ended {
        if let Err(err) = session::end_session(ctx, &ended, false).await {
            tracing::warn!(error = %err, "could not end the session");
        }
    }
}

/// Fails the pass when the session changed under it (signed out, or
/// someone else signed in), before anything is written.
async fn still(ctx: &Context, session: &SignedInSession) -> Result<(), PassError> {
    let state = ctx.state.lock().await;
    match state.session() {
        Some(now) if now.user_id == session.user_id => Ok(()),
        _ => Err(PassError::Ended),
    }
}

async fn push(
    ctx: &Context,
    cache: &Cache,
    client: &CloudClient,
    token: &Sensitive<String>,
    session: &SignedInSession,
) -> Result<(), PassError> {
    loop {
        let batch = cache
            .outbox_batch(&session.user_id, &session.company_id, MAX_PUSH_MUTATIONS)
            .await?;
        if batch.is_empty() {
            return Ok(());
        }
        let mutations: Vec<Mutation> = batch.iter().map(|e| e.mutation.clone()).collect();
        let response = match ctx.track(client.push(token, &mutations).await) {
            Ok(response) => response,
            Err(err) => {
                // The keys make the retry safe whether or not the cloud
                // applied anything before the connection broke.
                if let Err(note) = cache.note_push_failure(&batch, err.code()).await {
                    tracing::warn!(error = %note, "could not note the push failure");
                }
                return Err(failed(ctx, err, session).await);
            }
        };
        let answered = response
            .results
            .iter()
            .filter(|r| {
                mutations
                    .iter()
                    .any(|m| m.idempotency_key == r.idempotency_key)
            })
            .count();
        still(ctx, session).await?;
        let watched = ctx.sync.watched();
        cache
            .apply_push_results(
                &session.user_id,
                &session.company_id,
                &batch,
                &response.results,
                &watched,
            )
            .await?;
        ctx.sync.deliver(&response.results);
        tracing::info!(sent = batch.len(), answered, "pushed queued edits");
        set_status(ctx, SyncState::Syncing, None).await;
        if answered == 0 {
            // Nothing left the outbox: looping would resend the same batch forever.
            return Err(PassError::Failed(CoreError::CloudUnreachable {
                url: client.base_url().to_owned(),
                detail: "the push was answered without results".into(),
            }));
        }
        if batch.len() < MAX_PUSH_MUTATIONS {
            return Ok(());
        }
    }
}

async fn pull(
    ctx: &Context,
    cache: &Cache,
    client: &CloudClient,
    token: &Sensitive<String>,
    session: &SignedInSession,
) -> Result<(), PassError> {
    if cache.is_admin(&session.user_id).await? && cache.restart_pull_if_rows_withheld().await? {
        tracing::info!("rows from a non-admin's sync are cached: pulling the company in full");
    }
    let mut since = cache.sync_cursor().await?;
    // The largest page the cloud allows: per page the cache pays a
    // transaction commit, the cursor and the rebase, and each request
    // a round trip. 5000 users are ~1.5 MB of JSON (less gzipped) and
    // one page's transaction stays short (~0.1 s), so an edit queued
    // meanwhile waits little for the writer.
    let mut fetched = client.changes(token, since, MAX_PAGE_ROWS).await;
    loop {
        let page = match ctx.track(fetched) {
            Ok(page) => page,
            Err(err) => return Err(failed(ctx, err, session).await),
        };
        still(ctx, session).await?;
        let progressed = page.cursor > since;
        // The next page is fetched while this one is written: the cloud's
        // query and the transfer overlap the cache's transaction. Pages
        // are still applied in order, each with its own cursor.
        let prefetch = (page.has_more && progressed)
            .then(|| client.changes(token, page.cursor, MAX_PAGE_ROWS));
        let (applied, next) = tokio::join!(
            cache.apply_changes_page(&session.user_id, &session.company_id, &page),
            async {
                match prefetch {
                    Some(request) => Some(request.await),
                    None => None,
                }
            }
        );
        if applied? {
            tracing::info!("this account was deleted on the cloud; signing out");
            session::revoke_offline_access(
                ctx,
                cache,
                Some(&session.user_id),
                None,
                RevokedReason::Deleted,
            )
            .await;
            end_from_sync(ctx, session, ACCOUNT_REMOVED.into()).await;
            return Err(PassError::Ended);
        }
        if !page.has_more {
            return Ok(());
        }
        let Some(next) = next else {
            return Err(PassError::Failed(CoreError::CloudUnreachable {
                url: client.base_url().to_owned(),
                detail: "a page with more to come did not move the cursor".into(),
            }));
        };
        since = page.cursor;
        fetched = next;
        set_status(ctx, SyncState::Syncing, None).await;
    }
}

/// Signed in offline: trade the held password and this device's token
/// for a cloud session. A refusal (any 4xx) means the person must sign
/// in online again; their queued edits wait for that.
async fn resume(
    ctx: &Arc<Context>,
    cache: &Cache,
    client: &CloudClient,
    session: &mut SignedInSession,
) -> Result<Sensitive<String>, PassError> {
    let held = ctx
        .offline
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let Some(held) = held else {
        return Err(PassError::NeedsSignIn);
    };
    let Some(device) = tokens::device_token(ctx, &session.user_id)? else {
        return Err(PassError::NeedsSignIn);
    };
    let answer = ctx.track(
        client
            .resume(&held.email, &held.password, &device, &session.company_id)
            .await,
    );
    let (grant, user) = match answer {
        Ok(LoginResponse::SignedIn {
            session: grant,
            user,
            ..
        }) => (grant, user),
        Ok(_) => return Err(PassError::NeedsSignIn),
        Err(err) if err.is_account_disabled() => {
            session::revoke_disabled_account(ctx, &session.user_id).await;
            end_from_sync(ctx, session, err.user_message()).await;
            return Err(PassError::Ended);
        }
        Err(CoreError::Cloud { status, code, .. })
            if (400..500).contains(&status) && status != 429 =>
        {
            tracing::info!(%code, "the cloud did not resume the offline session");
            return Err(PassError::NeedsSignIn);
        }
        Err(err) => return Err(PassError::Failed(err)),
    };
    if user.id != session.user_id {
        return Err(PassError::NeedsSignIn);
    }
    let mut state = ctx.state.lock().await;
    if state.session() != Some(session) {
        return Err(PassError::Ended);
    }
    session.expires_at = grant.expires_at;
    let start = Start::Resumed { grant: &grant };
    session::establish(ctx, &mut state, cache, session.clone(), start).await?;
    drop(state);
    tracing::info!(user_id = %user.id, "offline session resumed on the cloud");
    Ok(Sensitive::new(grant.token.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_within_full_jitter_bounds() {
        for failures in 1u32..=20 {
            let ceiling = BACKOFF_FIRST_MS
                .saturating_mul(1u64 << failures.saturating_sub(1).min(16))
                .min(BACKOFF_MAX_MS);
            for _ in 0..50 {
                let delay = backoff(failures).as_millis() as u64;
                assert!(
                    (100..=ceiling.max(100)).contains(&delay),
                    "failure {failures}: {delay} ms must lie in [100, {ceiling}]"
                );
            }
        }
        assert!(
            (0..200).any(|_| backoff(10) > Duration::from_secs(30)),
            "after many failures the cap (60 s) is reachable"
        );
    }
}
