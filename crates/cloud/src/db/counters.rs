//! The failure counters: per account (`users`), per unknown email
//! (`unknown_login_failures`) and per source address (`login_sources`).
//! Every rule is one atomic SQL statement on shared tables, so any number of
//! instances on one database enforce it together (no process memory is
//! trusted); the delay and lock rule therefore lives beside its SQL.

use std::time::Duration;

use sqlx::{AnyConnection, Row as _};

use super::Db;
use crate::clock::ms;
use crate::error::CloudError;

/// Consecutive failures before each new attempt must wait (growing delay).
pub const DELAY_AFTER_FAILURES: i64 = 5;
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// NIST SP 800-63B §5.2.2: never more than 100 consecutive failed attempts.
pub const LOCK_AFTER_FAILURES: i64 = 100;

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
/// answer the same sequence of 401, 429 and 423 (finding 5 of the security
/// review: the answers must not tell which emails have an account).
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
