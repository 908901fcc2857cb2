//! Every endpoint by role and company: who may read or change what.

use reqwest::{Method, StatusCode};
use secureclose_protocol::{Company, User};

use crate::support::{canyon_password, Backend, TestCloud, CANYON_ADMIN, EMILY, MARCUS, NINA};

on_both_backends!(every_endpoint_by_role_and_company);

async fn every_endpoint_by_role_and_company(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let canyon_password = canyon_password(&t).await;
    let dana = t.admin_token().await;
    let marcus = t.login_ok(MARCUS, &t.password_of(MARCUS)).await;
    let carla = t.login_ok(CANYON_ADMIN, &canyon_password).await;
    let nina = t.login_ok(NINA, &canyon_password).await;
    let emily = t.user_id(EMILY).await;
    let marcus_id = t.user_id(MARCUS).await;
    let nina_id = t.user_id(NINA).await;
    let missing = uuid::Uuid::new_v4().to_string();
    let user = |id: &str| format!("/api/v1/users/{id}");
    let rename = serde_json::json!({"display_name": "Renamed"});
    let get = serde_json::Value::Null;
    let reset = serde_json::json!({"reason": "lost phone, confirmed in person"});
    // (caller, role/company, method, path, body, expected)
    let matrix: Vec<(&str, &str, Method, String, serde_json::Value, StatusCode)> = vec![
        // GET users/{id}: anyone of the same company; nobody else.
        (
            &dana,
            "admin, own",
            Method::GET,
            user(&emily),
            get.clone(),
            StatusCode::OK,
        ),
        (
            &marcus,
            "user, own",
            Method::GET,
            user(&emily),
            get.clone(),
            StatusCode::OK,
        ),
        (
            &carla,
            "admin, other",
            Method::GET,
            user(&emily),
            get.clone(),
            StatusCode::FORBIDDEN,
        ),
        (
            &nina,
            "user, other",
            Method::GET,
            user(&emily),
            get.clone(),
            StatusCode::FORBIDDEN,
        ),
        (
            &dana,
            "admin, no such id",
            Method::GET,
            user(&missing),
            get.clone(),
            StatusCode::FORBIDDEN,
        ),
        // PATCH users/{id}: admins of the same company only.
        (
            &marcus,
            "user, own company",
            Method::PATCH,
            user(&emily),
            rename.clone(),
            StatusCode::FORBIDDEN,
        ),
        (
            &marcus,
            "user, own profile",
            Method::PATCH,
            user(&marcus_id),
            serde_json::json!({"role": "admin"}),
            StatusCode::FORBIDDEN,
        ),
        (
            &marcus,
            "user, own 2FA",
            Method::PATCH,
            user(&marcus_id),
            serde_json::json!({"two_factor_enabled": false}),
            StatusCode::FORBIDDEN,
        ),
        (
            &carla,
            "admin, other",
            Method::PATCH,
            user(&emily),
            rename.clone(),
            StatusCode::FORBIDDEN,
        ),
        (
            &nina,
            "user, other",
            Method::PATCH,
            user(&emily),
            rename.clone(),
            StatusCode::FORBIDDEN,
        ),
        (
            &dana,
            "admin, other",
            Method::PATCH,
            user(&nina_id),
            rename.clone(),
            StatusCode::FORBIDDEN,
        ),
        (
            &dana,
            "admin, no such id",
            Method::PATCH,
            user(&missing),
            rename.clone(),
            StatusCode::FORBIDDEN,
        ),
        (
            &dana,
            "admin, own",
            Method::PATCH,
            user(&emily),
            serde_json::json!({"display_name": "Emily C."}),
            StatusCode::OK,
        ),
        // PATCH company: admins, and always their own company.
        (
            &marcus,
            "user, own",
            Method::PATCH,
            "/api/v1/company".into(),
            serde_json::json!({"name": "Hijacked"}),
            StatusCode::FORBIDDEN,
        ),
        (
            &nina,
            "user, other",
            Method::PATCH,
            "/api/v1/company".into(),
            serde_json::json!({"name": "Hijacked"}),
            StatusCode::FORBIDDEN,
        ),
        (
            &carla,
            "admin, other",
            Method::PATCH,
            "/api/v1/company".into(),
            serde_json::json!({"name": "Canyon Ridge Auto"}),
            StatusCode::OK,
        ),
        (
            &dana,
            "admin, own",
            Method::PATCH,
            "/api/v1/company".into(),
            serde_json::json!({"name": "Desert Sun Motors AZ"}),
            StatusCode::OK,
        ),
        // users/{id}/trusted-computers: admins of the same company only.
        (
            &marcus,
            "user, own company",
            Method::GET,
            format!("{}/trusted-computers", user(&emily)),
            get.clone(),
            StatusCode::FORBIDDEN,
        ),
        (
            &carla,
            "admin, other",
            Method::GET,
            format!("{}/trusted-computers", user(&emily)),
            get.clone(),
            StatusCode::FORBIDDEN,
        ),
        (
            &carla,
            "admin, other",
            Method::DELETE,
            format!("{}/trusted-computers/{missing}", user(&emily)),
            get.clone(),
            StatusCode::FORBIDDEN,
        ),
        (
            &dana,
            "admin, own",
            Method::GET,
            format!("{}/trusted-computers", user(&emily)),
            get.clone(),
            StatusCode::OK,
        ),
        // POST users/{id}/reset-two-factor: admins of the same company only.
        (
            &marcus,
            "user, own company",
            Method::POST,
            format!("{}/reset-two-factor", user(&emily)),
            reset.clone(),
            StatusCode::FORBIDDEN,
        ),
        (
            &carla,
            "admin, other",
            Method::POST,
            format!("{}/reset-two-factor", user(&emily)),
            reset.clone(),
            StatusCode::FORBIDDEN,
        ),
        (
            &nina,
            "user, other",
            Method::POST,
            format!("{}/reset-two-factor", user(&emily)),
            reset.clone(),
            StatusCode::FORBIDDEN,
        ),
        (
            &dana,
            "admin, no such id",
            Method::POST,
            format!("{}/reset-two-factor", user(&missing)),
            reset.clone(),
            StatusCode::FORBIDDEN,
        ),
    ];
    for (token, who, method, path, body, expected) in &matrix {
        let mut request = t
            .http
            .request(method.clone(), t.url(path))
            .bearer_auth(token);
        if !body.is_null() {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            response.status(),
            *expected,
            "{method} {path} as {who} must answer {expected}"
        );
        if *expected == StatusCode::FORBIDDEN {
            let error: secureclose_protocol::ApiError = response.json().await.unwrap();
            assert_eq!(error.code, "forbidden");
        }
    }
    // Only the allowed edits happened.
    let emily_now: User = t
        .get(&user(&emily), Some(&dana))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(emily_now.display_name, "Emily C.");
    assert_eq!(
        emily_now.mobile_phone.as_deref(),
        Some("+14805550162"),
        "no refused reset took Emily's phone"
    );
    let nina_now: User = t
        .get(&user(&nina_id), Some(&carla))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(nina_now.display_name, "Nina Patel");
    let marcus_now: User = t
        .get(&user(&marcus_id), Some(&dana))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(marcus_now.role, secureclose_protocol::Role::User);
    let desert: Company = t
        .get("/api/v1/company", Some(&dana))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        desert.name, "Desert Sun Motors AZ",
        "Carla's edit touched only her company"
    );
    let canyon: Company = t
        .get("/api/v1/company", Some(&carla))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(canyon.name, "Canyon Ridge Auto");
    t.stop().await;
}
