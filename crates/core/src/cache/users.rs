//! The `users` table: the company's users as the cloud last sent them, with
//! the signed-in person's pending edits replayed on top (see `outbox`).

use secureclose_protocol::{Role, User, UserStatus};
use sqlx::{Row, SqliteConnection, SqlitePool};

use super::outbox::{set_meta, CURSOR_KEY};
use super::{write_tx, Cache, Tx, MAX_PAGE};

/// Set while the users table holds rows whose security fields the cloud
/// withheld (a non-admin's sync): an admin's next pull starts from 0.
const WITHHELD_ROWS_KEY: &str = "users_security_withheld";
use crate::error::CoreError;

impl Cache {
    /// Writes one user as the cloud returned it (after an edit). An update
    /// in place, not a delete + insert: the session row references the user.
    pub async fn store_user(&self, user: &User) -> Result<(), CoreError> {
        let mut tx = write_tx(&self.pool).await?;
        upsert_user(&mut tx, user).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn user(&self, id: &str) -> Result<Option<User>, CoreError> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| user_from_row(&row)).transpose()
    }

    /// Whether `user_id` is an admin as this computer last heard (a user
    /// missing from the cache counts as not one).
    pub async fn is_admin(&self, user_id: &str) -> Result<bool, CoreError> {
        Ok(self
            .user(user_id)
            .await?
            .is_some_and(|me| me.role == Role::Admin))
    }

    /// Users whose display name or email starts with `query` (ASCII
    /// case-insensitive), ordered by name; plus how many match in total.
    /// With `only_active_besides: Some(me)`, disabled users other than `me`
    /// are left out (what a non-admin is shown).
    pub async fn list_users(
        &self,
        query: &str,
        only_active_besides: Option<&str>,
        offset: u32,
        limit: u32,
    ) -> Result<(Vec<User>, u32), CoreError> {
        list_users_in(&self.pool, query, only_active_besides, offset, limit).await
    }

    /// For an admin's pull: when rows of a non-admin's view are cached, drop
    /// the cursor (and the marker, in the same transaction) so the pull
    /// brings every row again in full. An interrupted re-pull then resumes
    /// from its own cursor: the rows still withheld all lie after it.
    pub async fn restart_pull_if_rows_withheld(&self) -> Result<bool, CoreError> {
        let mut tx = write_tx(&self.pool).await?;
        let marked = sqlx::query("DELETE FROM meta WHERE key = ?1")
            .bind(WITHHELD_ROWS_KEY)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        if marked {
            sqlx::query("DELETE FROM meta WHERE key = ?1")
                .bind(CURSOR_KEY)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(marked)
    }
}

/// The Users tab's query (prefix search over name and email, one page, total
/// matches) on any pool with the cache's schema. Public so the benchmarks time
/// this very query on an unkeyed database beside the encrypted one.
pub async fn list_users_in(
    pool: &SqlitePool,
    query: &str,
    only_active_besides: Option<&str>,
    offset: u32,
    limit: u32,
) -> Result<(Vec<User>, u32), CoreError> {
    let limit = limit.min(MAX_PAGE);
    let prefix = query.trim();
    // A range instead of LIKE: no wildcard escaping, and SQLite serves it
    // from the NOCASE indexes. U+10FFFF sorts after anything a name can
    // continue with.
    let upper = format!("{prefix}\u{10FFFF}");
    // Numbered parameters: ?1 prefix, ?2 its upper bound, ?3 the viewer,
    // ?4 limit, ?5 offset; each query binds up to the last one it may use.
    let mut conditions = Vec::new();
    if !prefix.is_empty() {
        conditions
            .push("((display_name >= ?1 AND display_name < ?2) OR (email >= ?1 AND email < ?2))");
    }
    if only_active_besides.is_some() {
        conditions.push("(status = 'active' OR id = ?3)");
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let total: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM users {filter}"))
        .bind(prefix)
        .bind(&upper)
        .bind(only_active_besides)
        .fetch_one(pool)
        .await?;
    let rows = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users {filter} ORDER BY display_name, id LIMIT ?4 OFFSET ?5"
    ))
    .bind(prefix)
    .bind(&upper)
    .bind(only_active_besides)
    .bind(i64::from(limit))
    .bind(i64::from(offset))
    .fetch_all(pool)
    .await?;
    let users = rows
        .iter()
        .map(user_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((users, u32::try_from(total).unwrap_or(u32::MAX)))
}

