//! Signing in: the password step, the second factor by SMS, enrolling a
//! first phone, resuming after an offline sign-in. Each ends in
//! [`complete_sign_in`], the one place a session is issued.

use secureclose_protocol::passwords::{self, PasswordContext};
use secureclose_protocol::rules::{normalize_email, Refusal};
use secureclose_protocol::sync::ResumeRequest;
use secureclose_protocol::{
    codes, ActivateRequest, Challenge, ChangePasswordRequest, ChangePasswordResponse, Company,
    CompanyChoice, EnrollPhoneRequest, EnrollTotpRequest, LoginRequest, LoginResponse,
    RecoveryNotice, ResendCodeRequest, SecondFactorMethod, SessionGrant, TotpEnrollment, User,
    UserStatus, VerifyCodeRequest,
};

use super::recovery;
use super::sessions::{AuthedUser, SourceAddr};
use super::totp;
use super::trusted;
use super::two_factor::{self, CodeCheck, Counter, Failure, OtherFactors, Purpose};
use crate::clock::ms;
use crate::db::audit::{self, kinds, Event};
use crate::db::challenges::{self, ChallengeRow};
use crate::db::counters;
use crate::db::security::{self, Scope};
use crate::db::{self, Db};
use crate::error::CloudError;
use crate::phone;
use crate::state::AppState;
use crate::tokens::{new_session_token, normalize_code, setup_code_fits, token_hash};

/// Longest password accepted; longer input only burns CPU in the hash.
const MAX_PASSWORD_BYTES: usize = 1024;

fn user_event<'a>(kind: &'a str, user: &'a User, detail: impl Into<String>) -> Event<'a> {
    Event::about(kind, user, user, detail)
}

/// A user whose password was just accepted, with the security stamp read
/// together with the hash: what anything issued for this sign-in records.
struct PasswordOk {
    user: User,
    security_stamp: i64,
}

/// What a correct password leads to. An email is unique per company only, so
/// the password may match the accounts of several companies.
enum PasswordCheck {
    One(PasswordOk),
    /// Every account the password matched (two or more).
    Several(Vec<PasswordOk>),
}

/// A failure reached the hard limit: the account is locked, and a lock ends
/// the user's sessions (DESIGN.md, "What ends a session").
async fn lock_account(state: &AppState, user: &User, now: i64) -> Result<(), CloudError> {
    let mut tx = state.db.pool.begin().await?;
    security::revoke_sessions(&mut tx, Scope::User(&user.id), now, None).await?;
    audit::record_in(&mut tx, now, user_event(kinds::ACCOUNT_LOCKED, user, "")).await?;
    tx.commit().await?;
    Ok(())
}

