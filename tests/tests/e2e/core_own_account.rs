//! One's own account through the real core against the real cloud: the
//! first sign-in with an admin's setup code ("First time here? Set up your
//! account"), the password rules as they are typed, and a password change
//! (this session stays, the others end, offline sign-in follows the new
//! password).

use std::sync::Arc;

use secureclose_core::client::CloudClient;
use secureclose_core::views::{LoginOutcome, SyncState};
use secureclose_core::{AppCore, KeyStore, Sensitive};
use secureclose_protocol::{codes, ApiError, CompanyUpdate, SecondFactorMethod, SetupCodeGrant};

use crate::core_sync::{admin_core, open_quiet, restart, sign_in};
use crate::support::{MemoryKeyStore, TestCloud, DEMO_NON_ADMIN};

/// Passes every password rule for the people these tests use.
const STRONG: &str = "violet tractor umbrella seventeen";
const NORA: &str = "nora.quill@desertsun.example";
const NORA_PHONE: &str = "+14805550199";

fn secret(text: &str) -> Sensitive<String> {
    Sensitive::new(text.to_owned())
}

/// The admin adds Nora (as the admin side's Add user does, over the API):
/// her setup code.
async fn add_nora(cloud: &TestCloud, admin_keys: &MemoryKeyStore) -> String {
    let token = admin_keys
        .session_tokens()
        .pop()
        .expect("the admin's token");
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/users", cloud.base_url()))
        .bearer_auth(token)
        .json(&serde_json::json!({
            "display_name": "Nora Quill",
            "email": NORA,
            "role": "user",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::CREATED);
    let grant: SetupCodeGrant = response.json().await.unwrap();
    grant.setup_code
}

fn state_of(outcome: &LoginOutcome) -> String {
    serde_json::to_value(outcome).unwrap()["state"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// This computer's device token for the cloud (one user signs in per test core).
fn device_token(keys: &MemoryKeyStore) -> Option<String> {
    let account = keys
        .accounts()
        .into_iter()
        .find(|account| account.starts_with("device:"))?;
    keys.get(&account)
        .unwrap()
        .map(|bytes| String::from_utf8(bytes).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_setup_code_signs_in_and_the_new_password_works_offline() {
    let mut cloud = TestCloud::start().await;
    let admin_dir = tempfile::tempdir().unwrap();
    let (_admin, admin_keys) = admin_core(&cloud, admin_dir.path()).await;
    let code = add_nora(&cloud, &admin_keys).await;

    let dir = tempfile::tempdir().unwrap();
    let core = open_quiet(dir.path(), cloud.base_url(), Arc::default()).await;
    let err = core
        .activate(NORA, secret("ABCD-EFGH-JKMN"), secret(STRONG))
        .await
        .expect_err("a code the admin never handed over");
    assert_eq!(err.code(), codes::INVALID_CREDENTIALS, "{err:?}");
    assert!(core.session().await.unwrap().is_none(), "nobody signed in");

    let err = core
        .activate(NORA, secret(&code), secret("too short"))
        .await
        .expect_err("the cloud refuses a password its rules refuse");
    assert_eq!(err.code(), codes::PASSWORD_REFUSED, "{err:?}");
    let shown = ApiError::from(&err).message;
    assert!(
        shown.contains("at least 15"),
        "the refusal says which rule: {shown}"
    );

    // The code typed as it reads on paper, with spaces around it.
    let outcome = core
        .activate(
            &format!(" {NORA} "),
            secret(&format!(" {code} ")),
            secret(STRONG),
        )
        .await
        .expect("the right code and a good password");
    let LoginOutcome::SignedIn { session, .. } = outcome else {
        panic!("Nora has no second factor: {outcome:?}");
    };
    assert_eq!(session.user.email, NORA);
    assert!(session.online && !session.offline_sign_in);
    let err = core
        .activate(NORA, secret(&code), secret(STRONG))
        .await
        .expect_err("a setup code works once");
    assert_eq!(err.code(), codes::INVALID_CREDENTIALS, "{err:?}");

    // The verifier this computer keeps is the NEW password's.
    core.logout().await.unwrap();
    cloud.stop().await;
    let err = core
        .login(NORA, "not the password at all")
        .await
        .unwrap_err();
    assert_eq!(err.code(), codes::INVALID_CREDENTIALS, "{err:?}");
    match core.login(NORA, STRONG).await {
        Ok(LoginOutcome::SignedIn { session, .. }) => assert!(session.offline_sign_in),
        other => panic!("the chosen password must sign in offline: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_company_2fa_an_activation_goes_on_to_enrol_a_phone() {
    let mut cloud = TestCloud::start_dev().await;
    let admin_dir = tempfile::tempdir().unwrap();
    let (admin, admin_keys) = admin_core(&cloud, admin_dir.path()).await;
    admin
        .update_company(&CompanyUpdate {
            two_factor_required: Some(true),
            ..CompanyUpdate::default()
        })
        .await
        .unwrap();
    let code = add_nora(&cloud, &admin_keys).await;

    let dir = tempfile::tempdir().unwrap();
    let core = open_quiet(dir.path(), cloud.base_url(), Arc::default()).await;
    let outcome = core
        .activate(NORA, secret(&code), secret(STRONG))
        .await
        .unwrap();
    assert_eq!(state_of(&outcome), "needs_phone_enrollment", "{outcome:?}");
    assert!(core.session().await.unwrap().is_none(), "not yet signed in");
    core.enroll_phone("(480) 555-0199").await.unwrap();
    let outcome = core
        .verify_code(SecondFactorMethod::Sms, &cloud.last_code(NORA_PHONE).await)
        .await
        .unwrap();
    let LoginOutcome::SignedIn { session, .. } = outcome else {
        panic!("the texted code completes the activation: {outcome:?}");
    };
    assert_eq!(session.user.mobile_phone.as_deref(), Some(NORA_PHONE));

    // The new password is the account's from now on: it signs in (with a code).
    core.logout().await.unwrap();
    let outcome = core.login(NORA, STRONG).await.unwrap();
    assert_eq!(state_of(&outcome), "needs_second_factor", "{outcome:?}");
    core.cancel_login().await.unwrap();

    // The password held through the enrolment became the offline verifier.
    cloud.stop().await;
    match core.login(NORA, STRONG).await {
        Ok(LoginOutcome::SignedIn { session, .. }) => assert!(session.offline_sign_in),
        other => panic!("the chosen password must sign in offline: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rules_are_the_clouds_and_know_whose_password_it_is() {
    let cloud = TestCloud::start().await;
    let dir = tempfile::tempdir().unwrap();
    let core = open_quiet(dir.path(), cloud.base_url(), Arc::default()).await;

    let check = core
        .check_new_password(secret("short"), NORA)
        .await
        .unwrap();
    assert!(check.score < 3, "{check:?}");
    assert!(
        check
            .refusal
            .as_deref()
            .unwrap_or("")
            .contains("at least 15"),
        "{check:?}"
    );
    let check = core
        .check_new_password(secret("nora.quill tractor umbrella"), NORA)
        .await
        .unwrap();
    assert!(
        check.refusal.as_deref().unwrap_or("").contains("email"),
        "before activation the email is all the rules know: {check:?}"
    );
    let check = core.check_new_password(secret(STRONG), NORA).await.unwrap();
    assert_eq!(check.refusal, None, "{check:?}");
    assert!(check.score >= 3, "{check:?}");

    // Signed in, the name and the company count too (as the cloud judges).
    sign_in(&core, DEMO_NON_ADMIN, cloud.password_of(DEMO_NON_ADMIN)).await;
    for (password, rule) in [
        ("lantern reyes orchestra pebble", "your name"),
        ("lantern desert sun motors pebble", "company"),
    ] {
        let check = core.check_new_password(secret(password), "").await.unwrap();
        assert!(
            check.refusal.as_deref().unwrap_or("").contains(rule),
            "{password}: {check:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_keeps_this_session_ends_the_others_and_moves_offline_sign_in() {
    let mut cloud = TestCloud::start().await;
    let old = cloud.password_of(DEMO_NON_ADMIN).to_owned();
    let (here_dir, there_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let here_keys = Arc::new(MemoryKeyStore::default());
    let here = open_quiet(here_dir.path(), cloud.base_url(), here_keys.clone()).await;
    sign_in(&here, DEMO_NON_ADMIN, &old).await;
    let there: AppCore = open_quiet(there_dir.path(), cloud.base_url(), Arc::default()).await;
    sign_in(&there, DEMO_NON_ADMIN, &old).await;
    let device_before = device_token(&here_keys).expect("an online sign-in keeps a device token");

    let err = here
        .change_password(secret("not my password"), secret(STRONG))
        .await
        .unwrap_err();
    assert_eq!(err.code(), codes::INVALID_CREDENTIALS, "{err:?}");
    let err = here
        .change_password(secret(&old), secret("marcus reyes lantern pebble"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), codes::PASSWORD_REFUSED, "{err:?}");
    assert!(
        there.refresh().await.is_ok(),
        "refused changes end nobody's session"
    );

    here.change_password(secret(&old), secret(STRONG))
        .await
        .expect("the right current password and a good new one");
    let session = here
        .refresh()
        .await
        .expect("this session survives the change");
    assert!(session.online);
    let err = there.refresh().await.unwrap_err();
    assert!(
        err.is_session_rejected(),
        "the other computer's session ended: {err:?}"
    );
    assert!(there.session().await.unwrap().is_none());
    let device_after = device_token(&here_keys).expect("the answer's grant is kept");
    assert_ne!(device_after, device_before, "the old grant ended");

    let client = CloudClient::new(cloud.base_url()).unwrap();
    let err = client.login(DEMO_NON_ADMIN, &old, None).await.unwrap_err();
    assert_eq!(err.code(), codes::INVALID_CREDENTIALS, "{err:?}");
    client
        .login(DEMO_NON_ADMIN, STRONG, None)
        .await
        .expect("the new password signs in");

    // Offline, this computer knows only the new password.
    here.logout().await.unwrap();
    cloud.stop().await;
    let err = here.login(DEMO_NON_ADMIN, &old).await.unwrap_err();
    assert_eq!(err.code(), codes::INVALID_CREDENTIALS, "{err:?}");
    match here.login(DEMO_NON_ADMIN, STRONG).await {
        Ok(LoginOutcome::SignedIn { session, .. }) => assert!(session.offline_sign_in),
        other => panic!("the new password must sign in offline: {other:?}"),
    }
    let err = here
        .change_password(secret(STRONG), secret("granite lantern orchestra pebble"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "offline", "a change needs the cloud: {err:?}");

    // The kept replacement grant resumes the offline session.
    let _cloud_again = restart(&cloud).await;
    let status = here.sync_now().await.unwrap();
    assert_eq!(status.state, SyncState::Idle, "resumed: {status:?}");
    assert!(!here.session().await.unwrap().unwrap().offline_sign_in);
}
