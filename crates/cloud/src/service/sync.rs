//! Offline-first sync: pull pages of changes, push an outbox of mutations.
//! Pull: rows with `since < change_seq <= last_change_seq` in seq order (see
//! `db::companies::next_change_seq`). Push: per mutation, idempotency key
//! first, then the field-level three-way merge (`service::merge`), then the
//! admin edit rules of `service::users`, all in one transaction.

use secureclose_protocol::sync::{
    ChangesPage, ChangesQuery, Mutation, MutationChange, MutationOutcome, MutationResult,
    PushRequest, PushResponse, DEFAULT_PAGE_ROWS, MAX_PAGE_ROWS, MAX_PUSH_MUTATIONS,
};
use secureclose_protocol::{rules, Role, User};

use super::merge;
use super::notice;
use super::sessions::AuthedUser;
use super::users::{apply_company_update, apply_user_update, Applied, Base, Edited};
use crate::db;
use crate::error::CloudError;
use crate::state::AppState;

/// Body limit of a push: MAX_PUSH_MUTATIONS edits of up to ~2 KiB each.
pub const MAX_PUSH_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Longest idempotency key accepted (clients send UUIDs).
const MAX_KEY_CHARS: usize = 128;

/// Changes of the caller's company after `since`, in change order: users
/// changed (disabled ones included), ids of deleted users, and the company
/// when it changed. Any signed-in user may pull: every desktop caches its
/// company. Answered gzip-compressed when the client accepts it.
pub async fn changes(
    state: &AppState,
    authed: &AuthedUser,
    query: &ChangesQuery,
) -> Result<ChangesPage, CloudError> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE_ROWS);
    if !(1..=MAX_PAGE_ROWS).contains(&limit) {
        return Err(CloudError::Validation(format!(
            "limit must be 1 to {MAX_PAGE_ROWS}"
        )));
    }
    if query.since < 0 {
        return Err(CloudError::Validation(
            "since must be 0 (everything) or the cursor of an earlier pull".into(),
        ));
    }
    let since = query.since;
    let db = &state.db;
    // Read the sequence first: every number up to it is committed (see
    // db::companies::next_change_seq), so rows stamped later are simply left for the next pull.
    let seqs = db::companies::company_seqs(db, &authed.user.company_id)
        .await?
        .ok_or_else(|| CloudError::Internal("company of the caller missing".into()))?;
    let upto = seqs.last_change_seq;
    let mut rows =
        db::users::users_changed(db, &seqs.company.id, since, upto, i64::from(limit) + 1).await?;
    let has_more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let cursor = if has_more {
        rows.last().map_or(since, |row| row.change_seq)
    } else {
        upto.max(since)
    };
    let company = (seqs.change_seq > since && seqs.change_seq <= cursor).then_some(seqs.company);
    let mut users = Vec::with_capacity(rows.len());
    let mut removed_user_ids = Vec::new();
    for row in rows {
        let id = row.user.id.clone();
        // A colleague a non-admin may not see (disabled) is, to them, removed.
        match (!row.deleted)
            .then(|| rules::as_seen_by(&authed.user, row.user))
            .flatten()
        {
            Some(user) => users.push(user),
            None => removed_user_ids.push(id),
        }
    }
    Ok(ChangesPage {
        company,
        users,
        removed_user_ids,
        cursor,
        has_more,
    })
}

/// Applies a desktop's offline edits, each in its own transaction, in order.
/// Per mutation: a key seen before answers with its first result (nothing
/// changes); otherwise each changed field is merged three-way against its
/// `base` (anyone else's newer value makes the whole mutation a `conflict`),
/// then the admin edit rules apply exactly as for PATCH (`rejected` with
/// their code). Security fields therefore never regress from a stale client.
pub async fn push(
    state: &AppState,
    authed: &AuthedUser,
    request: PushRequest,
) -> Result<PushResponse, CloudError> {
    if request.mutations.len() > MAX_PUSH_MUTATIONS {
        return Err(CloudError::Validation(format!(
            "at most {MAX_PUSH_MUTATIONS} mutations per push"
        )));
    }
    let mut results = Vec::with_capacity(request.mutations.len());
    for mutation in request.mutations {
        results.push(push_one(state, authed, mutation).await?);
    }
    Ok(PushResponse { results })
}

fn rejected(key: String, error: &CloudError) -> MutationResult {
    MutationResult {
        idempotency_key: key,
        outcome: MutationOutcome::Rejected {
            error: error.to_api_error(),
        },
        user: None,
        company: None,
    }
}

