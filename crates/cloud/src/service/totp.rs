//! The second factor by authenticator app (TOTP, RFC 6238: SHA-1, 6 digits,
//! 30 s steps, one step either side for clock drift). A user enrols from a
//! signed-in session: a secret is shown once, and the factor is active only
//! after its first code comes back. Each time step is accepted once per
//! user (`db::totp::accept_step`). Secrets are stored sealed
//! (`sealing`, key from the configuration).
//!
//! Adding or removing one needs a re-authentication in the last five
//! minutes (`service::reauth`), checked in [`begin`] and [`remove`].

use std::time::Duration;

use rand::RngCore as _;
use secureclose_protocol::{ConfirmTotpRequest, OfflineApp, TotpEnrollment, TotpStatus, User};
use totp_rs::{Algorithm, Secret, Totp};

use super::notice::{self, Notice};
use super::recovery;
use super::sessions::AuthedUser;
use super::two_factor::normalize_code;
use crate::clock::ms;
use crate::db::audit::{self, kinds, Event};
use crate::db::security::{self, Scope};
use crate::db::totp::{self as store, TotpRow};
use crate::db::Db;
use crate::error::CloudError;
use crate::state::AppState;

/// How long a shown secret can be confirmed.
pub const ENROLLMENT_TTL: Duration = Duration::from_secs(15 * 60);
/// Wrong first codes before the enrolment must start again.
pub const MAX_CONFIRM_ATTEMPTS: i64 = 5;
/// 160 bits, the size RFC 4226 recommends.
const SECRET_BYTES: usize = 20;
const STEP_SECONDS: u64 = 30;
/// The name authenticator apps show above the code.
pub const ISSUER: &str = "SecureClose";

/// The one TOTP configuration the cloud and its tests use.
pub fn totp(secret: Vec<u8>, account: &str) -> Result<Totp, CloudError> {
    totp_rs::Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(STEP_SECONDS)
        .with_secret(Secret::from(secret))
        .with_issuer(Some(ISSUER))
        .with_account_name(account.replace(':', ""))
        .build()
        .map_err(|e| CloudError::Internal(format!("TOTP parameters refused: {e}")))
}

fn seconds(now_ms: i64) -> u64 {
    u64::try_from(now_ms / 1000).unwrap_or(0)
}

fn step_of(step: u64) -> i64 {
    i64::try_from(step).unwrap_or(i64::MAX)
}

fn event<'a>(kind: &'a str, user: &'a User) -> Event<'a> {
    Event::about(kind, user, user, "")
}

/// A secret that does not open means the operator changed the key: an
/// operator fault the user cannot fix by typing, so it is never counted.
fn open_secret(state: &AppState, user: &User, row: &TotpRow) -> Result<Vec<u8>, CloudError> {
    state
        .totp_key
        .open(&user.id, &row.sealed_secret)
        .map_err(|_| {
            tracing::error!(
                user_id = %user.id,
                "an authenticator-app secret does not open with the configured TOTP key"
            );
            CloudError::TotpUnreadable
        })
}

/// The user's active app for offline sign-in: its secret (base32) and the
/// last accepted step; `None` without an app, or when its secret does not
/// open (an unreadable app is not handed out).
pub async fn offline_copy(state: &AppState, user: &User) -> Result<Option<OfflineApp>, CloudError> {
    let Some(row) = store::active(&state.db, &user.id).await? else {
        return Ok(None);
    };
    let Ok(secret) = open_secret(state, user, &row) else {
        return Ok(None);
    };
    Ok(Some(OfflineApp {
        secret: totp(secret, &user.email)?.secret().to_base32(),
        last_step: row.last_step,
    }))
}

/// Whether the user has an active authenticator app.
pub async fn has_active(db: &Db, user_id: &str) -> Result<bool, CloudError> {
    Ok(store::active(db, user_id).await?.is_some())
}

pub async fn status(state: &AppState, authed: &AuthedUser) -> Result<TotpStatus, CloudError> {
    let active = store::active(&state.db, &authed.user.id).await?;
    Ok(TotpStatus {
        enabled: active.is_some(),
        confirmed_at: active.and_then(|row| row.confirmed_at),
        recovery_codes: Vec::new(),
    })
}

/// Starts an enrolment: a fresh secret, sealed in the database, shown to the
/// caller once. Sign-in does not change until [`confirm`]. Refused while an
/// authenticator app is active (remove it first: one per user).
pub async fn begin(state: &AppState, authed: &AuthedUser) -> Result<TotpEnrollment, CloudError> {
    authed.require_fresh_reauth(state.now())?;
    start_enrollment(state, &authed.user).await
}

