//! The second factor: one-time codes, login challenges, send limits and the
//! per-account failure counters. Every rule is enforced with single atomic SQL
//! statements on shared tables, so any number of instances on one database
//! enforce it together (no process memory is trusted).

use std::time::Duration;

use rand::Rng as _;
use secureclose_protocol::{Challenge, User};
use sha2::{Digest as _, Sha256};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row as _};
use subtle::ConstantTimeEq as _;

use crate::audit::{self, kinds, Event};
use crate::auth::{new_session_token, token_hash};
use crate::clock::ms;
use crate::db::Db;
use crate::error::CloudError;
use crate::{phone, AppState};

/// A code works for 10 minutes after it is sent.
pub const CODE_TTL: Duration = Duration::from_secs(10 * 60);
/// A login attempt (password accepted, factor pending) lives 30 minutes.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(30 * 60);
pub const RESEND_COOLDOWN: Duration = Duration::from_secs(30);
/// Wrong tries per code; the last one closes the login attempt.
pub const MAX_CODE_ATTEMPTS: i64 = 5;
/// SMS pumping protection: at most this many sends per window, per user AND
/// per destination number.
pub const SMS_WINDOW: Duration = Duration::from_secs(10 * 60);
pub const SMS_PER_WINDOW: i64 = 5;
/// Consecutive failures before each new attempt must wait (growing delay).
pub const DELAY_AFTER_FAILURES: i64 = 5;
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// NIST SP 800-63B §5.2.2: never more than 100 consecutive failed attempts.
pub const LOCK_AFTER_FAILURES: i64 = 100;

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
fn normalize_code(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    (code.len() == 6 && code.chars().all(|c| c.is_ascii_digit())).then_some(code)
}

/// Wait before the next attempt after `consecutive` failures:
/// 2^(n-5) s from the 5th failure on, capped at 15 minutes.
pub fn failure_delay_ms(consecutive: i64) -> i64 {
    if consecutive < DELAY_AFTER_FAILURES {
        return 0;
    }
    let exponent = u32::try_from(consecutive - DELAY_AFTER_FAILURES).unwrap_or(u32::MAX);
    let seconds = 1_i64.checked_shl(exponent).unwrap_or(i64::MAX);
    seconds.saturating_mul(1000).min(ms(MAX_DELAY))
}

/// [`failure_delay_ms`] as an SQL expression over `consecutive_failures`,
/// so the delay check is part of one atomic UPDATE on both dialects.
fn delay_case_sql() -> String {
    let mut sql = format!("CASE WHEN consecutive_failures < {DELAY_AFTER_FAILURES} THEN 0");
    let mut n = DELAY_AFTER_FAILURES;
    while failure_delay_ms(n) < ms(MAX_DELAY) {
        sql.push_str(&format!(
            " WHEN consecutive_failures = {n} THEN {}",
            failure_delay_ms(n)
        ));
        n += 1;
    }
    sql.push_str(&format!(" ELSE {} END", ms(MAX_DELAY)));
    sql
}

// ---------------------------------------------------------------------------
// Failure counters
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Password,
    Code,
}

/// Whose failure counter an attempt runs on: an account's, or, for an email
/// that matches no account, that email's own (keyed by its SHA-256), so both
/// answer the same sequence of 401, 429 and 423 (finding 5 of issue 10).
#[derive(Debug, Clone, Copy)]
pub enum Counter<'a> {
    User(&'a str),
    UnknownEmail(&'a str),
}

impl Counter<'_> {
    fn table_and_key(&self) -> (&'static str, &'static str, &str) {
        match self {
            Counter::User(id) => ("users", "id", id),
            Counter::UnknownEmail(hash) => ("unknown_login_failures", "email_hash", hash),
        }
    }
}

/// The counter of an unknown email (see [`Counter::UnknownEmail`]).
pub fn unknown_email_counter(normalized_email: &str) -> String {
    crate::auth::token_hash(normalized_email)
}