/// The password step shared by `/login` and `/login/resume`: the source
/// address's throttle checked, attempt reserved (delay and lock) on each
/// candidate account's counter or, for an unknown email, on that email's own,
/// argon2 verify (a dummy hash for unknown emails), failures counted and
/// audited. Known and unknown emails give the same answers in the same order.
/// The user may still be disabled.
///
/// The candidates are every account of the email (an email is unique per
/// company only), or only `company_id`'s. A wrong password counts on every
/// candidate, as it would on each one's own; a right one releases the other
/// candidates' reservations uncounted. A candidate whose reservation is
/// refused (locked, delayed) is left out rather than refusing the whole
/// sign-in, so one locked account cannot lock the others of the same
/// address out; only when every candidate refuses is that the answer.
///
/// Timing: every reserved candidate's hash is verified (never stopping at the
/// first match, so the time does not tell which one matched), so an address
/// shared by n accounts costs n verifies where an unknown or single one costs
/// one. That residual reveals only how many companies share an address, to
/// someone timing it; n is small (one account per company that uses it).
async fn check_password(
    state: &AppState,
    source: &SourceAddr,
    email: &str,
    password: String,
    company_id: Option<&str>,
) -> Result<PasswordCheck, CloudError> {
    let email = normalize_email(email);
    if email.is_empty() || password.is_empty() {
        return Err(CloudError::Validation(
            "email and password are required".into(),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(CloudError::Validation("the password is too long".into()));
    }
    // Passwords are hashed in NFC (see protocol::passwords): the same text
    // typed with composed or decomposed accents is the same password.
    let password = passwords::normalize_password(&password);
    let db = &state.db;
    check_source(state, source).await?;
    let company_id = company_id.filter(|id| !id.is_empty());
    let found = db::users::credentials_by_email(db, &email, company_id).await?;
    if found.is_empty() {
        return Err(unknown_account(state, source, &email, Some(password)).await);
    }
    let candidates = reserve_candidates(db, found, state.now()).await?;
    let mut matched = Vec::with_capacity(candidates.len());
    for credentials in &candidates {
        let stored = Some(credentials.password_hash.clone());
        match state.hasher.verify(password.clone(), stored).await {
            Ok(matches) => matched.push(matches),
            Err(e) => {
                for credentials in &candidates {
                    counters::release_attempt(db, Counter::User(&credentials.user.id)).await?;
                }
                return Err(e);
            }
        }
    }
    if !matched.contains(&true) {
        return Err(count_failures(state, source, &candidates, "wrong password").await);
    }
    let mut accepted = Vec::new();
    for (credentials, matches) in candidates.into_iter().zip(matched) {
        if matches {
            counters::password_accepted(db, &credentials.user.id).await?;
            accepted.push(PasswordOk {
                user: credentials.user,
                security_stamp: credentials.security_stamp,
            });
        } else {
            // Not this account's password, yet not a guess at it either: the
            // person signs in to another account of the same address.
            counters::release_attempt(db, Counter::User(&credentials.user.id)).await?;
        }
    }
    if accepted.len() == 1 {
        if let Some(one) = accepted.pop() {
            return Ok(PasswordCheck::One(one));
        }
    }
    Ok(PasswordCheck::Several(accepted))
}

/// Reserves an attempt on each candidate account. Those refused (locked,
/// in their delay) are left out; when all are, the first refusal is the
/// answer, exactly as for a single account.
async fn reserve_candidates(
    db: &Db,
    found: Vec<db::users::Credentials>,
    now: i64,
) -> Result<Vec<db::users::Credentials>, CloudError> {
    let mut reserved = Vec::with_capacity(found.len());
    let mut refusal = None;
    for credentials in found {
        match counters::reserve_attempt(db, Counter::User(&credentials.user.id), now).await {
            Ok(()) => reserved.push(credentials),
            Err(e @ (CloudError::AccountLocked | CloudError::RateLimited { .. })) => {
                refusal.get_or_insert(e);
            }
            Err(e) => {
                for credentials in &reserved {
                    counters::release_attempt(db, Counter::User(&credentials.user.id)).await?;
                }
                return Err(e);
            }
        }
    }
    match refusal {
        Some(refusal) if reserved.is_empty() => Err(refusal),
        _ => Ok(reserved),
    }
}

/// The per-source throttle every password or setup-code attempt passes first.
async fn check_source(state: &AppState, source: &SourceAddr) -> Result<(), CloudError> {
    let config = &state.config;
    counters::check_source(
        &state.db,
        &source.0,
        config.source_failure_limit,
        config.source_window,
        state.now(),
    )
    .await
}

/// An email that matches no account (in the company named, if one was):
/// counted on that email's own counter and, for a password, verified against
/// the dummy hash, so it answers like a wrong password (or wrong setup code)
/// at the same cost. What to answer.
async fn unknown_account(
    state: &AppState,
    source: &SourceAddr,
    email: &str,
    password: Option<String>,
) -> CloudError {
    let counted = async {
        let db = &state.db;
        let unknown_hash = two_factor::unknown_email_counter(email);
        let counter = Counter::UnknownEmail(&unknown_hash);
        counters::reserve_attempt(db, counter, state.now()).await?;
        if let Some(password) = password {
            if let Err(e) = state.hasher.verify(password, None).await {
                counters::release_attempt(db, counter).await?;
                return Err(e);
            }
        }
        let now = state.now();
        counters::record_source_failure(db, &source.0, state.config.source_window, now).await?;
        counters::record_unknown_failure(db, &unknown_hash, now).await?;
        let event = Event {
            kind: kinds::LOGIN_FAILED,
            detail: "unknown account".into(),
            ..Event::default()
        };
        audit::record(db, now, event).await?;
        Ok::<(), CloudError>(())
    };
    match counted.await {
        Ok(()) => CloudError::InvalidCredentials,
        Err(e) => e,
    }
}

/// The companies of the accounts a password matched, for the person to pick.
async fn company_choices(
    db: &Db,
    accepted: &[PasswordOk],
) -> Result<Vec<CompanyChoice>, CloudError> {
    let mut companies = Vec::with_capacity(accepted.len());
    for ok in accepted {
        let company = db::companies::company_of(db, &ok.user).await?;
        companies.push(CompanyChoice {
            id: company.id,
            name: company.name,
        });
    }
    companies.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    Ok(companies)
}

/// Email + password. Whether a second factor follows is recomputed from the
/// database every time: (user toggle OR company toggle) AND DMS support.
/// A user who needs it and has a mobile phone gets a code now
/// (`second_factor_required`); one without a verified phone must enrol one
/// (`phone_enrollment_required`). Nobody, admins included, skips it.
/// A phone on file that is not yet verified (an admin entered or changed it)
/// gets the code too and becomes verified by it: the article's first procedure.
pub async fn login(
    state: &AppState,
    source: &SourceAddr,
    request: LoginRequest,
) -> Result<LoginResponse, CloudError> {
    let checked = check_password(
        state,
        source,
        &request.email,
        request.password,
        request.company_id.as_deref(),
    )
    .await?;
    let db = &state.db;
    let PasswordOk {
        user,
        security_stamp,
    } = match checked {
        PasswordCheck::One(one) => one,
        PasswordCheck::Several(accepted) => {
            return Ok(LoginResponse::CompanyChoiceRequired {
                companies: company_choices(db, &accepted).await?,
            });
        }
    };
    after_password(
        state,
        PasswordOk {
            user,
            security_stamp,
        },
        request.trusted_token.as_deref(),
    )
    .await
}

/// Everything a sign-in does once the password (or a redeemed setup code)
/// of one account is accepted: refuse a disabled account, then sign in, or
/// send the second factor, or start a phone enrolment, as the rules say.
async fn after_password(
    state: &AppState,
    accepted: PasswordOk,
    trusted_token: Option<&str>,
) -> Result<LoginResponse, CloudError> {
    let PasswordOk {
        user,
        security_stamp,
    } = accepted;
    let db = &state.db;
    let now = state.now();
    if user.status == UserStatus::Disabled {
        audit::record(
            db,
            now,
            user_event(kinds::LOGIN_FAILED, &user, "account disabled"),
        )
        .await?;
        return Err(CloudError::AccountDisabled);
    }
    let company = db::companies::company_of(db, &user).await?;

    if !two_factor::needs_second_factor(&user, &company) {
        return complete_sign_in(state, user, company, "password", None, security_stamp).await;
    }
    // A computer the person trusted after a code stands in for the code; a
    // dead token is simply not one (the code is asked for, nothing told).
    if let Some(token) = trusted_token {
        if let Some(code_entered_at) = trusted::accept(state, &user, &company, token).await? {
            let how = "password and a trusted computer";
            return complete_sign_in(
                state,
                user,
                company,
                how,
                Some(code_entered_at),
                security_stamp,
            )
            .await;
        }
    }
    let days = company.session_policy.trusted_computer_days;
    // As the help-center article says: a user with a mobile phone on file gets
    // the code there (an admin-entered number becomes verified when a code sent
    // to it comes back); a user without one enrols one. Never a skipped factor.
    // An authenticator app can answer instead: a user with one is texted only
    // when they ask (`resend`), since each text costs the dealer and SMS is
    // the weaker factor; with an app and no phone nothing needs enrolling.
    let other = other_factors(db, &user.id).await?;
    let has_totp = other.totp;
    match user.mobile_phone.clone() {
        None if has_totp => {
            let (id, row) = challenges::create_challenge(
                db,
                &user.id,
                Purpose::SecondFactor,
                None,
                security_stamp,
                now,
            )
            .await?;
            Ok(LoginResponse::SecondFactorRequired {
                challenge: offering_trust(row.view(&id, other), days),
            })
        }
        Some(phone) => {
            let (id, row) = challenges::create_challenge(
                db,
                &user.id,
                Purpose::SecondFactor,
                Some(&phone),
                security_stamp,
                now,
            )
            .await?;
            let row = if has_totp {
                row
            } else {
                two_factor::send_code(state, &id, &row, &phone, &user).await?
            };
            Ok(LoginResponse::SecondFactorRequired {
                challenge: offering_trust(row.view(&id, other), days),
            })
        }
        None => {
            // The password alone lets this user choose their first phone (the
            // article's procedure): audited, so admins see every such start.
            let (id, row) = challenges::create_challenge(
                db,
                &user.id,
                Purpose::Enrollment,
                None,
                security_stamp,
                now,
            )
            .await?;
            audit::record(
                db,
                now,
                user_event(
                    kinds::PHONE_ENROLLMENT_STARTED,
                    &user,
                    "no phone on file: enrolment by password at sign-in",
                ),
            )
            .await?;
            Ok(LoginResponse::PhoneEnrollmentRequired {
                challenge: row.view(&id, OtherFactors::default()),
            })
        }
    }
}

/// Issues the session of a completed sign-in, and a device grant for an
/// offline resume (`second_factor_at`: when this device last completed a
/// second factor, if ever). Both record `security_stamp`, the user's stamp
/// when the sign-in was decided: a security change since voids them.
async fn complete_sign_in(
    state: &AppState,
    user: User,
    company: Company,
    how: &str,
    second_factor_at: Option<i64>,
    security_stamp: i64,
) -> Result<LoginResponse, CloudError> {
    let db = &state.db;
    let now = state.now();
    counters::sign_in_completed(db, &user.id).await?;
    let token = new_session_token();
    // The company's absolute session limit caps the configured lifetime.
    let ttl = ms(state.config.session_ttl).min(company.session_policy.max_session_ms());
    let expires_at = now.saturating_add(ttl);
    db::sessions::insert_session(
        db,
        &token_hash(&token),
        &user.id,
        now,
        expires_at,
        security_stamp,
    )
    .await?;
    let device_token =
        db::devices::issue(db, &user.id, second_factor_at, security_stamp, now).await?;
    audit::record(db, now, user_event(kinds::LOGIN_SUCCEEDED, &user, how)).await?;
    tracing::info!(user_id = %user.id, company_id = %company.id, "signed in");
    Ok(LoginResponse::SignedIn {
        session: SessionGrant {
            token,
            expires_at,
            device_token: Some(device_token),
            recovery: None,
            trusted_computer: None,
            offline_app: None,
        },
        user,
        company,
    })
}

/// Finishes a login with a second factor: the code sent by SMS (the default)
/// or, for a second-factor attempt, the code of the user's authenticator app
/// or one of their recovery codes. For an enrolment, the phone that received
/// the code is saved to the profile as verified.
pub async fn verify(
    state: &AppState,
    request: VerifyCodeRequest,
) -> Result<LoginResponse, CloudError> {
    let db = &state.db;
    let row = challenges::open_challenge(db, &request.challenge_id, state.now()).await?;
    // A re-authentication's attempt proves a factor, never opens a session.
    if row.purpose == Purpose::Reauth {
        return Err(CloudError::ChallengeClosed);
    }
    let user = db::users::user_by_id(db, &row.user_id)
        .await?
        .ok_or(CloudError::ChallengeClosed)?;
    let method = request.method;
    let Proven {
        enrolled_app,
        recovery_left,
    } = prove_factor(state, &row, &user, &request).await?;
    let now = state.now();
    if user.status == UserStatus::Disabled {
        return Err(CloudError::AccountDisabled);
    }
    if recovery_left.is_some() {
        let how = "password and a recovery code";
        return complete_with_factor(
            state,
            &request,
            &user,
            how,
            row.security_stamp,
            recovery_left,
        )
        .await;
    }
    if method == SecondFactorMethod::Totp {
        let (security_stamp, how) = match enrolled_app {
            Some((enrollment_id, step)) => {
                let activated =
                    totp::activate_at_sign_in(state, &user, &enrollment_id, step, now).await?;
                let Some(stamp) = activated else {
                    counters::release_attempt(db, Counter::User(&user.id)).await?;
                    return Err(CloudError::ChallengeClosed);
                };
                (stamp, "password and a newly enrolled authenticator app")
            }
            None => (row.security_stamp, "password and authenticator app code"),
        };
        return complete_with_factor(state, &request, &user, how, security_stamp, None).await;
    }
    let enrolment = row.purpose == Purpose::Enrollment;
    let phone = row.phone.as_deref().unwrap_or_default();
    // An enrolment saves the number; a code to an admin-entered number
    // verifies it. Either only if the profile is still what the attempt
    // expected (checked again in the write itself, against races).
    let verifies = enrolment || (user.phone_verified_at.is_none() && !phone.is_empty());
    let security_stamp = if verifies {
        let Some(stamp) =
            db::users::set_verified_phone(db, &user, phone, enrolment, row.security_stamp, now)
                .await?
        else {
            counters::release_attempt(db, Counter::User(&user.id)).await?;
            return Err(CloudError::ChallengeClosed);
        };
        let (kind, detail) = if enrolment {
            (
                kinds::PHONE_ENROLLED,
                format!(
                    "{} enrolled at sign-in by password (no phone was on file)",
                    phone::hint(phone)
                ),
            )
        } else {
            (
                kinds::PHONE_VERIFIED,
                format!("{} verified at sign-in", phone::hint(phone)),
            )
        };
        audit::record(db, now, user_event(kind, &user, detail)).await?;
        stamp
    } else {
        row.security_stamp
    };
    let how = "password and SMS code";
    complete_with_factor(state, &request, &user, how, security_stamp, None).await
}

/// Completes a sign-in that passed a second factor, on the user and company
/// as they are now, with what such a sign-in brings besides the session
/// (`security_stamp`: the one it is issued under): a trusted-computer token
/// when "Don't ask for a code on this computer" was ticked and the company
/// allows it; the app's secret for offline sign-in where the company allows
/// that (never otherwise: it mints codes); and the recovery codes: how many
/// are left after one was used (`recovery_left`), else the first set if the
/// user never had one. All issued after the session, so a failed sign-in
/// never leaves a set or a token nobody saw.
async fn complete_with_factor(
    state: &AppState,
    request: &VerifyCodeRequest,
    user: &User,
    how: &str,
    security_stamp: i64,
    recovery_left: Option<u32>,
) -> Result<LoginResponse, CloudError> {
    let db = &state.db;
    let user = db::users::user_by_id(db, &user.id)
        .await?
        .ok_or(CloudError::ChallengeClosed)?;
    let company = db::companies::company_of(db, &user).await?;
    let now = state.now();
    let mut response = complete_sign_in(
        state,
        user.clone(),
        company.clone(),
        how,
        Some(now),
        security_stamp,
    )
    .await?;
    let trusted_computer = if request.remember_computer {
        let label = request.computer_label.as_deref();
        trusted::remember(state, &user, &company, security_stamp, label).await?
    } else {
        None
    };
    let offline_app = if company.offline_policy.allowed {
        totp::offline_copy(state, &user).await?
    } else {
        None
    };
    let recovery = match recovery_left {
        Some(left) => Some(RecoveryNotice {
            issued: Vec::new(),
            left: Some(left),
        }),
        None => recovery::issue_first_set(state, &user)
            .await?
            .map(|issued| RecoveryNotice { issued, left: None }),
    };
    if let LoginResponse::SignedIn { session, .. } = &mut response {
        session.trusted_computer = trusted_computer;
        session.offline_app = offline_app;
        session.recovery = recovery;
    }
    Ok(response)
}

/// What a correct code did besides proving the factor.
#[derive(Debug, Default)]
pub(crate) struct Proven {
    /// An app enrolled at this step: its pending enrolment and time step.
    pub enrolled_app: Option<(String, i64)>,
    /// A recovery code that was used: how many unused remain.
    pub recovery_left: Option<u32>,
}

/// Checks the code answering an open attempt, by the method it names. A
/// wrong code takes one of the attempt's tries, counts as a failure of the
/// user and locks the account at the limit; a code that cannot be checked
/// (malformed, no app set up) is refused uncounted.
pub(crate) async fn prove_factor(
    state: &AppState,
    row: &ChallengeRow,
    user: &User,
    request: &VerifyCodeRequest,
) -> Result<Proven, CloudError> {
    let db = &state.db;
    let method = request.method;
    // An app answering a second-factor attempt needs no phone check: the
    // attempt may have been opened without one.
    if method == SecondFactorMethod::Sms || row.purpose == Purpose::Enrollment {
        ensure_attempt_fits_profile(state, row, user).await?;
    }
    counters::reserve_attempt(db, Counter::User(&row.user_id), state.now()).await?;
    let now = state.now();
    // At the enrolment step an app's first code turns the app on: which
    // pending enrolment, and its time step.
    let mut enrolled_app = None;
    // A recovery code that signed in: how many unused remain.
    let mut recovery_left = None;
    let checked = match (method, row.purpose) {
        (SecondFactorMethod::Sms, _) => {
            two_factor::check_code(db, &request.challenge_id, row, &request.code, now).await
        }
        (SecondFactorMethod::Totp, Purpose::SecondFactor | Purpose::Reauth) => {
            check_app_code(state, row, user, &request.code, now).await
        }
        (SecondFactorMethod::Totp, Purpose::Enrollment) => {
            match totp::check_enrollment_code(state, user, &request.code, now).await {
                Ok(Some(found)) => {
                    if challenges::consume_without_code(db, &row.id_hash, now).await? {
                        enrolled_app = Some(found);
                        Ok(CodeCheck::Correct)
                    } else {
                        Err(CloudError::ChallengeClosed)
                    }
                }
                Ok(None) => wrong_app_code(db, row, now).await,
                Err(error) => Err(error),
            }
        }
        (SecondFactorMethod::Recovery, Purpose::SecondFactor | Purpose::Reauth) => {
            match recovery::use_code(state, user, &request.code).await {
                Ok(recovery::Checked::Used { left }) => {
                    if challenges::consume_without_code(db, &row.id_hash, now).await? {
                        recovery_left = Some(left);
                        Ok(CodeCheck::Correct)
                    } else {
                        Err(CloudError::ChallengeClosed)
                    }
                }
                // Counted like a wrong app code: a guess takes a try.
                Ok(recovery::Checked::Wrong) => wrong_app_code(db, row, now).await,
                Err(error) => Err(error),
            }
        }
        // Nothing to recover at the enrolment step: no factor is set up yet.
        (SecondFactorMethod::Recovery, Purpose::Enrollment) => Err(CloudError::Validation(
            "set up a phone or an authenticator app here; a recovery code stands in for one \
             you already have"
                .into(),
        )),
    };
    match checked {
        Ok(CodeCheck::Correct) => {}
        Ok(CodeCheck::Wrong(error)) => {
            let locked = counters::record_failure(db, &user.id, Failure::Code, now).await?;
            let detail = match method {
                SecondFactorMethod::Sms => format!("{} code", row.purpose.as_str()),
                SecondFactorMethod::Totp => "authenticator app code".to_string(),
                SecondFactorMethod::Recovery => "recovery code".to_string(),
            };
            audit::record(db, now, user_event(kinds::CODE_FAILED, user, detail)).await?;
            if locked {
                lock_account(state, user, now).await?;
            }
            return Err(error);
        }
        Err(error) => {
            counters::release_attempt(db, Counter::User(&user.id)).await?;
            return Err(error);
        }
    }
    Ok(Proven {
        enrolled_app,
        recovery_left,
    })
}

/// A second-factor attempt's view, offering "Don't ask for a code on this
/// computer for `days` days" (0: not offered).
fn offering_trust(mut challenge: Challenge, days: u32) -> Challenge {
    challenge.trusted_computer_days = days;
    challenge
}

/// The factors besides a text that can finish `user_id`'s attempts.
pub(crate) async fn other_factors(db: &Db, user_id: &str) -> Result<OtherFactors, CloudError> {
    Ok(OtherFactors {
        totp: totp::has_active(db, user_id).await?,
        recovery: recovery::has_unused(db, user_id).await?,
    })
}

/// An authenticator-app code for an open second-factor attempt: right (its
/// time step now used, the attempt consumed), or a counted wrong try that
/// takes one of the attempt's tries (the last closes it).
async fn check_app_code(
    state: &AppState,
    row: &ChallengeRow,
    user: &User,
    typed: &str,
    now: i64,
) -> Result<CodeCheck, CloudError> {
    let db = &state.db;
    match totp::check_sign_in_code(state, user, typed, now).await? {
        totp::SignInCheck::Correct => {
            if challenges::consume_without_code(db, &row.id_hash, now).await? {
                Ok(CodeCheck::Correct)
            } else {
                Err(CloudError::ChallengeClosed)
            }
        }
        totp::SignInCheck::Wrong => wrong_app_code(db, row, now).await,
    }
}

/// A wrong app code takes one of the attempt's tries (the last closes it).
async fn wrong_app_code(db: &Db, row: &ChallengeRow, now: i64) -> Result<CodeCheck, CloudError> {
    match challenges::take_try_without_code(db, &row.id_hash).await? {
        Some(left) if left > 0 => Ok(CodeCheck::Wrong(CloudError::InvalidCode {
            attempts_left: u32::try_from(left).unwrap_or(0),
        })),
        _ => {
            challenges::close_challenge(db, &row.id_hash, now, "too_many_attempts").await?;
            Ok(CodeCheck::Wrong(CloudError::ChallengeClosed))
        }
    }
}

/// An attempt completes only against the profile as it is now: a code was
/// sent to the phone on file now (not to one an admin has since replaced),
/// and an enrolment is for a user who still has no phone (a password-only
/// enrolment never replaces one). Otherwise the attempt is closed.
async fn ensure_attempt_fits_profile(
    state: &AppState,
    row: &ChallengeRow,
    user: &User,
) -> Result<(), CloudError> {
    let fits = match row.purpose {
        // An attempt opened without a phone (authenticator app only) fits
        // while there is still none; a text then finds no code to check.
        Purpose::SecondFactor | Purpose::Reauth => row.phone == user.mobile_phone,
        Purpose::Enrollment => user.mobile_phone.is_none(),
    };
    if fits {
        return Ok(());
    }
    challenges::close_challenge(&state.db, &row.id_hash, state.now(), "profile_changed").await?;
    Err(CloudError::ChallengeClosed)
}

/// A desktop that signed in offline gets a cloud session back without a new
/// SMS code: the password (checked, counted and locked exactly like
/// `/login`) plus the device token of an earlier sign-in on that device.
/// Refused unless the grant is this user's, live (30 days, not revoked), the
/// user active, the company allows offline use, and, when the user needs 2FA
/// now, the grant's last second factor is within the company's offline hours.
/// The refusal never says which check failed. The used grant is replaced.
pub async fn resume(
    state: &AppState,
    source: &SourceAddr,
    request: ResumeRequest,
) -> Result<LoginResponse, CloudError> {
    let checked = match check_password(
        state,
        source,
        &request.email,
        request.password,
        request.company_id.as_deref(),
    )
    .await
    {
        Ok(checked) => checked,
        Err(CloudError::InvalidCredentials) => return Err(CloudError::ResumeRefused),
        Err(e) => return Err(e),
    };
    let db = &state.db;
    let now = state.now();
    let grant = db::devices::find(db, &request.device_token).await?;
    // The grant names the account: a client that sent no company (an older
    // one) resumes the account of its grant among those the password matched.
    let PasswordOk {
        user,
        security_stamp,
    } = match checked {
        PasswordCheck::One(one) => one,
        PasswordCheck::Several(accepted) => {
            let of_grant = grant
                .as_ref()
                .and_then(|grant| accepted.into_iter().find(|ok| ok.user.id == grant.user_id));
            match of_grant {
                Some(one) => one,
                None => {
                    audit::record(
                        db,
                        now,
                        Event {
                            kind: kinds::LOGIN_FAILED,
                            detail: "offline resume refused".into(),
                            ..Event::default()
                        },
                    )
                    .await?;
                    return Err(CloudError::ResumeRefused);
                }
            }
        }
    };
    let company = db::companies::company_of(db, &user).await?;
    let second_factor_at = match &grant {
        Some(grant)
            if grant.user_id == user.id
                && grant.is_live(now, security_stamp)
                && user.status == UserStatus::Active
                && company.offline_policy.allowed =>
        {
            grant.second_factor_at
        }
        _ => return refuse_resume(db, &user, now).await,
    };
    // A 2FA user resumes only within the offline grace of their last code here.
    if two_factor::needs_second_factor(&user, &company)
        && !company
            .offline_policy
            .covers_second_factor_at(second_factor_at, now)
    {
        return refuse_resume(db, &user, now).await;
    }
    db::devices::revoke(db, &request.device_token, now).await?;
    audit::record(db, now, user_event(kinds::SESSION_RESUMED, &user, "")).await?;
    complete_sign_in(
        state,
        user,
        company,
        "offline resume",
        second_factor_at,
        security_stamp,
    )
    .await
}

async fn refuse_resume(db: &Db, user: &User, now: i64) -> Result<LoginResponse, CloudError> {
    audit::record(
        db,
        now,
        user_event(kinds::LOGIN_FAILED, user, "offline resume refused"),
    )
    .await?;
    Err(CloudError::ResumeRefused)
}

/// Sends a new code for the attempt (30 s cooldown; at most 5 sends per
/// 10 minutes per user and per number). The new code replaces the old one.
pub async fn resend(
    state: &AppState,
    request: &ResendCodeRequest,
) -> Result<Challenge, CloudError> {
    let db = &state.db;
    let row = challenges::open_challenge(db, &request.challenge_id, state.now()).await?;
    let phone = row
        .phone
        .clone()
        .ok_or_else(|| CloudError::Validation("enter your mobile phone number first".into()))?;
    let user = db::users::user_by_id(db, &row.user_id)
        .await?
        .ok_or(CloudError::ChallengeClosed)?;
    ensure_attempt_fits_profile(state, &row, &user).await?;
    let row = two_factor::send_code(state, &request.challenge_id, &row, &phone, &user).await?;
    let view = row.view(&request.challenge_id, other_factors(db, &user.id).await?);
    if row.purpose != Purpose::SecondFactor {
        return Ok(view);
    }
    let company = db::companies::company_of(db, &user).await?;
    Ok(offering_trust(
        view,
        company.session_policy.trusted_computer_days,
    ))
}

/// Enrolment: the mobile phone to verify; a code is sent to it. Parsed to
/// E.164 (US default region, international accepted).
pub async fn enroll_phone(
    state: &AppState,
    request: &EnrollPhoneRequest,
) -> Result<Challenge, CloudError> {
    let db = &state.db;
    let row = challenges::open_challenge(db, &request.challenge_id, state.now()).await?;
    if row.purpose != Purpose::Enrollment {
        return Err(CloudError::Validation(
            "this sign-in uses the phone already on file".into(),
        ));
    }
    let phone = phone::normalize(&request.mobile_phone)?;
    let user = db::users::user_by_id(db, &row.user_id)
        .await?
        .ok_or(CloudError::ChallengeClosed)?;
    ensure_attempt_fits_profile(state, &row, &user).await?;
    let row = two_factor::send_code(state, &request.challenge_id, &row, &phone, &user).await?;
    Ok(row.view(&request.challenge_id, OtherFactors::default()))
}

/// Enrolment with an authenticator app instead of a phone: the password
/// alone opened this attempt (as it lets the user choose their first phone),
/// so the app's first code must come back through `verify` before anything
/// changes. Starting again replaces the secret shown before.
pub async fn enroll_totp(
    state: &AppState,
    request: &EnrollTotpRequest,
) -> Result<TotpEnrollment, CloudError> {
    let db = &state.db;
    let row = challenges::open_challenge(db, &request.challenge_id, state.now()).await?;
    if row.purpose != Purpose::Enrollment {
        return Err(CloudError::Validation(
            "this sign-in uses the second factor already set up".into(),
        ));
    }
    let user = db::users::user_by_id(db, &row.user_id)
        .await?
        .ok_or(CloudError::ChallengeClosed)?;
    ensure_attempt_fits_profile(state, &row, &user).await?;
    totp::start_enrollment(state, &user).await
}

/// The sentence for a wrong current password on a password change: a 400,
/// not a 401, so the desktop does not take it for an ended session.
fn wrong_current_password() -> CloudError {
    CloudError::Refused(Refusal {
        code: codes::INVALID_CREDENTIALS,
        message: "The current password is not correct.".into(),
    })
}

fn password_context<'a>(user: &'a User, company: &'a Company) -> PasswordContext<'a> {
    PasswordContext {
        email: &user.email,
        display_name: &user.display_name,
        company_name: &company.name,
    }
}

/// First sign-in with a setup code: the code (single use, unexpired, counted
/// on the same failure counters and with the same answers as a wrong
/// password) lets the person choose a password under the password rules;
/// from there on it is a `/login` with that password (second factor or
/// phone enrolment as usual). Every earlier session, grant and attempt of
/// the user ends.
pub async fn activate(
    state: &AppState,
    source: &SourceAddr,
    request: ActivateRequest,
) -> Result<LoginResponse, CloudError> {
    let email = normalize_email(&request.email);
    let code = normalize_code(&request.setup_code);
    if email.is_empty() || code.is_empty() || request.new_password.is_empty() {
        return Err(CloudError::Validation(
            "email, setup code and new password are required".into(),
        ));
    }
    if request.new_password.len() > MAX_PASSWORD_BYTES || code.len() > MAX_PASSWORD_BYTES {
        return Err(CloudError::Validation("the password is too long".into()));
    }
    let db = &state.db;
    check_source(state, source).await?;
    // An address is unique per company only: the code picks the account.
    let found = db::users::credentials_by_email(db, &email, None).await?;
    if found.is_empty() {
        return Err(unknown_account(state, source, &email, None).await);
    }
    let candidates = reserve_candidates(db, found, state.now()).await?;
    let now = state.now();
    let code_hash = token_hash(&code);
    let fits = |credentials: &db::users::Credentials| {
        setup_code_fits(
            credentials.setup_code_hash.as_deref(),
            credentials.setup_code_expires_at,
            &code_hash,
            now,
        )
    };
    let Some(index) = candidates.iter().position(fits) else {
        let detail = "wrong, used or expired setup code";
        return Err(count_failures(state, source, &candidates, detail).await);
    };
    let mut credentials = None;
    for (i, candidate) in candidates.into_iter().enumerate() {
        if i == index {
            credentials = Some(candidate);
        } else {
            // Not a guess at these accounts: the code belongs to another one.
            counters::release_attempt(db, Counter::User(&candidate.user.id)).await?;
        }
    }
    let credentials =
        credentials.ok_or_else(|| CloudError::Internal("the matched account vanished".into()))?;
    let user = credentials.user;
    counters::password_accepted(db, &user.id).await?;
    if user.status == UserStatus::Disabled {
        // Refused like /login refuses a disabled account; the code stays.
        return after_password(
            state,
            PasswordOk {
                user,
                security_stamp: credentials.security_stamp,
            },
            None,
        )
        .await;
    }
    let company = db::companies::company_of(db, &user).await?;
    let password =
        passwords::check_password(&request.new_password, password_context(&user, &company))?;
    let hash = state.hasher.hash(password).await?;
    let now = state.now();
    let mut tx = db.pool.begin().await?;
    if !db::users::redeem_setup_code(&mut tx, &user.id, &code_hash, &hash, now).await? {
        return Err(CloudError::InvalidCredentials);
    }
    security::end_sessions(&mut tx, Scope::User(&user.id), now, None).await?;
    let event = user_event(
        kinds::ACCOUNT_ACTIVATED,
        &user,
        "password chosen with a setup code",
    );
    audit::record_in(&mut tx, now, event).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, "setup code redeemed");
    let credentials = db::users::credentials_by_email(db, &email, Some(&user.company_id))
        .await?
        .into_iter()
        .next()
        .ok_or(CloudError::InvalidCredentials)?;
    after_password(
        state,
        PasswordOk {
            user: credentials.user,
            security_stamp: credentials.security_stamp,
        },
        None,
    )
    .await
}

/// A signed-in user changes their password: the current one checked (and
/// counted) as at sign-in, the new one under the password rules. Every other
/// session, device grant and sign-in attempt of the user ends; the session
/// the change is made from stays, and this device's grant (when named) is
/// replaced by a new one with the same last second factor.
pub async fn change_password(
    state: &AppState,
    source: &SourceAddr,
    authed: &AuthedUser,
    request: ChangePasswordRequest,
) -> Result<ChangePasswordResponse, CloudError> {
    let ChangePasswordRequest {
        current_password,
        new_password,
        device_token,
    } = request;
    if new_password.len() > MAX_PASSWORD_BYTES {
        return Err(CloudError::Validation("the password is too long".into()));
    }
    let user = &authed.user;
    let stamp = confirm_current_password(state, source, user, current_password).await?;
    // This device's grant, if it is a live one of the user's: replaced below
    // with the same offline standing (its last second factor).
    let this_device = match device_token.as_deref() {
        Some(token) => db::devices::find(&state.db, token)
            .await?
            .filter(|grant| grant.user_id == user.id && grant.is_live(state.now(), stamp)),
        None => None,
    };
    let company = db::companies::company_of(&state.db, user).await?;
    let password = passwords::check_password(&new_password, password_context(user, &company))?;
    let hash = state.hasher.hash(password).await?;
    let now = state.now();
    let mut tx = state.db.pool.begin().await?;
    db::users::set_password(&mut tx, &user.id, &hash).await?;
    security::end_sessions(
        &mut tx,
        Scope::User(&user.id),
        now,
        Some(&authed.session_token_hash),
    )
    .await?;
    audit::record_in(&mut tx, now, user_event(kinds::PASSWORD_CHANGED, user, "")).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, "password changed");
    let device_token = match this_device {
        Some(grant) => {
            let stamp =
                db::users::credentials_by_email(&state.db, &user.email, Some(&user.company_id))
                    .await?
                    .into_iter()
                    .next()
                    .ok_or(CloudError::Unauthenticated)?
                    .security_stamp;
            let token =
                db::devices::issue(&state.db, &user.id, grant.second_factor_at, stamp, now).await?;
            Some(token)
        }
        None => None,
    };
    Ok(ChangePasswordResponse { device_token })
}

