//! The HTTP API's basics: login, the caller's account and company,
//! sessions, how passwords are stored and reseeded, and HTTP-level behaviour.

mod login {
    use reqwest::StatusCode;
    use secureclose_cloud::clock::now_ms;
    use secureclose_protocol::{codes, LoginResponse, Role, UserStatus};

    use crate::support::{expect_error, Backend, TestCloud, ROBERT};

    on_both_backends!(
        correct_password_signs_in_with_session_user_and_company,
        wrong_password_is_invalid_credentials,
        unknown_email_looks_exactly_like_a_wrong_password,
        disabled_user_is_refused_only_after_a_correct_password,
        queue_limit_answers_server_busy,
        empty_fields_are_a_validation_error,
    );

    async fn correct_password_signs_in_with_session_user_and_company(backend: Backend) {
        let t = TestCloud::start(backend).await;
        // Emails match regardless of case and surrounding spaces.
        let shouted = format!("  {}  ", t.seed.admin_email.to_uppercase());
        let response = t.login(&shouted, &t.seed.admin_password).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            body["status"], "signed_in",
            "tagged so 2FA states can be added"
        );
        let LoginResponse::SignedIn {
            session,
            user,
            company,
        } = serde_json::from_value(body).unwrap()
        else {
            panic!("the demo admin has no second factor: the password alone must sign in");
        };
        assert_eq!(session.token.len(), 64, "256-bit hex token");
        let twelve_hours = 12 * 3600 * 1000;
        let remaining = session.expires_at - now_ms();
        assert!(
            remaining > twelve_hours - 60_000 && remaining <= twelve_hours,
            "default session lifetime is 12 h, got {remaining} ms"
        );
        assert_eq!(user.email, t.seed.admin_email);
        assert_eq!(user.display_name, "Dana Admin");
        assert_eq!(user.role, Role::Admin);
        assert_eq!(user.status, UserStatus::Active);
        assert_eq!(user.company_id, t.seed.company_id);
        assert_eq!(company.id, t.seed.company_id);
        assert_eq!(company.name, "Desert Sun Motors");
        assert_eq!(company.dms.kind, "CDK Drive");
        assert!(company.dms.supports_two_factor);
        assert!(company.offline_policy.allowed);
        assert_eq!(company.offline_policy.max_hours, 72);
        t.stop().await;
    }

    async fn wrong_password_is_invalid_credentials(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let wrong = format!("{}x", t.seed.admin_password);
        let response = t.login(&t.seed.admin_email, &wrong).await;
        let error = expect_error(
            response,
            StatusCode::UNAUTHORIZED,
            codes::INVALID_CREDENTIALS,
        )
        .await;
        assert!(!error.message.contains(&wrong), "never echo a password");
        t.stop().await;
    }

    async fn unknown_email_looks_exactly_like_a_wrong_password(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let unknown = expect_error(
            t.login("nobody@desertsun.example", "whatever-password")
                .await,
            StatusCode::UNAUTHORIZED,
            codes::INVALID_CREDENTIALS,
        )
        .await;
        let wrong = expect_error(
            t.login(&t.seed.admin_email, "whatever-password").await,
            StatusCode::UNAUTHORIZED,
            codes::INVALID_CREDENTIALS,
        )
        .await;
        assert_eq!(
            unknown, wrong,
            "the answer must not reveal whether the email exists"
        );
        t.stop().await;
    }

    async fn disabled_user_is_refused_only_after_a_correct_password(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let email = ROBERT;
        // A wrong password must not reveal that the account exists but is disabled.
        expect_error(
            t.login(email, "not-his-password").await,
            StatusCode::UNAUTHORIZED,
            codes::INVALID_CREDENTIALS,
        )
        .await;
        expect_error(
            t.login(email, &t.password_of(email)).await,
            StatusCode::FORBIDDEN,
            codes::ACCOUNT_DISABLED,
        )
        .await;
        let sessions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
            .fetch_one(&t.pool)
            .await
            .unwrap();
        assert_eq!(sessions, 0, "a disabled user gets no session");
        t.stop().await;
    }

    async fn queue_limit_answers_server_busy(backend: Backend) {
        // No caller may wait for a hashing slot: every login is refused at once.
        let t = TestCloud::start_with(backend, |c| c.hash_queue_limit = 0).await;
        expect_error(
            t.login(&t.seed.admin_email, &t.seed.admin_password).await,
            StatusCode::SERVICE_UNAVAILABLE,
            codes::SERVER_BUSY,
        )
        .await;
        // An unknown email goes through the hasher too (a dummy verify): were it
        // answered without hashing, its speed would reveal that it is unknown.
        expect_error(
            t.login("nobody@desertsun.example", "whatever-password")
                .await,
            StatusCode::SERVICE_UNAVAILABLE,
            codes::SERVER_BUSY,
        )
        .await;
        t.stop().await;
    }

    async fn empty_fields_are_a_validation_error(backend: Backend) {
        let t = TestCloud::start(backend).await;
        expect_error(
            t.login("", "pw").await,
            StatusCode::BAD_REQUEST,
            codes::VALIDATION,
        )
        .await;
        expect_error(
            t.login(&t.seed.admin_email, "").await,
            StatusCode::BAD_REQUEST,
            codes::VALIDATION,
        )
        .await;
        t.stop().await;
    }
}

