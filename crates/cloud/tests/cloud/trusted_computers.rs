//! Trusted computers: after a code, "Don't ask for a code on this computer
//! for N days" (N from the company, 0 = off) lets that computer's token
//! stand in for the code; never for the password. It ends when it expires,
//! when its owner or their admin revokes it, at any security change, and
//! when the company turns it off.

use std::time::Duration;

use reqwest::{Method, Response, StatusCode};
use secureclose_protocol::{
    codes, Challenge, LoginResponse, ReauthStep, SessionGrant, TotpEnrollment, TrustedComputer,
    TrustedComputerGrant,
};

use crate::support::{
    canyon_password, expect_error, patch_user, Backend, TestCloud, CANYON_ADMIN, EMILY, MARCUS,
    MARCUS_PHONE,
};
use crate::two_factor_totp::{code_at, confirm};

on_both_backends!(
    a_trusted_computer_skips_the_code_until_it_expires_never_the_password,
    it_is_offered_and_issued_only_where_the_company_allows_it,
    revoking_ends_it_and_only_its_owner_or_their_admin_may,
    any_security_change_ends_every_trusted_computer,
);

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// The admin sets the company's trusted-computer days.
async fn allow_days(t: &TestCloud, admin: &str, days: u32) {
    let response = t
        .patch(
            "/api/v1/company",
            admin,
            serde_json::json!({"session_policy": {
                "idle_lock_minutes": 30, "max_session_hours": 12, "trusted_computer_days": days
            }}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK, "days within 0..=30");
}

async fn login_with(t: &TestCloud, email: &str, password: &str, token: Option<&str>) -> Response {
    t.http
        .post(t.url("/api/v1/login"))
        .json(&serde_json::json!({"email": email, "password": password, "trusted_token": token}))
        .send()
        .await
        .unwrap()
}

async fn answer(t: &TestCloud, challenge: &Challenge, code: &str, remember: bool) -> SessionGrant {
    let response = t
        .post(
            "/api/v1/login/verify",
            serde_json::json!({
                "challenge_id": challenge.challenge_id, "code": code,
                "remember_computer": remember, "computer_label": "FRONT-DESK (Windows)"
            }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK, "the code signs in");
    match response.json().await.unwrap() {
        LoginResponse::SignedIn { session, .. } => session,
        other => panic!("signed in expected: {other:?}"),
    }
}

/// Marcus (2FA on) signs in with a texted code and trusts this computer.
async fn trusted_marcus(t: &TestCloud) -> (SessionGrant, TrustedComputerGrant) {
    let challenge = t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
    let session = answer(t, &challenge, &t.latest_code(MARCUS_PHONE).await, true).await;
    let grant = session
        .trusted_computer
        .clone()
        .expect("a trusted computer");
    (session, grant)
}

/// Marcus's sign-in with `password` (no trusted token): the code's attempt.
async fn code_asked(t: &TestCloud, password: &str) -> Challenge {
    let response = login_with(t, MARCUS, password, None).await;
    match response.json().await.unwrap() {
        LoginResponse::SecondFactorRequired { challenge } => challenge,
        other => panic!("Marcus has 2FA: a code first, got {other:?}"),
    }
}

/// Marcus signs in with `password` and the code texted to the phone he has
/// now, trusting this computer.
async fn trust_again(t: &TestCloud, password: &str) -> TrustedComputerGrant {
    let challenge = code_asked(t, password).await;
    let phone: String = sqlx::query_scalar("SELECT mobile_phone FROM users WHERE email = $1")
        .bind(MARCUS)
        .fetch_one(&t.pool)
        .await
        .unwrap();
    let session = answer(t, &challenge, &t.latest_code(&phone).await, true).await;
    session.trusted_computer.expect("trusted")
}

/// Signs Marcus in with the token: true when no code was asked for.
async fn skips_the_code(t: &TestCloud, token: &str) -> bool {
    skips_the_code_with(t, &t.password_of(MARCUS), token).await
}

async fn skips_the_code_with(t: &TestCloud, password: &str, token: &str) -> bool {
    let response = login_with(t, MARCUS, password, Some(token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    match response.json().await.unwrap() {
        LoginResponse::SignedIn { .. } => true,
        LoginResponse::SecondFactorRequired { .. }
        | LoginResponse::PhoneEnrollmentRequired { .. } => false,
        other => panic!("{other:?}"),
    }
}

async fn a_trusted_computer_skips_the_code_until_it_expires_never_the_password(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let admin = t.admin_token().await;
    allow_days(&t, &admin, 2).await;
    t.enable_two_factor(MARCUS).await;
    let (_, grant) = trusted_marcus(&t).await;

    let texts = t.outbox_count(MARCUS_PHONE).await;
    assert!(
        skips_the_code(&t, &grant.token).await,
        "the trusted computer skips the code"
    );
    assert_eq!(
        t.outbox_count(MARCUS_PHONE).await,
        texts,
        "and nothing is texted"
    );
    // The token never stands in for the password.
    expect_error(
        login_with(&t, MARCUS, "not Marcus's password", Some(&grant.token)).await,
        StatusCode::UNAUTHORIZED,
        codes::INVALID_CREDENTIALS,
    )
    .await;
    // Nor for another person's code.
    t.enable_two_factor(EMILY).await;
    let response = login_with(&t, EMILY, &t.password_of(EMILY), Some(&grant.token)).await;
    assert!(matches!(
        response.json().await.unwrap(),
        LoginResponse::SecondFactorRequired { .. }
    ));
    // Nor for a made-up one.
    assert!(!skips_the_code(&t, "0123456789abcdef").await);

    t.advance(2 * DAY);
    assert!(
        !skips_the_code(&t, &grant.token).await,
        "two days, not more"
    );
    let kinds = t.audit_kinds(&t.user_id(MARCUS).await).await;
    assert!(kinds.iter().any(|k| k == "trusted_computer_added"));
    t.stop().await;
}

async fn it_is_offered_and_issued_only_where_the_company_allows_it(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let admin = t.admin_token().await;
    t.enable_two_factor(MARCUS).await;
    // Off by default: not offered, and asking for it gets nothing.
    let challenge = t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
    assert_eq!(challenge.trusted_computer_days, 0);
    let session = answer(&t, &challenge, &t.latest_code(MARCUS_PHONE).await, true).await;
    assert_eq!(session.trusted_computer, None);

    let response = t
        .patch(
            "/api/v1/company",
            &admin,
            serde_json::json!({"session_policy": {
                "idle_lock_minutes": 30, "max_session_hours": 12, "trusted_computer_days": 31
            }}),
        )
        .await;
    expect_error(response, StatusCode::BAD_REQUEST, codes::VALIDATION).await;
    allow_days(&t, &admin, 30).await;
    t.advance(Duration::from_secs(60));
    let (session, grant) = trusted_marcus(&t).await;
    let listed: Vec<TrustedComputer> = t
        .get("/api/v1/account/trusted-computers", Some(&session.token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, grant.id);
    assert_eq!(listed[0].label, "FRONT-DESK (Windows)");
    assert_eq!(listed[0].expires_at, listed[0].created_at + 30 * 86_400_000);

    // Turned off later: live tokens no longer count.
    allow_days(&t, &admin, 0).await;
    assert!(!skips_the_code(&t, &grant.token).await);
    t.stop().await;
}

async fn revoking_ends_it_and_only_its_owner_or_their_admin_may(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let admin = t.admin_token().await;
    allow_days(&t, &admin, 30).await;
    t.enable_two_factor(MARCUS).await;
    let (session, grant) = trusted_marcus(&t).await;
    let marcus_id = t.user_id(MARCUS).await;
    let carla = t.login_ok(CANYON_ADMIN, &canyon_password(&t).await).await;
    let emily = t.login_ok(EMILY, &t.password_of(EMILY)).await;

    // Another person cannot revoke it as their own, nor read or revoke it
    // as a user, nor as another company's admin.
    let own = format!("/api/v1/account/trusted-computers/{}", grant.id);
    expect_error(
        t.send(Method::DELETE, &own, &emily).await,
        StatusCode::NOT_FOUND,
        codes::NOT_FOUND,
    )
    .await;
    let theirs = format!("/api/v1/users/{marcus_id}/trusted-computers");
    let one = format!("{theirs}/{}", grant.id);
    for (token, who) in [(&emily, "a user"), (&carla, "another company's admin")] {
        let response = t.send(Method::GET, &theirs, token).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{who} reads none");
        let response = t.send(Method::DELETE, &one, token).await;
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "{who} revokes none"
        );
    }
    assert!(
        skips_the_code(&t, &grant.token).await,
        "nothing was revoked"
    );

    // Their admin sees and revokes it.
    let listed: Vec<TrustedComputer> = t
        .send(Method::GET, &theirs, &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        t.send(Method::DELETE, &one, &admin).await.status(),
        StatusCode::NO_CONTENT
    );
    assert!(
        !skips_the_code(&t, &grant.token).await,
        "revoked: the code again"
    );
    expect_error(
        t.send(Method::DELETE, &one, &admin).await,
        StatusCode::NOT_FOUND,
        codes::NOT_FOUND,
    )
    .await;

    // The owner revokes their own.
    t.advance(Duration::from_secs(60));
    let (_, second) = trusted_marcus(&t).await;
    let own = format!("/api/v1/account/trusted-computers/{}", second.id);
    assert_eq!(
        t.send(Method::DELETE, &own, &session.token).await.status(),
        StatusCode::NO_CONTENT
    );
    assert!(!skips_the_code(&t, &second.token).await);
    let kinds = t.audit_kinds(&marcus_id).await;
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "trusted_computer_revoked")
            .count(),
        2
    );
    t.stop().await;
}

async fn any_security_change_ends_every_trusted_computer(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let admin = t.admin_token().await;
    allow_days(&t, &admin, 30).await;
    t.enable_two_factor(MARCUS).await;
    let password = t.password_of(MARCUS);

    // The password changed.
    let (session, grant) = trusted_marcus(&t).await;
    let new_password = "violet lantern orchard seaside 2049";
    let response = t
        .http
        .post(t.url("/api/v1/account/password"))
        .bearer_auth(&session.token)
        .json(&serde_json::json!({"current_password": password, "new_password": new_password}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = login_with(&t, MARCUS, new_password, Some(&grant.token)).await;
    assert!(
        matches!(
            response.json().await.unwrap(),
            LoginResponse::SecondFactorRequired { .. }
        ),
        "a new password asks for the code again"
    );

    // The phone changed (by the admin), and the account was disabled.
    let changes = [
        serde_json::json!({"mobile_phone": "+14805550177"}),
        serde_json::json!({"status": "disabled"}),
    ];
    for change in changes {
        t.advance(Duration::from_secs(11 * 60));
        let grant = trust_again(&t, new_password).await;
        let response = patch_user(&t, &admin, MARCUS, change.clone()).await;
        assert_eq!(response.status(), StatusCode::OK, "{change}");
        if change["status"] == "disabled" {
            let response =
                patch_user(&t, &admin, MARCUS, serde_json::json!({"status": "active"})).await;
            assert_eq!(response.status(), StatusCode::OK);
        }
        let response = login_with(&t, MARCUS, new_password, Some(&grant.token)).await;
        assert_eq!(response.status(), StatusCode::OK, "{change}");
        assert!(
            !matches!(
                response.json().await.unwrap(),
                LoginResponse::SignedIn { .. }
            ),
            "after {change} the trusted computer asks for the code again"
        );
    }

    // An authenticator app added (from a session of his own).
    t.advance(Duration::from_secs(11 * 60));
    let challenge = code_asked(&t, new_password).await;
    let session = answer(&t, &challenge, &t.latest_code("+14805550177").await, true).await;
    let grant = session.trusted_computer.expect("trusted");
    // Adding it needs Confirm it's you (his password changed above).
    let ReauthStep::NeedsSecondFactor { challenge: proof } =
        t.reauth_start(&session.token, new_password).await
    else {
        panic!("Marcus has a phone: a code follows the password");
    };
    let code = t.latest_code("+14805550177").await;
    let proven = t.reauth_verify(&session.token, &proof, "sms", &code).await;
    assert_eq!(proven.status(), StatusCode::OK);
    let response = t
        .send(Method::POST, "/api/v1/account/totp", &session.token)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let enrollment: TotpEnrollment = response.json().await.unwrap();
    let response = confirm(
        &t,
        &session.token,
        &enrollment.enrollment_id,
        &code_at(&enrollment.secret, t.now()),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        !skips_the_code_with(&t, new_password, &grant.token).await,
        "a new factor asks for a code again everywhere"
    );

    // An admin's reset of Marcus's factors.
    t.advance(Duration::from_secs(11 * 60));
    // He has the app now: its code, not a text.
    let challenge = code_asked(&t, new_password).await;
    let response = t
        .post(
            "/api/v1/login/verify",
            serde_json::json!({
                "challenge_id": challenge.challenge_id, "method": "totp",
                "code": code_at(&enrollment.secret, t.now()), "remember_computer": true
            }),
        )
        .await;
    let LoginResponse::SignedIn { session, .. } = response.json().await.unwrap() else {
        panic!("the app's code signs in");
    };
    let grant = session.trusted_computer.expect("trusted");
    t.reauth(&admin).await;
    let id = t.user_id(MARCUS).await;
    let response = t
        .http
        .post(t.url(&format!("/api/v1/users/{id}/reset-two-factor")))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"reason": "lost phone, seen in person"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = login_with(&t, MARCUS, new_password, Some(&grant.token)).await;
    assert!(
        matches!(
            response.json().await.unwrap(),
            LoginResponse::PhoneEnrollmentRequired { .. }
        ),
        "after a reset the trusted computer skips nothing: a factor is enrolled first"
    );
    t.stop().await;
}
