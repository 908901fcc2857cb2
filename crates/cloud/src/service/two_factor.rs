//! The second factor by SMS: one-time codes, sending them within their
//! limits, checking them. The counters and attempts they run on are
//! `db::counters` and `db::challenges`.

use rand::Rng as _;
use secureclose_protocol::{Challenge, SecondFactorMethod, User};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::clock::ms;
use crate::db::audit::{self, kinds, Event};
use crate::db::challenges::{self, ChallengeRow};
use crate::db::Db;
use crate::error::CloudError;
use crate::phone;
use crate::state::AppState;
use crate::tokens::token_hash;

use super::sms_guard;

pub use crate::db::challenges::{
    Purpose, CHALLENGE_TTL, CODE_TTL, MAX_CODE_ATTEMPTS, RESEND_COOLDOWN, SMS_PER_WINDOW,
    SMS_WINDOW,
};
pub use crate::db::counters::{
    failure_delay_ms, Counter, Failure, DELAY_AFTER_FAILURES, LOCK_AFTER_FAILURES, MAX_DELAY,
};

/// The effective rule (shared with the desktop), applied at every login to
/// the user and company just read from the database.
pub use secureclose_protocol::needs_second_factor;

/// Six decimal digits, uniformly from the OS CSPRNG.
pub fn generate_code() -> String {
    let n: u32 = rand::rngs::OsRng.gen_range(0..1_000_000);
    format!("{n:06}")
}

/// What is stored instead of a code: SHA-256 over the attempt id and the code,
/// so a code only ever matches the attempt it was sent for, and a leaked table
/// (which holds only the hash of the attempt id) cannot be brute-forced.
pub fn code_hash(challenge_id: &str, code: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"secureclose-sms-code-v1\0");
    hasher.update(challenge_id.as_bytes());
    hasher.update(b"\0");
    hasher.update(code.as_bytes());
    hex::encode(hasher.finalize())
}

/// Constant-time comparison of two code hashes (no early exit on the first
/// differing byte).
pub fn codes_match(stored: &str, candidate: &str) -> bool {
    stored.len() == candidate.len() && bool::from(stored.as_bytes().ct_eq(candidate.as_bytes()))
}

/// The SMS text. The code is its only run of six digits.
pub fn sms_body(code: &str) -> String {
    format!("SecureClose code: {code}. It expires in 10 minutes. Don't share it.")
}

/// Typed codes: spaces and dashes are ignored ("123 456" from a paste).
pub fn normalize_code(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    (code.len() == 6 && code.chars().all(|c| c.is_ascii_digit())).then_some(code)
}

/// The counter of an unknown email (see [`Counter::UnknownEmail`]).
pub fn unknown_email_counter(normalized_email: &str) -> String {
    token_hash(normalized_email)
}

/// What besides a text can finish a user's second-factor attempt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OtherFactors {
    /// An active authenticator app.
    pub totp: bool,
    /// An unused recovery code.
    pub recovery: bool,
}

impl ChallengeRow {
    /// The client's view (the id is given back only to its holder), with
    /// the methods that can finish it.
    pub fn view(&self, challenge_id: &str, other: OtherFactors) -> Challenge {
        let enrolment = self.purpose == Purpose::Enrollment;
        let mut methods = Vec::new();
        if enrolment || self.phone.is_some() {
            methods.push(SecondFactorMethod::Sms);
        }
        // An enrolment can be finished by a new app's first code instead.
        if other.totp || enrolment {
            methods.push(SecondFactorMethod::Totp);
        }
        // A recovery code stands in for a factor one has, not a first one.
        if other.recovery && !enrolment {
            methods.push(SecondFactorMethod::Recovery);
        }
        Challenge {
            challenge_id: challenge_id.to_string(),
            phone_hint: self.phone.as_deref().map(phone::hint),
            code_sent: self.code_hash.is_some(),
            code_expires_at: self.code_expires_at,
            resend_available_at: self.last_sent_at.map(|t| t + ms(RESEND_COOLDOWN)),
            attempts_left: u32::try_from(self.attempts_left).unwrap_or(0),
            expires_at: self.expires_at,
            methods,
            // Offered by the sign-in that knows the company (`sign_in`).
            trusted_computer_days: 0,
        }
    }
}