mod account {
    use reqwest::StatusCode;
    use secureclose_protocol::{codes, Company, MeResponse, UserStatus, UsersResponse};

    use crate::support::{expect_error, Backend, TestCloud, MARCUS, MARCUS_PHONE, ROBERT};

    on_both_backends!(
        protected_endpoints_refuse_missing_or_bad_tokens,
        me_company_and_users_answer_for_the_callers_company,
        a_plain_user_sees_the_active_company_directory,
    );

    const PROTECTED: [&str; 3] = ["/api/v1/me", "/api/v1/company", "/api/v1/users"];

    async fn protected_endpoints_refuse_missing_or_bad_tokens(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let bogus = "0".repeat(64);
        for path in PROTECTED {
            expect_error(
                t.get(path, None).await,
                StatusCode::UNAUTHORIZED,
                codes::UNAUTHENTICATED,
            )
            .await;
            expect_error(
                t.get(path, Some(&bogus)).await,
                StatusCode::UNAUTHORIZED,
                codes::UNAUTHENTICATED,
            )
            .await;
            let basic = t
                .http
                .get(t.url(path))
                .header("Authorization", format!("Basic {bogus}"))
                .send()
                .await
                .unwrap();
            expect_error(basic, StatusCode::UNAUTHORIZED, codes::UNAUTHENTICATED).await;
        }
        let logout = t.http.post(t.url("/api/v1/logout")).send().await.unwrap();
        expect_error(logout, StatusCode::UNAUTHORIZED, codes::UNAUTHENTICATED).await;
        t.stop().await;
    }

    async fn me_company_and_users_answer_for_the_callers_company(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let token = t.admin_token().await;

        let me: MeResponse = t
            .get("/api/v1/me", Some(&token))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(me.user.email, t.seed.admin_email);
        assert_eq!(me.company.id, t.seed.company_id);

        let response = t.get("/api/v1/company", Some(&token)).await;
        assert_eq!(response.status(), StatusCode::OK);
        let company: Company = response.json().await.unwrap();
        assert_eq!(company, me.company, "/company and /me agree");
        assert!(!company.two_factor_required, "demo starts with 2FA off");

        let response = t.get("/api/v1/users", Some(&token)).await;
        assert_eq!(response.status(), StatusCode::OK);
        let users = response.json::<UsersResponse>().await.unwrap().users;
        assert_eq!(
            users.len(),
            t.seed.users.len() + 1,
            "admin plus the seeded staff"
        );
        assert!(
            users.iter().all(|u| u.company_id == t.seed.company_id),
            "another company's users must never be listed"
        );
        assert!(!users
            .iter()
            .any(|u| u.email.ends_with("@canyonridge.example")));
        let names: Vec<&str> = users.iter().map(|u| u.display_name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "users come sorted by display name");
        let robert = users.iter().find(|u| u.email == ROBERT).unwrap();
        assert_eq!(robert.status, UserStatus::Disabled);
        let marcus = users.iter().find(|u| u.email == MARCUS).unwrap();
        assert_eq!(marcus.mobile_phone.as_deref(), Some(MARCUS_PHONE));
        assert!(marcus.phone_verified_at.is_some());
        let raw = t
            .get("/api/v1/users", Some(&token))
            .await
            .text()
            .await
            .unwrap();
        assert!(
            !raw.contains("argon2"),
            "password hashes never leave the server"
        );
        t.stop().await;
    }

