//! Two-factor sign-in through the real core against the real cloud (dev
//! mode: codes are read from the SMS outbox), following the help-center
//! article: an admin turns 2FA on, the user signs in with the texted code;
//! company-wide 2FA makes a user without a phone enrol one.

use std::sync::Arc;

use secureclose_core::views::LoginOutcome;
use secureclose_core::AppCore;
use secureclose_protocol::{
    codes, ApiError, Challenge, CompanyUpdate, SecondFactorMethod, UserUpdate,
};

use crate::core_sync::wait_for_first_sync;
use crate::support::{open_core, MemoryKeyStore, TestCloud};

/// Demo user of the admin's company with a verified phone.
const WITH_PHONE: &str = "emily.chen@desertsun.example";
const WITH_PHONE_E164: &str = "+14805550162";
/// Demo user of the admin's company with no phone.
const WITHOUT_PHONE: &str = "tom.becker@desertsun.example";

async fn admin(cloud: &TestCloud, dir: &std::path::Path) -> AppCore {
    let core = open_core(dir, cloud.base_url(), Arc::new(MemoryKeyStore::default())).await;
    let outcome = core
        .login(&cloud.seed.admin_email, &cloud.seed.admin_password)
        .await
        .unwrap();
    assert!(
        matches!(outcome, LoginOutcome::SignedIn { .. }),
        "the admin has no second factor here: {outcome:?}"
    );
    wait_for_first_sync(&core).await;
    core
}

