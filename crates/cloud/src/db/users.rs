//! The `users` table: profiles, credentials, the pull's change feed.

use secureclose_protocol::{Role, User, UserStatus};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row as _};

use super::companies::next_change_seq;
use super::security::{end_sessions, Scope};
use super::{bool_from_db, bool_to_db, Db, Dialect};
use crate::error::CloudError;

pub(super) const USER_COLUMNS: &str =
    "u.id, u.company_id, u.email, u.display_name, u.role, u.status, \
     u.mobile_phone, u.phone_verified_at, u.two_factor_enabled, u.version, u.updated_at";

pub(super) fn user_from_row(row: &AnyRow) -> Result<User, CloudError> {
    let role: String = row.try_get("role")?;
    let status: String = row.try_get("status")?;
    Ok(User {
        id: row.try_get("id")?,
        company_id: row.try_get("company_id")?,
        email: row.try_get("email")?,
        display_name: row.try_get("display_name")?,
        role: parse_role(&role)?,
        status: parse_status(&status)?,
        mobile_phone: row.try_get("mobile_phone")?,
        phone_verified_at: row.try_get("phone_verified_at")?,
        two_factor_enabled: bool_from_db(row.try_get("two_factor_enabled")?),
        security_withheld: false,
        version: row.try_get("version")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn parse_role(role: &str) -> Result<Role, CloudError> {
    Role::parse(role)
        .ok_or_else(|| CloudError::Internal(format!("unknown role in database: {role}")))
}

fn parse_status(status: &str) -> Result<UserStatus, CloudError> {
    UserStatus::parse(status)
        .ok_or_else(|| CloudError::Internal(format!("unknown status in database: {status}")))
}

/// A user with the stored password hash, for login only.
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
    /// See `db::security`: what a session issued now must record.
    pub security_stamp: i64,
    /// SHA-256 of the user's one-time setup code, while one is outstanding.
    pub setup_code_hash: Option<String>,
    pub setup_code_expires_at: Option<i64>,
}

/// Every live account signing in with this (normalised) email, in a stable
/// order: an address is unique per company, so several companies may each
/// have one. With `company_id`, only that company's account (if any).
pub async fn credentials_by_email(
    db: &Db,
    email: &str,
    company_id: Option<&str>,
) -> Result<Vec<Credentials>, CloudError> {
    let sql = format!(
        "SELECT {USER_COLUMNS}, u.password_hash, u.security_stamp, u.setup_code_hash, \
         u.setup_code_expires_at FROM users u \
         WHERE lower(u.email) = $1 AND u.deleted_at IS NULL \
         AND ($2 IS NULL OR u.company_id = $2) ORDER BY u.company_id, u.id"
    );
    let rows = sqlx::query(&sql)
        .bind(email.to_lowercase())
        .bind(company_id)
        .fetch_all(&db.pool)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(Credentials {
                user: user_from_row(row)?,
                password_hash: row.try_get("password_hash")?,
                security_stamp: row.try_get("security_stamp")?,
                setup_code_hash: row.try_get("setup_code_hash")?,
                setup_code_expires_at: row.try_get("setup_code_expires_at")?,
            })
        })
        .collect()
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
    let seq = next_change_seq(&mut tx, &user.company_id).await?;
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
        end_sessions(&mut tx, Scope::User(&user.id), now, None).await?;
    }
    let final_stamp = security_stamp_in(&mut tx, &user.id).await?;
    tx.commit().await?;
    Ok(Some(final_stamp))
}

