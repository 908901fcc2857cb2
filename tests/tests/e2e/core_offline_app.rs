//! Offline sign-in with an authenticator app, through the real core: after
//! an online sign-in with a second factor, the cloud's app secret is kept
//! sealed under the password; offline, the app's code is asked for (not the
//! grace window), a wrong code counts, and a code's time step signs in once.

use std::sync::Arc;

use secureclose_core::views::LoginOutcome;
use secureclose_protocol::{codes, ApiError, SecondFactorMethod};

use crate::core_totp::{code_at, turn_on_two_factor};
use crate::support::{open_core, reauth_by_text, MemoryKeyStore, TestCloud};

const EMILY: &str = "emily.chen@desertsun.example";
const EMILY_PHONE: &str = "+14805550162";

fn real_now_ms() -> i64 {
    secureclose_core::cache::now_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_the_apps_code_signs_in_once_and_wrong_codes_count() {
    let mut cloud = TestCloud::start_dev().await;
    let dir = tempfile::tempdir().unwrap();
    let core = open_core(
        dir.path(),
        cloud.base_url(),
        Arc::new(MemoryKeyStore::default()),
    )
    .await;
    let password = cloud.password_of(EMILY).to_owned();

    // Online: Emily adds an app, 2FA is on, and she signs in with a texted code.
    assert!(matches!(
        core.login(EMILY, &password).await.unwrap(),
        LoginOutcome::SignedIn { .. }
    ));
    reauth_by_text(&core, &cloud, &password, EMILY_PHONE).await;
    let enrollment = core.begin_totp().await.unwrap();
    let secret = enrollment.secret.clone();
    core.confirm_totp(&enrollment.enrollment_id, &code_at(&secret, real_now_ms()))
        .await
        .unwrap();
    turn_on_two_factor(&cloud, EMILY).await;
    core.logout().await.unwrap();
    let LoginOutcome::NeedsSecondFactor { .. } = core.login(EMILY, &password).await.unwrap() else {
        panic!("2FA is on");
    };
    core.resend_code().await.unwrap();
    let code = cloud.last_code(EMILY_PHONE).await;
    assert!(matches!(
        core.verify_code(SecondFactorMethod::Sms, &code)
            .await
            .unwrap(),
        LoginOutcome::SignedIn { .. }
    ));
    core.logout().await.unwrap();

    // Offline: the password, then the app's code.
    cloud.stop().await;
    let LoginOutcome::NeedsSecondFactor { challenge } = core.login(EMILY, &password).await.unwrap()
    else {
        panic!("offline, someone with an app is asked for its code");
    };
    assert_eq!(challenge.methods, vec![SecondFactorMethod::Totp]);
    assert!(!challenge.code_sent);
    let err = core
        .verify_code(SecondFactorMethod::Totp, "000000")
        .await
        .unwrap_err();
    assert_eq!(ApiError::from(&err).code, codes::INVALID_CODE, "{err:?}");
    let err = core
        .verify_code(SecondFactorMethod::Sms, "123456")
        .await
        .unwrap_err();
    assert_ne!(
        ApiError::from(&err).code,
        codes::INVALID_CODE,
        "no text offline: {err:?}"
    );
    // One step ahead of the confirmed one (the cloud's last), within the skew.
    let fresh = code_at(&secret, real_now_ms() + 30_000);
    let outcome = core
        .verify_code(SecondFactorMethod::Totp, &fresh)
        .await
        .unwrap();
    let LoginOutcome::SignedIn { session, .. } = outcome else {
        panic!("the app's code signs in offline: {outcome:?}");
    };
    assert!(session.offline_sign_in);
    core.logout().await.unwrap();

    // The same code again: its step is used.
    let LoginOutcome::NeedsSecondFactor { .. } = core.login(EMILY, &password).await.unwrap() else {
        panic!("the code again");
    };
    let err = core
        .verify_code(SecondFactorMethod::Totp, &fresh)
        .await
        .unwrap_err();
    assert_eq!(
        ApiError::from(&err).code,
        codes::INVALID_CODE,
        "a replayed code: {err:?}"
    );
    core.cancel_login().await.unwrap();

    // A wrong password never reaches the code step.
    let err = core.login(EMILY, "not Emily's password").await.unwrap_err();
    assert_eq!(
        ApiError::from(&err).code,
        codes::INVALID_CREDENTIALS,
        "{err:?}"
    );
}
