//! Accounts coming to exist: admins add users and reset passwords, setup
//! codes are redeemed at `/account/activate`, users change their password,
//! admins end sessions, company policies (offline, sessions) and the
//! absolute session limit, and the operator's `company create`.

use std::time::Duration;

use reqwest::{Response, StatusCode};
use secureclose_protocol::sync::ChangesPage;
use secureclose_protocol::{Company, LoginResponse, SetupCodeGrant};

use crate::support::*;

/// Passes every password rule for the people these tests create.
const STRONG: &str = "violet tractor umbrella seventeen";
const STRONG_TOO: &str = "granite lantern orchestra pebble";
const NORA: &str = "nora.quill@desertsun.example";

async fn post_auth(
    t: &TestCloud,
    path: &str,
    token: Option<&str>,
    body: serde_json::Value,
) -> Response {
    let mut request = t.http.post(t.url(path)).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("POST request")
}

async fn create(t: &TestCloud, token: Option<&str>, body: serde_json::Value) -> Response {
    post_auth(t, "/api/v1/users", token, body).await
}

fn nora() -> serde_json::Value {
    serde_json::json!({
        "display_name": "Nora Quill",
        "email": "Nora.Quill@DesertSun.example",
        "role": "user",
        "mobile_phone": "(480) 555-0199",
        "two_factor_enabled": false,
    })
}

/// Creates a user as the demo admin; their grant.
async fn create_ok(t: &TestCloud, admin: &str, body: serde_json::Value) -> SetupCodeGrant {
    let response = create(t, Some(admin), body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

async fn activate(t: &TestCloud, email: &str, code: &str, password: &str) -> Response {
    t.post(
        "/api/v1/account/activate",
        serde_json::json!({"email": email, "setup_code": code, "new_password": password}),
    )
    .await
}

/// Activates and returns the session token of a user without a second factor.
async fn activate_ok(t: &TestCloud, email: &str, code: &str, password: &str) -> String {
    let response = activate(t, email, code, password).await;
    assert_eq!(response.status(), StatusCode::OK, "activation of {email}");
    match response.json().await.unwrap() {
        LoginResponse::SignedIn { session, .. } => session.token,
        other => panic!("{email} needs no second factor, got {other:?}"),
    }
}

async fn user_count(t: &TestCloud) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&t.pool)
        .await
        .unwrap()
}

async fn live_grants(t: &TestCloud, user_id: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM device_grants WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user_id)
    .fetch_one(&t.pool)
    .await
    .unwrap()
}

async fn me_status(t: &TestCloud, token: &str) -> StatusCode {
    t.get("/api/v1/me", Some(token)).await.status()
}

/// A session whose user is disabled afterwards (directly, so the session
/// row itself is still live): what a disabled user's requests look like.
async fn disabled_token(t: &TestCloud) -> String {
    let token = t.login_ok(TOM, &t.password_of(TOM)).await;
    sqlx::query("UPDATE users SET status = 'disabled' WHERE email = $1")
        .bind(TOM)
        .execute(&t.pool)
        .await
        .unwrap();
    token
}

async fn canyon_admin_token(t: &TestCloud) -> String {
    let password = canyon_password(t).await;
    t.login_ok(CANYON_ADMIN, &password).await
}

fn is_setup_code(code: &str) -> bool {
    let bare: String = code.chars().filter(|c| *c != '-').collect();
    bare.len() >= 10
        && bare
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        && !bare.contains(['0', 'O', '1', 'I', 'L'])
}

