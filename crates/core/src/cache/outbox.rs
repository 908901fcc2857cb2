//! The cache's side of offline-first sync: the outbox, pulled pages with
//! their cursor, and push results (with the notices they leave). Every
//! function that changes rows does it in ONE transaction, so a crash leaves
//! either the old or the new state (never an edit without its outbox row, nor
//! a page without its cursor).
//!
//! Invariant: cached rows = the cloud's rows + the signed-in person's pending
//! outbox edits replayed on top, in outbox order ([`rebase`]).

use std::collections::HashSet;

use secureclose_protocol::sync::{
    ChangesPage, Mutation, MutationChange, MutationOutcome, MutationResult,
};
use secureclose_protocol::{codes, Company, CompanyUpdate, User, UserUpdate};
use sqlx::Row;

use super::company::{company_in, upsert_company};
use super::users::{upsert_user, upsert_users, user_in};
use super::{now_millis, write_tx, Cache, Tx};
use crate::error::{desktop_codes, CoreError};
use crate::outbox::{company_edit, user_edit, Edit};
use secureclose_protocol::rules::{apply_company_changes, apply_user_changes};

/// Subject of notices about the company profile.
pub const COMPANY_SUBJECT: &str = "Company profile";
pub(super) const CURSOR_KEY: &str = "sync_cursor";

/// One queued edit, as the push sends it.
#[derive(Debug, Clone)]
pub struct OutboxEntry {
    pub seq: i64,
    pub subject: String,
    pub mutation: Mutation,
}

/// Which cached rows a write touched, for [`rebase`].
#[derive(Default)]
struct Touched {
    users: HashSet<String>,
    company: bool,
}

impl Cache {
    /// Queues an admin's edit of a user: the optimistic row and its outbox
    /// row in one transaction. Returns the row as the person now sees it and
    /// whether anything was queued (an edit that changes nothing is not).
    pub async fn enqueue_user_edit(
        &self,
        actor: &str,
        company_id: &str,
        user_id: &str,
        update: &UserUpdate,
        idempotency_key: &str,
    ) -> Result<(User, bool), CoreError> {
        let mut tx = write_tx(&self.pool).await?;
        let mut user = user_in(&mut tx, user_id)
            .await?
            .filter(|u| u.company_id == company_id)
            .ok_or_else(gone)?;
        if user.security_withheld {
            // Its phone and 2FA here are blanks, not values: an edit based
            // on them would be judged and merged against what is not there.
            return Err(CoreError::Refused {
                code: desktop_codes::USER_NOT_DOWNLOADED,
                message: "This user's details are still being downloaded to this computer. \
                          Try again once the sync has finished."
                    .into(),
                retry_at: None,
            });
        }
        let company = company_in(&mut tx, company_id).await?.ok_or_else(gone)?;
        let Some(Edit { changes, base }) = user_edit(&user, &company, update)? else {
            return Ok((user, false));
        };
        #[cfg(feature = "test-drop-one-edit")]
        if crate::defect::drop_this_edit(&changes) {
            // The deliberate defect (see `defect`): acknowledge, write nothing.
            apply_user_changes(&mut user, &changes);
            return Ok((user, true));
        }
        let mutation = Mutation {
            idempotency_key: idempotency_key.to_owned(),
            base_version: user.version,
            change: MutationChange::UpdateUser {
                user_id: user_id.to_owned(),
                changes: changes.clone(),
                base,
            },
        };
        let subject = user.display_name.clone();
        insert_outbox(
            &mut tx, actor, company_id, "user", user_id, &subject, &mutation,
        )
        .await?;
        apply_user_changes(&mut user, &changes);
        upsert_user(&mut tx, &user).await?;
        tx.commit().await?;
        Ok((user, true))
    }

