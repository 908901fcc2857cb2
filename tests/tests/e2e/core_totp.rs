//! The authenticator app through the real core against the real cloud (dev
//! mode, on a clock the test moves): the signed-in user adds an app from the
//! secret the core hands the UI, then signs in with its code; the same code
//! again is refused; removing it leaves the texted code only. Codes are
//! computed here with totp-rs, as the person's app would.

use std::sync::Arc;
use std::time::Duration;

use secureclose_cloud::clock::{Clock as _, ManualClock};
use secureclose_core::views::LoginOutcome;
use secureclose_protocol::{codes, ApiError, SecondFactorMethod};
use totp_rs::{Algorithm, Secret};

use crate::support::{open_core, reauth_by_text, MemoryKeyStore, TestCloud};

/// A demo user with a verified phone and 2FA off.
const EMILY: &str = "emily.chen@desertsun.example";
const EMILY_PHONE: &str = "+14805550162";

pub(crate) fn code_at(secret: &str, at_ms: i64) -> String {
    totp_rs::Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(Secret::try_from_base32(secret).expect("the secret is base32"))
        .build()
        .expect("RFC parameters")
        .generate(u64::try_from(at_ms / 1000).unwrap())
        .to_string()
}

pub(crate) async fn turn_on_two_factor(cloud: &TestCloud, email: &str) {
    let db = secureclose_cloud::db::connect(&cloud.database_url, 1)
        .await
        .unwrap();
    let done = sqlx::query("UPDATE users SET two_factor_enabled = 1 WHERE email = $1")
        .bind(email)
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1);
    db.pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_added_authenticator_app_signs_in_once_per_code() {
    let clock = Arc::new(ManualClock::new());
    let cloud = TestCloud::start_dev_with_clock(clock.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let core = open_core(
        dir.path(),
        cloud.base_url(),
        Arc::new(MemoryKeyStore::default()),
    )
    .await;
    let password = cloud.password_of(EMILY).to_owned();
    let outcome = core.login(EMILY, &password).await.unwrap();
    assert!(
        matches!(outcome, LoginOutcome::SignedIn { .. }),
        "{outcome:?}"
    );
    assert!(!core.totp_status().await.unwrap().enabled);

    // Adding a factor needs a fresh proof: the password and a texted code.
    reauth_by_text(&core, &cloud, &password, EMILY_PHONE).await;
    let enrollment = core.begin_totp().await.unwrap();
    assert!(enrollment.otpauth_uri.contains(&enrollment.secret));
    let first = code_at(&enrollment.secret, clock.now_ms());
    let status = core
        .confirm_totp(&enrollment.enrollment_id, &first)
        .await
        .expect("the app's first code confirms it");
    assert!(status.enabled);
    assert!(
        core.session().await.unwrap().is_some(),
        "adding a factor keeps the session it was added from"
    );
    turn_on_two_factor(&cloud, EMILY).await;
    core.logout().await.unwrap();

    clock.advance(Duration::from_secs(60));
    let outcome = core.login(EMILY, &password).await.unwrap();
    let LoginOutcome::NeedsSecondFactor { challenge } = outcome else {
        panic!("2FA is on: a code is asked for, got {outcome:?}");
    };
    assert_eq!(
        challenge.methods,
        vec![
            SecondFactorMethod::Sms,
            SecondFactorMethod::Totp,
            SecondFactorMethod::Recovery
        ]
    );
    let code = code_at(&enrollment.secret, clock.now_ms());
    let outcome = core
        .verify_code(SecondFactorMethod::Totp, &code)
        .await
        .expect("the app's code signs in");
    let LoginOutcome::SignedIn { session, .. } = outcome else {
        panic!("a right code signs in: {outcome:?}");
    };
    assert_eq!(session.user.email, EMILY);
    core.logout().await.unwrap();

    // The same code, still within its window: refused as a replay.
    let outcome = core.login(EMILY, &password).await.unwrap();
    assert!(matches!(outcome, LoginOutcome::NeedsSecondFactor { .. }));
    let err = ApiError::from(
        &core
            .verify_code(SecondFactorMethod::Totp, &code)
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, codes::INVALID_CODE, "{err:?}");
    assert!(core.session().await.unwrap().is_none());

    // The next step's code works, and after removal only the text is offered.
    clock.advance(Duration::from_secs(30));
    let next = code_at(&enrollment.secret, clock.now_ms());
    let outcome = core
        .verify_code(SecondFactorMethod::Totp, &next)
        .await
        .unwrap();
    assert!(matches!(outcome, LoginOutcome::SignedIn { .. }));
    // A new session: removing the factor needs its own proof.
    let err = core.remove_totp().await.unwrap_err();
    assert_eq!(ApiError::from(&err).code, codes::REAUTH_REQUIRED, "{err:?}");
    reauth_by_text(&core, &cloud, &password, EMILY_PHONE).await;
    core.remove_totp().await.unwrap();
    assert!(!core.totp_status().await.unwrap().enabled);
    core.logout().await.unwrap();
    let outcome = core.login(EMILY, &password).await.unwrap();
    let LoginOutcome::NeedsSecondFactor { challenge } = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(
        challenge.methods,
        vec![SecondFactorMethod::Sms, SecondFactorMethod::Recovery],
        "the app is gone; the text and the recovery codes remain"
    );
    let err = core
        .verify_code(SecondFactorMethod::Totp, &next)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "method_not_offered", "refused before the cloud");
}

/// A demo user with no phone.
const TOM: &str = "tom.becker@desertsun.example";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_a_phone_enrols_an_app_at_sign_in() {
    let clock = Arc::new(ManualClock::new());
    let cloud = TestCloud::start_dev_with_clock(clock.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let core = open_core(
        dir.path(),
        cloud.base_url(),
        Arc::new(MemoryKeyStore::default()),
    )
    .await;
    turn_on_two_factor(&cloud, TOM).await;
    let password = cloud.password_of(TOM).to_owned();
    let outcome = core.login(TOM, &password).await.unwrap();
    let LoginOutcome::NeedsPhoneEnrollment { challenge } = outcome else {
        panic!("2FA applies and Tom has no factor: an enrolment, got {outcome:?}");
    };
    assert!(challenge.methods.contains(&SecondFactorMethod::Totp));

    let enrollment = core.enroll_totp().await.expect("the app's secret");
    let code = code_at(&enrollment.secret, clock.now_ms());
    let outcome = core
        .verify_code(SecondFactorMethod::Totp, &code)
        .await
        .expect("the new app's first code signs in");
    let LoginOutcome::SignedIn { session, .. } = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(session.user.email, TOM);
    assert_eq!(session.user.mobile_phone, None, "no phone was needed");
    assert!(core.totp_status().await.unwrap().enabled);
    core.logout().await.unwrap();

    // From now on the app is Tom's factor: asked for, nothing to enrol.
    clock.advance(Duration::from_secs(30));
    let outcome = core.login(TOM, &password).await.unwrap();
    let LoginOutcome::NeedsSecondFactor { challenge } = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(
        challenge.methods,
        vec![SecondFactorMethod::Totp, SecondFactorMethod::Recovery],
        "the app, and the recovery codes its enrolment brought"
    );
    let err = core.enroll_totp().await.unwrap_err();
    assert_eq!(
        err.code(),
        "no_pending_login",
        "only an enrolment can set up an app at sign-in"
    );
}
