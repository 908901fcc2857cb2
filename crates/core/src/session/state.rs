//! The login state machine, shared by online and (later) offline login.
//!
//! ```text
//!              password ok (no 2FA needed)
//! SignedOut ---------------------------------------------> SignedIn
//!   |  ^  ^                                                 ^   |
//!   |  |  +------ cancel / attempt closed ----+             |   |
//!   |  +------------------ sign out ---------|-------------|---+
//!   |                                         |             |
//!   +- password ok, code sent -> NeedsSecondFactor -- code_accepted
//!   |   (or an authenticator app:   (a code of a factor the
//!   |    its code, no text)          challenge offers)
//!   |                               (resend: code_resent)   |
//!   +- password ok, no phone --> NeedsPhoneEnrollment ------+
//!   |                             (phone_submitted sends a code;
//!   |                              code_accepted once one was sent)
//!   +- password ok at several companies -> ChooseCompany
//!        (the login is sent again with the company picked: any of the above)
//! ```
//! The pending states carry the challenge id (a bearer credential for this
//! attempt only) in memory, never a code or a token; nothing here is cached
//! or logged. Transitions are methods that check the current state, so an
//! impossible transition is an error rather than a silently wrong screen.

use secureclose_protocol::{Challenge, CompanyChoice, SecondFactorMethod};

use crate::error::CoreError;
use crate::sensitive::Sensitive;

/// Who is signed in. The session token is NOT here: it lives in the keychain
/// (account `tokens::token_account`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedInSession {
    pub user_id: String,
    pub company_id: String,
    /// Epoch ms after which the cloud rejects the token.
    pub expires_at: i64,
}

/// A login whose password was accepted and which waits for its second factor.
#[derive(Debug, Clone)]
pub struct PendingLogin {
    challenge_id: Sensitive<String>,
    pub email: String,
    /// What the UI may see: the cloud's challenge with its id blanked, so the
    /// webview never holds the attempt's credential.
    pub challenge: Challenge,
    /// An enrolment that set up an authenticator app instead of a phone.
    app_shown: bool,
}

impl PendingLogin {
    pub fn new(email: &str, challenge: Challenge) -> Self {
        let mut view = challenge;
        let challenge_id = Sensitive::new(std::mem::take(&mut view.challenge_id));
        Self {
            challenge_id,
            email: email.to_owned(),
            challenge: view,
            app_shown: false,
        }
    }

    pub fn challenge_id(&self) -> &Sensitive<String> {
        &self.challenge_id
    }

    /// Takes a newer challenge from the cloud (after a resend or a phone).
    fn update(&mut self, challenge: Challenge) {
        let fresh = PendingLogin::new(&self.email, challenge);
        // The cloud may keep the id implicit in a refresh; never lose ours.
        if !fresh.challenge_id.expose().is_empty() {
            self.challenge_id = fresh.challenge_id;
        }
        self.challenge = fresh.challenge;
    }
}

/// A login whose password matched accounts of its email at several
/// companies: waits for the person to pick one. The password itself is held
/// by the context (as for a code), never here and never in the UI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingChoice {
    pub email: String,
    pub companies: Vec<CompanyChoice>,
}

#[derive(Debug, Clone, Default)]
pub enum LoginState {
    #[default]
    SignedOut,
    /// A code was sent to the user's verified phone.
    NeedsSecondFactor(PendingLogin),
    /// 2FA is required but no phone is verified: enrol one, then the code.
    NeedsPhoneEnrollment(PendingLogin),
    /// The email has accounts at several companies that the password fits.
    ChooseCompany(PendingChoice),
    SignedIn(SignedInSession),
}

/// The login state behind a tokio mutex, plus a copy of its signed-in
/// session that reads take without waiting. Sign-in and refresh hold the
/// mutex across writing the whole user list to the cache; a Users-tab query
/// needs only "who is signed in now" and reads committed rows (WAL readers
/// never wait for the writer), so it must not queue behind that.
#[derive(Default)]
pub(crate) struct LoginCell {
    state: tokio::sync::Mutex<LoginState>,
    signed_in: std::sync::RwLock<Option<SignedInSession>>,
}