    async fn a_plain_user_sees_the_active_company_directory(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let email = MARCUS;
        let token = t.login_ok(email, &t.password_of(email)).await;
        let me: MeResponse = t
            .get("/api/v1/me", Some(&token))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(me.user.email, email);
        let users: UsersResponse = t
            .get("/api/v1/users", Some(&token))
            .await
            .json()
            .await
            .unwrap();
        let admin = t.admin_token().await;
        let all: UsersResponse = t
            .get("/api/v1/users", Some(&admin))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            all.users.len(),
            t.seed.users.len() + 1,
            "admins see everyone"
        );
        let active = all
            .users
            .iter()
            .filter(|u| u.status == secureclose_protocol::UserStatus::Active)
            .count();
        assert!(active < all.users.len(), "the seed has a disabled user");
        assert_eq!(
            users.users.len(),
            active,
            "every active user (the admin included), no disabled colleague"
        );
        t.stop().await;
    }
}

mod sessions {
    use reqwest::StatusCode;
    use secureclose_cloud::tokens::token_hash;
    use secureclose_protocol::codes;
    use sqlx::Row as _;

    use crate::support::{expect_error, Backend, TestCloud, EMILY};

    on_both_backends!(
        an_expired_session_is_session_expired,
        an_expired_session_row_is_session_expired,
        logout_revokes_the_session,
        disabling_a_user_cuts_their_live_sessions,
        the_session_token_is_stored_only_as_its_sha256,
    );

    async fn an_expired_session_is_session_expired(backend: Backend) {
        // A zero lifetime: the session is already over when /me is asked.
        let t = TestCloud::start_with(backend, |c| c.session_ttl = std::time::Duration::ZERO).await;
        let token = t.admin_token().await;
        expect_error(
            t.get("/api/v1/me", Some(&token)).await,
            StatusCode::UNAUTHORIZED,
            codes::SESSION_EXPIRED,
        )
        .await;
        t.stop().await;
    }

    async fn an_expired_session_row_is_session_expired(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let token = t.admin_token().await;
        assert_eq!(
            t.get("/api/v1/me", Some(&token)).await.status(),
            StatusCode::OK
        );
        sqlx::query("UPDATE sessions SET expires_at = $1 WHERE token_hash = $2")
            .bind(1_i64)
            .bind(token_hash(&token))
            .execute(&t.pool)
            .await
            .unwrap();
        expect_error(
            t.get("/api/v1/users", Some(&token)).await,
            StatusCode::UNAUTHORIZED,
            codes::SESSION_EXPIRED,
        )
        .await;
        t.stop().await;
    }

