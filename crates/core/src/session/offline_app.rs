//! Offline sign-in with an authenticator app. After an online sign-in with
//! a second factor (at a company that allows offline sign-in) the cloud
//! hands over the app's secret; it is kept here sealed under a key derived
//! from the person's password (Argon2id, then XChaCha20-Poly1305 bound to
//! the user id), so the cache key alone cannot mint codes. Offline, someone
//! with an app whom 2FA reaches types the app's code instead of relying on
//! the grace window since their last texted code; each time step is taken
//! once here (and only steps after the cloud's last one), and wrong codes
//! count like wrong offline passwords.

use std::sync::Arc;
use std::time::Duration;

use argon2::Argon2;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead as _, KeyInit as _, OsRng, Payload};
use chacha20poly1305::{AeadCore as _, XChaCha20Poly1305, XNonce};
use rand::RngCore as _;
use secureclose_protocol::passwords::normalize_password;
use secureclose_protocol::{codes, Challenge, OfflineApp, SecondFactorMethod, User};
use totp_rs::{Algorithm, Secret, Totp};

use super::offline;
use super::state::PendingLogin;
use crate::cache::{now_millis, Cache, OfflineCredential};
use crate::context::{Context, OfflineAppAttempt};
use crate::error::CoreError;
use crate::sensitive::Sensitive;
use crate::views::LoginOutcome;

const VERSION: &str = "v1.";
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 24;
/// Wrong codes an offline attempt takes before the person starts again.
pub const TRIES: u32 = 5;
/// How long an offline attempt waits for its code.
const ATTEMPT_TTL: Duration = Duration::from_secs(10 * 60);

fn key(password: &str, salt: &[u8]) -> Result<[u8; 32], CoreError> {
    let password = Sensitive::new(normalize_password(password));
    let mut key = [0u8; 32];
    Argon2::default()
        .hash_password_into(password.expose().as_bytes(), salt, &mut key)
        .map_err(|e| CoreError::Io(std::io::Error::other(format!("argon2: {e}"))))?;
    Ok(key)
}

