//! Offline sign-in: its rules (the argon2id verifier written at each online
//! sign-in, the slow-down and lock of wrong passwords, the company's offline
//! policy: allowed, grace since the last online second factor on this
//! device) and [`sign_in`], which applies them when the cloud cannot be
//! reached and starts the session through `session::establish`.

use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use secureclose_protocol::passwords::normalize_password;
use secureclose_protocol::{codes, needs_second_factor, Company, CompanyChoice, User, UserStatus};

use crate::cache::{now_millis, Cache, OfflineCredential, RevokedReason};
use crate::context::{Context, OfflineSignIn};
use crate::error::{desktop_codes, CoreError};
use crate::sensitive::Sensitive;
use crate::session::state::SignedInSession;
use crate::session::{self, offline_app, sign_in, Start};
use crate::views::{LoginOutcome, SessionView};

/// Wrong offline passwords accepted without waiting.
pub const DELAY_AFTER_FAILURES: i64 = 5;
/// Wrong offline passwords after which only an online sign-in helps.
pub const LOCK_AFTER_FAILURES: i64 = 10;

/// An argon2id PHC string of `password` with a salt drawn here (so a copied
/// cache does not share a verifier with the cloud or another computer).
/// CPU-heavy: call it from a blocking thread. Of the NFC form, as the cloud
/// hashes it (`protocol::passwords`): accents typed composed or decomposed
/// are one password.
pub fn make_verifier(password: &str) -> Result<Sensitive<String>, CoreError> {
    let salt = SaltString::generate(&mut OsRng);
    let password = Sensitive::new(normalize_password(password));
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|hash| Sensitive::new(hash.to_string()))
        .map_err(|err| CoreError::Io(std::io::Error::other(format!("argon2: {err}"))))
}

/// Constant-time check of `password` against a verifier (blocking).
pub fn verify(verifier: &Sensitive<String>, password: &str) -> bool {
    let password = Sensitive::new(normalize_password(password));
    PasswordHash::new(verifier.expose()).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.expose().as_bytes(), &hash)
            .is_ok()
    })
}

/// Before the password is even checked: locked, or too soon after the last
/// wrong one (2, 4, 8, 16, 32 s after the 5th..9th failure).
pub fn throttle(credential: &OfflineCredential, now: i64) -> Result<(), CoreError> {
    if credential.failures >= LOCK_AFTER_FAILURES {
        return Err(locked());
    }
    if credential.failures >= DELAY_AFTER_FAILURES {
        let shift = u32::try_from(credential.failures - DELAY_AFTER_FAILURES + 1).unwrap_or(5);
        let until = credential.last_failure_at.unwrap_or(0) + 1000 * (1i64 << shift.min(5));
        if now < until {
            let seconds = (until - now + 999) / 1000;
            return Err(CoreError::Refused {
                code: codes::RATE_LIMITED,
                message: format!("Too many attempts. Try again in {seconds} seconds."),
                retry_at: Some(until),
            });
        }
    }
    Ok(())
}

/// The error for the `failures`-th wrong password.
pub fn wrong_password(failures: i64) -> CoreError {
    if failures >= LOCK_AFTER_FAILURES {
        locked()
    } else {
        CoreError::Refused {
            code: codes::INVALID_CREDENTIALS,
            message: "The email or password is incorrect.".into(),
            retry_at: None,
        }
    }
}

/// What an offline sign-in still needs after the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfflineFactor {
    /// Nothing (no 2FA, or a texted code within the grace window).
    None,
    /// The authenticator app's code (`session::offline_app`).
    AppCode,
}

