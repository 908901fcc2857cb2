//! Break-glass reset of a user's second factor by an admin, and the
//! "sign-in settings changed" texts to the phone a user had.

use std::time::Duration;

use reqwest::{Response, StatusCode};
use secureclose_cloud::db::audit;
use secureclose_cloud::service::notice;
use secureclose_protocol::{codes, LoginResponse, SecondFactorMethod, User, UserUpdate};

use crate::support::{expect_error, patch_user, Backend, TestCloud, EMILY, MARCUS, MARCUS_PHONE};
use crate::sync::{push, user, user_mutation};
use crate::two_factor_totp::{code_at, enrolled, expect_signed_in, verify_with};

on_both_backends!(
    a_reset_removes_app_and_phone_ends_sessions_and_forces_a_fresh_enrolment,
    a_reset_is_refused_for_oneself_without_a_reason_and_changes_nothing,
    a_changed_phone_or_factor_is_told_to_the_old_phone_only,
);

const REASON: &str = "lost phone, confirmed by a call to the store";
const EMILY_PHONE: &str = "+14805550162";

async fn reset(t: &TestCloud, token: &str, email: &str, reason: serde_json::Value) -> Response {
    let id = t.user_id(email).await;
    t.http
        .post(t.url(&format!("/api/v1/users/{id}/reset-two-factor")))
        .bearer_auth(token)
        .json(&reason)
        .send()
        .await
        .expect("reset request")
}

async fn events_about(t: &TestCloud, email: &str, kind: &str) -> Vec<audit::StoredEvent> {
    let id = t.user_id(email).await;
    audit::all(&t.pool)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.subject_user_id.as_deref() == Some(id.as_str()) && e.kind == kind)
        .collect()
}