/// The user's security stamp as `conn` sees it (inside a transaction that
/// may just have moved it).
pub async fn security_stamp_in(conn: &mut AnyConnection, user_id: &str) -> Result<i64, CloudError> {
    Ok(
        sqlx::query_scalar("SELECT security_stamp FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// One user row of a pull page.
pub struct ChangedUser {
    pub user: User,
    pub change_seq: i64,
    pub deleted: bool,
}

/// A row of `users_changed`'s JSON array: USER_COLUMNS, change_seq, deleted_at.
#[derive(serde::Deserialize)]
struct ChangedRow {
    id: String,
    company_id: String,
    email: String,
    display_name: String,
    role: String,
    status: String,
    mobile_phone: Option<String>,
    phone_verified_at: Option<i64>,
    two_factor_enabled: i64,
    version: i64,
    updated_at: i64,
    change_seq: i64,
    deleted_at: Option<i64>,
}

/// Users of a company stamped in `(since, upto]`, in change order, at most `limit`.
///
/// The database hands over the whole page as ONE JSON text: sqlx passes
/// every result row through a channel and two value conversions (the Any
/// driver), about 4 µs a row, which made this query the slowest step of a
/// first sync (5000 rows: 25 ms as rows, a few ms as one JSON array).
pub async fn users_changed(
    db: &Db,
    company_id: &str,
    since: i64,
    upto: i64,
    limit: i64,
) -> Result<Vec<ChangedUser>, CloudError> {
    let (array, object) = match db.dialect {
        Dialect::Sqlite => ("json_group_array", "json_object"),
        Dialect::Postgres => ("json_agg", "json_build_object"),
    };
    // The page's keys are the subquery's columns: USER_COLUMNS without the
    // table alias, then the two the pull adds.
    let fields = USER_COLUMNS
        .split(',')
        .map(|column| column.trim().trim_start_matches("u."))
        .chain(["change_seq", "deleted_at"])
        .map(|column| format!("'{column}', p.{column}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT CAST({array}({object}({fields})) AS TEXT) FROM (\
         SELECT {USER_COLUMNS}, u.change_seq, u.deleted_at FROM users u \
         WHERE u.company_id = $1 AND u.change_seq > $2 AND u.change_seq <= $3 \
         ORDER BY u.change_seq LIMIT $4) p"
    );
    let page: Option<String> = sqlx::query_scalar(&sql)
        .bind(company_id)
        .bind(since)
        .bind(upto)
        .bind(limit)
        .fetch_one(&db.pool)
        .await?;
    // No rows: PostgreSQL's json_agg gives NULL, SQLite's json_group_array "[]".
    let mut rows: Vec<ChangedRow> = match page {
        Some(text) => serde_json::from_str(&text)
            .map_err(|err| CloudError::Internal(format!("pull page from the database: {err}")))?,
        None => Vec::new(),
    };
    // Neither aggregate promises the subquery's order: restore it.
    rows.sort_unstable_by_key(|row| row.change_seq);
    rows.into_iter()
        .map(|row| {
            Ok(ChangedUser {
                user: User {
                    role: parse_role(&row.role)?,
                    status: parse_status(&row.status)?,
                    id: row.id,
                    company_id: row.company_id,
                    email: row.email,
                    display_name: row.display_name,
                    mobile_phone: row.mobile_phone,
                    phone_verified_at: row.phone_verified_at,
                    two_factor_enabled: bool_from_db(row.two_factor_enabled),
                    security_withheld: false,
                    version: row.version,
                    updated_at: row.updated_at,
                },
                change_seq: row.change_seq,
                deleted: row.deleted_at.is_some(),
            })
        })
        .collect()
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

/// Active admins of `company_id` other than `except_id` (the last-admin rule).
pub async fn other_active_admins(
    conn: &mut AnyConnection,
    company_id: &str,
    except_id: &str,
) -> Result<i64, CloudError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE company_id = $1 AND role = 'admin' \
         AND status = 'active' AND deleted_at IS NULL AND id <> $2",
    )
    .bind(company_id)
    .bind(except_id)
    .fetch_one(&mut *conn)
    .await?)
}

/// Whether a user of `company_id` other than `except_id` has this
/// (normalised) email. Only that company is looked at: emails are unique per
/// company, and an answer about other companies would tell an admin which
/// addresses exist elsewhere. Tombstones count, as the unique index does.
pub async fn email_taken(
    conn: &mut AnyConnection,
    company_id: &str,
    email: &str,
    except_id: &str,
) -> Result<bool, CloudError> {
    let taken: Option<String> = sqlx::query_scalar(
        "SELECT id FROM users WHERE company_id = $1 AND lower(email) = $2 AND id <> $3",
    )
    .bind(company_id)
    .bind(email)
    .bind(except_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(taken.is_some())
}

/// The 409 answer to a duplicate email: it names the company's scope only.
pub const EMAIL_TAKEN: &str = "another user in this company has this email address";

/// The editable fields of a user as an edit leaves them.
pub struct UserFields<'a> {
    pub display_name: &'a str,
    pub email: &'a str,
    pub mobile_phone: Option<&'a str>,
    pub phone_verified_at: Option<i64>,
    pub role: Role,
    pub status: UserStatus,
    pub two_factor_enabled: bool,
}

impl<'a> UserFields<'a> {
    /// The fields as `user` has them now (to change a few of them).
    pub fn of(user: &'a User) -> UserFields<'a> {
        UserFields {
            display_name: &user.display_name,
            email: &user.email,
            mobile_phone: user.mobile_phone.as_deref(),
            phone_verified_at: user.phone_verified_at,
            role: user.role,
            status: user.status,
            two_factor_enabled: user.two_factor_enabled,
        }
    }
}

/// Writes an edit of a user of `company_id`, stamped with change `seq`.
/// `Ok(false)`: no such user in that company. A duplicate email within the
/// company is [`CloudError::Conflict`] (the unique index decides under races).
pub async fn write_fields(
    conn: &mut AnyConnection,
    user_id: &str,
    company_id: &str,
    fields: &UserFields<'_>,
    now: i64,
    seq: i64,
) -> Result<bool, CloudError> {
    let updated = sqlx::query(
        "UPDATE users SET display_name = $1, email = $2, mobile_phone = $3, \
         phone_verified_at = $4, role = $5, status = $6, two_factor_enabled = $7, \
         version = version + 1, updated_at = $8, change_seq = $9 \
         WHERE id = $10 AND company_id = $11",
    )
    .bind(fields.display_name)
    .bind(fields.email)
    .bind(fields.mobile_phone)
    .bind(fields.phone_verified_at)
    .bind(fields.role.as_str())
    .bind(fields.status.as_str())
    .bind(bool_to_db(fields.two_factor_enabled))
    .bind(now)
    .bind(seq)
    .bind(user_id)
    .bind(company_id)
    .execute(&mut *conn)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db_error) if db_error.is_unique_violation() => {
            CloudError::Conflict(EMAIL_TAKEN.into())
        }
        _ => CloudError::Database(e),
    })?;
    Ok(updated.rows_affected() == 1)
}

