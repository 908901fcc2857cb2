//! Admin edits of users and the company profile, reading one user, and the
//! operator's unlock. Every edit works only inside the actor's own company:
//! another company's user is 403 forbidden whatever the request says.

use secureclose_protocol::rules::{self, normalize_email};
use secureclose_protocol::{
    needs_second_factor, Company, CompanyUpdate, Role, User, UserStatus, UserUpdate,
};
use sqlx::AnyConnection;

use super::merge;
use super::notice::{self, Notice};
use super::sessions::{AdminUser, AuthedUser};
use super::sms_guard;
use super::two_factor::LOCK_AFTER_FAILURES;
use crate::clock::{self, Clock as _};
use crate::db::audit::{self, kinds, Event};
use crate::db::companies::next_change_seq;
use crate::db::security::{self, Scope};
use crate::db::{self, users::UserFields, Db};
use crate::error::CloudError;
use crate::phone;
use crate::state::AppState;

/// A user of the caller's company as the caller may see them, or 403 (also
/// for ids that do not exist and for colleagues a non-admin is not shown, so
/// the answer never tells whether an id belongs to another company).
pub async fn get_user(state: &AppState, caller: &User, id: &str) -> Result<User, CloudError> {
    db::users::user_by_id(&state.db, id)
        .await?
        .filter(|user| user.company_id == caller.company_id)
        .and_then(|user| rules::as_seen_by(caller, user))
        .ok_or(CloudError::Forbidden)
}

/// What an apply function did.
#[derive(Debug)]
pub enum Applied<T> {
    /// Written (or nothing left to write: every field had converged).
    Done(T),
    /// Fields someone else changed since the mutation's base; nothing written.
    Conflict(Vec<String>),
}

