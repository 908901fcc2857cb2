//! The second factor: texted codes (expiry, one use, binding to the login
//! attempt, wrong-code and send limits), failure counters, phone enrolment,
//! the limits across two instances, the Twilio gateway and the dev outbox
//! outside dev mode.

mod codes {
    use std::time::Duration;

    use reqwest::StatusCode;
    use secureclose_cloud::service::two_factor::code_hash;
    use secureclose_protocol::{codes, Challenge, LoginResponse};
    use sqlx::Row as _;

    use crate::support::{
        expect_error, wrong_code, Backend, TestCloud, EMILY, MARCUS, MARCUS_PHONE,
    };

    on_both_backends!(
        a_second_factor_login_texts_a_six_digit_code_stored_only_hashed,
        a_code_expires_after_ten_minutes,
        a_code_works_only_once,
        a_code_is_bound_to_its_login_attempt,
        five_wrong_codes_close_the_attempt,
        resend_waits_thirty_seconds_and_replaces_the_code,
        at_most_five_sends_per_ten_minutes_per_user,
        at_most_five_sends_per_ten_minutes_per_number,
        a_login_attempt_expires,
    );

    async fn marcus_challenge(t: &TestCloud) -> Challenge {
        t.enable_two_factor(MARCUS).await;
        t.login_for_code(MARCUS, &t.password_of(MARCUS)).await
    }

    async fn a_second_factor_login_texts_a_six_digit_code_stored_only_hashed(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let now = t.now();
        let challenge = marcus_challenge(&t).await;
        assert_eq!(challenge.phone_hint.as_deref(), Some("••• ••• 0123"));
        assert!(challenge.code_sent);
        assert_eq!(challenge.attempts_left, 5);
        assert_eq!(challenge.code_expires_at, Some(now + 10 * 60 * 1000));
        assert_eq!(challenge.resend_available_at, Some(now + 30 * 1000));
        let messages = secureclose_cloud::outbox(&t.db.url, Some(MARCUS_PHONE))
            .await
            .unwrap();
        assert_eq!(messages.len(), 1, "one text per login");
        let code = crate::support::extract_code(&messages[0].body);
        assert_eq!(
            messages[0].body,
            format!("SecureClose code: {code}. It expires in 10 minutes. Don't share it.")
        );
        // Stored: only hashes, the code's bound to the attempt id.
        let row = sqlx::query("SELECT id_hash, code_hash FROM login_challenges")
            .fetch_one(&t.pool)
            .await
            .unwrap();
        let stored_code: String = row.get("code_hash");
        let stored_id: String = row.get("id_hash");
        assert_eq!(stored_code, code_hash(&challenge.challenge_id, &code));
        assert!(
            !stored_code.contains(&code),
            "the code itself is never stored"
        );
        assert_ne!(stored_id, challenge.challenge_id, "nor the attempt id");
        let audit = secureclose_cloud::db::audit::all(&t.pool).await.unwrap();
        for event in &audit {
            assert!(
                !event.detail.contains(&code) && !event.detail.contains(&challenge.challenge_id),
                "audit details hold no secret: {event:?}"
            );
        }

        let response = t.verify(&challenge, &code).await;
        assert_eq!(response.status(), StatusCode::OK);
        let LoginResponse::SignedIn { session, user, .. } = response.json().await.unwrap() else {
            panic!("the right code signs in");
        };
        assert_eq!(user.email, MARCUS);
        assert_eq!(
            t.get("/api/v1/me", Some(&session.token)).await.status(),
            StatusCode::OK
        );
        t.stop().await;
    }

    async fn a_code_expires_after_ten_minutes(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let first = marcus_challenge(&t).await;
        let code = t.latest_code(MARCUS_PHONE).await;
        t.advance(Duration::from_secs(10 * 60));
        let error = expect_error(
            t.verify(&first, &code).await,
            StatusCode::BAD_REQUEST,
            codes::CODE_EXPIRED,
        )
        .await;
        assert!(error.message.contains("expired"));
        // One millisecond earlier it still works (new attempt, same timing).
        let second = t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
        let code = t.latest_code(MARCUS_PHONE).await;
        t.advance(Duration::from_millis(10 * 60 * 1000 - 1));
        assert_eq!(t.verify(&second, &code).await.status(), StatusCode::OK);
        t.stop().await;
    }

    async fn a_code_works_only_once(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let challenge = marcus_challenge(&t).await;
        let code = t.latest_code(MARCUS_PHONE).await;
        assert_eq!(t.verify(&challenge, &code).await.status(), StatusCode::OK);
        expect_error(
            t.verify(&challenge, &code).await,
            StatusCode::UNAUTHORIZED,
            codes::CHALLENGE_CLOSED,
        )
        .await;
        let sessions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
            .fetch_one(&t.pool)
            .await
            .unwrap();
        assert_eq!(
            sessions, 1,
            "a replayed code must not mint a second session"
        );
        t.stop().await;
    }

