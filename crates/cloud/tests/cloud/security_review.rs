//! The cloud-side findings of the outside security review, each written the
//! way an attacker would try it.

use reqwest::StatusCode;
use secureclose_protocol::sync::{Mutation, MutationChange, MutationOutcome, PushResponse};
use secureclose_protocol::{codes, Challenge, LoginResponse, SessionGrant, User, UserUpdate};

use crate::support::{
    expect_error, patch_user, Backend, TestCloud, EMILY, MARCUS, MARCUS_PHONE, TOM,
};

async fn patch_ok(t: &TestCloud, token: &str, email: &str, body: serde_json::Value) -> User {
    let response = patch_user(t, token, email, body).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the admin's edit applies"
    );
    response.json().await.unwrap()
}

async fn company_2fa(t: &TestCloud, token: &str, on: bool) {
    let response = t
        .patch(
            "/api/v1/company",
            token,
            serde_json::json!({"two_factor_required": on}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// A login that must be offered phone enrolment.
async fn enrolment(t: &TestCloud, email: &str) -> Challenge {
    match t.login_response(email, &t.password_of(email)).await {
        LoginResponse::PhoneEnrollmentRequired { challenge } => challenge,
        other => panic!("{email} has no phone: enrolment expected, got {other:?}"),
    }
}

async fn enrol(t: &TestCloud, challenge: &Challenge, phone: &str) -> reqwest::Response {
    t.post(
        "/api/v1/login/enroll-phone",
        serde_json::json!({"challenge_id": challenge.challenge_id, "mobile_phone": phone}),
    )
    .await
}

/// A full sign-in; the session grant (with its device token).
async fn signed_in(t: &TestCloud, email: &str) -> SessionGrant {
    let response = t.login(email, &t.password_of(email)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let LoginResponse::SignedIn { session, .. } = response.json().await.unwrap() else {
        panic!("{email} signs in with the password alone here");
    };
    session
}

async fn me_status(t: &TestCloud, token: &str) -> StatusCode {
    t.get("/api/v1/me", Some(token)).await.status()
}

async fn resume(t: &TestCloud, email: &str, device_token: &str) -> reqwest::Response {
    t.post(
        "/api/v1/login/resume",
        serde_json::json!({
            "email": email,
            "password": t.password_of(email),
            "device_token": device_token,
        }),
    )
    .await
}

/// Finding 2: a password alone must never get through where 2FA is required.
mod password_alone {
    use super::*;

    on_both_backends!(
        company_2fa_refuses_removing_a_phone_also_through_sync,
        a_code_sent_to_an_old_phone_never_completes,
        an_older_enrolment_cannot_replace_an_enrolled_phone,
        attempts_close_when_2fa_or_status_changes,
        enrolment_by_password_is_audited_for_admins,
        company_2fa_closes_open_attempts,
    );

    async fn company_2fa_refuses_removing_a_phone_also_through_sync(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let admin = t.admin_token().await;
        company_2fa(&t, &admin, true).await;
        let admin = t
            .login_for_code(&t.seed.admin_email, &t.seed.admin_password)
            .await;
        let code = t.latest_code("+14805550100").await;
        let LoginResponse::SignedIn { session, .. } =
            t.verify(&admin, &code).await.json().await.unwrap()
        else {
            panic!("Dana's code signs her in");
        };
        let admin = session.token;
        // Emily's own toggle is off; the company's is on.
        let error = expect_error(
            patch_user(&t, &admin, EMILY, serde_json::json!({"mobile_phone": ""})).await,
            StatusCode::BAD_REQUEST,
            codes::PHONE_NEEDED_FOR_TWO_FACTOR,
        )
        .await;
        assert!(
            error.message.contains("Company Profile"),
            "{}",
            error.message
        );
        // The same edit queued offline and pushed.
        let emily: User = t
            .get(
                &format!("/api/v1/users/{}", t.user_id(EMILY).await),
                Some(&admin),
            )
            .await
            .json()
            .await
            .unwrap();
        let mutation = Mutation {
            idempotency_key: uuid::Uuid::new_v4().to_string(),
            base_version: emily.version,
            change: MutationChange::UpdateUser {
                user_id: emily.id.clone(),
                changes: UserUpdate {
                    mobile_phone: Some(None),
                    ..UserUpdate::default()
                },
                base: UserUpdate {
                    mobile_phone: Some(emily.mobile_phone.clone()),
                    ..UserUpdate::default()
                },
            },
        };
        let response = t
            .http
            .post(t.url("/api/v1/sync/push"))
            .bearer_auth(&admin)
            .json(&serde_json::json!({"mutations": [mutation]}))
            .send()
            .await
            .unwrap();
        let body: PushResponse = response.json().await.unwrap();
        match &body.results[0].outcome {
            MutationOutcome::Rejected { error } => {
                assert_eq!(error.code, codes::PHONE_NEEDED_FOR_TWO_FACTOR)
            }
            other => panic!("the pushed removal must be rejected, got {other:?}"),
        }
        let phone: Option<String> =
            sqlx::query_scalar("SELECT mobile_phone FROM users WHERE email = $1")
                .bind(EMILY)
                .fetch_one(&t.pool)
                .await
                .unwrap();
        assert_eq!(phone.as_deref(), Some("+14805550162"), "nothing changed");
        t.stop().await;
    }

    async fn a_code_sent_to_an_old_phone_never_completes(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let admin = t.admin_token().await;
        t.enable_two_factor(MARCUS).await;
        let challenge = t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
        let old_code = t.latest_code(MARCUS_PHONE).await;
        // Marcus lost his phone; the admin enters his new number.
        patch_ok(
            &t,
            &admin,
            MARCUS,
            serde_json::json!({"mobile_phone": "+14805550177"}),
        )
        .await;
        expect_error(
            t.verify(&challenge, &old_code).await,
            StatusCode::UNAUTHORIZED,
            codes::CHALLENGE_CLOSED,
        )
        .await;
        expect_error(
            t.resend(&challenge).await,
            StatusCode::UNAUTHORIZED,
            codes::CHALLENGE_CLOSED,
        )
        .await;
        // The next sign-in texts the new number.
        t.advance(std::time::Duration::from_secs(60));
        let next = t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
        assert_eq!(next.phone_hint.as_deref(), Some("••• ••• 0177"));
        t.stop().await;
    }

    async fn an_older_enrolment_cannot_replace_an_enrolled_phone(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let admin = t.admin_token().await;
        company_2fa(&t, &admin, true).await;
        // Someone with Tom's password opens an enrolment and parks it.
        let attacker = enrolment(&t, TOM).await;
        assert_eq!(
            enrol(&t, &attacker, "+14805550666").await.status(),
            StatusCode::OK
        );
        let attacker_code = t.latest_code("+14805550666").await;
        let spare = enrolment(&t, TOM).await;
        // Tom enrols and verifies his own phone.
        let tom = enrolment(&t, TOM).await;
        let sent: Challenge = enrol(&t, &tom, "+14805550134").await.json().await.unwrap();
        let code = t.latest_code("+14805550134").await;
        assert_eq!(t.verify(&sent, &code).await.status(), StatusCode::OK);
        // The older attempts are void: neither the code already sent nor a
        // fresh number can replace Tom's verified phone.
        expect_error(
            t.verify(&attacker, &attacker_code).await,
            StatusCode::UNAUTHORIZED,
            codes::CHALLENGE_CLOSED,
        )
        .await;
        expect_error(
            enrol(&t, &spare, "+14805550667").await,
            StatusCode::UNAUTHORIZED,
            codes::CHALLENGE_CLOSED,
        )
        .await;
        assert_eq!(t.outbox_count("+14805550667").await, 0);
        let phone: Option<String> =
            sqlx::query_scalar("SELECT mobile_phone FROM users WHERE email = $1")
                .bind(TOM)
                .fetch_one(&t.pool)
                .await
                .unwrap();
        assert_eq!(phone.as_deref(), Some("+14805550134"));
        t.stop().await;
    }

    async fn attempts_close_when_2fa_or_status_changes(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let admin = t.admin_token().await;
        patch_ok(
            &t,
            &admin,
            MARCUS,
            serde_json::json!({"two_factor_enabled": true}),
        )
        .await;
        let challenge = t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
        let code = t.latest_code(MARCUS_PHONE).await;
        patch_ok(
            &t,
            &admin,
            MARCUS,
            serde_json::json!({"two_factor_enabled": false}),
        )
        .await;
        expect_error(
            t.verify(&challenge, &code).await,
            StatusCode::UNAUTHORIZED,
            codes::CHALLENGE_CLOSED,
        )
        .await;
        patch_ok(
            &t,
            &admin,
            MARCUS,
            serde_json::json!({"two_factor_enabled": true}),
        )
        .await;
        t.advance(std::time::Duration::from_secs(60));
        let challenge = t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
        let code = t.latest_code(MARCUS_PHONE).await;
        patch_ok(
            &t,
            &admin,
            MARCUS,
            serde_json::json!({"status": "disabled"}),
        )
        .await;
        patch_ok(&t, &admin, MARCUS, serde_json::json!({"status": "active"})).await;
        expect_error(
            t.verify(&challenge, &code).await,
            StatusCode::UNAUTHORIZED,
            codes::CHALLENGE_CLOSED,
        )
        .await;
        t.stop().await;
    }

    async fn enrolment_by_password_is_audited_for_admins(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let admin = t.admin_token().await;
        company_2fa(&t, &admin, true).await;
        let challenge = enrolment(&t, TOM).await;
        let sent: Challenge = enrol(&t, &challenge, "+14805550134")
            .await
            .json()
            .await
            .unwrap();
        let code = t.latest_code("+14805550134").await;
        assert_eq!(t.verify(&sent, &code).await.status(), StatusCode::OK);
        let tom_id = t.user_id(TOM).await;
        let company_id: String = sqlx::query_scalar("SELECT company_id FROM users WHERE id = $1")
            .bind(&tom_id)
            .fetch_one(&t.pool)
            .await
            .unwrap();
        let events = secureclose_cloud::db::audit::all(&t.pool).await.unwrap();
        for kind in ["phone_enrollment_started", "phone_enrolled"] {
            let event = events
                .iter()
                .find(|e| e.kind == kind && e.subject_user_id.as_deref() == Some(&tom_id))
                .unwrap_or_else(|| panic!("{kind} is audited: {events:?}"));
            assert_eq!(
                event.company_id.as_deref(),
                Some(company_id.as_str()),
                "in the company's trail, where its admins look"
            );
        }
        t.stop().await;
    }

    async fn company_2fa_closes_open_attempts(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let admin = t.admin_token().await;
        t.enable_two_factor(MARCUS).await;
        let challenge = t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
        let code = t.latest_code(MARCUS_PHONE).await;
        company_2fa(&t, &admin, true).await;
        expect_error(
            t.verify(&challenge, &code).await,
            StatusCode::UNAUTHORIZED,
            codes::CHALLENGE_CLOSED,
        )
        .await;
        t.stop().await;
    }
}

/// Finding 3: what ends a session, and that nothing revives it.
mod sessions_end {
    use super::*;

    on_both_backends!(
        a_token_from_before_a_disable_stays_dead_after_reenable,
        phone_2fa_and_unlock_end_the_users_sessions,
        an_admin_editing_themselves_keeps_only_the_current_session,
    );

    async fn a_token_from_before_a_disable_stays_dead_after_reenable(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let admin = t.admin_token().await;
        let emily = signed_in(&t, EMILY).await;
        patch_ok(&t, &admin, EMILY, serde_json::json!({"status": "disabled"})).await;
        expect_error(
            t.get("/api/v1/me", Some(&emily.token)).await,
            StatusCode::FORBIDDEN,
            codes::ACCOUNT_DISABLED,
        )
        .await;
        patch_ok(&t, &admin, EMILY, serde_json::json!({"status": "active"})).await;
        expect_error(
            t.get("/api/v1/me", Some(&emily.token)).await,
            StatusCode::UNAUTHORIZED,
            codes::UNAUTHENTICATED,
        )
        .await;
        let device = emily.device_token.unwrap();
        expect_error(
            resume(&t, EMILY, &device).await,
            StatusCode::UNAUTHORIZED,
            codes::RESUME_REFUSED,
        )
        .await;
        // Even a session row someone un-revokes stays dead: it predates the change.
        sqlx::query("UPDATE sessions SET revoked_at = NULL")
            .execute(&t.pool)
            .await
            .unwrap();
        assert_eq!(me_status(&t, &emily.token).await, StatusCode::UNAUTHORIZED);
        t.stop().await;
    }

    async fn phone_2fa_and_unlock_end_the_users_sessions(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let admin = t.admin_token().await;
        for change in [
            serde_json::json!({"mobile_phone": "+14805550177"}),
            serde_json::json!({"two_factor_enabled": true}),
        ] {
            // 2FA off between rounds, so the password alone signs Emily in.
            patch_ok(
                &t,
                &admin,
                EMILY,
                serde_json::json!({"two_factor_enabled": false}),
            )
            .await;
            let emily = signed_in(&t, EMILY).await;
            patch_ok(&t, &admin, EMILY, change.clone()).await;
            assert_eq!(
                me_status(&t, &emily.token).await,
                StatusCode::UNAUTHORIZED,
                "{change} ends the session"
            );
            expect_error(
                resume(&t, EMILY, emily.device_token.as_deref().unwrap()).await,
                StatusCode::UNAUTHORIZED,
                codes::RESUME_REFUSED,
            )
            .await;
        }
        // A lock ends the sessions, and the unlock does not revive them.
        patch_ok(
            &t,
            &admin,
            EMILY,
            serde_json::json!({"two_factor_enabled": false}),
        )
        .await;
        let emily = signed_in(&t, EMILY).await;
        sqlx::query(
            "UPDATE users SET consecutive_failures = 99, last_failure_at = $1 WHERE email = $2",
        )
        .bind(t.now() - 3_600_000)
        .bind(EMILY)
        .execute(&t.pool)
        .await
        .unwrap();
        expect_error(
            t.login(EMILY, "wrong-password").await,
            StatusCode::UNAUTHORIZED,
            codes::INVALID_CREDENTIALS,
        )
        .await;
        assert_eq!(me_status(&t, &emily.token).await, StatusCode::UNAUTHORIZED);
        patch_ok(&t, &admin, EMILY, serde_json::json!({"status": "active"})).await;
        assert_eq!(me_status(&t, &emily.token).await, StatusCode::UNAUTHORIZED);
        t.stop().await;
    }

    async fn an_admin_editing_themselves_keeps_only_the_current_session(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let here = t.admin_token().await;
        let elsewhere = t.admin_token().await;
        let email = t.seed.admin_email.clone();
        // One's own phone is a factor: the change needs a re-authentication.
        t.reauth(&here).await;
        patch_ok(
            &t,
            &here,
            &email,
            serde_json::json!({"mobile_phone": "+14805550101"}),
        )
        .await;
        assert_eq!(me_status(&t, &here).await, StatusCode::OK, "kept");
        assert_eq!(
            me_status(&t, &elsewhere).await,
            StatusCode::UNAUTHORIZED,
            "the admin's other sessions end"
        );
        t.stop().await;
    }
}

/// Finding 12 (rest): bad input is refused with a clear 400 and changes nothing.
mod bad_input {
    use super::*;

    on_both_backends!(
        names_of_control_characters_are_refused,
        a_negative_sync_cursor_is_refused,
    );

    async fn names_of_control_characters_are_refused(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let admin = t.admin_token().await;
        let before: User = t
            .get(
                &format!("/api/v1/users/{}", t.user_id(TOM).await),
                Some(&admin),
            )
            .await
            .json()
            .await
            .unwrap();
        for name in [
            "\u{0000}".repeat(10),
            "Tom\u{0007}Becker".to_string(),
            "Tom\nBecker".to_string(),
            "Tom \u{202E}rekceB".to_string(),
        ] {
            let error = expect_error(
                patch_user(&t, &admin, TOM, serde_json::json!({"display_name": name})).await,
                StatusCode::BAD_REQUEST,
                codes::VALIDATION,
            )
            .await;
            assert!(
                error.message.contains("control characters"),
                "{}",
                error.message
            );
            let error = expect_error(
                t.patch("/api/v1/company", &admin, serde_json::json!({"name": name}))
                    .await,
                StatusCode::BAD_REQUEST,
                codes::VALIDATION,
            )
            .await;
            assert!(
                error.message.contains("control characters"),
                "{}",
                error.message
            );
        }
        let after: User = t
            .get(&format!("/api/v1/users/{}", before.id), Some(&admin))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(after, before, "nothing changed");
        // Surrounding whitespace (a paste) is trimmed, not refused.
        let user = patch_ok(
            &t,
            &admin,
            TOM,
            serde_json::json!({"display_name": "  Tom Becker\n"}),
        )
        .await;
        assert_eq!(user.display_name, "Tom Becker");
        t.stop().await;
    }

    async fn a_negative_sync_cursor_is_refused(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let admin = t.admin_token().await;
        let error = expect_error(
            t.get("/api/v1/sync/changes?since=-1", Some(&admin)).await,
            StatusCode::BAD_REQUEST,
            codes::VALIDATION,
        )
        .await;
        assert!(error.message.contains("since"), "{}", error.message);
        t.stop().await;
    }
}

/// Finding 6: --dev publishes every code, so it never listens beyond this machine.
mod dev_mode {
    use secureclose_cloud::{start, CloudConfig, CloudError};

    use crate::support::{Backend, TestDb};

    fn serve(args: &[&str], url: &str) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_secureclose-cloud"));
        command
            .args(["serve", "--database-url", url])
            .args(args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        for (key, _) in std::env::vars() {
            if key.starts_with("SECURECLOSE_") {
                command.env_remove(key);
            }
        }
        command
    }

    async fn refused(mut command: tokio::process::Command) -> String {
        // A server that wrongly starts would run forever: bound the wait.
        let output = tokio::time::timeout(std::time::Duration::from_secs(60), command.output())
            .await
            .expect("serve must exit at once")
            .unwrap();
        assert!(!output.status.success(), "serve must refuse to start");
        String::from_utf8_lossy(&output.stderr).into_owned()
    }

    #[tokio::test]
    async fn the_library_refuses_dev_mode_on_a_non_loopback_bind() {
        let db = TestDb::new(Backend::Sqlite).await;
        for bind in ["0.0.0.0:0", "[::]:0"] {
            let mut config = CloudConfig::new(&db.url, bind.parse().unwrap());
            config.dev_mode = true;
            match start(config).await {
                Err(CloudError::Config(message)) => {
                    assert!(message.contains("loopback"), "{message}")
                }
                Err(other) => panic!("expected a configuration error, got {other}"),
                Ok(_) => panic!("--dev must not listen on {bind}"),
            }
        }
        let mut config = CloudConfig::new(&db.url, "127.0.0.1:0".parse().unwrap());
        config.dev_mode = true;
        start(config)
            .await
            .expect("loopback is fine")
            .shutdown()
            .await;
    }

    #[tokio::test]
    async fn the_binary_says_why_and_never_suggests_dev_for_twilio() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("c.db").display());
        let stderr = refused(serve(&["--dev", "--bind", "0.0.0.0:0"], &url)).await;
        assert!(stderr.contains("loopback"), "{stderr}");
        let stderr = refused(serve(&["--bind", "127.0.0.1:0"], &url)).await;
        assert!(stderr.contains("Twilio"), "{stderr}");
        assert!(
            !stderr.contains("--dev"),
            "a server without Twilio is not told to publish its codes: {stderr}"
        );
    }
}

/// Finding 5: no enumeration, no lockout by strangers, and a way back in.
mod enumeration {
    use std::time::Duration;

    use super::*;

    on_both_backends!(
        unknown_emails_answer_exactly_like_known_ones,
        one_source_is_slowed_without_locking_the_accounts,
        the_operator_cli_unlocks_a_locked_account,
    );

    async fn statuses(t: &TestCloud, email: &str, tries: usize) -> Vec<(u16, String)> {
        let mut out = Vec::new();
        for _ in 0..tries {
            let response = t.login(email, "wrong-password").await;
            let status = response.status().as_u16();
            let error: secureclose_protocol::ApiError = response.json().await.unwrap();
            out.push((status, error.code));
        }
        out
    }

    async fn unknown_emails_answer_exactly_like_known_ones(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let unknown = "nobody@desertsun.example";
        let known = statuses(&t, MARCUS, 7).await;
        let ghost = statuses(&t, unknown, 7).await;
        assert_eq!(known, ghost, "same answers in the same order");
        assert_eq!(known[4], (401, codes::INVALID_CREDENTIALS.to_string()));
        assert_eq!(known[5], (429, codes::RATE_LIMITED.to_string()));
        // The hard limit too: 100 consecutive failures answer 423 for both.
        let hash = secureclose_cloud::tokens::token_hash(unknown);
        sqlx::query(
            "UPDATE unknown_login_failures SET consecutive_failures = 99, last_failure_at = $1 \
             WHERE email_hash = $2",
        )
        .bind(t.now() - 3_600_000)
        .bind(&hash)
        .execute(&t.pool)
        .await
        .unwrap();
        sqlx::query(
            "UPDATE users SET consecutive_failures = 99, last_failure_at = $1 WHERE email = $2",
        )
        .bind(t.now() - 3_600_000)
        .bind(MARCUS)
        .execute(&t.pool)
        .await
        .unwrap();
        t.advance(Duration::from_secs(3600));
        let known = statuses(&t, MARCUS, 1).await;
        let ghost = statuses(&t, unknown, 1).await;
        assert_eq!(known, ghost);
        t.advance(Duration::from_secs(3600));
        let known = statuses(&t, MARCUS, 1).await;
        let ghost = statuses(&t, unknown, 1).await;
        assert_eq!(known, vec![(423, codes::ACCOUNT_LOCKED.to_string())]);
        assert_eq!(known, ghost);
        // The table holds no address.
        let stored: Vec<String> =
            sqlx::query_scalar("SELECT email_hash FROM unknown_login_failures")
                .fetch_all(&t.pool)
                .await
                .unwrap();
        assert!(stored.iter().all(|h| !h.contains('@')), "{stored:?}");
        t.stop().await;
    }

    async fn one_source_is_slowed_without_locking_the_accounts(backend: Backend) {
        let t = TestCloud::start_with(backend, |c| c.source_failure_limit = 4).await;
        // Spread over accounts, so no account's own delay starts.
        for email in [MARCUS, EMILY, TOM, "nobody@desertsun.example"] {
            expect_error(
                t.login(email, "wrong-password").await,
                StatusCode::UNAUTHORIZED,
                codes::INVALID_CREDENTIALS,
            )
            .await;
        }
        let sofia = "sofia.alvarez@desertsun.example";
        let error = expect_error(
            t.login(sofia, &t.password_of(sofia)).await,
            StatusCode::TOO_MANY_REQUESTS,
            codes::RATE_LIMITED,
        )
        .await;
        assert_eq!(error.retry_at, Some(t.now() + 15 * 60 * 1000));
        for _ in 0..20 {
            t.login(MARCUS, "wrong-password").await;
        }
        assert_eq!(
            t.counters(MARCUS).await,
            (1, 0, 1),
            "refused at the source: the account is not counted, let alone locked"
        );
        assert_eq!(t.counters(sofia).await, (0, 0, 0));
        t.advance(Duration::from_secs(15 * 60));
        t.login_ok(sofia, &t.password_of(sofia)).await;
        t.stop().await;
    }

    async fn the_operator_cli_unlocks_a_locked_account(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let admin_email = t.seed.admin_email.clone();
        let before = t.admin_token().await;
        sqlx::query("UPDATE users SET consecutive_failures = 100 WHERE email = $1")
            .bind(&admin_email)
            .execute(&t.pool)
            .await
            .unwrap();
        expect_error(
            t.login(&admin_email, &t.seed.admin_password).await,
            StatusCode::LOCKED,
            codes::ACCOUNT_LOCKED,
        )
        .await;
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_secureclose-cloud"))
            .args(["user", "unlock", "--database-url", &t.db.url, "--email"])
            .arg(admin_email.to_uppercase())
            .env_remove("SECURECLOSE_DATABASE_URL")
            .output()
            .await
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(String::from_utf8_lossy(&output.stdout).contains("unlocked"));
        t.admin_token().await;
        assert_eq!(
            me_status(&t, &before).await,
            StatusCode::UNAUTHORIZED,
            "an unlock ends the sessions from before"
        );
        let id = t.user_id(&admin_email).await;
        let events = secureclose_cloud::db::audit::all(&t.pool).await.unwrap();
        let unlock = events
            .iter()
            .find(|e| e.kind == "account_unlocked" && e.subject_user_id.as_deref() == Some(&id))
            .expect("the unlock is audited");
        assert_eq!(unlock.actor_user_id, None, "by the operator, not a user");
        assert!(unlock.detail.contains("operator"), "{}", unlock.detail);
        // An unknown email is a clear error, not a silent success.
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_secureclose-cloud"))
            .args(["user", "unlock", "--database-url", &t.db.url])
            .args(["--email", "nobody@desertsun.example"])
            .output()
            .await
            .unwrap();
        assert!(!output.status.success());
        assert!(String::from_utf8_lossy(&output.stderr).contains("no account"));
        t.stop().await;
    }
}

/// Finding 8: a non-admin receives colleagues' name, email and role only, on
/// every road a user row takes (the list, one user, the sync pull, a push's
/// answer); disabled colleagues reach them as removed.
mod non_admin_view {
    use super::*;
    use secureclose_protocol::sync::ChangesPage;
    use secureclose_protocol::UsersResponse;

    on_both_backends!(
        no_road_gives_a_non_admin_colleague_phones_or_security_state,
        a_colleague_disabled_later_reaches_a_non_admin_as_removed,
    );

    const ROBERT: &str = "robert.okafor@desertsun.example";

    /// Every colleague's phone, as an admin sees them.
    async fn colleague_phones(t: &TestCloud, admin: &str) -> Vec<String> {
        let all: UsersResponse = t
            .get("/api/v1/users", Some(admin))
            .await
            .json()
            .await
            .unwrap();
        let phones: Vec<String> = all
            .users
            .into_iter()
            .filter(|u| u.email != TOM)
            .filter_map(|u| u.mobile_phone)
            .collect();
        assert!(
            phones.len() >= 4,
            "the demo company has colleagues with phones: {phones:?}"
        );
        phones
    }

    /// The body as text (so nothing hides in a field the types drop) and parsed.
    async fn body<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> (String, T) {
        assert_eq!(response.status(), StatusCode::OK);
        let text = response.text().await.unwrap();
        let parsed = serde_json::from_str(&text).unwrap();
        (text, parsed)
    }

    fn assert_withheld(users: &[User], me: &str) {
        for user in users.iter().filter(|u| u.email != me) {
            assert!(
                user.security_withheld
                    && user.mobile_phone.is_none()
                    && user.phone_verified_at.is_none()
                    && !user.two_factor_enabled,
                "a non-admin must not receive a colleague's phone or 2FA state: {user:?}"
            );
        }
        let own = users.iter().find(|u| u.email == me).expect("one's own row");
        assert!(!own.security_withheld, "one's own row is whole: {own:?}");
    }

    async fn no_road_gives_a_non_admin_colleague_phones_or_security_state(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let admin = t.admin_token().await;
        let phones = colleague_phones(&t, &admin).await;
        let tom = t.login_ok(TOM, &t.password_of(TOM)).await;
        let robert_id = t.user_id(ROBERT).await;
        let marcus_id = t.user_id(MARCUS).await;
        let leaks = |text: &str| phones.iter().filter(|p| text.contains(p.as_str())).count();

        let (text, UsersResponse { users }): (_, UsersResponse) =
            body(t.get("/api/v1/users", Some(&tom)).await).await;
        assert_eq!(
            leaks(&text),
            0,
            "GET /users leaked a colleague's phone: {text}"
        );
        assert_withheld(&users, TOM);
        assert!(
            users.iter().all(|u| u.id != robert_id),
            "disabled colleagues are not listed to a non-admin"
        );
        assert!(
            users.iter().any(|u| u.id == marcus_id),
            "active colleagues are listed"
        );

        let (text, page): (_, ChangesPage) =
            body(t.get("/api/v1/sync/changes?since=0", Some(&tom)).await).await;
        assert_eq!(
            leaks(&text),
            0,
            "the pull leaked a colleague's phone: {text}"
        );
        assert_withheld(&page.users, TOM);
        assert!(
            page.removed_user_ids.contains(&robert_id)
                && page.users.iter().all(|u| u.id != robert_id),
            "a disabled colleague reaches a non-admin's cache as removed: {page:?}"
        );

        let (text, marcus): (_, User) = body(
            t.get(&format!("/api/v1/users/{marcus_id}"), Some(&tom))
                .await,
        )
        .await;
        assert_eq!(leaks(&text), 0, "GET /users/{{id}} leaked a phone: {text}");
        assert!(
            marcus.security_withheld && marcus.mobile_phone.is_none() && !marcus.two_factor_enabled
        );
        expect_error(
            t.get(&format!("/api/v1/users/{robert_id}"), Some(&tom))
                .await,
            StatusCode::FORBIDDEN,
            codes::FORBIDDEN,
        )
        .await;

        // A refused push still answers with the entity: as Tom may see it.
        let push = Mutation {
            idempotency_key: "tom-tries".into(),
            base_version: marcus.version,
            change: MutationChange::UpdateUser {
                user_id: marcus_id.clone(),
                changes: UserUpdate {
                    display_name: Some("M".into()),
                    ..UserUpdate::default()
                },
                base: UserUpdate {
                    display_name: Some(marcus.display_name.clone()),
                    ..UserUpdate::default()
                },
            },
        };
        let response = t
            .http
            .post(t.url("/api/v1/sync/push"))
            .bearer_auth(&tom)
            .json(&serde_json::json!({ "mutations": [push] }))
            .send()
            .await
            .unwrap();
        let (text, pushed): (_, PushResponse) = body(response).await;
        assert_eq!(leaks(&text), 0, "a push answer leaked a phone: {text}");
        assert!(matches!(
            pushed.results[0].outcome,
            MutationOutcome::Rejected { .. }
        ));

        // Admins keep seeing everything.
        let (_, UsersResponse { users: full }): (String, UsersResponse) =
            body(t.get("/api/v1/users", Some(&admin)).await).await;
        assert!(
            full.iter().all(|u| !u.security_withheld),
            "admins get whole rows"
        );
        assert!(
            full.iter().any(|u| u.id == robert_id),
            "admins see disabled users to re-enable them"
        );
        t.stop().await;
    }

    async fn a_colleague_disabled_later_reaches_a_non_admin_as_removed(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let admin = t.admin_token().await;
        let tom = t.login_ok(TOM, &t.password_of(TOM)).await;
        let emily_id = t.user_id(EMILY).await;
        let first: ChangesPage = t
            .get("/api/v1/sync/changes?since=0", Some(&tom))
            .await
            .json()
            .await
            .unwrap();
        assert!(first.users.iter().any(|u| u.id == emily_id));

        patch_ok(&t, &admin, EMILY, serde_json::json!({"status": "disabled"})).await;
        let path = format!("/api/v1/sync/changes?since={}", first.cursor);
        let delta: ChangesPage = t.get(&path, Some(&tom)).await.json().await.unwrap();
        assert!(
            delta.removed_user_ids.contains(&emily_id)
                && delta.users.iter().all(|u| u.id != emily_id),
            "disabling a colleague removes them from a non-admin's cache: {delta:?}"
        );

        patch_ok(&t, &admin, EMILY, serde_json::json!({"status": "active"})).await;
        let path = format!("/api/v1/sync/changes?since={}", delta.cursor);
        let back: ChangesPage = t.get(&path, Some(&tom)).await.json().await.unwrap();
        let emily = back
            .users
            .iter()
            .find(|u| u.id == emily_id)
            .expect("re-enabled colleagues come back");
        assert!(emily.security_withheld && emily.mobile_phone.is_none());
        t.stop().await;
    }
}

/// Low 7: emails are unique per company. An admin's edit must not tell them
/// whether an address exists at another company, and sign-in with an address
/// several companies share asks which company, only once the password matched.
mod shared_email {
    use super::*;

    const NINA: &str = "nina.patel@canyonridge.example";

    on_both_backends!(
        an_admins_edit_never_answers_for_other_companies,
        a_password_matching_two_accounts_asks_for_the_company,
        a_wrong_password_on_a_shared_address_answers_like_an_unknown_one,
        a_locked_account_does_not_lock_out_the_others_of_its_address,
        the_operator_names_the_company_of_a_shared_address,
        a_resume_is_for_the_account_of_its_device_grant,
    );

    struct Shared {
        marcus: String,
        nina: String,
        desert_sun: String,
        canyon_ridge: String,
    }

    /// Desert Sun's admin gives Marcus Nina's address (she is at Canyon
    /// Ridge); with `same_password`, her password becomes his too (the seed
    /// hands out Desert Sun's passwords only).
    async fn share_ninas_address(t: &TestCloud, same_password: bool) -> Shared {
        let marcus = t.user_id(MARCUS).await;
        let nina = t.user_id(NINA).await;
        let canyon_ridge: String = sqlx::query_scalar("SELECT company_id FROM users WHERE id = $1")
            .bind(&nina)
            .fetch_one(&t.pool)
            .await
            .unwrap();
        let admin = t.admin_token().await;
        patch_ok(t, &admin, MARCUS, serde_json::json!({"email": NINA})).await;
        if same_password {
            sqlx::query(
                "UPDATE users SET password_hash = \
                 (SELECT password_hash FROM users WHERE id = $1) WHERE id = $2",
            )
            .bind(&marcus)
            .bind(&nina)
            .execute(&t.pool)
            .await
            .unwrap();
        }
        Shared {
            marcus,
            nina,
            desert_sun: t.seed.company_id.clone(),
            canyon_ridge,
        }
    }

    async fn login_at(
        t: &TestCloud,
        password: &str,
        company_id: Option<&str>,
    ) -> reqwest::Response {
        t.post(
            "/api/v1/login",
            serde_json::json!({"email": NINA, "password": password, "company_id": company_id}),
        )
        .await
    }

    /// `(password_failures, consecutive_failures)` of one account.
    async fn counters_of(t: &TestCloud, id: &str) -> (i64, i64) {
        let row =
            sqlx::query("SELECT password_failures, consecutive_failures FROM users WHERE id = $1")
                .bind(id)
                .fetch_one(&t.pool)
                .await
                .unwrap();
        use sqlx::Row as _;
        (
            row.get("password_failures"),
            row.get("consecutive_failures"),
        )
    }

    async fn signed_in_as(response: reqwest::Response) -> User {
        assert_eq!(response.status(), StatusCode::OK);
        match response.json().await.unwrap() {
            LoginResponse::SignedIn { user, .. } => user,
            other => panic!("signed in expected, got {other:?}"),
        }
    }

    async fn a_password_matching_two_accounts_asks_for_the_company(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let shared = share_ninas_address(&t, true).await;
        let password = t.password_of(MARCUS);
        let response = login_at(&t, &password, None).await;
        assert_eq!(response.status(), StatusCode::OK);
        let LoginResponse::CompanyChoiceRequired { companies } = response.json().await.unwrap()
        else {
            panic!("a password matching two accounts asks which company");
        };
        let ids: Vec<&str> = companies.iter().map(|c| c.id.as_str()).collect();
        let names: Vec<&str> = companies.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            ids,
            [shared.canyon_ridge.as_str(), shared.desert_sun.as_str()]
        );
        assert_eq!(
            names,
            ["Canyon Ridge Auto Group", t.seed.company_name.as_str()]
        );
        for id in [&shared.marcus, &shared.nina] {
            assert_eq!(
                counters_of(&t, id).await,
                (0, 0),
                "a right password counts nowhere"
            );
        }
        // With the company named, only that account signs in.
        let user = signed_in_as(login_at(&t, &password, Some(&shared.canyon_ridge)).await).await;
        assert_eq!(user.id, shared.nina);
        let user = signed_in_as(login_at(&t, &password, Some(&shared.desert_sun)).await).await;
        assert_eq!(user.id, shared.marcus);
        // The second factor works as ever once the company is chosen.
        sqlx::query("UPDATE users SET two_factor_enabled = 1 WHERE id = $1")
            .bind(&shared.marcus)
            .execute(&t.pool)
            .await
            .unwrap();
        let response = login_at(&t, &password, Some(&shared.desert_sun)).await;
        assert_eq!(response.status(), StatusCode::OK);
        let LoginResponse::SecondFactorRequired { challenge } = response.json().await.unwrap()
        else {
            panic!("Marcus needs a code now");
        };
        let code = t.latest_code(MARCUS_PHONE).await;
        let user = signed_in_as(t.verify(&challenge, &code).await).await;
        assert_eq!(user.id, shared.marcus);
        t.stop().await;
    }

    async fn a_wrong_password_on_a_shared_address_answers_like_an_unknown_one(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let shared = share_ninas_address(&t, false).await;
        let answer = |response: reqwest::Response| async move {
            (response.status(), response.text().await.unwrap())
        };
        let unknown = answer(
            t.login("nobody@canyonridge.example", "not-a-password")
                .await,
        )
        .await;
        assert_eq!(unknown.0, StatusCode::UNAUTHORIZED);
        let wrong = answer(login_at(&t, "not-a-password", None).await).await;
        assert_eq!(
            wrong, unknown,
            "a shared address must not show in the answer"
        );
        let named = answer(login_at(&t, "not-a-password", Some(&shared.desert_sun)).await).await;
        assert_eq!(named, unknown);
        // A company where the address has no account is an unknown email.
        let response = t
            .post(
                "/api/v1/login",
                serde_json::json!({
                    "email": TOM,
                    "password": t.password_of(TOM),
                    "company_id": shared.canyon_ridge,
                }),
            )
            .await;
        assert_eq!(answer(response).await, unknown);
        // The wrong password counted on every candidate account.
        assert_eq!(counters_of(&t, &shared.nina).await, (1, 1));
        assert_eq!(counters_of(&t, &shared.marcus).await, (2, 2));
        // Marcus's own password signs him in (it matches his account only),
        // and costs Nina's account nothing.
        let user = signed_in_as(login_at(&t, &t.password_of(MARCUS), None).await).await;
        assert_eq!(user.id, shared.marcus);
        assert_eq!(counters_of(&t, &shared.marcus).await, (0, 0));
        assert_eq!(
            counters_of(&t, &shared.nina).await,
            (1, 1),
            "released, not counted"
        );
        t.stop().await;
    }

    async fn a_locked_account_does_not_lock_out_the_others_of_its_address(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let shared = share_ninas_address(&t, false).await;
        sqlx::query("UPDATE users SET consecutive_failures = 100 WHERE id = $1")
            .bind(&shared.nina)
            .execute(&t.pool)
            .await
            .unwrap();
        let user = signed_in_as(login_at(&t, &t.password_of(MARCUS), None).await).await;
        assert_eq!(user.id, shared.marcus);
        // Her locked account is never checked, with or without the company.
        expect_error(
            login_at(
                &t,
                "her-password-is-never-checked",
                Some(&shared.canyon_ridge),
            )
            .await,
            StatusCode::LOCKED,
            codes::ACCOUNT_LOCKED,
        )
        .await;
        assert_eq!(counters_of(&t, &shared.nina).await.1, 100);
        sqlx::query("UPDATE users SET consecutive_failures = 100 WHERE id = $1")
            .bind(&shared.marcus)
            .execute(&t.pool)
            .await
            .unwrap();
        // Every candidate locked: the answer a single locked account gives.
        expect_error(
            login_at(&t, &t.password_of(MARCUS), None).await,
            StatusCode::LOCKED,
            codes::ACCOUNT_LOCKED,
        )
        .await;
        t.stop().await;
    }

    async fn an_admins_edit_never_answers_for_other_companies(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let admin = t.admin_token().await;
        let marcus_id = t.user_id(MARCUS).await;
        // Nina works at Canyon Ridge: Desert Sun's admin may give Marcus her address.
        let user = patch_ok(&t, &admin, MARCUS, serde_json::json!({"email": NINA})).await;
        assert_eq!(user.email, NINA);
        let accounts: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE lower(email) = $1")
                .bind(NINA)
                .fetch_one(&t.pool)
                .await
                .unwrap();
        assert_eq!(accounts, 2, "one account per company may share the address");
        // Within Desert Sun the address is now Marcus's: a duplicate is 409,
        // whatever the case.
        let error = expect_error(
            patch_user(
                &t,
                &admin,
                TOM,
                serde_json::json!({"email": NINA.to_uppercase()}),
            )
            .await,
            StatusCode::CONFLICT,
            codes::CONFLICT,
        )
        .await;
        assert_eq!(
            error.message,
            "another user in this company has this email address"
        );
        // Marcus keeps his own address on a no-op edit of it.
        let response = t
            .patch(
                &format!("/api/v1/users/{marcus_id}"),
                &admin,
                serde_json::json!({"email": NINA}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        t.stop().await;
    }

    async fn the_operator_names_the_company_of_a_shared_address(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let shared = share_ninas_address(&t, false).await;
        sqlx::query("UPDATE users SET consecutive_failures = 100")
            .execute(&t.pool)
            .await
            .unwrap();
        let unlock = |company: Option<&str>| {
            let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_secureclose-cloud"));
            command
                .args([
                    "user",
                    "unlock",
                    "--database-url",
                    &t.db.url,
                    "--email",
                    NINA,
                ])
                .env_remove("SECURECLOSE_DATABASE_URL");
            if let Some(company) = company {
                command.args(["--company", company]);
            }
            command.output()
        };
        let output = unlock(None).await.unwrap();
        assert!(!output.status.success(), "never a guess at which account");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--company"), "{stderr}");
        assert_eq!(counters_of(&t, &shared.nina).await.1, 100);
        assert_eq!(counters_of(&t, &shared.marcus).await.1, 100);
        let output = unlock(Some("Canyon Ridge Auto Group")).await.unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(counters_of(&t, &shared.nina).await.1, 0);
        assert_eq!(counters_of(&t, &shared.marcus).await.1, 100, "only hers");
        let output = unlock(Some(&shared.desert_sun)).await.unwrap();
        assert!(output.status.success());
        assert_eq!(counters_of(&t, &shared.marcus).await.1, 0);
        t.stop().await;
    }

    async fn a_resume_is_for_the_account_of_its_device_grant(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let shared = share_ninas_address(&t, true).await;
        let password = t.password_of(MARCUS);
        let response = login_at(&t, &password, Some(&shared.desert_sun)).await;
        assert_eq!(response.status(), StatusCode::OK);
        let LoginResponse::SignedIn { session, .. } = response.json().await.unwrap() else {
            panic!("Marcus signs in with the password alone");
        };
        let resume = |device_token: String, company_id: Option<String>| {
            t.post(
                "/api/v1/login/resume",
                serde_json::json!({
                    "email": NINA,
                    "password": password,
                    "device_token": device_token,
                    "company_id": company_id,
                }),
            )
        };
        let next = |response: reqwest::Response| async move {
            assert_eq!(response.status(), StatusCode::OK);
            match response.json().await.unwrap() {
                LoginResponse::SignedIn { session, user, .. } => (session, user),
                other => panic!("a resume signs in, got {other:?}"),
            }
        };
        // An older client names no company: the grant names the account.
        let (session, user) = next(resume(session.device_token.unwrap(), None).await).await;
        assert_eq!(user.id, shared.marcus);
        let (session, user) = next(
            resume(
                session.device_token.unwrap(),
                Some(shared.desert_sun.clone()),
            )
            .await,
        )
        .await;
        assert_eq!(user.id, shared.marcus);
        // Marcus's grant never resumes Nina's account.
        expect_error(
            resume(
                session.device_token.unwrap(),
                Some(shared.canyon_ridge.clone()),
            )
            .await,
            StatusCode::UNAUTHORIZED,
            codes::RESUME_REFUSED,
        )
        .await;
        t.stop().await;
    }
}
