//! Password hashing: argon2id at OWASP parameters, on the blocking pool with
//! bounded concurrency. Pure computation, no I/O: any layer may use it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng as HashRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::error::CloudError;
use crate::tokens::random_password;

/// OWASP password storage cheat sheet, argon2id option 2: 19 MiB, 2 passes, 1 lane.
pub const ARGON2_MEMORY_KIB: u32 = 19_456;
pub const ARGON2_ITERATIONS: u32 = 2;
pub const ARGON2_PARALLELISM: u32 = 1;

fn argon2() -> Result<Argon2<'static>, CloudError> {
    let params = Params::new(
        ARGON2_MEMORY_KIB,
        ARGON2_ITERATIONS,
        ARGON2_PARALLELISM,
        None,
    )
    .map_err(|e| CloudError::Internal(format!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`).
/// CPU-heavy: call through [`PasswordHasher`] from async code.
pub fn hash_password_blocking(password: &str) -> Result<String, CloudError> {
    let salt = SaltString::generate(&mut HashRng);
    argon2()?
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| CloudError::Internal(format!("argon2 hash: {e}")))
}

/// Checks a password against a stored PHC string. A malformed stored hash is an
/// internal error, not a wrong password, so it gets noticed.
pub fn verify_password_blocking(password: &str, phc: &str) -> Result<bool, CloudError> {
    let parsed = PasswordHash::new(phc)
        .map_err(|e| CloudError::Internal(format!("stored password hash unreadable: {e}")))?;
    match argon2()?.verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(e) => Err(CloudError::Internal(format!("argon2 verify: {e}"))),
    }
}

/// Runs argon2 on the blocking pool, at most `concurrency` at a time, with at
/// most `queue_limit` callers waiting; beyond that callers get `ServerBusy`
/// at once instead of piling up behind a CPU-bound queue.
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue_limit: usize,
    /// Verified against when the email is unknown, so that answer costs the
    /// same time as a wrong password and does not reveal which emails exist.
    dummy_hash: String,
}

/// Decrements the waiting count even when the request is cancelled mid-wait.
struct WaitingGuard<'a>(&'a AtomicUsize);

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl PasswordHasher {
    pub async fn new(concurrency: usize, queue_limit: usize) -> Result<Self, CloudError> {
        let dummy_password = random_password(32);
        let dummy_hash =
            tokio::task::spawn_blocking(move || hash_password_blocking(&dummy_password))
                .await
                .map_err(|e| CloudError::Internal(format!("hash task: {e}")))??;
        Ok(Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            waiting: AtomicUsize::new(0),
            queue_limit,
            dummy_hash,
        })
    }

    async fn run<R, F>(&self, work: F) -> Result<R, CloudError>
    where
        F: FnOnce() -> Result<R, CloudError> + Send + 'static,
        R: Send + 'static,
    {
        let permit = {
            let before = self.waiting.fetch_add(1, Ordering::SeqCst);
            let _guard = WaitingGuard(&self.waiting);
            if before >= self.queue_limit {
                return Err(CloudError::ServerBusy);
            }
            self.permits
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| CloudError::Internal("hasher closed".into()))?
        };
        // The permit moves into the blocking task: if the client disconnects,
        // the slot stays taken until the hash really finishes.
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|e| CloudError::Internal(format!("hash task: {e}")))?
    }

    pub async fn hash(&self, password: String) -> Result<String, CloudError> {
        self.run(move || hash_password_blocking(&password)).await
    }

    /// Verifies `password` against `stored`, or against the dummy hash when
    /// there is no stored hash (unknown email), in which case it is `false`.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, CloudError> {
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| self.dummy_hash.clone());
        let matches = self
            .run(move || verify_password_blocking(&password, &phc))
            .await?;
        Ok(known && matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_at_owasp_parameters_and_verify() {
        let phc = hash_password_blocking("correct horse").unwrap();
        assert!(
            phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "stored hashes must record the OWASP parameters: {phc}"
        );
        assert!(verify_password_blocking("correct horse", &phc).unwrap());
        assert!(!verify_password_blocking("correct horsE", &phc).unwrap());
        assert_ne!(
            phc,
            hash_password_blocking("correct horse").unwrap(),
            "a fresh salt per hash"
        );
    }

    #[test]
    fn a_corrupt_stored_hash_is_an_error_not_a_wrong_password() {
        assert!(verify_password_blocking("x", "not-a-phc-string").is_err());
    }

    #[tokio::test]
    async fn unknown_email_spends_a_hash_and_never_matches() {
        let hasher = PasswordHasher::new(1, 4).await.unwrap();
        // Even the dummy password itself cannot log in to a missing account.
        let dummy = hasher.dummy_hash.clone();
        assert!(dummy.starts_with("$argon2id$"));
        assert!(!hasher.verify("anything".into(), None).await.unwrap());
        let real = hasher.hash("pw".into()).await.unwrap();
        assert!(hasher
            .verify("pw".into(), Some(real.clone()))
            .await
            .unwrap());
        assert!(!hasher.verify("nope".into(), Some(real)).await.unwrap());
    }

    #[tokio::test]
    async fn a_full_queue_answers_server_busy_instead_of_waiting() {
        let hasher = Arc::new(PasswordHasher::new(1, 1).await.unwrap());
        // Hold the only hashing slot so the next caller must wait.
        let slot = hasher.permits.clone().acquire_owned().await.unwrap();
        let waiter = {
            let hasher = hasher.clone();
            tokio::spawn(async move { hasher.hash("a".into()).await })
        };
        while hasher.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let overflow = hasher.hash("b".into()).await;
        assert!(
            matches!(overflow, Err(CloudError::ServerBusy)),
            "a caller beyond the queue limit must be refused at once"
        );
        drop(slot);
        assert!(
            waiter.await.unwrap().is_ok(),
            "the queued caller still succeeds"
        );
        assert_eq!(hasher.waiting.load(Ordering::SeqCst), 0);
    }
}
