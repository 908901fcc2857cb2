//! Sign-in attempts (`login_challenges`) and the SMS send budget
//! (`sms_sends`). The attempt's limits are enforced in its SQL, so they are
//! defined here.

use std::time::Duration;

use sqlx::any::AnyRow;
use sqlx::Row as _;

use super::Db;
use crate::clock::ms;
use crate::error::CloudError;
use crate::tokens::{new_session_token, token_hash};

/// A code works for 10 minutes after it is sent.
pub const CODE_TTL: Duration = Duration::from_secs(10 * 60);
/// A login attempt (password accepted, factor pending) lives 30 minutes.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(30 * 60);
pub const RESEND_COOLDOWN: Duration = Duration::from_secs(30);
/// Wrong tries per login attempt, whatever the number of codes sent for it;
/// the last one closes the attempt.
pub const MAX_CODE_ATTEMPTS: i64 = 5;
/// SMS pumping protection: at most this many sends per window, per user AND
/// per destination number.
pub const SMS_WINDOW: Duration = Duration::from_secs(10 * 60);
pub const SMS_PER_WINDOW: i64 = 5;
/// A number's texts per rolling day, whoever they are for: a pumping script
/// that spaces its requests under the 10-minute budget stops here.
pub const SMS_DAY: Duration = Duration::from_secs(24 * 3600);
pub const SMS_PER_DAY_PER_NUMBER: i64 = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    SecondFactor,
    Enrollment,
    /// A signed-in person proving themselves again before a security change
    /// (`service::reauth`); never completes a sign-in.
    Reauth,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::SecondFactor => "second_factor",
            Purpose::Enrollment => "enrollment",
            Purpose::Reauth => "reauth",
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
    /// The user's security stamp when the attempt opened (see db::security).
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
}

