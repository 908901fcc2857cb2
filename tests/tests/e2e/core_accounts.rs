//! Admins' account actions through the real core against the real cloud:
//! adding a user (whose setup code then activates the account), texting that
//! code to the user's phone, resetting a password or a second factor (never
//! the admin's own), signing a user out everywhere; refused locally for a
//! non-admin and clearly when there is no connection.

use std::sync::Arc;

use secureclose_core::client::CloudClient;
use secureclose_core::views::LoginOutcome;
use secureclose_core::{AppCore, CoreError, Sensitive};
use secureclose_protocol::{
    codes, ApiError, LoginResponse, NewUserRequest, Role, SecondFactorMethod, SetupCodeGrant,
    UserUpdate,
};

use crate::core_sync::wait_for_first_sync;
use crate::support::{open_core, reauth_by_text, MemoryKeyStore, TestCloud, DEMO_NON_ADMIN};

const NEW_PASSWORD: &str = "violet lantern orchard 2049";

async fn signed_in(
    cloud: &TestCloud,
    dir: &std::path::Path,
    email: &str,
    password: &str,
) -> AppCore {
    let core = open_core(dir, cloud.base_url(), Arc::new(MemoryKeyStore::default())).await;
    match core.login(email, password).await {
        Ok(LoginOutcome::SignedIn { .. }) => {}
        other => panic!("{email} must sign in with the password alone, got {other:?}"),
    }
    wait_for_first_sync(&core).await;
    core
}

fn new_user(email: &str) -> NewUserRequest {
    NewUserRequest {
        display_name: "Nadia Brennan".into(),
        email: email.into(),
        role: Role::User,
        mobile_phone: None,
        two_factor_enabled: None,
    }
}

