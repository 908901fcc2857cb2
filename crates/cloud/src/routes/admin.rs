//! Admin edits of users and the company profile, and reading one user.
//! Every handler works only inside the caller's own company: another
//! company's user is 403 forbidden whatever the request says.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use secureclose_protocol::{ApiError, Company, CompanyUpdate, Role, User, UserStatus, UserUpdate};
use sqlx::AnyConnection;

use super::ApiJson;
use crate::audit::{self, kinds, Event};
use crate::auth::{normalize_email, AdminUser, AuthedUser};
use crate::db::bool_to_db;
use crate::error::CloudError;
use crate::security::{self, Scope};
use crate::twofactor::LOCK_AFTER_FAILURES;
use crate::{phone, store, sync, AppState};

const MAX_NAME_CHARS: usize = 200;

/// A user of the caller's company, or 403 (also for ids that do not exist, so
/// the answer never tells whether an id belongs to another company).
async fn same_company_user(state: &AppState, caller: &User, id: &str) -> Result<User, CloudError> {
    match store::user_by_id(&state.db, id).await? {
        Some(user) if user.company_id == caller.company_id => Ok(user),
        _ => Err(CloudError::Forbidden),
    }
}

/// One user of the caller's company.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "The user", body = User),
        (status = 401, description = "unauthenticated or session_expired", body = ApiError),
        (status = 403, description = "forbidden: not a user of the caller's company", body = ApiError),
    )
)]
pub async fn get_user(
    State(state): State<AppState>,
    authed: AuthedUser,
    Path(id): Path<String>,
) -> Result<Json<User>, CloudError> {
    Ok(Json(same_company_user(&state, &authed.user, &id).await?))
}

/// Names are shown in lists and audit views: control characters (NUL,
/// line breaks, escapes) and the bidirectional overrides that make text read
/// differently than it is stored are refused, not silently stripped, so what
/// is saved is what the admin typed (less surrounding whitespace).
fn clean_name(name: &str) -> Result<String, CloudError> {
    let is_hidden =
        |c: char| c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    // Surrounding whitespace (a pasted line break) is trimmed first.
    let name = name.trim();
    if name.chars().any(is_hidden) {
        return Err(CloudError::Validation(
            "the name cannot contain control characters (such as line breaks or tabs)".into(),
        ));
    }
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(CloudError::Validation(format!(
            "the name must be 1 to {MAX_NAME_CHARS} characters"
        )));
    }
    Ok(name.to_string())
}

fn clean_email(email: &str) -> Result<String, CloudError> {
    let email = normalize_email(email);
    let valid = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    if !valid {
        return Err(CloudError::Validation("enter a valid email address".into()));
    }
    Ok(email)
}

/// What an apply function did.
#[derive(Debug)]
pub enum Applied<T> {
    /// Written (or nothing left to write: every field had converged).
    Done(T),
    /// Fields someone else changed since the mutation's base; nothing written.
    Conflict(Vec<String>),
}

/// What a sync mutation was based on: the client's values of the changed
/// fields and the entity version it saw.
pub struct Base<'a, U> {
    pub values: &'a U,
    pub version: i64,
}

/// Refuses to leave the company without an active admin.
async fn ensure_another_active_admin(
    tx: &mut AnyConnection,
    target: &User,
) -> Result<(), CloudError> {
    let others: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE company_id = $1 AND role = 'admin' \
         AND status = 'active' AND deleted_at IS NULL AND id <> $2",
    )
    .bind(&target.company_id)
    .bind(&target.id)
    .fetch_one(&mut *tx)
    .await?;
    if others == 0 {
        return Err(CloudError::Validation(
            "the company needs at least one active admin".into(),
        ));
    }
    Ok(())
}

/// An admin edits a user of their company (General Info and Login Info).
/// Rules: the phone is stored as E.164 and a changed phone is unverified
/// again; 2FA cannot be turned on without a phone, nor where the DMS does
/// not support it; the last active admin cannot be demoted or disabled.
/// A user's phone cannot be removed while 2FA applies to them.
/// Setting `status: active` also lifts a lock after 100 failures.
/// A change of phone, 2FA, status or lock ends the user's sessions, device
/// grants and open sign-in attempts (see crate::security); an admin editing
/// themselves keeps the session they edit from. 2FA off closes attempts only.
#[utoipa::path(
    patch,
    path = "/api/v1/users/{id}",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    request_body = UserUpdate,
    responses(
        (status = 200, description = "The updated user", body = User),
        (status = 400, description = "invalid_phone, phone_required, two_factor_unavailable or validation", body = ApiError),
        (status = 401, description = "unauthenticated or session_expired", body = ApiError),
        (status = 403, description = "forbidden: caller is not an admin, or the user is not in the caller's company", body = ApiError),
        (status = 409, description = "conflict: the email belongs to another user", body = ApiError),
    )
)]
pub async fn update_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
    ApiJson(update): ApiJson<UserUpdate>,
) -> Result<Json<User>, CloudError> {
    let mut tx = state.db.pool.begin().await?;
    let applied = apply_user_update(&mut tx, &admin, state.now(), &id, &update, None).await;
    match applied {
        Ok(Applied::Done(user)) => {
            tx.commit().await?;
            Ok(Json(user))
        }
        Ok(Applied::Conflict(_)) => Err(CloudError::Internal(
            "a merge conflict without a base".into(),
        )),
        // PATCH keeps its answer for ids outside the company (see same_company_user).
        Err(CloudError::NotFound) => Err(CloudError::Forbidden),
        Err(e) => Err(e),
    }
}

