//! The `companies` table: the signed-in person's company profile.

use secureclose_protocol::{Company, DmsIntegration, OfflinePolicy, SessionPolicy};
use sqlx::{Row, SqliteConnection};

use super::{write_tx, Cache, Tx};
use crate::error::CoreError;

impl Cache {
    /// Writes the company as the cloud returned it (after an edit), in place.
    pub async fn store_company(&self, company: &Company) -> Result<(), CoreError> {
        let mut tx = write_tx(&self.pool).await?;
        upsert_company(&mut tx, company).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn company(&self, id: &str) -> Result<Option<Company>, CoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COMPANY_COLUMNS} FROM company WHERE id = ?1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| company_from_row(&row)))
    }
}

pub(super) async fn upsert_company(tx: &mut Tx<'_>, company: &Company) -> Result<(), CoreError> {
    sqlx::query(
        "INSERT INTO company (id, name, two_factor_required, dms_kind, \
         dms_supports_two_factor, offline_allowed, offline_max_hours, version, \
         idle_lock_minutes, max_session_hours, trusted_computer_days) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
         two_factor_required = excluded.two_factor_required, dms_kind = excluded.dms_kind, \
         dms_supports_two_factor = excluded.dms_supports_two_factor, \
         offline_allowed = excluded.offline_allowed, \
         offline_max_hours = excluded.offline_max_hours, version = excluded.version, \
         idle_lock_minutes = excluded.idle_lock_minutes, \
         max_session_hours = excluded.max_session_hours, \
         trusted_computer_days = excluded.trusted_computer_days",
    )
    .bind(&company.id)
    .bind(&company.name)
    .bind(company.two_factor_required)
    .bind(&company.dms.kind)
    .bind(company.dms.supports_two_factor)
    .bind(company.offline_policy.allowed)
    .bind(i64::from(company.offline_policy.max_hours))
    .bind(company.version)
    .bind(i64::from(company.session_policy.idle_lock_minutes))
    .bind(i64::from(company.session_policy.max_session_hours))
    .bind(i64::from(company.session_policy.trusted_computer_days))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(super) const COMPANY_COLUMNS: &str = "id, name, two_factor_required, dms_kind, \
     dms_supports_two_factor, offline_allowed, offline_max_hours, version, \
     idle_lock_minutes, max_session_hours, trusted_computer_days";

pub(super) fn company_from_row(row: &sqlx::sqlite::SqliteRow) -> Company {
    Company {
        id: row.get(0),
        name: row.get(1),
        two_factor_required: row.get(2),
        dms: DmsIntegration {
            kind: row.get(3),
            supports_two_factor: row.get(4),
        },
        offline_policy: OfflinePolicy {
            allowed: row.get(5),
            max_hours: u32::try_from(row.get::<i64, _>(6)).unwrap_or(0),
        },
        version: row.get(7),
        session_policy: SessionPolicy {
            idle_lock_minutes: u32::try_from(row.get::<i64, _>(8))
                .unwrap_or(SessionPolicy::DEFAULT_IDLE_LOCK_MINUTES),
            max_session_hours: u32::try_from(row.get::<i64, _>(9))
                .unwrap_or(SessionPolicy::DEFAULT_MAX_SESSION_HOURS),
            trusted_computer_days: u32::try_from(row.get::<i64, _>(10)).unwrap_or(0),
        },
    }
}

pub(super) async fn company_in(
    conn: &mut SqliteConnection,
    id: &str,
) -> Result<Option<Company>, CoreError> {
    let row = sqlx::query(&format!(
        "SELECT {COMPANY_COLUMNS} FROM company WHERE id = ?1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|row| company_from_row(&row)))
}