/// Redeems a setup code at the cloud's `/account/activate`, as the person
/// it was handed to would; returns the HTTP status and body.
async fn activate(cloud: &TestCloud, email: &str, code: &str) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/account/activate", cloud.base_url()))
        .json(&serde_json::json!({
            "email": email,
            "setup_code": code,
            "new_password": NEW_PASSWORD,
        }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

fn session_token(response: LoginResponse) -> Sensitive<String> {
    match response {
        LoginResponse::SignedIn { session, .. } => Sensitive::new(session.token),
        _ => panic!("the password alone must sign in"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_added_user_is_listed_and_their_setup_code_activates_once() {
    let cloud = TestCloud::start().await;
    let dir = tempfile::tempdir().unwrap();
    let core = signed_in(
        &cloud,
        dir.path(),
        &cloud.seed.admin_email,
        &cloud.seed.admin_password,
    )
    .await;
    let email = "new.hire.one@desertsun.example";

    let grant: SetupCodeGrant = core.create_user(&new_user(email)).await.unwrap();
    assert_eq!(grant.user.email, email);
    assert!(
        !format!("{grant:?}").contains(&grant.setup_code),
        "the code never reaches a log through Debug"
    );
    let listed = core.list_users("new.hire", 0, 10).await.unwrap();
    assert_eq!(
        listed
            .users
            .iter()
            .map(|u| u.id.as_str())
            .collect::<Vec<_>>(),
        [grant.user.id.as_str()],
        "the new user is in the cached list at once, before any sync"
    );

    let err = core.create_user(&new_user(email)).await.unwrap_err();
    let api = ApiError::from(&err);
    assert_eq!(api.code, codes::CONFLICT, "the same email twice: {api:?}");
    assert!(
        !api.message.is_empty(),
        "the cloud's message reaches the UI"
    );
    let bad_phone = NewUserRequest {
        mobile_phone: Some("12".into()),
        ..new_user("someone.else@desertsun.example")
    };
    let err = core.create_user(&bad_phone).await.unwrap_err();
    assert_eq!(ApiError::from(&err).code, codes::INVALID_PHONE, "{err:?}");

    let (status, body) = activate(&cloud, email, &grant.setup_code).await;
    assert_eq!(status, 200, "the code activates the account: {body}");
    assert_eq!(body["status"], "signed_in", "{body}");
    let (status, _) = activate(&cloud, email, &grant.setup_code).await;
    assert_eq!(status, 401, "a setup code works once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_refuses_the_old_password_and_revoking_refuses_the_session_token() {
    let cloud = TestCloud::start().await;
    let dir = tempfile::tempdir().unwrap();
    let core = signed_in(
        &cloud,
        dir.path(),
        &cloud.seed.admin_email,
        &cloud.seed.admin_password,
    )
    .await;
    let client = CloudClient::new(cloud.base_url()).unwrap();
    let old_password = cloud.password_of(DEMO_NON_ADMIN).to_owned();
    let marcus = core.list_users("marcus", 0, 1).await.unwrap().users[0].clone();

    let token = session_token(
        client
            .login(DEMO_NON_ADMIN, &old_password, None)
            .await
            .unwrap(),
    );
    client.me(&token).await.expect("Marcus's session works");
    core.revoke_sessions(&marcus.id).await.unwrap();
    let err = client.me(&token).await.unwrap_err();
    assert!(err.is_session_rejected(), "signed out everywhere: {err:?}");
    assert!(
        core.session().await.unwrap().is_some(),
        "the admin's own session goes on"
    );

    let token = session_token(
        client
            .login(DEMO_NON_ADMIN, &old_password, None)
            .await
            .unwrap(),
    );
    let grant = core.reset_password(&marcus.id).await.unwrap();
    assert_eq!(grant.user.id, marcus.id);
    let err = client
        .login(DEMO_NON_ADMIN, &old_password, None)
        .await
        .unwrap_err();
    assert_eq!(
        ApiError::from(&err).code,
        codes::INVALID_CREDENTIALS,
        "{err:?}"
    );
    assert!(
        client.me(&token).await.unwrap_err().is_session_rejected(),
        "a reset ends the user's sessions too"
    );
    let (status, body) = activate(&cloud, DEMO_NON_ADMIN, &grant.setup_code).await;
    assert_eq!(status, 200, "the new code sets a new password: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_factor_reset_takes_the_phone_off_and_the_next_sign_in_enrols() {
    // Dev mode: the texts go to the outbox the test reads.
    let cloud = TestCloud::start_dev().await;
    let dir = tempfile::tempdir().unwrap();
    let admin = cloud.seed.admin_email.clone();
    let core = signed_in(&cloud, dir.path(), &admin, &cloud.seed.admin_password).await;
    let marcus = core.list_users("marcus", 0, 1).await.unwrap().users[0].clone();
    let old_phone = marcus.mobile_phone.clone().expect("Marcus has a phone");
    // Marcus signs in with codes to this phone; then he loses it.
    let two_factor_on = UserUpdate {
        two_factor_enabled: Some(true),
        ..UserUpdate::default()
    };
    core.update_user(&marcus.id, &two_factor_on).await.unwrap();
    let client = CloudClient::new(cloud.base_url()).unwrap();
    let password = cloud.password_of(DEMO_NON_ADMIN).to_owned();
    let challenge = match client.login(DEMO_NON_ADMIN, &password, None).await.unwrap() {
        LoginResponse::SecondFactorRequired { challenge } => challenge,
        other => panic!("Marcus has 2FA: {other:?}"),
    };
    let code = cloud.last_code(&old_phone).await;
    let token = session_token(
        client
            .verify_code(
                &Sensitive::new(challenge.challenge_id),
                SecondFactorMethod::Sms,
                &code,
            )
            .await
            .unwrap(),
    );

    // A reset of someone's factors needs the admin's fresh proof.
    let err = core
        .reset_two_factor(&marcus.id, "lost phone, seen in person")
        .await
        .unwrap_err();
    assert_eq!(ApiError::from(&err).code, codes::REAUTH_REQUIRED, "{err:?}");
    let admin_phone = core
        .session()
        .await
        .unwrap()
        .expect("signed in")
        .user
        .mobile_phone;
    reauth_by_text(
        &core,
        &cloud,
        &cloud.seed.admin_password,
        admin_phone.as_deref().unwrap_or_default(),
    )
    .await;
    let err = core.reset_two_factor(&marcus.id, "   ").await.unwrap_err();
    assert_eq!(ApiError::from(&err).code, codes::VALIDATION, "{err:?}");
    client
        .me(&token)
        .await
        .expect("a refused reset changes nothing");

    let after = core
        .reset_two_factor(&marcus.id, "lost phone, seen in person")
        .await
        .unwrap();
    assert_eq!(after.mobile_phone, None);
    let cached = core.list_users("marcus", 0, 1).await.unwrap().users[0].clone();
    assert_eq!(
        cached.mobile_phone, None,
        "the list shows the reset at once, not after the next sync"
    );
    assert!(
        client.me(&token).await.unwrap_err().is_session_rejected(),
        "a reset ends the user's sessions"
    );
    let notice = secureclose_cloud::outbox(&cloud.database_url, Some(&old_phone))
        .await
        .unwrap();
    assert!(
        notice[0].body.contains("reset your two-step verification"),
        "the old phone is told: {}",
        notice[0].body
    );
    assert!(
        matches!(
            client.login(DEMO_NON_ADMIN, &password, None).await.unwrap(),
            LoginResponse::PhoneEnrollmentRequired { .. }
        ),
        "with 2FA on and no factor left, the next sign-in enrols one"
    );

    let me = core.session().await.unwrap().expect("signed in").user;
    let err = core
        .reset_two_factor(&me.id, "lost phone, seen in person")
        .await
        .unwrap_err();
    assert!(matches!(err, CoreError::Refused { .. }), "{err:?}");
    assert_eq!(ApiError::from(&err).code, codes::OWN_TWO_FACTOR_RESET);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_setup_code_is_texted_to_the_phone_on_file() {
    let cloud = TestCloud::start_dev().await;
    let dir = tempfile::tempdir().unwrap();
    let core = signed_in(
        &cloud,
        dir.path(),
        &cloud.seed.admin_email,
        &cloud.seed.admin_password,
    )
    .await;
    let request = NewUserRequest {
        mobile_phone: Some("(480) 555-0177".into()),
        ..new_user("texted.hire@desertsun.example")
    };
    let grant = core.create_user(&request).await.unwrap();
    let code = || Sensitive::new(grant.setup_code.clone());

    let texted = core.text_setup_code(&grant.user.id, code()).await.unwrap();
    assert_eq!(texted.phone_hint, "••• ••• 0177");
    assert_eq!(texted.texts_left, 2);
    let sent = secureclose_cloud::outbox(&cloud.database_url, Some("+14805550177"))
        .await
        .unwrap();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].body.contains(&grant.setup_code), "{}", sent[0].body);

    let err = core
        .text_setup_code(&grant.user.id, Sensitive::new("AAAA-BBBB-CCCC".into()))
        .await
        .unwrap_err();
    let api = ApiError::from(&err);
    assert_eq!(api.code, codes::SETUP_CODE_NOT_CURRENT, "{err:?}");
    assert!(
        api.message.contains("Reset the password"),
        "{}",
        api.message
    );

    let phoneless = core
        .create_user(&new_user("no.phone@desertsun.example"))
        .await
        .unwrap();
    let err = core
        .text_setup_code(&phoneless.user.id, Sensitive::new(phoneless.setup_code))
        .await
        .unwrap_err();
    assert_eq!(ApiError::from(&err).code, codes::NO_MOBILE_PHONE, "{err:?}");
    assert!(
        core.session().await.unwrap().is_some(),
        "no error ends the session"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_is_refused_a_reset_of_their_own_password() {
    let cloud = TestCloud::start().await;
    let dir = tempfile::tempdir().unwrap();
    let admin = cloud.seed.admin_email.clone();
    let password = cloud.seed.admin_password.clone();
    let core = signed_in(&cloud, dir.path(), &admin, &password).await;
    let me = core.session().await.unwrap().expect("signed in").user;

    let err = core.reset_password(&me.id).await.unwrap_err();
    assert!(
        matches!(err, CoreError::Refused { .. }),
        "refused on this computer, before the cloud: {err:?}"
    );
    let api = ApiError::from(&err);
    assert_eq!(api.code, codes::OWN_PASSWORD_RESET, "{err:?}");
    assert!(api.message.contains("profile"), "{}", api.message);
    let client = CloudClient::new(cloud.base_url()).unwrap();
    client
        .login(&admin, &password, None)
        .await
        .expect("the admin's password still works");
    assert!(core.session().await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_admin_core_refuses_account_actions_without_asking_the_cloud() {
    let cloud = TestCloud::start().await;
    let dir = tempfile::tempdir().unwrap();
    let core = signed_in(
        &cloud,
        dir.path(),
        DEMO_NON_ADMIN,
        cloud.password_of(DEMO_NON_ADMIN),
    )
    .await;
    let email = "not.added@desertsun.example";
    let someone = core.list_users("", 0, 1).await.unwrap().users[0].id.clone();

    let err = core.create_user(&new_user(email)).await.unwrap_err();
    assert_eq!(ApiError::from(&err).code, codes::FORBIDDEN, "{err:?}");
    assert!(
        err.to_string().contains("adding users"),
        "refused on this computer, not by the cloud: {err}"
    );
    let err = core.reset_password(&someone).await.unwrap_err();
    assert!(err.to_string().contains("resetting passwords"), "{err}");
    let err = core.revoke_sessions(&someone).await.unwrap_err();
    assert!(err.to_string().contains("signing users out"), "{err}");
    let err = core
        .reset_two_factor(&someone, "lost phone, seen in person")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("resetting two-step verification"),
        "{err}"
    );
    let err = core
        .text_setup_code(&someone, Sensitive::new("AAAA-BBBB-CCCC".into()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("texting setup codes"), "{err}");
    assert!(core.session().await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_connection_account_actions_fail_clearly() {
    let mut cloud = TestCloud::start().await;
    let dir = tempfile::tempdir().unwrap();
    let core = signed_in(
        &cloud,
        dir.path(),
        &cloud.seed.admin_email,
        &cloud.seed.admin_password,
    )
    .await;
    let someone = core.list_users("marcus", 0, 1).await.unwrap().users[0]
        .id
        .clone();
    let admin = cloud.seed.admin_email.clone();
    let password = cloud.seed.admin_password.clone();
    // The connection drops during an online session, then the admin signs
    // in offline (no cloud session at all): both say so.
    cloud.stop().await;
    assert_all_offline(&core, &someone, cloud.base_url()).await;
    core.logout().await.unwrap();
    match core.login(&admin, &password).await {
        Ok(LoginOutcome::SignedIn { session, .. }) => assert!(session.offline_sign_in),
        other => panic!("the admin must sign in offline, got {other:?}"),
    }
    assert_all_offline(&core, &someone, cloud.base_url()).await;
    assert!(
        core.list_users("offline.add", 0, 10)
            .await
            .unwrap()
            .users
            .is_empty(),
        "nothing is queued or invented offline"
    );
    assert!(core.session().await.unwrap().is_some(), "still signed in");
}

async fn assert_all_offline(core: &AppCore, user_id: &str, url: &str) {
    let results = [
        core.create_user(&new_user("offline.add@desertsun.example"))
            .await
            .map(drop),
        core.reset_password(user_id).await.map(drop),
        core.revoke_sessions(user_id).await,
        core.reset_two_factor(user_id, "lost phone, seen in person")
            .await
            .map(drop),
        core.text_setup_code(user_id, Sensitive::new("AAAA-BBBB-CCCC".into()))
            .await
            .map(drop),
    ];
    for result in results {
        let err = result.unwrap_err();
        let api = ApiError::from(&err);
        assert_eq!(api.code, "offline", "{err:?}");
        assert!(
            api.message.contains(url),
            "names the address: {}",
            api.message
        );
    }
}