/// After a correct password: may this person work offline on this device?
/// Decided from the cached user and company (the cloud's last word). Whom
/// 2FA reaches and who has an app here types its code; others rely on the
/// grace window since their last texted code.
pub fn policy(
    credential: &OfflineCredential,
    user: Option<&User>,
    company: Option<&Company>,
    now: i64,
) -> Result<OfflineFactor, CoreError> {
    let (Some(user), Some(company)) = (user, company) else {
        return Err(unknown_user());
    };
    if !company.offline_policy.allowed {
        return Err(refused(
            desktop_codes::OFFLINE_NOT_ALLOWED,
            "Your company does not allow signing in offline. Connect to the internet to sign in.",
        ));
    }
    if user.status == UserStatus::Disabled {
        return Err(refused(
            codes::ACCOUNT_DISABLED,
            "This account is disabled. Contact your administrator.",
        ));
    }
    if needs_second_factor(user, company) {
        if credential.app_sealed.is_some() {
            return Ok(OfflineFactor::AppCode);
        }
        let within = company
            .offline_policy
            .covers_second_factor_at(credential.last_second_factor_at, now);
        if !within {
            return Err(grace_expired());
        }
    }
    Ok(OfflineFactor::None)
}

pub(crate) fn grace_expired() -> CoreError {
    refused(
        desktop_codes::OFFLINE_GRACE_EXPIRED,
        "Connect to the internet to receive your code.",
    )
}

/// Offline sign-in of an account the cloud disabled, deleted, or whose
/// password it refused: the marker stays until an online sign-in succeeds.
pub fn revoked(reason: RevokedReason) -> CoreError {
    let why = match reason {
        RevokedReason::Disabled => "SecureClose reported this account as disabled",
        RevokedReason::Deleted => "SecureClose reported this account as removed",
        RevokedReason::Credentials => {
            "SecureClose no longer accepts the password this computer knows for this account"
        }
    };
    refused(
        desktop_codes::OFFLINE_REVOKED,
        &format!(
            "{why}, so it cannot sign in on this computer without the internet. Connect to the \
             internet to sign in, or contact your administrator."
        ),
    )
}

pub fn unknown_user() -> CoreError {
    refused(
        desktop_codes::OFFLINE_UNKNOWN_USER,
        "This account has not signed in on this computer yet. Connect to the internet to sign in.",
    )
}

fn locked() -> CoreError {
    refused(
        desktop_codes::OFFLINE_LOCKED,
        "Too many attempts. Connect to the internet to sign in.",
    )
}

fn refused(code: &'static str, message: &str) -> CoreError {
    CoreError::Refused {
        code,
        message: message.to_owned(),
        retry_at: None,
    }
}

/// Offline sign-in: the cached verifier and the company's offline policy
/// decide (see `offline`). Success signs in without a cloud session; the
/// sync resumes one when the cloud answers. An email may have verifiers of
/// several companies here (an email is unique per company only): as on the
/// cloud, the password is checked against each (a wrong one counts on each),
/// and fitting more than one asks the person which company (`company_id`
/// then names it).
pub(crate) async fn sign_in(
    ctx: &Arc<Context>,
    cache: &Cache,
    email: &str,
    password: &str,
    company_id: Option<&str>,
) -> Result<LoginOutcome, CoreError> {
    let now = now_millis();
    if let Some(reason) = cache.offline_revoked(email).await? {
        return Err(revoked(reason));
    }
    let found = cache.offline_credentials(email, company_id).await?;
    if found.is_empty() {
        return Err(unknown_user());
    }
    let mut candidates = Vec::with_capacity(found.len());
    let mut refusal = None;
    for credential in found {
        match throttle(&credential, now) {
            Ok(()) => candidates.push(credential),
            Err(err) => {
                refusal.get_or_insert(err);
            }
        }
    }
    if candidates.is_empty() {
        return Err(refusal.unwrap_or_else(unknown_user));
    }
    let mut matched = Vec::new();
    for credential in &candidates {
        let verifier = credential.verifier.clone();
        let typed = Sensitive::new(password.to_owned());
        let matches = tokio::task::spawn_blocking(move || verify(&verifier, typed.expose()))
            .await
            .unwrap_or(false);
        matched.push(matches);
    }
    if !matched.contains(&true) {
        let mut failures = 0;
        for credential in &candidates {
            failures = failures.max(
                cache
                    .record_offline_failure(&credential.user_id, now)
                    .await?,
            );
        }
        tracing::info!(failures, "wrong password for an offline sign-in");
        return Err(wrong_password(failures));
    }
    let mut fitting: Vec<OfflineCredential> = candidates
        .into_iter()
        .zip(matched)
        .filter_map(|(credential, matches)| matches.then_some(credential))
        .collect();
    if fitting.len() > 1 {
        let mut companies = Vec::with_capacity(fitting.len());
        for credential in &fitting {
            let name = cache
                .company(&credential.company_id)
                .await?
                .map(|company| company.name)
                .unwrap_or_else(|| credential.company_id.clone());
            companies.push(CompanyChoice {
                id: credential.company_id.clone(),
                name,
            });
        }
        let password = Sensitive::new(password.to_owned());
        return Ok(sign_in::hold_company_choice(ctx, email, password, companies).await);
    }
    let Some(credential) = fitting.pop() else {
        return Err(unknown_user());
    };
    let user = cache.user(&credential.user_id).await?;
    let company = match &user {
        Some(user) => cache.company(&user.company_id).await?,
        None => None,
    };
    let factor = policy(&credential, user.as_ref(), company.as_ref(), now)?;
    if factor == OfflineFactor::AppCode {
        return offline_app::ask(ctx, &credential, email, password).await;
    }
    establish_offline(ctx, cache, email, password, &credential.user_id).await
}

