//! Device grants: the trusted-device credential every sign-in issues
//! (`SessionGrant::device_token`) so a desktop that signed in offline can get
//! a cloud session back with `/login/resume` without a new SMS code, within
//! the company's offline policy. Only the token's SHA-256 is stored.

use std::time::Duration;

use sqlx::Row as _;

use super::Db;
use crate::clock::ms;
use crate::error::CloudError;
use crate::tokens::{new_session_token, token_hash};

/// A grant works for 30 days after the sign-in that issued it.
pub const GRANT_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

pub struct Grant {
    pub user_id: String,
    /// When this device last completed a second factor (carried over on resume).
    pub second_factor_at: Option<i64>,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// The user's security stamp when it was issued (see db::security).
    pub security_stamp: i64,
}

impl Grant {
    /// Unrevoked, unexpired, and issued under the user's current stamp.
    pub fn is_live(&self, now: i64, user_stamp: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at > now && self.security_stamp == user_stamp
    }
}

/// Issues a grant; the token goes to the client once.
pub async fn issue(
    db: &Db,
    user_id: &str,
    second_factor_at: Option<i64>,
    security_stamp: i64,
    now: i64,
) -> Result<String, CloudError> {
    let token = new_session_token();
    sqlx::query(
        "INSERT INTO device_grants (token_hash, user_id, created_at, second_factor_at, \
         expires_at, revoked_at, security_stamp) VALUES ($1, $2, $3, $4, $5, NULL, $6)",
    )
    .bind(token_hash(&token))
    .bind(user_id)
    .bind(now)
    .bind(second_factor_at)
    .bind(now.saturating_add(ms(GRANT_TTL)))
    .bind(security_stamp)
    .execute(&db.pool)
    .await?;
    Ok(token)
}

pub async fn find(db: &Db, token: &str) -> Result<Option<Grant>, CloudError> {
    let row = sqlx::query(
        "SELECT user_id, second_factor_at, expires_at, revoked_at, security_stamp FROM device_grants \
         WHERE token_hash = $1",
    )
    .bind(token_hash(token))
    .fetch_optional(&db.pool)
    .await?;
    row.map(|row| {
        Ok(Grant {
            user_id: row.try_get("user_id")?,
            second_factor_at: row.try_get("second_factor_at")?,
            expires_at: row.try_get("expires_at")?,
            revoked_at: row.try_get("revoked_at")?,
            security_stamp: row.try_get("security_stamp")?,
        })
    })
    .transpose()
}

/// A used grant is replaced by the new one the resume issues.
pub async fn revoke(db: &Db, token: &str, now: i64) -> Result<(), CloudError> {
    sqlx::query(
        "UPDATE device_grants SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(token_hash(token))
    .execute(&db.pool)
    .await?;
    Ok(())
}
