//! Second factor, admin edits and their enforcement, against real servers on
//! 127.0.0.1:0. Written once, run on SQLite and PostgreSQL (see support).
//! Time moves through the shared ManualClock: no test sleeps.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod support;

const MARCUS: &str = "marcus.reyes@desertsun.example";
const MARCUS_PHONE: &str = "+14805550123";
const EMILY: &str = "emily.chen@desertsun.example";
const TOM: &str = "tom.becker@desertsun.example";
const LUCIA: &str = "lucia.fernandez@desertsun.example";
const CANYON_ADMIN: &str = "admin@canyonridge.example";
const NINA: &str = "nina.patel@canyonridge.example";

mod codes {
    use std::time::Duration;

    use reqwest::StatusCode;
    use secureclose_cloud::twofactor::code_hash;
    use secureclose_protocol::{codes, Challenge, LoginResponse};
    use sqlx::Row as _;

    use super::{MARCUS, MARCUS_PHONE};
    use crate::support::{expect_error, wrong_code, Backend, TestCloud};

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
        let audit = secureclose_cloud::audit::all(&t.pool).await.unwrap();
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
        .bind(super::EMILY)
        .execute(&t.pool)
        .await
        .unwrap();
        let m = t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
        for _ in 0..2 {
            t.advance(Duration::from_secs(30));
            assert_eq!(t.resend(&m).await.status(), StatusCode::OK);
        }
        let e = t
            .login_for_code(super::EMILY, &t.password_of(super::EMILY))
            .await;
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

    use super::{MARCUS, MARCUS_PHONE};
    use crate::support::{expect_error, wrong_code, Backend, TestCloud};

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

    use super::{LUCIA, TOM};
    use crate::support::{expect_error, Backend, TestCloud};

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
        let code = t.latest_code("+15205550181").await;
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
        t.enable_two_factor(super::MARCUS).await;
        let challenge = t
            .login_for_code(super::MARCUS, &t.password_of(super::MARCUS))
            .await;
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