    /// As [`Cache::enqueue_user_edit`], for the company profile.
    pub async fn enqueue_company_edit(
        &self,
        actor: &str,
        company_id: &str,
        update: &CompanyUpdate,
        idempotency_key: &str,
    ) -> Result<(Company, bool), CoreError> {
        let mut tx = write_tx(&self.pool).await?;
        let mut company = company_in(&mut tx, company_id).await?.ok_or_else(gone)?;
        let Some(Edit { changes, base }) = company_edit(&company, update)? else {
            return Ok((company, false));
        };
        let mutation = Mutation {
            idempotency_key: idempotency_key.to_owned(),
            base_version: company.version,
            change: MutationChange::UpdateCompany {
                changes: changes.clone(),
                base,
            },
        };
        insert_outbox(
            &mut tx,
            actor,
            company_id,
            "company",
            company_id,
            COMPANY_SUBJECT,
            &mutation,
        )
        .await?;
        apply_company_changes(&mut company, &changes);
        upsert_company(&mut tx, &company).await?;
        tx.commit().await?;
        Ok((company, true))
    }

    /// The oldest `limit` edits `actor` made for `company_id`, in order.
    pub async fn outbox_batch(
        &self,
        actor: &str,
        company_id: &str,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, CoreError> {
        let rows = sqlx::query(
            "SELECT seq, subject, mutation_json FROM outbox \
             WHERE actor_user_id = ?1 AND company_id = ?2 ORDER BY seq LIMIT ?3",
        )
        .bind(actor)
        .bind(company_id)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(OutboxEntry {
                    seq: row.get(0),
                    subject: row.get(1),
                    mutation: parse_mutation(&row.get::<String, _>(2))?,
                })
            })
            .collect()
    }

    /// Edits of `actor` not yet acknowledged by the cloud.
    pub async fn pending_edits(&self, actor: &str) -> Result<u32, CoreError> {
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE actor_user_id = ?1")
            .bind(actor)
            .fetch_one(&self.pool)
            .await?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    /// A push that got no answer: the rows stay (their keys make the retry
    /// safe); the attempt is counted for diagnosis.
    pub async fn note_push_failure(
        &self,
        entries: &[OutboxEntry],
        error: &str,
    ) -> Result<(), CoreError> {
        let mut tx = write_tx(&self.pool).await?;
        for entry in entries {
            sqlx::query(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?1 WHERE seq = ?2",
            )
            .bind(error)
            .bind(entry.seq)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Stores the cloud's answers to a push, in one transaction: each
    /// answered edit leaves the outbox; the entity the cloud returned is
    /// stored; a refused edit without an entity is undone with its base
    /// values; a refusal becomes a notice unless its key is in `seen`
    /// (someone is waiting for it and shows it); then the still-pending edits
    /// are replayed over what changed.
    pub async fn apply_push_results(
        &self,
        actor: &str,
        company_id: &str,
        entries: &[OutboxEntry],
        results: &[MutationResult],
        seen: &HashSet<String>,
    ) -> Result<(), CoreError> {
        let mut tx = write_tx(&self.pool).await?;
        let mut touched = Touched::default();
        let now = now_millis();
        for result in results {
            let Some(entry) = entries
                .iter()
                .find(|e| e.mutation.idempotency_key == result.idempotency_key)
            else {
                tracing::warn!("the cloud answered a mutation that was not sent; ignored");
                continue;
            };
            sqlx::query("DELETE FROM outbox WHERE seq = ?1")
                .bind(entry.seq)
                .execute(&mut *tx)
                .await?;
            let refused = match &result.outcome {
                MutationOutcome::Applied { .. } => None,
                MutationOutcome::Rejected { error } => {
                    Some((error.code.clone(), error.message.clone()))
                }
                MutationOutcome::Conflict { message, .. } => {
                    Some((codes::CONFLICT.to_owned(), message.clone()))
                }
            };
            match &entry.mutation.change {
                MutationChange::UpdateUser { user_id, base, .. } => {
                    touched.users.insert(user_id.clone());
                    match result.user.as_ref().filter(|u| u.company_id == company_id) {
                        Some(user) => upsert_user(&mut tx, user).await?,
                        None if refused.is_some() => {
                            if let Some(mut user) = user_in(&mut tx, user_id).await? {
                                apply_user_changes(&mut user, base);
                                upsert_user(&mut tx, &user).await?;
                            }
                        }
                        None => {}
                    }
                }
                MutationChange::UpdateCompany { base, .. } => {
                    touched.company = true;
                    match result.company.as_ref().filter(|c| c.id == company_id) {
                        Some(company) => upsert_company(&mut tx, company).await?,
                        None if refused.is_some() => {
                            if let Some(mut company) = company_in(&mut tx, company_id).await? {
                                apply_company_changes(&mut company, base);
                                upsert_company(&mut tx, &company).await?;
                            }
                        }
                        None => {}
                    }
                }
            }
            if let Some((code, message)) = refused {
                if !seen.contains(&result.idempotency_key) {
                    sqlx::query(
                        "INSERT INTO sync_notices (subject, code, message, at, owner_user_id) \
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                    )
                    .bind(&entry.subject)
                    .bind(&code)
                    .bind(&message)
                    .bind(now)
                    .bind(actor)
                    .execute(&mut *tx)
                    .await?;
                }
                tracing::info!(%code, "the cloud refused a queued edit; rolled back");
            }
        }
        rebase(&mut tx, actor, Some(&touched)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Applies one pulled page and its cursor in one transaction. Returns
    /// true when `actor` was deleted on the cloud: their own row is kept
    /// (the session references it) and the caller signs them out.
    pub async fn apply_changes_page(
        &self,
        actor: &str,
        company_id: &str,
        page: &ChangesPage,
    ) -> Result<bool, CoreError> {
        let mut tx = write_tx(&self.pool).await?;
        let mut touched = Touched::default();
        if let Some(company) = page.company.as_ref().filter(|c| c.id == company_id) {
            upsert_company(&mut tx, company).await?;
            touched.company = true;
        }
        let users: Vec<&User> = page
            .users
            .iter()
            .filter(|u| u.company_id == company_id)
            .collect();
        upsert_users(&mut tx, &users).await?;
        touched.users.extend(users.iter().map(|u| u.id.clone()));
        let mut self_removed = false;
        for id in &page.removed_user_ids {
            if id == actor {
                self_removed = true;
                continue;
            }
            sqlx::query("DELETE FROM users WHERE id = ?1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            // A deleted user loses offline access on this computer too.
            sqlx::query("DELETE FROM offline_credentials WHERE user_id = ?1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        set_meta(&mut tx, CURSOR_KEY, &page.cursor.to_string()).await?;
        set_meta(&mut tx, "last_synced_at", &now_millis().to_string()).await?;
        rebase(&mut tx, actor, Some(&touched)).await?;
        tx.commit().await?;
        Ok(self_removed)
    }

    /// Where the next pull starts (0: everything).
    pub async fn sync_cursor(&self) -> Result<i64, CoreError> {
        let value: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = ?1")
            .bind(CURSOR_KEY)
            .fetch_optional(&self.pool)
            .await?;
        Ok(value.and_then(|v| v.parse().ok()).unwrap_or(0))
    }
}

/// Called by the sign-in writes inside their transaction: a cursor belongs to
/// one company, so a login to another one pulls from 0. True when the cache
/// already holds this company.
pub(super) async fn forget_cursor_unless(
    tx: &mut Tx<'_>,
    company_id: &str,
) -> Result<bool, CoreError> {
    let cached: Option<String> = sqlx::query_scalar("SELECT id FROM company LIMIT 1")
        .fetch_optional(&mut **tx)
        .await?;
    let same_company = cached.as_deref() == Some(company_id);
    if !same_company {
        sqlx::query("DELETE FROM meta WHERE key = ?1")
            .bind(CURSOR_KEY)
            .execute(&mut **tx)
            .await?;
    }
    Ok(same_company)
}

/// Replays every pending outbox edit of `actor` (in order) onto the cached
/// rows in `touched` (all rows when `None`), so an edit not yet
/// acknowledged survives a row the cloud just sent.
pub(super) async fn rebase_all(tx: &mut Tx<'_>, actor: &str) -> Result<(), CoreError> {
    rebase(tx, actor, None).await
}

async fn rebase(tx: &mut Tx<'_>, actor: &str, touched: Option<&Touched>) -> Result<(), CoreError> {
    if touched.is_some_and(|t| t.users.is_empty() && !t.company) {
        return Ok(());
    }
    let rows = sqlx::query(
        "SELECT company_id, mutation_json FROM outbox WHERE actor_user_id = ?1 ORDER BY seq",
    )
    .bind(actor)
    .fetch_all(&mut **tx)
    .await?;
    for row in rows {
        let company_id: String = row.get(0);
        match parse_mutation(&row.get::<String, _>(1))?.change {
            MutationChange::UpdateUser {
                user_id, changes, ..
            } => {
                if touched.is_some_and(|t| !t.users.contains(&user_id)) {
                    continue;
                }
                if let Some(mut user) = user_in(tx, &user_id).await? {
                    apply_user_changes(&mut user, &changes);
                    upsert_user(tx, &user).await?;
                }
            }
            MutationChange::UpdateCompany { changes, .. } => {
                if touched.is_some_and(|t| !t.company) {
                    continue;
                }
                if let Some(mut company) = company_in(tx, &company_id).await? {
                    apply_company_changes(&mut company, &changes);
                    upsert_company(tx, &company).await?;
                }
            }
        }
    }
    Ok(())
}

async fn insert_outbox(
    tx: &mut Tx<'_>,
    actor: &str,
    company_id: &str,
    kind: &str,
    entity_id: &str,
    subject: &str,
    mutation: &Mutation,
) -> Result<(), CoreError> {
    let json =
        serde_json::to_string(mutation).map_err(|err| CoreError::Io(std::io::Error::other(err)))?;
    sqlx::query(
        "INSERT INTO outbox (idempotency_key, actor_user_id, company_id, entity_kind, entity_id, \
         subject, base_version, mutation_json, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .bind(&mutation.idempotency_key)
    .bind(actor)
    .bind(company_id)
    .bind(kind)
    .bind(entity_id)
    .bind(subject)
    .bind(mutation.base_version)
    .bind(json)
    .bind(now_millis())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(super) async fn set_meta(tx: &mut Tx<'_>, key: &str, value: &str) -> Result<(), CoreError> {
    sqlx::query(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(value)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn parse_mutation(json: &str) -> Result<Mutation, CoreError> {
    serde_json::from_str(json).map_err(|err| {
        CoreError::Cache(sqlx::Error::Decode(
            format!("unreadable outbox row: {err}").into(),
        ))
    })
}

fn gone() -> CoreError {
    CoreError::Refused {
        code: codes::NOT_FOUND,
        message: "This record is no longer in your company's data. Sync and try again.".into(),
        retry_at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::tests::{company, seeded, session, user};
    use crate::cache::SessionMeta;
    use crate::keystore::tests::MemoryKeyStore;
    use crate::sensitive::Sensitive;
    use secureclose_protocol::ApiError;

    fn name(new: &str) -> UserUpdate {
        UserUpdate {
            display_name: Some(new.into()),
            ..UserUpdate::default()
        }
    }

    fn page(users: Vec<User>, removed: Vec<&str>, cursor: i64) -> ChangesPage {
        ChangesPage {
            company: None,
            users,
            removed_user_ids: removed.into_iter().map(str::to_owned).collect(),
            cursor,
            has_more: false,
        }
    }

    #[tokio::test]
    async fn an_edit_and_its_outbox_row_are_written_together_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let cache = seeded(dir.path(), &MemoryKeyStore::default()).await;
        let before = cache.user("u2").await.unwrap().unwrap();
        let (shown, queued) = cache
            .enqueue_user_edit("u1", "c1", "u2", &name("Robert Builder"), "k1")
            .await
            .unwrap();
        assert!(queued);
        assert_eq!(shown.display_name, "Robert Builder");
        assert_eq!(
            cache.user("u2").await.unwrap().unwrap(),
            shown,
            "the cache shows it at once"
        );
        let batch = cache.outbox_batch("u1", "c1", 10).await.unwrap();
        assert_eq!(batch.len(), 1);
        assert_eq!(
            batch[0].subject, "bob Builder",
            "the notice names the user as they were"
        );
        assert_eq!(batch[0].mutation.base_version, before.version);
        match &batch[0].mutation.change {
            MutationChange::UpdateUser {
                user_id,
                changes,
                base,
            } => {
                assert_eq!(user_id, "u2");
                assert_eq!(changes, &name("Robert Builder"));
                assert_eq!(
                    base,
                    &name("bob Builder"),
                    "base = the cached value of the changed field"
                );
            }
            other => panic!("a user edit was queued as {other:?}"),
        }

        let invalid = UserUpdate {
            mobile_phone: Some(Some("12ab".into())),
            ..UserUpdate::default()
        };
        let err = cache
            .enqueue_user_edit("u1", "c1", "u2", &invalid, "k2")
            .await
            .unwrap_err();
        assert_eq!(err.code(), codes::INVALID_PHONE);
        assert_eq!(
            cache.pending_edits("u1").await.unwrap(),
            1,
            "nothing written for an invalid edit"
        );
        assert_eq!(cache.user("u2").await.unwrap().unwrap(), shown);

        let (_, queued) = cache
            .enqueue_user_edit("u1", "c1", "u2", &name("Robert Builder"), "k3")
            .await
            .unwrap();
        assert!(!queued, "an edit that changes nothing is not queued");
        assert_eq!(
            cache.pending_edits("u2").await.unwrap(),
            0,
            "rows belong to their actor"
        );
        let err = cache
            .enqueue_user_edit("u1", "other-company", "u2", &name("x"), "k4")
            .await
            .unwrap_err();
        assert_eq!(
            err.code(),
            codes::NOT_FOUND,
            "only the signed-in company's users"
        );
    }

    #[tokio::test]
    async fn withheld_rows_refuse_edits_and_make_the_next_admin_pull_start_over() {
        let dir = tempfile::tempdir().unwrap();
        let cache = seeded(dir.path(), &MemoryKeyStore::default()).await;
        let mut withheld = user("u2", "bob Builder", "bob@desertmotors.example");
        secureclose_protocol::rules::withhold_security(&mut withheld);
        withheld.version = 2;
        cache
            .apply_changes_page("u1", "c1", &page(vec![withheld.clone()], vec![], 42))
            .await
            .unwrap();
        let err = cache
            .enqueue_user_edit("u1", "c1", "u2", &name("Robert Builder"), "k1")
            .await
            .unwrap_err();
        assert_eq!(
            err.code(),
            desktop_codes::USER_NOT_DOWNLOADED,
            "an edit must not start from blanks the cloud withheld: {err:?}"
        );
        assert_eq!(
            cache.pending_edits("u1").await.unwrap(),
            0,
            "nothing queued"
        );
        assert_eq!(
            cache.user("u2").await.unwrap().unwrap(),
            withheld,
            "nothing changed"
        );

        assert!(cache.restart_pull_if_rows_withheld().await.unwrap());
        assert_eq!(
            cache.sync_cursor().await.unwrap(),
            0,
            "the admin's pull starts over"
        );
        // A re-pull interrupted after its first page resumes from that page.
        cache
            .apply_changes_page(
                "u1",
                "c1",
                &page(vec![user("u3", "C", "c@x.example")], vec![], 7),
            )
            .await
            .unwrap();
        assert!(
            !cache.restart_pull_if_rows_withheld().await.unwrap(),
            "full rows set no marker, so the re-pull is not restarted again"
        );
        assert_eq!(cache.sync_cursor().await.unwrap(), 7);
    }

    #[tokio::test]
    async fn pulled_rows_keep_pending_edits_on_top_and_move_the_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let cache = seeded(dir.path(), &MemoryKeyStore::default()).await;
        cache
            .enqueue_user_edit("u1", "c1", "u2", &name("Robert Builder"), "k1")
            .await
            .unwrap();
        // Someone else turned Bob's 2FA off on the cloud meanwhile.
        let mut from_cloud = user("u2", "bob Builder", "bob@desertmotors.example");
        from_cloud.two_factor_enabled = false;
        from_cloud.version = 2;
        let removed_self = cache
            .apply_changes_page("u1", "c1", &page(vec![from_cloud.clone()], vec!["u3"], 42))
            .await
            .unwrap();
        assert!(!removed_self);
        let now = cache.user("u2").await.unwrap().unwrap();
        assert_eq!(
            now.display_name, "Robert Builder",
            "the pending edit stays visible"
        );
        assert!(
            !now.two_factor_enabled,
            "the cloud's change to another field is taken"
        );
        assert_eq!(now.version, 2, "the row sits on the cloud's version");
        assert_eq!(
            cache.sync_cursor().await.unwrap(),
            42,
            "the cursor moves with its page"
        );
        assert_eq!(
            cache.user("u3").await.unwrap(),
            None,
            "a tombstone deletes the row"
        );

        let removed_self = cache
            .apply_changes_page("u1", "c1", &page(vec![], vec!["u1"], 43))
            .await
            .unwrap();
        assert!(removed_self, "the caller must sign the deleted user out");
        assert!(
            cache.user("u1").await.unwrap().is_some(),
            "the signed-in user's row stays for the rest of the session"
        );

        // A fresh login (same company) keeps the queued edit visible too.
        cache
            .store_login(
                &company(),
                &[user("u1", "Alice", "a@x.example"), from_cloud],
                &session(),
            )
            .await
            .unwrap();
        assert_eq!(
            cache.user("u2").await.unwrap().unwrap().display_name,
            "Robert Builder"
        );
        assert_eq!(
            cache.sync_cursor().await.unwrap(),
            43,
            "same company: the cursor stays"
        );
        let mut other = company();
        other.id = "c2".into();
        let mut alice = user("u1", "Alice", "a@x.example");
        alice.company_id = "c2".into();
        cache
            .store_login(
                &other,
                &[alice],
                &SessionMeta {
                    company_id: "c2".into(),
                    ..session()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            cache.sync_cursor().await.unwrap(),
            0,
            "another company pulls from 0"
        );
    }

    #[tokio::test]
    async fn push_results_store_the_cloud_row_roll_back_refusals_and_leave_notices() {
        let dir = tempfile::tempdir().unwrap();
        let cache = seeded(dir.path(), &MemoryKeyStore::default()).await;
        cache
            .enqueue_user_edit("u1", "c1", "u2", &name("Robert Builder"), "k1")
            .await
            .unwrap();
        let off = UserUpdate {
            two_factor_enabled: Some(false),
            ..UserUpdate::default()
        };
        cache
            .enqueue_user_edit("u1", "c1", "u3", &off, "k2")
            .await
            .unwrap();
        cache
            .enqueue_user_edit("u1", "c1", "u4", &off, "k3")
            .await
            .unwrap();
        cache
            .enqueue_user_edit("u1", "c1", "u2", &name("Rob B."), "k4")
            .await
            .unwrap();
        let batch = cache.outbox_batch("u1", "c1", 3).await.unwrap();
        assert_eq!(batch.len(), 3, "the batch respects its limit, in order");

        let mut applied = user("u2", "Robert Builder", "bob@desertmotors.example");
        applied.version = 2;
        let refused = ApiError::new(codes::FORBIDDEN, "Only an admin can do this.");
        let results = vec![
            MutationResult {
                idempotency_key: "k1".into(),
                outcome: MutationOutcome::Applied { version: 2 },
                user: Some(applied),
                company: None,
            },
            // Refused without the entity: undone with its base values.
            MutationResult {
                idempotency_key: "k2".into(),
                outcome: MutationOutcome::Rejected {
                    error: refused.clone(),
                },
                user: None,
                company: None,
            },
            MutationResult {
                idempotency_key: "k3".into(),
                outcome: MutationOutcome::Conflict {
                    fields: vec!["two_factor_enabled".into()],
                    message: "Changed meanwhile.".into(),
                },
                user: None,
                company: None,
            },
        ];
        let seen: HashSet<String> = ["k3".to_owned()].into();
        cache
            .apply_push_results("u1", "c1", &batch, &results, &seen)
            .await
            .unwrap();
        assert_eq!(
            cache.pending_edits("u1").await.unwrap(),
            1,
            "answered edits leave the outbox"
        );
        let bob = cache.user("u2").await.unwrap().unwrap();
        assert_eq!(
            (bob.display_name.as_str(), bob.version),
            ("Rob B.", 2),
            "the cloud's row with the still-pending edit replayed on top"
        );
        assert!(
            cache.user("u3").await.unwrap().unwrap().two_factor_enabled,
            "refused: rolled back"
        );
        assert!(
            cache.user("u4").await.unwrap().unwrap().two_factor_enabled,
            "conflict: rolled back"
        );
        let notices = cache.notices("u1").await.unwrap();
        assert_eq!(
            notices.len(),
            1,
            "a refusal someone was shown needs no notice: {notices:?}"
        );
        assert_eq!(
            (
                notices[0].subject.as_str(),
                notices[0].code.as_str(),
                notices[0].message.as_str()
            ),
            (
                "Carol Finance",
                codes::FORBIDDEN,
                "Only an admin can do this."
            )
        );
        // Finding 9: the next person at this computer neither sees nor
        // dismisses it.
        assert!(cache.notices("u2").await.unwrap().is_empty());
        let err = cache.dismiss_notice("u2", notices[0].id).await.unwrap_err();
        assert_eq!(err.code(), codes::NOT_FOUND, "{err:?}");
        assert_eq!(cache.notices("u1").await.unwrap().len(), 1, "still there");
        cache.dismiss_notice("u1", notices[0].id).await.unwrap();
        assert!(cache.notices("u1").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn offline_credentials_keep_the_last_code_time_and_count_failures() {
        let dir = tempfile::tempdir().unwrap();
        let cache = seeded(dir.path(), &MemoryKeyStore::default()).await;
        let verifier = Sensitive::new("$argon2id$v=19$fake".to_owned());
        cache
            .save_offline_credential(
                "u2",
                "bob@desertmotors.example",
                "c1",
                &verifier,
                10,
                Some(10),
            )
            .await
            .unwrap();
        assert_eq!(cache.record_offline_failure("u2", 11).await.unwrap(), 1);
        cache
            .save_offline_credential("u2", "bob@desertmotors.example", "c1", &verifier, 20, None)
            .await
            .unwrap();
        let credential = cache
            .offline_credential("BOB@desertmotors.example")
            .await
            .unwrap()
            .expect("emails match in any case");
        assert_eq!(
            credential.last_second_factor_at,
            Some(10),
            "a password-only sign-in keeps the last code's time"
        );
        assert_eq!(credential.failures, 0, "an online sign-in clears the count");
        assert_eq!(credential.last_online_login_at, 20);
        cache
            .save_offline_credential("u9", "bob@desertmotors.example", "c1", &verifier, 30, None)
            .await
            .unwrap();
        assert_eq!(
            cache
                .offline_credential("bob@desertmotors.example")
                .await
                .unwrap()
                .unwrap()
                .user_id,
            "u9",
            "an email that moved to another account belongs to that account only"
        );
    }
}
