//! `offline_credentials` and `offline_revoked`: the verifier that lets a
//! person sign in on this computer without the cloud, its failure counters,
//! and the accounts whose offline access the cloud ended.

use sqlx::Row;

use super::{write_tx, Cache};
use crate::error::CoreError;
use crate::sensitive::Sensitive;

/// A cached offline-login verifier and its failure counters.
#[derive(Debug, Clone)]
pub struct OfflineCredential {
    pub user_id: String,
    pub email: String,
    /// The account's company: an email is unique per company only.
    pub company_id: String,
    /// argon2id PHC string.
    pub verifier: Sensitive<String>,
    pub last_online_login_at: i64,
    pub last_second_factor_at: Option<i64>,
    pub failures: i64,
    pub last_failure_at: Option<i64>,
    /// The authenticator app's secret, sealed under the password
    /// (`session::offline_app`); `None` without one.
    pub app_sealed: Option<String>,
}

/// Why the cloud ended someone's offline access on this computer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokedReason {
    /// `account_disabled` from the cloud.
    Disabled,
    /// The account was deleted on the cloud.
    Deleted,
    /// The cloud refused the password this computer would accept offline.
    Credentials,
}

impl RevokedReason {
    fn as_str(self) -> &'static str {
        match self {
            RevokedReason::Disabled => "disabled",
            RevokedReason::Deleted => "deleted",
            RevokedReason::Credentials => "credentials",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        match value {
            "disabled" => Some(RevokedReason::Disabled),
            "deleted" => Some(RevokedReason::Deleted),
            "credentials" => Some(RevokedReason::Credentials),
            _ => None,
        }
    }
}

