//! Trusted computers: "Don't ask for a code on this computer for N days",
//! N from the company (0 = off, at most 30). The token is the computer's
//! (kept in its OS keychain); the cloud keeps its hash, bound to the user
//! and to their security stamp, so it ends when it expires, when the user
//! or an admin revokes it, and at any security change (password, phone,
//! factors, disable, an admin's reset).

use secureclose_protocol::{Company, TrustedComputer, TrustedComputerGrant, User};

use super::accounts::own_user;
use super::sessions::{AdminUser, AuthedUser};
use crate::clock::ms;
use crate::db::audit::{self, kinds, Event};
use crate::db::{self, trusted::NewTrusted};
use crate::error::CloudError;
use crate::state::AppState;
use crate::tokens::{new_session_token, token_hash};

/// The longest label kept (a computer's name).
const MAX_LABEL_CHARS: usize = 80;

const DAY: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);

/// A computer's label as listed: printable, trimmed, bounded.
fn clean_label(label: Option<&str>) -> String {
    let label: String = label
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_LABEL_CHARS)
        .collect();
    match label.trim() {
        "" => "A computer".to_string(),
        label => label.to_string(),
    }
}

/// After a second factor: a token for the computer the person asked to
/// trust, if the company allows trusted computers (`None` otherwise).
/// `security_stamp`: the stamp of the session this sign-in issues.
pub async fn remember(
    state: &AppState,
    user: &User,
    company: &Company,
    security_stamp: i64,
    label: Option<&str>,
) -> Result<Option<TrustedComputerGrant>, CloudError> {
    let days = company.session_policy.trusted_computer_days;
    if days == 0 {
        return Ok(None);
    }
    let now = state.now();
    let id = uuid::Uuid::new_v4().to_string();
    let token = new_session_token();
    let label = clean_label(label);
    let row = NewTrusted {
        id: &id,
        user_id: &user.id,
        token_hash: &token_hash(&token),
        label: &label,
        security_stamp,
        created_at: now,
        expires_at: now.saturating_add(ms(DAY).saturating_mul(i64::from(days))),
    };
    db::trusted::insert(&state.db, &row).await?;
    let event = Event::about(kinds::TRUSTED_COMPUTER_ADDED, user, user, label);
    audit::record(&state.db, now, event).await?;
    Ok(Some(TrustedComputerGrant { id, token }))
}

/// Whether `token` is a live trusted computer of `user` while the company
/// still allows them: when a code was last entered on it, else `None`.
pub async fn accept(
    state: &AppState,
    user: &User,
    company: &Company,
    token: &str,
) -> Result<Option<i64>, CloudError> {
    if company.session_policy.trusted_computer_days == 0 {
        return Ok(None);
    }
    db::trusted::use_token(&state.db, &user.id, &token_hash(token), state.now()).await
}

pub async fn list_own(
    state: &AppState,
    authed: &AuthedUser,
) -> Result<Vec<TrustedComputer>, CloudError> {
    db::trusted::live_of_user(&state.db, &authed.user.id, state.now()).await
}

/// Revoking needs no re-authentication: it only takes trust away.
pub async fn revoke_own(state: &AppState, authed: &AuthedUser, id: &str) -> Result<(), CloudError> {
    let user = &authed.user;
    revoke(state, user, user, id).await
}

/// An admin's view of a user of their company (another company's: 403).
pub async fn list_of_user(
    state: &AppState,
    admin: &AdminUser,
    user_id: &str,
) -> Result<Vec<TrustedComputer>, CloudError> {
    let mut conn = state.db.pool.acquire().await?;
    let target = own_user(&mut conn, admin, user_id).await?;
    drop(conn);
    db::trusted::live_of_user(&state.db, &target.id, state.now()).await
}

pub async fn revoke_of_user(
    state: &AppState,
    admin: &AdminUser,
    user_id: &str,
    id: &str,
) -> Result<(), CloudError> {
    let mut conn = state.db.pool.acquire().await?;
    let target = own_user(&mut conn, admin, user_id).await?;
    drop(conn);
    revoke(state, &admin.authed().user, &target, id).await
}

async fn revoke(state: &AppState, actor: &User, owner: &User, id: &str) -> Result<(), CloudError> {
    let now = state.now();
    if !db::trusted::revoke(&state.db, &owner.id, id, now).await? {
        return Err(CloudError::NotFound);
    }
    let event = Event::about(
        kinds::TRUSTED_COMPUTER_REVOKED,
        actor,
        owner,
        id.to_string(),
    );
    audit::record(&state.db, now, event).await?;
    tracing::info!(user_id = %owner.id, actor = %actor.id, "trusted computer revoked");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_is_printable_bounded_and_never_empty() {
        assert_eq!(
            clean_label(Some("  DESKTOP-4F2A (Windows) ")),
            "DESKTOP-4F2A (Windows)"
        );
        assert_eq!(clean_label(Some("evil\u{1b}[31mname\n")), "evil[31mname");
        assert_eq!(
            clean_label(Some(&"x".repeat(200))).chars().count(),
            MAX_LABEL_CHARS
        );
        assert_eq!(clean_label(None), "A computer");
        assert_eq!(clean_label(Some(" \t ")), "A computer");
    }
}
