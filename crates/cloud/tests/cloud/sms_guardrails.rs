//! SMS guardrails against SMS pumping and toll fraud: texts go only to the
//! company's allowed countries (United States and Canada unless the operator
//! says otherwise), each company sends at most its daily cap per UTC day,
//! the per-user and per-number budget holds across resends, sign-in attempts
//! and users sharing a number, a resend never buys more wrong codes, and all
//! of it holds for two instances racing on one database. Every text goes
//! through the same guard: sign-in codes, enrolment codes, resends and an
//! admin's setup-code texts.

use std::time::Duration;

use reqwest::{Response, StatusCode};
use secureclose_cloud::db::sms_days;
use secureclose_cloud::service::sms_guard;
use secureclose_protocol::{codes, ApiError, Challenge, LoginResponse, SetupCodeGrant};

use crate::support::*;

const UK_PHONE: &str = "+442079460958";
const JAMAICA_PHONE: &str = "+18765550134";

on_both_backends!(
    a_number_outside_the_allowed_countries_gets_no_text,
    the_daily_cap_stops_every_kind_of_text_until_midnight_utc,
    the_number_budget_holds_across_resends_attempts_and_users,
    a_resend_never_resets_the_failure_count,
    two_instances_racing_never_exceed_the_daily_cap,
    the_operator_sets_the_guardrails_from_the_command_line,
    a_number_the_company_cannot_text_is_refused_when_saved,
    a_number_gets_at_most_its_daily_texts_however_they_are_spaced,
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

/// `(sms_countries, sms_daily_cap)` of Desert Sun Motors.
async fn policy(t: &TestCloud) -> (String, i64) {
    let row: (String, i64) =
        sqlx::query_as("SELECT sms_countries, sms_daily_cap FROM companies WHERE id = $1")
            .bind(&t.seed.company_id)
            .fetch_one(&t.pool)
            .await
            .unwrap();
    row
}

async fn set_cap(t: &TestCloud, cap: i64) {
    sqlx::query("UPDATE companies SET sms_daily_cap = $1 WHERE id = $2")
        .bind(cap)
        .bind(&t.seed.company_id)
        .execute(&t.pool)
        .await
        .unwrap();
}

/// Gives `email` this phone, verified, with 2FA on.
async fn give_phone(t: &TestCloud, email: &str, phone: &str) {
    sqlx::query(
        "UPDATE users SET mobile_phone = $1, phone_verified_at = $2, two_factor_enabled = 1 \
         WHERE email = $3",
    )
    .bind(phone)
    .bind(t.now())
    .bind(email)
    .execute(&t.pool)
    .await
    .unwrap();
}

async fn texts_today(t: &TestCloud) -> i64 {
    let db = secureclose_cloud::db::connect(&t.db.url, 1).await.unwrap();
    let count = sms_days::count(&db, &t.seed.company_id, sms_days::day_of(t.now()))
        .await
        .unwrap();
    db.pool.close().await;
    count
}

async fn all_texts(t: &TestCloud) -> usize {
    secureclose_cloud::outbox(&t.db.url, None)
        .await
        .unwrap()
        .len()
}

/// Audit details of the guard's refusals about `email`.
async fn refusals(t: &TestCloud, email: &str) -> Vec<String> {
    let id = t.user_id(email).await;
    secureclose_cloud::db::audit::all(&t.pool)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "sms_refused" && e.subject_user_id.as_deref() == Some(id.as_str()))
        .map(|e| e.detail)
        .collect()
}

