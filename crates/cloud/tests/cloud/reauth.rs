//! Re-authentication before security changes: a session alone (a stolen
//! token) cannot add or remove a factor, make new recovery codes, change
//! one's own phone or reset someone's factors; the password and a code from
//! a factor the person has make it possible for five minutes, on that
//! session only.

use std::time::Duration;

use reqwest::{Method, Response, StatusCode};
use secureclose_protocol::{codes, ReauthStep, SecondFactorMethod};

use crate::support::{expect_error, patch_user, Backend, TestCloud, MARCUS, MARCUS_PHONE, TOM};
use crate::two_factor_totp::verify_with;

on_both_backends!(
    every_security_change_needs_a_fresh_proof_on_this_session,
    a_proof_needs_the_right_password_and_the_right_code,
    a_reauth_attempt_never_signs_in_and_is_its_owners_only,
    someone_without_a_factor_proves_it_with_the_password,
);

async fn every_security_change_needs_a_fresh_proof_on_this_session(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let admin = t.admin_token().await;
    let admin_email = t.seed.admin_email.clone();
    let other_session = t.admin_token().await;
    let marcus_id = t.user_id(MARCUS).await;
    let reset = serde_json::json!({"reason": "lost phone, seen in person"});
    let refused = |response: Response| async move {
        expect_error(response, StatusCode::FORBIDDEN, codes::REAUTH_REQUIRED).await;
    };

    // A valid session alone: every change is refused and nothing happens.
    refused(t.send(Method::POST, "/api/v1/account/totp", &admin).await).await;
    refused(t.send(Method::DELETE, "/api/v1/account/totp", &admin).await).await;
    refused(
        t.send(Method::POST, "/api/v1/account/recovery-codes", &admin)
            .await,
    )
    .await;
    let own_phone = serde_json::json!({"mobile_phone": "+14805550111"});
    refused(patch_user(&t, &admin, &admin_email, own_phone.clone()).await).await;
    let reset_path = format!("/api/v1/users/{marcus_id}/reset-two-factor");
    let reset_response = t
        .http
        .post(t.url(&reset_path))
        .bearer_auth(&admin)
        .json(&reset)
        .send()
        .await
        .unwrap();
    refused(reset_response).await;
    let marcus_phone: Option<String> =
        sqlx::query_scalar("SELECT mobile_phone FROM users WHERE email = $1")
            .bind(MARCUS)
            .fetch_one(&t.pool)
            .await
            .unwrap();
    assert_eq!(
        marcus_phone.as_deref(),
        Some(MARCUS_PHONE),
        "nothing was reset"
    );
    // Another person's phone is not a factor of the admin's: no proof needed.
    let response = patch_user(
        &t,
        &admin,
        MARCUS,
        serde_json::json!({"display_name": "M. R."}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);

    // Proven on this session: allowed here, not on the admin's other one.
    t.reauth(&admin).await;
    refused(
        t.send(
            Method::POST,
            "/api/v1/account/recovery-codes",
            &other_session,
        )
        .await,
    )
    .await;
    let response = patch_user(&t, &admin, &admin_email, own_phone).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "one's own phone, after the proof"
    );
    let response = t.send(Method::POST, "/api/v1/account/totp", &admin).await;
    assert_eq!(response.status(), StatusCode::OK, "an app may be added now");

    // Five minutes later the proof has run out.
    t.advance(Duration::from_secs(5 * 60));
    refused(t.send(Method::POST, "/api/v1/account/totp", &admin).await).await;
    let kinds = t.audit_kinds(&t.user_id(&admin_email).await).await;
    assert!(kinds.iter().any(|k| k == "reauthenticated"));
    t.stop().await;
}

