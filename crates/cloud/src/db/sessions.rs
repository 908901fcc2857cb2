//! The `sessions` table: bearer sessions (stored as token hashes).

use secureclose_protocol::User;
use sqlx::Row as _;

use super::users::{user_from_row, USER_COLUMNS};
use super::Db;
use crate::error::CloudError;

pub async fn insert_session(
    db: &Db,
    token_hash: &str,
    user_id: &str,
    created_at: i64,
    expires_at: i64,
    security_stamp: i64,
) -> Result<(), CloudError> {
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, security_stamp) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(created_at)
    .bind(expires_at)
    .bind(security_stamp)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub async fn revoke_session(db: &Db, token_hash: &str, now: i64) -> Result<(), CloudError> {
    sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL")
        .bind(now)
        .bind(token_hash)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub struct SessionWithUser {
    /// When the sign-in that issued it completed.
    pub created_at: i64,
    pub expires_at: i64,
    /// The company's absolute session limit now (it may have shortened).
    pub max_session_hours: i64,
    pub revoked_at: Option<i64>,
    /// When its holder last re-authenticated (`service::reauth`).
    pub reauth_at: Option<i64>,
    /// Issued under an older security stamp than the user's: ended.
    pub stale: bool,
    pub user: User,
}

pub async fn session_with_user(
    db: &Db,
    token_hash: &str,
) -> Result<Option<SessionWithUser>, CloudError> {
    let sql = format!(
        "SELECT s.created_at, s.expires_at, s.revoked_at, s.reauth_at, \
         s.security_stamp AS session_stamp, \
         u.security_stamp AS user_stamp, c.max_session_hours, {USER_COLUMNS} \
         FROM sessions s JOIN users u ON u.id = s.user_id \
         JOIN companies c ON c.id = u.company_id \
         WHERE s.token_hash = $1 AND u.deleted_at IS NULL"
    );
    let row = sqlx::query(&sql)
        .bind(token_hash)
        .fetch_optional(&db.pool)
        .await?;
    row.map(|row| {
        Ok(SessionWithUser {
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
            max_session_hours: row.try_get("max_session_hours")?,
            revoked_at: row.try_get("revoked_at")?,
            reauth_at: row.try_get("reauth_at")?,
            stale: row.try_get::<i64, _>("session_stamp")?
                != row.try_get::<i64, _>("user_stamp")?,
            user: user_from_row(&row)?,
        })
    })
    .transpose()
}

/// Records that the session's holder re-authenticated at `now`.
pub async fn set_reauth(db: &Db, token_hash: &str, now: i64) -> Result<(), CloudError> {
    sqlx::query("UPDATE sessions SET reauth_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL")
        .bind(now)
        .bind(token_hash)
        .execute(&db.pool)
        .await?;
    Ok(())
}