/// Sends a fresh code for an attempt to `phone` (the verified phone, or the
/// number being enrolled). Enforces the 30 s cooldown and the SMS guardrails
/// (`sms_guard`); the new code replaces the previous one, and the attempt
/// keeps the tries it had left (a resend never resets a failure count).
pub async fn send_code(
    state: &AppState,
    challenge_id: &str,
    row: &ChallengeRow,
    phone: &str,
    user: &User,
) -> Result<ChallengeRow, CloudError> {
    let db = &state.db;
    let now = state.now();
    let cooldown = ms(RESEND_COOLDOWN);
    if let Some(last) = row.last_sent_at {
        if last + cooldown > now {
            return Err(CloudError::ResendTooSoon {
                retry_at: last + cooldown,
            });
        }
    }
    let what = format!("{} code", row.purpose.as_str());
    let permit = sms_guard::reserve(state, user, user, phone, &what).await?;
    let code = generate_code();
    let hash = code_hash(challenge_id, &code);
    if !challenges::store_code(db, &row.id_hash, &hash, phone, now).await? {
        permit.give_back(state).await?;
        let current = challenges::open_challenge(db, challenge_id, now).await?;
        let retry_at = current.last_sent_at.unwrap_or(now) + cooldown;
        return Err(CloudError::ResendTooSoon { retry_at });
    }

    let event = |kind, detail: String| Event::about(kind, user, user, detail);
    match permit.send(state, &sms_body(&code)).await {
        Ok(()) => {
            let detail = format!("{} code to {}", row.purpose.as_str(), phone::hint(phone));
            audit::record(db, now, event(kinds::CODE_SENT, detail)).await?;
            tracing::info!(user_id = %user.id, gateway = state.sms.name(), "second-factor code sent");
        }
        Err(error) => {
            let detail = format!("to {}: {error}", phone::hint(phone));
            audit::record(db, now, event(kinds::CODE_SEND_FAILED, detail)).await?;
            // Never delivered: forget the code and give the cooldown back so
            // the user can retry (the send budget still counts the attempt).
            challenges::forget_code(db, &row.id_hash, &hash, row.last_sent_at).await?;
            return Err(error.into());
        }
    }
    challenges::open_challenge(db, challenge_id, now).await
}

/// How a typed code compared.
#[derive(Debug)]
pub enum CodeCheck {
    /// Right code; the attempt is now consumed (single use).
    Correct,
    /// A counted wrong try: invalid_code with the tries left, or
    /// challenge_closed when it was the last one.
    Wrong(CloudError),
}