    async fn a_code_is_bound_to_its_login_attempt(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let a = marcus_challenge(&t).await;
        let code_a = t.latest_code(MARCUS_PHONE).await;
        let mut b = t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
        let mut code_b = t.latest_code(MARCUS_PHONE).await;
        // One chance in a million that B drew A's code: draw again.
        while code_b == code_a {
            b = t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
            code_b = t.latest_code(MARCUS_PHONE).await;
        }
        let error = expect_error(
            t.verify(&b, &code_a).await,
            StatusCode::BAD_REQUEST,
            codes::INVALID_CODE,
        )
        .await;
        assert_eq!(
            error.attempts_left,
            Some(4),
            "it counts as a wrong try on B"
        );
        assert_eq!(t.verify(&b, &code_b).await.status(), StatusCode::OK);
        assert_eq!(
            t.verify(&a, &code_a).await.status(),
            StatusCode::OK,
            "A's code still opens A: attempts are independent"
        );
        t.stop().await;
    }

    async fn five_wrong_codes_close_the_attempt(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let challenge = marcus_challenge(&t).await;
        let code = t.latest_code(MARCUS_PHONE).await;
        let wrong = wrong_code(&code);
        for left in (1..=4).rev() {
            let error = expect_error(
                t.verify(&challenge, &wrong).await,
                StatusCode::BAD_REQUEST,
                codes::INVALID_CODE,
            )
            .await;
            assert_eq!(error.attempts_left, Some(left));
        }
        expect_error(
            t.verify(&challenge, &wrong).await,
            StatusCode::UNAUTHORIZED,
            codes::CHALLENGE_CLOSED,
        )
        .await;
        expect_error(
            t.verify(&challenge, &code).await,
            StatusCode::UNAUTHORIZED,
            codes::CHALLENGE_CLOSED,
        )
        .await;
        t.advance(Duration::from_secs(60));
        expect_error(
            t.resend(&challenge).await,
            StatusCode::UNAUTHORIZED,
            codes::CHALLENGE_CLOSED,
        )
        .await;
        t.stop().await;
    }

    async fn resend_waits_thirty_seconds_and_replaces_the_code(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let sent_at = t.now();
        let challenge = marcus_challenge(&t).await;
        let old = t.latest_code(MARCUS_PHONE).await;
        let error = expect_error(
            t.resend(&challenge).await,
            StatusCode::TOO_MANY_REQUESTS,
            codes::RESEND_TOO_SOON,
        )
        .await;
        assert_eq!(error.retry_at, Some(sent_at + 30_000));
        t.advance(Duration::from_secs(29));
        expect_error(
            t.resend(&challenge).await,
            StatusCode::TOO_MANY_REQUESTS,
            codes::RESEND_TOO_SOON,
        )
        .await;
        t.advance(Duration::from_secs(1));
        let response = t.resend(&challenge).await;
        assert_eq!(response.status(), StatusCode::OK);
        let renewed: Challenge = response.json().await.unwrap();
        assert_eq!(renewed.resend_available_at, Some(t.now() + 30_000));
        assert_eq!(renewed.code_expires_at, Some(t.now() + 600_000));
        assert_eq!(t.outbox_count(MARCUS_PHONE).await, 2);
        let new = t.latest_code(MARCUS_PHONE).await;
        if new != old {
            expect_error(
                t.verify(&challenge, &old).await,
                StatusCode::BAD_REQUEST,
                codes::INVALID_CODE,
            )
            .await;
        }
        assert_eq!(t.verify(&challenge, &new).await.status(), StatusCode::OK);
        t.stop().await;
    }

    async fn at_most_five_sends_per_ten_minutes_per_user(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let first_send = t.now();
        let challenge = marcus_challenge(&t).await;
        for _ in 0..4 {
            t.advance(Duration::from_secs(30));
            assert_eq!(t.resend(&challenge).await.status(), StatusCode::OK);
        }
        t.advance(Duration::from_secs(30));
        let error = expect_error(
            t.resend(&challenge).await,
            StatusCode::TOO_MANY_REQUESTS,
            codes::SMS_LIMIT,
        )
        .await;
        assert_eq!(error.retry_at, Some(first_send + 600_000));
        // A fresh login does not reset the budget either.
        expect_error(
            t.login(MARCUS, &t.password_of(MARCUS)).await,
            StatusCode::TOO_MANY_REQUESTS,
            codes::SMS_LIMIT,
        )
        .await;
        assert_eq!(t.outbox_count(MARCUS_PHONE).await, 5);
        t.clock.set(first_send + 600_000);
        assert_eq!(
            t.resend(&challenge).await.status(),
            StatusCode::OK,
            "the window slides: the first send has aged out"
        );
        t.stop().await;
    }

