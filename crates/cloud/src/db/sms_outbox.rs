//! `sms_outbox`: every message the development gateway "sent".

use secureclose_protocol::OutboxMessage;
use sqlx::{AnyPool, Row as _};

use crate::error::CloudError;

pub async fn insert(pool: &AnyPool, to: &str, body: &str, sent_at: i64) -> Result<(), CloudError> {
    sqlx::query("INSERT INTO sms_outbox (to_phone, body, sent_at) VALUES ($1, $2, $3)")
        .bind(to)
        .bind(body)
        .bind(sent_at)
        .execute(pool)
        .await?;
    Ok(())
}

/// Newest first, optionally only messages to one number.
pub async fn list(pool: &AnyPool, to: Option<&str>) -> Result<Vec<OutboxMessage>, CloudError> {
    let rows =
        match to {
            Some(to) => {
                sqlx::query(
                    "SELECT to_phone, body, sent_at FROM sms_outbox WHERE to_phone = $1 \
                 ORDER BY sent_at DESC, seq DESC",
                )
                .bind(to)
                .fetch_all(pool)
                .await?
            }
            None => sqlx::query(
                "SELECT to_phone, body, sent_at FROM sms_outbox ORDER BY sent_at DESC, seq DESC",
            )
            .fetch_all(pool)
            .await?,
        };
    rows.iter()
        .map(|row| {
            Ok(OutboxMessage {
                to: row.try_get("to_phone")?,
                body: row.try_get("body")?,
                sent_at: row.try_get("sent_at")?,
            })
        })
        .collect()
}