/// Counts an attempt before it is checked (a crash in between counts as a
/// failure: fail closed). Refuses with 423 account_locked at the hard limit
/// and 429 rate_limited during the growing delay. Because the count goes up
/// in the same statement that checks it, concurrent requests on any instance
/// can never exceed the limit together.
pub async fn reserve_attempt(db: &Db, counter: Counter<'_>, now: i64) -> Result<(), CloudError> {
    let (table, key, value) = counter.table_and_key();
    if let Counter::UnknownEmail(hash) = counter {
        sqlx::query(
            "INSERT INTO unknown_login_failures (email_hash, consecutive_failures) \
             VALUES ($1, 0) ON CONFLICT (email_hash) DO NOTHING",
        )
        .bind(hash)
        .execute(&db.pool)
        .await?;
    }
    let sql = format!(
        "UPDATE {table} SET consecutive_failures = consecutive_failures + 1 \
         WHERE {key} = $1 AND consecutive_failures < $2 \
         AND (last_failure_at IS NULL OR last_failure_at + ({}) <= $3)",
        delay_case_sql()
    );
    let reserved = sqlx::query(&sql)
        .bind(value)
        .bind(LOCK_AFTER_FAILURES)
        .bind(now)
        .execute(&db.pool)
        .await?;
    if reserved.rows_affected() == 1 {
        return Ok(());
    }
    let sql = format!("SELECT consecutive_failures, last_failure_at FROM {table} WHERE {key} = $1");
    let row = sqlx::query(&sql)
        .bind(value)
        .fetch_optional(&db.pool)
        .await?
        .ok_or(CloudError::InvalidCredentials)?;
    let consecutive: i64 = row.try_get("consecutive_failures")?;
    let last: Option<i64> = row.try_get("last_failure_at")?;
    if consecutive >= LOCK_AFTER_FAILURES {
        return Err(CloudError::AccountLocked);
    }
    let retry_at = last.unwrap_or(now) + failure_delay_ms(consecutive);
    // Past already: a concurrent attempt holds the slot; try again shortly.
    let retry_at = if retry_at > now { retry_at } else { now + 1000 };
    Err(CloudError::RateLimited { retry_at })
}

/// The reserved attempt neither failed nor finished the login (a correct
/// password with a factor still to come, a busy server, an expired code).
pub async fn release_attempt(db: &Db, counter: Counter<'_>) -> Result<(), CloudError> {
    let (table, key, value) = counter.table_and_key();
    let sql = format!(
        "UPDATE {table} SET consecutive_failures = consecutive_failures - 1 \
         WHERE {key} = $1 AND consecutive_failures > 0"
    );
    sqlx::query(&sql).bind(value).execute(&db.pool).await?;
    Ok(())
}

/// The reserved attempt of an unknown email failed (it always does): it
/// stays counted. Returns whether that email is now "locked", as an account
/// would be.
pub async fn record_unknown_failure(
    db: &Db,
    email_hash: &str,
    now: i64,
) -> Result<bool, CloudError> {
    let consecutive: Option<i64> = sqlx::query_scalar(
        "UPDATE unknown_login_failures SET last_failure_at = $1 WHERE email_hash = $2 \
         RETURNING consecutive_failures",
    )
    .bind(now)
    .bind(email_hash)
    .fetch_optional(&db.pool)
    .await?;
    Ok(consecutive.unwrap_or(0) >= LOCK_AFTER_FAILURES)
}