pub(super) async fn upsert_user(tx: &mut Tx<'_>, user: &User) -> Result<(), CoreError> {
    upsert_users(tx, &[user]).await
}

/// Rows per multi-row upsert. One statement per row costs a round trip to
/// sqlx's SQLite worker thread each (the bulk of a 100k-user sync); 500 rows
/// x 12 parameters stays far below SQLite's 32766-variable limit.
pub(super) const UPSERT_CHUNK: usize = 500;

/// Inserts or updates `users` in place with multi-row statements.
pub(super) async fn upsert_users(tx: &mut Tx<'_>, users: &[&User]) -> Result<(), CoreError> {
    if users.iter().any(|user| user.security_withheld) {
        set_meta(tx, WITHHELD_ROWS_KEY, "1").await?;
    }
    for chunk in users.chunks(UPSERT_CHUNK) {
        let mut query = sqlx::QueryBuilder::new(
            "INSERT INTO users (id, company_id, email, display_name, role, status, \
             mobile_phone, phone_verified_at, two_factor_enabled, security_withheld, version, \
             updated_at) ",
        );
        query.push_values(chunk, |mut row, &user| {
            row.push_bind(&user.id)
                .push_bind(&user.company_id)
                .push_bind(&user.email)
                .push_bind(&user.display_name)
                .push_bind(user.role.as_str())
                .push_bind(user.status.as_str())
                .push_bind(&user.mobile_phone)
                .push_bind(user.phone_verified_at)
                .push_bind(user.two_factor_enabled)
                .push_bind(user.security_withheld)
                .push_bind(user.version)
                .push_bind(user.updated_at);
        });
        query.push(
            " ON CONFLICT (id) DO UPDATE SET company_id = excluded.company_id, \
             email = excluded.email, display_name = excluded.display_name, role = excluded.role, \
             status = excluded.status, mobile_phone = excluded.mobile_phone, \
             phone_verified_at = excluded.phone_verified_at, \
             two_factor_enabled = excluded.two_factor_enabled, \
             security_withheld = excluded.security_withheld, version = excluded.version, \
             updated_at = excluded.updated_at",
        );
        query.build().execute(&mut **tx).await?;
    }
    Ok(())
}

pub(super) const USER_COLUMNS: &str =
    "id, company_id, email, display_name, role, status, mobile_phone, \
     phone_verified_at, two_factor_enabled, version, updated_at, security_withheld";

pub(super) fn user_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<User, CoreError> {
    let role: String = row.get(4);
    let status: String = row.get(5);
    let corrupt = |what: &str| {
        CoreError::Cache(sqlx::Error::Decode(
            format!("unknown {what} in the cache").into(),
        ))
    };
    Ok(User {
        id: row.get(0),
        company_id: row.get(1),
        email: row.get(2),
        display_name: row.get(3),
        role: Role::parse(&role).ok_or_else(|| corrupt("role"))?,
        status: UserStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
        mobile_phone: row.get(6),
        phone_verified_at: row.get(7),
        two_factor_enabled: row.get(8),
        version: row.get(9),
        updated_at: row.get(10),
        security_withheld: row.get(11),
    })
}

pub(super) async fn user_in(
    conn: &mut SqliteConnection,
    id: &str,
) -> Result<Option<User>, CoreError> {
    let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.map(|row| user_from_row(&row)).transpose()
}
