//! The `companies` table: profiles, their change sequence.

use secureclose_protocol::{Company, DmsIntegration, OfflinePolicy, User};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row as _};

use super::{bool_from_db, bool_to_db, Db};
use crate::error::CloudError;

const COMPANY_COLUMNS: &str = "id, name, two_factor_required, dms_kind, dms_supports_two_factor, \
     offline_allowed, offline_max_hours, version";

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

/// The company of a signed-in user; its absence means a broken foreign key.
pub async fn company_of(db: &Db, user: &User) -> Result<Company, CloudError> {
    company_by_id(db, &user.company_id)
        .await?
        .ok_or_else(|| CloudError::Internal(format!("company of user {} missing", user.id)))
}

/// Takes the company's next change sequence number. Call it FIRST in the
/// write's transaction: it takes the company row's write lock before anything
/// is read, so the values a merge compares cannot change underneath it.
/// Every write that changes what a `User` or `Company` shows stamps the ONE
/// row it changed with its number (one row per number, so a page boundary
/// never splits a number); the company row's lock orders a company's
/// writers, so seq order = commit order and every number at or below a
/// committed `last_change_seq` is committed.
pub async fn next_change_seq(
    conn: &mut AnyConnection,
    company_id: &str,
) -> Result<i64, CloudError> {
    sqlx::query_scalar(
        "UPDATE companies SET last_change_seq = last_change_seq + 1 WHERE id = $1 \
         RETURNING last_change_seq",
    )
    .bind(company_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| CloudError::Internal(format!("company {company_id} missing")))
}

/// Writes an edit of the company profile, stamped with change `seq`.
pub async fn write_profile(
    conn: &mut AnyConnection,
    company_id: &str,
    name: &str,
    two_factor_required: bool,
    now: i64,
    seq: i64,
) -> Result<(), CloudError> {
    sqlx::query(
        "UPDATE companies SET name = $1, two_factor_required = $2, version = version + 1, \
         updated_at = $3, change_seq = $4 WHERE id = $5",
    )
    .bind(name)
    .bind(bool_to_db(two_factor_required))
    .bind(now)
    .bind(seq)
    .bind(company_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