async fn a_reset_removes_app_and_phone_ends_sessions_and_forces_a_fresh_enrolment(
    backend: Backend,
) {
    let t = TestCloud::start(backend).await;
    let (marcus_session, secret) = enrolled(&t, MARCUS).await;
    let admin = t.admin_token().await;
    t.reauth(&admin).await;

    let response = reset(&t, &admin, MARCUS, serde_json::json!({ "reason": REASON })).await;
    assert_eq!(response.status(), StatusCode::OK);
    let after: User = response.json().await.unwrap();
    assert_eq!(
        after.mobile_phone, None,
        "a lost phone must stop getting codes"
    );
    assert_eq!(after.phone_verified_at, None);
    assert!(
        after.two_factor_enabled,
        "the reset removes factors, not the rule that asks for one"
    );
    expect_error(
        t.get("/api/v1/me", Some(&marcus_session)).await,
        StatusCode::UNAUTHORIZED,
        codes::UNAUTHENTICATED,
    )
    .await;

    // The old phone is told, without anything that looks like a code.
    let texts = t.texts_to(MARCUS_PHONE).await;
    assert_eq!(texts[0], notice::body(notice::FACTOR_RESET));

    // The audit names the admin's reason and what was removed.
    let resets = events_about(&t, MARCUS, "two_factor_reset").await;
    assert_eq!(resets.len(), 1);
    assert!(resets[0].detail.contains(REASON), "{}", resets[0].detail);
    assert!(resets[0].detail.contains("authenticator app and phone"));
    assert_eq!(events_about(&t, MARCUS, "notice_sent").await.len(), 2);

    // The next sign-in is an enrolment; the old app cannot finish it.
    let password = t.password_of(MARCUS);
    let LoginResponse::PhoneEnrollmentRequired { challenge } =
        t.login_response(MARCUS, &password).await
    else {
        panic!("after a reset, 2FA must make the user enrol again");
    };
    assert_eq!(
        challenge.methods,
        vec![SecondFactorMethod::Sms, SecondFactorMethod::Totp]
    );
    t.advance(Duration::from_secs(60));
    let base = t.cloud.base_url();
    expect_error(
        verify_with(&t, &base, &challenge, "totp", &code_at(&secret, t.now())).await,
        StatusCode::BAD_REQUEST,
        codes::VALIDATION,
    )
    .await;

    // A new phone, verified by its code, signs in and is saved.
    let new_phone = "+14805550198";
    let response = t
        .post(
            "/api/v1/login/enroll-phone",
            serde_json::json!({"challenge_id": challenge.challenge_id, "mobile_phone": new_phone}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK, "the new phone is texted");
    let code = t.latest_code(new_phone).await;
    expect_signed_in(verify_with(&t, &base, &challenge, "sms", &code).await).await;
    let marcus = user(&t, &admin, MARCUS).await;
    assert_eq!(marcus.mobile_phone.as_deref(), Some(new_phone));
    assert!(marcus.phone_verified_at.is_some());
    t.stop().await;
}

async fn a_reset_is_refused_for_oneself_without_a_reason_and_changes_nothing(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let admin = t.admin_token().await;
    let admin_email = t.seed.admin_email.clone();
    let marcus_session = t.login_ok(MARCUS, &t.password_of(MARCUS)).await;

    // Without a fresh re-authentication: refused, whatever the reason.
    expect_error(
        reset(&t, &admin, MARCUS, serde_json::json!({ "reason": REASON })).await,
        StatusCode::FORBIDDEN,
        codes::REAUTH_REQUIRED,
    )
    .await;
    t.reauth(&admin).await;
    expect_error(
        reset(
            &t,
            &admin,
            &admin_email,
            serde_json::json!({ "reason": REASON }),
        )
        .await,
        StatusCode::BAD_REQUEST,
        codes::OWN_TWO_FACTOR_RESET,
    )
    .await;
    for reason in [
        serde_json::json!({ "reason": "  ok  " }),
        serde_json::json!({ "reason": "x".repeat(501) }),
        serde_json::json!({}),
    ] {
        expect_error(
            reset(&t, &admin, MARCUS, reason).await,
            StatusCode::BAD_REQUEST,
            codes::VALIDATION,
        )
        .await;
    }
    expect_error(
        reset(
            &t,
            "not-a-token",
            MARCUS,
            serde_json::json!({ "reason": REASON }),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        codes::UNAUTHENTICATED,
    )
    .await;

    // Nothing of a refused reset happened.
    let marcus = user(&t, &admin, MARCUS).await;
    assert_eq!(marcus.mobile_phone.as_deref(), Some(MARCUS_PHONE));
    assert!(marcus.phone_verified_at.is_some());
    assert_eq!(
        t.get("/api/v1/me", Some(&marcus_session)).await.status(),
        StatusCode::OK
    );
    assert_eq!(t.outbox_count(MARCUS_PHONE).await, 0);
    assert!(events_about(&t, MARCUS, "two_factor_reset")
        .await
        .is_empty());
    t.stop().await;
}

async fn a_changed_phone_or_factor_is_told_to_the_old_phone_only(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let admin = t.admin_token().await;
    let expect_newest = |texts: Vec<String>, change: &str, why: &str| {
        assert_eq!(texts.first(), Some(&notice::body(change)), "{why}");
    };

    // The user's own app, added and removed.
    let (marcus_session, _) = enrolled(&t, MARCUS).await;
    expect_newest(
        t.texts_to(MARCUS_PHONE).await,
        notice::APP_ADDED,
        "an app added by whoever has the password must not go unnoticed",
    );
    let response = t
        .http
        .delete(t.url("/api/v1/account/totp"))
        .bearer_auth(&marcus_session)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    expect_newest(
        t.texts_to(MARCUS_PHONE).await,
        notice::APP_REMOVED,
        "removing the app is told",
    );

    // An edit of other fields texts nobody.
    let before = t.outbox_count(MARCUS_PHONE).await;
    let response = patch_user(
        &t,
        &admin,
        MARCUS,
        serde_json::json!({"display_name": "Marcus R."}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(t.outbox_count(MARCUS_PHONE).await, before);

    // An admin's new number: the old one is told, the new one gets nothing.
    let new_phone = "+14805550197";
    let response = patch_user(
        &t,
        &admin,
        MARCUS,
        serde_json::json!({"mobile_phone": new_phone}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    expect_newest(
        t.texts_to(MARCUS_PHONE).await,
        notice::PHONE_CHANGED,
        "a swapped number must be told to the number it replaced",
    );
    assert_eq!(t.outbox_count(new_phone).await, 0);

    // Through sync (the desktop's path for edits): 2FA turned off is told.
    t.enable_two_factor(EMILY).await;
    let emily = user(&t, &admin, EMILY).await;
    let off = UserUpdate {
        two_factor_enabled: Some(false),
        ..UserUpdate::default()
    };
    let base = UserUpdate {
        two_factor_enabled: Some(true),
        ..UserUpdate::default()
    };
    let results = push(&t, &admin, &[user_mutation(&emily, off, base)]).await;
    assert!(
        matches!(
            results[0].outcome,
            secureclose_protocol::sync::MutationOutcome::Applied { .. }
        ),
        "{:?}",
        results[0].outcome
    );
    expect_newest(
        t.texts_to(EMILY_PHONE).await,
        notice::TWO_FACTOR_OFF,
        "a second factor no longer asked for is told",
    );
    let notices = events_about(&t, EMILY, "notice_sent").await;
    assert_eq!(notices.len(), 1);
    assert!(notices[0].detail.contains("turned off"));
    t.stop().await;
}
