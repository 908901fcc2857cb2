//! The authenticator app (TOTP): enrolment from a signed-in session, active
//! only after its first code; sign-in with its codes (one step either side,
//! each step once per user, also across instances); wrong codes counted like
//! texted ones; removal; the secret sealed at rest; who may call what.
//! Codes are computed here with totp-rs from the secret the cloud shows.

use std::time::Duration;

use reqwest::{Method, Response, StatusCode};
use secureclose_protocol::{
    codes, Challenge, LoginResponse, SecondFactorMethod, TotpEnrollment, TotpStatus,
};
use totp_rs::{Algorithm, Secret, Totp};

use crate::support::{expect_error, Backend, TestCloud, EMILY, LUCIA, MARCUS, MARCUS_PHONE, TOM};

on_both_backends!(
    codes_one_step_either_side_are_accepted_two_are_not,
    a_step_is_accepted_once_also_across_instances,
    an_unconfirmed_enrolment_changes_nothing_at_sign_in,
    a_wrong_first_code_is_refused_and_tries_run_out,
    removing_the_app_ends_its_use_and_other_sessions,
    the_secret_is_not_stored_in_the_clear,
    another_users_enrolment_cannot_be_confirmed,
    only_the_signed_in_active_user_reaches_the_endpoints,
    wrong_app_codes_count_and_close_the_attempt,
    a_user_with_an_app_and_no_phone_gets_no_text,
    a_user_with_an_app_is_texted_only_on_request,
    a_changed_totp_key_is_a_clear_uncounted_refusal,
    an_app_enrolled_at_sign_in_finishes_it_and_is_the_factor_from_then_on,
    an_app_enrolment_at_sign_in_holds_only_for_that_attempt_and_profile,
    the_apps_secret_reaches_a_desktop_only_after_a_factor_where_offline_is_allowed,
);

fn app(secret_base32: &str) -> Totp {
    totp_rs::Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(Secret::try_from_base32(secret_base32).expect("base32 secret"))
        .build()
        .expect("RFC parameters")
}

/// The app's code at `at_ms` (epoch ms).
pub(crate) fn code_at(secret: &str, at_ms: i64) -> String {
    app(secret)
        .generate(u64::try_from(at_ms / 1000).unwrap())
        .to_string()
}