impl LoginCell {
    /// Exclusive access for transitions (and reads that must order with them).
    pub(crate) async fn lock(&self) -> LoginGuard<'_> {
        LoginGuard {
            state: self.state.lock().await,
            signed_in: &self.signed_in,
        }
    }

    /// The session as of the last released lock, without waiting.
    pub(crate) fn signed_in(&self) -> Result<SignedInSession, CoreError> {
        self.signed_in
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or(CoreError::NotSignedIn)
    }
}

/// [`LoginCell::lock`]'s guard: publishes the session copy when released.
pub(crate) struct LoginGuard<'a> {
    state: tokio::sync::MutexGuard<'a, LoginState>,
    signed_in: &'a std::sync::RwLock<Option<SignedInSession>>,
}

impl std::ops::Deref for LoginGuard<'_> {
    type Target = LoginState;
    fn deref(&self) -> &LoginState {
        &self.state
    }
}

impl std::ops::DerefMut for LoginGuard<'_> {
    fn deref_mut(&mut self) -> &mut LoginState {
        &mut self.state
    }
}

impl Drop for LoginGuard<'_> {
    // Runs before the mutex is released (fields drop after this), so the
    // copy never lags behind a transition someone else could observe.
    fn drop(&mut self) {
        *self.signed_in.write().unwrap_or_else(|p| p.into_inner()) = self.state.session().cloned();
    }
}

impl LoginState {
    /// A correct password for a user who needs no second factor signs in.
    /// Signing in again replaces the old session (and any pending attempt).
    pub fn password_accepted(&mut self, session: SignedInSession) {
        *self = LoginState::SignedIn(session);
    }

    /// A correct password, and the cloud sent a code. Returns the session
    /// this replaced, if someone was signed in, so its token can be dropped.
    pub fn needs_second_factor(&mut self, pending: PendingLogin) -> Option<SignedInSession> {
        self.replace(LoginState::NeedsSecondFactor(pending))
    }

    /// A correct password, 2FA required, no verified phone. Returns the
    /// session this replaced, as [`Self::needs_second_factor`].
    pub fn needs_phone_enrollment(&mut self, pending: PendingLogin) -> Option<SignedInSession> {
        self.replace(LoginState::NeedsPhoneEnrollment(pending))
    }

    /// A correct password for accounts at several companies. Returns the
    /// session this replaced, as [`Self::needs_second_factor`].
    pub fn needs_company_choice(&mut self, choice: PendingChoice) -> Option<SignedInSession> {
        self.replace(LoginState::ChooseCompany(choice))
    }

    /// The choice waiting to be made, if that is the state; a company not
    /// offered is refused, so the UI can never name another one.
    pub fn company_chosen(&self, company_id: &str) -> Result<&PendingChoice, CoreError> {
        match self {
            LoginState::ChooseCompany(choice)
                if choice.companies.iter().any(|c| c.id == company_id) =>
            {
                Ok(choice)
            }
            _ => Err(CoreError::NoPendingLogin),
        }
    }

    /// The cloud sent a code to the phone the user entered. Only valid while
    /// enrolling; entering a corrected number again is allowed.
    /// The cloud showed a new authenticator app's secret for the enrolment:
    /// its first code can now complete the attempt.
    pub fn app_shown(&mut self) -> Result<(), CoreError> {
        match self {
            LoginState::NeedsPhoneEnrollment(pending) => {
                pending.app_shown = true;
                Ok(())
            }
            _ => Err(CoreError::NoPendingLogin),
        }
    }

    pub fn phone_submitted(&mut self, challenge: Challenge) -> Result<&Challenge, CoreError> {
        match self {
            LoginState::NeedsPhoneEnrollment(pending) => {
                pending.update(challenge);
                Ok(&pending.challenge)
            }
            _ => Err(CoreError::NoPendingLogin),
        }
    }

    /// The cloud sent a new code for the pending attempt.
    pub fn code_resent(&mut self, challenge: Challenge) -> Result<&Challenge, CoreError> {
        match self {
            LoginState::NeedsSecondFactor(pending) | LoginState::NeedsPhoneEnrollment(pending) => {
                pending.update(challenge);
                Ok(&pending.challenge)
            }
            _ => Err(CoreError::NoPendingLogin),
        }
    }