async fn a_number_outside_the_allowed_countries_gets_no_text(backend: Backend) {
    let t = TestCloud::start(backend).await;
    assert_eq!(
        policy(&t).await,
        (
            sms_guard::DEFAULT_COUNTRIES.join(","),
            sms_guard::DEFAULT_DAILY_CAP
        ),
        "a company starts with the United States and Canada"
    );

    // Enrolment: Tom needs 2FA and has no phone; he types a UK number.
    t.enable_two_factor(TOM).await;
    let LoginResponse::PhoneEnrollmentRequired { challenge } =
        t.login_response(TOM, &t.password_of(TOM)).await
    else {
        panic!("Tom has no phone: he enrols one");
    };
    let enrol = |phone: &'static str| {
        t.post(
            "/api/v1/login/enroll-phone",
            serde_json::json!({"challenge_id": challenge.challenge_id, "mobile_phone": phone}),
        )
    };
    for (typed, e164, country) in [
        ("+44 20 7946 0958", UK_PHONE, "GB"),
        // +1 is not enough: Jamaica shares it with the US and Canada.
        ("+1 876 555 0134", JAMAICA_PHONE, "JM"),
    ] {
        let error = expect_error(
            enrol(typed).await,
            StatusCode::BAD_REQUEST,
            codes::SMS_COUNTRY_NOT_ALLOWED,
        )
        .await;
        assert!(
            error.message.contains(country) && error.message.contains("US, CA"),
            "{}",
            error.message
        );
        assert_eq!(t.outbox_count(e164).await, 0, "nothing is sent to {e164}");
    }
    let refused = refusals(&t, TOM).await;
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(refused[0].contains("country GB not allowed"), "{refused:?}");
    // The attempt is still open: a Canadian number works.
    let response = enrol("(416) 555-0134").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(t.outbox_count("+14165550134").await, 1);

    // A sign-in code to a phone on file abroad (an admin typed it): refused.
    give_phone(&t, MARCUS, UK_PHONE).await;
    let response = t.login(MARCUS, &t.password_of(MARCUS)).await;
    expect_error(
        response,
        StatusCode::BAD_REQUEST,
        codes::SMS_COUNTRY_NOT_ALLOWED,
    )
    .await;
    assert_eq!(t.outbox_count(UK_PHONE).await, 0);
    assert_eq!(
        texts_today(&t).await,
        1,
        "a refused text does not count on the daily cap"
    );

    // The operator allows the UK for this company: the same sign-in texts.
    let set = cli(
        &t.db.url,
        &[
            "company",
            "set-sms",
            "--company",
            &t.seed.company_id,
            "--countries",
            "US,CA,GB",
        ],
    )
    .await;
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let challenge = t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
    assert!(challenge.code_sent);
    assert_eq!(t.outbox_count(UK_PHONE).await, 1);
    t.stop().await;
}