/// A fresh pending enrolment of `user` (from the profile, or at the sign-in
/// enrolment step): replaces any earlier pending one.
pub async fn start_enrollment(state: &AppState, user: &User) -> Result<TotpEnrollment, CloudError> {
    let db = &state.db;
    if has_active(db, &user.id).await? {
        return Err(CloudError::Conflict(
            "an authenticator app is already set up: remove it first".into(),
        ));
    }
    let mut secret = vec![0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let totp = totp(secret.clone(), &user.email)?;
    let now = state.now();
    let row = TotpRow {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: user.id.clone(),
        sealed_secret: state.totp_key.seal(&user.id, &secret)?,
        expires_at: now + ms(ENROLLMENT_TTL),
        attempts_left: MAX_CONFIRM_ATTEMPTS,
        confirmed_at: None,
        last_step: None,
    };
    store::insert_pending(db, &row, now).await?;
    audit::record(db, now, event(kinds::TOTP_ENROLLMENT_STARTED, user)).await?;
    tracing::info!(user_id = %user.id, "authenticator app enrolment started");
    Ok(TotpEnrollment {
        enrollment_id: row.id,
        secret: totp.secret().to_base32(),
        otpauth_uri: totp
            .to_url()
            .map_err(|e| CloudError::Internal(format!("otpauth URI: {e}")))?,
        expires_at: row.expires_at,
    })
}

/// The first code from the app: right, and the factor is active (its step
/// counts as used); wrong, and one of the enrolment's tries is gone. A
/// factor change ends the user's other sessions and open sign-ins; this
/// session stays.
pub async fn confirm(
    state: &AppState,
    authed: &AuthedUser,
    request: &ConfirmTotpRequest,
) -> Result<TotpStatus, CloudError> {
    let user = &authed.user;
    let db = &state.db;
    let now = state.now();
    let Some(row) = store::pending(db, &request.enrollment_id, &user.id, now).await? else {
        return Err(CloudError::Validation(
            "this authenticator app setup has ended: start again".into(),
        ));
    };
    if has_active(db, &user.id).await? {
        return Err(CloudError::Conflict(
            "an authenticator app is already set up: remove it first".into(),
        ));
    }
    let Some(code) = normalize_code(&request.code) else {
        return Err(CloudError::Validation("the code is 6 digits".into()));
    };
    let secret = open_secret(state, user, &row)?;
    let Some(step) = totp(secret, &user.email)?.check(&code, seconds(now)) else {
        return match store::take_confirm_try(db, &row.id).await? {
            Some(left) if left > 0 => Err(CloudError::InvalidCode {
                attempts_left: u32::try_from(left).unwrap_or(0),
            }),
            _ => Err(CloudError::Validation(
                "too many wrong codes: start the authenticator app setup again".into(),
            )),
        };
    };
    let mut tx = db.pool.begin().await?;
    if !store::confirm(&mut tx, &row.id, &user.id, step_of(step), now).await? {
        return Err(CloudError::Validation(
            "this authenticator app setup has ended: start again".into(),
        ));
    }
    security::end_sessions(
        &mut tx,
        Scope::User(&user.id),
        now,
        Some(&authed.session_token_hash),
    )
    .await?;
    audit::record_in(&mut tx, now, event(kinds::TOTP_ENABLED, user)).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, "authenticator app enabled");
    if let Some(notice) = Notice::to_phone_of(user, notice::APP_ADDED) {
        notice::send(state, user, notice).await;
    }
    let recovery_codes = recovery::issue_first_set(state, user)
        .await?
        .unwrap_or_default();
    Ok(TotpStatus {
        enabled: true,
        confirmed_at: Some(now),
        recovery_codes,
    })
}

/// The first code of the app enrolled at the sign-in enrolment step: the
/// pending enrolment it matches and the time step, or `None` for a wrong
/// code (the caller counts it against the attempt). `Err`: not counted (no
/// app set up in this attempt, malformed code, an unreadable secret).
pub async fn check_enrollment_code(
    state: &AppState,
    user: &User,
    typed: &str,
    now: i64,
) -> Result<Option<(String, i64)>, CloudError> {
    let Some(row) = store::pending_of_user(&state.db, &user.id, now).await? else {
        return Err(CloudError::Validation(
            "set up the authenticator app first: its setup has ended or was never started".into(),
        ));
    };
    let Some(code) = normalize_code(typed) else {
        return Err(CloudError::Validation("the code is 6 digits".into()));
    };
    let secret = open_secret(state, user, &row)?;
    Ok(totp(secret, &user.email)?
        .check(&code, seconds(now))
        .map(|step| (row.id, step_of(step))))
}