    /// The pending attempt that a code can complete: a second factor, or an
    /// enrolment whose code has been sent or whose new app was shown.
    pub fn awaiting_code(&self) -> Result<&PendingLogin, CoreError> {
        match self {
            LoginState::NeedsSecondFactor(pending) => Ok(pending),
            LoginState::NeedsPhoneEnrollment(pending)
                if pending.challenge.code_sent || pending.app_shown =>
            {
                Ok(pending)
            }
            _ => Err(CoreError::NoPendingLogin),
        }
    }

    /// [`Self::awaiting_code`] for a code of `method`, which the attempt
    /// must offer: the code step knows the user's factors, so a stray
    /// authenticator code is refused here before it reaches the cloud.
    pub fn awaiting_code_by(&self, method: SecondFactorMethod) -> Result<&PendingLogin, CoreError> {
        let pending = self.awaiting_code()?;
        if !pending.challenge.methods.contains(&method) {
            return Err(CoreError::Refused {
                code: crate::error::desktop_codes::METHOD_NOT_OFFERED,
                message: match method {
                    SecondFactorMethod::Totp => {
                        "This sign-in can't use an authenticator app.".into()
                    }
                    SecondFactorMethod::Sms => "This sign-in can't use a text message.".into(),
                    SecondFactorMethod::Recovery => {
                        "This sign-in can't use a recovery code.".into()
                    }
                },
                retry_at: None,
            });
        }
        Ok(pending)
    }

    /// Any pending attempt (for a resend).
    pub fn pending(&self) -> Result<&PendingLogin, CoreError> {
        match self {
            LoginState::NeedsSecondFactor(pending) | LoginState::NeedsPhoneEnrollment(pending) => {
                Ok(pending)
            }
            _ => Err(CoreError::NoPendingLogin),
        }
    }

    /// The enrolment attempt waiting for a phone number.
    pub fn enrolling(&self) -> Result<&PendingLogin, CoreError> {
        match self {
            LoginState::NeedsPhoneEnrollment(pending) => Ok(pending),
            _ => Err(CoreError::NoPendingLogin),
        }
    }

    /// The cloud accepted the code: signed in. Only from a pending state, so
    /// a stray verify can never sign anyone in.
    pub fn code_accepted(&mut self, session: SignedInSession) -> Result<(), CoreError> {
        self.awaiting_code()?;
        *self = LoginState::SignedIn(session);
        Ok(())
    }

    /// Drops a pending attempt (the user cancelled, or the cloud closed it).
    /// A signed-in session is left alone; returns whether anything changed.
    pub fn cancel(&mut self) -> bool {
        if self.pending().is_ok() || matches!(self, LoginState::ChooseCompany(_)) {
            *self = LoginState::SignedOut;
            true
        } else {
            false
        }
    }

    /// Signs out; returns the session that ended (to revoke its token), or
    /// `NotSignedIn` when there was none. A pending attempt is dropped too.
    pub fn sign_out(&mut self) -> Result<SignedInSession, CoreError> {
        self.replace(LoginState::SignedOut)
            .ok_or(CoreError::NotSignedIn)
    }

    pub fn session(&self) -> Option<&SignedInSession> {
        match self {
            LoginState::SignedIn(session) => Some(session),
            _ => None,
        }
    }

    pub fn require_session(&self) -> Result<&SignedInSession, CoreError> {
        self.session().ok_or(CoreError::NotSignedIn)
    }

