//! Background sync: push the outbox (in order, in chunks), then pull the
//! company's changes page by page, each page stored with its cursor in one
//! cache transaction. One pass at a time (a tokio mutex); a scheduler task
//! per session runs a pass on start, after each edit, every
//! `sync_interval` while online, and with exponential backoff and full
//! jitter (1 s → 60 s) while the cloud cannot be reached — each retry starts
//! with a `/health` probe (the reconnect check). A 401 ends the session
//! cleanly (the outbox is kept). An offline sign-in first resumes a cloud
//! session (`/login/resume`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use rand::Rng;
use secureclose_protocol::sync::{
    Mutation, MutationOutcome, MutationResult, MAX_PAGE_ROWS, MAX_PUSH_MUTATIONS,
};
use secureclose_protocol::{codes, ApiError, Company, LoginResponse, User};
use tokio::sync::{oneshot, watch, Notify};
use tokio::task::JoinHandle;

use crate::app::Inner;
use crate::auth::SignedInSession;
use crate::cache::{now_millis, Cache, RevokedReason, SessionMeta};
use crate::client::CloudClient;
use crate::error::CoreError;
use crate::ipc::{SyncState, SyncStatus};
use crate::sensitive::Sensitive;

const BACKOFF_FIRST_MS: u64 = 1_000;
const BACKOFF_MAX_MS: u64 = 60_000;

/// What a queued edit's waiter learns.
#[derive(Debug)]
pub(crate) enum Delivery {
    Applied {
        user: Option<User>,
        company: Option<Company>,
    },
    Refused(CoreError),
    /// The pass failed before the cloud answered (offline): the edit stays queued.
    NotSent,
}

/// Sync state shared by the core and its scheduler task.
pub(crate) struct SyncShared {
    status: watch::Sender<SyncStatus>,
    wake: Arc<Notify>,
    /// At most one pass in flight.
    pass_lock: tokio::sync::Mutex<()>,
    task: Mutex<Option<JoinHandle<()>>>,
    /// Bumped by every start/stop: a scheduler whose generation is old exits.
    generation: AtomicU64,
    failures: AtomicU32,
    waiters: Mutex<HashMap<String, Waiter>>,
    interval: Duration,
}

/// Someone (an edit dialog) waiting for the cloud's answer to one edit.
struct Waiter {
    sender: oneshot::Sender<Delivery>,
    /// A pass has counted on this waiter to show the answer (so it wrote no
    /// notice for it): the waiter may no longer be forgotten, or a refusal
    /// would reach no one.
    promised: bool,
}

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

impl SyncShared {
    pub(crate) fn new(interval: Duration) -> Self {
        let (status, _) = watch::channel(stopped());
        Self {
            status,
            wake: Arc::new(Notify::new()),
            pass_lock: tokio::sync::Mutex::new(()),
            task: Mutex::new(None),
            generation: AtomicU64::new(0),
            failures: AtomicU32::new(0),
            waiters: Mutex::new(HashMap::new()),
            interval,
        }
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<SyncStatus> {
        self.status.subscribe()
    }

    pub(crate) fn publish(&self, status: SyncStatus) {
        self.status.send_if_modified(|current| {
            let changed = *current != status;
            *current = status;
            changed
        });
    }

    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stops the scheduler without aborting it (it may be the caller): it
    /// exits at its next step. A pass in flight finishes its request and
    /// checks the session before writing.
    pub(crate) fn stop(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        drop(self.task.lock().unwrap_or_else(|p| p.into_inner()).take());
        self.failures.store(0, Ordering::Relaxed);
        self.wake.notify_one();
        self.publish(stopped());
        self.release_waiters();
    }

    /// The core is gone: abort the task outright.
    pub(crate) fn abort(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Some(task) = self.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort();
        }
    }