/// The offline session of `user_id`, whose password (and app code, where
/// asked) this computer checked.
pub(crate) async fn establish_offline(
    ctx: &Arc<Context>,
    cache: &Cache,
    email: &str,
    password: &str,
    user_id: &str,
) -> Result<LoginOutcome, CoreError> {
    let now = now_millis();
    let user = cache.user(user_id).await?;
    let company = match &user {
        Some(user) => cache.company(&user.company_id).await?,
        None => None,
    };
    let (Some(user), Some(company)) = (user, company) else {
        return Err(unknown_user());
    };
    cache.clear_offline_failures(&user.id).await?;

    let signed_in = SignedInSession {
        user_id: user.id.clone(),
        company_id: company.id.clone(),
        // No cloud session yet: the resume sets the real expiry.
        expires_at: now.saturating_add(company.offline_policy.grace_ms()),
    };
    let held = OfflineSignIn {
        email: email.to_owned(),
        password: Sensitive::new(password.to_owned()),
    };
    let mut state = ctx.state.lock().await;
    session::establish(ctx, &mut state, cache, signed_in, Start::Offline { held }).await?;
    drop(state);
    tracing::info!(user_id = %user.id, "signed in offline");
    Ok(LoginOutcome::SignedIn {
        recovery: None,
        session: SessionView {
            idle_lock_minutes: company.session_policy.idle_lock_minutes,
            user,
            company,
            online: false,
            offline_sign_in: true,
            last_synced_at: cache.last_synced_at().await?,
        },
    })
}

/// Writes this person's offline verifier after an online sign-in. A
/// failure only costs offline sign-in, so it is logged, not returned.
pub(crate) async fn save_verifier(
    cache: &Cache,
    user: &User,
    password: Sensitive<String>,
    second_factor: bool,
) {
    if let Some(verifier) = hash_verifier(password).await {
        store_verifier(cache, user, &verifier, second_factor).await;
    }
}

/// The slow half of [`save_verifier`] (Argon2, off the async threads), so a
/// caller can do it before it takes locks or starts the sync.
pub(crate) async fn hash_verifier(password: Sensitive<String>) -> Option<Sensitive<String>> {
    match tokio::task::spawn_blocking(move || make_verifier(password.expose())).await {
        Ok(Ok(verifier)) => Some(verifier),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "could not make the offline verifier");
            None
        }
        Err(err) => {
            tracing::warn!(error = %err, "could not make the offline verifier");
            None
        }
    }
}

