//! Authenticator-app factors (`totp_factors`): pending enrolments, the one
//! active factor per user, and the last accepted time step. The once-per-step
//! rule is enforced in the SQL of [`accept_step`], so instances sharing the
//! database agree.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row as _};

use super::Db;
use crate::error::CloudError;

/// A stored factor. `Debug` shows no secret: the sealed form only opens with
/// the configured key, and it is left out anyway.
#[derive(Clone)]
pub struct TotpRow {
    pub id: String,
    pub user_id: String,
    pub sealed_secret: String,
    pub expires_at: i64,
    pub attempts_left: i64,
    pub confirmed_at: Option<i64>,
    pub last_step: Option<i64>,
}

impl std::fmt::Debug for TotpRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpRow")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("confirmed_at", &self.confirmed_at)
            .field("last_step", &self.last_step)
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str =
    "id, user_id, sealed_secret, expires_at, attempts_left, confirmed_at, last_step";

fn from_row(row: &AnyRow) -> Result<TotpRow, CloudError> {
    Ok(TotpRow {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        sealed_secret: row.try_get("sealed_secret")?,
        expires_at: row.try_get("expires_at")?,
        attempts_left: row.try_get("attempts_left")?,
        confirmed_at: row.try_get("confirmed_at")?,
        last_step: row.try_get("last_step")?,
    })
}

/// Stores a new pending enrolment; the user's earlier pending ones end (only
/// the secret shown last can be confirmed).
pub async fn insert_pending(db: &Db, row: &TotpRow, now: i64) -> Result<(), CloudError> {
    let mut tx = db.pool.begin().await?;
    sqlx::query("DELETE FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NULL")
        .bind(&row.user_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO totp_factors (id, user_id, sealed_secret, created_at, expires_at, \
         attempts_left) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&row.id)
    .bind(&row.user_id)
    .bind(&row.sealed_secret)
    .bind(now)
    .bind(row.expires_at)
    .bind(row.attempts_left)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The user's pending enrolment `id`, while it can still be confirmed.
/// Another user's id finds nothing.
pub async fn pending(
    db: &Db,
    id: &str,
    user_id: &str,
    now: i64,
) -> Result<Option<TotpRow>, CloudError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM totp_factors WHERE id = $1 AND user_id = $2 \
         AND confirmed_at IS NULL AND expires_at > $3 AND attempts_left > 0"
    );
    let row = sqlx::query(&sql)
        .bind(id)
        .bind(user_id)
        .bind(now)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The user's one pending enrolment (there is at most one: starting another
/// replaces it), while it can still be confirmed.
pub async fn pending_of_user(
    db: &Db,
    user_id: &str,
    now: i64,
) -> Result<Option<TotpRow>, CloudError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM totp_factors WHERE user_id = $1 \
         AND confirmed_at IS NULL AND expires_at > $2 AND attempts_left > 0"
    );
    let row = sqlx::query(&sql)
        .bind(user_id)
        .bind(now)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The user's active (confirmed) factor.
pub async fn active(db: &Db, user_id: &str) -> Result<Option<TotpRow>, CloudError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL"
    );
    let row = sqlx::query(&sql)
        .bind(user_id)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// One wrong first code off a pending enrolment, atomically. The tries
/// left, or `None` when it had none (or is gone).
pub async fn take_confirm_try(db: &Db, id: &str) -> Result<Option<i64>, CloudError> {
    Ok(sqlx::query_scalar(
        "UPDATE totp_factors SET attempts_left = attempts_left - 1 \
         WHERE id = $1 AND confirmed_at IS NULL AND attempts_left > 0 RETURNING attempts_left",
    )
    .bind(id)
    .fetch_optional(&db.pool)
    .await?)
}

/// Makes a pending enrolment the user's active factor, with the step of the
/// code that confirmed it as already used. Whether this call did it.
pub async fn confirm(
    conn: &mut AnyConnection,
    id: &str,
    user_id: &str,
    step: i64,
    now: i64,
) -> Result<bool, CloudError> {
    let done = sqlx::query(
        "UPDATE totp_factors SET confirmed_at = $1, last_step = $2 \
         WHERE id = $3 AND user_id = $4 AND confirmed_at IS NULL AND expires_at > $1 \
         AND attempts_left > 0",
    )
    .bind(now)
    .bind(step)
    .bind(id)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Accepts time step `step` for the user's active factor only if it is later
/// than every step accepted before: a code is used once, and one instance's
/// accepted step is seen by all (the condition is part of the update).
pub async fn accept_step(db: &Db, user_id: &str, step: i64) -> Result<bool, CloudError> {
    let done = sqlx::query(
        "UPDATE totp_factors SET last_step = $1 WHERE user_id = $2 \
         AND confirmed_at IS NOT NULL AND (last_step IS NULL OR last_step < $1)",
    )
    .bind(step)
    .bind(user_id)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Removes the user's factors, pending ones too. Whether an active one was
/// among them.
pub async fn remove(conn: &mut AnyConnection, user_id: &str) -> Result<bool, CloudError> {
    let active =
        sqlx::query("DELETE FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL")
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
    sqlx::query("DELETE FROM totp_factors WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(active.rows_affected() > 0)
}