impl Cache {
    /// The verifiers of `email` on this computer (one per company whose
    /// account with that address signed in here), or only `company_id`'s.
    pub async fn offline_credentials(
        &self,
        email: &str,
        company_id: Option<&str>,
    ) -> Result<Vec<OfflineCredential>, CoreError> {
        let rows = sqlx::query(
            "SELECT user_id, email, company_id, verifier, last_online_login_at, \
             last_second_factor_at, failures, last_failure_at, app_sealed FROM offline_credentials \
             WHERE email = ?1 AND (?2 IS NULL OR company_id = ?2) ORDER BY company_id, user_id",
        )
        .bind(email.trim())
        .bind(company_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| OfflineCredential {
                user_id: row.get(0),
                email: row.get(1),
                company_id: row.get(2),
                verifier: Sensitive::new(row.get(3)),
                last_online_login_at: row.get(4),
                last_second_factor_at: row.get(5),
                failures: row.get(6),
                last_failure_at: row.get(7),
                app_sealed: row.get(8),
            })
            .collect())
    }

    /// The one verifier of `email` (tests whose emails are not shared).
    #[cfg(test)]
    pub async fn offline_credential(
        &self,
        email: &str,
    ) -> Result<Option<OfflineCredential>, CoreError> {
        Ok(self
            .offline_credentials(email, None)
            .await?
            .into_iter()
            .next())
    }

    /// Written at every successful online sign-in: a fresh verifier, failures
    /// cleared; `second_factor_at` when a code was verified (otherwise the
    /// previous one is kept).
    pub async fn save_offline_credential(
        &self,
        user_id: &str,
        email: &str,
        company_id: &str,
        verifier: &Sensitive<String>,
        now: i64,
        second_factor_at: Option<i64>,
    ) -> Result<(), CoreError> {
        let mut tx = write_tx(&self.pool).await?;
        // The email may have moved to another account of that company since
        // it was cached (other companies' accounts of the address stay).
        sqlx::query(
            "DELETE FROM offline_credentials WHERE email = ?1 AND company_id = ?2 \
             AND user_id <> ?3",
        )
        .bind(email)
        .bind(company_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO offline_credentials (user_id, email, verifier, last_online_login_at, \
             last_second_factor_at, failures, last_failure_at, company_id) \
             VALUES (?1, ?2, ?3, ?4, ?5, 0, NULL, ?6) \
             ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, \
             company_id = excluded.company_id, verifier = excluded.verifier, last_online_login_at = excluded.last_online_login_at, \
             last_second_factor_at = coalesce(excluded.last_second_factor_at, \
             offline_credentials.last_second_factor_at), failures = 0, last_failure_at = NULL",
        )
        .bind(user_id)
        .bind(email)
        .bind(verifier.expose())
        .bind(now)
        .bind(second_factor_at)
        .bind(company_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Keeps (or, with `None`, forgets) the sealed app secret of `user_id`
    /// and the last time step the cloud accepted.
    pub async fn save_offline_app(
        &self,
        user_id: &str,
        sealed: Option<&str>,
        last_step: Option<i64>,
    ) -> Result<(), CoreError> {
        let mut tx = write_tx(&self.pool).await?;
        sqlx::query(
            "UPDATE offline_credentials SET app_sealed = ?1, \
             app_last_step = max(coalesce(app_last_step, 0), coalesce(?2, 0)) WHERE user_id = ?3",
        )
        .bind(sealed)
        .bind(last_step)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Takes time step `step` of `user_id`'s app if it is later than every
    /// step taken before (here or, as last known, by the cloud).
    pub async fn accept_offline_app_step(
        &self,
        user_id: &str,
        step: i64,
    ) -> Result<bool, CoreError> {
        let mut tx = write_tx(&self.pool).await?;
        let done = sqlx::query(
            "UPDATE offline_credentials SET app_last_step = ?1 WHERE user_id = ?2 \
             AND app_sealed IS NOT NULL AND (app_last_step IS NULL OR app_last_step < ?1)",
        )
        .bind(step)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Counts a wrong offline password; returns the new count.
    pub async fn record_offline_failure(&self, user_id: &str, now: i64) -> Result<i64, CoreError> {
        let failures: i64 = sqlx::query_scalar(
            "UPDATE offline_credentials SET failures = failures + 1, last_failure_at = ?1 \
             WHERE user_id = ?2 RETURNING failures",
        )
        .bind(now)
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(failures)
    }

    /// The cloud said this account is disabled, deleted, or no longer
    /// accepts the password this computer knows: in one transaction its
    /// verifier goes, a marker refuses offline sign-in from now on, and a
    /// disabled account's cached row says so. `user_id` and `email` may each
    /// be unknown (a sign-in knows the email, a sync the id).
    pub async fn revoke_offline(
        &self,
        user_id: Option<&str>,
        email: Option<&str>,
        reason: RevokedReason,
        now: i64,
    ) -> Result<(), CoreError> {
        let mut tx = write_tx(&self.pool).await?;
        let cached_email: Option<String> = match user_id {
            Some(id) => {
                sqlx::query_scalar(
                    "SELECT email FROM offline_credentials WHERE user_id = ?1 \
                     UNION ALL SELECT email FROM users WHERE id = ?1 LIMIT 1",
                )
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
            }
            None => None,
        };
        let email = email.map(str::to_owned).or(cached_email);
        let cached_id: Option<String> = match (&email, user_id) {
            (Some(email), None) => {
                sqlx::query_scalar(
                    "SELECT user_id FROM offline_credentials WHERE email = ?1 \
                     UNION ALL SELECT id FROM users WHERE email = ?1 LIMIT 1",
                )
                .bind(email)
                .fetch_optional(&mut *tx)
                .await?
            }
            _ => None,
        };
        let user_id = user_id.map(str::to_owned).or(cached_id);
        sqlx::query("DELETE FROM offline_credentials WHERE user_id = ?1 OR email = ?2")
            .bind(&user_id)
            .bind(&email)
            .execute(&mut *tx)
            .await?;
        if let Some(email) = &email {
            sqlx::query(
                "INSERT INTO offline_revoked (email, user_id, reason, revoked_at) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (email) DO UPDATE SET \
                 user_id = coalesce(excluded.user_id, offline_revoked.user_id), \
                 reason = excluded.reason, revoked_at = excluded.revoked_at",
            )
            .bind(email)
            .bind(&user_id)
            .bind(reason.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        if reason == RevokedReason::Disabled {
            sqlx::query("UPDATE users SET status = 'disabled' WHERE id = ?1")
                .bind(&user_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The account id recorded with a revocation of `email`, if known.
    pub async fn revoked_user_id(&self, email: &str) -> Result<Option<String>, CoreError> {
        let id: Option<Option<String>> =
            sqlx::query_scalar("SELECT user_id FROM offline_revoked WHERE email = ?1")
                .bind(email.trim())
                .fetch_optional(&self.pool)
                .await?;
        Ok(id.flatten())
    }

    /// Why offline sign-in is refused for `email` here, if it is.
    pub async fn offline_revoked(&self, email: &str) -> Result<Option<RevokedReason>, CoreError> {
        let reason: Option<String> =
            sqlx::query_scalar("SELECT reason FROM offline_revoked WHERE email = ?1")
                .bind(email.trim())
                .fetch_optional(&self.pool)
                .await?;
        Ok(reason.as_deref().and_then(RevokedReason::parse))
    }

    pub async fn clear_offline_failures(&self, user_id: &str) -> Result<(), CoreError> {
        sqlx::query(
            "UPDATE offline_credentials SET failures = 0, last_failure_at = NULL WHERE user_id = ?1",
        )
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sqlx::migrate::Migrator;
    use sqlx::sqlite::SqlitePoolOptions;
    use sqlx::Row as _;

    /// The cache migration that keys verifiers by (email, company).
    const BY_COMPANY: i64 = 20261204000010;

    #[tokio::test]
    async fn verifiers_from_before_the_company_key_stay_usable() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("c.db").display());
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .unwrap();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
        let mut before = Migrator::new(path.as_path()).await.unwrap();
        before.migrations = before
            .migrations
            .iter()
            .filter(|m| m.version < BY_COMPANY)
            .cloned()
            .collect::<Vec<_>>()
            .into();
        before.run(&pool).await.unwrap();
        sqlx::query(
            "INSERT INTO company VALUES ('c1', 'Desert Motors', 0, 'cdk', 1, 1, 72, 1); \
             INSERT INTO users (id, company_id, email, display_name, role, status, \
             two_factor_enabled, version, updated_at) \
             VALUES ('u1', 'c1', 'alice@x.example', 'Alice', 'admin', 'active', 0, 1, 1); \
             INSERT INTO offline_credentials (user_id, email, verifier, last_online_login_at, \
             failures) VALUES ('u1', 'alice@x.example', '$argon2id$old', 5, 2), \
             ('u7', 'gone@x.example', '$argon2id$gone', 6, 0);",
        )
        .execute(&pool)
        .await
        .unwrap();
        Migrator::new(path.as_path())
            .await
            .unwrap()
            .run(&pool)
            .await
            .unwrap();
        let rows = sqlx::query(
            "SELECT user_id, company_id, verifier, failures FROM offline_credentials \
             ORDER BY user_id",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let rows: Vec<(String, String, String, i64)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect();
        assert_eq!(
            rows,
            [
                ("u1".into(), "c1".into(), "$argon2id$old".into(), 2),
                ("u7".into(), String::new(), "$argon2id$gone".into(), 0),
            ],
            "every verifier and its counters survive, with its cached user's company"
        );
        // Another company's account of the same address may now have its own.
        sqlx::query(
            "INSERT INTO offline_credentials (user_id, email, company_id, verifier, \
             last_online_login_at) VALUES ('u2', 'ALICE@x.example', 'c2', 'v', 7)",
        )
        .execute(&pool)
        .await
        .unwrap();
        let duplicate = sqlx::query(
            "INSERT INTO offline_credentials (user_id, email, company_id, verifier, \
             last_online_login_at) VALUES ('u3', 'alice@X.example', 'c1', 'v', 8)",
        )
        .execute(&pool)
        .await;
        assert!(duplicate.is_err(), "one verifier per (email, company)");
        pool.close().await;
    }
}
