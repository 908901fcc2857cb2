//! Recovery codes: ten issued once at the first sign-in or enrolment with a
//! second factor, each signs in once (also across instances), wrong ones
//! counted like wrong codes, replaced only with the password, removed by an
//! admin's reset, stored only as keyed hashes.

use std::collections::BTreeSet;

use reqwest::{Method, Response, StatusCode};
use secureclose_protocol::{
    codes, Challenge, LoginResponse, ReauthStep, RecoveryCodes, RecoveryStatus, SecondFactorMethod,
    SessionGrant, TotpStatus,
};

use crate::support::{expect_error, Backend, TestCloud, EMILY, MARCUS, MARCUS_PHONE, TOM};
use crate::two_factor_totp::{begin, code_at, confirm, verify_with};

on_both_backends!(
    the_first_sign_in_with_a_texted_code_issues_ten_codes_once,
    a_code_signs_in_once_and_wrong_ones_count,
    the_last_code_leaves_none_and_is_no_longer_offered,
    a_new_set_needs_a_reauthentication_and_voids_the_old_one,
    an_admin_reset_removes_the_codes,
    the_codes_are_stored_only_as_keyed_hashes,
);

/// Signs `email` in (no 2FA yet), adds an authenticator app, turns 2FA on:
/// the session token, the recovery codes the first factor came with, and
/// the app's secret.
async fn with_app(t: &TestCloud, email: &str) -> (String, Vec<String>, String) {
    let token = t.login_ok(email, &t.password_of(email)).await;
    let enrollment = begin(t, &token).await;
    let code = code_at(&enrollment.secret, t.now());
    let response = confirm(t, &token, &enrollment.enrollment_id, &code).await;
    assert_eq!(response.status(), StatusCode::OK);
    let status: TotpStatus = response.json().await.unwrap();
    t.enable_two_factor(email).await;
    (token, status.recovery_codes, enrollment.secret)
}

