//! Sign-ins, codes and toggles leave audit events.

use reqwest::StatusCode;

use crate::support::{wrong_code, Backend, TestCloud, MARCUS, MARCUS_PHONE};

on_both_backends!(sign_ins_codes_and_toggles_leave_audit_events);

async fn sign_ins_codes_and_toggles_leave_audit_events(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let admin = t.admin_token().await;
    let marcus = t.user_id(MARCUS).await;
    let dana = t.user_id(&t.seed.admin_email).await;
    t.login(MARCUS, "wrong-password").await;
    t.login("nobody@desertsun.example", "whatever").await;
    t.patch(
        &format!("/api/v1/users/{marcus}"),
        &admin,
        serde_json::json!({"two_factor_enabled": true}),
    )
    .await;
    let challenge = t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
    let code = t.latest_code(MARCUS_PHONE).await;
    t.verify(&challenge, &wrong_code(&code)).await;
    assert_eq!(t.verify(&challenge, &code).await.status(), StatusCode::OK);
    t.patch(
        "/api/v1/company",
        &admin,
        serde_json::json!({"two_factor_required": true}),
    )
    .await;

    let events = secureclose_cloud::db::audit::all(&t.pool).await.unwrap();
    let about_marcus: Vec<&str> = events
        .iter()
        .filter(|e| e.subject_user_id.as_deref() == Some(&marcus))
        .map(|e| e.kind.as_str())
        .collect();
    assert_eq!(
        about_marcus,
        [
            "login_failed",
            "two_factor_enabled",
            "code_sent",
            "code_failed",
            "login_succeeded",
            // The first sign-in with a second factor brings the codes.
            "recovery_codes_issued"
        ],
        "every step of Marcus's sign-ins, in order"
    );
    let enabled = events
        .iter()
        .find(|e| e.kind == "two_factor_enabled")
        .unwrap();
    assert_eq!(enabled.actor_user_id.as_deref(), Some(dana.as_str()));
    assert_eq!(
        enabled.company_id.as_deref(),
        Some(t.seed.company_id.as_str())
    );
    assert!(
        events
            .iter()
            .any(|e| e.kind == "login_failed" && e.subject_user_id.is_none()),
        "an unknown account's failure is recorded without a subject"
    );
    let company = events
        .iter()
        .find(|e| e.kind == "company_two_factor_enabled")
        .unwrap();
    assert_eq!(company.actor_user_id.as_deref(), Some(dana.as_str()));
    let sent = events.iter().find(|e| e.kind == "code_sent").unwrap();
    assert!(
        sent.detail.contains("0123") && !sent.detail.contains("480555"),
        "{}",
        sent.detail
    );
    t.stop().await;
}