/// The entity the mutation is about, as it is now (what the client stores).
async fn with_entity(
    state: &AppState,
    actor: &User,
    change: &MutationChange,
    mut result: MutationResult,
) -> Result<MutationResult, CloudError> {
    match change {
        MutationChange::UpdateUser { user_id, .. } => {
            result.user = db::users::user_by_id(&state.db, user_id)
                .await?
                .filter(|user| user.company_id == actor.company_id)
                .and_then(|user| rules::as_seen_by(actor, user));
        }
        MutationChange::UpdateCompany { .. } => {
            result.company = db::companies::company_by_id(&state.db, &actor.company_id).await?;
        }
    }
    Ok(result)
}

async fn push_one(
    state: &AppState,
    authed: &AuthedUser,
    mutation: Mutation,
) -> Result<MutationResult, CloudError> {
    let actor = &authed.user;
    let Mutation {
        idempotency_key: key,
        base_version,
        change,
    } = mutation;
    // Authorization per mutation; a refusal writes nothing (not even the key:
    // a non-admin cannot occupy keys of the company's admins).
    if actor.role != Role::Admin {
        return with_entity(state, actor, &change, rejected(key, &CloudError::Forbidden)).await;
    }
    if key.trim().is_empty() || key.chars().count() > MAX_KEY_CHARS {
        let error = CloudError::Validation(format!(
            "the idempotency key must be 1 to {MAX_KEY_CHARS} characters"
        ));
        return with_entity(state, actor, &change, rejected(key, &error)).await;
    }
    let company_id = actor.company_id.as_str();
    let mut conn = state.db.pool.acquire().await?;
    if let Some(stored) = db::mutations::stored_result(&mut conn, company_id, &key).await? {
        drop(conn);
        return with_entity(state, actor, &change, stored).await;
    }
    drop(conn);

    let now = state.now();
    let mut tx = state.db.pool.begin().await?;
    let mut notices = Vec::new();
    let applied = match &change {
        MutationChange::UpdateUser {
            user_id,
            changes,
            base,
        } => {
            let base = Base {
                values: base,
                version: base_version,
            };
            apply_user_update(&mut tx, authed, now, user_id, changes, Some(base))
                .await
                .map(|applied| match applied {
                    Applied::Done(Edited { user, notice }) => {
                        notices.extend(notice);
                        Applied::Done(user.version)
                    }
                    Applied::Conflict(fields) => Applied::Conflict(fields),
                })
        }
        MutationChange::UpdateCompany { changes, base } => {
            let base = Base {
                values: base,
                version: base_version,
            };
            apply_company_update(&mut tx, authed, now, changes, Some(base))
                .await
                .map(|applied| match applied {
                    Applied::Done(company) => Applied::Done(company.version),
                    Applied::Conflict(fields) => Applied::Conflict(fields),
                })
        }
    };
    let outcome = match applied {
        Ok(Applied::Done(version)) => MutationOutcome::Applied { version },
        Ok(Applied::Conflict(fields)) => MutationOutcome::Conflict {
            message: merge::conflict_message(&fields),
            fields,
        },
        // A server fault is not the mutation's fault: the whole push fails
        // and the client retries it later (the key keeps that safe).
        Err(error) if error.is_internal() => return Err(error),
        Err(error) => MutationOutcome::Rejected {
            error: error.to_api_error(),
        },
    };
    if !matches!(outcome, MutationOutcome::Applied { .. }) {
        // Nothing of a refused mutation stays; only its result is recorded.
        tx.rollback().await?;
        tx = state.db.pool.begin().await?;
    }
    let result = MutationResult {
        idempotency_key: key,
        outcome,
        user: None,
        company: None,
    };
    let result = if db::mutations::store_result(&mut tx, company_id, &result, now).await? {
        tx.commit().await?;
        // Only a committed edit is told about (a rolled-back one changed nothing).
        for notice in notices {
            notice::send(state, actor, notice).await;
        }
        result
    } else {
        // A concurrent copy of this key committed first: undo ours, answer with its result.
        tx.rollback().await?;
        let mut conn = state.db.pool.acquire().await?;
        db::mutations::stored_result(&mut conn, company_id, &result.idempotency_key)
            .await?
            .ok_or_else(|| CloudError::Internal("stored mutation result vanished".into()))?
    };
    with_entity(state, actor, &change, result).await
}
