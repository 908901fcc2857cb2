//! The `companies` table: profiles, their change sequence.

use secureclose_protocol::{Company, DmsIntegration, OfflinePolicy, SessionPolicy, User};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row as _};

use super::{bool_from_db, bool_to_db, Db};
use crate::error::CloudError;

const COMPANY_COLUMNS: &str = "id, name, two_factor_required, dms_kind, dms_supports_two_factor, \
     offline_allowed, offline_max_hours, idle_lock_minutes, max_session_hours, \
     trusted_computer_days, version";

fn company_from_row(row: &AnyRow) -> Result<Company, CloudError> {
    let max_hours: i64 = row.try_get("offline_max_hours")?;
    let idle: i64 = row.try_get("idle_lock_minutes")?;
    let session_hours: i64 = row.try_get("max_session_hours")?;
    let trusted_days: i64 = row.try_get("trusted_computer_days")?;
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
        session_policy: SessionPolicy {
            idle_lock_minutes: u32::try_from(idle)
                .unwrap_or(SessionPolicy::DEFAULT_IDLE_LOCK_MINUTES),
            max_session_hours: u32::try_from(session_hours)
                .unwrap_or(SessionPolicy::DEFAULT_MAX_SESSION_HOURS),
            // Unreadable means off: never more trust than was configured.
            trusted_computer_days: u32::try_from(trusted_days).unwrap_or(0),
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

/// Writes an edit of the company profile (what an admin may change: name,
/// company-wide 2FA, offline and session policies), stamped with change `seq`.
pub async fn write_profile(
    conn: &mut AnyConnection,
    company: &Company,
    now: i64,
    seq: i64,
) -> Result<(), CloudError> {
    sqlx::query(
        "UPDATE companies SET name = $1, two_factor_required = $2, offline_allowed = $3, \
         offline_max_hours = $4, idle_lock_minutes = $5, max_session_hours = $6, \
         trusted_computer_days = $7, version = version + 1, updated_at = $8, change_seq = $9 \
         WHERE id = $10",
    )
    .bind(&company.name)
    .bind(bool_to_db(company.two_factor_required))
    .bind(bool_to_db(company.offline_policy.allowed))
    .bind(i64::from(company.offline_policy.max_hours))
    .bind(i64::from(company.session_policy.idle_lock_minutes))
    .bind(i64::from(company.session_policy.max_session_hours))
    .bind(i64::from(company.session_policy.trusted_computer_days))
    .bind(now)
    .bind(seq)
    .bind(&company.id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A new company, as the operator onboards it.
pub struct NewCompany<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub dms_kind: &'a str,
    pub dms_supports_two_factor: bool,
    pub offline_policy: &'a OfflinePolicy,
}

/// Inserts a company (no users yet) and stamps it with its first change seq.
/// A duplicate name is [`CloudError::Validation`].
pub async fn insert(
    conn: &mut AnyConnection,
    company: &NewCompany<'_>,
    now: i64,
) -> Result<(), CloudError> {
    let taken: Option<String> =
        sqlx::query_scalar("SELECT id FROM companies WHERE lower(name) = lower($1)")
            .bind(company.name)
            .fetch_optional(&mut *conn)
            .await?;
    if taken.is_some() {
        return Err(CloudError::Validation(format!(
            "a company named {:?} already exists",
            company.name
        )));
    }
    let policy = SessionPolicy::default();
    sqlx::query(
        "INSERT INTO companies (id, name, two_factor_required, dms_kind, \
         dms_supports_two_factor, offline_allowed, offline_max_hours, idle_lock_minutes, \
         max_session_hours, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10, $10)",
    )
    .bind(company.id)
    .bind(company.name)
    .bind(bool_to_db(false))
    .bind(company.dms_kind)
    .bind(bool_to_db(company.dms_supports_two_factor))
    .bind(bool_to_db(company.offline_policy.allowed))
    .bind(i64::from(company.offline_policy.max_hours))
    .bind(i64::from(policy.idle_lock_minutes))
    .bind(i64::from(policy.max_session_hours))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let seq = next_change_seq(conn, company.id).await?;
    sqlx::query("UPDATE companies SET change_seq = $1 WHERE id = $2")
        .bind(seq)
        .bind(company.id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The operator changes a company's DMS integration (never the dealer's
/// call); clients pull it. `Ok(false)`: no such company.
pub async fn write_dms(
    conn: &mut AnyConnection,
    company_id: &str,
    kind: &str,
    supports_two_factor: bool,
    now: i64,
    seq: i64,
) -> Result<bool, CloudError> {
    let updated = sqlx::query(
        "UPDATE companies SET dms_kind = $1, dms_supports_two_factor = $2, \
         version = version + 1, updated_at = $3, change_seq = $4 WHERE id = $5",
    )
    .bind(kind)
    .bind(bool_to_db(supports_two_factor))
    .bind(now)
    .bind(seq)
    .bind(company_id)
    .execute(&mut *conn)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// A company as the operator lists it.
pub struct CompanyListing {
    pub company: Company,
    /// Its users, deleted ones left out.
    pub users: i64,
    pub sms: SmsPolicy,
}

/// Every company with its number of (not deleted) users, by name.
pub async fn all_with_user_counts(db: &Db) -> Result<Vec<CompanyListing>, CloudError> {
    let sql = format!(
        "SELECT {COMPANY_COLUMNS}, sms_countries, sms_daily_cap, \
         (SELECT COUNT(*) FROM users u WHERE u.company_id = companies.id \
         AND u.deleted_at IS NULL) AS user_count FROM companies ORDER BY name"
    );
    let rows = sqlx::query(&sql).fetch_all(&db.pool).await?;
    rows.iter()
        .map(|row| {
            Ok(CompanyListing {
                company: company_from_row(row)?,
                users: row.try_get("user_count")?,
                sms: sms_policy_from_row(row)?,
            })
        })
        .collect()
}

/// Where and how much a company may text (the operator's SMS guardrails).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsPolicy {
    /// ISO 3166 alpha-2 codes, upper case.
    pub countries: Vec<String>,
    /// Texts per UTC day.
    pub daily_cap: i64,
}

impl SmsPolicy {
    /// As stored in `companies.sms_countries`: `US,CA`.
    pub fn countries_text(&self) -> String {
        self.countries.join(",")
    }
}

pub async fn sms_policy(db: &Db, company_id: &str) -> Result<Option<SmsPolicy>, CloudError> {
    sms_policy_in(&mut *db.pool.acquire().await?, company_id).await
}

/// [`sms_policy`] inside a transaction.
pub async fn sms_policy_in(
    conn: &mut AnyConnection,
    company_id: &str,
) -> Result<Option<SmsPolicy>, CloudError> {
    let row = sqlx::query("SELECT sms_countries, sms_daily_cap FROM companies WHERE id = $1")
        .bind(company_id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(sms_policy_from_row).transpose()
}

fn sms_policy_from_row(row: &AnyRow) -> Result<SmsPolicy, CloudError> {
    let countries: String = row.try_get("sms_countries")?;
    Ok(SmsPolicy {
        countries: countries
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect(),
        daily_cap: row.try_get("sms_daily_cap")?,
    })
}

/// The operator sets a company's SMS guardrails. `Ok(false)`: no such company.
pub async fn write_sms_policy(
    conn: &mut AnyConnection,
    company_id: &str,
    policy: &SmsPolicy,
    now: i64,
) -> Result<bool, CloudError> {
    let updated = sqlx::query(
        "UPDATE companies SET sms_countries = $1, sms_daily_cap = $2, updated_at = $3 \
         WHERE id = $4",
    )
    .bind(policy.countries_text())
    .bind(policy.daily_cap)
    .bind(now)
    .bind(company_id)
    .execute(&mut *conn)
    .await?;
    Ok(updated.rows_affected() == 1)
}
