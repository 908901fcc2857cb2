//! A company's DMS gates 2FA: without DMS support neither toggle can be
//! turned on, and the effective rule follows the DMS flag both ways.

use reqwest::StatusCode;
use secureclose_protocol::{codes, LoginResponse};

use crate::support::{canyon_password, expect_error, Backend, TestCloud, CANYON_ADMIN, MARCUS};

on_both_backends!(
    a_dms_without_2fa_refuses_both_toggles,
    the_effective_rule_follows_the_dms_flag_both_ways,
);

async fn a_dms_without_2fa_refuses_both_toggles(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let canyon = t.login_ok(CANYON_ADMIN, &canyon_password(&t).await).await;
    let carla = t.user_id(CANYON_ADMIN).await;
    let error = expect_error(
        t.patch(
            &format!("/api/v1/users/{carla}"),
            &canyon,
            serde_json::json!({"two_factor_enabled": true}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        codes::TWO_FACTOR_UNAVAILABLE,
    )
    .await;
    assert_eq!(
        error.message,
        "Two-factor authentication is not available with your DMS integration."
    );
    expect_error(
        t.patch(
            "/api/v1/company",
            &canyon,
            serde_json::json!({"two_factor_required": true}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        codes::TWO_FACTOR_UNAVAILABLE,
    )
    .await;
    // Turning it off (or renaming) is always allowed.
    let ok = t
        .patch(
            "/api/v1/company",
            &canyon,
            serde_json::json!({"two_factor_required": false}),
        )
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    t.stop().await;
}

async fn set_dms_support(t: &TestCloud, company_name_like: &str, supports: bool) {
    sqlx::query("UPDATE companies SET dms_supports_two_factor = $1 WHERE name LIKE $2")
        .bind(i64::from(supports))
        .bind(company_name_like)
        .execute(&t.pool)
        .await
        .unwrap();
}

async fn the_effective_rule_follows_the_dms_flag_both_ways(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let admin = t.admin_token().await;
    t.patch(
        "/api/v1/company",
        &admin,
        serde_json::json!({"two_factor_required": true}),
    )
    .await;
    t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
    // The DMS loses 2FA support: logins no longer ask (toggles AND support).
    set_dms_support(&t, "Desert Sun%", false).await;
    t.login_ok(MARCUS, &t.password_of(MARCUS)).await;
    // Canyon Ridge: toggles on in the database, DMS without support -> none;
    // the DMS gains support -> the very next login asks.
    sqlx::query("UPDATE companies SET two_factor_required = 1 WHERE name LIKE 'Canyon%'")
        .execute(&t.pool)
        .await
        .unwrap();
    let password = canyon_password(&t).await;
    t.login_ok(CANYON_ADMIN, &password).await;
    set_dms_support(&t, "Canyon%", true).await;
    match t.login_response(CANYON_ADMIN, &password).await {
        LoginResponse::SecondFactorRequired { .. } => {}
        other => panic!("support flipped on: the company toggle applies: {other:?}"),
    }
    t.stop().await;
}