    async fn at_most_five_sends_per_ten_minutes_per_number(backend: Backend) {
        let t = TestCloud::start(backend).await;
        // Two accounts share one number (an attacker pumping SMS to it).
        sqlx::query(
            "UPDATE users SET mobile_phone = $1, phone_verified_at = 1, two_factor_enabled = 1 \
             WHERE email = $2 OR email = $3",
        )
        .bind(MARCUS_PHONE)
        .bind(MARCUS)
        .bind(EMILY)
        .execute(&t.pool)
        .await
        .unwrap();
        let m = t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
        for _ in 0..2 {
            t.advance(Duration::from_secs(30));
            assert_eq!(t.resend(&m).await.status(), StatusCode::OK);
        }
        let e = t.login_for_code(EMILY, &t.password_of(EMILY)).await;
        t.advance(Duration::from_secs(30));
        assert_eq!(t.resend(&e).await.status(), StatusCode::OK);
        t.advance(Duration::from_secs(30));
        expect_error(
            t.resend(&e).await,
            StatusCode::TOO_MANY_REQUESTS,
            codes::SMS_LIMIT,
        )
        .await;
        assert_eq!(
            t.outbox_count(MARCUS_PHONE).await,
            5,
            "Emily sent only 2 herself: the number's budget refused the 6th"
        );
        t.stop().await;
    }

    async fn a_login_attempt_expires(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let challenge = marcus_challenge(&t).await;
        // Keep resending inside the 10-minute budget until the attempt's 30 min are up.
        t.advance(Duration::from_secs(30 * 60));
        expect_error(
            t.resend(&challenge).await,
            StatusCode::UNAUTHORIZED,
            codes::CHALLENGE_CLOSED,
        )
        .await;
        let code = t.latest_code(MARCUS_PHONE).await;
        expect_error(
            t.verify(&challenge, &code).await,
            StatusCode::UNAUTHORIZED,
            codes::CHALLENGE_CLOSED,
        )
        .await;
        t.stop().await;
    }
}

mod failures {
    use std::time::Duration;

    use reqwest::StatusCode;
    use secureclose_protocol::codes;

    use crate::support::{expect_error, wrong_code, Backend, TestCloud, MARCUS, MARCUS_PHONE};

    on_both_backends!(
        password_and_code_failures_are_counted_apart,
        repeated_failures_slow_down,
        the_hundredth_consecutive_failure_locks_until_an_admin_reactivates,
        wrong_codes_count_towards_the_lock,
    );

    async fn password_and_code_failures_are_counted_apart(backend: Backend) {
        let t = TestCloud::start(backend).await;
        t.enable_two_factor(MARCUS).await;
        for _ in 0..2 {
            expect_error(
                t.login(MARCUS, "wrong-password").await,
                StatusCode::UNAUTHORIZED,
                codes::INVALID_CREDENTIALS,
            )
            .await;
        }
        assert_eq!(t.counters(MARCUS).await, (2, 0, 2));
        let challenge = t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
        assert_eq!(
            t.counters(MARCUS).await,
            (0, 0, 2),
            "a right password resets its own counter, not the run of failures"
        );
        let code = t.latest_code(MARCUS_PHONE).await;
        t.verify(&challenge, &wrong_code(&code)).await;
        assert_eq!(t.counters(MARCUS).await, (0, 1, 3));
        assert_eq!(t.verify(&challenge, &code).await.status(), StatusCode::OK);
        assert_eq!(t.counters(MARCUS).await, (0, 0, 0), "a sign-in clears all");
        t.stop().await;
    }