    async fn logout_revokes_the_session(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let token = t.admin_token().await;
        let other = t.admin_token().await;
        let response = t
            .http
            .post(t.url("/api/v1/logout"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        expect_error(
            t.get("/api/v1/me", Some(&token)).await,
            StatusCode::UNAUTHORIZED,
            codes::UNAUTHENTICATED,
        )
        .await;
        let revoked: Option<i64> =
            sqlx::query_scalar("SELECT revoked_at FROM sessions WHERE token_hash = $1")
                .bind(token_hash(&token))
                .fetch_one(&t.pool)
                .await
                .unwrap();
        assert!(revoked.is_some(), "logout records the revocation");
        assert_eq!(
            t.get("/api/v1/me", Some(&other)).await.status(),
            StatusCode::OK,
            "logout ends only the caller's session, not the user's others"
        );
        let again = t
            .http
            .post(t.url("/api/v1/logout"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        expect_error(again, StatusCode::UNAUTHORIZED, codes::UNAUTHENTICATED).await;
        t.stop().await;
    }

    async fn disabling_a_user_cuts_their_live_sessions(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let email = EMILY;
        let token = t.login_ok(email, &t.password_of(email)).await;
        sqlx::query("UPDATE users SET status = 'disabled' WHERE email = $1")
            .bind(email)
            .execute(&t.pool)
            .await
            .unwrap();
        expect_error(
            t.get("/api/v1/me", Some(&token)).await,
            StatusCode::FORBIDDEN,
            codes::ACCOUNT_DISABLED,
        )
        .await;
        t.stop().await;
    }

    async fn the_session_token_is_stored_only_as_its_sha256(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let token = t.admin_token().await;
        let rows = sqlx::query("SELECT token_hash, user_id FROM sessions")
            .fetch_all(&t.pool)
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        let stored: String = rows[0].get("token_hash");
        assert_eq!(
            stored,
            token_hash(&token),
            "the row is keyed by SHA-256 of the token"
        );
        assert_ne!(stored, token, "the raw token is never stored");
        t.stop().await;
    }
}

mod storage {
    use reqwest::StatusCode;
    use secureclose_cloud::seed_demo;
    use secureclose_protocol::codes;
    use sqlx::Row as _;

    use crate::support::{expect_error, Backend, TestCloud};

    on_both_backends!(
        password_hashes_are_argon2id_at_owasp_parameters_without_plaintext,
        seeding_again_rotates_passwords_without_duplicating,
    );

    async fn password_hashes_are_argon2id_at_owasp_parameters_without_plaintext(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let rows = sqlx::query("SELECT email, password_hash FROM users")
            .fetch_all(&t.pool)
            .await
            .unwrap();
        assert!(rows.len() >= 10, "both demo companies are seeded");
        let mut passwords = vec![t.seed.admin_password.clone()];
        passwords.extend(t.seed.users.iter().map(|(_, p)| p.clone()));
        for row in &rows {
            let email: String = row.get("email");
            let hash: String = row.get("password_hash");
            assert!(
                hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
                "{email}: argon2id at OWASP parameters, got {hash}"
            );
            for password in &passwords {
                assert!(
                    !hash.contains(password.as_str()),
                    "{email}: plaintext in the hash column"
                );
            }
        }
        t.stop().await;
    }

    async fn seeding_again_rotates_passwords_without_duplicating(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let count = |pool: sqlx::AnyPool| async move {
            let row = sqlx::query(
                "SELECT (SELECT COUNT(*) FROM companies) AS companies, (SELECT COUNT(*) FROM users) AS users",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            (row.get::<i64, _>("companies"), row.get::<i64, _>("users"))
        };
        let before = count(t.pool.clone()).await;
        let again = seed_demo(&t.db.url).await.unwrap();
        assert_eq!(
            count(t.pool.clone()).await,
            before,
            "re-seeding must not duplicate"
        );
        assert_eq!(again.company_id, t.seed.company_id, "same company");
        assert_ne!(
            again.admin_password, t.seed.admin_password,
            "fresh random password"
        );
        expect_error(
            t.login(&t.seed.admin_email, &t.seed.admin_password).await,
            StatusCode::UNAUTHORIZED,
            codes::INVALID_CREDENTIALS,
        )
        .await;
        t.login_ok(&again.admin_email, &again.admin_password).await;
        assert!(
            !format!("{again:?}").contains(&again.admin_password),
            "Debug output of the seed must not reveal passwords"
        );
        t.stop().await;
    }
}

mod http {
    use reqwest::StatusCode;
    use secureclose_protocol::{codes, Health};

    use crate::support::{expect_error, Backend, TestCloud};

    on_both_backends!(
        health_reports_the_backend,
        shutdown_stops_serving,
        malformed_json_is_a_validation_error_that_never_echoes_input,
        an_oversize_body_is_payload_too_large,
        unknown_routes_and_methods_answer_json,
        the_served_openapi_document_lists_every_path,
    );

    async fn health_reports_the_backend(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let health: Health = t.get("/api/v1/health", None).await.json().await.unwrap();
        assert_eq!(health.status, "ok");
        let expected = match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        };
        assert_eq!(health.database, expected);
        t.stop().await;
    }

    async fn shutdown_stops_serving(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let url = t.url("/api/v1/health");
        let http = t.http.clone();
        assert_eq!(
            http.get(&url).send().await.unwrap().status(),
            StatusCode::OK
        );
        t.stop().await;
        // A fresh client: no pooled connection may outlive the server.
        let after = reqwest::Client::new().get(&url).send().await;
        assert!(after.is_err(), "a shut-down server must refuse connections");
    }

    async fn malformed_json_is_a_validation_error_that_never_echoes_input(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let post = |body: &'static str, json: bool| {
            let mut request = t.http.post(t.url("/api/v1/login")).body(body);
            if json {
                request = request.header("Content-Type", "application/json");
            }
            request.send()
        };
        let syntax = expect_error(
            post(r#"{"email": "a@b.c", "password": "Sup3rSecret"#, true)
                .await
                .unwrap(),
            StatusCode::BAD_REQUEST,
            codes::VALIDATION,
        )
        .await;
        assert!(
            syntax.message.contains("not valid JSON"),
            "{}",
            syntax.message
        );
        assert!(
            !syntax.message.contains("Sup3rSecret"),
            "never echo a password"
        );

        let wrong_type = expect_error(
            post(r#"{"email": "a@b.c", "password": ["Sup3rSecret"]}"#, true)
                .await
                .unwrap(),
            StatusCode::BAD_REQUEST,
            codes::VALIDATION,
        )
        .await;
        assert!(
            !wrong_type.message.contains("Sup3rSecret"),
            "serde's messages quote values; ours must not: {}",
            wrong_type.message
        );
        expect_error(
            post(r#"{"email": "a@b.c"}"#, true).await.unwrap(),
            StatusCode::BAD_REQUEST,
            codes::VALIDATION,
        )
        .await;
        expect_error(
            post(r#"{"email": "a@b.c", "password": "x"}"#, false)
                .await
                .unwrap(),
            StatusCode::BAD_REQUEST,
            codes::VALIDATION,
        )
        .await;
        t.stop().await;
    }

    async fn an_oversize_body_is_payload_too_large(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let huge = "x".repeat(100 * 1024);
        let response = t
            .http
            .post(t.url("/api/v1/login"))
            .json(&serde_json::json!({ "email": "a@b.c", "password": huge }))
            .send()
            .await
            .unwrap();
        expect_error(
            response,
            StatusCode::PAYLOAD_TOO_LARGE,
            codes::PAYLOAD_TOO_LARGE,
        )
        .await;
        t.stop().await;
    }

    async fn unknown_routes_and_methods_answer_json(backend: Backend) {
        let t = TestCloud::start(backend).await;
        expect_error(
            t.get("/api/v1/nope", None).await,
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
        )
        .await;
        expect_error(
            t.get("/", None).await,
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
        )
        .await;
        expect_error(
            t.get("/api/v1/login", None).await,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        )
        .await;
        t.stop().await;
    }

    async fn the_served_openapi_document_lists_every_path(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let response = t.get("/api/v1/openapi.json", None).await;
        assert_eq!(response.status(), StatusCode::OK);
        let doc: serde_json::Value = response.json().await.unwrap();
        assert!(
            doc["openapi"].as_str().unwrap_or_default().starts_with('3'),
            "an OpenAPI 3 document"
        );
        for (path, method) in [
            ("/api/v1/health", "get"),
            ("/api/v1/login", "post"),
            ("/api/v1/logout", "post"),
            ("/api/v1/me", "get"),
            ("/api/v1/company", "get"),
            ("/api/v1/users", "get"),
            ("/api/v1/openapi.json", "get"),
        ] {
            assert!(
                doc["paths"][path][method].is_object(),
                "{method} {path} missing from the served document"
            );
        }
        let printed: serde_json::Value =
            serde_json::from_str(&secureclose_cloud::openapi_document().unwrap()).unwrap();
        assert_eq!(
            doc, printed,
            "the CLI prints the same document the server serves"
        );
        t.stop().await;
    }
}