async fn a_proof_needs_the_right_password_and_the_right_code(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let token = t.login_ok(MARCUS, &t.password_of(MARCUS)).await;
    let response = t
        .http
        .post(t.url("/api/v1/account/reauth"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"password": "not Marcus's password"}))
        .send()
        .await
        .unwrap();
    expect_error(
        response,
        StatusCode::BAD_REQUEST,
        codes::INVALID_CREDENTIALS,
    )
    .await;
    assert_eq!(
        t.counters(MARCUS).await.0,
        1,
        "a wrong password counts as at sign-in"
    );
    assert_eq!(
        t.outbox_count(MARCUS_PHONE).await,
        0,
        "no text before the password"
    );

    let ReauthStep::NeedsSecondFactor { challenge } =
        t.reauth_start(&token, &t.password_of(MARCUS)).await
    else {
        panic!("Marcus has a phone: a code must follow the password");
    };
    assert!(challenge.code_sent);
    assert_eq!(challenge.methods, vec![SecondFactorMethod::Sms]);
    let code = t.latest_code(MARCUS_PHONE).await;
    let wrong = crate::support::wrong_code(&code);
    let error = expect_error(
        t.reauth_verify(&token, &challenge, "sms", &wrong).await,
        StatusCode::BAD_REQUEST,
        codes::INVALID_CODE,
    )
    .await;
    assert_eq!(error.attempts_left, Some(4));
    expect_error(
        t.send(Method::POST, "/api/v1/account/totp", &token).await,
        StatusCode::FORBIDDEN,
        codes::REAUTH_REQUIRED,
    )
    .await;
    assert_eq!(
        t.reauth_verify(&token, &challenge, "sms", &code)
            .await
            .status(),
        StatusCode::OK
    );
    // Used: the same attempt and code prove nothing twice.
    expect_error(
        t.reauth_verify(&token, &challenge, "sms", &code).await,
        StatusCode::UNAUTHORIZED,
        codes::CHALLENGE_CLOSED,
    )
    .await;
    assert_eq!(
        t.send(Method::POST, "/api/v1/account/totp", &token)
            .await
            .status(),
        StatusCode::OK
    );
    t.stop().await;
}

async fn a_reauth_attempt_never_signs_in_and_is_its_owners_only(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let marcus = t.login_ok(MARCUS, &t.password_of(MARCUS)).await;
    let admin = t.admin_token().await;
    let ReauthStep::NeedsSecondFactor { challenge } =
        t.reauth_start(&marcus, &t.password_of(MARCUS)).await
    else {
        panic!("Marcus has a phone");
    };
    let code = t.latest_code(MARCUS_PHONE).await;
    // Someone else's session cannot spend Marcus's attempt.
    expect_error(
        t.reauth_verify(&admin, &challenge, "sms", &code).await,
        StatusCode::UNAUTHORIZED,
        codes::CHALLENGE_CLOSED,
    )
    .await;
    // Nor can the sign-in endpoint turn it into a session.
    let base = t.cloud.base_url();
    expect_error(
        verify_with(&t, &base, &challenge, "sms", &code).await,
        StatusCode::UNAUTHORIZED,
        codes::CHALLENGE_CLOSED,
    )
    .await;
    expect_error(
        t.send(Method::POST, "/api/v1/account/recovery-codes", &admin)
            .await,
        StatusCode::FORBIDDEN,
        codes::REAUTH_REQUIRED,
    )
    .await;
    t.stop().await;
}

async fn someone_without_a_factor_proves_it_with_the_password(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let tom = t.login_ok(TOM, &t.password_of(TOM)).await;
    let step = t.reauth_start(&tom, &t.password_of(TOM)).await;
    let ReauthStep::Done { until } = step else {
        panic!("Tom has no factor: the password is the whole proof, got {step:?}");
    };
    assert_eq!(until, t.now() + 5 * 60 * 1000);
    assert_eq!(
        t.send(Method::POST, "/api/v1/account/totp", &tom)
            .await
            .status(),
        StatusCode::OK,
        "his first app, after the password"
    );
    t.stop().await;
}