    fn replace(&mut self, next: LoginState) -> Option<SignedInSession> {
        match std::mem::replace(self, next) {
            LoginState::SignedIn(session) => Some(session),
            _ => None,
        }
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

    fn challenge(id: &str, code_sent: bool) -> Challenge {
        Challenge {
            challenge_id: id.into(),
            phone_hint: code_sent.then(|| "••• ••• 1234".into()),
            code_sent,
            code_expires_at: code_sent.then_some(600_000),
            resend_available_at: code_sent.then_some(30_000),
            attempts_left: 5,
            expires_at: 900_000,
            methods: if code_sent {
                vec![SecondFactorMethod::Sms]
            } else {
                Vec::new()
            },
            trusted_computer_days: 0,
        }
    }

    #[test]
    fn the_code_step_takes_only_the_factors_the_attempt_offers() {
        let mut state = LoginState::default();
        let mut offered = challenge("c1", true);
        state.needs_second_factor(PendingLogin::new("a@b.c", offered.clone()));
        assert!(state.awaiting_code_by(SecondFactorMethod::Sms).is_ok());
        let refused = state
            .awaiting_code_by(SecondFactorMethod::Totp)
            .unwrap_err();
        assert_eq!(refused.code(), "method_not_offered");
        offered.methods.push(SecondFactorMethod::Totp);
        state.needs_second_factor(PendingLogin::new("a@b.c", offered));
        assert!(state.awaiting_code_by(SecondFactorMethod::Totp).is_ok());
        // A user with an authenticator app and no phone: nothing was texted,
        // and only the app's code can finish the sign-in.
        let mut app_only = challenge("c2", false);
        app_only.methods = vec![SecondFactorMethod::Totp];
        state.needs_second_factor(PendingLogin::new("a@b.c", app_only));
        assert!(state.awaiting_code_by(SecondFactorMethod::Totp).is_ok());
        assert!(state.awaiting_code_by(SecondFactorMethod::Sms).is_err());
    }

    #[test]
    fn sign_in_then_out() {
        let mut state = LoginState::default();
        assert!(
            matches!(state, LoginState::SignedOut),
            "the app starts signed out"
        );
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
        assert!(matches!(state, LoginState::SignedOut));
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
    fn second_factor_path_signs_in_only_after_the_code() {
        let mut state = LoginState::default();
        let replaced =
            state.needs_second_factor(PendingLogin::new("a@x.example", challenge("ch-1", true)));
        assert_eq!(replaced, None);
        assert!(
            state.session().is_none(),
            "a correct password alone must not sign in a 2FA user"
        );
        let pending = state.awaiting_code().unwrap();
        assert_eq!(pending.challenge_id().expose(), "ch-1");
        assert_eq!(
            pending.challenge.challenge_id, "",
            "the UI's copy of the challenge carries no credential"
        );
        assert_eq!(
            pending.challenge.phone_hint.as_deref(),
            Some("••• ••• 1234")
        );

        state.code_resent(challenge("ch-1", true)).unwrap();
        assert_eq!(
            state.awaiting_code().unwrap().challenge_id().expose(),
            "ch-1"
        );

        state.code_accepted(session("u1")).unwrap();
        assert_eq!(state.require_session().unwrap().user_id, "u1");
        assert!(
            matches!(state.pending(), Err(CoreError::NoPendingLogin)),
            "the challenge is forgotten once signed in"
        );
    }

    #[test]
    fn an_enrolment_by_app_can_complete_once_the_app_was_shown() {
        let mut state = LoginState::default();
        state.needs_phone_enrollment(PendingLogin::new("t@x.example", challenge("ch-3", false)));
        assert!(
            state.awaiting_code().is_err(),
            "nothing shown, nothing sent"
        );
        state.app_shown().unwrap();
        state.code_accepted(session("u1")).unwrap();
        assert_eq!(state.require_session().unwrap().user_id, "u1");
        assert!(
            matches!(state.app_shown(), Err(CoreError::NoPendingLogin)),
            "signed in: no enrolment to show an app for"
        );
    }

    #[test]
    fn enrolment_needs_a_phone_before_a_code_can_complete_it() {
        let mut state = LoginState::default();
        state.needs_phone_enrollment(PendingLogin::new("t@x.example", challenge("ch-2", false)));
        assert!(
            matches!(
                state.code_accepted(session("u1")),
                Err(CoreError::NoPendingLogin)
            ),
            "no code was sent yet: nothing can have been verified"
        );
        assert!(state.session().is_none());

        let view = state.phone_submitted(challenge("ch-2", true)).unwrap();
        assert!(view.code_sent, "the dialog moves to the code step");
        assert_eq!(view.challenge_id, "");
        // A typo in the number: the user may enter it again.
        state.phone_submitted(challenge("ch-2", true)).unwrap();
        assert_eq!(
            state.enrolling().unwrap().challenge_id().expose(),
            "ch-2",
            "the attempt keeps its id"
        );
        state.code_accepted(session("u1")).unwrap();
        assert_eq!(state.require_session().unwrap().user_id, "u1");
    }

    #[test]
    fn cancel_forgets_the_attempt_but_never_signs_out_a_session() {
        let mut state = LoginState::default();
        state.needs_second_factor(PendingLogin::new("a@x.example", challenge("ch-3", true)));
        assert!(state.cancel(), "cancel drops the pending attempt");
        assert!(matches!(state, LoginState::SignedOut));
        assert!(
            matches!(
                state.code_accepted(session("u1")),
                Err(CoreError::NoPendingLogin)
            ),
            "a code for a cancelled attempt must not sign in"
        );

        state.password_accepted(session("u1"));
        assert!(!state.cancel(), "cancel is only for pending attempts");
        assert_eq!(state.require_session().unwrap().user_id, "u1");
    }

    #[test]
    fn a_company_choice_accepts_only_an_offered_company_and_can_be_cancelled() {
        let mut state = LoginState::default();
        let companies = vec![
            CompanyChoice {
                id: "c1".into(),
                name: "Canyon Ridge".into(),
            },
            CompanyChoice {
                id: "c2".into(),
                name: "Desert Sun".into(),
            },
        ];
        let replaced = state.needs_company_choice(PendingChoice {
            email: "a@x.example".into(),
            companies,
        });
        assert_eq!(replaced, None);
        assert!(state.session().is_none(), "a choice signs nobody in");
        assert_eq!(state.company_chosen("c2").unwrap().email, "a@x.example");
        assert!(
            matches!(state.company_chosen("c3"), Err(CoreError::NoPendingLogin)),
            "only an offered company can be chosen"
        );
        assert!(
            matches!(state.awaiting_code(), Err(CoreError::NoPendingLogin)),
            "no code completes a choice"
        );
        assert!(state.cancel());
        assert!(matches!(state, LoginState::SignedOut));
        assert!(state.company_chosen("c1").is_err());
    }

    #[test]
    fn steps_out_of_order_are_errors() {
        let mut state = LoginState::default();
        assert!(matches!(
            state.code_resent(challenge("x", true)),
            Err(CoreError::NoPendingLogin)
        ));
        assert!(matches!(
            state.phone_submitted(challenge("x", true)),
            Err(CoreError::NoPendingLogin)
        ));
        state.needs_second_factor(PendingLogin::new("a@x.example", challenge("ch-4", true)));
        assert!(
            matches!(
                state.phone_submitted(challenge("other", true)),
                Err(CoreError::NoPendingLogin)
            ),
            "a user with a verified phone cannot swap it during login"
        );
        assert_eq!(
            state.pending().unwrap().challenge_id().expose(),
            "ch-4",
            "a refused step changes nothing"
        );
    }

    #[test]
    fn a_new_login_while_signed_in_hands_back_the_old_session() {
        let mut state = LoginState::default();
        state.password_accepted(session("u1"));
        let replaced =
            state.needs_second_factor(PendingLogin::new("b@x.example", challenge("ch-5", true)));
        assert_eq!(
            replaced.map(|s| s.user_id).as_deref(),
            Some("u1"),
            "the caller must drop the old session's token"
        );
        assert!(state.session().is_none());
    }

    #[test]
    fn debug_never_shows_the_challenge_id() {
        let mut state = LoginState::default();
        state.needs_second_factor(PendingLogin::new(
            "a@x.example",
            challenge("attempt-secret-id", true),
        ));
        let shown = format!("{state:?}");
        assert!(
            !shown.contains("attempt-secret-id"),
            "the challenge id must not reach logs: {shown}"
        );
    }

    #[tokio::test]
    async fn readers_see_the_last_released_session_without_waiting_for_the_lock() {
        let cell = LoginCell::default();
        assert!(cell.signed_in().is_err(), "nobody is signed in at first");
        let mut guard = cell.lock().await;
        guard.password_accepted(session("u1"));
        assert!(
            cell.signed_in().is_err(),
            "a sign-in still writing the cache is not visible yet"
        );
        drop(guard);
        assert_eq!(
            cell.signed_in().unwrap(),
            session("u1"),
            "released: readers see the new session"
        );
        let held = cell.lock().await;
        assert_eq!(
            cell.signed_in().unwrap().user_id,
            "u1",
            "while someone holds the lock (a long sign-in or refresh) a read still answers"
        );
        drop(held);
        cell.lock().await.sign_out().unwrap();
        assert!(
            cell.signed_in().is_err(),
            "a sign-out is visible as soon as its lock is released"
        );
    }
}
