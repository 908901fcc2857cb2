//! Who is asking: a bearer token turned into the signed-in user, and the
//! types that carry that answer into the services.

use secureclose_protocol::{Role, User, UserStatus};

use crate::clock::ms;
use crate::db;
use crate::error::CloudError;
use crate::state::AppState;
use crate::tokens::token_hash;

/// A request carrying a valid, unexpired, unrevoked session of an active user.
#[derive(Debug, Clone)]
pub struct AuthedUser {
    pub user: User,
    /// Identifies the session (for logout) without holding the token itself.
    pub session_token_hash: String,
    /// When the holder last re-authenticated on this session.
    pub reauth_at: Option<i64>,
}

impl AuthedUser {
    /// Refuses a security change unless the holder re-authenticated within
    /// the last five minutes (`service::reauth`).
    pub fn require_fresh_reauth(&self, now: i64) -> Result<(), CloudError> {
        if is_fresh(self.reauth_at, now) {
            Ok(())
        } else {
            Err(CloudError::ReauthRequired)
        }
    }
}

/// How long a re-authentication (`service::reauth`) counts.
pub const REAUTH_FRESH: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// Whether a proof made at `reauth_at` still counts at `now`.
pub fn is_fresh(reauth_at: Option<i64>, now: i64) -> bool {
    reauth_at.is_some_and(|at| at <= now && now < at.saturating_add(ms(REAUTH_FRESH)))
}

/// An [`AuthedUser`] whose role is admin; anyone else gets 403 forbidden.
/// Handlers that edit users or the company take this type, so the check
/// cannot be forgotten; the only way to make one is [`TryFrom`].
#[derive(Debug, Clone)]
pub struct AdminUser(AuthedUser);

impl TryFrom<AuthedUser> for AdminUser {
    type Error = CloudError;

    fn try_from(authed: AuthedUser) -> Result<Self, CloudError> {
        if authed.user.role != Role::Admin {
            return Err(CloudError::Forbidden);
        }
        Ok(AdminUser(authed))
    }
}

impl AdminUser {
    pub fn authed(&self) -> &AuthedUser {
        &self.0
    }
}

/// The peer address of a sign-in request, the key of the per-source throttle.
/// Behind a reverse proxy every request shares the proxy's address: see the
/// README.
pub struct SourceAddr(pub String);

/// The session a bearer token names, if it still counts.
pub async fn authenticate(state: &AppState, token: &str) -> Result<AuthedUser, CloudError> {
    let hash = token_hash(token);
    let session = db::sessions::session_with_user(&state.db, &hash)
        .await?
        .ok_or(CloudError::Unauthenticated)?;
    // A disabled user's session is ended (see db::security), but the holder
    // is told why, so their desktop can end its offline access too.
    if session.user.status == UserStatus::Disabled {
        return Err(CloudError::AccountDisabled);
    }
    // Revoked, or issued before a security change (re-enabling a user never
    // revives a session from before the disable).
    if session.revoked_at.is_some() || session.stale {
        return Err(CloudError::Unauthenticated);
    }
    // The company's absolute limit counts from the sign-in, also for
    // sessions issued before an admin shortened it.
    let limit_ms = session.max_session_hours.saturating_mul(3_600_000);
    let now = state.now();
    if session.expires_at <= now || session.created_at.saturating_add(limit_ms) <= now {
        return Err(CloudError::SessionExpired);
    }
    Ok(AuthedUser {
        user: session.user,
        session_token_hash: hash,
        reauth_at: session.reauth_at,
    })
}

/// Revokes the caller's session; the token stops working at once.
pub async fn sign_out(state: &AppState, authed: &AuthedUser) -> Result<(), CloudError> {
    db::sessions::revoke_session(&state.db, &authed.session_token_hash, state.now()).await?;
    tracing::info!(user_id = %authed.user.id, "signed out");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_counts_for_five_minutes_from_when_it_was_made() {
        let at = 1_000_000;
        assert!(is_fresh(Some(at), at));
        assert!(is_fresh(Some(at), at + 299_999));
        assert!(!is_fresh(Some(at), at + 300_000), "five minutes, not more");
        assert!(
            !is_fresh(Some(at), at - 1),
            "a proof from the future is no proof"
        );
        assert!(!is_fresh(None, at));
    }
}