async fn call(
    t: &TestCloud,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> Response {
    let mut request = t.http.request(method, t.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("request")
}

/// Re-authenticates (as an enrolment needs) and begins one.
pub(crate) async fn begin(t: &TestCloud, token: &str) -> TotpEnrollment {
    t.reauth(token).await;
    let response = call(t, Method::POST, "/api/v1/account/totp", Some(token), None).await;
    assert_eq!(response.status(), StatusCode::OK, "begin");
    response.json().await.unwrap()
}

pub(crate) async fn confirm(
    t: &TestCloud,
    token: &str,
    enrollment_id: &str,
    code: &str,
) -> Response {
    call(
        t,
        Method::POST,
        "/api/v1/account/totp/confirm",
        Some(token),
        Some(serde_json::json!({"enrollment_id": enrollment_id, "code": code})),
    )
    .await
}

async fn status(t: &TestCloud, token: &str) -> TotpStatus {
    let response = call(t, Method::GET, "/api/v1/account/totp", Some(token), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// Signs `email` in (no 2FA yet), adds an authenticator app and turns the
/// user's 2FA on. The session token and the secret.
pub(crate) async fn enrolled(t: &TestCloud, email: &str) -> (String, String) {
    let token = t.login_ok(email, &t.password_of(email)).await;
    let enrollment = begin(t, &token).await;
    let response = confirm(
        t,
        &token,
        &enrollment.enrollment_id,
        &code_at(&enrollment.secret, t.now()),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK, "the first code confirms");
    let confirmed: TotpStatus = response.json().await.unwrap();
    assert!(confirmed.enabled);
    t.enable_two_factor(email).await;
    (token, enrollment.secret)
}

pub(crate) async fn verify_with(
    t: &TestCloud,
    base: &str,
    challenge: &Challenge,
    method: &str,
    code: &str,
) -> Response {
    t.post_to(
        base,
        "/api/v1/login/verify",
        serde_json::json!({"challenge_id": challenge.challenge_id, "method": method, "code": code}),
    )
    .await
}

pub(crate) async fn expect_signed_in(response: Response) {
    assert_eq!(response.status(), StatusCode::OK, "the code signs in");
    assert!(matches!(
        response.json().await.unwrap(),
        LoginResponse::SignedIn { .. }
    ));
}

async fn codes_one_step_either_side_are_accepted_two_are_not(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let (_, secret) = enrolled(&t, MARCUS).await;
    let password = t.password_of(MARCUS);
    // Well past the confirming code's step.
    t.advance(Duration::from_secs(600));
    let base = t.cloud.base_url();

    let challenge = t.login_for_code(MARCUS, &password).await;
    assert_eq!(
        challenge.methods,
        vec![
            SecondFactorMethod::Sms,
            SecondFactorMethod::Totp,
            SecondFactorMethod::Recovery
        ],
        "a phone and an app: both offered, the text first, then the recovery codes"
    );
    let two_behind = code_at(&secret, t.now() - 60_000);
    expect_error(
        verify_with(&t, &base, &challenge, "totp", &two_behind).await,
        StatusCode::BAD_REQUEST,
        codes::INVALID_CODE,
    )
    .await;
    let one_behind = code_at(&secret, t.now() - 30_000);
    expect_signed_in(verify_with(&t, &base, &challenge, "totp", &one_behind).await).await;

    let challenge = t.login_for_code(MARCUS, &password).await;
    let two_ahead = code_at(&secret, t.now() + 60_000);
    expect_error(
        verify_with(&t, &base, &challenge, "totp", &two_ahead).await,
        StatusCode::BAD_REQUEST,
        codes::INVALID_CODE,
    )
    .await;
    let one_ahead = code_at(&secret, t.now() + 30_000);
    expect_signed_in(verify_with(&t, &base, &challenge, "totp", &one_ahead).await).await;

    // The current step is older than the one just used: steps only move on.
    let challenge = t.login_for_code(MARCUS, &password).await;
    expect_error(
        verify_with(&t, &base, &challenge, "totp", &code_at(&secret, t.now())).await,
        StatusCode::BAD_REQUEST,
        codes::INVALID_CODE,
    )
    .await;
    t.stop().await;
}

async fn a_step_is_accepted_once_also_across_instances(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let (_, secret) = enrolled(&t, MARCUS).await;
    let password = t.password_of(MARCUS);
    let base = t.cloud.base_url();

    // The confirming code's step is used: the same code cannot sign in.
    let challenge = t.login_for_code(MARCUS, &password).await;
    expect_error(
        verify_with(&t, &base, &challenge, "totp", &code_at(&secret, t.now())).await,
        StatusCode::BAD_REQUEST,
        codes::INVALID_CODE,
    )
    .await;

    t.advance(Duration::from_secs(30));
    let code = code_at(&secret, t.now());
    expect_signed_in(verify_with(&t, &base, &challenge, "totp", &code).await).await;

    // Replayed on another instance of the same database: refused.
    let other = t.second_instance().await;
    let challenge = t.login_for_code(MARCUS, &password).await;
    expect_error(
        verify_with(&t, &other.base_url(), &challenge, "totp", &code).await,
        StatusCode::BAD_REQUEST,
        codes::INVALID_CODE,
    )
    .await;
    let (_, code_failures, _) = t.counters(MARCUS).await;
    assert_eq!(
        code_failures, 1,
        "the replay is counted (the sign-in between reset the count)"
    );
    // A text asked for in the same attempt still works.
    let response = t
        .post_to(
            &other.base_url(),
            "/api/v1/login/resend",
            serde_json::json!({"challenge_id": challenge.challenge_id}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let texted = t.latest_code(MARCUS_PHONE).await;
    expect_signed_in(verify_with(&t, &other.base_url(), &challenge, "sms", &texted).await).await;
    other.shutdown().await;
    t.stop().await;
}

async fn an_unconfirmed_enrolment_changes_nothing_at_sign_in(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let token = t.login_ok(MARCUS, &t.password_of(MARCUS)).await;
    let enrollment = begin(&t, &token).await;
    assert!(enrollment
        .otpauth_uri
        .starts_with("otpauth://totp/SecureClose:"));
    // The QR code's URI and the typed secret make the same codes.
    let from_uri = Totp::from_url(&enrollment.otpauth_uri).expect("a valid otpauth URI");
    let now = u64::try_from(t.now() / 1000).unwrap();
    assert_eq!(
        from_uri.generate(now),
        app(&enrollment.secret).generate(now)
    );
    assert!(!status(&t, &token).await.enabled);

    t.enable_two_factor(MARCUS).await;
    let challenge = t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
    assert_eq!(challenge.methods, vec![SecondFactorMethod::Sms]);
    let code = code_at(&enrollment.secret, t.now());
    let base = t.cloud.base_url();
    expect_error(
        verify_with(&t, &base, &challenge, "totp", &code).await,
        StatusCode::BAD_REQUEST,
        codes::VALIDATION,
    )
    .await;
    assert_eq!(
        t.counters(MARCUS).await.1,
        0,
        "not counted: there is no app to guess"
    );
    // Lucia never began one: the same answer.
    t.enable_two_factor(LUCIA).await;
    let lucia = t.login_for_code(LUCIA, &t.password_of(LUCIA)).await;
    expect_error(
        verify_with(&t, &base, &lucia, "totp", "123456").await,
        StatusCode::BAD_REQUEST,
        codes::VALIDATION,
    )
    .await;
    // An older client's verify (no method) is the texted code.
    let texted = t.latest_code(MARCUS_PHONE).await;
    expect_signed_in(t.verify(&challenge, &texted).await).await;
    t.stop().await;
}

async fn a_wrong_first_code_is_refused_and_tries_run_out(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let token = t.login_ok(MARCUS, &t.password_of(MARCUS)).await;
    let enrollment = begin(&t, &token).await;
    let right = code_at(&enrollment.secret, t.now());
    let wrong = crate::support::wrong_code(&right);
    let error = expect_error(
        confirm(&t, &token, &enrollment.enrollment_id, &wrong).await,
        StatusCode::BAD_REQUEST,
        codes::INVALID_CODE,
    )
    .await;
    assert_eq!(error.attempts_left, Some(4));
    assert!(
        !status(&t, &token).await.enabled,
        "a wrong code confirms nothing"
    );
    for _ in 0..4 {
        confirm(&t, &token, &enrollment.enrollment_id, &wrong).await;
    }
    expect_error(
        confirm(&t, &token, &enrollment.enrollment_id, &right).await,
        StatusCode::BAD_REQUEST,
        codes::VALIDATION,
    )
    .await;
    assert!(
        !status(&t, &token).await.enabled,
        "five wrong codes end the setup"
    );

    // A fresh start works, and an expired one does not.
    let fresh = begin(&t, &token).await;
    t.advance(Duration::from_secs(16 * 60));
    expect_error(
        confirm(
            &t,
            &token,
            &fresh.enrollment_id,
            &code_at(&fresh.secret, t.now()),
        )
        .await,
        StatusCode::BAD_REQUEST,
        codes::VALIDATION,
    )
    .await;
    t.stop().await;
}

async fn removing_the_app_ends_its_use_and_other_sessions(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let password = t.password_of(MARCUS);
    let elsewhere = t.login_ok(MARCUS, &password).await;
    let (token, secret) = enrolled(&t, MARCUS).await;
    assert!(status(&t, &token).await.enabled);
    // Adding a factor ends the user's other sessions; this one stays.
    expect_error(
        t.get("/api/v1/me", Some(&elsewhere)).await,
        StatusCode::UNAUTHORIZED,
        codes::UNAUTHENTICATED,
    )
    .await;
    expect_error(
        call(&t, Method::POST, "/api/v1/account/totp", Some(&token), None).await,
        StatusCode::CONFLICT,
        codes::CONFLICT,
    )
    .await;

    let open = t.login_for_code(MARCUS, &password).await;
    let response = call(
        &t,
        Method::DELETE,
        "/api/v1/account/totp",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(!status(&t, &token).await.enabled);
    t.advance(Duration::from_secs(60));
    let base = t.cloud.base_url();
    expect_error(
        verify_with(&t, &base, &open, "totp", &code_at(&secret, t.now())).await,
        StatusCode::UNAUTHORIZED,
        codes::CHALLENGE_CLOSED,
    )
    .await;
    let challenge = t.login_for_code(MARCUS, &password).await;
    assert_eq!(
        challenge.methods,
        vec![SecondFactorMethod::Sms, SecondFactorMethod::Recovery],
        "without the app: the text, and the codes its enrolment brought"
    );
    expect_error(
        verify_with(&t, &base, &challenge, "totp", &code_at(&secret, t.now())).await,
        StatusCode::BAD_REQUEST,
        codes::VALIDATION,
    )
    .await;
    expect_error(
        call(
            &t,
            Method::DELETE,
            "/api/v1/account/totp",
            Some(&token),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
        codes::NOT_FOUND,
    )
    .await;
    let kinds = t.audit_kinds(&t.user_id(MARCUS).await).await;
    for kind in ["totp_enrollment_started", "totp_enabled", "totp_removed"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} audited: {kinds:?}");
    }
    t.stop().await;
}

async fn the_secret_is_not_stored_in_the_clear(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let (_, secret) = enrolled(&t, MARCUS).await;
    let raw = Secret::try_from_base32(&secret).unwrap();
    let stored: String = sqlx::query_scalar("SELECT sealed_secret FROM totp_factors")
        .fetch_one(&t.pool)
        .await
        .unwrap();
    assert!(stored.starts_with("v1."), "sealed: {stored}");
    assert!(!stored.contains(&secret));
    // Not merely re-encoded: the stored bytes hold no copy of the secret.
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&stored[3..])
        .unwrap();
    assert!(
        !decoded
            .windows(raw.as_ref().len())
            .any(|w| w == raw.as_ref()),
        "the stored value is the secret, only encoded"
    );
    if let Backend::Sqlite = backend {
        let bytes = t.db.sqlite_bytes();
        let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        assert!(
            !contains(raw.as_ref()),
            "the raw secret is in the database file"
        );
        assert!(
            !contains(secret.as_bytes()),
            "the base32 secret is in the database file"
        );
        assert!(
            !contains(hex::encode(raw.as_ref()).as_bytes()),
            "the hex secret is in the database file"
        );
    }
    t.stop().await;
}

async fn another_users_enrolment_cannot_be_confirmed(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let emily = t.login_ok(EMILY, &t.password_of(EMILY)).await;
    let marcus = t.login_ok(MARCUS, &t.password_of(MARCUS)).await;
    let hers = begin(&t, &emily).await;
    let code = code_at(&hers.secret, t.now());
    expect_error(
        confirm(&t, &marcus, &hers.enrollment_id, &code).await,
        StatusCode::BAD_REQUEST,
        codes::VALIDATION,
    )
    .await;
    assert!(!status(&t, &marcus).await.enabled);
    let response = confirm(&t, &emily, &hers.enrollment_id, &code).await;
    assert_eq!(response.status(), StatusCode::OK, "still hers to confirm");
    t.stop().await;
}

async fn only_the_signed_in_active_user_reaches_the_endpoints(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let token = t.login_ok(EMILY, &t.password_of(EMILY)).await;
    let confirm_body = serde_json::json!({"enrollment_id": "x", "code": "123456"});
    let endpoints = [
        (Method::GET, "/api/v1/account/totp", None),
        (Method::POST, "/api/v1/account/totp", None),
        (
            Method::POST,
            "/api/v1/account/totp/confirm",
            Some(confirm_body),
        ),
        (Method::DELETE, "/api/v1/account/totp", None),
    ];
    for (method, path, body) in &endpoints {
        for token in [None, Some("not-a-session")] {
            expect_error(
                call(&t, method.clone(), path, token, body.clone()).await,
                StatusCode::UNAUTHORIZED,
                codes::UNAUTHENTICATED,
            )
            .await;
        }
    }
    sqlx::query("UPDATE users SET status = 'disabled' WHERE email = $1")
        .bind(EMILY)
        .execute(&t.pool)
        .await
        .unwrap();
    for (method, path, body) in &endpoints {
        expect_error(
            call(&t, method.clone(), path, Some(&token), body.clone()).await,
            StatusCode::FORBIDDEN,
            codes::ACCOUNT_DISABLED,
        )
        .await;
    }
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM totp_factors")
        .fetch_one(&t.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0, "nothing was enrolled");
    t.stop().await;
}

async fn wrong_app_codes_count_and_close_the_attempt(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let (_, secret) = enrolled(&t, MARCUS).await;
    t.advance(Duration::from_secs(60));
    let challenge = t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
    let base = t.cloud.base_url();
    let wrong = crate::support::wrong_code(&code_at(&secret, t.now()));
    for left in (1..=4).rev() {
        let error = expect_error(
            verify_with(&t, &base, &challenge, "totp", &wrong).await,
            StatusCode::BAD_REQUEST,
            codes::INVALID_CODE,
        )
        .await;
        assert_eq!(error.attempts_left, Some(left));
    }
    expect_error(
        verify_with(&t, &base, &challenge, "totp", &wrong).await,
        StatusCode::UNAUTHORIZED,
        codes::CHALLENGE_CLOSED,
    )
    .await;
    let (_, code_failures, consecutive) = t.counters(MARCUS).await;
    assert_eq!((code_failures, consecutive), (5, 5));
    let kinds = t.audit_kinds(&t.user_id(MARCUS).await).await;
    assert_eq!(kinds.iter().filter(|k| *k == "code_failed").count(), 5);
    t.stop().await;
}

async fn a_user_with_an_app_and_no_phone_gets_no_text(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let (_, secret) = enrolled(&t, TOM).await;
    t.advance(Duration::from_secs(60));
    let challenge = t.login_for_code(TOM, &t.password_of(TOM)).await;
    assert_eq!(
        challenge.methods,
        vec![SecondFactorMethod::Totp, SecondFactorMethod::Recovery]
    );
    assert!(!challenge.code_sent && challenge.phone_hint.is_none());
    let base = t.cloud.base_url();
    expect_error(
        verify_with(&t, &base, &challenge, "sms", "123456").await,
        StatusCode::BAD_REQUEST,
        codes::VALIDATION,
    )
    .await;
    expect_signed_in(verify_with(&t, &base, &challenge, "totp", &code_at(&secret, t.now())).await)
        .await;
    t.stop().await;
}

async fn a_user_with_an_app_is_texted_only_on_request(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let (_, secret) = enrolled(&t, MARCUS).await;
    let texts_before = t.outbox_count(MARCUS_PHONE).await;
    t.advance(Duration::from_secs(60));
    let challenge = t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
    assert_eq!(
        challenge.methods,
        vec![
            SecondFactorMethod::Sms,
            SecondFactorMethod::Totp,
            SecondFactorMethod::Recovery
        ]
    );
    assert!(
        !challenge.code_sent,
        "a user with an app is not texted unasked: each text costs the dealer and SMS is the weaker factor"
    );
    assert_eq!(t.outbox_count(MARCUS_PHONE).await, texts_before);
    let base = t.cloud.base_url();
    expect_error(
        verify_with(&t, &base, &challenge, "sms", "123456").await,
        StatusCode::BAD_REQUEST,
        codes::VALIDATION,
    )
    .await;

    // Asking for a text sends one at once (no cooldown to wait out).
    let response = t
        .post(
            "/api/v1/login/resend",
            serde_json::json!({"challenge_id": challenge.challenge_id}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let resent: Challenge = response.json().await.unwrap();
    assert!(resent.code_sent);
    assert_eq!(t.outbox_count(MARCUS_PHONE).await, texts_before + 1);
    // Either method still finishes the attempt.
    expect_signed_in(verify_with(&t, &base, &challenge, "totp", &code_at(&secret, t.now())).await)
        .await;
    t.stop().await;
}

async fn a_changed_totp_key_is_a_clear_uncounted_refusal(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let (_, secret) = enrolled(&t, MARCUS).await;
    t.advance(Duration::from_secs(60));
    let rekeyed = t
        .second_instance_with(|config| {
            config.totp_key = Some(secureclose_cloud::sealing::SealingKey::from_bytes([7; 32]))
        })
        .await;
    let challenge = t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
    let (_, failures_before, _) = t.counters(MARCUS).await;
    let response = verify_with(
        &t,
        &rekeyed.base_url(),
        &challenge,
        "totp",
        &code_at(&secret, t.now()),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let error: secureclose_protocol::ApiError = response.json().await.unwrap();
    assert_eq!(error.code, codes::TOTP_UNREADABLE);
    assert!(
        error.message.contains("text message"),
        "the user is told what still works: {}",
        error.message
    );
    let (_, failures_after, _) = t.counters(MARCUS).await;
    assert_eq!(
        failures_after, failures_before,
        "an operator's key change is not the user's wrong code"
    );
    // The attempt is still open: a texted code finishes it.
    let response = t
        .post_to(
            &rekeyed.base_url(),
            "/api/v1/login/resend",
            serde_json::json!({"challenge_id": challenge.challenge_id}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let texted = t.latest_code(MARCUS_PHONE).await;
    expect_signed_in(verify_with(&t, &rekeyed.base_url(), &challenge, "sms", &texted).await).await;
    rekeyed.shutdown().await;
    t.stop().await;
}

/// Company 2FA on, and `email` (no phone) signs in: the enrolment attempt,
/// and the admin's session (signed in before 2FA applied to them).
async fn enrolment_attempt(t: &TestCloud, email: &str) -> (Challenge, String) {
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
        t.login_response(email, &t.password_of(email)).await
    else {
        panic!("{email} has no factor: company 2FA must make them enrol one");
    };
    (challenge, admin)
}

async fn enroll_app_at_sign_in(t: &TestCloud, base: &str, challenge: &Challenge) -> Response {
    t.post_to(
        base,
        "/api/v1/login/enroll-totp",
        serde_json::json!({"challenge_id": challenge.challenge_id}),
    )
    .await
}

async fn an_app_enrolled_at_sign_in_finishes_it_and_is_the_factor_from_then_on(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let base = t.cloud.base_url();
    let (challenge, _) = enrolment_attempt(&t, TOM).await;
    assert_eq!(
        challenge.methods,
        vec![SecondFactorMethod::Sms, SecondFactorMethod::Totp],
        "an enrolment can be finished by a phone or by a new app"
    );
    // No app set up in this attempt yet: refused, not counted.
    expect_error(
        verify_with(&t, &base, &challenge, "totp", "123456").await,
        StatusCode::BAD_REQUEST,
        codes::VALIDATION,
    )
    .await;
    assert_eq!(t.counters(TOM).await.1, 0);

    let response = enroll_app_at_sign_in(&t, &base, &challenge).await;
    assert_eq!(response.status(), StatusCode::OK);
    let enrollment: TotpEnrollment = response.json().await.unwrap();
    let tom_id = t.user_id(TOM).await;
    let wrong = if code_at(&enrollment.secret, t.now()) == "000000" {
        "111111"
    } else {
        "000000"
    };
    let error = expect_error(
        verify_with(&t, &base, &challenge, "totp", wrong).await,
        StatusCode::BAD_REQUEST,
        codes::INVALID_CODE,
    )
    .await;
    assert_eq!(error.attempts_left, Some(challenge.attempts_left - 1));
    assert_eq!(
        t.counters(TOM).await.1,
        1,
        "a wrong first code is a counted failure"
    );
    assert!(
        !t.audit_kinds(&tom_id)
            .await
            .contains(&"totp_enabled".to_string()),
        "nothing is turned on by a wrong code"
    );

    let code = code_at(&enrollment.secret, t.now());
    expect_signed_in(verify_with(&t, &base, &challenge, "totp", &code).await).await;
    // The attempt is used: a later code of the app does not sign in with it again.
    t.advance(Duration::from_secs(30));
    expect_error(
        verify_with(
            &t,
            &base,
            &challenge,
            "totp",
            &code_at(&enrollment.secret, t.now()),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        codes::CHALLENGE_CLOSED,
    )
    .await;
    let kinds = t.audit_kinds(&tom_id).await;
    assert!(kinds.contains(&"totp_enabled".to_string()), "{kinds:?}");
    let phone: Option<String> = sqlx::query_scalar("SELECT mobile_phone FROM users WHERE id = $1")
        .bind(&tom_id)
        .fetch_one(&t.pool)
        .await
        .unwrap();
    assert_eq!(phone, None, "no phone was needed or saved");

    // The next sign-in asks for the app (no enrolment, nothing texted), and
    // the enrolling code's step is used up.
    let next = t.login_for_code(TOM, &t.password_of(TOM)).await;
    assert_eq!(
        next.methods,
        vec![SecondFactorMethod::Totp, SecondFactorMethod::Recovery],
        "the app, and the recovery codes the enrolment brought"
    );
    assert!(!next.code_sent);
    expect_error(
        verify_with(&t, &base, &next, "totp", &code).await,
        StatusCode::BAD_REQUEST,
        codes::INVALID_CODE,
    )
    .await;
    t.advance(Duration::from_secs(30));
    expect_signed_in(
        verify_with(
            &t,
            &base,
            &next,
            "totp",
            &code_at(&enrollment.secret, t.now()),
        )
        .await,
    )
    .await;
    t.stop().await;
}

async fn an_app_enrolment_at_sign_in_holds_only_for_that_attempt_and_profile(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let base = t.cloud.base_url();
    // Not an enrolment: Marcus's attempt is finished by his phone's code.
    t.enable_two_factor(MARCUS).await;
    let marcus = t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
    expect_error(
        enroll_app_at_sign_in(&t, &base, &marcus).await,
        StatusCode::BAD_REQUEST,
        codes::VALIDATION,
    )
    .await;
    // An unknown attempt.
    let bogus = Challenge {
        challenge_id: "not-an-attempt".into(),
        ..marcus.clone()
    };
    expect_error(
        enroll_app_at_sign_in(&t, &base, &bogus).await,
        StatusCode::UNAUTHORIZED,
        codes::CHALLENGE_CLOSED,
    )
    .await;

    // Another user's pending setup does not finish Tom's attempt.
    let emily_token = t.login_ok(EMILY, &t.password_of(EMILY)).await;
    let emily_setup = begin(&t, &emily_token).await;
    let (tom, admin) = enrolment_attempt(&t, TOM).await;
    expect_error(
        verify_with(
            &t,
            &base,
            &tom,
            "totp",
            &code_at(&emily_setup.secret, t.now()),
        )
        .await,
        StatusCode::BAD_REQUEST,
        codes::VALIDATION,
    )
    .await;

    // The profile changed after the app was shown (an admin added a phone):
    // the attempt is over, the app is not turned on.
    let response = enroll_app_at_sign_in(&t, &base, &tom).await;
    let enrollment: TotpEnrollment = response.json().await.unwrap();
    let tom_id = t.user_id(TOM).await;
    let response = t
        .patch(
            &format!("/api/v1/users/{tom_id}"),
            &admin,
            serde_json::json!({"mobile_phone": "(480) 555-0166"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    expect_error(
        verify_with(
            &t,
            &base,
            &tom,
            "totp",
            &code_at(&enrollment.secret, t.now()),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        codes::CHALLENGE_CLOSED,
    )
    .await;
    let tom_token_after = t.login_response(TOM, &t.password_of(TOM)).await;
    assert!(
        matches!(tom_token_after, LoginResponse::SecondFactorRequired { ref challenge } if challenge.methods == vec![SecondFactorMethod::Sms]),
        "the app was never turned on: {tom_token_after:?}"
    );
    t.stop().await;
}

#[tokio::test]
async fn production_refuses_to_start_without_a_totp_key() {
    let db = crate::support::TestDb::new(Backend::Sqlite).await;
    let mut config = secureclose_cloud::CloudConfig::new(&db.url, "127.0.0.1:0".parse().unwrap());
    config.sms = Some(secureclose_cloud::sms::SmsConfig::Twilio(
        secureclose_cloud::sms::TwilioConfig {
            account_sid: "AC1".into(),
            auth_token: "t".into(),
            from: "+15005550006".into(),
            base_url: "http://127.0.0.1:9".into(),
        },
    ));
    match secureclose_cloud::start(config).await {
        Err(secureclose_cloud::CloudError::Config(message)) => {
            assert!(message.contains("SECURECLOSE_TOTP_KEY"), "{message}")
        }
        Err(other) => panic!("expected a configuration error, got {other}"),
        Ok(_) => panic!("a production cloud must not start without a TOTP key"),
    }
}

async fn signed_in_grant(response: Response) -> secureclose_protocol::SessionGrant {
    assert_eq!(response.status(), StatusCode::OK, "the code signs in");
    match response.json().await.unwrap() {
        LoginResponse::SignedIn { session, .. } => session,
        other => panic!("signed in expected: {other:?}"),
    }
}

async fn the_apps_secret_reaches_a_desktop_only_after_a_factor_where_offline_is_allowed(
    backend: Backend,
) {
    let t = TestCloud::start(backend).await;
    let (_, secret) = enrolled(&t, MARCUS).await;
    let password = t.password_of(MARCUS);
    let base = t.cloud.base_url();

    // After a texted code: the secret and the last step, for offline codes.
    t.advance(Duration::from_secs(60));
    let challenge = t.login_for_code(MARCUS, &password).await;
    assert_eq!(t.resend(&challenge).await.status(), StatusCode::OK);
    let code = t.latest_code(MARCUS_PHONE).await;
    let grant = signed_in_grant(verify_with(&t, &base, &challenge, "sms", &code).await).await;
    let app = grant
        .offline_app
        .expect("an app, offline allowed: its secret goes along");
    assert_eq!(app.secret, secret);
    assert!(
        app.last_step.is_some(),
        "the confirming code's step is used"
    );

    // A password alone (no 2FA) never gets it.
    let lucia = t.login(LUCIA, &t.password_of(LUCIA)).await;
    let LoginResponse::SignedIn { session, .. } = lucia.json().await.unwrap() else {
        panic!("Lucia has no 2FA");
    };
    assert_eq!(session.offline_app, None);

    // Where the company does not allow offline sign-in, nobody gets it.
    let admin = t.admin_token().await;
    let response = t
        .patch(
            "/api/v1/company",
            &admin,
            serde_json::json!({"offline_policy": {"allowed": false, "max_hours": 72}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    t.advance(Duration::from_secs(60));
    let challenge = t.login_for_code(MARCUS, &password).await;
    let code = code_at(&secret, t.now());
    let grant = signed_in_grant(verify_with(&t, &base, &challenge, "totp", &code).await).await;
    assert_eq!(
        grant.offline_app, None,
        "offline sign-in is off: the secret stays"
    );
    t.stop().await;
}
