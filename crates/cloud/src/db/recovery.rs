//! Recovery codes (`recovery_codes`): a user's set of single-use codes, as
//! keyed hashes. Single use is enforced in the SQL of [`use_code`] (one
//! conditional update), so two instances cannot both accept one code.

use sqlx::{AnyConnection, Row as _};

use super::Db;
use crate::error::CloudError;

/// How many of the user's codes are unused, and when the set was issued
/// (`None`: never issued, or removed by an admin's reset).
pub async fn status(db: &Db, user_id: &str) -> Result<(i64, Option<i64>), CloudError> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS total, \
         COALESCE(SUM(CASE WHEN used_at IS NULL THEN 1 ELSE 0 END), 0) AS unused, \
         MAX(issued_at) AS issued_at FROM recovery_codes WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_one(&db.pool)
    .await?;
    let unused: i64 = row.try_get("unused")?;
    let issued_at: Option<i64> = row.try_get("issued_at")?;
    Ok((unused, issued_at))
}

/// Replaces the user's set with `hashes` (the old codes stop working).
pub async fn replace_set(
    conn: &mut AnyConnection,
    user_id: &str,
    hashes: &[String],
    now: i64,
) -> Result<(), CloudError> {
    remove_all(conn, user_id).await?;
    for hash in hashes {
        sqlx::query(
            "INSERT INTO recovery_codes (user_id, code_hash, issued_at) VALUES ($1, $2, $3)",
        )
        .bind(user_id)
        .bind(hash)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Issues `hashes` as the user's first set, unless they already have one
/// (a concurrent first enrolment, or a set from before): whether it did.
pub async fn issue_first_set(
    db: &Db,
    user_id: &str,
    hashes: &[String],
    now: i64,
) -> Result<bool, CloudError> {
    let mut tx = db.pool.begin().await?;
    // The primary key makes a concurrent first set collide on no row, so
    // the check and the insert share one transaction; a lost race (on
    // PostgreSQL, two READ COMMITTED inserts) leaves two sets, which the
    // later `replace_set` or reset clears; it never leaves none.
    let existing: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
    if existing > 0 {
        return Ok(false);
    }
    replace_set(&mut tx, user_id, hashes, now).await?;
    tx.commit().await?;
    Ok(true)
}

/// Marks the user's unused code with `hash` used: `false` for a wrong,
/// used or other user's code.
pub async fn use_code(db: &Db, user_id: &str, hash: &str, now: i64) -> Result<bool, CloudError> {
    let done = sqlx::query(
        "UPDATE recovery_codes SET used_at = $1 \
         WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .bind(hash)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Removes the user's whole set (an admin's reset of their factors).
pub async fn remove_all(conn: &mut AnyConnection, user_id: &str) -> Result<(), CloudError> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