/// Checks a typed code against an open attempt. `Err` means the try did not
/// count (expired code, no code sent, malformed input).
pub async fn check_code(
    db: &Db,
    challenge_id: &str,
    row: &ChallengeRow,
    typed: &str,
    now: i64,
) -> Result<CodeCheck, CloudError> {
    let Some(stored) = row.code_hash.as_deref() else {
        return Err(CloudError::Validation(
            "no code has been sent for this sign-in yet".into(),
        ));
    };
    if row.code_expires_at.is_none_or(|at| at <= now) {
        return Err(CloudError::CodeExpired);
    }
    let Some(code) = normalize_code(typed) else {
        return Err(CloudError::Validation("the code is 6 digits".into()));
    };
    let candidate = code_hash(challenge_id, &code);
    if codes_match(stored, &candidate) {
        return if challenges::consume(db, &row.id_hash, stored, now).await? {
            Ok(CodeCheck::Correct)
        } else {
            Err(CloudError::ChallengeClosed)
        };
    }
    let left = challenges::take_try(db, &row.id_hash, stored).await?;
    match left {
        Some(left) if left > 0 => Ok(CodeCheck::Wrong(CloudError::InvalidCode {
            attempts_left: u32::try_from(left).unwrap_or(0),
        })),
        _ => {
            challenges::close_challenge(db, &row.id_hash, now, "too_many_attempts").await?;
            Ok(CodeCheck::Wrong(CloudError::ChallengeClosed))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secureclose_protocol::{Company, DmsIntegration, OfflinePolicy, Role, UserStatus};

    #[test]
    fn codes_are_six_digits_and_vary() {
        let codes: Vec<String> = (0..200).map(|_| generate_code()).collect();
        for code in &codes {
            assert_eq!(code.len(), 6, "{code}");
            assert!(code.chars().all(|c| c.is_ascii_digit()), "{code}");
        }
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert!(
            distinct.len() > 190,
            "200 random 6-digit codes should almost never repeat"
        );
    }

    #[test]
    fn code_hashes_are_bound_to_their_attempt() {
        let a = code_hash("attempt-a", "123456");
        assert_eq!(a.len(), 64);
        assert!(!a.contains("123456"));
        assert_ne!(
            a,
            code_hash("attempt-b", "123456"),
            "the same code for another attempt must not match"
        );
        assert_eq!(a, code_hash("attempt-a", "123456"));
    }

    #[test]
    fn the_compare_is_subtle_constant_time_and_exact() {
        let stored = code_hash("x", "000001");
        assert!(codes_match(&stored, &code_hash("x", "000001")));
        assert!(!codes_match(&stored, &code_hash("x", "000002")));
        assert!(!codes_match(&stored, &stored[..63]), "length differs");
        assert!(!codes_match(&stored, ""));
    }

    #[test]
    fn typed_codes_tolerate_spaces_but_not_other_lengths() {
        assert_eq!(normalize_code(" 123 456 ").as_deref(), Some("123456"));
        assert_eq!(normalize_code("123-456").as_deref(), Some("123456"));
        assert_eq!(normalize_code("12345"), None);
        assert_eq!(normalize_code("1234567"), None);
        assert_eq!(normalize_code("12345a"), None);
    }

    #[test]
    fn the_sms_text_has_the_code_as_its_only_six_digit_run() {
        let body = sms_body("042917");
        assert_eq!(
            body,
            "SecureClose code: 042917. It expires in 10 minutes. Don't share it."
        );
    }

    fn user(two_factor_enabled: bool) -> User {
        User {
            id: "u".into(),
            company_id: "c".into(),
            email: "a@b.c".into(),
            display_name: "A".into(),
            role: Role::Admin,
            status: UserStatus::Active,
            mobile_phone: None,
            phone_verified_at: None,
            two_factor_enabled,
            security_withheld: false,
            version: 1,
            updated_at: 0,
        }
    }

    fn company(required: bool, supports: bool) -> Company {
        Company {
            id: "c".into(),
            name: "C".into(),
            two_factor_required: required,
            dms: DmsIntegration {
                kind: "x".into(),
                supports_two_factor: supports,
            },
            offline_policy: OfflinePolicy {
                allowed: false,
                max_hours: 0,
            },
            session_policy: Default::default(),
            version: 1,
        }
    }

    #[test]
    fn effective_rule_is_either_toggle_and_dms_support() {
        for (user_on, company_on, supports, expected) in [
            (false, false, true, false),
            (true, false, true, true),
            (false, true, true, true),
            (true, true, true, true),
            (true, true, false, false),
            (true, false, false, false),
            (false, true, false, false),
        ] {
            assert_eq!(
                needs_second_factor(&user(user_on), &company(company_on, supports)),
                expected,
                "user {user_on}, company {company_on}, DMS supports {supports}"
            );
        }
    }
}
