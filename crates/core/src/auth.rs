//! The login state machine, shared by online and (later) offline login.
//!
//! ```text
//! SignedOut --password ok--> SignedIn
//!     ^                         |
//!     +--------sign out---------+
//! ```
//! The 2FA issue adds, between `SignedOut` and `SignedIn`:
//! `NeedsSecondFactor { challenge_id, .. }` (the cloud sent a code) and
//! `NeedsPhoneEnrollment { .. }` (2FA is required but no phone is verified).
//! Both will carry only identifiers, never a code or a token, and will be
//! entered from `SignedOut` and left to `SignedIn` or back to `SignedOut`.
//! Transitions are methods that check the current state, so an impossible
//! transition is an error rather than a silently wrong screen.

use crate::error::CoreError;

/// Who is signed in. The session token is NOT here: it lives in the keychain
/// (account [`token_account`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedInSession {
    pub user_id: String,
    pub company_id: String,
    /// Epoch ms after which the cloud rejects the token.
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LoginState {
    #[default]
    SignedOut,
    SignedIn(SignedInSession),
}

/// Keychain account of a user's session token.
pub fn token_account(user_id: &str) -> String {
    format!("session:{user_id}")
}

impl LoginState {
    /// A correct password (and, after the 2FA issue, a satisfied second
    /// factor) signs in. Signing in again replaces the old session.
    pub fn password_accepted(&mut self, session: SignedInSession) {
        *self = LoginState::SignedIn(session);
    }

    /// Signs out; returns the session that ended (to revoke its token), or
    /// `NotSignedIn` when there was none.
    pub fn sign_out(&mut self) -> Result<SignedInSession, CoreError> {
        match std::mem::take(self) {
            LoginState::SignedIn(session) => Ok(session),
            LoginState::SignedOut => Err(CoreError::NotSignedIn),
        }
    }

    pub fn session(&self) -> Option<&SignedInSession> {
        match self {
            LoginState::SignedIn(session) => Some(session),
            LoginState::SignedOut => None,
        }
    }

    pub fn require_session(&self) -> Result<&SignedInSession, CoreError> {
        self.session().ok_or(CoreError::NotSignedIn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(user: &str) -> SignedInSession {
        SignedInSession {
            user_id: user.into(),
            company_id: "c1".into(),
            expires_at: 10,
        }
    }

    #[test]
    fn sign_in_then_out() {
        let mut state = LoginState::default();
        assert_eq!(state, LoginState::SignedOut, "the app starts signed out");
        assert!(matches!(
            state.require_session(),
            Err(CoreError::NotSignedIn)
        ));
        state.password_accepted(session("u1"));
        assert_eq!(state.require_session().unwrap().user_id, "u1");
        let ended = state.sign_out().unwrap();
        assert_eq!(
            ended.user_id, "u1",
            "sign_out hands back the session to revoke"
        );
        assert_eq!(state, LoginState::SignedOut);
    }

    #[test]
    fn sign_out_when_signed_out_is_an_error_not_a_panic() {
        let mut state = LoginState::SignedOut;
        assert!(matches!(state.sign_out(), Err(CoreError::NotSignedIn)));
    }

    #[test]
    fn signing_in_again_replaces_the_session() {
        let mut state = LoginState::default();
        state.password_accepted(session("u1"));
        state.password_accepted(session("u2"));
        assert_eq!(state.session().unwrap().user_id, "u2");
    }

    #[test]
    fn token_accounts_are_per_user() {
        assert_eq!(token_account("u1"), "session:u1");
        assert_ne!(token_account("u1"), token_account("u2"));
    }
}