    /// A fresh idempotency key and the receiver of its answer.
    pub(crate) fn new_waiter(&self) -> (String, oneshot::Receiver<Delivery>) {
        let key = uuid::Uuid::new_v4().to_string();
        let (sender, receiver) = oneshot::channel();
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                key.clone(),
                Waiter {
                    sender,
                    promised: false,
                },
            );
        (key, receiver)
    }

    /// The caller stops waiting for `key`. Refused (false) when a pass has
    /// already counted on this waiter to show the answer, which is then
    /// moments away: the caller must take it from its receiver.
    #[must_use]
    pub(crate) fn forget_waiter(&self, key: &str) -> bool {
        let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        if waiters.get(key).is_some_and(|w| w.promised) {
            return false;
        }
        waiters.remove(key);
        true
    }

    /// Keys someone is still waiting for: their refusal is shown by the
    /// dialog, so it needs no notice. From here on those waiters are
    /// promised an answer (see [`Self::forget_waiter`]).
    fn watched(&self) -> HashSet<String> {
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter_mut()
            .filter(|(_, waiter)| !waiter.sender.is_closed())
            .map(|(key, waiter)| {
                waiter.promised = true;
                key.clone()
            })
            .collect()
    }

    fn deliver(&self, results: &[MutationResult]) {
        let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        for result in results {
            if let Some(waiter) = waiters.remove(&result.idempotency_key) {
                let _ = waiter.sender.send(delivery_of(result));
            }
        }
    }

    /// The pass failed: every waiting edit returns its optimistic result.
    fn release_waiters(&self) {
        let drained: Vec<_> = self
            .waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .collect();
        for (_, waiter) in drained {
            let _ = waiter.sender.send(Delivery::NotSent);
        }
    }
}

fn delivery_of(result: &MutationResult) -> Delivery {
    match &result.outcome {
        MutationOutcome::Applied { .. } => Delivery::Applied {
            user: result.user.clone(),
            company: result.company.clone(),
        },
        MutationOutcome::Rejected { error } => {
            let status = if error.code == codes::FORBIDDEN {
                403
            } else {
                400
            };
            Delivery::Refused(CoreError::from_api(status, error.clone()))
        }
        MutationOutcome::Conflict { message, .. } => Delivery::Refused(CoreError::from_api(
            409,
            ApiError::new(codes::CONFLICT, message.clone()),
        )),
    }
}

