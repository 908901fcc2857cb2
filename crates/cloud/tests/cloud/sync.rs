//! Offline-first sync: pull pages by change cursor, push of idempotent
//! mutations with the field-level merge, soft delete, device grants and
//! /login/resume.

use std::time::Duration;

use reqwest::StatusCode;
use secureclose_protocol::sync::{
    ChangesPage, Mutation, MutationChange, MutationOutcome, MutationResult, PushResponse,
    MAX_PUSH_MUTATIONS,
};
use secureclose_protocol::{
    codes, CompanyUpdate, LoginResponse, Role, SessionGrant, User, UserStatus, UserUpdate,
    UsersResponse,
};

use crate::support::{
    expect_error, Backend, TestCloud, EMILY, LUCIA, LUCIA_PHONE, MARCUS, MARCUS_PHONE, PRIYA, TOM,
};

/// Users of the demo company (its company row comes on top).
const DESERT_SUN_USERS: usize = 9;
const HOUR: Duration = Duration::from_secs(3600);

async fn pull_raw(t: &TestCloud, token: &str, query: &str) -> reqwest::Response {
    t.get(&format!("/api/v1/sync/changes{query}"), Some(token))
        .await
}

async fn pull(t: &TestCloud, token: &str, since: i64, limit: Option<u32>) -> ChangesPage {
    let query = match limit {
        Some(limit) => format!("?since={since}&limit={limit}"),
        None => format!("?since={since}"),
    };
    let response = pull_raw(t, token, &query).await;
    assert_eq!(response.status(), StatusCode::OK, "a pull must succeed");
    response.json().await.unwrap()
}

/// Pulls every page from `since`; the pages in order.
async fn pull_all(t: &TestCloud, token: &str, since: i64, limit: u32) -> Vec<ChangesPage> {
    let mut pages = Vec::new();
    let mut cursor = since;
    loop {
        let page = pull(t, token, cursor, Some(limit)).await;
        assert!(page.cursor >= cursor, "the cursor never goes back");
        cursor = page.cursor;
        let more = page.has_more;
        pages.push(page);
        if !more {
            return pages;
        }
        assert!(pages.len() < 100, "paging must end");
    }
}

async fn push_raw(t: &TestCloud, token: &str, mutations: &[Mutation]) -> reqwest::Response {
    t.http
        .post(t.url("/api/v1/sync/push"))
        .bearer_auth(token)
        .json(&serde_json::json!({ "mutations": mutations }))
        .send()
        .await
        .unwrap()
}

pub(crate) async fn push(
    t: &TestCloud,
    token: &str,
    mutations: &[Mutation],
) -> Vec<MutationResult> {
    let response = push_raw(t, token, mutations).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "a push answers per mutation"
    );
    let body: PushResponse = response.json().await.unwrap();
    assert_eq!(
        body.results.len(),
        mutations.len(),
        "one result per mutation"
    );
    for (result, mutation) in body.results.iter().zip(mutations) {
        assert_eq!(
            result.idempotency_key, mutation.idempotency_key,
            "results come in request order"
        );
    }
    body.results
}

fn key() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub(crate) fn user_mutation(user: &User, changes: UserUpdate, base: UserUpdate) -> Mutation {
    Mutation {
        idempotency_key: key(),
        base_version: user.version,
        change: MutationChange::UpdateUser {
            user_id: user.id.clone(),
            changes,
            base,
        },
    }
}