async fn call(
    t: &TestCloud,
    method: Method,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> Response {
    let mut request = t
        .http
        .request(method, t.url("/api/v1/account/recovery-codes"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn status(t: &TestCloud, token: &str) -> RecoveryStatus {
    let response = call(t, Method::GET, Some(token), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn signed_in(response: Response) -> SessionGrant {
    assert_eq!(response.status(), StatusCode::OK, "the code signs in");
    match response.json().await.unwrap() {
        LoginResponse::SignedIn { session, .. } => session,
        other => panic!("signed in expected, got {other:?}"),
    }
}

async fn challenge(t: &TestCloud, email: &str) -> Challenge {
    t.login_for_code(email, &t.password_of(email)).await
}

async fn with_recovery(t: &TestCloud, challenge: &Challenge, code: &str) -> Response {
    verify_with(t, &t.cloud.base_url(), challenge, "recovery", code).await
}

async fn the_first_sign_in_with_a_texted_code_issues_ten_codes_once(backend: Backend) {
    let t = TestCloud::start(backend).await;
    t.enable_two_factor(MARCUS).await;
    let first = challenge(&t, MARCUS).await;
    assert!(
        !first.methods.contains(&SecondFactorMethod::Recovery),
        "no codes yet: nothing to offer"
    );
    let session = signed_in(t.verify(&first, &t.latest_code(MARCUS_PHONE).await).await).await;
    let notice = session
        .recovery
        .expect("the first sign-in with a factor brings codes");
    assert_eq!(notice.issued.len(), 10);
    assert_eq!(notice.left, None);
    let distinct: BTreeSet<&String> = notice.issued.iter().collect();
    assert_eq!(distinct.len(), 10, "ten different codes");
    assert!(notice
        .issued
        .iter()
        .all(|c| c.len() == 11 && c.as_bytes()[5] == b'-'));
    let shown = status(&t, &session.token).await;
    assert_eq!((shown.remaining, shown.total), (10, 10));
    assert!(shown.issued_at.is_some());

    // Shown once: the next sign-in brings none, and the app's first code
    // (a second factor added later) brings none either.
    t.advance(std::time::Duration::from_secs(60));
    let second = challenge(&t, MARCUS).await;
    assert!(second.methods.contains(&SecondFactorMethod::Recovery));
    let session = signed_in(t.verify(&second, &t.latest_code(MARCUS_PHONE).await).await).await;
    assert_eq!(session.recovery, None, "codes are never shown twice");
    let enrollment = begin(&t, &session.token).await;
    let response = confirm(
        &t,
        &session.token,
        &enrollment.enrollment_id,
        &code_at(&enrollment.secret, t.now()),
    )
    .await;
    let app: TotpStatus = response.json().await.unwrap();
    assert!(app.enabled && app.recovery_codes.is_empty());
    let kinds = t.audit_kinds(&t.user_id(MARCUS).await).await;
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "recovery_codes_issued")
            .count(),
        1
    );
    t.stop().await;
}

async fn a_code_signs_in_once_and_wrong_ones_count(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let (_, codes, _) = with_app(&t, TOM).await;
    assert_eq!(
        codes.len(),
        10,
        "the first factor, from the profile, brings codes"
    );
    let (_, emilys, _) = with_app(&t, EMILY).await;

    let attempt = challenge(&t, TOM).await;
    assert!(attempt.methods.contains(&SecondFactorMethod::Recovery));
    // Not a code at all: refused, not counted.
    expect_error(
        with_recovery(&t, &attempt, "12345").await,
        StatusCode::BAD_REQUEST,
        codes::VALIDATION,
    )
    .await;
    // Another user's code is just a wrong code.
    let error = expect_error(
        with_recovery(&t, &attempt, &emilys[0]).await,
        StatusCode::BAD_REQUEST,
        codes::INVALID_CODE,
    )
    .await;
    assert_eq!(error.attempts_left, Some(4), "a wrong code takes a try");
    // Typed loosely: lower case, spaces for the dash.
    let typed = codes[0].to_lowercase().replace('-', " ");
    let session = signed_in(with_recovery(&t, &attempt, &typed).await).await;
    let notice = session.recovery.expect("the user is told how many remain");
    assert_eq!(notice.left, Some(9));
    assert!(notice.issued.is_empty());

    // Used: refused on this instance and on another one of the database.
    let again = challenge(&t, TOM).await;
    expect_error(
        with_recovery(&t, &again, &codes[0]).await,
        StatusCode::BAD_REQUEST,
        codes::INVALID_CODE,
    )
    .await;
    let other = t.second_instance().await;
    expect_error(
        verify_with(&t, &other.base_url(), &again, "recovery", &codes[0]).await,
        StatusCode::BAD_REQUEST,
        codes::INVALID_CODE,
    )
    .await;
    let session =
        signed_in(verify_with(&t, &other.base_url(), &again, "recovery", &codes[1]).await).await;
    assert_eq!(session.recovery.and_then(|n| n.left), Some(8));
    // Emily's codes were untouched by Tom's sign-ins.
    let emily = challenge(&t, EMILY).await;
    let session = signed_in(with_recovery(&t, &emily, &emilys[1]).await).await;
    assert_eq!(session.recovery.and_then(|n| n.left), Some(9));
    let kinds = t.audit_kinds(&t.user_id(TOM).await).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "recovery_code_used").count(),
        2
    );
    assert!(
        kinds.iter().any(|k| k == "code_failed"),
        "wrong codes are audited"
    );
    other.shutdown().await;
    t.stop().await;
}

async fn the_last_code_leaves_none_and_is_no_longer_offered(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let (_, codes, _) = with_app(&t, TOM).await;
    let mut last = None;
    for code in &codes {
        let attempt = challenge(&t, TOM).await;
        last = signed_in(with_recovery(&t, &attempt, code).await)
            .await
            .recovery;
    }
    assert_eq!(
        last.and_then(|n| n.left),
        Some(0),
        "none left: the user is told"
    );
    let attempt = challenge(&t, TOM).await;
    assert_eq!(
        attempt.methods,
        vec![SecondFactorMethod::Totp],
        "with every code used, only the app remains"
    );
    expect_error(
        with_recovery(&t, &attempt, &codes[9]).await,
        StatusCode::BAD_REQUEST,
        codes::INVALID_CODE,
    )
    .await;
    t.stop().await;
}

async fn a_new_set_needs_a_reauthentication_and_voids_the_old_one(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let (token, old, secret) = with_app(&t, TOM).await;
    // The enrolment's re-authentication is older than five minutes now.
    t.advance(std::time::Duration::from_secs(301));
    expect_error(
        call(&t, Method::POST, Some(&token), None).await,
        StatusCode::FORBIDDEN,
        codes::REAUTH_REQUIRED,
    )
    .await;
    expect_error(
        call(&t, Method::POST, None, None).await,
        StatusCode::UNAUTHORIZED,
        codes::UNAUTHENTICATED,
    )
    .await;
    expect_error(
        call(&t, Method::GET, None, None).await,
        StatusCode::UNAUTHORIZED,
        codes::UNAUTHENTICATED,
    )
    .await;
    assert_eq!(
        status(&t, &token).await.remaining,
        10,
        "a refusal changes nothing"
    );

    // Tom has only the app: the password, then one of its codes.
    let ReauthStep::NeedsSecondFactor { challenge: proof } =
        t.reauth_start(&token, &t.password_of(TOM)).await
    else {
        panic!("someone with an app proves it too");
    };
    let code = code_at(&secret, t.now());
    assert_eq!(
        t.reauth_verify(&token, &proof, "totp", &code)
            .await
            .status(),
        StatusCode::OK
    );
    let response = call(&t, Method::POST, Some(&token), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let new: RecoveryCodes = response.json().await.unwrap();
    assert_eq!(new.codes.len(), 10);
    assert!(new.codes.iter().all(|c| !old.contains(c)));
    let attempt = challenge(&t, TOM).await;
    expect_error(
        with_recovery(&t, &attempt, &old[3]).await,
        StatusCode::BAD_REQUEST,
        codes::INVALID_CODE,
    )
    .await;
    let session = signed_in(with_recovery(&t, &attempt, &new.codes[3]).await).await;
    assert_eq!(session.recovery.and_then(|n| n.left), Some(9));

    // Nothing to back up: a user without any second factor gets no codes.
    let marcus = t.login_ok(MARCUS, &t.password_of(MARCUS)).await;
    sqlx::query("UPDATE users SET phone_verified_at = NULL, mobile_phone = NULL WHERE email = $1")
        .bind(MARCUS)
        .execute(&t.pool)
        .await
        .unwrap();
    t.reauth(&marcus).await;
    expect_error(
        call(&t, Method::POST, Some(&marcus), None).await,
        StatusCode::BAD_REQUEST,
        codes::VALIDATION,
    )
    .await;
    t.stop().await;
}

async fn an_admin_reset_removes_the_codes(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let (_, codes, _) = with_app(&t, TOM).await;
    let admin = t.admin_token().await;
    t.reauth(&admin).await;
    let id = t.user_id(TOM).await;
    let response = t
        .http
        .post(t.url(&format!("/api/v1/users/{id}/reset-two-factor")))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"reason": "lost phone and the printed codes"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let LoginResponse::PhoneEnrollmentRequired { challenge } =
        t.login_response(TOM, &t.password_of(TOM)).await
    else {
        panic!("after a reset the next sign-in enrols a factor");
    };
    assert!(!challenge.methods.contains(&SecondFactorMethod::Recovery));
    expect_error(
        with_recovery(&t, &challenge, &codes[0]).await,
        StatusCode::BAD_REQUEST,
        codes::VALIDATION,
    )
    .await;
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1")
        .bind(&id)
        .fetch_one(&t.pool)
        .await
        .unwrap();
    assert_eq!(left, 0, "a reset leaves no code that could sign in");
    t.stop().await;
}

async fn the_codes_are_stored_only_as_keyed_hashes(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let (_, codes, _) = with_app(&t, TOM).await;
    let stored: Vec<String> = sqlx::query_scalar("SELECT code_hash FROM recovery_codes")
        .fetch_all(&t.pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 10);
    for code in &codes {
        let bare = code.replace('-', "");
        let plain_sha256 = secureclose_cloud::tokens::token_hash(&bare);
        assert!(
            stored
                .iter()
                .all(|h| !h.contains(&bare) && *h != plain_sha256),
            "a code must not be stored, nor its unkeyed hash"
        );
    }
    if let Backend::Sqlite = backend {
        let bytes = t.db.sqlite_bytes();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            codes.iter().all(|c| !text.contains(&c.replace('-', ""))),
            "a recovery code is in the database file"
        );
    }
    t.stop().await;
}
