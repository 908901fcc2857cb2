//! Offline-first sync rules (issue 4).
//!
//! - Change sequence: every write that changes what a `User` or `Company`
//!   shows takes [`next_change_seq`] in its own transaction and stamps the
//!   ONE row it changed with it (one row per number, so a page boundary never
//!   splits a number). Taking the number updates the company row, whose lock
//!   orders concurrent writers of one company: seq order = commit order, and
//!   every number at or below a committed `last_change_seq` is committed.
//! - Pull: rows with `since < change_seq <= last_change_seq` in seq order.
//! - Push: per mutation, idempotency key first, then the field-level
//!   three-way merge ([`merge_field`]), then the admin handlers' own
//!   validation (`routes::admin::apply_*`), all in one transaction.

use secureclose_protocol::sync::MutationResult;
use secureclose_protocol::{Company, CompanyUpdate, User, UserUpdate};
use sqlx::AnyConnection;

use crate::auth::normalize_email;
use crate::error::CloudError;

/// Takes the company's next change sequence number. Call it FIRST in the
/// write's transaction: it takes the company row's write lock before anything
/// is read, so the values a merge compares cannot change underneath it.
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

/// How one field of a mutation compares with the cloud's current value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Merge {
    /// Nobody changed it since the client's base: apply the client's value.
    Apply,
    /// The cloud already holds the client's value: nothing to do.
    Converged,
    /// Someone else changed it: the mutation must not apply.
    Conflict,
}

/// cur == base → apply; cur == new → converged; else conflict. A field the
/// client did not give a base for (`None`) is unsafe: it only converges.
fn merge_field<T: PartialEq>(cur: &T, new: &T, base: Option<&T>) -> Merge {
    if base == Some(cur) {
        Merge::Apply
    } else if cur == new {
        Merge::Converged
    } else {
        Merge::Conflict
    }
}

/// Phones compare as E.164; text that does not parse compares as typed
/// (it will not equal a stored number, and validation rejects it later).
fn phone_key(value: &Option<String>) -> Option<String> {
    let text = value.as_deref().map(str::trim).filter(|t| !t.is_empty())?;
    Some(secureclose_protocol::phone::normalize(text).unwrap_or_else(|_| text.to_string()))
}

/// Keeps the field in the effective update, drops it, or records a conflict.
fn keep<T: Clone>(
    field: &'static str,
    merge: Merge,
    value: &Option<T>,
    conflicts: &mut Vec<String>,
) -> Option<T> {
    match merge {
        Merge::Apply => value.clone(),
        Merge::Converged => None,
        Merge::Conflict => {
            conflicts.push(field.to_string());
            None
        }
    }
}

/// The part of `changes` still to apply to `cur`, or the conflicting fields.
pub fn merge_user(
    cur: &User,
    changes: &UserUpdate,
    base: &UserUpdate,
) -> Result<UserUpdate, Vec<String>> {
    let mut conflicts = Vec::new();
    let mut out = UserUpdate::default();
    if let Some(new) = &changes.display_name {
        let merge = merge_field(
            &cur.display_name.trim().to_string(),
            &new.trim().to_string(),
            base.display_name
                .as_ref()
                .map(|b| b.trim().to_string())
                .as_ref(),
        );
        out.display_name = keep("display_name", merge, &changes.display_name, &mut conflicts);
    }
    if let Some(new) = &changes.email {
        let merge = merge_field(
            &normalize_email(&cur.email),
            &normalize_email(new),
            base.email.as_deref().map(normalize_email).as_ref(),
        );
        out.email = keep("email", merge, &changes.email, &mut conflicts);
    }
    if let Some(new) = &changes.mobile_phone {
        let merge = merge_field(
            &phone_key(&cur.mobile_phone),
            &phone_key(new),
            base.mobile_phone.as_ref().map(phone_key).as_ref(),
        );
        out.mobile_phone = keep("mobile_phone", merge, &changes.mobile_phone, &mut conflicts);
    }
    if let Some(new) = &changes.role {
        let merge = merge_field(&cur.role, new, base.role.as_ref());
        out.role = keep("role", merge, &changes.role, &mut conflicts);
    }
    if let Some(new) = &changes.status {
        let merge = merge_field(&cur.status, new, base.status.as_ref());
        out.status = keep("status", merge, &changes.status, &mut conflicts);
    }
    if let Some(new) = &changes.two_factor_enabled {
        let merge = merge_field(
            &cur.two_factor_enabled,
            new,
            base.two_factor_enabled.as_ref(),
        );
        out.two_factor_enabled = keep(
            "two_factor_enabled",
            merge,
            &changes.two_factor_enabled,
            &mut conflicts,
        );
    }
    if conflicts.is_empty() {
        Ok(out)
    } else {
        Err(conflicts)
    }
}

/// [`merge_user`] for the company profile.
pub fn merge_company(
    cur: &Company,
    changes: &CompanyUpdate,
    base: &CompanyUpdate,
) -> Result<CompanyUpdate, Vec<String>> {
    let mut conflicts = Vec::new();
    let mut out = CompanyUpdate::default();
    if let Some(new) = &changes.name {
        let merge = merge_field(
            &cur.name.trim().to_string(),
            &new.trim().to_string(),
            base.name.as_ref().map(|b| b.trim().to_string()).as_ref(),
        );
        out.name = keep("name", merge, &changes.name, &mut conflicts);
    }
    if let Some(new) = &changes.two_factor_required {
        let merge = merge_field(
            &cur.two_factor_required,
            new,
            base.two_factor_required.as_ref(),
        );
        out.two_factor_required = keep(
            "two_factor_required",
            merge,
            &changes.two_factor_required,
            &mut conflicts,
        );
    }
    if conflicts.is_empty() {
        Ok(out)
    } else {
        Err(conflicts)
    }
}

pub fn user_update_is_empty(update: &UserUpdate) -> bool {
    *update == UserUpdate::default()
}

pub fn company_update_is_empty(update: &CompanyUpdate) -> bool {
    *update == CompanyUpdate::default()
}

/// The sentence a person sees for a conflict.
pub fn conflict_message(fields: &[String]) -> String {
    let names: Vec<&str> = fields
        .iter()
        .map(|f| match f.as_str() {
            "display_name" => "name",
            "mobile_phone" => "mobile phone",
            "two_factor_enabled" => "two-factor setting",
            "two_factor_required" => "company two-factor setting",
            "name" => "company name",
            other => other,
        })
        .collect();
    format!(
        "Someone else changed the {} meanwhile, so this change was not applied. Review it and edit again.",
        names.join(", ")
    )
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_way_merge_per_field() {
        assert_eq!(merge_field(&1, &2, Some(&1)), Merge::Apply);
        assert_eq!(merge_field(&2, &2, Some(&1)), Merge::Converged);
        assert_eq!(merge_field(&3, &2, Some(&1)), Merge::Conflict);
        assert_eq!(
            merge_field(&3, &2, None),
            Merge::Conflict,
            "a change without a base must never overwrite an unknown value"
        );
        assert_eq!(merge_field(&2, &2, None), Merge::Converged);
    }

    #[test]
    fn phones_compare_as_e164() {
        assert_eq!(
            phone_key(&Some("(480) 555-0142".into())),
            phone_key(&Some("+14805550142".into())),
            "the same number typed two ways is the same value"
        );
        assert_eq!(phone_key(&Some("  ".into())), None);
    }
}