/// Turns on the app enrolled at sign-in (its first code already checked and
/// the attempt consumed), in the transaction that also ends the user's
/// sessions and attempts elsewhere, as any factor change does. The user's
/// new security stamp, for the session this sign-in issues; `None` when the
/// enrolment ended meanwhile (or another app became active).
pub async fn activate_at_sign_in(
    state: &AppState,
    user: &User,
    enrollment_id: &str,
    step: i64,
    now: i64,
) -> Result<Option<i64>, CloudError> {
    let mut tx = state.db.pool.begin().await?;
    if !store::confirm(&mut tx, enrollment_id, &user.id, step, now).await? {
        return Ok(None);
    }
    security::end_sessions(&mut tx, Scope::User(&user.id), now, None).await?;
    let stamp = crate::db::users::security_stamp_in(&mut tx, &user.id).await?;
    let detail = "enrolled at sign-in by password (no second factor was set up)";
    audit::record_in(
        &mut tx,
        now,
        Event::about(kinds::TOTP_ENABLED, user, user, detail),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, "authenticator app enabled at sign-in");
    Ok(Some(stamp))
}

/// Removes the caller's authenticator app (and any pending enrolment). Ends
/// their other sessions and open sign-ins, as any factor change does.
pub async fn remove(state: &AppState, authed: &AuthedUser) -> Result<(), CloudError> {
    let user = &authed.user;
    let now = state.now();
    authed.require_fresh_reauth(now)?;
    let mut tx = state.db.pool.begin().await?;
    if !store::remove(&mut tx, &user.id).await? {
        return Err(CloudError::NotFound);
    }
    security::end_sessions(
        &mut tx,
        Scope::User(&user.id),
        now,
        Some(&authed.session_token_hash),
    )
    .await?;
    audit::record_in(&mut tx, now, event(kinds::TOTP_REMOVED, user)).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, "authenticator app removed");
    if let Some(notice) = Notice::to_phone_of(user, notice::APP_REMOVED) {
        notice::send(state, user, notice).await;
    }
    Ok(())
}

/// How a sign-in code from the app compared.
#[derive(Debug, PartialEq, Eq)]
pub enum SignInCheck {
    /// Right code of a step not used before; that step is now used.
    Correct,
    /// Wrong, or the code of a step already used (a replay): counted.
    Wrong,
}

/// Checks a code typed at sign-in. `Err`: not counted (no authenticator app,
/// malformed code).
pub async fn check_sign_in_code(
    state: &AppState,
    user: &User,
    typed: &str,
    now: i64,
) -> Result<SignInCheck, CloudError> {
    let db = &state.db;
    let Some(row) = store::active(db, &user.id).await? else {
        return Err(CloudError::Validation(
            "no authenticator app is set up for this account".into(),
        ));
    };
    let Some(code) = normalize_code(typed) else {
        return Err(CloudError::Validation("the code is 6 digits".into()));
    };
    let secret = open_secret(state, user, &row)?;
    let Some(step) = totp(secret, &user.email)?.check(&code, seconds(now)) else {
        return Ok(SignInCheck::Wrong);
    };
    if store::accept_step(db, &user.id, step_of(step)).await? {
        Ok(SignInCheck::Correct)
    } else {
        tracing::info!(user_id = %user.id, "authenticator code of a used time step refused");
        Ok(SignInCheck::Wrong)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_is_rfc_6238_sha1_six_digits_thirty_seconds() {
        // RFC 6238 appendix B, SHA-1 seed, T = 59 s: 94287082 (8 digits),
        // so the 6-digit code is its last six.
        let totp = totp(b"12345678901234567890".to_vec(), "a@b.c").unwrap();
        assert_eq!(totp.generate(59).to_string(), "287082");
        assert_eq!(totp.check("287082", 59), Some(1));
        assert_eq!(totp.check("287082", 59 + 30), Some(1), "one step late");
        assert_eq!(totp.check("287082", 59 + 60), None, "two steps late");
        let url = totp.to_url().unwrap();
        assert!(
            url.starts_with("otpauth://totp/SecureClose:a%40b.c?"),
            "{url}"
        );
    }
}