/// Clears the failure counters of a user locked at `lock_after` failures;
/// whether there was such a lock to lift.
pub async fn lift_lock(
    conn: &mut AnyConnection,
    user_id: &str,
    lock_after: i64,
) -> Result<bool, CloudError> {
    let lifted = sqlx::query(
        "UPDATE users SET consecutive_failures = 0, password_failures = 0, \
         code_failures = 0, last_failure_at = NULL \
         WHERE id = $1 AND consecutive_failures >= $2",
    )
    .bind(user_id)
    .bind(lock_after)
    .execute(&mut *conn)
    .await?;
    Ok(lifted.rows_affected() > 0)
}

/// A soft delete: the row stays as a tombstone that clients pull.
pub async fn mark_deleted(
    conn: &mut AnyConnection,
    user_id: &str,
    now: i64,
    seq: i64,
) -> Result<(), CloudError> {
    sqlx::query(
        "UPDATE users SET deleted_at = $1, version = version + 1, updated_at = $1, \
         change_seq = $2 WHERE id = $3",
    )
    .bind(now)
    .bind(seq)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A user as an admin (or the operator) creates them: no password anyone
/// knows (a hash of a random one), a one-time setup code to choose it.
pub struct NewUser<'a> {
    pub id: &'a str,
    pub company_id: &'a str,
    pub email: &'a str,
    pub display_name: &'a str,
    pub role: Role,
    pub mobile_phone: Option<&'a str>,
    pub two_factor_enabled: bool,
    pub password_hash: &'a str,
    pub setup_code_hash: &'a str,
    pub setup_code_expires_at: i64,
}

/// Inserts a new user stamped with change `seq`. A duplicate email is
/// [`CloudError::Conflict`] (the unique index decides under races).
pub async fn insert(
    conn: &mut AnyConnection,
    user: &NewUser<'_>,
    now: i64,
    seq: i64,
) -> Result<(), CloudError> {
    sqlx::query(
        "INSERT INTO users (id, company_id, email, display_name, role, status, mobile_phone, \
         phone_verified_at, two_factor_enabled, password_hash, setup_code_hash, \
         setup_code_expires_at, version, updated_at, created_at, change_seq) \
         VALUES ($1, $2, $3, $4, $5, 'active', $6, NULL, $7, $8, $9, $10, 1, $11, $11, $12)",
    )
    .bind(user.id)
    .bind(user.company_id)
    .bind(user.email)
    .bind(user.display_name)
    .bind(user.role.as_str())
    .bind(user.mobile_phone)
    .bind(bool_to_db(user.two_factor_enabled))
    .bind(user.password_hash)
    .bind(user.setup_code_hash)
    .bind(user.setup_code_expires_at)
    .bind(now)
    .bind(seq)
    .execute(&mut *conn)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db_error) if db_error.is_unique_violation() => {
            CloudError::Conflict(EMAIL_TAKEN.into())
        }
        _ => CloudError::Database(e),
    })?;
    Ok(())
}