/// A user edit as written, and the phone to tell about it (see `notice`).
#[derive(Debug)]
pub struct Edited {
    pub user: User,
    pub notice: Option<Notice>,
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
    let others = db::users::other_active_admins(tx, &target.company_id, &target.id).await?;
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
/// grants and open sign-in attempts (see db::security); an admin editing
/// themselves keeps the session they edit from. 2FA off closes attempts only.
pub async fn update_user(
    state: &AppState,
    admin: &AdminUser,
    id: &str,
    update: &UserUpdate,
) -> Result<User, CloudError> {
    let mut tx = state.db.pool.begin().await?;
    let applied = apply_user_update(&mut tx, admin.authed(), state.now(), id, update, None).await;
    match applied {
        Ok(Applied::Done(Edited { user, notice })) => {
            tx.commit().await?;
            if let Some(notice) = notice {
                notice::send(state, &admin.authed().user, notice).await;
            }
            Ok(user)
        }
        Ok(Applied::Conflict(_)) => Err(CloudError::Internal(
            "a merge conflict without a base".into(),
        )),
        // PATCH keeps its answer for ids outside the company (see get_user).
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
) -> Result<Applied<Edited>, CloudError> {
    let actor = &actor_session.user;
    if actor.role != Role::Admin {
        return Err(CloudError::Forbidden);
    }
    let seq = next_change_seq(tx, &actor.company_id).await?;
    let target = match db::users::user_in(tx, user_id).await? {
        Some(user) if user.company_id == actor.company_id => user,
        _ => return Err(CloudError::NotFound),
    };
    let merged;
    let update = match base {
        Some(base) if base.version != target.version => {
            match merge::merge_user(&target, update, base.values) {
                Ok(rest) if merge::user_update_is_empty(&rest) => {
                    return Ok(Applied::Done(Edited {
                        user: target,
                        notice: None,
                    }));
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
    let company = db::companies::company_in(tx, &actor.company_id)
        .await?
        .ok_or_else(|| CloudError::Internal(format!("company of user {} missing", actor.id)))?;

    let changes = rules::check_user_update(update)?;
    let mut after = target.clone();
    rules::apply_user_changes(&mut after, &changes);
    rules::check_user_two_factor(&target, &changes, &after, &company)?;
    let User {
        display_name,
        email,
        mobile_phone,
        phone_verified_at,
        role,
        status,
        two_factor_enabled,
        ..
    } = after;

    // One's own phone receives one's codes: changing it is a factor change.
    if target.id == actor.id && mobile_phone != target.mobile_phone {
        actor_session.require_fresh_reauth(now)?;
    }
    if let Some(phone) = mobile_phone
        .as_deref()
        .filter(|_| mobile_phone != target.mobile_phone)
    {
        sms_guard::check_phone_country(tx, &target.company_id, phone).await?;
    }
    let was_active_admin = target.role == Role::Admin && target.status == UserStatus::Active;
    if was_active_admin && (role != Role::Admin || status != UserStatus::Active) {
        ensure_another_active_admin(tx, &target).await?;
    }
    if db::users::email_taken(tx, &target.company_id, &email, &target.id).await? {
        return Err(CloudError::Conflict(db::users::EMAIL_TAKEN.into()));
    }
    let fields = UserFields {
        display_name: &display_name,
        email: &email,
        mobile_phone: mobile_phone.as_deref(),
        phone_verified_at,
        role,
        status,
        two_factor_enabled,
    };
    if !db::users::write_fields(tx, &target.id, &target.company_id, &fields, now, seq).await? {
        return Err(CloudError::NotFound);
    }
    let unlocked = update.status == Some(UserStatus::Active)
        && db::users::lift_lock(tx, &target.id, LOCK_AFTER_FAILURES).await?;
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

    let event = |kind, detail: String| Event::about(kind, actor, &target, detail);
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
    let user = db::users::user_in(tx, &target.id)
        .await?
        .ok_or(CloudError::NotFound)?;
    let notice = settings_notice(&target, &user, &company);
    Ok(Applied::Done(Edited { user, notice }))
}

/// What the phone `before` had is told about an edit that left `after`: a
/// changed or removed phone, or a second factor no longer asked for.
fn settings_notice(before: &User, after: &User, company: &Company) -> Option<Notice> {
    let change = if after.mobile_phone != before.mobile_phone {
        if after.mobile_phone.is_some() {
            notice::PHONE_CHANGED
        } else {
            notice::PHONE_REMOVED
        }
    } else if needs_second_factor(before, company) && !needs_second_factor(after, company) {
        notice::TWO_FACTOR_OFF
    } else {
        return None;
    };
    Notice::to_phone_of(before, change)
}

/// An admin edits their company profile (name, company-wide 2FA toggle,
/// offline sign-in and session policies).
pub async fn update_company(
    state: &AppState,
    admin: &AdminUser,
    update: &CompanyUpdate,
) -> Result<Company, CloudError> {
    let mut tx = state.db.pool.begin().await?;
    match apply_company_update(&mut tx, admin.authed(), state.now(), update, None).await? {
        Applied::Done(company) => {
            tx.commit().await?;
            Ok(company)
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
    let seq = next_change_seq(tx, &actor.company_id).await?;
    let company = db::companies::company_in(tx, &actor.company_id)
        .await?
        .ok_or_else(|| CloudError::Internal(format!("company of user {} missing", actor.id)))?;
    let merged;
    let update = match base {
        Some(base) if base.version != company.version => {
            match merge::merge_company(&company, update, base.values) {
                Ok(rest) if merge::company_update_is_empty(&rest) => {
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
    let changes = rules::check_company_update(update)?;
    rules::check_company_two_factor(&company, &changes)?;
    let mut after = company.clone();
    rules::apply_company_changes(&mut after, &changes);
    db::companies::write_profile(tx, &after, now, seq).await?;
    let (name, required) = (after.name, after.two_factor_required);
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
    let mut changed = Vec::new();
    if name != company.name {
        changed.push("name");
    }
    if after.offline_policy != company.offline_policy {
        changed.push("offline_policy");
    }
    if after.session_policy != company.session_policy {
        changed.push("session_policy");
    }
    if !changed.is_empty() {
        audit::record_in(tx, now, event(kinds::COMPANY_UPDATED, changed.join(","))).await?;
    }
    let company = db::companies::company_in(tx, &actor.company_id)
        .await?
        .ok_or_else(|| CloudError::Internal(format!("company of user {} missing", actor.id)))?;
    Ok(Applied::Done(company))
}

/// An admin deletes a user of their company: a soft delete (the row stays as
/// a tombstone that clients pull), every session and device grant of the user
/// revoked. Never yourself, never the last active admin.
pub async fn delete_user(state: &AppState, admin: &AdminUser, id: &str) -> Result<(), CloudError> {
    let actor = &admin.authed().user;
    if id == actor.id {
        return Err(CloudError::Validation(
            "you cannot delete your own account".into(),
        ));
    }
    let now = state.now();
    let mut tx = state.db.pool.begin().await?;
    let seq = next_change_seq(&mut tx, &actor.company_id).await?;
    let target = match db::users::user_in(&mut tx, id).await? {
        Some(user) if user.company_id == actor.company_id => user,
        _ => return Err(CloudError::Forbidden),
    };
    if target.role == Role::Admin && target.status == UserStatus::Active {
        ensure_another_active_admin(&mut tx, &target).await?;
    }
    db::users::mark_deleted(&mut tx, &target.id, now, seq).await?;
    security::end_sessions(&mut tx, Scope::User(&target.id), now, None).await?;
    let event = Event::about(kinds::USER_DELETED, actor, &target, String::new());
    audit::record_in(&mut tx, now, event).await?;
    tx.commit().await?;
    tracing::info!(user_id = %target.id, actor = %actor.id, "user deleted");
    Ok(())
}

/// The operator's way back in for a locked-out company (`secureclose-cloud
/// user unlock`): clears the account's failure counters (lifting a lock after
/// 100 failures and any delay), ends its sessions, grants and attempts like
/// every unlock, and audits it. The status stays as it is: a disabled user
/// is re-activated by an admin. Returns the user as now stored.
pub async fn unlock_by_operator(
    db: &Db,
    email: &str,
    company: Option<&str>,
) -> Result<User, CloudError> {
    let email = normalize_email(email);
    let mut accounts = Vec::new();
    for credentials in db::users::credentials_by_email(db, &email, None).await? {
        let user = credentials.user;
        let of_company = match company {
            None => true,
            Some(wanted) => {
                let company = db::companies::company_of(db, &user).await?;
                company.id == wanted || company.name == wanted
            }
        };
        if of_company {
            accounts.push(user);
        }
    }
    // An email is unique per company only: never guess which account is meant.
    if accounts.len() > 1 {
        return Err(CloudError::Validation(format!(
            "{} companies have an account with the email {email}: name one with --company",
            accounts.len()
        )));
    }
    let user = accounts.pop().ok_or_else(|| match company {
        None => CloudError::Validation(format!("no account has the email {email}")),
        Some(company) => CloudError::Validation(format!(
            "no account of the company {company} has the email {email}"
        )),
    })?;
    let now = clock::SystemClock.now_ms();
    let mut tx = db.pool.begin().await?;
    db::counters::clear_counters(&mut tx, &user.id).await?;
    security::end_sessions(&mut tx, Scope::User(&user.id), now, None).await?;
    let event = Event {
        kind: kinds::ACCOUNT_UNLOCKED,
        actor_user_id: None,
        subject_user_id: Some(&user.id),
        company_id: Some(&user.company_id),
        detail: "by the operator (secureclose-cloud user unlock)".into(),
    };
    audit::record_in(&mut tx, now, event).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, "account unlocked by the operator");
    Ok(user)
}