async fn adding_users_by_role_and_bad_input(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let admin = t.admin_token().await;
    let admin_id = t.user_id(&t.seed.admin_email).await;
    let before_pull: ChangesPage = t
        .get("/api/v1/sync/changes?since=0", Some(&admin))
        .await
        .json()
        .await
        .unwrap();

    let grant = create_ok(&t, &admin, nora()).await;
    assert_eq!(grant.user.email, NORA, "emails are stored normalised");
    assert_eq!(grant.user.company_id, t.seed.company_id);
    assert_eq!(grant.user.mobile_phone.as_deref(), Some("+14805550199"));
    assert_eq!(grant.user.phone_verified_at, None);
    assert!(is_setup_code(&grant.setup_code), "{}", grant.setup_code);
    assert_eq!(
        grant.setup_code_expires_at,
        t.now() + 72 * 3_600_000,
        "a setup code works for 72 hours"
    );
    let stored: Option<String> =
        sqlx::query_scalar("SELECT setup_code_hash FROM users WHERE email = $1")
            .bind(NORA)
            .fetch_one(&t.pool)
            .await
            .unwrap();
    let stored = stored.expect("a hash is kept");
    assert!(
        !stored.contains(&grant.setup_code.replace('-', "")),
        "only the hash of the code is stored"
    );
    // Nobody knows the new account's password before it is activated.
    expect_error(
        t.login(NORA, "").await,
        StatusCode::BAD_REQUEST,
        "validation",
    )
    .await;
    expect_error(
        t.login(NORA, &grant.setup_code).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;

    // The new user shows up in the admin's next pull.
    let pull: ChangesPage = t
        .get(
            &format!("/api/v1/sync/changes?since={}", before_pull.cursor),
            Some(&admin),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(
        pull.users.iter().any(|u| u.id == grant.user.id),
        "a created user must reach desktops by sync"
    );
    let events = secureclose_cloud::db::audit::all(&t.pool).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "user_created"
        && e.actor_user_id.as_deref() == Some(admin_id.as_str())
        && e.subject_user_id.as_deref() == Some(grant.user.id.as_str())));

    // Roles: a plain user, a disabled user, no session, another company's admin.
    let marcus = t.login_ok(MARCUS, &t.password_of(MARCUS)).await;
    let other = serde_json::json!({"display_name": "Omar Vance", "email": "omar@desertsun.example", "role": "user"});
    let count = user_count(&t).await;
    expect_error(
        create(&t, Some(&marcus), other.clone()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        create(&t, None, other.clone()).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    let disabled = disabled_token(&t).await;
    expect_error(
        create(&t, Some(&disabled), other.clone()).await,
        StatusCode::FORBIDDEN,
        "account_disabled",
    )
    .await;
    assert_eq!(
        user_count(&t).await,
        count,
        "refused requests create nothing"
    );
    let canyon = canyon_admin_token(&t).await;
    let theirs = create_ok(&t, &canyon, other.clone()).await;
    assert_ne!(
        theirs.user.company_id, t.seed.company_id,
        "an admin adds users to their own company only"
    );

    // Bad input: each refused with its own code, nothing created.
    let count = user_count(&t).await;
    let cases = [
        (
            serde_json::json!({"display_name": " ", "email": "x1@desertsun.example", "role": "user"}),
            StatusCode::BAD_REQUEST,
            "validation",
        ),
        (
            serde_json::json!({"display_name": "X", "email": "not-an-email", "role": "user"}),
            StatusCode::BAD_REQUEST,
            "validation",
        ),
        (
            serde_json::json!({"display_name": "X", "email": "x2@desertsun.example", "role": "user", "mobile_phone": "call me"}),
            StatusCode::BAD_REQUEST,
            "invalid_phone",
        ),
        (
            serde_json::json!({"display_name": "X", "email": MARCUS.to_uppercase(), "role": "user"}),
            StatusCode::CONFLICT,
            "conflict",
        ),
        (
            serde_json::json!({"display_name": "X", "email": "x3@desertsun.example", "role": "user", "two_factor_enabled": true}),
            StatusCode::BAD_REQUEST,
            "phone_required",
        ),
        (
            serde_json::json!({"display_name": "X", "email": "x4@desertsun.example", "role": "root"}),
            StatusCode::BAD_REQUEST,
            "validation",
        ),
    ];
    for (body, status, code) in cases {
        expect_error(create(&t, Some(&admin), body).await, status, code).await;
    }
    expect_error(
        create(
            &t,
            Some(&canyon),
            serde_json::json!({"display_name": "X", "email": "x5@canyonridge.example", "role": "user", "mobile_phone": "+14805550111", "two_factor_enabled": true}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "two_factor_unavailable",
    )
    .await;
    assert_eq!(user_count(&t).await, count, "bad input creates nothing");
    t.stop().await;
}

async fn setup_codes_are_single_use_expire_and_count_failures(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let admin = t.admin_token().await;
    let grant = create_ok(&t, &admin, nora()).await;
    let code = grant.setup_code.clone();

    // A wrong code answers like a wrong password and counts like one.
    expect_error(
        activate(&t, NORA, "ABCD-EFGH-JKMN", STRONG).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    assert_eq!(t.counters(NORA).await, (1, 0, 1));
    expect_error(
        activate(&t, "nobody@desertsun.example", &code, STRONG).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;

    // A refused password leaves the code usable.
    let refusal = expect_error(
        activate(&t, NORA, &code, "password").await,
        StatusCode::BAD_REQUEST,
        "password_refused",
    )
    .await;
    assert!(refusal.message.contains("15"), "{}", refusal.message);

    // Typed in lower case without dashes it still counts.
    let typed = code.replace('-', "").to_lowercase();
    let token = activate_ok(&t, NORA, &typed, STRONG).await;
    assert_eq!(me_status(&t, &token).await, StatusCode::OK);
    assert_eq!(
        t.counters(NORA).await,
        (0, 0, 0),
        "a sign-in clears the counters"
    );
    expect_error(
        activate(&t, NORA, &code, STRONG_TOO).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    t.login_ok(NORA, STRONG).await;
    let nora_id = grant.user.id.clone();
    let kinds = t.audit_kinds(&nora_id).await;
    for kind in [
        "user_created",
        "login_failed",
        "account_activated",
        "login_succeeded",
    ] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "{kind} missing from {kinds:?}"
        );
    }

    // Expiry: 72 hours on the cloud's clock.
    let omar = create_ok(
        &t,
        &admin,
        serde_json::json!({"display_name": "Omar Vance", "email": "omar@desertsun.example", "role": "user"}),
    )
    .await;
    t.advance(Duration::from_secs(72 * 3600 - 1));
    let admin = t.admin_token().await;
    let paz = create_ok(
        &t,
        &admin,
        serde_json::json!({"display_name": "Paz Ortega", "email": "paz@desertsun.example", "role": "admin"}),
    )
    .await;
    t.advance(Duration::from_secs(1));
    expect_error(
        activate(&t, "omar@desertsun.example", &omar.setup_code, STRONG).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;

    // A new code replaces the old one.
    let reset: SetupCodeGrant = post_auth(
        &t,
        &format!("/api/v1/users/{}/reset-password", paz.user.id),
        Some(&admin),
        serde_json::json!({}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_ne!(reset.setup_code, paz.setup_code);
    expect_error(
        activate(&t, "paz@desertsun.example", &paz.setup_code, STRONG).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    activate_ok(&t, "paz@desertsun.example", &reset.setup_code, STRONG).await;

    // Wrong codes run into the growing delay like wrong passwords.
    for _ in 0..4 {
        expect_error(
            activate(&t, "omar@desertsun.example", "ZZZZ-ZZZZ-ZZZZ", STRONG).await,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        )
        .await;
    }
    expect_error(
        activate(&t, "omar@desertsun.example", "ZZZZ-ZZZZ-ZZZZ", STRONG).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    t.stop().await;
}

async fn every_password_rule_refuses_with_its_reason(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let admin = t.admin_token().await;
    let grant = create_ok(&t, &admin, nora()).await;
    let cases = [
        ("short but okay", "at least 15"),
        (&"seventeen violets ".repeat(15) as &str, "at most 256"),
        ("passwordpassword", "too common"),
        ("1234567890123456", "too common"),
        ("my nora.quill tractor umbrella", "email"),
        ("violet Quill tractor umbrella", "your name"),
        ("violet tractor DESERT SUN umbrella", "company"),
    ];
    for (password, reason) in cases {
        let error = expect_error(
            activate(&t, NORA, &grant.setup_code, password).await,
            StatusCode::BAD_REQUEST,
            "password_refused",
        )
        .await;
        assert!(
            error.message.contains(reason),
            "{password:?}: {}",
            error.message
        );
    }
    // Spaces and any Unicode are fine; composed and decomposed are one password.
    let decomposed = "cafe\u{301} lumière parapluie voilà";
    let token = activate_ok(&t, NORA, &grant.setup_code, decomposed).await;
    assert_eq!(me_status(&t, &token).await, StatusCode::OK);
    t.login_ok(NORA, "caf\u{e9} lumière parapluie voilà").await;
    t.login_ok(NORA, decomposed).await;
    t.stop().await;
}

async fn activation_continues_like_login_with_two_factor(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let admin = t.admin_token().await;
    let with_phone = create_ok(
        &t,
        &admin,
        serde_json::json!({"display_name": "Nora Quill", "email": NORA, "role": "user", "mobile_phone": "+14805550199", "two_factor_enabled": true}),
    )
    .await;
    let response = activate(&t, NORA, &with_phone.setup_code, STRONG).await;
    assert_eq!(response.status(), StatusCode::OK);
    let LoginResponse::SecondFactorRequired { challenge } = response.json().await.unwrap() else {
        panic!("a 2FA user gets a code after choosing a password");
    };
    let code = t.latest_code("+14805550199").await;
    let signed_in: LoginResponse = t.verify(&challenge, &code).await.json().await.unwrap();
    assert!(matches!(signed_in, LoginResponse::SignedIn { .. }));

    // Company-wide 2FA and no phone: enrolment, as after /login.
    let on = t
        .patch(
            "/api/v1/company",
            &admin,
            serde_json::json!({"two_factor_required": true}),
        )
        .await;
    assert_eq!(on.status(), StatusCode::OK);
    let no_phone = create_ok(
        &t,
        &admin,
        serde_json::json!({"display_name": "Omar Vance", "email": "omar@desertsun.example", "role": "user"}),
    )
    .await;
    let response = activate(&t, "omar@desertsun.example", &no_phone.setup_code, STRONG).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(matches!(
        response.json().await.unwrap(),
        LoginResponse::PhoneEnrollmentRequired { .. }
    ));

    // A disabled account is refused like at /login, and the code stays.
    let disabled = create_ok(
        &t,
        &admin,
        serde_json::json!({"display_name": "Paz Ortega", "email": "paz@desertsun.example", "role": "user"}),
    )
    .await;
    let off = patch_user(
        &t,
        &admin,
        "paz@desertsun.example",
        serde_json::json!({"status": "disabled"}),
    )
    .await;
    assert_eq!(off.status(), StatusCode::OK);
    expect_error(
        activate(&t, "paz@desertsun.example", &disabled.setup_code, STRONG).await,
        StatusCode::FORBIDDEN,
        "account_disabled",
    )
    .await;
    t.stop().await;
}

async fn reset_and_revoke_end_sessions_and_device_grants(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let admin = t.admin_token().await;
    let marcus_password = t.password_of(MARCUS);
    let marcus_id = t.user_id(MARCUS).await;
    let marcus = t.login_ok(MARCUS, &marcus_password).await;
    assert_eq!(live_grants(&t, &marcus_id).await, 1);
    let reset_path = format!("/api/v1/users/{marcus_id}/reset-password");

    // Roles first: none of these may reset anything.
    let canyon = canyon_admin_token(&t).await;
    let theirs = expect_error(
        post_auth(&t, &reset_path, Some(&canyon), serde_json::json!({})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let missing = expect_error(
        post_auth(
            &t,
            "/api/v1/users/no-such-id/reset-password",
            Some(&canyon),
            serde_json::json!({}),
        )
        .await,
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
        post_auth(&t, &reset_path, Some(&emily), serde_json::json!({})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        post_auth(&t, &reset_path, None, serde_json::json!({})).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    let disabled = disabled_token(&t).await;
    expect_error(
        post_auth(&t, &reset_path, Some(&disabled), serde_json::json!({})).await,
        StatusCode::FORBIDDEN,
        "account_disabled",
    )
    .await;
    assert_eq!(
        me_status(&t, &marcus).await,
        StatusCode::OK,
        "nothing ended yet"
    );

    let response = post_auth(&t, &reset_path, Some(&admin), serde_json::json!({})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let grant: SetupCodeGrant = response.json().await.unwrap();
    assert!(is_setup_code(&grant.setup_code));
    assert_eq!(me_status(&t, &marcus).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        live_grants(&t, &marcus_id).await,
        0,
        "device grants end too"
    );
    expect_error(
        t.login(MARCUS, &marcus_password).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    activate_ok(&t, MARCUS, &grant.setup_code, STRONG).await;
    assert!(t
        .audit_kinds(&marcus_id)
        .await
        .contains(&"password_reset".to_string()));

    // Sign out everywhere.
    let emily_id = t.user_id(EMILY).await;
    let revoke_path = format!("/api/v1/users/{emily_id}/revoke-sessions");
    let emily_two = t.login_ok(EMILY, &t.password_of(EMILY)).await;
    assert_eq!(live_grants(&t, &emily_id).await, 2);
    for (token, status, code) in [
        (Some(canyon.as_str()), StatusCode::FORBIDDEN, "forbidden"),
        (Some(emily.as_str()), StatusCode::FORBIDDEN, "forbidden"),
        (
            Some(disabled.as_str()),
            StatusCode::FORBIDDEN,
            "account_disabled",
        ),
        (None, StatusCode::UNAUTHORIZED, "unauthenticated"),
    ] {
        expect_error(
            post_auth(&t, &revoke_path, token, serde_json::json!({})).await,
            status,
            code,
        )
        .await;
    }
    assert_eq!(me_status(&t, &emily).await, StatusCode::OK);
    let response = post_auth(&t, &revoke_path, Some(&admin), serde_json::json!({})).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(me_status(&t, &emily).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me_status(&t, &emily_two).await, StatusCode::UNAUTHORIZED);
    assert_eq!(live_grants(&t, &emily_id).await, 0);
    t.login_ok(EMILY, &t.password_of(EMILY)).await;
    assert!(t
        .audit_kinds(&emily_id)
        .await
        .contains(&"sessions_revoked".to_string()));

    // An admin signing themselves out everywhere keeps this session.
    let admin_id = t.user_id(&t.seed.admin_email).await;
    let elsewhere = t.admin_token().await;
    let own = format!("/api/v1/users/{admin_id}/revoke-sessions");
    let response = post_auth(&t, &own, Some(&admin), serde_json::json!({})).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(me_status(&t, &admin).await, StatusCode::OK);
    assert_eq!(me_status(&t, &elsewhere).await, StatusCode::UNAUTHORIZED);
    t.stop().await;
}

async fn changing_a_password_ends_the_other_sessions(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let old = t.password_of(TOM);
    let grant_of = |response: LoginResponse| match response {
        LoginResponse::SignedIn { session, .. } => session,
        other => panic!("Tom signs in with his password, got {other:?}"),
    };
    let here = grant_of(t.login_response(TOM, &old).await);
    let here_device = here.device_token.clone().unwrap();
    let here = here.token;
    let there = grant_of(t.login_response(TOM, &old).await);
    let there_device = there.device_token.clone().unwrap();
    let there = there.token;
    let change = |token: Option<String>, current: String, new: &str| {
        let body = serde_json::json!({"current_password": current, "new_password": new, "device_token": here_device});
        let t = &t;
        async move { post_auth(t, "/api/v1/account/password", token.as_deref(), body).await }
    };
    let wrong = expect_error(
        change(Some(here.clone()), "not my password".into(), STRONG).await,
        StatusCode::BAD_REQUEST,
        "invalid_credentials",
    )
    .await;
    assert!(
        wrong.message.contains("current password"),
        "{}",
        wrong.message
    );
    assert_eq!(
        t.counters(TOM).await.0,
        1,
        "a wrong current password counts"
    );
    let named = expect_error(
        change(
            Some(here.clone()),
            old.clone(),
            "violet becker tractor umbrella",
        )
        .await,
        StatusCode::BAD_REQUEST,
        "password_refused",
    )
    .await;
    assert!(named.message.contains("your name"), "{}", named.message);
    expect_error(
        change(None, old.clone(), STRONG).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    assert_eq!(
        me_status(&t, &there).await,
        StatusCode::OK,
        "refusals end nothing"
    );

    let response = change(Some(here.clone()), old.clone(), STRONG).await;
    assert_eq!(response.status(), StatusCode::OK);
    let answer: secureclose_protocol::ChangePasswordResponse = response.json().await.unwrap();
    let new_device = answer
        .device_token
        .expect("this device's grant is replaced");
    assert_eq!(
        me_status(&t, &here).await,
        StatusCode::OK,
        "this session stays"
    );
    assert_eq!(me_status(&t, &there).await, StatusCode::UNAUTHORIZED);
    let tom_id = t.user_id(TOM).await;
    assert_eq!(
        live_grants(&t, &tom_id).await,
        1,
        "only the replacement is live"
    );
    for (device, status) in [
        (&here_device, StatusCode::UNAUTHORIZED),
        (&there_device, StatusCode::UNAUTHORIZED),
        (&new_device, StatusCode::OK),
    ] {
        let resumed = t
            .post(
                "/api/v1/login/resume",
                serde_json::json!({"email": TOM, "password": STRONG, "device_token": device}),
            )
            .await;
        assert_eq!(resumed.status(), status, "resume with a device token");
    }
    expect_error(
        t.login(TOM, &old).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    t.login_ok(TOM, STRONG).await;
    assert!(t
        .audit_kinds(&tom_id)
        .await
        .contains(&"password_changed".to_string()));

    // A disabled user cannot change anything.
    let disabled = disabled_token_of(&t, MARCUS).await;
    expect_error(
        post_auth(
            &t,
            "/api/v1/account/password",
            Some(&disabled),
            serde_json::json!({"current_password": t.password_of(MARCUS), "new_password": STRONG}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "account_disabled",
    )
    .await;
    t.stop().await;
}

async fn disabled_token_of(t: &TestCloud, email: &str) -> String {
    let token = t.login_ok(email, &t.password_of(email)).await;
    sqlx::query("UPDATE users SET status = 'disabled' WHERE email = $1")
        .bind(email)
        .execute(&t.pool)
        .await
        .unwrap();
    token
}

async fn company_policies_and_the_absolute_session_limit(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let admin = t.admin_token().await;
    let company: Company = t
        .get("/api/v1/company", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            company.session_policy.idle_lock_minutes,
            company.session_policy.max_session_hours
        ),
        (30, 12),
        "existing companies get the defaults"
    );
    // Emily signs in under the 12-hour policy, an hour before it shortens.
    let emily = t.login_ok(EMILY, &t.password_of(EMILY)).await;
    t.advance(Duration::from_secs(3600));

    let marcus = t.login_ok(MARCUS, &t.password_of(MARCUS)).await;
    let body = serde_json::json!({
        "offline_policy": {"allowed": false, "max_hours": 24},
        "session_policy": {"idle_lock_minutes": 10, "max_session_hours": 2},
    });
    expect_error(
        t.patch("/api/v1/company", &marcus, body.clone()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    for bad in [
        serde_json::json!({"session_policy": {"idle_lock_minutes": 4, "max_session_hours": 2}}),
        serde_json::json!({"session_policy": {"idle_lock_minutes": 61, "max_session_hours": 2}}),
        serde_json::json!({"session_policy": {"idle_lock_minutes": 10, "max_session_hours": 0}}),
        serde_json::json!({"session_policy": {"idle_lock_minutes": 10, "max_session_hours": 25}}),
        serde_json::json!({"offline_policy": {"allowed": true, "max_hours": 0}}),
        serde_json::json!({"offline_policy": {"allowed": true, "max_hours": 169}}),
    ] {
        expect_error(
            t.patch("/api/v1/company", &admin, bad).await,
            StatusCode::BAD_REQUEST,
            "validation",
        )
        .await;
    }
    let response = t.patch("/api/v1/company", &admin, body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let updated: Company = response.json().await.unwrap();
    assert!(!updated.offline_policy.allowed);
    assert_eq!(updated.offline_policy.max_hours, 24);
    assert_eq!(updated.session_policy.idle_lock_minutes, 10);
    assert_eq!(updated.session_policy.max_session_hours, 2);
    assert_eq!(updated.version, company.version + 1);
    let events = secureclose_cloud::db::audit::all(&t.pool).await.unwrap();
    assert!(events
        .iter()
        .any(|e| e.kind == "company_updated" && e.detail == "offline_policy,session_policy"));

    // A session issued now lasts 2 hours, whatever the configured lifetime.
    let response = t.login(LUCIA, &t.password_of(LUCIA)).await;
    let LoginResponse::SignedIn { session, .. } = response.json().await.unwrap() else {
        panic!("Lucia signs in with her password");
    };
    assert_eq!(session.expires_at, t.now() + 2 * 3_600_000);
    assert_eq!(me_status(&t, &emily).await, StatusCode::OK);
    t.advance(Duration::from_secs(3600));
    // Two hours after Emily's sign-in: the shorter limit ends her session too.
    expect_error(
        t.get("/api/v1/me", Some(&emily)).await,
        StatusCode::UNAUTHORIZED,
        "session_expired",
    )
    .await;
    t.advance(Duration::from_secs(3600 - 60));
    assert_eq!(me_status(&t, &session.token).await, StatusCode::OK);
    t.advance(Duration::from_secs(60));
    expect_error(
        t.get("/api/v1/me", Some(&session.token)).await,
        StatusCode::UNAUTHORIZED,
        "session_expired",
    )
    .await;
    t.stop().await;
}

on_both_backends!(
    adding_users_by_role_and_bad_input,
    setup_codes_are_single_use_expire_and_count_failures,
    every_password_rule_refuses_with_its_reason,
    activation_continues_like_login_with_two_factor,
    reset_and_revoke_end_sessions_and_device_grants,
    changing_a_password_ends_the_other_sessions,
    company_policies_and_the_absolute_session_limit,
    operator_onboards_a_company_from_the_command_line,
);

async fn cli(url: &str, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_secureclose-cloud"))
        .args(args)
        .args(["--database-url", url])
        .env_remove("SECURECLOSE_DATABASE_URL")
        .output()
        .await
        .unwrap()
}

async fn company_count(t: &TestCloud) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM companies")
        .fetch_one(&t.pool)
        .await
        .unwrap()
}

async fn operator_onboards_a_company_from_the_command_line(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let url = t.db.url.clone();
    let create = |name: &'static str, email: &'static str, phone: Option<&'static str>| {
        let mut args = vec![
            "company",
            "create",
            "--name",
            name,
            "--dms-kind",
            "Reynolds ERA",
            "--dms-supports-2fa",
            "false",
            "--admin-email",
            email,
            "--admin-name",
            "Rita Admin",
        ];
        if let Some(phone) = phone {
            args.extend(["--admin-phone", phone]);
        }
        let url = url.clone();
        async move { cli(&url, &args).await }
    };
    let (companies, users) = (company_count(&t).await, user_count(&t).await);
    for (name, email, phone, says) in [
        ("  ", "rita@mesa.example", None, "--name"),
        ("Mesa Motors", "rita-at-mesa", None, "--admin-email"),
        (
            "Mesa Motors",
            "rita@mesa.example",
            Some("call me"),
            "--admin-phone",
        ),
        (
            "Desert Sun Motors",
            "rita@mesa.example",
            None,
            "already exists",
        ),
    ] {
        let output = create(name, email, phone).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{name} {email} must be refused");
        assert!(stderr.contains(says), "{says} not in {stderr}");
    }
    assert_eq!(
        (company_count(&t).await, user_count(&t).await),
        (companies, users),
        "refused input creates nothing"
    );

    let output = create("Mesa Motors", "Rita@Mesa.example", Some("(602) 555-0133")).await;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let code = stdout
        .lines()
        .find_map(|line| line.strip_prefix("Setup code: "))
        .unwrap_or_else(|| panic!("no setup code in {stdout}"))
        .trim()
        .to_string();
    assert!(is_setup_code(&code), "{code}");
    let response = activate(&t, "rita@mesa.example", &code, STRONG).await;
    assert_eq!(response.status(), StatusCode::OK);
    let LoginResponse::SignedIn {
        session,
        user,
        company,
    } = response.json().await.unwrap()
    else {
        panic!("the DMS has no 2FA: the new password signs in");
    };
    assert_eq!(company.name, "Mesa Motors");
    assert_eq!(user.role, secureclose_protocol::Role::Admin);
    assert_eq!(user.mobile_phone.as_deref(), Some("+16025550133"));
    assert!(!company.dms.supports_two_factor);
    assert_eq!(company.session_policy.max_session_hours, 12);
    // The new admin works at once: adds a colleague.
    let colleague = create_ok(
        &t,
        &session.token,
        serde_json::json!({"display_name": "Sam Lee", "email": "sam@mesa.example", "role": "user"}),
    )
    .await;
    assert_eq!(colleague.user.company_id, company.id);
    let events = secureclose_cloud::db::audit::all(&t.pool).await.unwrap();
    assert!(events.iter().any(
        |e| e.kind == "company_created" && e.company_id.as_deref() == Some(company.id.as_str())
    ));
    assert!(events.iter().any(|e| e.kind == "user_created"
        && e.subject_user_id.as_deref() == Some(user.id.as_str())
        && e.actor_user_id.is_none()));

    let listed = cli(&url, &["company", "list"]).await;
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        listed.contains("Mesa Motors") && listed.contains("2 users"),
        "{listed}"
    );
    let set = cli(
        &url,
        &[
            "company",
            "set-dms",
            "--company",
            &company.id,
            "--dms-kind",
            "CDK Drive",
            "--dms-supports-2fa",
            "true",
        ],
    )
    .await;
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let now: Company = t
        .get("/api/v1/company", Some(&session.token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (now.dms.kind.as_str(), now.dms.supports_two_factor),
        ("CDK Drive", true)
    );
    assert_eq!(now.version, company.version + 1, "desktops pull the change");
    let unknown = cli(
        &url,
        &[
            "company",
            "set-dms",
            "--company",
            "nope",
            "--dms-kind",
            "X",
            "--dms-supports-2fa",
            "true",
        ],
    )
    .await;
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no company"));

    // An address is unique per company only: Marcus can be the first admin of
    // another dealership too, and his setup code picks that account.
    let output = create("Butte Cars", MARCUS, None).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let code = stdout
        .lines()
        .find_map(|line| line.strip_prefix("Setup code: "))
        .unwrap_or_else(|| panic!("no setup code in {stdout}"))
        .trim()
        .to_string();
    let response = activate(&t, MARCUS, &code, STRONG).await;
    assert_eq!(response.status(), StatusCode::OK);
    let LoginResponse::SignedIn { company, .. } = response.json().await.unwrap() else {
        panic!("the code names one account: no company choice");
    };
    assert_eq!(company.name, "Butte Cars");
    let LoginResponse::SignedIn { company, .. } =
        t.login_response(MARCUS, &t.password_of(MARCUS)).await
    else {
        panic!("his Desert Sun password still signs in there");
    };
    assert_eq!(company.id, t.seed.company_id);
    t.stop().await;
}