/// Applies an admin's edit of a user inside `tx` (PATCH: `base` None; sync
/// push: the mutation's base, merged field by field first). Takes the change
/// seq before reading, validates, writes, audits, and returns the user as
/// stored. `not_found` for a user outside the actor's company or deleted.
pub async fn apply_user_update(
    tx: &mut AnyConnection,
    actor_session: &AuthedUser,
    now: i64,
    user_id: &str,
    update: &UserUpdate,
    base: Option<Base<'_, UserUpdate>>,
) -> Result<Applied<User>, CloudError> {
    let actor = &actor_session.user;
    if actor.role != Role::Admin {
        return Err(CloudError::Forbidden);
    }
    let seq = sync::next_change_seq(tx, &actor.company_id).await?;
    let target = match store::user_in(tx, user_id).await? {
        Some(user) if user.company_id == actor.company_id => user,
        _ => return Err(CloudError::NotFound),
    };
    let merged;
    let update = match base {
        Some(base) if base.version != target.version => {
            match sync::merge_user(&target, update, base.values) {
                Ok(rest) if sync::user_update_is_empty(&rest) => {
                    return Ok(Applied::Done(target));
                }
                Ok(rest) => {
                    merged = rest;
                    &merged
                }
                Err(fields) => return Ok(Applied::Conflict(fields)),
            }
        }
        _ => update,
    };
    let company = store::company_in(tx, &actor.company_id)
        .await?
        .ok_or_else(|| CloudError::Internal(format!("company of user {} missing", actor.id)))?;

    let display_name = match &update.display_name {
        Some(name) => clean_name(name)?,
        None => target.display_name.clone(),
    };
    let email = match &update.email {
        Some(email) => clean_email(email)?,
        None => target.email.clone(),
    };
    let (mobile_phone, phone_verified_at) = match &update.mobile_phone {
        None => (target.mobile_phone.clone(), target.phone_verified_at),
        Some(None) => (None, None),
        Some(Some(text)) if text.trim().is_empty() => (None, None),
        Some(Some(text)) => {
            let e164 = phone::normalize(text)?;
            if target.mobile_phone.as_deref() == Some(e164.as_str()) {
                (Some(e164), target.phone_verified_at)
            } else {
                // A new number has never received a code: unverified until
                // a code sent to it comes back at the next 2FA sign-in.
                (Some(e164), None)
            }
        }
    };
    let role = update.role.unwrap_or(target.role);
    let status = update.status.unwrap_or(target.status);
    let two_factor_enabled = update
        .two_factor_enabled
        .unwrap_or(target.two_factor_enabled);
    if update.two_factor_enabled == Some(true) {
        if !company.dms.supports_two_factor {
            return Err(CloudError::TwoFactorUnavailable);
        }
        if mobile_phone.is_none() {
            return Err(CloudError::PhoneRequired);
        }
    }
    // Removing the phone of someone 2FA applies to would let the password
    // alone choose a new one at the next sign-in. SMS is the only factor
    // today; once another exists, having it makes the removal safe.
    let removing_phone = target.mobile_phone.is_some() && mobile_phone.is_none();
    if removing_phone && company.dms.supports_two_factor {
        if company.two_factor_required {
            return Err(CloudError::PhoneNeededForTwoFactor { company_wide: true });
        }
        if two_factor_enabled {
            return Err(CloudError::PhoneNeededForTwoFactor {
                company_wide: false,
            });
        }
    }

    let was_active_admin = target.role == Role::Admin && target.status == UserStatus::Active;
    if was_active_admin && (role != Role::Admin || status != UserStatus::Active) {
        ensure_another_active_admin(tx, &target).await?;
    }
    let taken: Option<String> =
        sqlx::query_scalar("SELECT id FROM users WHERE lower(email) = $1 AND id <> $2")
            .bind(&email)
            .bind(&target.id)
            .fetch_optional(&mut *tx)
            .await?;
    if taken.is_some() {
        return Err(CloudError::Conflict(
            "another user already has this email address".into(),
        ));
    }
    let updated = sqlx::query(
        "UPDATE users SET display_name = $1, email = $2, mobile_phone = $3, \
         phone_verified_at = $4, role = $5, status = $6, two_factor_enabled = $7, \
         version = version + 1, updated_at = $8, change_seq = $9 \
         WHERE id = $10 AND company_id = $11",
    )
    .bind(&display_name)
    .bind(&email)
    .bind(&mobile_phone)
    .bind(phone_verified_at)
    .bind(role.as_str())
    .bind(status.as_str())
    .bind(bool_to_db(two_factor_enabled))
    .bind(now)
    .bind(seq)
    .bind(&target.id)
    .bind(&target.company_id)
    .execute(&mut *tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db_error) if db_error.is_unique_violation() => {
            CloudError::Conflict("another user already has this email address".into())
        }
        _ => CloudError::Database(e),
    })?;
    if updated.rows_affected() != 1 {
        return Err(CloudError::NotFound);
    }
    let unlocked = if update.status == Some(UserStatus::Active) {
        sqlx::query(
            "UPDATE users SET consecutive_failures = 0, password_failures = 0, \
             code_failures = 0, last_failure_at = NULL \
             WHERE id = $1 AND consecutive_failures >= $2",
        )
        .bind(&target.id)
        .bind(LOCK_AFTER_FAILURES)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0
    } else {
        false
    };
    // What ends the user's sessions (DESIGN.md, "What ends a session").
    let keep = (target.id == actor.id).then_some(actor_session.session_token_hash.as_str());
    if mobile_phone != target.mobile_phone
        || status != target.status
        || unlocked
        || (two_factor_enabled && !target.two_factor_enabled)
    {
        security::end_sessions(tx, Scope::User(&target.id), now, keep).await?;
    } else if two_factor_enabled != target.two_factor_enabled {
        security::close_sign_in_attempts(tx, Scope::User(&target.id), now).await?;
    }

    let event = |kind, detail: String| Event {
        kind,
        actor_user_id: Some(actor.id.as_str()),
        subject_user_id: Some(target.id.as_str()),
        company_id: Some(target.company_id.as_str()),
        detail,
    };
    if two_factor_enabled != target.two_factor_enabled {
        let kind = if two_factor_enabled {
            kinds::TWO_FACTOR_ENABLED
        } else {
            kinds::TWO_FACTOR_DISABLED
        };
        audit::record_in(tx, now, event(kind, String::new())).await?;
    }
    if mobile_phone != target.mobile_phone {
        match &mobile_phone {
            Some(phone) => {
                let detail = format!("to {}", phone::hint(phone));
                audit::record_in(tx, now, event(kinds::PHONE_CHANGED, detail)).await?;
            }
            None => audit::record_in(tx, now, event(kinds::PHONE_REMOVED, String::new())).await?,
        }
    }
    let mut changed = Vec::new();
    if display_name != target.display_name {
        changed.push("display_name");
    }
    if email != target.email {
        changed.push("email");
    }
    if role != target.role {
        changed.push("role");
    }
    if status != target.status {
        changed.push("status");
    }
    if !changed.is_empty() {
        audit::record_in(tx, now, event(kinds::USER_UPDATED, changed.join(","))).await?;
    }
    if unlocked {
        audit::record_in(tx, now, event(kinds::ACCOUNT_UNLOCKED, String::new())).await?;
    }
    let user = store::user_in(tx, &target.id)
        .await?
        .ok_or(CloudError::NotFound)?;
    Ok(Applied::Done(user))
}

