//! The sync's state shared by the core and its scheduler task: the status
//! channel, the wake-up, the pass lock, and the edit dialogs waiting for the
//! cloud's answer to their edit.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secureclose_protocol::sync::{MutationOutcome, MutationResult};
use secureclose_protocol::{codes, ApiError, Company, User};
use tokio::sync::{oneshot, watch, Notify};
use tokio::task::JoinHandle;

use crate::error::CoreError;
use crate::views::{SyncState, SyncStatus};

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
    pub(super) status: watch::Sender<SyncStatus>,
    pub(super) wake: Arc<Notify>,
    /// At most one pass in flight.
    pub(super) pass_lock: tokio::sync::Mutex<()>,
    pub(super) task: Mutex<Option<JoinHandle<()>>>,
    /// Bumped by every start/stop: a scheduler whose generation is old exits.
    pub(super) generation: AtomicU64,
    pub(super) failures: AtomicU32,
    waiters: Mutex<HashMap<String, Waiter>>,
    pub(super) interval: Duration,
}

/// Someone (an edit dialog) waiting for the cloud's answer to one edit.
struct Waiter {
    sender: oneshot::Sender<Delivery>,
    /// A pass has counted on this waiter to show the answer (so it wrote no
    /// notice for it): the waiter may no longer be forgotten, or a refusal
    /// would reach no one.
    promised: bool,
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

    /// Whether a scheduler was started and not stopped since.
    #[cfg(test)]
    pub(crate) fn is_running(&self) -> bool {
        self.task
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
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
    pub(super) fn watched(&self) -> HashSet<String> {
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

    pub(super) fn deliver(&self, results: &[MutationResult]) {
        let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        for result in results {
            if let Some(waiter) = waiters.remove(&result.idempotency_key) {
                let _ = waiter.sender.send(delivery_of(result));
            }
        }
    }

    /// The pass failed: every waiting edit returns its optimistic result.
    pub(super) fn release_waiters(&self) {
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

pub(crate) fn stopped() -> SyncStatus {
    SyncStatus {
        state: SyncState::Stopped,
        online: false,
        pending_edits: 0,
        last_synced_at: None,
        next_retry_at: None,
        notices: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(key: &str) -> MutationResult {
        MutationResult {
            idempotency_key: key.to_owned(),
            outcome: MutationOutcome::Rejected {
                error: ApiError::new(codes::VALIDATION, "refused"),
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
}