/// A password reset: the password becomes `password_hash` (of a random
/// password nobody knows) and `code_hash` the one outstanding setup code,
/// replacing any earlier one.
pub async fn set_setup_code(
    conn: &mut AnyConnection,
    user_id: &str,
    password_hash: &str,
    code_hash: &str,
    expires_at: i64,
) -> Result<(), CloudError> {
    sqlx::query(
        "UPDATE users SET password_hash = $1, setup_code_hash = $2, setup_code_expires_at = $3, \
         setup_code_texts = 0 WHERE id = $4",
    )
    .bind(password_hash)
    .bind(code_hash)
    .bind(expires_at)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Uses up the setup code `code_hash` (still the user's, not expired at
/// `now`) and sets the password it was redeemed for. `Ok(false)`: the code
/// was used, replaced or expired meanwhile (single use under races).
pub async fn redeem_setup_code(
    conn: &mut AnyConnection,
    user_id: &str,
    code_hash: &str,
    password_hash: &str,
    now: i64,
) -> Result<bool, CloudError> {
    let redeemed = sqlx::query(
        "UPDATE users SET password_hash = $1, setup_code_hash = NULL, \
         setup_code_expires_at = NULL WHERE id = $2 AND setup_code_hash = $3 \
         AND setup_code_expires_at > $4",
    )
    .bind(password_hash)
    .bind(user_id)
    .bind(code_hash)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(redeemed.rows_affected() == 1)
}

/// A password change by its owner; an outstanding setup code is void.
pub async fn set_password(
    conn: &mut AnyConnection,
    user_id: &str,
    password_hash: &str,
) -> Result<(), CloudError> {
    sqlx::query(
        "UPDATE users SET password_hash = $1, setup_code_hash = NULL, \
         setup_code_expires_at = NULL WHERE id = $2",
    )
    .bind(password_hash)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The user's outstanding setup code as stored: its hash and expiry (both
/// `None` once used or voided) and how often it was texted.
pub struct StoredSetupCode {
    pub hash: Option<String>,
    pub expires_at: Option<i64>,
    pub texts: i64,
}

pub async fn setup_code_of(
    conn: &mut AnyConnection,
    user_id: &str,
) -> Result<Option<StoredSetupCode>, CloudError> {
    let row = sqlx::query(
        "SELECT setup_code_hash, setup_code_expires_at, setup_code_texts FROM users \
         WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| {
        Ok(StoredSetupCode {
            hash: row.try_get("setup_code_hash")?,
            expires_at: row.try_get("setup_code_expires_at")?,
            texts: row.try_get("setup_code_texts")?,
        })
    })
    .transpose()
}

/// Counts one more text of the setup code `code_hash`, while it is still the
/// user's, unexpired at `now` and texted fewer than `limit` times: checked
/// in the statement itself, so racing requests cannot exceed the limit.
/// Whether this call won.
pub async fn claim_setup_code_text(
    conn: &mut AnyConnection,
    user_id: &str,
    code_hash: &str,
    now: i64,
    limit: i64,
) -> Result<bool, CloudError> {
    let claimed = sqlx::query(
        "UPDATE users SET setup_code_texts = setup_code_texts + 1 WHERE id = $1 \
         AND setup_code_hash = $2 AND setup_code_expires_at > $3 AND setup_code_texts < $4",
    )
    .bind(user_id)
    .bind(code_hash)
    .bind(now)
    .bind(limit)
    .execute(&mut *conn)
    .await?;
    Ok(claimed.rows_affected() == 1)
}

/// Gives back a text claimed by [`claim_setup_code_text`] that never left
/// (the carrier refused it), unless the code changed meanwhile.
pub async fn release_setup_code_text(
    conn: &mut AnyConnection,
    user_id: &str,
    code_hash: &str,
) -> Result<(), CloudError> {
    sqlx::query(
        "UPDATE users SET setup_code_texts = setup_code_texts - 1 WHERE id = $1 \
         AND setup_code_hash = $2 AND setup_code_texts > 0",
    )
    .bind(user_id)
    .bind(code_hash)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