    async fn repeated_failures_slow_down(backend: Backend) {
        let t = TestCloud::start(backend).await;
        for _ in 0..5 {
            expect_error(
                t.login(MARCUS, "wrong-password").await,
                StatusCode::UNAUTHORIZED,
                codes::INVALID_CREDENTIALS,
            )
            .await;
        }
        let last_failure = t.now();
        // Even the right password must wait now (2^(5-5) = 1 s).
        let error = expect_error(
            t.login(MARCUS, &t.password_of(MARCUS)).await,
            StatusCode::TOO_MANY_REQUESTS,
            codes::RATE_LIMITED,
        )
        .await;
        assert_eq!(error.retry_at, Some(last_failure + 1_000));
        t.advance(Duration::from_secs(1));
        expect_error(
            t.login(MARCUS, "wrong-password").await,
            StatusCode::UNAUTHORIZED,
            codes::INVALID_CREDENTIALS,
        )
        .await;
        // 6 failures: 2 s now.
        t.advance(Duration::from_millis(1_999));
        let error = expect_error(
            t.login(MARCUS, &t.password_of(MARCUS)).await,
            StatusCode::TOO_MANY_REQUESTS,
            codes::RATE_LIMITED,
        )
        .await;
        assert_eq!(error.retry_at, Some(t.now() + 1));
        t.advance(Duration::from_millis(1));
        t.login_ok(MARCUS, &t.password_of(MARCUS)).await;
        assert_eq!(t.counters(MARCUS).await, (0, 0, 0));
        // The delay is capped at 15 minutes.
        sqlx::query(
            "UPDATE users SET consecutive_failures = 60, last_failure_at = $1 WHERE email = $2",
        )
        .bind(t.now())
        .bind(MARCUS)
        .execute(&t.pool)
        .await
        .unwrap();
        let error = expect_error(
            t.login(MARCUS, &t.password_of(MARCUS)).await,
            StatusCode::TOO_MANY_REQUESTS,
            codes::RATE_LIMITED,
        )
        .await;
        assert_eq!(error.retry_at, Some(t.now() + 15 * 60 * 1000));
        t.stop().await;
    }