/// The signed-in `user`'s current password, checked (and counted, and
/// locked at the limit) as at sign-in, before a change that needs it. Their
/// security stamp.
pub async fn confirm_current_password(
    state: &AppState,
    source: &SourceAddr,
    user: &User,
    password: String,
) -> Result<i64, CloudError> {
    let checked =
        check_password(state, source, &user.email, password, Some(&user.company_id)).await;
    match checked {
        Ok(PasswordCheck::One(accepted)) => Ok(accepted.security_stamp),
        // One company named: one account at most.
        Ok(PasswordCheck::Several(_)) => {
            Err(CloudError::Internal("one company, several accounts".into()))
        }
        Err(CloudError::InvalidCredentials | CloudError::Validation(_)) => {
            Err(wrong_current_password())
        }
        Err(e) => Err(e),
    }
}

/// A wrong password or setup code for every one of `candidates` (the
/// accounts of the address, their attempts reserved): counted on each and on
/// the source, audited, locked at the hard limit. What to answer.
async fn count_failures(
    state: &AppState,
    source: &SourceAddr,
    candidates: &[db::users::Credentials],
    detail: &str,
) -> CloudError {
    let counted = async {
        let db = &state.db;
        let now = state.now();
        counters::record_source_failure(db, &source.0, state.config.source_window, now).await?;
        for credentials in candidates {
            let user = &credentials.user;
            let locked = counters::record_failure(db, &user.id, Failure::Password, now).await?;
            audit::record(db, now, user_event(kinds::LOGIN_FAILED, user, detail)).await?;
            if locked {
                lock_account(state, user, now).await?;
            }
        }
        Ok::<(), CloudError>(())
    };
    match counted.await {
        Ok(()) => CloudError::InvalidCredentials,
        Err(e) => e,
    }
}