/// The reserved attempt failed: it stays counted, and its own counter grows.
/// Returns whether the account is now locked.
pub async fn record_failure(
    db: &Db,
    user_id: &str,
    failure: Failure,
    now: i64,
) -> Result<bool, CloudError> {
    let column = match failure {
        Failure::Password => "password_failures",
        Failure::Code => "code_failures",
    };
    let sql = format!(
        "UPDATE users SET {column} = {column} + 1, last_failure_at = $1 WHERE id = $2 \
         RETURNING consecutive_failures"
    );
    let consecutive: Option<i64> = sqlx::query_scalar(&sql)
        .bind(now)
        .bind(user_id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(consecutive.unwrap_or(0) >= LOCK_AFTER_FAILURES)
}

// ---------------------------------------------------------------------------
// Per-source throttle
// ---------------------------------------------------------------------------

/// One source address over its failure budget is refused for the rest of the
/// window, whatever email it tries, before any account counter is touched:
/// it is slowed, the accounts it guesses at are not locked by it.
pub async fn check_source(
    db: &Db,
    source: &str,
    limit: i64,
    window: Duration,
    now: i64,
) -> Result<(), CloudError> {
    let row = sqlx::query("SELECT window_start, failures FROM login_sources WHERE source = $1")
        .bind(source)
        .fetch_optional(&db.pool)
        .await?;
    let Some(row) = row else { return Ok(()) };
    let window_start: i64 = row.try_get("window_start")?;
    let failures: i64 = row.try_get("failures")?;
    let ends = window_start + ms(window);
    if ends > now && failures >= limit {
        return Err(CloudError::RateLimited { retry_at: ends });
    }
    Ok(())
}

/// A failed password from `source`: counted in its current window (a new
/// window starts when the old one is over). A success never resets it, or one
/// known password would reset the brake on guessing all the others.
pub async fn record_source_failure(
    db: &Db,
    source: &str,
    window: Duration,
    now: i64,
) -> Result<(), CloudError> {
    sqlx::query(
        "INSERT INTO login_sources (source, window_start, failures) VALUES ($1, $2, 1) \
         ON CONFLICT (source) DO UPDATE SET \
         failures = CASE WHEN login_sources.window_start <= $3 THEN 1 \
         ELSE login_sources.failures + 1 END, \
         window_start = CASE WHEN login_sources.window_start <= $3 THEN $2 \
         ELSE login_sources.window_start END",
    )
    .bind(source)
    .bind(now)
    .bind(now - ms(window))
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// A correct password: the password counter restarts, but the run of
/// consecutive failures only ends with a completed sign-in (otherwise knowing
/// the password would reset the brake on guessing codes).
pub async fn password_accepted(db: &Db, user_id: &str) -> Result<(), CloudError> {
    sqlx::query(
        "UPDATE users SET password_failures = 0, \
         consecutive_failures = CASE WHEN consecutive_failures > 0 \
         THEN consecutive_failures - 1 ELSE 0 END WHERE id = $1",
    )
    .bind(user_id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// A completed sign-in clears every counter.
pub async fn sign_in_completed(db: &Db, user_id: &str) -> Result<(), CloudError> {
    let mut conn = db.pool.acquire().await?;
    clear_counters(&mut conn, user_id).await
}

/// Every failure counter of the account back to zero (a sign-in, an unlock).
pub async fn clear_counters(conn: &mut AnyConnection, user_id: &str) -> Result<(), CloudError> {
    sqlx::query(
        "UPDATE users SET password_failures = 0, code_failures = 0, consecutive_failures = 0, \
         last_failure_at = NULL WHERE id = $1",
    )
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Challenges
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    SecondFactor,
    Enrollment,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::SecondFactor => "second_factor",
            Purpose::Enrollment => "enrollment",
        }
    }
}

/// A stored login attempt. `Debug` is derived: it holds only hashes.
#[derive(Debug, Clone)]
pub struct ChallengeRow {
    pub id_hash: String,
    pub user_id: String,
    pub purpose: Purpose,
    pub phone: Option<String>,
    pub code_hash: Option<String>,
    pub code_expires_at: Option<i64>,
    pub attempts_left: i64,
    pub last_sent_at: Option<i64>,
    pub expires_at: i64,
    pub closed_at: Option<i64>,
    /// The user's security stamp when the attempt opened (see crate::security).
    pub security_stamp: i64,
    /// Whether the user's stamp is still that one (and the user not deleted).
    pub user_unchanged: bool,
}

impl ChallengeRow {
    /// Open: not closed, not expired, and nothing security-relevant about the
    /// user changed since it opened.
    pub fn is_open(&self, now: i64) -> bool {
        self.closed_at.is_none() && self.expires_at > now && self.user_unchanged
    }

    /// The client's view (the id is given back only to its holder).
    pub fn view(&self, challenge_id: &str) -> Challenge {
        Challenge {
            challenge_id: challenge_id.to_string(),
            phone_hint: self.phone.as_deref().map(phone::hint),
            code_sent: self.code_hash.is_some(),
            code_expires_at: self.code_expires_at,
            resend_available_at: self.last_sent_at.map(|t| t + ms(RESEND_COOLDOWN)),
            attempts_left: u32::try_from(self.attempts_left).unwrap_or(0),
            expires_at: self.expires_at,
        }
    }
}

fn challenge_from_row(row: &AnyRow) -> Result<ChallengeRow, CloudError> {
    let purpose: String = row.try_get("purpose")?;
    Ok(ChallengeRow {
        id_hash: row.try_get("id_hash")?,
        user_id: row.try_get("user_id")?,
        purpose: match purpose.as_str() {
            "second_factor" => Purpose::SecondFactor,
            "enrollment" => Purpose::Enrollment,
            other => {
                return Err(CloudError::Internal(format!(
                    "unknown challenge purpose: {other}"
                )))
            }
        },
        phone: row.try_get("phone")?,
        code_hash: row.try_get("code_hash")?,
        code_expires_at: row.try_get("code_expires_at")?,
        attempts_left: row.try_get("attempts_left")?,
        last_sent_at: row.try_get("last_sent_at")?,
        expires_at: row.try_get("expires_at")?,
        closed_at: row.try_get("closed_at")?,
        security_stamp: row.try_get("security_stamp")?,
        user_unchanged: {
            let user_stamp: Option<i64> = row.try_get("user_stamp")?;
            user_stamp == Some(row.try_get("security_stamp")?)
        },
    })
}

/// Opens a login attempt; returns its id (given to the client once) and row.
pub async fn create_challenge(
    db: &Db,
    user_id: &str,
    purpose: Purpose,
    phone: Option<&str>,
    security_stamp: i64,
    now: i64,
) -> Result<(String, ChallengeRow), CloudError> {
    let id = new_session_token();
    let id_hash = token_hash(&id);
    let expires_at = now + ms(CHALLENGE_TTL);
    sqlx::query(
        "INSERT INTO login_challenges (id_hash, user_id, purpose, phone, attempts_left, \
         created_at, expires_at, security_stamp) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id_hash)
    .bind(user_id)
    .bind(purpose.as_str())
    .bind(phone)
    .bind(MAX_CODE_ATTEMPTS)
    .bind(now)
    .bind(expires_at)
    .bind(security_stamp)
    .execute(&db.pool)
    .await?;
    let row = load_challenge(db, &id)
        .await?
        .ok_or_else(|| CloudError::Internal("challenge vanished after insert".into()))?;
    Ok((id, row))
}

/// Looks an attempt up by the id the client holds.
pub async fn load_challenge(
    db: &Db,
    challenge_id: &str,
) -> Result<Option<ChallengeRow>, CloudError> {
    let row = sqlx::query(
        "SELECT c.id_hash, c.user_id, c.purpose, c.phone, c.code_hash, c.code_expires_at, \
         c.attempts_left, c.last_sent_at, c.expires_at, c.closed_at, c.security_stamp, \
         u.security_stamp AS user_stamp FROM login_challenges c \
         LEFT JOIN users u ON u.id = c.user_id AND u.deleted_at IS NULL WHERE c.id_hash = $1",
    )
    .bind(token_hash(challenge_id))
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(challenge_from_row).transpose()
}

/// An open attempt, or challenge_closed.
pub async fn open_challenge(
    db: &Db,
    challenge_id: &str,
    now: i64,
) -> Result<ChallengeRow, CloudError> {
    match load_challenge(db, challenge_id).await? {
        Some(row) if row.is_open(now) => Ok(row),
        _ => Err(CloudError::ChallengeClosed),
    }
}

/// Ends one attempt (`reason` is recorded, for the audit of attempts).
pub async fn close_challenge(
    db: &Db,
    id_hash: &str,
    now: i64,
    reason: &str,
) -> Result<(), CloudError> {
    sqlx::query(
        "UPDATE login_challenges SET closed_at = $1, closed_reason = $2 \
         WHERE id_hash = $3 AND closed_at IS NULL",
    )
    .bind(now)
    .bind(reason)
    .bind(id_hash)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Takes one send out of the per-user and per-number budgets, or refuses with
/// sms_limit. Insert first, count second: whatever the interleaving of
/// instances, the last inserter sees every earlier send, so the budget can
/// never be exceeded (at worst two racing sends are both refused).
async fn reserve_send(db: &Db, user_id: &str, phone: &str, now: i64) -> Result<String, CloudError> {
    let send_id = uuid::Uuid::new_v4().to_string();
    sqlx::query("INSERT INTO sms_sends (id, user_id, phone, sent_at) VALUES ($1, $2, $3, $4)")
        .bind(&send_id)
        .bind(user_id)
        .bind(phone)
        .bind(now)
        .execute(&db.pool)
        .await?;
    let since = now - ms(SMS_WINDOW);
    let mut retry_at: Option<i64> = None;
    for (column, value) in [("user_id", user_id), ("phone", phone)] {
        let sql = format!(
            "SELECT COUNT(*) AS sends, MIN(sent_at) AS oldest FROM sms_sends \
             WHERE {column} = $1 AND sent_at > $2"
        );
        let row = sqlx::query(&sql)
            .bind(value)
            .bind(since)
            .fetch_one(&db.pool)
            .await?;
        let sends: i64 = row.try_get("sends")?;
        let oldest: Option<i64> = row.try_get("oldest")?;
        if sends > SMS_PER_WINDOW {
            let at = oldest.unwrap_or(now) + ms(SMS_WINDOW);
            retry_at = Some(retry_at.map_or(at, |r| r.max(at)));
        }
    }
    if let Some(retry_at) = retry_at {
        delete_send(db, &send_id).await?;
        return Err(CloudError::SmsLimit { retry_at });
    }
    Ok(send_id)
}

async fn delete_send(db: &Db, send_id: &str) -> Result<(), CloudError> {
    sqlx::query("DELETE FROM sms_sends WHERE id = $1")
        .bind(send_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Sends a fresh code for an attempt to `phone` (the verified phone, or the
/// number being enrolled). Enforces the 30 s cooldown and the send budgets;
/// the new code replaces the previous one and gets a fresh 5 tries.
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
    let send_id = reserve_send(db, &user.id, phone, now).await?;
    let code = generate_code();
    let hash = code_hash(challenge_id, &code);
    // The cooldown is re-checked in the statement itself: two instances
    // resending at once cannot both win.
    let claimed = sqlx::query(
        "UPDATE login_challenges SET code_hash = $1, code_expires_at = $2, attempts_left = $3, \
         sends = sends + 1, last_sent_at = $4, phone = $5 \
         WHERE id_hash = $6 AND closed_at IS NULL AND expires_at > $4 \
         AND (last_sent_at IS NULL OR last_sent_at <= $7)",
    )
    .bind(&hash)
    .bind(now + ms(CODE_TTL))
    .bind(MAX_CODE_ATTEMPTS)
    .bind(now)
    .bind(phone)
    .bind(&row.id_hash)
    .bind(now - cooldown)
    .execute(&db.pool)
    .await?;
    if claimed.rows_affected() != 1 {
        delete_send(db, &send_id).await?;
        let current = open_challenge(db, challenge_id, now).await?;
        let retry_at = current.last_sent_at.unwrap_or(now) + cooldown;
        return Err(CloudError::ResendTooSoon { retry_at });
    }

    let event = |kind, detail: String| Event {
        kind,
        actor_user_id: Some(user.id.as_str()),
        subject_user_id: Some(user.id.as_str()),
        company_id: Some(user.company_id.as_str()),
        detail,
    };
    match state.sms.send(phone, &sms_body(&code)).await {
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
            sqlx::query(
                "UPDATE login_challenges SET code_hash = NULL, code_expires_at = NULL, \
                 last_sent_at = $1 WHERE id_hash = $2 AND code_hash = $3",
            )
            .bind(row.last_sent_at)
            .bind(&row.id_hash)
            .bind(&hash)
            .execute(&db.pool)
            .await?;
            return Err(error.into());
        }
    }
    open_challenge(db, challenge_id, now).await
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
        // Single use, even against a concurrent verify on another instance, and
        // void if a security change (phone, 2FA, status) landed meanwhile.
        let consumed = sqlx::query(
            "UPDATE login_challenges SET closed_at = $1, closed_reason = 'used' \
             WHERE id_hash = $2 AND closed_at IS NULL AND code_hash = $3 \
             AND attempts_left > 0 AND code_expires_at > $1 AND security_stamp = \
             (SELECT u.security_stamp FROM users u WHERE u.id = login_challenges.user_id)",
        )
        .bind(now)
        .bind(&row.id_hash)
        .bind(stored)
        .execute(&db.pool)
        .await?;
        return if consumed.rows_affected() == 1 {
            Ok(CodeCheck::Correct)
        } else {
            Err(CloudError::ChallengeClosed)
        };
    }
    // One try off this code, atomically: concurrent wrong tries on several
    // instances each take their own, and none is taken twice.
    let left: Option<i64> = sqlx::query_scalar(
        "UPDATE login_challenges SET attempts_left = attempts_left - 1 \
         WHERE id_hash = $1 AND closed_at IS NULL AND attempts_left > 0 AND code_hash = $2 \
         RETURNING attempts_left",
    )
    .bind(&row.id_hash)
    .bind(stored)
    .fetch_optional(&db.pool)
    .await?;
    match left {
        Some(left) if left > 0 => Ok(CodeCheck::Wrong(CloudError::InvalidCode {
            attempts_left: u32::try_from(left).unwrap_or(0),
        })),
        _ => {
            close_challenge(db, &row.id_hash, now, "too_many_attempts").await?;
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

    #[test]
    fn the_delay_grows_from_the_fifth_failure_and_caps_at_fifteen_minutes() {
        assert_eq!(failure_delay_ms(0), 0);
        assert_eq!(failure_delay_ms(4), 0);
        assert_eq!(failure_delay_ms(5), 1_000);
        assert_eq!(failure_delay_ms(6), 2_000);
        assert_eq!(failure_delay_ms(10), 32_000);
        assert_eq!(failure_delay_ms(14), 512_000);
        assert_eq!(failure_delay_ms(15), 900_000);
        assert_eq!(failure_delay_ms(99), 900_000);
        assert_eq!(failure_delay_ms(i64::MAX), 900_000, "no overflow");
        let sql = delay_case_sql();
        assert!(
            sql.contains("WHEN consecutive_failures = 14 THEN 512000"),
            "{sql}"
        );
        assert!(sql.ends_with("ELSE 900000 END"), "{sql}");
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