/// An admin edits their company profile (name, company-wide 2FA toggle).
#[utoipa::path(
    patch,
    path = "/api/v1/company",
    tag = "admin",
    security(("bearer" = [])),
    request_body = CompanyUpdate,
    responses(
        (status = 200, description = "The updated company", body = Company),
        (status = 400, description = "two_factor_unavailable or validation", body = ApiError),
        (status = 401, description = "unauthenticated or session_expired", body = ApiError),
        (status = 403, description = "forbidden: caller is not an admin", body = ApiError),
    )
)]
pub async fn update_company(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiJson(update): ApiJson<CompanyUpdate>,
) -> Result<Json<Company>, CloudError> {
    let mut tx = state.db.pool.begin().await?;
    match apply_company_update(&mut tx, &admin, state.now(), &update, None).await? {
        Applied::Done(company) => {
            tx.commit().await?;
            Ok(Json(company))
        }
        Applied::Conflict(_) => Err(CloudError::Internal(
            "a merge conflict without a base".into(),
        )),
    }
}

/// Applies an admin's edit of their company inside `tx` (see [`apply_user_update`]).
pub async fn apply_company_update(
    tx: &mut AnyConnection,
    actor_session: &AuthedUser,
    now: i64,
    update: &CompanyUpdate,
    base: Option<Base<'_, CompanyUpdate>>,
) -> Result<Applied<Company>, CloudError> {
    let actor = &actor_session.user;
    if actor.role != Role::Admin {
        return Err(CloudError::Forbidden);
    }
    let seq = sync::next_change_seq(tx, &actor.company_id).await?;
    let company = store::company_in(tx, &actor.company_id)
        .await?
        .ok_or_else(|| CloudError::Internal(format!("company of user {} missing", actor.id)))?;
    let merged;
    let update = match base {
        Some(base) if base.version != company.version => {
            match sync::merge_company(&company, update, base.values) {
                Ok(rest) if sync::company_update_is_empty(&rest) => {
                    return Ok(Applied::Done(company));
                }
                Ok(rest) => {
                    merged = rest;
                    &merged
                }
                Err(fields) => return Ok(Applied::Conflict(fields)),
            }
        }
        _ => update,
    };
    let name = match &update.name {
        Some(name) => clean_name(name)?,
        None => company.name.clone(),
    };
    let required = update
        .two_factor_required
        .unwrap_or(company.two_factor_required);
    if update.two_factor_required == Some(true) && !company.dms.supports_two_factor {
        return Err(CloudError::TwoFactorUnavailable);
    }
    sqlx::query(
        "UPDATE companies SET name = $1, two_factor_required = $2, version = version + 1, \
         updated_at = $3, change_seq = $4 WHERE id = $5",
    )
    .bind(&name)
    .bind(bool_to_db(required))
    .bind(now)
    .bind(seq)
    .bind(&company.id)
    .execute(&mut *tx)
    .await?;
    let event = |kind, detail: String| Event {
        kind,
        actor_user_id: Some(actor.id.as_str()),
        subject_user_id: None,
        company_id: Some(company.id.as_str()),
        detail,
    };
    // Either way every open sign-in attempt closes: it was opened under the
    // old rule. Sessions are kept: ending every session of the company is a
    // per-user decision (a user's own 2FA toggle ends theirs), and each next
    // sign-in applies the new rule.
    if required != company.two_factor_required {
        security::close_sign_in_attempts(tx, Scope::Company(&company.id), now).await?;
    }
    if required != company.two_factor_required {
        let kind = if required {
            kinds::COMPANY_TWO_FACTOR_ENABLED
        } else {
            kinds::COMPANY_TWO_FACTOR_DISABLED
        };
        audit::record_in(tx, now, event(kind, String::new())).await?;
    }
    if name != company.name {
        audit::record_in(tx, now, event(kinds::COMPANY_UPDATED, "name".into())).await?;
    }
    let company = store::company_in(tx, &actor.company_id)
        .await?
        .ok_or_else(|| CloudError::Internal(format!("company of user {} missing", actor.id)))?;
    Ok(Applied::Done(company))
}

