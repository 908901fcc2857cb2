//! `sync_notices`: refusals and conflicts of a person's queued edits, shown
//! only to that person until they dismiss them.

use secureclose_protocol::codes;
use sqlx::Row;

use super::{now_millis, write_tx, Cache};
use crate::error::CoreError;
use crate::views::SyncNotice;

impl Cache {
    /// `owner`'s notices not dismissed yet, oldest first: a notice is about
    /// one person's edit, and the next person at this computer never sees it.
    pub async fn notices(&self, owner: &str) -> Result<Vec<SyncNotice>, CoreError> {
        let rows = sqlx::query(
            "SELECT id, subject, code, message, at FROM sync_notices \
             WHERE dismissed_at IS NULL AND owner_user_id = ?1 ORDER BY id",
        )
        .bind(owner)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| SyncNotice {
                id: row.get(0),
                subject: row.get(1),
                code: row.get(2),
                message: row.get(3),
                at: row.get(4),
            })
            .collect())
    }

    /// Hides one of `owner`'s notices for good (again: no change). Someone
    /// else's notice, or none with this id, is `not_found` and stays.
    pub async fn dismiss_notice(&self, owner: &str, id: i64) -> Result<(), CoreError> {
        let mut tx = write_tx(&self.pool).await?;
        let mine: Option<i64> =
            sqlx::query_scalar("SELECT id FROM sync_notices WHERE id = ?1 AND owner_user_id = ?2")
                .bind(id)
                .bind(owner)
                .fetch_optional(&mut *tx)
                .await?;
        if mine.is_none() {
            return Err(CoreError::Refused {
                code: codes::NOT_FOUND,
                message: "This notice is not there any more.".into(),
                retry_at: None,
            });
        }
        sqlx::query(
            "UPDATE sync_notices SET dismissed_at = ?1 WHERE id = ?2 AND dismissed_at IS NULL",
        )
        .bind(now_millis())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
