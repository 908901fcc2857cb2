//! The `session` row: who is signed in on this computer, and the writes of
//! a sign-in (the company, the user, the session, in one transaction).

use secureclose_protocol::{Company, User};
use sqlx::sqlite::SqlitePool;
use sqlx::Row;

use super::company::upsert_company;
use super::outbox::{forget_cursor_unless, rebase_all, set_meta};
use super::users::upsert_users;
use super::{now_millis, write_tx, Cache, Tx};
use crate::error::CoreError;

/// The `meta` key whose presence says the session is locked (idle lock):
/// kept on disk so that ending the app is no way around the lock.
const LOCKED_KEY: &str = "session_locked";

/// Session facts kept in the cache (never the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionMeta {
    pub user_id: String,
    pub company_id: String,
    pub expires_at: i64,
    pub signed_in_at: i64,
}

impl Cache {
    /// Replaces everything cached with what the cloud just sent, in one
    /// transaction so a crash never leaves half a company.
    pub async fn store_login(
        &self,
        company: &Company,
        users: &[User],
        session: &SessionMeta,
    ) -> Result<(), CoreError> {
        store_login_in(&self.pool, company, users, session).await
    }

    /// Records a sign-in: the company and the signed-in user as the cloud
    /// returned them, and the session row. The rest of the company's users
    /// come from the sync's pull, so a first sign-in downloads them once: a
    /// cache of the same company keeps its rows and cursor (the pull brings
    /// the delta); any other company's rows and cursor are dropped here, and
    /// the pull starts from the beginning.
    pub async fn store_sign_in(
        &self,
        company: &Company,
        user: &User,
        session: &SessionMeta,
    ) -> Result<(), CoreError> {
        let mut tx = write_tx(&self.pool).await?;
        let same_company = forget_cursor_unless(&mut tx, &company.id).await?;
        sqlx::query("DELETE FROM session").execute(&mut *tx).await?;
        // A full sign-in starts unlocked.
        clear_locked(&mut tx).await?;
        if !same_company {
            sqlx::query("DELETE FROM users").execute(&mut *tx).await?;
            sqlx::query("DELETE FROM company").execute(&mut *tx).await?;
            // Nothing of this company has been synced to this computer yet.
            sqlx::query("DELETE FROM meta WHERE key = 'last_synced_at'")
                .execute(&mut *tx)
                .await?;
        }
        upsert_company(&mut tx, company).await?;
        upsert_users(&mut tx, &[user]).await?;
        insert_session(&mut tx, session).await?;
        // The cloud accepts this person again: offline sign-in may follow.
        sqlx::query("DELETE FROM offline_revoked WHERE email = ?1 OR user_id = ?2")
            .bind(&user.email)
            .bind(&user.id)
            .execute(&mut *tx)
            .await?;
        rebase_all(&mut tx, &session.user_id).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn session_meta(&self) -> Result<Option<SessionMeta>, CoreError> {
        let row = sqlx::query(
            "SELECT user_id, company_id, expires_at, signed_in_at FROM session WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| SessionMeta {
            user_id: row.get(0),
            company_id: row.get(1),
            expires_at: row.get(2),
            signed_in_at: row.get(3),
        }))
    }

    /// Forget who is signed in (and any lock of that session); the company
    /// and users stay (encrypted).
    pub async fn clear_session(&self) -> Result<(), CoreError> {
        let mut tx = write_tx(&self.pool).await?;
        sqlx::query("DELETE FROM session").execute(&mut *tx).await?;
        clear_locked(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether the session in the cache is locked (see [`LOCKED_KEY`]).
    pub async fn session_locked(&self) -> Result<bool, CoreError> {
        let value: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = ?1")
            .bind(LOCKED_KEY)
            .fetch_optional(&self.pool)
            .await?;
        Ok(value.is_some())
    }

    /// Locks or unlocks the cached session.
    pub async fn set_session_locked(&self, locked: bool) -> Result<(), CoreError> {
        let mut tx = write_tx(&self.pool).await?;
        if locked {
            set_meta(&mut tx, LOCKED_KEY, "1").await?;
        } else {
            clear_locked(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records who is signed in without touching the cached rows (offline
    /// sign-in, resumed session).
    pub async fn set_session(&self, meta: &SessionMeta) -> Result<(), CoreError> {
        sqlx::query(
            "INSERT INTO session (id, user_id, company_id, expires_at, signed_in_at) \
             VALUES (1, ?1, ?2, ?3, ?4) ON CONFLICT (id) DO UPDATE SET \
             user_id = excluded.user_id, company_id = excluded.company_id, \
             expires_at = excluded.expires_at, signed_in_at = excluded.signed_in_at",
        )
        .bind(&meta.user_id)
        .bind(&meta.company_id)
        .bind(meta.expires_at)
        .bind(meta.signed_in_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// What [`Cache::store_login`] writes, on any pool with the cache's schema:
/// public so the benchmarks fill an unkeyed database exactly as the app fills
/// the encrypted one.
pub async fn store_login_in(
    pool: &SqlitePool,
    company: &Company,
    users: &[User],
    session: &SessionMeta,
) -> Result<(), CoreError> {
    let mut tx = write_tx(pool).await?;
    forget_cursor_unless(&mut tx, &company.id).await?;
    sqlx::query("DELETE FROM session").execute(&mut *tx).await?;
    sqlx::query("DELETE FROM users").execute(&mut *tx).await?;
    sqlx::query("DELETE FROM company").execute(&mut *tx).await?;
    upsert_company(&mut tx, company).await?;
    upsert_users(&mut tx, &users.iter().collect::<Vec<_>>()).await?;
    insert_session(&mut tx, session).await?;
    sqlx::query(
        "INSERT INTO meta (key, value) VALUES ('last_synced_at', ?1) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(now_millis().to_string())
    .execute(&mut *tx)
    .await?;
    // Edits still waiting in the outbox stay visible over the fresh rows.
    rebase_all(&mut tx, &session.user_id).await?;
    tx.commit().await?;
    Ok(())
}

// ON CONFLICT DO UPDATE rather than INSERT OR REPLACE: REPLACE deletes the
// old row first, and the ON DELETE CASCADE would take the session with it.
pub(super) async fn insert_session(
    tx: &mut Tx<'_>,
    session: &SessionMeta,
) -> Result<(), CoreError> {
    sqlx::query(
        "INSERT INTO session (id, user_id, company_id, expires_at, signed_in_at) \
         VALUES (1, ?1, ?2, ?3, ?4)",
    )
    .bind(&session.user_id)
    .bind(&session.company_id)
    .bind(session.expires_at)
    .bind(session.signed_in_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn clear_locked(tx: &mut Tx<'_>) -> Result<(), CoreError> {
    sqlx::query("DELETE FROM meta WHERE key = ?1")
        .bind(LOCKED_KEY)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