    async fn the_hundredth_consecutive_failure_locks_until_an_admin_reactivates(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let set_failures = |n: i64| {
            sqlx::query(
                "UPDATE users SET consecutive_failures = $1, last_failure_at = $2 WHERE email = $3",
            )
            .bind(n)
            .bind(t.now() - 3_600_000)
            .bind(MARCUS)
            .execute(&t.pool)
        };
        // 99 failures: the right password still gets in (and clears the run).
        set_failures(99).await.unwrap();
        t.login_ok(MARCUS, &t.password_of(MARCUS)).await;
        set_failures(99).await.unwrap();
        t.advance(Duration::from_secs(3600));
        expect_error(
            t.login(MARCUS, "wrong-password").await,
            StatusCode::UNAUTHORIZED,
            codes::INVALID_CREDENTIALS,
        )
        .await;
        t.advance(Duration::from_secs(24 * 3600));
        let error = expect_error(
            t.login(MARCUS, &t.password_of(MARCUS)).await,
            StatusCode::LOCKED,
            codes::ACCOUNT_LOCKED,
        )
        .await;
        assert!(error.message.contains("administrator"));
        let marcus_id = t.user_id(MARCUS).await;
        assert!(t
            .audit_kinds(&marcus_id)
            .await
            .contains(&"account_locked".to_string()));
        // An admin re-activates the account: the lock is lifted.
        let admin = t.admin_token().await;
        let response = t
            .patch(
                &format!("/api/v1/users/{marcus_id}"),
                &admin,
                serde_json::json!({"status": "active"}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(t
            .audit_kinds(&marcus_id)
            .await
            .contains(&"account_unlocked".to_string()));
        t.login_ok(MARCUS, &t.password_of(MARCUS)).await;
        t.stop().await;
    }

    async fn wrong_codes_count_towards_the_lock(backend: Backend) {
        let t = TestCloud::start(backend).await;
        t.enable_two_factor(MARCUS).await;
        let challenge = t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
        let code = t.latest_code(MARCUS_PHONE).await;
        sqlx::query("UPDATE users SET consecutive_failures = 99 WHERE email = $1")
            .bind(MARCUS)
            .execute(&t.pool)
            .await
            .unwrap();
        expect_error(
            t.verify(&challenge, &wrong_code(&code)).await,
            StatusCode::BAD_REQUEST,
            codes::INVALID_CODE,
        )
        .await;
        expect_error(
            t.verify(&challenge, &code).await,
            StatusCode::LOCKED,
            codes::ACCOUNT_LOCKED,
        )
        .await;
        t.stop().await;
    }
}

mod enrolment {
    use std::time::Duration;

    use reqwest::StatusCode;
    use secureclose_protocol::{codes, Challenge, LoginResponse};

    use crate::support::{expect_error, Backend, TestCloud, LUCIA, LUCIA_PHONE, MARCUS, TOM};

    on_both_backends!(
        company_2fa_enrols_a_user_without_a_phone_then_asks_only_for_codes,
        a_phone_on_file_gets_the_code_and_becomes_verified,
        enrol_phone_is_refused_on_a_code_attempt,
    );

    async fn company_2fa_enrols_a_user_without_a_phone_then_asks_only_for_codes(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let admin = t.admin_token().await;
        let response = t
            .patch(
                "/api/v1/company",
                &admin,
                serde_json::json!({"two_factor_required": true}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let LoginResponse::PhoneEnrollmentRequired { challenge } =
            t.login_response(TOM, &t.password_of(TOM)).await
        else {
            panic!("Tom has no phone: company 2FA must make him enrol one");
        };
        assert_eq!(challenge.phone_hint, None);
        assert!(!challenge.code_sent, "no number yet, no code yet");
        expect_error(
            t.verify(&challenge, "123456").await,
            StatusCode::BAD_REQUEST,
            codes::VALIDATION,
        )
        .await;
        expect_error(
            t.resend(&challenge).await,
            StatusCode::BAD_REQUEST,
            codes::VALIDATION,
        )
        .await;
        let enrol = |phone: &str| {
            t.post(
                "/api/v1/login/enroll-phone",
                serde_json::json!({"challenge_id": challenge.challenge_id, "mobile_phone": phone}),
            )
        };
        let error = expect_error(
            enrol("12ab").await,
            StatusCode::BAD_REQUEST,
            codes::INVALID_PHONE,
        )
        .await;
        assert!(
            error.message.contains("valid mobile phone"),
            "{}",
            error.message
        );
        let response = enrol("(480) 555-0134").await;
        assert_eq!(response.status(), StatusCode::OK);
        let sent: Challenge = response.json().await.unwrap();
        assert_eq!(sent.phone_hint.as_deref(), Some("••• ••• 0134"));
        assert!(sent.code_sent);
        // Until the code comes back, nothing is saved to the profile.
        let tom_id = t.user_id(TOM).await;
        let phone: Option<String> =
            sqlx::query_scalar("SELECT mobile_phone FROM users WHERE id = $1")
                .bind(&tom_id)
                .fetch_one(&t.pool)
                .await
                .unwrap();
        assert_eq!(phone, None);
        let code = t.latest_code("+14805550134").await;
        let response = t.verify(&sent, &code).await;
        assert_eq!(response.status(), StatusCode::OK);
        let LoginResponse::SignedIn { user, .. } = response.json().await.unwrap() else {
            panic!("the enrolment code completes the sign-in");
        };
        assert_eq!(user.mobile_phone.as_deref(), Some("+14805550134"));
        assert_eq!(user.phone_verified_at, Some(t.now()));
        let kinds = t.audit_kinds(&tom_id).await;
        assert!(kinds.contains(&"phone_enrolled".to_string()), "{kinds:?}");
        assert!(kinds.contains(&"login_succeeded".to_string()), "{kinds:?}");

        t.advance(Duration::from_secs(60));
        let next = t.login_for_code(TOM, &t.password_of(TOM)).await;
        assert_eq!(next.phone_hint.as_deref(), Some("••• ••• 0134"));
        t.stop().await;
    }

    async fn a_phone_on_file_gets_the_code_and_becomes_verified(backend: Backend) {
        // Lucia's number was entered by an admin and never verified: the
        // article sends the code there; coming back, it verifies the number.
        let t = TestCloud::start(backend).await;
        t.enable_two_factor(LUCIA).await;
        let challenge = t.login_for_code(LUCIA, &t.password_of(LUCIA)).await;
        let code = t.latest_code(LUCIA_PHONE).await;
        let response = t.verify(&challenge, &code).await;
        let LoginResponse::SignedIn { user, .. } = response.json().await.unwrap() else {
            panic!("the code signs Lucia in");
        };
        assert!(user.phone_verified_at.is_some());
        let lucia_id = t.user_id(LUCIA).await;
        assert!(t
            .audit_kinds(&lucia_id)
            .await
            .contains(&"phone_verified".to_string()));
        t.stop().await;
    }

    async fn enrol_phone_is_refused_on_a_code_attempt(backend: Backend) {
        let t = TestCloud::start(backend).await;
        t.enable_two_factor(MARCUS).await;
        let challenge = t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
        t.advance(Duration::from_secs(60));
        expect_error(
            t.post(
                "/api/v1/login/enroll-phone",
                serde_json::json!({"challenge_id": challenge.challenge_id, "mobile_phone": "+14805550199"}),
            )
            .await,
            StatusCode::BAD_REQUEST,
            codes::VALIDATION,
        )
        .await;
        assert_eq!(
            t.outbox_count("+14805550199").await,
            0,
            "no code to a new number"
        );
        t.stop().await;
    }
}

mod two_instances {
    use std::time::Duration;

    use reqwest::StatusCode;
    use secureclose_protocol::{codes, ApiError};

    use crate::support::{wrong_code, Backend, TestCloud, MARCUS, MARCUS_PHONE};

    on_both_backends!(limits_hold_across_two_instances_on_one_database);

    async fn limits_hold_across_two_instances_on_one_database(backend: Backend) {
        let t = TestCloud::start(backend).await;
        let other = t.second_instance().await;
        let bases = [t.cloud.base_url(), other.base_url()];
        t.enable_two_factor(MARCUS).await;

        // Wrong codes spread over both instances: still 5 tries per code.
        let challenge = t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
        let code = t.latest_code(MARCUS_PHONE).await;
        let verify_body =
            |code: &str| serde_json::json!({"challenge_id": challenge.challenge_id, "code": code});
        for (i, left) in (1..=4).rev().enumerate() {
            let error: ApiError = t
                .post_to(
                    &bases[i % 2],
                    "/api/v1/login/verify",
                    verify_body(&wrong_code(&code)),
                )
                .await
                .json()
                .await
                .unwrap();
            assert_eq!(error.code, codes::INVALID_CODE);
            assert_eq!(
                error.attempts_left,
                Some(left),
                "instance {} sees the shared count",
                i % 2
            );
        }
        let error: ApiError = t
            .post_to(
                &bases[0],
                "/api/v1/login/verify",
                verify_body(&wrong_code(&code)),
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(error.code, codes::CHALLENGE_CLOSED);
        let error: ApiError = t
            .post_to(&bases[1], "/api/v1/login/verify", verify_body(&code))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            error.code,
            codes::CHALLENGE_CLOSED,
            "closed on both instances"
        );

        // A burst of concurrent wrong tries on both instances: exactly 4 are
        // answered invalid_code, none more, then the attempt is closed.
        t.advance(Duration::from_secs(3600));
        sqlx::query("UPDATE users SET consecutive_failures = 0 WHERE email = $1")
            .bind(MARCUS)
            .execute(&t.pool)
            .await
            .unwrap();
        let burst = t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
        let code = t.latest_code(MARCUS_PHONE).await;
        let wrong = wrong_code(&code);
        let tries = (0..12).map(|i| {
            let base = bases[i % 2].clone();
            let body = serde_json::json!({"challenge_id": burst.challenge_id, "code": wrong});
            let http = t.http.clone();
            tokio::spawn(async move {
                let response = http
                    .post(format!("{base}/api/v1/login/verify"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                response.json::<ApiError>().await.unwrap().code
            })
        });
        let mut answers = Vec::new();
        for task in tries.collect::<Vec<_>>() {
            answers.push(task.await.unwrap());
        }
        let invalid = answers.iter().filter(|c| *c == codes::INVALID_CODE).count();
        assert!(
            answers.iter().all(|c| [
                codes::INVALID_CODE,
                codes::CHALLENGE_CLOSED,
                // The growing delay also brakes a burst (5+ failures in flight).
                codes::RATE_LIMITED,
            ]
            .contains(&c.as_str())),
            "{answers:?}"
        );
        let left: i64 =
            sqlx::query_scalar("SELECT attempts_left FROM login_challenges WHERE id_hash = $1")
                .bind(secureclose_cloud::tokens::token_hash(&burst.challenge_id))
                .fetch_one(&t.pool)
                .await
                .unwrap();
        // Every invalid_code answer took exactly one try; the 5th closes the attempt.
        if left == 0 {
            assert_eq!(invalid, 4, "{answers:?}");
            assert!(answers.iter().any(|c| c == codes::CHALLENGE_CLOSED));
        } else {
            assert_eq!(invalid as i64, 5 - left, "{answers:?}");
        }

        // Sends spread over both instances: still 5 per 10 minutes.
        t.advance(Duration::from_secs(3600));
        sqlx::query("UPDATE users SET consecutive_failures = 0 WHERE email = $1")
            .bind(MARCUS)
            .execute(&t.pool)
            .await
            .unwrap();
        let c = t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
        let resend_body = serde_json::json!({"challenge_id": c.challenge_id});
        // Cooldown is shared too: the other instance refuses an immediate resend.
        let error: ApiError = t
            .post_to(&bases[1], "/api/v1/login/resend", resend_body.clone())
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(error.code, codes::RESEND_TOO_SOON);
        for i in 0..4 {
            t.advance(Duration::from_secs(30));
            assert_eq!(
                t.post_to(
                    &bases[(i + 1) % 2],
                    "/api/v1/login/resend",
                    resend_body.clone()
                )
                .await
                .status(),
                StatusCode::OK
            );
        }
        t.advance(Duration::from_secs(30));
        let error: ApiError = t
            .post_to(&bases[0], "/api/v1/login/resend", resend_body.clone())
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(error.code, codes::SMS_LIMIT);
        let error: ApiError = t
            .post_to(&bases[1], "/api/v1/login/resend", resend_body.clone())
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(error.code, codes::SMS_LIMIT);
        other.shutdown().await;
        t.stop().await;
    }
}

/// The Twilio client against a local server that records what it receives.
mod twilio {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use axum::extract::{Form, State};
    use axum::http::{HeaderMap, Method, StatusCode, Uri};
    use axum::routing::post;
    use axum::Json;
    use secureclose_cloud::sealing::SealingKey;
    use secureclose_cloud::sms::{
        SmsConfig, SmsError, SmsGateway as _, TwilioConfig, TwilioGateway,
    };
    use secureclose_protocol::LoginResponse;

    use crate::support::{extract_code, Backend, TestCloud, MARCUS, MARCUS_PHONE};

    #[derive(Debug, Clone)]
    struct Recorded {
        method: Method,
        path: String,
        authorization: Option<String>,
        form: HashMap<String, String>,
    }

    #[derive(Clone)]
    struct Fake {
        recorded: Arc<Mutex<Vec<Recorded>>>,
        reply: (StatusCode, serde_json::Value),
    }

    async fn messages(
        State(fake): State<Fake>,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        Form(form): Form<HashMap<String, String>>,
    ) -> (StatusCode, Json<serde_json::Value>) {
        fake.recorded.lock().unwrap().push(Recorded {
            method,
            path: uri.path().to_string(),
            authorization: headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            form,
        });
        (fake.reply.0, Json(fake.reply.1.clone()))
    }

    async fn fake_twilio(
        status: StatusCode,
        body: serde_json::Value,
    ) -> (String, Arc<Mutex<Vec<Recorded>>>) {
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new()
            .route("/2010-04-01/Accounts/{sid}/Messages.json", post(messages))
            .with_state(Fake {
                recorded: recorded.clone(),
                reply: (status, body),
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}"), recorded)
    }

    fn config(base_url: &str) -> TwilioConfig {
        TwilioConfig {
            account_sid: "AC0123456789abcdef".into(),
            auth_token: "secret-token".into(),
            from: "+15005550006".into(),
            base_url: base_url.into(),
        }
    }

    #[tokio::test]
    async fn posts_the_message_form_with_basic_auth() {
        let (base, recorded) = fake_twilio(
            StatusCode::CREATED,
            serde_json::json!({"sid": "SM1", "status": "queued"}),
        )
        .await;
        let gateway = TwilioGateway::new(config(&base)).unwrap();
        gateway
            .send("+14805550123", "SecureClose code: 123456.")
            .await
            .unwrap();
        let requests = recorded.lock().unwrap().clone();
        assert_eq!(requests.len(), 1);
        let request = &requests[0];
        assert_eq!(request.method, Method::POST);
        assert_eq!(
            request.path,
            "/2010-04-01/Accounts/AC0123456789abcdef/Messages.json"
        );
        assert_eq!(
            request.authorization.as_deref(),
            // base64("AC0123456789abcdef:secret-token")
            Some("Basic QUMwMTIzNDU2Nzg5YWJjZGVmOnNlY3JldC10b2tlbg==")
        );
        assert_eq!(request.form["To"], "+14805550123");
        assert_eq!(request.form["From"], "+15005550006");
        assert_eq!(request.form["Body"], "SecureClose code: 123456.");
        assert_eq!(request.form.len(), 3);
    }

    #[tokio::test]
    async fn twilio_errors_become_clear_causes() {
        let cases = [
            (
                StatusCode::UNAUTHORIZED,
                serde_json::json!({"code": 20003, "message": "Authenticate"}),
                SmsError::Auth,
            ),
            (
                StatusCode::BAD_REQUEST,
                serde_json::json!({"code": 21211, "message": "Invalid 'To' Phone Number"}),
                SmsError::InvalidNumber,
            ),
            (
                StatusCode::TOO_MANY_REQUESTS,
                serde_json::json!({"code": 20429, "message": "Too Many Requests"}),
                SmsError::RateLimited,
            ),
        ];
        for (status, body, expected) in cases {
            let (base, _) = fake_twilio(status, body).await;
            let gateway = TwilioGateway::new(config(&base)).unwrap();
            assert_eq!(
                gateway.send("+14805550123", "x").await.unwrap_err(),
                expected
            );
        }
        // Nothing listens on a just-closed port.
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let gateway = TwilioGateway::new(config(&format!("http://127.0.0.1:{port}"))).unwrap();
        assert_eq!(
            gateway.send("+14805550123", "x").await.unwrap_err(),
            SmsError::Network
        );
    }

    on_both_backends!(a_second_factor_login_texts_through_twilio);

    async fn a_second_factor_login_texts_through_twilio(backend: Backend) {
        let (base, recorded) =
            fake_twilio(StatusCode::CREATED, serde_json::json!({"sid": "SM1"})).await;
        let t = TestCloud::start_with(backend, |c| {
            c.dev_mode = false;
            c.totp_key = Some(SealingKey::from_bytes([0x5c; 32]));
            c.sms = Some(SmsConfig::Twilio(config(&base)));
        })
        .await;
        t.enable_two_factor(MARCUS).await;
        let challenge = t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
        let body = {
            let requests = recorded.lock().unwrap();
            assert_eq!(requests.len(), 1);
            assert_eq!(requests[0].form["To"], MARCUS_PHONE);
            requests[0].form["Body"].clone()
        };
        assert_eq!(
            t.outbox_count(MARCUS_PHONE).await,
            0,
            "production never fills the dev outbox"
        );
        let response = t.verify(&challenge, &extract_code(&body)).await;
        assert!(matches!(
            response.json().await.unwrap(),
            LoginResponse::SignedIn { .. }
        ));
        t.stop().await;
    }
}

mod production_mode {
    use reqwest::StatusCode;
    use secureclose_cloud::sealing::SealingKey;
    use secureclose_cloud::sms::SmsConfig;
    use secureclose_cloud::{start, CloudConfig, CloudError};
    use secureclose_protocol::codes;

    use crate::support::{expect_error, Backend, TestCloud, TestDb, MARCUS, MARCUS_PHONE};

    #[tokio::test]
    async fn the_library_refuses_the_dev_outbox_outside_dev_mode() {
        let db = TestDb::new(Backend::Sqlite).await;
        let mut config = CloudConfig::new(&db.url, "127.0.0.1:0".parse().unwrap());
        config.sms = Some(SmsConfig::DevOutbox);
        config.totp_key = Some(SealingKey::from_bytes([0x5c; 32]));
        match start(config).await {
            Err(CloudError::Config(message)) => assert!(message.contains("--dev"), "{message}"),
            Err(other) => panic!("expected a configuration error, got {other}"),
            Ok(_) => panic!("a production server must not start with the dev outbox"),
        }
    }

    #[tokio::test]
    async fn the_binary_refuses_to_serve_without_a_real_gateway() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("c.db").display());
        for extra in [&["--sms", "dev-outbox"][..], &[][..]] {
            let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_secureclose-cloud"));
            command
                .args(["serve", "--database-url", &url, "--bind", "127.0.0.1:0"])
                .args(extra)
                .stdin(std::process::Stdio::null())
                .kill_on_drop(true);
            for (key, _) in std::env::vars() {
                if key.starts_with("SECURECLOSE_") {
                    command.env_remove(key);
                }
            }
            // A server that wrongly starts would run forever: bound the wait.
            let output = tokio::time::timeout(std::time::Duration::from_secs(60), command.output())
                .await
                .expect("serve must exit at once without an SMS gateway")
                .unwrap();
            assert!(
                !output.status.success(),
                "serve {extra:?} must refuse to start"
            );
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                stderr.contains("Twilio") || stderr.contains("--dev"),
                "the refusal says what to configure: {stderr}"
            );
        }
    }

    on_both_backends!(no_outbox_endpoint_and_no_silent_skip_outside_dev_mode);

    async fn no_outbox_endpoint_and_no_silent_skip_outside_dev_mode(backend: Backend) {
        let t = TestCloud::start_with(backend, |c| {
            c.dev_mode = false;
            c.totp_key = Some(SealingKey::from_bytes([0x5c; 32]));
        })
        .await;
        expect_error(
            t.get("/api/v1/dev/outbox", None).await,
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
        )
        .await;
        // No gateway configured: a 2FA login fails loudly, never signs in.
        t.enable_two_factor(MARCUS).await;
        expect_error(
            t.login(MARCUS, &t.password_of(MARCUS)).await,
            StatusCode::BAD_GATEWAY,
            codes::SMS_FAILED,
        )
        .await;
        t.stop().await;
    }

    on_both_backends!(the_dev_outbox_endpoint_lists_messages_newest_first);

    async fn the_dev_outbox_endpoint_lists_messages_newest_first(backend: Backend) {
        let t = TestCloud::start(backend).await;
        t.enable_two_factor(MARCUS).await;
        t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
        t.advance(std::time::Duration::from_secs(1));
        t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
        // "+" unescaped in a query string arrives as a space: still found.
        let messages: Vec<secureclose_protocol::OutboxMessage> = t
            .get("/api/v1/dev/outbox?to=+14805550123", None)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(messages.len(), 2);
        assert!(messages[0].sent_at > messages[1].sent_at, "newest first");
        let library = secureclose_cloud::outbox(&t.db.url, Some(MARCUS_PHONE))
            .await
            .unwrap();
        assert_eq!(messages, library, "endpoint and library agree");
        t.stop().await;
    }
}