/// The fast half of [`save_verifier`]: one cache write.
pub(crate) async fn store_verifier(
    cache: &Cache,
    user: &User,
    verifier: &Sensitive<String>,
    second_factor: bool,
) {
    let now = now_millis();
    let saved = cache
        .save_offline_credential(
            &user.id,
            &user.email,
            &user.company_id,
            verifier,
            now,
            second_factor.then_some(now),
        )
        .await;
    if let Err(err) = saved {
        tracing::warn!(error = %err, "could not store the offline verifier");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::tests::{company, user};

    const HOUR: i64 = 3_600_000;
    const NOW: i64 = 1_800_000_000_000;

    fn credential(failures: i64, second_factor_at: Option<i64>) -> OfflineCredential {
        OfflineCredential {
            user_id: "u2".into(),
            email: "bob@desertmotors.example".into(),
            company_id: "c1".into(),
            verifier: Sensitive::new(String::new()),
            last_online_login_at: NOW - HOUR,
            last_second_factor_at: second_factor_at,
            failures,
            last_failure_at: Some(NOW - 1_000),
            app_sealed: None,
        }
    }

    #[test]
    fn the_verifier_accepts_only_the_password_and_is_salted_per_call() {
        let a = make_verifier("correct horse").unwrap();
        let b = make_verifier("correct horse").unwrap();
        assert!(a.expose().starts_with("$argon2id$"), "argon2id PHC string");
        assert_ne!(a.expose(), b.expose(), "a fresh random salt each time");
        assert!(verify(&a, "correct horse"));
        assert!(!verify(&a, "correct horsE"), "one letter off must fail");
        assert!(
            !verify(&Sensitive::new("garbage".into()), "x"),
            "a broken verifier never matches"
        );
    }

    #[test]
    fn the_verifier_compares_passwords_in_nfc_like_the_cloud() {
        let decomposed = make_verifier("cafe\u{301} lumière").unwrap();
        assert!(verify(&decomposed, "caf\u{e9} lumière"));
        let composed = make_verifier("caf\u{e9} lumière").unwrap();
        assert!(verify(&composed, "cafe\u{301} lumière"));
    }

    #[test]
    fn wrong_passwords_slow_down_from_five_and_lock_at_ten() {
        assert!(
            throttle(&credential(4, None), NOW).is_ok(),
            "4 failures: no wait"
        );
        let err = throttle(&credential(5, None), NOW).unwrap_err();
        assert_eq!(
            err.code(),
            codes::RATE_LIMITED,
            "5 failures: wait 2 s after the last"
        );
        let ApiErrorParts { retry_at } = parts(&err);
        assert_eq!(
            retry_at,
            Some(NOW - 1_000 + 2_000),
            "the UI can count down to it"
        );
        assert!(
            throttle(&credential(5, None), NOW + 1_001).is_ok(),
            "after the delay another try is allowed"
        );
        assert!(
            throttle(&credential(9, None), NOW + 30_000).is_err(),
            "9 failures: 32 s"
        );
        assert_eq!(
            throttle(&credential(10, None), NOW + HOUR)
                .unwrap_err()
                .code(),
            desktop_codes::OFFLINE_LOCKED,
            "10 failures lock offline sign-in whatever the wait"
        );
        assert_eq!(wrong_password(3).code(), codes::INVALID_CREDENTIALS);
        assert_eq!(wrong_password(10).code(), desktop_codes::OFFLINE_LOCKED);
    }

    struct ApiErrorParts {
        retry_at: Option<i64>,
    }

    fn parts(err: &CoreError) -> ApiErrorParts {
        let api = secureclose_protocol::ApiError::from(err);
        ApiErrorParts {
            retry_at: api.retry_at,
        }
    }

    #[test]
    fn someone_with_an_app_types_its_code_offline_instead_of_the_grace_window() {
        let mut bob = user("u2", "Bob", "bob@desertmotors.example");
        bob.two_factor_enabled = true;
        let acme = company();
        let texted_long_ago = credential(0, Some(NOW - 1000 * HOUR));
        assert_eq!(
            policy(&texted_long_ago, Some(&bob), Some(&acme), NOW)
                .unwrap_err()
                .code(),
            desktop_codes::OFFLINE_GRACE_EXPIRED,
            "without an app, the grace window decides"
        );
        let with_app = OfflineCredential {
            app_sealed: Some("v1.sealed".into()),
            ..texted_long_ago.clone()
        };
        assert_eq!(
            policy(&with_app, Some(&bob), Some(&acme), NOW).unwrap(),
            OfflineFactor::AppCode
        );
        let just_texted = OfflineCredential {
            app_sealed: Some("v1.sealed".into()),
            ..credential(0, Some(NOW - HOUR))
        };
        assert_eq!(
            policy(&just_texted, Some(&bob), Some(&acme), NOW).unwrap(),
            OfflineFactor::AppCode,
            "with an app, its code is asked for even within the grace window"
        );
        bob.two_factor_enabled = false;
        assert_eq!(
            policy(&with_app, Some(&bob), Some(&acme), NOW).unwrap(),
            OfflineFactor::None,
            "no 2FA, no code"
        );
    }

    #[test]
    fn the_company_policy_decides_after_the_password() {
        let mut bob = user("u2", "Bob", "bob@desertmotors.example");
        bob.two_factor_enabled = false;
        let mut acme = company();
        assert!(
            policy(&credential(0, None), Some(&bob), Some(&acme), NOW).is_ok(),
            "no 2FA needed: allowed offline without a grace window"
        );

        acme.offline_policy.allowed = false;
        assert_eq!(
            policy(&credential(0, None), Some(&bob), Some(&acme), NOW)
                .unwrap_err()
                .code(),
            desktop_codes::OFFLINE_NOT_ALLOWED
        );
        acme.offline_policy.allowed = true;

        bob.status = UserStatus::Disabled;
        assert_eq!(
            policy(&credential(0, None), Some(&bob), Some(&acme), NOW)
                .unwrap_err()
                .code(),
            codes::ACCOUNT_DISABLED,
            "a user disabled on the cloud loses offline access at the next sync"
        );
        bob.status = UserStatus::Active;
        assert_eq!(
            policy(&credential(0, None), None, Some(&acme), NOW)
                .unwrap_err()
                .code(),
            desktop_codes::OFFLINE_UNKNOWN_USER
        );
    }

    #[test]
    fn a_2fa_user_enters_only_within_the_grace_since_the_last_code_here() {
        let bob = user("u2", "Bob", "bob@desertmotors.example"); // 2FA on
        let acme = company(); // 72 h, DMS supports 2FA
        let recent = credential(0, Some(NOW - 71 * HOUR));
        assert!(policy(&recent, Some(&bob), Some(&acme), NOW).is_ok());
        let stale = credential(0, Some(NOW - 73 * HOUR));
        let err = policy(&stale, Some(&bob), Some(&acme), NOW).unwrap_err();
        assert_eq!(err.code(), desktop_codes::OFFLINE_GRACE_EXPIRED);
        assert_eq!(
            err.user_message(),
            "Connect to the internet to receive your code.",
            "the refusal says exactly what to do"
        );
        assert_eq!(
            policy(&credential(0, None), Some(&bob), Some(&acme), NOW)
                .unwrap_err()
                .code(),
            desktop_codes::OFFLINE_GRACE_EXPIRED,
            "never a code on this device: no offline entry"
        );
        let mut no_dms_2fa = acme.clone();
        no_dms_2fa.dms.supports_two_factor = false;
        assert!(
            policy(&stale, Some(&bob), Some(&no_dms_2fa), NOW).is_ok(),
            "the effective rule: no 2FA where the DMS does not support it"
        );
    }
}