fn challenge_of(outcome: LoginOutcome, expected_state: &str) -> Challenge {
    let state = serde_json::to_value(&outcome).unwrap()["state"].clone();
    assert_eq!(state, expected_state, "{outcome:?}");
    match outcome {
        LoginOutcome::NeedsSecondFactor { challenge }
        | LoginOutcome::NeedsPhoneEnrollment { challenge } => challenge,
        LoginOutcome::SignedIn { .. } | LoginOutcome::NeedsCompanyChoice { .. } => {
            unreachable!("checked above")
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_with_2fa_on_signs_in_only_with_the_texted_code() {
    let cloud = TestCloud::start_dev().await;
    let admin_dir = tempfile::tempdir().unwrap();
    let admin = admin(&cloud, admin_dir.path()).await;
    let emily = admin.list_users("emily", 0, 1).await.unwrap().users[0].clone();

    // Login Info tab: the admin turns 2FA on for Emily, Update.
    let updated = admin
        .update_user(
            &emily.id,
            &UserUpdate {
                two_factor_enabled: Some(true),
                ..UserUpdate::default()
            },
        )
        .await
        .expect("Emily has a verified phone: 2FA can be turned on");
    assert!(updated.two_factor_enabled && updated.version > emily.version);
    assert_eq!(
        admin.list_users("emily", 0, 1).await.unwrap().users[0],
        updated,
        "the admin's cache holds exactly the cloud's answer"
    );

    let data = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::default());
    let core = open_core(data.path(), cloud.base_url(), keys.clone()).await;
    let outcome = core
        .login(WITH_PHONE, cloud.password_of(WITH_PHONE))
        .await
        .unwrap();
    let challenge = challenge_of(outcome, "needs_second_factor");
    assert_eq!(
        challenge.challenge_id, "",
        "the UI never receives the attempt's credential"
    );
    assert!(challenge.code_sent);
    assert!(
        challenge
            .phone_hint
            .as_deref()
            .is_some_and(|h| h.ends_with("0162")),
        "the dialog names the phone: {:?}",
        challenge.phone_hint
    );
    assert!(
        core.session().await.unwrap().is_none(),
        "the password alone must not sign in"
    );
    assert!(keys.session_tokens().is_empty(), "no token before the code");

    let code = cloud.last_code(WITH_PHONE_E164).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let err = ApiError::from(
        &core
            .verify_code(SecondFactorMethod::Sms, wrong)
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, codes::INVALID_CODE, "{err:?}");
    assert!(
        err.attempts_left
            .is_some_and(|n| n < challenge.attempts_left),
        "the tries left reach the UI through core: {err:?}"
    );

    let err = ApiError::from(&core.resend_code().await.unwrap_err());
    assert_eq!(err.code, codes::RESEND_TOO_SOON, "{err:?}");
    assert!(
        err.retry_at.is_some(),
        "the countdown needs retry_at: {err:?}"
    );

    let outcome = core
        .verify_code(SecondFactorMethod::Sms, &code)
        .await
        .expect("the texted code");
    let LoginOutcome::SignedIn { session, .. } = outcome else {
        panic!("a right code signs in: {outcome:?}");
    };
    assert_eq!(session.user.email, WITH_PHONE);
    assert_eq!(keys.session_tokens().len(), 1, "token to the keychain");
    wait_for_first_sync(&core).await;
    assert!(
        core.list_users("", 0, 100).await.unwrap().total > 1,
        "a sign-in by code starts the sync that downloads the company"
    );
    let err = core
        .verify_code(SecondFactorMethod::Sms, &code)
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        "no_pending_login",
        "a used code has nothing to complete"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_attempt_cannot_be_completed() {
    let cloud = TestCloud::start_dev().await;
    let admin_dir = tempfile::tempdir().unwrap();
    let admin = admin(&cloud, admin_dir.path()).await;
    admin
        .update_company(&CompanyUpdate {
            two_factor_required: Some(true),
            ..CompanyUpdate::default()
        })
        .await
        .unwrap();

    let data = tempfile::tempdir().unwrap();
    let core = open_core(
        data.path(),
        cloud.base_url(),
        Arc::new(MemoryKeyStore::default()),
    )
    .await;
    let outcome = core
        .login(WITH_PHONE, cloud.password_of(WITH_PHONE))
        .await
        .unwrap();
    challenge_of(outcome, "needs_second_factor");
    let code = cloud.last_code(WITH_PHONE_E164).await;
    core.cancel_login().await.unwrap();
    let err = core
        .verify_code(SecondFactorMethod::Sms, &code)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "no_pending_login", "{err:?}");
    assert!(core.session().await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn company_wide_2fa_enrols_a_phone_then_asks_only_for_the_code() {
    let cloud = TestCloud::start_dev().await;
    let admin_dir = tempfile::tempdir().unwrap();
    let admin = admin(&cloud, admin_dir.path()).await;
    // Company Profile: 2FA on, Save.
    let company = admin
        .update_company(&CompanyUpdate {
            two_factor_required: Some(true),
            ..CompanyUpdate::default()
        })
        .await
        .expect("the demo DMS supports 2FA");
    assert!(company.two_factor_required);
    assert_eq!(
        admin.company().await.unwrap(),
        company,
        "the cache holds the cloud's answer"
    );

    let data = tempfile::tempdir().unwrap();
    let core = open_core(
        data.path(),
        cloud.base_url(),
        Arc::new(MemoryKeyStore::default()),
    )
    .await;
    let password = cloud.password_of(WITHOUT_PHONE).to_owned();
    let challenge = challenge_of(
        core.login(WITHOUT_PHONE, &password).await.unwrap(),
        "needs_phone_enrollment",
    );
    assert!(!challenge.code_sent, "no phone yet, so no code yet");
    let err = core
        .verify_code(SecondFactorMethod::Sms, "123456")
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        "no_pending_login",
        "no code can be verified before a phone is given"
    );

    let err = ApiError::from(&core.enroll_phone("12").await.unwrap_err());
    assert_eq!(err.code, codes::INVALID_PHONE, "{err:?}");
    let sent = core
        .enroll_phone("(480) 555-0199")
        .await
        .expect("a US number");
    assert!(sent.code_sent && sent.challenge_id.is_empty());
    let code = cloud.last_code("+14805550199").await;
    let LoginOutcome::SignedIn { session, .. } = core
        .verify_code(SecondFactorMethod::Sms, &code)
        .await
        .unwrap()
    else {
        panic!("the enrolment code completes the login");
    };
    assert_eq!(session.user.mobile_phone.as_deref(), Some("+14805550199"));
    assert!(
        session.user.phone_verified_at.is_some(),
        "the phone is saved as verified"
    );

    core.logout().await.unwrap();
    let challenge = challenge_of(
        core.login(WITHOUT_PHONE, &password).await.unwrap(),
        "needs_second_factor",
    );
    assert!(
        challenge
            .phone_hint
            .as_deref()
            .is_some_and(|h| h.ends_with("0199")),
        "the next login only asks for the code: {challenge:?}"
    );

    let refreshed = admin.refresh().await.unwrap();
    assert!(refreshed.company.two_factor_required);
    let tom = admin.list_users("tom", 0, 1).await.unwrap().users[0].clone();
    assert_eq!(
        tom.mobile_phone.as_deref(),
        Some("+14805550199"),
        "the admin sees the enrolled phone after a refresh"
    );
}
