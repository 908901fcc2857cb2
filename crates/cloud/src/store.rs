//! Runtime SQL shared by both dialects (sqlx `Any`, `$n` placeholders in order).

use secureclose_protocol::{Company, DmsIntegration, OfflinePolicy, Role, User, UserStatus};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row as _};

use crate::db::{bool_from_db, Db};
use crate::error::CloudError;

const USER_COLUMNS: &str = "u.id, u.company_id, u.email, u.display_name, u.role, u.status, \
     u.mobile_phone, u.phone_verified_at, u.two_factor_enabled, u.version, u.updated_at";

const COMPANY_COLUMNS: &str = "id, name, two_factor_required, dms_kind, dms_supports_two_factor, \
     offline_allowed, offline_max_hours, version";

fn user_from_row(row: &AnyRow) -> Result<User, CloudError> {
    let role: String = row.try_get("role")?;
    let status: String = row.try_get("status")?;
    Ok(User {
        id: row.try_get("id")?,
        company_id: row.try_get("company_id")?,
        email: row.try_get("email")?,
        display_name: row.try_get("display_name")?,
        role: Role::parse(&role)
            .ok_or_else(|| CloudError::Internal(format!("unknown role in database: {role}")))?,
        status: UserStatus::parse(&status)
            .ok_or_else(|| CloudError::Internal(format!("unknown status in database: {status}")))?,
        mobile_phone: row.try_get("mobile_phone")?,
        phone_verified_at: row.try_get("phone_verified_at")?,
        two_factor_enabled: bool_from_db(row.try_get("two_factor_enabled")?),
        version: row.try_get("version")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn company_from_row(row: &AnyRow) -> Result<Company, CloudError> {
    let max_hours: i64 = row.try_get("offline_max_hours")?;
    Ok(Company {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        two_factor_required: bool_from_db(row.try_get("two_factor_required")?),
        dms: DmsIntegration {
            kind: row.try_get("dms_kind")?,
            supports_two_factor: bool_from_db(row.try_get("dms_supports_two_factor")?),
        },
        offline_policy: OfflinePolicy {
            allowed: bool_from_db(row.try_get("offline_allowed")?),
            max_hours: u32::try_from(max_hours).unwrap_or(0),
        },
        version: row.try_get("version")?,
    })
}

/// A user with the stored password hash, for login only.
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
    /// See `crate::security`: what a session issued now must record.
    pub security_stamp: i64,
}

pub async fn credentials_by_email(db: &Db, email: &str) -> Result<Option<Credentials>, CloudError> {
    let sql =
        format!("SELECT {USER_COLUMNS}, u.password_hash, u.security_stamp FROM users u WHERE lower(u.email) = $1 AND u.deleted_at IS NULL");
    let row = sqlx::query(&sql)
        .bind(email.to_lowercase())
        .fetch_optional(&db.pool)
        .await?;
    row.map(|row| {
        Ok(Credentials {
            user: user_from_row(&row)?,
            password_hash: row.try_get("password_hash")?,
            security_stamp: row.try_get("security_stamp")?,
        })
    })
    .transpose()
}

/// A user who is not deleted (deleted users exist only as tombstones).
pub async fn user_by_id(db: &Db, id: &str) -> Result<Option<User>, CloudError> {
    let mut conn = db.pool.acquire().await?;
    user_in(&mut conn, id).await
}

/// [`user_by_id`] inside a transaction.
pub async fn user_in(conn: &mut AnyConnection, id: &str) -> Result<Option<User>, CloudError> {
    let sql =
        format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1 AND u.deleted_at IS NULL");
    let row = sqlx::query(&sql)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(user_from_row).transpose()
}

/// A code sent to `phone` came back: `phone` becomes the user's verified
/// mobile phone (a change clients pull, so it takes a change seq). Only while
/// the user's security stamp is still `stamp` (nothing changed since the
/// attempt opened) and the profile still holds what the attempt expected:
/// no phone at all for an enrolment, so a password-only enrolment can never
/// replace a phone; the same number for verifying an admin-entered one.
/// An enrolment is a phone change: it bumps the stamp, ending the user's other
/// sessions and attempts. Returns the stamp for the new session, or `None`
/// when the profile moved on (the attempt is then void).
pub async fn set_verified_phone(
    db: &Db,
    user: &User,
    phone: &str,
    enrolment: bool,
    stamp: i64,
    now: i64,
) -> Result<Option<i64>, CloudError> {
    let mut tx = db.pool.begin().await?;
    let seq = crate::sync::next_change_seq(&mut tx, &user.company_id).await?;
    // The expected number: none for an enrolment, the same one otherwise.
    let expected = (!enrolment).then_some(phone);
    let matched: Option<String> = sqlx::query_scalar(
        "UPDATE users SET mobile_phone = $1, phone_verified_at = $2, version = version + 1, \
         updated_at = $2, change_seq = $3 \
         WHERE id = $4 AND security_stamp = $5 AND deleted_at IS NULL \
         AND (($6 IS NULL AND mobile_phone IS NULL) OR mobile_phone = $6) \
         RETURNING id",
    )
    .bind(phone)
    .bind(now)
    .bind(seq)
    .bind(&user.id)
    .bind(stamp)
    .bind(expected)
    .fetch_optional(&mut *tx)
    .await?;
    if matched.is_none() {
        return Ok(None);
    }
    if enrolment {
        crate::security::end_sessions(&mut tx, crate::security::Scope::User(&user.id), now, None)
            .await?;
    }
    let final_stamp: i64 = sqlx::query_scalar("SELECT security_stamp FROM users WHERE id = $1")
        .bind(&user.id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(final_stamp))
}

pub async fn company_by_id(db: &Db, id: &str) -> Result<Option<Company>, CloudError> {
    let mut conn = db.pool.acquire().await?;
    company_in(&mut conn, id).await
}

/// [`company_by_id`] inside a transaction.
pub async fn company_in(conn: &mut AnyConnection, id: &str) -> Result<Option<Company>, CloudError> {
    let sql = format!("SELECT {COMPANY_COLUMNS} FROM companies WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(company_from_row).transpose()
}

/// A company with its change sequence (`last_change_seq`) and the sequence
/// number of its own row's last change (`change_seq`).
pub struct CompanySeqs {
    pub company: Company,
    pub last_change_seq: i64,
    pub change_seq: i64,
}

pub async fn company_seqs(db: &Db, id: &str) -> Result<Option<CompanySeqs>, CloudError> {
    let sql = format!(
        "SELECT {COMPANY_COLUMNS}, last_change_seq, change_seq FROM companies WHERE id = $1"
    );
    let row = sqlx::query(&sql).bind(id).fetch_optional(&db.pool).await?;
    row.map(|row| {
        Ok(CompanySeqs {
            company: company_from_row(&row)?,
            last_change_seq: row.try_get("last_change_seq")?,
            change_seq: row.try_get("change_seq")?,
        })
    })
    .transpose()
}

/// One user row of a pull page.
pub struct ChangedUser {
    pub user: User,
    pub change_seq: i64,
    pub deleted: bool,
}

/// Users of a company stamped in `(since, upto]`, in change order, at most `limit`.
pub async fn users_changed(
    db: &Db,
    company_id: &str,
    since: i64,
    upto: i64,
    limit: i64,
) -> Result<Vec<ChangedUser>, CloudError> {
    let sql = format!(
        "SELECT {USER_COLUMNS}, u.change_seq, u.deleted_at FROM users u \
         WHERE u.company_id = $1 AND u.change_seq > $2 AND u.change_seq <= $3 \
         ORDER BY u.change_seq LIMIT $4"
    );
    let rows = sqlx::query(&sql)
        .bind(company_id)
        .bind(since)
        .bind(upto)
        .bind(limit)
        .fetch_all(&db.pool)
        .await?;
    rows.iter()
        .map(|row| {
            let deleted_at: Option<i64> = row.try_get("deleted_at")?;
            Ok(ChangedUser {
                user: user_from_row(row)?,
                change_seq: row.try_get("change_seq")?,
                deleted: deleted_at.is_some(),
            })
        })
        .collect()
}

/// The company of a signed-in user; its absence means a broken foreign key.
pub async fn company_of(db: &Db, user: &User) -> Result<Company, CloudError> {
    company_by_id(db, &user.company_id)
        .await?
        .ok_or_else(|| CloudError::Internal(format!("company of user {} missing", user.id)))
}

pub async fn users_of_company(db: &Db, company_id: &str) -> Result<Vec<User>, CloudError> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users u WHERE u.company_id = $1 AND u.deleted_at IS NULL \
         ORDER BY u.display_name, u.email"
    );
    let rows = sqlx::query(&sql)
        .bind(company_id)
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(user_from_row).collect()
}

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
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// Issued under an older security stamp than the user's: ended.
    pub stale: bool,
    pub user: User,
}

pub async fn session_with_user(
    db: &Db,
    token_hash: &str,
) -> Result<Option<SessionWithUser>, CloudError> {
    let sql = format!(
        "SELECT s.expires_at, s.revoked_at, s.security_stamp AS session_stamp, \
         u.security_stamp AS user_stamp, {USER_COLUMNS} \
         FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.token_hash = $1 AND u.deleted_at IS NULL"
    );
    let row = sqlx::query(&sql)
        .bind(token_hash)
        .fetch_optional(&db.pool)
        .await?;
    row.map(|row| {
        Ok(SessionWithUser {
            expires_at: row.try_get("expires_at")?,
            revoked_at: row.try_get("revoked_at")?,
            stale: row.try_get::<i64, _>("session_stamp")?
                != row.try_get::<i64, _>("user_stamp")?,
            user: user_from_row(&row)?,
        })
    })
    .transpose()
}

pub async fn ping(db: &Db) -> Result<(), CloudError> {
    sqlx::query("SELECT 1").execute(&db.pool).await?;
    Ok(())
}