fn challenge_from_row(row: &AnyRow) -> Result<ChallengeRow, CloudError> {
    let purpose: String = row.try_get("purpose")?;
    Ok(ChallengeRow {
        id_hash: row.try_get("id_hash")?,
        user_id: row.try_get("user_id")?,
        purpose: match purpose.as_str() {
            "second_factor" => Purpose::SecondFactor,
            "enrollment" => Purpose::Enrollment,
            "reauth" => Purpose::Reauth,
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
pub async fn reserve_send(
    db: &Db,
    user_id: &str,
    phone: &str,
    now: i64,
) -> Result<String, CloudError> {
    let send_id = uuid::Uuid::new_v4().to_string();
    // Sends older than the longest window count for nothing: forget them,
    // so the table holds about a day of texts rather than growing forever.
    sqlx::query("DELETE FROM sms_sends WHERE sent_at <= $1")
        .bind(now - ms(SMS_DAY))
        .execute(&db.pool)
        .await?;
    sqlx::query("INSERT INTO sms_sends (id, user_id, phone, sent_at) VALUES ($1, $2, $3, $4)")
        .bind(&send_id)
        .bind(user_id)
        .bind(phone)
        .bind(now)
        .execute(&db.pool)
        .await?;
    let mut retry_at: Option<i64> = None;
    for (column, value, window, limit) in [
        ("user_id", user_id, SMS_WINDOW, SMS_PER_WINDOW),
        ("phone", phone, SMS_WINDOW, SMS_PER_WINDOW),
        ("phone", phone, SMS_DAY, SMS_PER_DAY_PER_NUMBER),
    ] {
        let sql = format!(
            "SELECT COUNT(*) AS sends, MIN(sent_at) AS oldest FROM sms_sends \
             WHERE {column} = $1 AND sent_at > $2"
        );
        let row = sqlx::query(&sql)
            .bind(value)
            .bind(now - ms(window))
            .fetch_one(&db.pool)
            .await?;
        let sends: i64 = row.try_get("sends")?;
        let oldest: Option<i64> = row.try_get("oldest")?;
        if sends > limit {
            let at = oldest.unwrap_or(now) + ms(window);
            retry_at = Some(retry_at.map_or(at, |r| r.max(at)));
        }
    }
    if let Some(retry_at) = retry_at {
        delete_send(db, &send_id).await?;
        return Err(CloudError::SmsLimit { retry_at });
    }
    Ok(send_id)
}

pub async fn delete_send(db: &Db, send_id: &str) -> Result<(), CloudError> {
    sqlx::query("DELETE FROM sms_sends WHERE id = $1")
        .bind(send_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Stores a freshly sent code on an open attempt. The tries left stay as
/// they were: they count wrong codes per attempt, so a resend never buys
/// more guesses. The cooldown is re-checked in the statement itself: two
/// instances resending at once cannot both win. Whether this call won.
pub async fn store_code(
    db: &Db,
    id_hash: &str,
    code_hash: &str,
    phone: &str,
    now: i64,
) -> Result<bool, CloudError> {
    let claimed = sqlx::query(
        "UPDATE login_challenges SET code_hash = $1, code_expires_at = $2, \
         sends = sends + 1, last_sent_at = $3, phone = $4 \
         WHERE id_hash = $5 AND closed_at IS NULL AND expires_at > $3 \
         AND (last_sent_at IS NULL OR last_sent_at <= $6)",
    )
    .bind(code_hash)
    .bind(now + ms(CODE_TTL))
    .bind(now)
    .bind(phone)
    .bind(id_hash)
    .bind(now - ms(RESEND_COOLDOWN))
    .execute(&db.pool)
    .await?;
    Ok(claimed.rows_affected() == 1)
}

/// A code that was never delivered: forgotten, and the cooldown given back
/// (`last_sent_at` as it was before).
pub async fn forget_code(
    db: &Db,
    id_hash: &str,
    code_hash: &str,
    last_sent_at: Option<i64>,
) -> Result<(), CloudError> {
    sqlx::query(
        "UPDATE login_challenges SET code_hash = NULL, code_expires_at = NULL, \
         last_sent_at = $1 WHERE id_hash = $2 AND code_hash = $3",
    )
    .bind(last_sent_at)
    .bind(id_hash)
    .bind(code_hash)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Uses up the attempt with its right code: single use, even against a
/// concurrent verify on another instance, and void if a security change
/// (phone, 2FA, status) landed meanwhile. Whether this call used it.
pub async fn consume(
    db: &Db,
    id_hash: &str,
    code_hash: &str,
    now: i64,
) -> Result<bool, CloudError> {
    let consumed = sqlx::query(
        "UPDATE login_challenges SET closed_at = $1, closed_reason = 'used' \
         WHERE id_hash = $2 AND closed_at IS NULL AND code_hash = $3 \
         AND attempts_left > 0 AND code_expires_at > $1 AND security_stamp = \
         (SELECT u.security_stamp FROM users u WHERE u.id = login_challenges.user_id)",
    )
    .bind(now)
    .bind(id_hash)
    .bind(code_hash)
    .execute(&db.pool)
    .await?;
    Ok(consumed.rows_affected() == 1)
}

/// One try off the current code, atomically: concurrent wrong tries on
/// several instances each take their own, and none is taken twice. The
/// tries left, or `None` when there were none to take.
pub async fn take_try(db: &Db, id_hash: &str, code_hash: &str) -> Result<Option<i64>, CloudError> {
    Ok(sqlx::query_scalar(
        "UPDATE login_challenges SET attempts_left = attempts_left - 1 \
         WHERE id_hash = $1 AND closed_at IS NULL AND attempts_left > 0 AND code_hash = $2 \
         RETURNING attempts_left",
    )
    .bind(id_hash)
    .bind(code_hash)
    .fetch_optional(&db.pool)
    .await?)
}

/// [`consume`] for a factor the attempt holds no code of (an authenticator
/// app, whose code was checked and its step used by the caller).
pub async fn consume_without_code(db: &Db, id_hash: &str, now: i64) -> Result<bool, CloudError> {
    let consumed = sqlx::query(
        "UPDATE login_challenges SET closed_at = $1, closed_reason = 'used' \
         WHERE id_hash = $2 AND closed_at IS NULL AND attempts_left > 0 AND expires_at > $1 \
         AND security_stamp = \
         (SELECT u.security_stamp FROM users u WHERE u.id = login_challenges.user_id)",
    )
    .bind(now)
    .bind(id_hash)
    .execute(&db.pool)
    .await?;
    Ok(consumed.rows_affected() == 1)
}

/// [`take_try`] for a wrong code of a factor the attempt holds no code of:
/// the attempt's tries are shared by every factor it can be finished with.
pub async fn take_try_without_code(db: &Db, id_hash: &str) -> Result<Option<i64>, CloudError> {
    Ok(sqlx::query_scalar(
        "UPDATE login_challenges SET attempts_left = attempts_left - 1 \
         WHERE id_hash = $1 AND closed_at IS NULL AND attempts_left > 0 \
         RETURNING attempts_left",
    )
    .bind(id_hash)
    .fetch_optional(&db.pool)
    .await?)
}