/// An admin deletes a user of their company: a soft delete (the row stays as
/// a tombstone that clients pull), every session and device grant of the user
/// revoked. Never yourself, never the last active admin.
#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "validation: yourself, or the last active admin", body = ApiError),
        (status = 401, description = "unauthenticated or session_expired", body = ApiError),
        (status = 403, description = "forbidden: caller is not an admin, or the user is not in the caller's company", body = ApiError),
    )
)]
pub async fn delete_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
) -> Result<StatusCode, CloudError> {
    let actor = &admin.user;
    if id == actor.id {
        return Err(CloudError::Validation(
            "you cannot delete your own account".into(),
        ));
    }
    let now = state.now();
    let mut tx = state.db.pool.begin().await?;
    let seq = sync::next_change_seq(&mut tx, &actor.company_id).await?;
    let target = match store::user_in(&mut tx, &id).await? {
        Some(user) if user.company_id == actor.company_id => user,
        _ => return Err(CloudError::Forbidden),
    };
    if target.role == Role::Admin && target.status == UserStatus::Active {
        ensure_another_active_admin(&mut tx, &target).await?;
    }
    sqlx::query(
        "UPDATE users SET deleted_at = $1, version = version + 1, updated_at = $1, \
         change_seq = $2 WHERE id = $3",
    )
    .bind(now)
    .bind(seq)
    .bind(&target.id)
    .execute(&mut *tx)
    .await?;
    security::end_sessions(&mut tx, Scope::User(&target.id), now, None).await?;
    let event = Event {
        kind: kinds::USER_DELETED,
        actor_user_id: Some(actor.id.as_str()),
        subject_user_id: Some(target.id.as_str()),
        company_id: Some(target.company_id.as_str()),
        detail: String::new(),
    };
    audit::record_in(&mut tx, now, event).await?;
    tx.commit().await?;
    tracing::info!(user_id = %target.id, actor = %actor.id, "user deleted");
    Ok(StatusCode::NO_CONTENT)
}
