//! Re-authentication (ASVS 5.0 V6/V7): before a change that could let
//! someone else in or lock the person out (adding or removing a factor,
//! new recovery codes, their own phone, an admin's reset of someone's
//! factors), the signed-in person proves themselves again: their current
//! password, then a code from a factor they have. The proof is kept on the
//! session for `sessions::REAUTH_FRESH`; a stolen session token alone cannot make
//! those changes.

use secureclose_protocol::{ReauthDone, ReauthStep, VerifyCodeRequest};

use super::sessions::{AuthedUser, SourceAddr, REAUTH_FRESH};
use super::sign_in::{confirm_current_password, other_factors, prove_factor};
use super::two_factor::{self, Purpose};
use crate::clock::ms;
use crate::db::audit::{self, kinds, Event};
use crate::db::{self, challenges, counters};
use crate::error::CloudError;
use crate::state::AppState;

/// Step one: the current password (checked and counted as at sign-in). For
/// someone with a factor, an attempt follows (a code texted unless they
/// have an app, which they then use); for someone with none, the password
/// is the whole proof.
pub async fn start(
    state: &AppState,
    source: &SourceAddr,
    authed: &AuthedUser,
    password: String,
) -> Result<ReauthStep, CloudError> {
    let user = &authed.user;
    let stamp = confirm_current_password(state, source, user, password).await?;
    let db = &state.db;
    let other = other_factors(db, &user.id).await?;
    let phone = user.mobile_phone.clone();
    if phone.is_none() && !other.totp {
        let until = mark(state, authed, "password (no second factor set up)").await?;
        return Ok(ReauthStep::Done { until });
    }
    let now = state.now();
    let (id, row) =
        challenges::create_challenge(db, &user.id, Purpose::Reauth, phone.as_deref(), stamp, now)
            .await?;
    let row = match phone.as_deref() {
        // An app answers without a text (as at sign-in); "Text me" resends.
        Some(phone) if !other.totp => two_factor::send_code(state, &id, &row, phone, user).await?,
        _ => row,
    };
    Ok(ReauthStep::NeedsSecondFactor {
        challenge: row.view(&id, other),
    })
}

/// Step two: a code for the attempt [`start`] opened, from this person.
pub async fn verify(
    state: &AppState,
    authed: &AuthedUser,
    request: &VerifyCodeRequest,
) -> Result<ReauthDone, CloudError> {
    let db = &state.db;
    let row = challenges::open_challenge(db, &request.challenge_id, state.now()).await?;
    // Another person's attempt, or a sign-in's: not this proof.
    if row.purpose != Purpose::Reauth || row.user_id != authed.user.id {
        return Err(CloudError::ChallengeClosed);
    }
    let user = db::users::user_by_id(db, &row.user_id)
        .await?
        .ok_or(CloudError::ChallengeClosed)?;
    prove_factor(state, &row, &user, request).await?;
    // The attempt prove_factor counted succeeded: as a sign-in, it clears them.
    counters::sign_in_completed(db, &user.id).await?;
    let how = format!("password and {}", request.method.as_str());
    let until = mark(state, authed, &how).await?;
    Ok(ReauthDone { until })
}

/// Records the proof on the caller's session; until when it counts.
async fn mark(state: &AppState, authed: &AuthedUser, how: &str) -> Result<i64, CloudError> {
    let now = state.now();
    db::sessions::set_reauth(&state.db, &authed.session_token_hash, now).await?;
    let user = &authed.user;
    let event = Event::about(kinds::REAUTHENTICATED, user, user, how);
    audit::record(&state.db, now, event).await?;
    tracing::info!(user_id = %user.id, "re-authenticated");
    Ok(now.saturating_add(ms(REAUTH_FRESH)))
}