fn stopped() -> SyncStatus {
    SyncStatus {
        state: SyncState::Stopped,
        online: false,
        pending_edits: 0,
        last_synced_at: None,
        next_retry_at: None,
        notices: Vec::new(),
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

async fn scheduler(core: Weak<Inner>, wake: Arc<Notify>, generation: u64) {
    loop {
        let next = {
            let Some(core) = core.upgrade() else { return };
            if core.sync.generation.load(Ordering::SeqCst) != generation {
                return;
            }
            core.sync_once().await
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

impl Inner {
    /// Starts (or restarts) the scheduler for the session now signed in.
    pub(crate) fn start_sync(self: &Arc<Self>) {
        let generation = self.sync.generation.fetch_add(1, Ordering::SeqCst) + 1;
        self.sync.failures.store(0, Ordering::Relaxed);
        let task = tokio::spawn(scheduler(
            Arc::downgrade(self),
            self.sync.wake.clone(),
            generation,
        ));
        let previous = self
            .sync
            .task
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(task);
        // The previous scheduler sees the new generation and exits.
        drop(previous);
    }

    /// The status with fresh counts from the cache.
    pub(crate) async fn current_status(&self) -> SyncStatus {
        let current = self.sync.status.borrow().clone();
        self.status_with(current.state, current.next_retry_at).await
    }

    async fn status_with(&self, state: SyncState, next_retry_at: Option<i64>) -> SyncStatus {
        // Without waiting for a sign-in in progress (see LoginCell).
        let session = self.state.signed_in().ok();
        let (Some(session), Some(cache)) = (session, self.cache_opt()) else {
            return stopped();
        };
        let (pending_edits, last_synced_at, notices) = tokio::join!(
            cache.pending_edits(&session.user_id),
            cache.last_synced_at(),
            cache.notices(&session.user_id)
        );
        SyncStatus {
            state,
            online: self.online.load(Ordering::Relaxed),
            pending_edits: pending_edits.unwrap_or(0),
            last_synced_at: last_synced_at.ok().flatten(),
            next_retry_at,
            notices: notices.unwrap_or_default(),
        }
    }

    async fn set_status(&self, state: SyncState, next_retry_at: Option<i64>) {
        let status = self.status_with(state, next_retry_at).await;
        self.sync.publish(status);
    }

    /// One pass (waiting for any pass in flight), its outcome published.
    pub(crate) async fn sync_once(&self) -> Next {
        let _one_at_a_time = self.sync.pass_lock.lock().await;
        let Some(session) = self.state.lock().await.session().cloned() else {
            self.sync.publish(stopped());
            return Next::Stop;
        };
        self.set_status(SyncState::Syncing, None).await;
        match self.pass(session).await {
            Ok(()) => {
                self.sync.failures.store(0, Ordering::Relaxed);
                self.set_status(SyncState::Idle, None).await;
                Next::After(self.sync.interval)
            }
            Err(PassError::NeedsSignIn) => {
                self.sync.release_waiters();
                self.set_status(SyncState::NeedsSignIn, None).await;
                Next::Wake
            }
            Err(PassError::Ended) => {
                self.sync.publish(stopped());
                Next::Stop
            }
            Err(PassError::Failed(err)) => {
                self.sync.release_waiters();
                let failures = self.sync.failures.fetch_add(1, Ordering::Relaxed) + 1;
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
                self.set_status(state, Some(retry_at)).await;
                Next::After(delay)
            }
        }
    }

    async fn pass(&self, mut session: SignedInSession) -> Result<(), PassError> {
        let cache = self.cache()?;
        let client = self.client();
        if self.sync.failures.load(Ordering::Relaxed) > 0 {
            // Reconnect probe: while the cloud is away, each retry is one
            // small unauthenticated request, not a resume or a push.
            self.track(client.health().await)?;
        }
        let token = match self.session_token(&session) {
            Ok(token) => token,
            Err(CoreError::NotSignedIn) => self.resume(&cache, &client, &mut session).await?,
            Err(err) => return Err(err.into()),
        };
        self.push(&cache, &client, &token, &session).await?;
        self.pull(&cache, &client, &token, &session).await
    }

    /// A failed cloud call: a refused token ends the session (cleanly, the
    /// outbox kept); anything else is retried.
    async fn failed(&self, err: CoreError, session: &SignedInSession) -> PassError {
        if err.is_account_disabled() {
            tracing::info!("the cloud says this account is disabled; signing out");
            self.revoke_disabled_account(&session.user_id).await;
            self.end_from_sync(session).await;
            return PassError::Ended;
        }
        if err.is_session_rejected() {
            tracing::info!(
                code = err.code(),
                "the cloud ended the session; signing out"
            );
            self.end_from_sync(session).await;
            return PassError::Ended;
        }
        PassError::Failed(err)
    }

    async fn end_from_sync(&self, session: &SignedInSession) {
        let mut state = self.state.lock().await;
        if state.session() != Some(session) {
            return;
        }
        let ended = state.sign_out();
        // Before anyone can see "signed out": no dead token, no running sync.
        if let Ok(ended) = &ended {
            self.forget_token(&ended.user_id);
        }
        self.sync.stop();
        drop(state);
        if let Ok(ended) = ended {
            if let Err(err) = self.end_session(&ended, false).await {
                tracing::warn!(error = %err, "could not end the session");
            }
        }
    }

    /// Fails the pass when the session changed under it (signed out, or
    /// someone else signed in), before anything is written.
    async fn still(&self, session: &SignedInSession) -> Result<(), PassError> {
        let state = self.state.lock().await;
        match state.session() {
            Some(now) if now.user_id == session.user_id => Ok(()),
            _ => Err(PassError::Ended),
        }
    }

    async fn push(
        &self,
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
            let response = match self.track(client.push(token, &mutations).await) {
                Ok(response) => response,
                Err(err) => {
                    // The keys make the retry safe whether or not the cloud
                    // applied anything before the connection broke.
                    if let Err(note) = cache.note_push_failure(&batch, err.code()).await {
                        tracing::warn!(error = %note, "could not note the push failure");
                    }
                    return Err(self.failed(err, session).await);
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
            self.still(session).await?;
            let watched = self.sync.watched();
            cache
                .apply_push_results(
                    &session.user_id,
                    &session.company_id,
                    &batch,
                    &response.results,
                    &watched,
                )
                .await?;
            self.sync.deliver(&response.results);
            tracing::info!(sent = batch.len(), answered, "pushed queued edits");
            self.set_status(SyncState::Syncing, None).await;
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
        &self,
        cache: &Cache,
        client: &CloudClient,
        token: &Sensitive<String>,
        session: &SignedInSession,
    ) -> Result<(), PassError> {
        let mut since = cache.sync_cursor().await?;
        // The largest page the cloud allows: per page the cache pays a
        // transaction commit, the cursor and the rebase, and each request
        // a round trip. 5000 users are ~1.5 MB of JSON (less gzipped) and
        // one page's transaction stays short (~0.1 s), so an edit queued
        // meanwhile waits little for the writer.
        let mut fetched = client.changes(token, since, MAX_PAGE_ROWS).await;
        loop {
            let page = match self.track(fetched) {
                Ok(page) => page,
                Err(err) => return Err(self.failed(err, session).await),
            };
            self.still(session).await?;
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
                self.revoke_offline_access(
                    cache,
                    Some(&session.user_id),
                    None,
                    RevokedReason::Deleted,
                )
                .await;
                self.end_from_sync(session).await;
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
            self.set_status(SyncState::Syncing, None).await;
        }
    }

    /// Signed in offline: trade the held password and this device's token
    /// for a cloud session. A refusal (any 4xx) means the person must sign
    /// in online again; their queued edits wait for that.
    async fn resume(
        &self,
        cache: &Cache,
        client: &CloudClient,
        session: &mut SignedInSession,
    ) -> Result<Sensitive<String>, PassError> {
        let held = self
            .offline
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let Some(held) = held else {
            return Err(PassError::NeedsSignIn);
        };
        let device = match self.keys.get(&self.device_account(&session.user_id))? {
            Some(bytes) => Sensitive::new(String::from_utf8_lossy(&bytes).into_owned()),
            None => return Err(PassError::NeedsSignIn),
        };
        let answer = self.track(client.resume(&held.email, &held.password, &device).await);
        let (grant, user) = match answer {
            Ok(LoginResponse::SignedIn {
                session: grant,
                user,
                ..
            }) => (grant, user),
            Ok(_) => return Err(PassError::NeedsSignIn),
            Err(err) if err.is_account_disabled() => {
                self.revoke_disabled_account(&session.user_id).await;
                self.end_from_sync(session).await;
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
        let mut state = self.state.lock().await;
        if state.session() != Some(session) {
            return Err(PassError::Ended);
        }
        self.keys
            .set(&self.token_account(&user.id), grant.token.as_bytes())?;
        if let Some(device_token) = &grant.device_token {
            self.keys
                .set(&self.device_account(&user.id), device_token.as_bytes())?;
        }
        cache
            .set_session(&SessionMeta {
                user_id: user.id.clone(),
                company_id: session.company_id.clone(),
                expires_at: grant.expires_at,
                signed_in_at: now_millis(),
            })
            .await?;
        session.expires_at = grant.expires_at;
        state.password_accepted(session.clone());
        drop(state);
        *self.offline.lock().unwrap_or_else(|p| p.into_inner()) = None;
        tracing::info!(user_id = %user.id, "offline session resumed on the cloud");
        Ok(Sensitive::new(grant.token.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(key: &str) -> MutationResult {
        MutationResult {
            idempotency_key: key.to_owned(),
            outcome: MutationOutcome::Rejected {
                error: secureclose_protocol::ApiError::new(codes::VALIDATION, "refused"),
            },
            user: None,
            company: None,
        }
    }

    #[tokio::test]
    async fn a_waiter_a_pass_counted_on_cannot_be_forgotten_and_gets_the_refusal() {
        let sync = SyncShared::new(Duration::from_secs(60));
        let (key, receiver) = sync.new_waiter();
        // The pass takes its snapshot: no notice will be written for `key`.
        assert!(sync.watched().contains(&key));
        // The dialog's wait runs out just then.
        assert!(
            !sync.forget_waiter(&key),
            "a promised waiter must stay, or the refusal would reach neither dialog nor notice"
        );
        sync.deliver(&[refusal(&key)]);
        assert!(
            matches!(receiver.await, Ok(Delivery::Refused(_))),
            "the dialog that kept waiting shows the refusal"
        );
    }

    #[tokio::test]
    async fn a_waiter_no_pass_counted_on_is_forgotten_and_its_answer_becomes_a_notice() {
        let sync = SyncShared::new(Duration::from_secs(60));
        let (key, _receiver) = sync.new_waiter();
        assert!(sync.forget_waiter(&key), "nothing was promised: it may go");
        assert!(
            !sync.watched().contains(&key),
            "a later pass no longer counts on it, so it writes a notice"
        );
    }

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
