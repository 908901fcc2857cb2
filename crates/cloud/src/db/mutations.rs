//! `applied_mutations`: the first result of every idempotency key of a
//! company's pushed edits, so a retried push answers without re-applying.

use secureclose_protocol::sync::MutationResult;
use sqlx::AnyConnection;

use crate::error::CloudError;

/// The stored first result of an idempotency key (entities not included:
/// a replay answers with the entity as it is now).
pub async fn stored_result(
    conn: &mut AnyConnection,
    company_id: &str,
    key: &str,
) -> Result<Option<MutationResult>, CloudError> {
    let json: Option<String> = sqlx::query_scalar(
        "SELECT result_json FROM applied_mutations WHERE company_id = $1 AND idempotency_key = $2",
    )
    .bind(company_id)
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?;
    json.map(|json| {
        serde_json::from_str(&json)
            .map_err(|e| CloudError::Internal(format!("stored mutation result unreadable: {e}")))
    })
    .transpose()
}

/// Records a key's result; `false` when the key was already recorded (a
/// concurrent copy won: the caller rolls back and answers with that one).
pub async fn store_result(
    conn: &mut AnyConnection,
    company_id: &str,
    result: &MutationResult,
    now: i64,
) -> Result<bool, CloudError> {
    let json = serde_json::to_string(result)
        .map_err(|e| CloudError::Internal(format!("mutation result: {e}")))?;
    let inserted = sqlx::query(
        "INSERT INTO applied_mutations (company_id, idempotency_key, result_json, at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (company_id, idempotency_key) DO NOTHING",
    )
    .bind(company_id)
    .bind(&result.idempotency_key)
    .bind(json)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}