/// `secret` sealed for `user_id` under `password` (blocking: Argon2).
pub fn seal(password: &str, user_id: &str, secret: &str) -> Result<String, CoreError> {
    let mut salt = [0u8; SALT_LEN];
    OsRng.fill_bytes(&mut salt);
    let cipher = XChaCha20Poly1305::new(&key(password, &salt)?.into());
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let payload = Payload {
        msg: secret.as_bytes(),
        aad: user_id.as_bytes(),
    };
    let sealed = cipher
        .encrypt(&nonce, payload)
        .map_err(|_| CoreError::Io(std::io::Error::other("sealing the app secret failed")))?;
    let mut bytes = salt.to_vec();
    bytes.extend_from_slice(&nonce);
    bytes.extend_from_slice(&sealed);
    Ok(format!(
        "{VERSION}{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

/// The secret, if `sealed` opens with `password` for `user_id` (blocking).
pub fn open(password: &str, user_id: &str, sealed: &str) -> Option<Sensitive<String>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(sealed.strip_prefix(VERSION)?)
        .ok()?;
    if bytes.len() <= SALT_LEN + NONCE_LEN {
        return None;
    }
    let (salt, rest) = bytes.split_at(SALT_LEN);
    let (nonce, sealed) = rest.split_at(NONCE_LEN);
    let cipher = XChaCha20Poly1305::new(&key(password, salt).ok()?.into());
    let payload = Payload {
        msg: sealed,
        aad: user_id.as_bytes(),
    };
    let plain = cipher.decrypt(XNonce::from_slice(nonce), payload).ok()?;
    String::from_utf8(plain).ok().map(Sensitive::new)
}

/// The app's TOTP: SHA-1, 6 digits, 30 s, one step either side, as the
/// cloud's (`service::totp`).
fn app(secret: &str) -> Option<Totp> {
    totp_rs::Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(Secret::try_from_base32(secret).ok()?)
        .build()
        .ok()
}

/// The time step `code` is for (SHA-1, 6 digits, 30 s, one step either
/// side, as the cloud checks), or `None`.
pub fn check(secret: &str, code: &str, now_ms: i64) -> Option<i64> {
    let totp = app(secret)?;
    let seconds = u64::try_from(now_ms / 1000).ok()?;
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    totp.check(&code, seconds)
        .and_then(|step| i64::try_from(step).ok())
}

/// The cloud's app secret sealed under `password`, off the async threads
/// (Argon2), so the caller can do it before it takes locks. `None` when it
/// fails (logged: only offline sign-in suffers).
pub(crate) async fn seal_off_thread(
    password: Sensitive<String>,
    user_id: &str,
    app: &OfflineApp,
) -> Option<String> {
    let (user_id, secret) = (user_id.to_owned(), Sensitive::new(app.secret.clone()));
    let sealed =
        tokio::task::spawn_blocking(move || seal(password.expose(), &user_id, secret.expose()))
            .await
            .map_err(|e| CoreError::Io(std::io::Error::other(e)))
            .and_then(|sealed| sealed);
    sealed
        .map_err(|err| tracing::warn!(error = %err, "could not seal the authenticator app for offline use"))
        .ok()
}

/// After an online sign-in: keep the sealed app secret for offline use, or
/// forget it when the cloud sent none after a second factor (no app any
/// more, or offline sign-in not allowed). Logged, not returned: only
/// offline sign-in suffers from a failure here.
pub(crate) async fn keep(
    cache: &Cache,
    user: &User,
    sealed: Option<&str>,
    app: Option<&OfflineApp>,
    after_second_factor: bool,
) {
    let result = match (sealed, app) {
        (Some(sealed), Some(app)) => {
            cache
                .save_offline_app(&user.id, Some(sealed), app.last_step)
                .await
        }
        (_, None) if after_second_factor => cache.save_offline_app(&user.id, None, None).await,
        _ => Ok(()),
    };
    if let Err(err) = result {
        tracing::warn!(error = %err, "could not keep the authenticator app for offline sign-in");
    }
}

/// Offline, after the password: ask for the app's code.
pub(crate) async fn ask(
    ctx: &Arc<Context>,
    credential: &OfflineCredential,
    email: &str,
    password: &str,
) -> Result<LoginOutcome, CoreError> {
    let sealed = credential.app_sealed.clone().unwrap_or_default();
    let (user_id, typed) = (
        credential.user_id.clone(),
        Sensitive::new(password.to_owned()),
    );
    let secret = tokio::task::spawn_blocking(move || open(typed.expose(), &user_id, &sealed))
        .await
        .ok()
        .flatten()
        .ok_or_else(offline::grace_expired)?;
    let now = now_millis();
    let expires_at = now.saturating_add(i64::try_from(ATTEMPT_TTL.as_millis()).unwrap_or(0));
    let challenge = Challenge {
        challenge_id: String::new(),
        phone_hint: None,
        code_sent: false,
        code_expires_at: None,
        resend_available_at: None,
        attempts_left: TRIES,
        expires_at,
        methods: vec![SecondFactorMethod::Totp],
        trusted_computer_days: 0,
    };
    ctx.hold_offline_app(Some(OfflineAppAttempt {
        email: email.to_owned(),
        user_id: credential.user_id.clone(),
        password: Sensitive::new(password.to_owned()),
        secret,
        tries_left: TRIES,
        expires_at,
    }));
    let pending = PendingLogin::new(email, challenge.clone());
    let replaced = ctx.state.lock().await.needs_second_factor(pending);
    super::end_replaced(ctx, replaced).await;
    tracing::info!("offline: the authenticator app's code is asked for");
    Ok(LoginOutcome::NeedsSecondFactor { challenge })
}

/// The app's code for an offline attempt: `Ok(None)` when no offline attempt
/// is waiting (the code goes to the cloud as usual).
pub(crate) async fn verify(
    ctx: &Arc<Context>,
    method: SecondFactorMethod,
    code: &str,
) -> Result<Option<LoginOutcome>, CoreError> {
    let Some(mut attempt) = ctx.take_offline_app() else {
        return Ok(None);
    };
    if let Err(err) = ctx.state.lock().await.awaiting_code_by(method) {
        // Another method than the app: keep the attempt for the right one.
        ctx.hold_offline_app(Some(attempt));
        return Err(err);
    }
    let cache = ctx.cache()?;
    let now = now_millis();
    if now >= attempt.expires_at {
        ctx.state.lock().await.cancel();
        return Err(closed("This sign-in has timed out. Sign in again."));
    }
    let accepted = match check(attempt.secret.expose(), code.trim(), now) {
        Some(step) => {
            cache
                .accept_offline_app_step(&attempt.user_id, step)
                .await?
        }
        None => false,
    };
    if !accepted {
        let failures = cache.record_offline_failure(&attempt.user_id, now).await?;
        attempt.tries_left = attempt.tries_left.saturating_sub(1);
        if attempt.tries_left == 0 || failures >= offline::LOCK_AFTER_FAILURES {
            ctx.state.lock().await.cancel();
            return Err(closed("Too many wrong codes. Sign in again."));
        }
        let left = attempt.tries_left;
        ctx.hold_offline_app(Some(attempt));
        return Err(CoreError::Refused {
            code: codes::INVALID_CODE,
            message: format!("That code is not correct, or was already used. {left} tries left."),
            retry_at: None,
        });
    }
    ctx.state.lock().await.cancel();
    let outcome = offline::establish_offline(
        ctx,
        &cache,
        &attempt.email,
        attempt.password.expose(),
        &attempt.user_id,
    )
    .await?;
    Ok(Some(outcome))
}

fn closed(message: &str) -> CoreError {
    CoreError::Refused {
        code: codes::CHALLENGE_CLOSED,
        message: message.to_owned(),
        retry_at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

    #[test]
    fn a_sealed_secret_opens_only_with_its_password_and_user() {
        let sealed = seal("violet lantern orchard", "u1", SECRET).unwrap();
        assert!(!sealed.contains(SECRET), "sealed, not encoded");
        assert_eq!(
            open("violet lantern orchard", "u1", &sealed)
                .unwrap()
                .expose(),
            SECRET
        );
        assert!(
            open("another password", "u1", &sealed).is_none(),
            "the cache key alone is not enough"
        );
        assert!(
            open("violet lantern orchard", "u2", &sealed).is_none(),
            "another user's row"
        );
        assert!(open("violet lantern orchard", "u1", "v1.AAAA").is_none());
        assert_ne!(
            sealed,
            seal("violet lantern orchard", "u1", SECRET).unwrap()
        );
    }

    #[test]
    fn codes_one_step_either_side_count_and_others_do_not() {
        let totp = app(SECRET).unwrap();
        let now_ms = 1_700_000_000_000_i64;
        let at = |ms: i64| totp.generate(u64::try_from(ms / 1000).unwrap()).to_string();
        let step = now_ms / 30_000;
        assert_eq!(check(SECRET, &at(now_ms), now_ms), Some(step));
        assert_eq!(check(SECRET, &at(now_ms + 30_000), now_ms), Some(step + 1));
        assert_eq!(check(SECRET, &at(now_ms - 60_000), now_ms), None);
        assert_eq!(check(SECRET, "12345", now_ms), None);
    }
}