pub(crate) async fn user(t: &TestCloud, token: &str, email: &str) -> User {
    let id = t.user_id(email).await;
    let response = t.get(&format!("/api/v1/users/{id}"), Some(token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn patch_user(t: &TestCloud, token: &str, id: &str, body: serde_json::Value) -> User {
    let response = t.patch(&format!("/api/v1/users/{id}"), token, body).await;
    assert_eq!(response.status(), StatusCode::OK, "the admin edit applies");
    response.json().await.unwrap()
}

async fn delete_user(t: &TestCloud, token: &str, id: &str) -> reqwest::Response {
    t.http
        .delete(t.url(&format!("/api/v1/users/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

fn applied_version(result: &MutationResult) -> i64 {
    match &result.outcome {
        MutationOutcome::Applied { version } => *version,
        other => panic!("the mutation must apply, got {other:?}"),
    }
}

fn rejection_code(result: &MutationResult) -> String {
    match &result.outcome {
        MutationOutcome::Rejected { error } => {
            assert!(!error.message.is_empty(), "rejections carry a message");
            error.code.clone()
        }
        other => panic!("the mutation must be rejected, got {other:?}"),
    }
}

async fn last_change_seq(t: &TestCloud, company_id: &str) -> i64 {
    sqlx::query_scalar("SELECT last_change_seq FROM companies WHERE id = $1")
        .bind(company_id)
        .fetch_one(&t.pool)
        .await
        .unwrap()
}

async fn applied_rows(t: &TestCloud) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM applied_mutations")
        .fetch_one(&t.pool)
        .await
        .unwrap()
}

async fn signed_in(response: reqwest::Response) -> (SessionGrant, User) {
    assert_eq!(response.status(), StatusCode::OK, "the sign-in succeeds");
    match response.json().await.unwrap() {
        LoginResponse::SignedIn { session, user, .. } => (session, user),
        other => panic!("expected signed_in, got {other:?}"),
    }
}

async fn resume(
    t: &TestCloud,
    email: &str,
    password: &str,
    device_token: &str,
) -> reqwest::Response {
    t.post(
        "/api/v1/login/resume",
        serde_json::json!({"email": email, "password": password, "device_token": device_token}),
    )
    .await
}

/// Signs Marcus in with password + SMS code; his grant records the factor.
async fn marcus_with_code(t: &TestCloud) -> SessionGrant {
    let challenge = t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
    let code = t.latest_code(MARCUS_PHONE).await;
    signed_in(t.verify(&challenge, &code).await).await.0
}

mod pull {
    use super::*;

    on_both_backends!(
        a_first_pull_pages_through_every_user_and_the_company_then_idles,
        limits_outside_one_to_five_thousand_are_validation_errors,
        the_sequence_grows_per_company_with_every_write,
        phone_verified_at_sign_in_is_a_change,
        deleted_users_are_tombstones_and_gone_everywhere_else,
        pages_are_gzipped_when_the_client_asks,
        new_companies_may_work_offline_for_72_hours_by_default,
        existing_rows_get_sequence_numbers_at_upgrade,
        concurrent_writers_on_two_instances_get_distinct_numbers,
        pulled_users_equal_the_directory_field_for_field,
    );

    async fn a_first_pull_pages_through_every_user_and_the_company_then_idles(backend: Backend) {
        let t = TestCloud::start(backend).await;
        // An admin's pull: every row in full (a non-admin's view is pinned
        // in security_review's non_admin_view).
        let admin = t.admin_token().await;
        let pages = pull_all(&t, &admin, 0, 4).await;
        assert_eq!(pages.len(), 3, "9 users + the company row in pages of 4");
        let users: Vec<&User> = pages.iter().flat_map(|p| &p.users).collect();
        assert_eq!(users.len(), DESERT_SUN_USERS, "every user once");
        assert!(pages[..2].iter().all(|p| p.users.len() == 4 && p.has_more));
        assert!(
            users.iter().all(|u| u.company_id == t.seed.company_id),
            "never another company's users"
        );
        assert!(
            users.iter().any(|u| u.status == UserStatus::Disabled),
            "disabled users are rows, so an admin can re-enable them"
        );
        let companies: Vec<_> = pages.iter().filter_map(|p| p.company.as_ref()).collect();
        assert_eq!(companies.len(), 1, "the company comes exactly once");
        assert_eq!(companies[0].id, t.seed.company_id);
        let cursor = pages.last().unwrap().cursor;
        assert_eq!(cursor, last_change_seq(&t, &t.seed.company_id).await);

        let idle = pull(&t, &admin, cursor, None).await;
        assert_eq!(
            idle,
            ChangesPage {
                company: None,
                users: vec![],
                removed_user_ids: vec![],
                cursor,
                has_more: false,
            },
            "an idle check is empty and keeps the cursor"
        );
        t.stop().await;
    }

    async fn limits_outside_one_to_five_thousand_are_validation_errors(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let admin = t.admin_token().await;
        for query in ["?limit=0", "?limit=5001", "?limit=abc", "?since=x"] {
            expect_error(
                pull_raw(&t, &admin, query).await,
                StatusCode::BAD_REQUEST,
                codes::VALIDATION,
            )
            .await;
        }
        let all = pull(&t, &admin, 0, Some(5000)).await;
        assert_eq!(all.users.len(), DESERT_SUN_USERS);
        assert!(!all.has_more);
        let one = pull(&t, &admin, 0, Some(1)).await;
        assert_eq!(one.users.len(), 1);
        assert!(one.has_more, "more rows wait after a full page");
        expect_error(
            pull_raw(&t, "not-a-token", "").await,
            StatusCode::UNAUTHORIZED,
            codes::UNAUTHENTICATED,
        )
        .await;
        t.stop().await;
    }

    async fn the_sequence_grows_per_company_with_every_write(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let admin = t.admin_token().await;
        let desert = t.seed.company_id.clone();
        let canyon: String = sqlx::query_scalar("SELECT id FROM companies WHERE id <> $1")
            .bind(&desert)
            .fetch_one(&t.pool)
            .await
            .unwrap();
        let canyon_before = last_change_seq(&t, &canyon).await;
        let mut cursor = pull(&t, &admin, 0, Some(5000)).await.cursor;
        let marcus_id = t.user_id(MARCUS).await;
        for name in ["Marcus A", "Marcus B", "Marcus C"] {
            patch_user(
                &t,
                &admin,
                &marcus_id,
                serde_json::json!({"display_name": name}),
            )
            .await;
            let page = pull(&t, &admin, cursor, None).await;
            assert_eq!(page.cursor, cursor + 1, "one write, one number");
            assert_eq!(page.users.len(), 1);
            assert_eq!(page.users[0].display_name, name, "the newest value");
            cursor = page.cursor;
        }
        let company = t
            .patch(
                "/api/v1/company",
                &admin,
                serde_json::json!({"name": "Desert Sun Motors LLC"}),
            )
            .await;
        assert_eq!(company.status(), StatusCode::OK);
        let page = pull(&t, &admin, cursor, None).await;
        assert_eq!(page.company.unwrap().name, "Desert Sun Motors LLC");
        assert!(page.users.is_empty());
        assert_eq!(
            last_change_seq(&t, &canyon).await,
            canyon_before,
            "another company's writes never move this company's sequence"
        );
        t.stop().await;
    }

    async fn phone_verified_at_sign_in_is_a_change(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let admin = t.admin_token().await;
        let cursor = pull(&t, &admin, 0, Some(5000)).await.cursor;
        t.enable_two_factor(LUCIA).await;
        let challenge = t.login_for_code(LUCIA, &t.password_of(LUCIA)).await;
        let code = t.latest_code(LUCIA_PHONE).await;
        signed_in(t.verify(&challenge, &code).await).await;
        let page = pull(&t, &admin, cursor, None).await;
        assert_eq!(page.users.len(), 1, "the verification is pulled");
        assert!(
            page.users[0].phone_verified_at.is_some(),
            "desktops learn that Lucia's phone is verified"
        );
        t.stop().await;
    }

    /// The database builds a pull page as JSON text (not rows, as every
    /// other read): quotes, backslashes and any Unicode in a name, absent
    /// phones and 0/1 flags must come out exactly as the directory has them.
    async fn pulled_users_equal_the_directory_field_for_field(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let admin = t.admin_token().await;
        let name = "Zo\u{eb} \"Z\" O'Brien \\ \u{674e} \u{1f697}";
        let tom_id = t.user_id(TOM).await;
        patch_user(
            &t,
            &admin,
            &tom_id,
            serde_json::json!({ "display_name": name }),
        )
        .await;
        t.enable_two_factor(LUCIA).await;
        let response = t.get("/api/v1/users", Some(&admin)).await;
        assert_eq!(response.status(), StatusCode::OK);
        let mut directory = response.json::<UsersResponse>().await.unwrap().users;
        let mut pulled: Vec<User> = pull_all(&t, &admin, 0, 3)
            .await
            .into_iter()
            .flat_map(|page| page.users)
            .collect();
        directory.sort_by(|a, b| a.id.cmp(&b.id));
        pulled.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(
            pulled, directory,
            "a desktop's cache must hold what the directory shows, field for field"
        );
        let tom = pulled.iter().find(|u| u.email == TOM).unwrap();
        assert_eq!(tom.display_name, name);
        let lucia = pulled.iter().find(|u| u.email == LUCIA).unwrap();
        assert!(lucia.two_factor_enabled, "a 1 in the database is true");
        assert!(
            pulled.iter().any(|u| !u.two_factor_enabled)
                && pulled.iter().any(|u| u.mobile_phone.is_none())
                && pulled.iter().any(|u| u.phone_verified_at.is_some()),
            "the demo has users with and without 2FA, a phone, a verification: all are compared"
        );
        t.stop().await;
    }

    async fn deleted_users_are_tombstones_and_gone_everywhere_else(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let admin = t.admin_token().await;
        let tom_token = t.login_ok(TOM, &t.password_of(TOM)).await;
        let marcus = t.login_ok(MARCUS, &t.password_of(MARCUS)).await;
        let cursor = pull(&t, &admin, 0, Some(5000)).await.cursor;
        let tom = t.user_id(TOM).await;
        expect_error(
            delete_user(&t, &marcus, &tom).await,
            StatusCode::FORBIDDEN,
            codes::FORBIDDEN,
        )
        .await;
        let admin_id = t.user_id(&t.seed.admin_email).await;
        expect_error(
            delete_user(&t, &admin, &admin_id).await,
            StatusCode::BAD_REQUEST,
            codes::VALIDATION,
        )
        .await;
        let deleted = delete_user(&t, &admin, &tom).await;
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

        let page = pull(&t, &admin, cursor, None).await;
        assert_eq!(page.removed_user_ids, vec![tom.clone()], "a tombstone");
        assert!(page.users.is_empty(), "a deleted user is not a row");
        let full = pull(&t, &admin, 0, Some(5000)).await;
        assert!(full.removed_user_ids.contains(&tom));
        assert!(full.users.iter().all(|u| u.id != tom));

        let users: serde_json::Value = t
            .get("/api/v1/users", Some(&admin))
            .await
            .json()
            .await
            .unwrap();
        assert!(
            !users.to_string().contains(&tom),
            "deleted users never appear in /users"
        );
        expect_error(
            t.get("/api/v1/me", Some(&tom_token)).await,
            StatusCode::UNAUTHORIZED,
            codes::UNAUTHENTICATED,
        )
        .await;
        expect_error(
            t.login(TOM, &t.password_of(TOM)).await,
            StatusCode::UNAUTHORIZED,
            codes::INVALID_CREDENTIALS,
        )
        .await;
        expect_error(
            delete_user(&t, &admin, &tom).await,
            StatusCode::FORBIDDEN,
            codes::FORBIDDEN,
        )
        .await;
        assert!(
            t.audit_kinds(&tom)
                .await
                .contains(&"user_deleted".to_string()),
            "deletes are audited"
        );
        t.stop().await;
    }

    async fn pages_are_gzipped_when_the_client_asks(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let admin = t.admin_token().await;
        let raw = reqwest::Client::builder().gzip(false).build().unwrap();
        let url = t.url("/api/v1/sync/changes?since=0");
        let zipped = raw
            .get(&url)
            .bearer_auth(&admin)
            .header(reqwest::header::ACCEPT_ENCODING, "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(zipped.status(), StatusCode::OK);
        assert_eq!(
            zipped
                .headers()
                .get(reqwest::header::CONTENT_ENCODING)
                .unwrap(),
            "gzip"
        );
        let zipped_len = zipped.bytes().await.unwrap();
        assert_eq!(&zipped_len[..2], &[0x1f, 0x8b], "a gzip stream");
        let plain = raw.get(&url).bearer_auth(&admin).send().await.unwrap();
        assert!(
            plain
                .headers()
                .get(reqwest::header::CONTENT_ENCODING)
                .is_none(),
            "no compression unless asked"
        );
        let plain = plain.bytes().await.unwrap();
        assert!(
            zipped_len.len() < plain.len(),
            "gzip makes the page smaller ({} vs {})",
            zipped_len.len(),
            plain.len()
        );
        let _: ChangesPage = serde_json::from_slice(&plain).unwrap();
        t.stop().await;
    }

    async fn new_companies_may_work_offline_for_72_hours_by_default(backend: Backend) {
        let t = TestCloud::start(backend).await;
        sqlx::query(
            "INSERT INTO companies (id, name, dms_kind, created_at, updated_at) \
             VALUES ('c-new', 'New Motors', 'CDK Drive', 0, 0)",
        )
        .execute(&t.pool)
        .await
        .unwrap();
        let (allowed, hours): (i64, i64) = sqlx::query_as(
            "SELECT offline_allowed, offline_max_hours FROM companies WHERE id = 'c-new'",
        )
        .fetch_one(&t.pool)
        .await
        .unwrap();
        assert_eq!((allowed, hours), (1, 72), "the contract's offline defaults");
        t.stop().await;
    }
    async fn existing_rows_get_sequence_numbers_at_upgrade(backend: Backend) {
        let db = crate::support::TestDb::new(backend).await;
        let dialect = match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        };
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(dialect);
        let mut before = sqlx::migrate::Migrator::new(dir).await.unwrap();
        before.migrations = before
            .migrations
            .iter()
            .filter(|m| m.version < 20261130000001)
            .cloned()
            .collect::<Vec<_>>()
            .into();
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
        before.run(&pool).await.unwrap();
        for statement in [
            "INSERT INTO companies (id, name, dms_kind, created_at, updated_at) \
             VALUES ('c1', 'Old Motors', 'CDK Drive', 0, 0)",
            "INSERT INTO users (id, company_id, email, display_name, role, status, password_hash, \
             updated_at, created_at) VALUES ('u1', 'c1', 'a@old.example', 'A', 'admin', 'active', 'x', 0, 0)",
            "INSERT INTO users (id, company_id, email, display_name, role, status, password_hash, \
             updated_at, created_at) VALUES ('u2', 'c1', 'b@old.example', 'B', 'user', 'active', 'x', 0, 0)",
        ] {
            sqlx::query(statement).execute(&pool).await.unwrap();
        }
        pool.close().await;

        let upgraded = secureclose_cloud::db::connect(&db.url, 2).await.unwrap();
        let seqs: Vec<i64> =
            sqlx::query_scalar("SELECT change_seq FROM users WHERE company_id = 'c1' ORDER BY id")
                .fetch_all(&upgraded.pool)
                .await
                .unwrap();
        assert_eq!(
            seqs,
            vec![1, 2],
            "existing users are pulled by a first sync"
        );
        let (company_seq, last, allowed, hours): (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT change_seq, last_change_seq, offline_allowed, offline_max_hours \
             FROM companies WHERE id = 'c1'",
        )
        .fetch_one(&upgraded.pool)
        .await
        .unwrap();
        assert_eq!(
            (company_seq, last),
            (3, 3),
            "the company row follows its users"
        );
        assert_eq!(
            (allowed, hours),
            (0, 0),
            "an existing company keeps its offline policy"
        );
        let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&upgraded.pool)
            .await
            .unwrap();
        assert_eq!(users, 2, "the upgrade keeps every user");
        upgraded.pool.close().await;
    }

    async fn concurrent_writers_on_two_instances_get_distinct_numbers(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let second = t.second_instance().await;
        let dana = t.admin_token().await;
        let priya = t.login_ok(PRIYA, &t.password_of(PRIYA)).await;
        let cursor = pull(&t, &dana, 0, Some(5000)).await.cursor;
        let targets = [MARCUS, TOM, LUCIA, EMILY];
        let mut tasks = Vec::new();
        for (i, email) in targets.iter().enumerate() {
            let id = t.user_id(email).await;
            let (base, token) = if i % 2 == 0 {
                (t.cloud.base_url(), dana.clone())
            } else {
                (second.base_url(), priya.clone())
            };
            let http = t.http.clone();
            tasks.push(tokio::spawn(async move {
                http.patch(format!("{base}/api/v1/users/{id}"))
                    .bearer_auth(token)
                    .json(&serde_json::json!({"display_name": format!("Edited {i}")}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap(), StatusCode::OK);
        }
        let page = pull(&t, &dana, cursor, None).await;
        assert_eq!(
            page.users.len(),
            targets.len(),
            "every concurrent edit is pulled"
        );
        assert_eq!(
            page.cursor,
            cursor + targets.len() as i64,
            "one number each, no gaps"
        );
        let seqs: std::collections::BTreeSet<i64> = sqlx::query_scalar(
            "SELECT change_seq FROM users WHERE company_id = $1 AND change_seq > $2",
        )
        .bind(&t.seed.company_id)
        .bind(cursor)
        .fetch_all(&t.pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
        assert_eq!(seqs.len(), targets.len(), "no two rows share a number");
        second.shutdown().await;
        t.stop().await;
    }
}

mod push {
    use super::*;

    on_both_backends!(
        a_mutation_applies_once_and_a_replay_returns_the_same_result,
        unrelated_fields_from_two_admins_both_apply,
        the_same_field_changed_meanwhile_conflicts_and_nothing_applies,
        a_stale_client_never_regresses_security_fields,
        rejections_carry_the_admin_edit_codes,
        a_non_admin_push_is_rejected_per_mutation,
        a_full_chunk_applies_and_one_more_is_a_validation_error,
        concurrent_copies_of_one_key_apply_exactly_once,
    );

    async fn a_mutation_applies_once_and_a_replay_returns_the_same_result(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let admin = t.admin_token().await;
        let marcus = user(&t, &admin, MARCUS).await;
        let cursor = pull(&t, &admin, 0, Some(5000)).await.cursor;
        let mutation = user_mutation(
            &marcus,
            UserUpdate {
                display_name: Some("Marcus R. Reyes".into()),
                ..UserUpdate::default()
            },
            UserUpdate {
                display_name: Some(marcus.display_name.clone()),
                ..UserUpdate::default()
            },
        );
        let first = push(&t, &admin, std::slice::from_ref(&mutation)).await;
        let version = applied_version(&first[0]);
        assert_eq!(version, marcus.version + 1);
        let now = first[0].user.as_ref().expect("the entity comes back");
        assert_eq!(now.display_name, "Marcus R. Reyes");
        assert_eq!(now.version, version);
        let audit_before = t.audit_kinds(&marcus.id).await.len();

        // The same key again (a retry after a lost response): same answer, no change.
        let again = push(&t, &admin, std::slice::from_ref(&mutation)).await;
        assert_eq!(again[0].outcome, first[0].outcome, "the stored result");
        assert_eq!(
            again[0].user.as_ref().unwrap().version,
            version,
            "version unchanged"
        );
        assert_eq!(
            t.audit_kinds(&marcus.id).await.len(),
            audit_before,
            "no second audit"
        );
        assert_eq!(applied_rows(&t).await, 1, "the key is recorded once");
        let page = pull(&t, &admin, cursor, None).await;
        assert_eq!(page.cursor, cursor + 1, "the replay took no change number");
        t.stop().await;
    }

    async fn unrelated_fields_from_two_admins_both_apply(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let dana = t.admin_token().await;
        let priya = t.login_ok(PRIYA, &t.password_of(PRIYA)).await;
        let marcus = user(&t, &dana, MARCUS).await;
        let name = user_mutation(
            &marcus,
            UserUpdate {
                display_name: Some("Marc Reyes".into()),
                ..UserUpdate::default()
            },
            UserUpdate {
                display_name: Some(marcus.display_name.clone()),
                ..UserUpdate::default()
            },
        );
        // Priya's edit was made on the same (now stale) version.
        let phone = user_mutation(
            &marcus,
            UserUpdate {
                mobile_phone: Some(Some("(480) 555-0199".into())),
                ..UserUpdate::default()
            },
            UserUpdate {
                mobile_phone: Some(Some("480-555-0123".into())),
                ..UserUpdate::default()
            },
        );
        applied_version(&push(&t, &dana, &[name]).await[0]);
        let result = push(&t, &priya, &[phone]).await;
        applied_version(&result[0]);
        let now = user(&t, &dana, MARCUS).await;
        assert_eq!(now.display_name, "Marc Reyes", "Dana's name stays");
        assert_eq!(
            now.mobile_phone.as_deref(),
            Some("+14805550199"),
            "Priya's phone applies"
        );
        assert_eq!(now.phone_verified_at, None, "a new number is unverified");
        assert_eq!(now.version, marcus.version + 2);
        t.stop().await;
    }

    async fn the_same_field_changed_meanwhile_conflicts_and_nothing_applies(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let dana = t.admin_token().await;
        let priya = t.login_ok(PRIYA, &t.password_of(PRIYA)).await;
        let marcus = user(&t, &dana, MARCUS).await;
        let dana_edit = user_mutation(
            &marcus,
            UserUpdate {
                display_name: Some("Marcus (Dana)".into()),
                ..UserUpdate::default()
            },
            UserUpdate {
                display_name: Some(marcus.display_name.clone()),
                ..UserUpdate::default()
            },
        );
        applied_version(&push(&t, &dana, &[dana_edit]).await[0]);
        let after_dana = user(&t, &dana, MARCUS).await;
        let priya_edit = user_mutation(
            &marcus,
            UserUpdate {
                display_name: Some("Marcus (Priya)".into()),
                role: Some(Role::Admin),
                ..UserUpdate::default()
            },
            UserUpdate {
                display_name: Some(marcus.display_name.clone()),
                role: Some(Role::User),
                ..UserUpdate::default()
            },
        );
        let result = push(&t, &priya, &[priya_edit]).await;
        match &result[0].outcome {
            MutationOutcome::Conflict { fields, message } => {
                assert_eq!(fields, &vec!["display_name".to_string()]);
                assert!(!message.is_empty(), "a sentence for the person");
            }
            other => panic!("the same field changed meanwhile must conflict, got {other:?}"),
        }
        assert_eq!(
            result[0].user.as_ref().unwrap(),
            &after_dana,
            "the client gets the cloud's entity to roll back to"
        );
        assert_eq!(
            user(&t, &dana, MARCUS).await,
            after_dana,
            "atomic: the unrelated role change did not apply either"
        );
        // Converged: a field already holding the client's value is no conflict.
        let converged = user_mutation(
            &marcus,
            UserUpdate {
                display_name: Some("Marcus (Dana)".into()),
                ..UserUpdate::default()
            },
            UserUpdate {
                display_name: Some(marcus.display_name.clone()),
                ..UserUpdate::default()
            },
        );
        let result = push(&t, &priya, &[converged]).await;
        assert_eq!(
            applied_version(&result[0]),
            after_dana.version,
            "nothing to write"
        );
        t.stop().await;
    }

    async fn a_stale_client_never_regresses_security_fields(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let dana = t.admin_token().await;
        let priya = t.login_ok(PRIYA, &t.password_of(PRIYA)).await;
        let stale = user(&t, &dana, MARCUS).await;
        assert!(!stale.two_factor_enabled && stale.role == Role::User);
        // Newer changes on the cloud: 2FA on, a new phone, promoted to admin.
        patch_user(
            &t,
            &dana,
            &stale.id,
            serde_json::json!({"two_factor_enabled": true, "role": "admin"}),
        )
        .await;
        let newer = user(&t, &dana, MARCUS).await;

        // A stale full-form edit carrying the old values of untouched fields.
        let cases = [
            (
                "two_factor_enabled",
                UserUpdate {
                    display_name: Some("M. Reyes".into()),
                    two_factor_enabled: Some(false),
                    ..UserUpdate::default()
                },
                UserUpdate {
                    display_name: Some(stale.display_name.clone()),
                    two_factor_enabled: Some(false),
                    ..UserUpdate::default()
                },
            ),
            (
                "role",
                UserUpdate {
                    role: Some(Role::User),
                    ..UserUpdate::default()
                },
                UserUpdate {
                    role: Some(Role::User),
                    ..UserUpdate::default()
                },
            ),
            (
                // A change without a base value never overwrites an unknown one.
                "two_factor_enabled",
                UserUpdate {
                    two_factor_enabled: Some(false),
                    ..UserUpdate::default()
                },
                UserUpdate::default(),
            ),
        ];
        for (field, changes, base) in cases {
            let result = push(&t, &priya, &[user_mutation(&stale, changes, base)]).await;
            match &result[0].outcome {
                MutationOutcome::Conflict { fields, .. } => {
                    assert!(fields.contains(&field.to_string()), "{field} in {fields:?}")
                }
                other => panic!("a stale {field} must conflict, got {other:?}"),
            }
        }
        assert_eq!(
            user(&t, &dana, MARCUS).await,
            newer,
            "no security field regressed"
        );

        // The phone: a newer number was entered; a stale removal must not win.
        let before_phone = user(&t, &dana, MARCUS).await;
        patch_user(
            &t,
            &dana,
            &stale.id,
            serde_json::json!({"mobile_phone": "+14805550177"}),
        )
        .await;
        let removal = user_mutation(
            &before_phone,
            UserUpdate {
                mobile_phone: Some(None),
                ..UserUpdate::default()
            },
            UserUpdate {
                mobile_phone: Some(Some(MARCUS_PHONE.into())),
                ..UserUpdate::default()
            },
        );
        let result = push(&t, &priya, &[removal]).await;
        assert!(
            matches!(&result[0].outcome, MutationOutcome::Conflict { fields, .. } if fields == &vec!["mobile_phone".to_string()]),
            "a stale phone removal must conflict, got {:?}",
            result[0].outcome
        );
        assert_eq!(
            user(&t, &dana, MARCUS).await.mobile_phone.as_deref(),
            Some("+14805550177")
        );

        // The company toggle likewise.
        let company_before: secureclose_protocol::Company = t
            .get("/api/v1/company", Some(&dana))
            .await
            .json()
            .await
            .unwrap();
        let on = t
            .patch(
                "/api/v1/company",
                &dana,
                serde_json::json!({"two_factor_required": true}),
            )
            .await;
        assert_eq!(on.status(), StatusCode::OK);
        let stale_company = Mutation {
            idempotency_key: key(),
            base_version: company_before.version,
            change: MutationChange::UpdateCompany {
                changes: CompanyUpdate {
                    name: Some("Desert Sun".into()),
                    two_factor_required: Some(false),
                    ..CompanyUpdate::default()
                },
                base: CompanyUpdate {
                    name: Some(company_before.name.clone()),
                    two_factor_required: Some(false),
                    ..CompanyUpdate::default()
                },
            },
        };
        let result = push(&t, &priya, &[stale_company]).await;
        assert!(
            matches!(&result[0].outcome, MutationOutcome::Conflict { fields, .. } if fields == &vec!["two_factor_required".to_string()]),
            "got {:?}",
            result[0].outcome
        );
        let company = result[0].company.as_ref().unwrap();
        assert!(
            company.two_factor_required,
            "the company 2FA requirement stays on"
        );
        assert_eq!(
            company.name, company_before.name,
            "atomic: the name did not apply"
        );
        t.stop().await;
    }

    async fn rejections_carry_the_admin_edit_codes(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let admin = t.admin_token().await;
        let marcus = user(&t, &admin, MARCUS).await;
        let tom = user(&t, &admin, TOM).await;
        let fresh =
            |u: &User, changes: UserUpdate| user_mutation(u, changes, UserUpdate::default());
        let other_company: String = sqlx::query_scalar(
            "SELECT id FROM users WHERE email = 'nina.patel@canyonridge.example'",
        )
        .fetch_one(&t.pool)
        .await
        .unwrap();
        let mut foreign = marcus.clone();
        foreign.id = other_company;
        let mutations = vec![
            fresh(
                &marcus,
                UserUpdate {
                    mobile_phone: Some(Some("12".into())),
                    ..UserUpdate::default()
                },
            ),
            fresh(
                &tom,
                UserUpdate {
                    two_factor_enabled: Some(true),
                    ..UserUpdate::default()
                },
            ),
            fresh(
                &marcus,
                UserUpdate {
                    display_name: Some("   ".into()),
                    ..UserUpdate::default()
                },
            ),
            fresh(
                &marcus,
                UserUpdate {
                    email: Some(PRIYA.to_uppercase()),
                    ..UserUpdate::default()
                },
            ),
            fresh(
                &foreign,
                UserUpdate {
                    display_name: Some("Nina P".into()),
                    ..UserUpdate::default()
                },
            ),
        ];
        let results = push(&t, &admin, &mutations).await;
        let got: Vec<String> = results.iter().map(rejection_code).collect();
        assert_eq!(
            got,
            vec![
                codes::INVALID_PHONE,
                codes::PHONE_REQUIRED,
                codes::VALIDATION,
                codes::CONFLICT,
                codes::NOT_FOUND,
            ],
            "each refusal says why with the PATCH handlers' codes"
        );
        assert!(
            results[4].user.is_none(),
            "another company's user is never shown"
        );
        assert_eq!(user(&t, &admin, MARCUS).await, marcus, "nothing applied");

        sqlx::query("UPDATE companies SET dms_supports_two_factor = 0 WHERE id = $1")
            .bind(&t.seed.company_id)
            .execute(&t.pool)
            .await
            .unwrap();
        let marcus_2fa = fresh(
            &marcus,
            UserUpdate {
                two_factor_enabled: Some(true),
                ..UserUpdate::default()
            },
        );
        let results = push(&t, &admin, &[marcus_2fa]).await;
        assert_eq!(rejection_code(&results[0]), codes::TWO_FACTOR_UNAVAILABLE);

        // A deleted user is not found.
        assert_eq!(
            delete_user(&t, &admin, &tom.id).await.status(),
            StatusCode::NO_CONTENT
        );
        let ghost = fresh(
            &tom,
            UserUpdate {
                display_name: Some("Tom B".into()),
                ..UserUpdate::default()
            },
        );
        let results = push(&t, &admin, &[ghost]).await;
        assert_eq!(rejection_code(&results[0]), codes::NOT_FOUND);
        assert!(results[0].user.is_none());
        t.stop().await;
    }

    async fn a_non_admin_push_is_rejected_per_mutation(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let admin = t.admin_token().await;
        let marcus_token = t.login_ok(MARCUS, &t.password_of(MARCUS)).await;
        let marcus = user(&t, &admin, MARCUS).await;
        let mutations = vec![
            user_mutation(
                &marcus,
                UserUpdate {
                    role: Some(Role::Admin),
                    ..UserUpdate::default()
                },
                UserUpdate {
                    role: Some(Role::User),
                    ..UserUpdate::default()
                },
            ),
            Mutation {
                idempotency_key: key(),
                base_version: 1,
                change: MutationChange::UpdateCompany {
                    changes: CompanyUpdate {
                        name: Some("Mine".into()),
                        ..CompanyUpdate::default()
                    },
                    base: CompanyUpdate::default(),
                },
            },
        ];
        let results = push(&t, &marcus_token, &mutations).await;
        for result in &results {
            assert_eq!(rejection_code(result), codes::FORBIDDEN);
        }
        assert_eq!(user(&t, &admin, MARCUS).await, marcus, "no self-promotion");
        assert_eq!(applied_rows(&t).await, 0, "a refusal occupies no key");
        t.stop().await;
    }

    async fn concurrent_copies_of_one_key_apply_exactly_once(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let second = t.second_instance().await;
        let admin = t.admin_token().await;
        let marcus = user(&t, &admin, MARCUS).await;
        let mutation = user_mutation(
            &marcus,
            UserUpdate {
                two_factor_enabled: Some(true),
                ..UserUpdate::default()
            },
            UserUpdate {
                two_factor_enabled: Some(false),
                ..UserUpdate::default()
            },
        );
        let mut tasks = Vec::new();
        for i in 0..6 {
            let base = if i % 2 == 0 {
                t.cloud.base_url()
            } else {
                second.base_url()
            };
            let (http, token, mutation) = (t.http.clone(), admin.clone(), mutation.clone());
            tasks.push(tokio::spawn(async move {
                let response = http
                    .post(format!("{base}/api/v1/sync/push"))
                    .bearer_auth(token)
                    .json(&serde_json::json!({ "mutations": [mutation] }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::OK);
                response
                    .json::<PushResponse>()
                    .await
                    .unwrap()
                    .results
                    .remove(0)
            }));
        }
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.unwrap().outcome);
        }
        assert!(
            outcomes.iter().all(|o| *o
                == MutationOutcome::Applied {
                    version: marcus.version + 1
                }),
            "every copy answers with the one application: {outcomes:?}"
        );
        let now = user(&t, &admin, MARCUS).await;
        assert_eq!(now.version, marcus.version + 1, "applied exactly once");
        assert_eq!(applied_rows(&t).await, 1);
        let enabled = t
            .audit_kinds(&marcus.id)
            .await
            .iter()
            .filter(|k| *k == "two_factor_enabled")
            .count();
        assert_eq!(enabled, 1, "audited exactly once");
        second.shutdown().await;
        t.stop().await;
    }

    async fn a_full_chunk_applies_and_one_more_is_a_validation_error(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let admin = t.admin_token().await;
        let marcus = user(&t, &admin, MARCUS).await;
        let mut mutations: Vec<Mutation> = (0..=MAX_PUSH_MUTATIONS)
            .map(|i| {
                user_mutation(
                    &marcus,
                    UserUpdate {
                        display_name: Some(format!("Marcus Reyes the {i}th, Finance & Insurance")),
                        ..UserUpdate::default()
                    },
                    UserUpdate {
                        display_name: Some(marcus.display_name.clone()),
                        ..UserUpdate::default()
                    },
                )
            })
            .collect();
        expect_error(
            push_raw(&t, &admin, &mutations).await,
            StatusCode::BAD_REQUEST,
            codes::VALIDATION,
        )
        .await;
        assert_eq!(
            applied_rows(&t).await,
            0,
            "nothing of a refused push applies"
        );
        mutations.truncate(MAX_PUSH_MUTATIONS);
        let results = push(&t, &admin, &mutations).await;
        // Only the first was based on the current name; the rest conflict with it.
        applied_version(&results[0]);
        assert!(results[1..]
            .iter()
            .all(|r| matches!(r.outcome, MutationOutcome::Conflict { .. })));
        assert_eq!(
            applied_rows(&t).await,
            i64::try_from(MAX_PUSH_MUTATIONS).unwrap(),
            "a full chunk fits the body limit and every key is recorded"
        );
        t.stop().await;
    }
}

mod resume {
    use super::*;

    on_both_backends!(
        every_sign_in_issues_a_device_token_and_resume_rotates_it,
        resume_within_the_grace_window_and_refused_outside_it,
        resume_is_refused_for_a_disabled_user_or_a_company_without_offline_use,
        a_wrong_password_on_resume_counts_as_a_failed_sign_in,
    );

    async fn every_sign_in_issues_a_device_token_and_resume_rotates_it(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let password = t.password_of(TOM);
        let (session, _) = signed_in(t.login(TOM, &password).await).await;
        let device = session
            .device_token
            .expect("a password sign-in issues a device token");
        assert_eq!(device.len(), 64, "256-bit hex");
        let stored: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM device_grants WHERE token_hash = $1")
                .bind(&device)
                .fetch_one(&t.pool)
                .await
                .unwrap();
        assert_eq!(stored, 0, "only the token's hash is stored");

        let (resumed, user) = signed_in(resume(&t, TOM, &password, &device).await).await;
        assert_eq!(user.email, TOM);
        assert_ne!(resumed.token, session.token, "a new session");
        let next = resumed.device_token.expect("a new device token");
        assert_ne!(next, device);
        let me = t.get("/api/v1/me", Some(&resumed.token)).await;
        assert_eq!(me.status(), StatusCode::OK, "the resumed session works");
        let refused = expect_error(
            resume(&t, TOM, &password, &device).await,
            StatusCode::UNAUTHORIZED,
            codes::RESUME_REFUSED,
        )
        .await;
        assert_eq!(refused.message, "Sign in again to sync your changes.");
        // Another user's grant never works, even with that user's password right.
        let marcus_password = t.password_of(MARCUS);
        expect_error(
            resume(&t, MARCUS, &marcus_password, &next).await,
            StatusCode::UNAUTHORIZED,
            codes::RESUME_REFUSED,
        )
        .await;
        // Grants last 30 days.
        t.advance(31 * 24 * HOUR);
        expect_error(
            resume(&t, TOM, &password, &next).await,
            StatusCode::UNAUTHORIZED,
            codes::RESUME_REFUSED,
        )
        .await;
        t.stop().await;
    }

    async fn resume_within_the_grace_window_and_refused_outside_it(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let password = t.password_of(MARCUS);
        // A password-only grant of a user who needs 2FA now: no factor on record.
        let (plain, _) = signed_in(t.login(MARCUS, &password).await).await;
        t.enable_two_factor(MARCUS).await;
        expect_error(
            resume(
                &t,
                MARCUS,
                &password,
                plain.device_token.as_deref().unwrap(),
            )
            .await,
            StatusCode::UNAUTHORIZED,
            codes::RESUME_REFUSED,
        )
        .await;

        let grant = marcus_with_code(&t).await;
        t.advance(71 * HOUR);
        let (resumed, _) = signed_in(
            resume(
                &t,
                MARCUS,
                &password,
                grant.device_token.as_deref().unwrap(),
            )
            .await,
        )
        .await;
        // The new grant keeps the factor's time: the window does not slide.
        t.advance(2 * HOUR);
        expect_error(
            resume(
                &t,
                MARCUS,
                &password,
                resumed.device_token.as_deref().unwrap(),
            )
            .await,
            StatusCode::UNAUTHORIZED,
            codes::RESUME_REFUSED,
        )
        .await;
        t.stop().await;
    }

    async fn resume_is_refused_for_a_disabled_user_or_a_company_without_offline_use(
        backend: Backend,
    ) {
        let t = TestCloud::start(backend).await;
        let password = t.password_of(TOM);
        let (first, _) = signed_in(t.login(TOM, &password).await).await;
        let (second, _) = signed_in(t.login(TOM, &password).await).await;
        sqlx::query("UPDATE companies SET offline_allowed = 0 WHERE id = $1")
            .bind(&t.seed.company_id)
            .execute(&t.pool)
            .await
            .unwrap();
        expect_error(
            resume(&t, TOM, &password, first.device_token.as_deref().unwrap()).await,
            StatusCode::UNAUTHORIZED,
            codes::RESUME_REFUSED,
        )
        .await;
        sqlx::query("UPDATE companies SET offline_allowed = 1 WHERE id = $1")
            .bind(&t.seed.company_id)
            .execute(&t.pool)
            .await
            .unwrap();
        let admin = t.admin_token().await;
        let tom = t.user_id(TOM).await;
        patch_user(&t, &admin, &tom, serde_json::json!({"status": "disabled"})).await;
        patch_user(&t, &admin, &tom, serde_json::json!({"status": "active"})).await;
        expect_error(
            resume(&t, TOM, &password, second.device_token.as_deref().unwrap()).await,
            StatusCode::UNAUTHORIZED,
            codes::RESUME_REFUSED,
        )
        .await;
        let revoked: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM device_grants WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(&tom)
        .fetch_one(&t.pool)
        .await
        .unwrap();
        assert_eq!(
            revoked, 0,
            "disabling a user revokes every grant, even if re-enabled"
        );
        t.stop().await;
    }

    async fn a_wrong_password_on_resume_counts_as_a_failed_sign_in(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let password = t.password_of(TOM);
        let (session, _) = signed_in(t.login(TOM, &password).await).await;
        let device = session.device_token.unwrap();
        let refused = expect_error(
            resume(&t, TOM, "not-toms-password", &device).await,
            StatusCode::UNAUTHORIZED,
            codes::RESUME_REFUSED,
        )
        .await;
        let (password_failures, _, consecutive) = t.counters(TOM).await;
        assert_eq!(password_failures, 1, "counted like a wrong /login password");
        assert_eq!(consecutive, 1);
        assert_eq!(
            refused,
            expect_error(
                resume(&t, TOM, &password, "not-a-grant").await,
                StatusCode::UNAUTHORIZED,
                codes::RESUME_REFUSED,
            )
            .await,
            "the refusal never says which part failed"
        );
        let tom = t.user_id(TOM).await;
        assert!(t
            .audit_kinds(&tom)
            .await
            .contains(&"login_failed".to_string()));
        signed_in(resume(&t, TOM, &password, &device).await).await;
        assert_eq!(
            t.counters(TOM).await,
            (0, 0, 0),
            "a resumed sign-in clears them"
        );
        t.stop().await;
    }
}
