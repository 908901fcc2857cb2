//! Trusted computers (`trusted_computers`): remembered computers that may
//! skip the second factor. A row counts while it is unrevoked, unexpired and
//! issued under the user's current security stamp; that last condition is
//! part of every query here, so any security change ends them all.

use secureclose_protocol::TrustedComputer;
use sqlx::any::AnyRow;
use sqlx::Row as _;

use super::Db;
use crate::error::CloudError;

/// A new row (its token only as a hash).
pub struct NewTrusted<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub token_hash: &'a str,
    pub label: &'a str,
    pub security_stamp: i64,
    pub created_at: i64,
    pub expires_at: i64,
}

pub async fn insert(db: &Db, row: &NewTrusted<'_>) -> Result<(), CloudError> {
    sqlx::query(
        "INSERT INTO trusted_computers (id, user_id, token_hash, label, security_stamp, \
         created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(row.id)
    .bind(row.user_id)
    .bind(row.token_hash)
    .bind(row.label)
    .bind(row.security_stamp)
    .bind(row.created_at)
    .bind(row.expires_at)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The live row of `user_id` with `token_hash`, marked used now: its
/// `created_at` (when a code was last entered on that computer). `None` for
/// a token of another user, expired, revoked or from before a security
/// change.
pub async fn use_token(
    db: &Db,
    user_id: &str,
    token_hash: &str,
    now: i64,
) -> Result<Option<i64>, CloudError> {
    let created_at: Option<i64> = sqlx::query_scalar(
        "UPDATE trusted_computers SET last_used_at = $1 \
         WHERE token_hash = $2 AND user_id = $3 AND revoked_at IS NULL AND expires_at > $1 \
         AND security_stamp = (SELECT security_stamp FROM users WHERE id = $3) \
         RETURNING created_at",
    )
    .bind(now)
    .bind(token_hash)
    .bind(user_id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(created_at)
}

fn from_row(row: &AnyRow) -> Result<TrustedComputer, CloudError> {
    Ok(TrustedComputer {
        id: row.try_get("id")?,
        label: row.try_get("label")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        expires_at: row.try_get("expires_at")?,
        this_computer: false,
    })
}

/// The user's live trusted computers, newest first.
pub async fn live_of_user(
    db: &Db,
    user_id: &str,
    now: i64,
) -> Result<Vec<TrustedComputer>, CloudError> {
    let rows = sqlx::query(
        "SELECT t.id, t.label, t.created_at, t.last_used_at, t.expires_at \
         FROM trusted_computers t JOIN users u ON u.id = t.user_id \
         WHERE t.user_id = $1 AND t.revoked_at IS NULL AND t.expires_at > $2 \
         AND t.security_stamp = u.security_stamp ORDER BY t.created_at DESC, t.id",
    )
    .bind(user_id)
    .bind(now)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Revokes the user's live row `id`: `false` when there is none (another
/// user's id, already ended).
pub async fn revoke(db: &Db, user_id: &str, id: &str, now: i64) -> Result<bool, CloudError> {
    let done = sqlx::query(
        "UPDATE trusted_computers SET revoked_at = $1 \
         WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .bind(user_id)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}
