//! Recovery codes: ten single-use codes that finish a sign-in when the phone
//! or the authenticator app is lost. Issued once, at the first sign-in or
//! enrolment completed with a second factor, shown once; stored as keyed
//! hashes; replaced as a set only with the current password; removed by an
//! admin's reset of the user's factors.

use hmac::{Hmac, Mac as _};
use secureclose_protocol::{RecoveryCodes, RecoveryStatus, User};
use sha2::Sha256;

use crate::db::audit::{self, kinds, Event};
use crate::db::{self, Db};
use crate::error::CloudError;
use crate::state::AppState;
use crate::tokens::{code_has_form, new_recovery_code, normalize_code, RECOVERY_CODE_LEN};

/// Codes in a set.
pub const CODES_PER_SET: usize = 10;

/// The refusal of a code that cannot be one (uncounted: a typo, not a guess).
pub fn malformed() -> CloudError {
    CloudError::Validation("a recovery code is 10 letters and digits, like ABCDE-23456".into())
}

/// What the database keeps of a normalised code: HMAC-SHA256 under the
/// cloud's configured key, bound to the user. Without the key a copied table
/// does not let anyone test guesses.
fn code_hash(state: &AppState, user_id: &str, normalized: &str) -> Result<String, CloudError> {
    let key = state.totp_key.derived_key(b"recovery-codes");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key)
        .map_err(|_| CloudError::Internal("recovery code key".into()))?;
    mac.update(b"secureclose-recovery-code-v1\0");
    mac.update(user_id.as_bytes());
    mac.update(b"\0");
    mac.update(normalized.as_bytes());
    Ok(hex::encode(mac.finalize().into_bytes()))
}

/// A fresh set: the codes to show, the hashes to store.
fn new_set(state: &AppState, user_id: &str) -> Result<(Vec<String>, Vec<String>), CloudError> {
    let codes: Vec<String> = (0..CODES_PER_SET).map(|_| new_recovery_code()).collect();
    let hashes = codes
        .iter()
        .map(|code| code_hash(state, user_id, &normalize_code(code)))
        .collect::<Result<_, _>>()?;
    Ok((codes, hashes))
}

/// The user's first set, if they never had one: called once a sign-in or an
/// enrolment with a second factor succeeded. `Ok(None)`: they have a set
/// (the codes are never shown again).
pub async fn issue_first_set(
    state: &AppState,
    user: &User,
) -> Result<Option<Vec<String>>, CloudError> {
    let now = state.now();
    let (codes, hashes) = new_set(state, &user.id)?;
    if !db::recovery::issue_first_set(&state.db, &user.id, &hashes, now).await? {
        return Ok(None);
    }
    let event = Event::about(kinds::RECOVERY_CODES_ISSUED, user, user, "first set");
    audit::record(&state.db, now, event).await?;
    tracing::info!(user_id = %user.id, "recovery codes issued");
    Ok(Some(codes))
}

/// How a typed recovery code compared.
#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    /// An unused code of the user's, now used; how many unused remain.
    Used { left: u32 },
    /// Not an unused code of this user's (wrong, used, another user's).
    Wrong,
}

/// Checks and, when right, uses up a code typed at sign-in. `Err`: not a
/// code at all (uncounted).
pub async fn use_code(state: &AppState, user: &User, typed: &str) -> Result<Checked, CloudError> {
    let normalized = normalize_code(typed);
    if !code_has_form(&normalized, RECOVERY_CODE_LEN) {
        return Err(malformed());
    }
    let now = state.now();
    let hash = code_hash(state, &user.id, &normalized)?;
    if !db::recovery::use_code(&state.db, &user.id, &hash, now).await? {
        return Ok(Checked::Wrong);
    }
    let (unused, _) = db::recovery::status(&state.db, &user.id).await?;
    let left = u32::try_from(unused).unwrap_or(0);
    let detail = format!("{left} left");
    audit::record(
        &state.db,
        now,
        Event::about(kinds::RECOVERY_CODE_USED, user, user, detail),
    )
    .await?;
    tracing::info!(user_id = %user.id, left, "recovery code used");
    Ok(Checked::Used { left })
}

/// Whether the user has an unused code (a sign-in attempt offers the method).
pub async fn has_unused(db: &Db, user_id: &str) -> Result<bool, CloudError> {
    Ok(db::recovery::status(db, user_id).await?.0 > 0)
}

pub async fn status(state: &AppState, user: &User) -> Result<RecoveryStatus, CloudError> {
    let (unused, issued_at) = db::recovery::status(&state.db, &user.id).await?;
    Ok(RecoveryStatus {
        remaining: u32::try_from(unused).unwrap_or(0),
        total: CODES_PER_SET as u32,
        issued_at,
    })
}

/// A new set for `user`, whose current password the caller has checked:
/// the old codes stop working. Only for someone with a second factor to back
/// up.
pub async fn regenerate(state: &AppState, user: &User) -> Result<RecoveryCodes, CloudError> {
    let has_factor =
        user.phone_verified_at.is_some() || db::totp::active(&state.db, &user.id).await?.is_some();
    if !has_factor {
        return Err(CloudError::Validation(
            "recovery codes back up a second factor: set up a phone or an authenticator app first"
                .into(),
        ));
    }
    let now = state.now();
    let (codes, hashes) = new_set(state, &user.id)?;
    let mut tx = state.db.pool.begin().await?;
    db::recovery::replace_set(&mut tx, &user.id, &hashes, now).await?;
    let event = Event::about(
        kinds::RECOVERY_CODES_ISSUED,
        user,
        user,
        "new set; the old codes no longer work",
    );
    audit::record_in(&mut tx, now, event).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, "recovery codes replaced");
    Ok(RecoveryCodes {
        codes,
        issued_at: now,
    })
}
