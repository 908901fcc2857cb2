//! Texting a setup code to the user's phone (`POST /users/{id}/setup-code/text`):
//! only the admin's own company, only the user's current code, only to the
//! phone on file, a few times per code, audited without the code. And an
//! admin never resets their own password (they change it in their profile).

use std::time::Duration;

use reqwest::{Response, StatusCode};
use secureclose_cloud::outbox;
use secureclose_protocol::{SetupCodeGrant, SetupCodeTexted};

use crate::support::*;

const NORA: &str = "nora.quill@desertsun.example";
const NORA_PHONE: &str = "+14805550199";
const STRONG: &str = "violet tractor umbrella seventeen";

async fn post(t: &TestCloud, path: &str, token: Option<&str>, body: serde_json::Value) -> Response {
    let mut request = t.http.post(t.url(path)).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("POST request")
}

async fn add_user(t: &TestCloud, admin: &str, phone: Option<&str>) -> SetupCodeGrant {
    let email = if phone.is_some() {
        NORA
    } else {
        "otto.lane@desertsun.example"
    };
    let body = serde_json::json!({
        "display_name": "Nora Quill",
        "email": email,
        "role": "user",
        "mobile_phone": phone,
    });
    let response = post(t, "/api/v1/users", Some(admin), body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

async fn text(t: &TestCloud, token: Option<&str>, user_id: &str, code: &str) -> Response {
    let path = format!("/api/v1/users/{user_id}/setup-code/text");
    post(t, &path, token, serde_json::json!({ "setup_code": code })).await
}

async fn text_ok(t: &TestCloud, token: &str, user_id: &str, code: &str) -> SetupCodeTexted {
    let response = text(t, Some(token), user_id, code).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "texting {user_id}'s code"
    );
    response.json().await.unwrap()
}

async fn reset(t: &TestCloud, token: &str, user_id: &str) -> Response {
    let path = format!("/api/v1/users/{user_id}/reset-password");
    post(t, &path, Some(token), serde_json::json!({})).await
}

/// Every message the dev outbox holds, to any number.
async fn all_texts(t: &TestCloud) -> Vec<secureclose_protocol::OutboxMessage> {
    outbox(&t.db.url, None).await.unwrap()
}

async fn texting_sends_the_current_code_to_the_phone_on_file(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let admin = t.admin_token().await;
    let admin_id = t.user_id(&t.seed.admin_email).await;
    let grant = add_user(&t, &admin, Some("(480) 555-0199")).await;
    let nora_id = grant.user.id.clone();
    let before = all_texts(&t).await.len();

    let texted = text_ok(&t, &admin, &nora_id, &grant.setup_code).await;
    assert_eq!(
        texted.phone_hint, "••• ••• 0199",
        "masked as sign-in codes are"
    );
    assert_eq!(texted.texts_left, 2);
    let sent = all_texts(&t).await;
    assert_eq!(sent.len(), before + 1, "one message");
    assert_eq!(sent[0].to, NORA_PHONE, "to the phone on the profile");
    assert!(
        sent[0].body.contains(&grant.setup_code),
        "the code as the admin was shown it: {}",
        sent[0].body
    );

    let events = secureclose_cloud::db::audit::all(&t.pool).await.unwrap();
    let event = events
        .iter()
        .find(|e| e.kind == "setup_code_texted")
        .expect("audited");
    assert_eq!(
        event.actor_user_id.as_deref(),
        Some(admin_id.as_str()),
        "who"
    );
    assert_eq!(
        event.subject_user_id.as_deref(),
        Some(nora_id.as_str()),
        "for whom"
    );
    assert_eq!(event.at, t.now(), "when");
    let bare = grant.setup_code.replace('-', "");
    for event in &events {
        assert!(
            !event.detail.contains(&grant.setup_code) && !event.detail.contains(&bare),
            "never the code in the audit: {}",
            event.detail
        );
    }

    // A wrong code sends nothing and does not count.
    let wrong = if grant.setup_code.starts_with('A') {
        "BBBB-BBBB-BBBB"
    } else {
        "AAAA-AAAA-AAAA"
    };
    expect_error(
        text(&t, Some(&admin), &nora_id, wrong).await,
        StatusCode::BAD_REQUEST,
        "setup_code_not_current",
    )
    .await;
    assert_eq!(all_texts(&t).await.len(), before + 1);

    // Typed without dashes in lower case it is the same code; the limit is 3.
    let typed = bare.to_lowercase();
    assert_eq!(text_ok(&t, &admin, &nora_id, &typed).await.texts_left, 1);
    assert_eq!(
        text_ok(&t, &admin, &nora_id, &grant.setup_code)
            .await
            .texts_left,
        0
    );
    let limit = expect_error(
        text(&t, Some(&admin), &nora_id, &grant.setup_code).await,
        StatusCode::TOO_MANY_REQUESTS,
        "setup_code_text_limit",
    )
    .await;
    assert!(limit.message.contains('3'), "{}", limit.message);
    assert_eq!(t.outbox_count(NORA_PHONE).await, 3);

    // A reset replaces the code: the old one is refused, the new one may be
    // texted again (after the phone's SMS budget window).
    t.advance(Duration::from_secs(11 * 60));
    let response = reset(&t, &admin, &nora_id).await;
    assert_eq!(response.status(), StatusCode::OK);
    let fresh: SetupCodeGrant = response.json().await.unwrap();
    expect_error(
        text(&t, Some(&admin), &nora_id, &grant.setup_code).await,
        StatusCode::BAD_REQUEST,
        "setup_code_not_current",
    )
    .await;
    assert_eq!(
        text_ok(&t, &admin, &nora_id, &fresh.setup_code)
            .await
            .texts_left,
        2
    );

    // Once used, it is not texted any more.
    let activated = t
        .post(
            "/api/v1/account/activate",
            serde_json::json!({"email": NORA, "setup_code": fresh.setup_code, "new_password": STRONG}),
        )
        .await;
    assert_eq!(activated.status(), StatusCode::OK);
    expect_error(
        text(&t, Some(&admin), &nora_id, &fresh.setup_code).await,
        StatusCode::BAD_REQUEST,
        "setup_code_not_current",
    )
    .await;
    assert_eq!(t.outbox_count(NORA_PHONE).await, 4);
    t.stop().await;
}

async fn an_expired_setup_code_is_not_texted(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let admin = t.admin_token().await;
    let grant = add_user(&t, &admin, Some(NORA_PHONE)).await;
    t.advance(Duration::from_secs(72 * 3600 - 60));
    let admin = t.admin_token().await;
    text_ok(&t, &admin, &grant.user.id, &grant.setup_code).await;
    t.advance(Duration::from_secs(60));
    let admin = t.admin_token().await;
    expect_error(
        text(&t, Some(&admin), &grant.user.id, &grant.setup_code).await,
        StatusCode::BAD_REQUEST,
        "setup_code_not_current",
    )
    .await;
    assert_eq!(t.outbox_count(NORA_PHONE).await, 1);
    t.stop().await;
}

async fn only_an_admin_of_the_company_texts_and_only_to_a_phone(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let admin = t.admin_token().await;
    let grant = add_user(&t, &admin, Some(NORA_PHONE)).await;
    let code = grant.setup_code.as_str();
    let nora_id = grant.user.id.as_str();

    let canyon = t.login_ok(CANYON_ADMIN, &canyon_password(&t).await).await;
    let theirs = expect_error(
        text(&t, Some(&canyon), nora_id, code).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let missing = expect_error(
        text(&t, Some(&canyon), "no-such-id", code).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_eq!(
        theirs, missing,
        "another company's ids answer like missing ones"
    );
    let emily = t.login_ok(EMILY, &t.password_of(EMILY)).await;
    expect_error(
        text(&t, Some(&emily), nora_id, code).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        text(&t, None, nora_id, code).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    assert_eq!(t.outbox_count(NORA_PHONE).await, 0, "nothing sent");

    let phoneless = add_user(&t, &admin, None).await;
    let before = all_texts(&t).await.len();
    expect_error(
        text(&t, Some(&admin), &phoneless.user.id, &phoneless.setup_code).await,
        StatusCode::BAD_REQUEST,
        "no_mobile_phone",
    )
    .await;
    assert_eq!(all_texts(&t).await.len(), before);
    let kinds = t.audit_kinds(nora_id).await;
    assert!(!kinds.iter().any(|k| k == "setup_code_texted"), "{kinds:?}");
    t.stop().await;
}

async fn an_admin_cannot_reset_their_own_password(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let admin = t.admin_token().await;
    let admin_id = t.user_id(&t.seed.admin_email).await;
    let refusal = expect_error(
        reset(&t, &admin, &admin_id).await,
        StatusCode::BAD_REQUEST,
        "own_password_reset",
    )
    .await;
    assert!(refusal.message.contains("profile"), "{}", refusal.message);
    assert_eq!(
        t.get("/api/v1/me", Some(&admin)).await.status(),
        StatusCode::OK,
        "the session goes on"
    );
    t.admin_token().await;
    let kinds = t.audit_kinds(&admin_id).await;
    assert!(!kinds.iter().any(|k| k == "password_reset"), "{kinds:?}");
    t.stop().await;
}

on_both_backends!(
    texting_sends_the_current_code_to_the_phone_on_file,
    an_expired_setup_code_is_not_texted,
    only_an_admin_of_the_company_texts_and_only_to_a_phone,
    an_admin_cannot_reset_their_own_password,
);