async fn add_user_with_phone(t: &TestCloud, admin: &str, phone: &str) -> SetupCodeGrant {
    let response = t
        .http
        .post(t.url("/api/v1/users"))
        .bearer_auth(admin)
        .json(&serde_json::json!({
            "display_name": "Nora Quill",
            "email": "nora.quill@desertsun.example",
            "role": "user",
            "mobile_phone": phone,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

async fn text_setup_code(t: &TestCloud, admin: &str, grant: &SetupCodeGrant) -> Response {
    t.http
        .post(t.url(&format!("/api/v1/users/{}/setup-code/text", grant.user.id)))
        .bearer_auth(admin)
        .json(&serde_json::json!({ "setup_code": grant.setup_code }))
        .send()
        .await
        .unwrap()
}

async fn the_daily_cap_stops_every_kind_of_text_until_midnight_utc(backend: Backend) {
    let t = TestCloud::start(backend).await;
    // Start just after midnight UTC, so the day cannot end mid-test.
    t.clock.set(sms_days::next_day_starts(t.now()) + 60_000);
    let admin = t.admin_token().await;
    let grant = add_user_with_phone(&t, &admin, "(480) 555-0199").await;
    set_cap(&t, 3).await;

    // Three texts: a sign-in code, a resend and a setup code.
    t.enable_two_factor(MARCUS).await;
    let challenge = t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
    t.advance(Duration::from_secs(31));
    assert_eq!(t.resend(&challenge).await.status(), StatusCode::OK);
    assert_eq!(
        text_setup_code(&t, &admin, &grant).await.status(),
        StatusCode::OK
    );
    assert_eq!(texts_today(&t).await, 3);
    let before = all_texts(&t).await;

    // The fourth of the day, whatever kind, is refused with when it resets.
    let midnight = sms_days::next_day_starts(t.now());
    t.advance(Duration::from_secs(31));
    let error = expect_error(
        t.resend(&challenge).await,
        StatusCode::TOO_MANY_REQUESTS,
        codes::SMS_DAILY_CAP,
    )
    .await;
    assert_eq!(error.retry_at, Some(midnight), "it says when it resets");
    assert!(error.message.contains("midnight UTC"), "{}", error.message);
    expect_error(
        text_setup_code(&t, &admin, &grant).await,
        StatusCode::TOO_MANY_REQUESTS,
        codes::SMS_DAILY_CAP,
    )
    .await;
    t.enable_two_factor(LUCIA).await;
    expect_error(
        t.login(LUCIA, &t.password_of(LUCIA)).await,
        StatusCode::TOO_MANY_REQUESTS,
        codes::SMS_DAILY_CAP,
    )
    .await;
    assert_eq!(all_texts(&t).await, before, "nothing more was sent");
    assert_eq!(texts_today(&t).await, 3, "the cap is never passed");
    let refused = refusals(&t, MARCUS).await;
    assert!(
        refused.iter().any(|d| d.contains("daily cap of 3")),
        "{refused:?}"
    );
    // The earlier code still works: a refused resend leaves it alone.
    let code = t.latest_code(MARCUS_PHONE).await;
    let response = t.verify(&challenge, &code).await;
    assert_eq!(response.status(), StatusCode::OK);

    // At midnight UTC the count starts again.
    t.clock.set(midnight);
    let challenge = t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
    assert!(challenge.code_sent);
    assert_eq!(texts_today(&t).await, 1);
    t.stop().await;
}

async fn the_number_budget_holds_across_resends_attempts_and_users(backend: Backend) {
    let t = TestCloud::start(backend).await;
    // Lucia and Marcus share one phone (the desk's mobile).
    t.enable_two_factor(MARCUS).await;
    give_phone(&t, LUCIA, MARCUS_PHONE).await;
    let first = t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
    for _ in 0..2 {
        t.advance(Duration::from_secs(31));
        assert_eq!(t.resend(&first).await.status(), StatusCode::OK);
    }
    // A new attempt does not start a new budget.
    t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
    // Neither does another user on the same number: the fifth text is hers...
    t.login_for_code(LUCIA, &t.password_of(LUCIA)).await;
    assert_eq!(t.outbox_count(MARCUS_PHONE).await, 5);
    // ...and the sixth within 10 minutes is refused, for both of them.
    let error = expect_error(
        t.login(LUCIA, &t.password_of(LUCIA)).await,
        StatusCode::TOO_MANY_REQUESTS,
        codes::SMS_LIMIT,
    )
    .await;
    assert!(error.retry_at.is_some());
    t.advance(Duration::from_secs(31));
    expect_error(
        t.resend(&first).await,
        StatusCode::TOO_MANY_REQUESTS,
        codes::SMS_LIMIT,
    )
    .await;
    assert_eq!(t.outbox_count(MARCUS_PHONE).await, 5);
    assert!(!refusals(&t, LUCIA).await.is_empty(), "audited");
    // The window passes: texts flow again.
    t.advance(Duration::from_secs(10 * 60));
    assert_eq!(t.resend(&first).await.status(), StatusCode::OK);
    t.stop().await;
}

async fn a_resend_never_resets_the_failure_count(backend: Backend) {
    // The attacker has the password and guesses codes, asking for a new code
    // whenever the tries run low, hoping each code brings five fresh tries.
    let t = TestCloud::start(backend).await;
    t.enable_two_factor(MARCUS).await;
    let challenge = t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
    let code = t.latest_code(MARCUS_PHONE).await;
    for left in [4, 3, 2] {
        let error = expect_error(
            t.verify(&challenge, &wrong_code(&code)).await,
            StatusCode::BAD_REQUEST,
            codes::INVALID_CODE,
        )
        .await;
        assert_eq!(error.attempts_left, Some(left));
    }
    t.advance(Duration::from_secs(31));
    let response = t.resend(&challenge).await;
    assert_eq!(response.status(), StatusCode::OK);
    let resent: Challenge = response.json().await.unwrap();
    assert_eq!(resent.attempts_left, 2, "the resend keeps the tries left");
    let code = t.latest_code(MARCUS_PHONE).await;
    let error = expect_error(
        t.verify(&challenge, &wrong_code(&code)).await,
        StatusCode::BAD_REQUEST,
        codes::INVALID_CODE,
    )
    .await;
    assert_eq!(error.attempts_left, Some(1));
    expect_error(
        t.verify(&challenge, &wrong_code(&code)).await,
        StatusCode::UNAUTHORIZED,
        codes::CHALLENGE_CLOSED,
    )
    .await;
    expect_error(
        t.verify(&challenge, &code).await,
        StatusCode::UNAUTHORIZED,
        codes::CHALLENGE_CLOSED,
    )
    .await;
    t.advance(Duration::from_secs(31));
    expect_error(
        t.resend(&challenge).await,
        StatusCode::UNAUTHORIZED,
        codes::CHALLENGE_CLOSED,
    )
    .await;
    let (_, code_failures, consecutive) = t.counters(MARCUS).await;
    assert_eq!(
        (code_failures, consecutive),
        (5, 5),
        "every wrong code stays counted on the account"
    );
    t.stop().await;
}

async fn two_instances_racing_never_exceed_the_daily_cap(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let other = t.second_instance().await;
    let bases = [t.cloud.base_url(), other.base_url()];
    // Six users, each with their own number, each with an open attempt.
    let people = [
        MARCUS,
        LUCIA,
        EMILY,
        TOM,
        PRIYA,
        "sofia.alvarez@desertsun.example",
    ];
    let mut challenges = Vec::new();
    for (i, email) in people.iter().enumerate() {
        give_phone(&t, email, &format!("+1480555021{i}")).await;
        challenges.push(t.login_for_code(email, &t.password_of(email)).await);
    }
    let sent = texts_today(&t).await;
    assert_eq!(sent, challenges.len() as i64);
    // Room for three more today; every attempt asks four times at once, on
    // both instances (only one of them can win its cooldown).
    set_cap(&t, sent + 3).await;
    let before = all_texts(&t).await;
    t.advance(Duration::from_secs(31));
    let mut tasks = Vec::new();
    for (i, challenge) in challenges.iter().enumerate() {
        for j in 0..4 {
            let base = bases[(i + j) % 2].clone();
            let body = serde_json::json!({"challenge_id": challenge.challenge_id});
            let http = t.http.clone();
            tasks.push(tokio::spawn(async move {
                let response = http
                    .post(format!("{base}/api/v1/login/resend"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                if response.status() == StatusCode::OK {
                    "ok".to_string()
                } else {
                    response.json::<ApiError>().await.unwrap().code
                }
            }));
        }
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    let ok = answers.iter().filter(|a| *a == "ok").count();
    assert!(
        answers
            .iter()
            .all(|a| ["ok", codes::SMS_DAILY_CAP, codes::RESEND_TOO_SOON].contains(&a.as_str())),
        "{answers:?}"
    );
    assert!(
        (1..=3).contains(&ok),
        "never more than the cap: {answers:?}"
    );
    assert_eq!(all_texts(&t).await - before, ok, "one text per success");
    assert_eq!(
        texts_today(&t).await,
        sent + ok as i64,
        "the count is exact: a lost race gives its text back"
    );
    assert!(texts_today(&t).await <= sent + 3);
    other.shutdown().await;
    t.stop().await;
}

async fn the_operator_sets_the_guardrails_from_the_command_line(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let url = t.db.url.clone();
    let company = t.seed.company_id.clone();
    let before = policy(&t).await;
    for (args, says) in [
        (vec!["--countries", "USA"], "--countries"),
        (vec!["--countries", "US,,CA"], "--countries"),
        (vec!["--countries", ""], "--countries"),
        (vec!["--countries", "US", "--daily-cap", "0"], "--daily-cap"),
        (vec!["--daily-cap", "100001"], "--daily-cap"),
        (vec!["--daily-cap", "ten"], "daily-cap"),
        (vec![], "--countries, --daily-cap or both"),
    ] {
        let mut all = vec!["company", "set-sms", "--company", company.as_str()];
        all.extend(args.iter().copied());
        let output = cli(&url, &all).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} must be refused");
        assert!(stderr.contains(says), "{says} not in {stderr}");
    }
    let unknown = cli(
        &url,
        &[
            "company",
            "set-sms",
            "--company",
            "nope",
            "--daily-cap",
            "5",
        ],
    )
    .await;
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no company"));
    assert_eq!(policy(&t).await, before, "refused input changes nothing");

    let set = cli(
        &url,
        &[
            "company",
            "set-sms",
            "--company",
            &company,
            "--countries",
            "us, mx",
            "--daily-cap",
            "50",
        ],
    )
    .await;
    let stdout = String::from_utf8_lossy(&set.stdout);
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    assert!(
        stdout.contains("US,MX") && stdout.contains("50"),
        "{stdout}"
    );
    assert_eq!(policy(&t).await, ("US,MX".to_string(), 50));
    // Only what is given changes.
    let set = cli(
        &url,
        &[
            "company",
            "set-sms",
            "--company",
            &company,
            "--daily-cap",
            "75",
        ],
    )
    .await;
    assert!(set.status.success());
    assert_eq!(policy(&t).await, ("US,MX".to_string(), 75));
    let listed = cli(&url, &["company", "list"]).await;
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    let line = listed
        .lines()
        .find(|l| l.starts_with(company.as_str()))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(line.ends_with("texts to US,MX, 75/day"), "{line}");
    assert!(
        listed.contains("texts to US,CA, 200/day"),
        "the others keep the defaults: {listed}"
    );
    let events = secureclose_cloud::db::audit::all(&t.pool).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "company_updated"
        && e.company_id.as_deref() == Some(company.as_str())
        && e.detail.contains("countries US,MX, daily cap 50")));
    t.stop().await;
}

async fn a_number_the_company_cannot_text_is_refused_when_saved(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let admin = t.admin_token().await;
    let tom_id = t.user_id(TOM).await;
    let stored_phone = |id: String| {
        let pool = t.pool.clone();
        async move {
            sqlx::query_scalar::<_, Option<String>>("SELECT mobile_phone FROM users WHERE id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    // An admin's edit: refused with the rule's words, nothing saved.
    let response = t
        .patch(
            &format!("/api/v1/users/{tom_id}"),
            &admin,
            serde_json::json!({"mobile_phone": "+44 20 7946 0958", "display_name": "Tom B."}),
        )
        .await;
    let error = expect_error(
        response,
        StatusCode::BAD_REQUEST,
        codes::SMS_COUNTRY_NOT_ALLOWED,
    )
    .await;
    assert!(error.message.contains("GB"), "{}", error.message);
    assert_eq!(stored_phone(tom_id.clone()).await, None);
    let name: String = sqlx::query_scalar("SELECT display_name FROM users WHERE id = $1")
        .bind(&tom_id)
        .fetch_one(&t.pool)
        .await
        .unwrap();
    assert_ne!(name, "Tom B.", "a refused edit changes nothing");

    // A new user with such a number: not created.
    let response = t
        .http
        .post(t.url("/api/v1/users"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({
            "display_name": "Ana Ruiz",
            "email": "ana.ruiz@desertsun.example",
            "role": "user",
            "mobile_phone": "+1 876 555 0134",
        }))
        .send()
        .await
        .unwrap();
    expect_error(
        response,
        StatusCode::BAD_REQUEST,
        codes::SMS_COUNTRY_NOT_ALLOWED,
    )
    .await;
    let created: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE email = $1")
        .bind("ana.ruiz@desertsun.example")
        .fetch_one(&t.pool)
        .await
        .unwrap();
    assert_eq!(created, 0);

    // Once the operator allows the country, the same number is saved.
    sqlx::query("UPDATE companies SET sms_countries = 'US,CA,GB' WHERE id = $1")
        .bind(&t.seed.company_id)
        .execute(&t.pool)
        .await
        .unwrap();
    let response = t
        .patch(
            &format!("/api/v1/users/{tom_id}"),
            &admin,
            serde_json::json!({"mobile_phone": "+44 20 7946 0958"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(stored_phone(tom_id).await.as_deref(), Some(UK_PHONE));
    t.stop().await;
}

async fn a_number_gets_at_most_its_daily_texts_however_they_are_spaced(backend: Backend) {
    use secureclose_cloud::db::challenges::{SMS_DAY, SMS_PER_DAY_PER_NUMBER};
    let t = TestCloud::start(backend).await;
    t.enable_two_factor(MARCUS).await;
    let first_at = t.now() + 3 * 60_000;
    // Spaced three minutes apart: always under the 10-minute budget.
    for _ in 0..SMS_PER_DAY_PER_NUMBER {
        t.advance(Duration::from_secs(3 * 60));
        t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
    }
    assert_eq!(
        t.outbox_count(MARCUS_PHONE).await,
        usize::try_from(SMS_PER_DAY_PER_NUMBER).unwrap()
    );
    t.advance(Duration::from_secs(3 * 60));
    let error = expect_error(
        t.login(MARCUS, &t.password_of(MARCUS)).await,
        StatusCode::TOO_MANY_REQUESTS,
        codes::SMS_LIMIT,
    )
    .await;
    let day_ms = i64::try_from(SMS_DAY.as_millis()).unwrap();
    assert_eq!(
        error.retry_at,
        Some(first_at + day_ms),
        "texts flow again a day after the oldest one"
    );
    assert_eq!(
        t.outbox_count(MARCUS_PHONE).await,
        usize::try_from(SMS_PER_DAY_PER_NUMBER).unwrap()
    );
    t.advance(Duration::from_millis(
        u64::try_from(first_at + day_ms - t.now() + 1).unwrap(),
    ));
    t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
    // Sends older than a day count for nothing and leave the table.
    t.advance(2 * SMS_DAY);
    t.login_for_code(MARCUS, &t.password_of(MARCUS)).await;
    let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sms_sends")
        .fetch_one(&t.pool)
        .await
        .unwrap();
    assert_eq!(kept, 1, "only today's text is kept");
    t.stop().await;
}
