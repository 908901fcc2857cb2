//! Offline sign-in through the real core against the real cloud: the
//! verifier written at an online sign-in, the policy refusals with their
//! words, and the session resumed (`/login/resume`) when the cloud returns.

use std::sync::Arc;

use secureclose_core::views::{LoginOutcome, SyncState};
use secureclose_core::AppCore;
use secureclose_protocol::{codes, UserUpdate};

use crate::core_sync::{admin_core, cached, cloud_users, open_quiet, restart, sign_in};
use crate::support::{expect_ended, MemoryKeyStore, TestCloud, DEMO_NON_ADMIN};

async fn offline_session(core: &AppCore, email: &str, password: &str) {
    match core.login(email, password).await {
        Ok(LoginOutcome::SignedIn { session, .. }) => assert!(
            session.offline_sign_in && !session.online,
            "the cloud is down: an offline sign-in: {session:?}"
        ),
        other => panic!("{email} must sign in offline, got {other:?}"),
    }
}

/// Runs SQL on the (stopped) cloud's database.
async fn on_cloud_db(cloud: &TestCloud, sql: &str) {
    let db = secureclose_cloud::db::connect(&cloud.database_url, 1)
        .await
        .unwrap();
    let done = sqlx::query(sql).execute(&db.pool).await.unwrap();
    assert!(done.rows_affected() > 0, "set-up must change a row: {sql}");
    db.pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_admin_works_offline_and_the_session_resumes_when_the_cloud_returns() {
    let mut cloud = TestCloud::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (core, keys) = admin_core(&cloud, dir.path()).await;
    let marcus = cached(&core, "marcus").await;
    core.logout().await.unwrap();
    cloud.stop().await;

    let admin = cloud.seed.admin_email.clone();
    let password = cloud.seed.admin_password.clone();
    let err = core.login(&admin, "not the password").await.unwrap_err();
    assert_eq!(
        err.code(),
        codes::INVALID_CREDENTIALS,
        "checked against the verifier: {err:?}"
    );
    offline_session(&core, &admin.to_uppercase(), &password).await;
    assert!(keys.session_tokens().is_empty(), "no cloud session yet");
    let session = core.session().await.unwrap().unwrap();
    assert!(session.offline_sign_in);

    let shown = core
        .update_user(
            &marcus.id,
            &UserUpdate {
                display_name: Some("Marcus (offline edit)".into()),
                ..UserUpdate::default()
            },
        )
        .await
        .expect("an offline admin's edit is queued");
    assert_eq!(shown.display_name, "Marcus (offline edit)");
    let status = core.sync_now().await.unwrap();
    assert_eq!(status.state, SyncState::Offline, "{status:?}");
    assert_eq!(status.pending_edits, 1);

    let _cloud_again = restart(&cloud).await;
    let status = core.sync_now().await.unwrap();
    assert_eq!(
        status.state,
        SyncState::Idle,
        "resumed and synced: {status:?}"
    );
    assert_eq!(status.pending_edits, 0, "{status:?}");
    let session = core.session().await.unwrap().unwrap();
    assert!(
        session.online && !session.offline_sign_in,
        "the session is a cloud session again: {session:?}"
    );
    assert_eq!(
        keys.session_tokens().len(),
        1,
        "the resumed session's token is kept"
    );
    let on_cloud = cloud_users(cloud.base_url(), &keys).await;
    assert_eq!(
        on_cloud
            .iter()
            .find(|u| u.id == marcus.id)
            .unwrap()
            .display_name,
        "Marcus (offline edit)",
        "the offline edit reached the cloud"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_refusals_say_what_to_do() {
    let mut cloud = TestCloud::start().await;
    let (dir_a, dir_m) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (admin, _) = admin_core(&cloud, dir_a.path()).await;
    let marcus_pw = cloud.password_of(DEMO_NON_ADMIN).to_owned();
    let marcus = open_quiet(
        dir_m.path(),
        cloud.base_url(),
        Arc::new(MemoryKeyStore::default()),
    )
    .await;
    sign_in(&marcus, DEMO_NON_ADMIN, &marcus_pw).await;

    // Marcus signed in here without a code; now his 2FA is turned on.
    let row = cached(&admin, "marcus").await;
    admin
        .update_user(
            &row.id,
            &UserUpdate {
                two_factor_enabled: Some(true),
                ..UserUpdate::default()
            },
        )
        .await
        .unwrap();
    // Turning 2FA on ended Marcus's password-only session (security review,
    // finding 3), so this computer learns the new state from the next person
    // who syncs on it, here the admin.
    let _ = marcus.sync_now().await;
    expect_ended(&marcus, "session was ended on the SecureClose cloud").await;
    sign_in(&marcus, &cloud.seed.admin_email, &cloud.seed.admin_password).await;
    marcus.sync_now().await.unwrap();
    assert!(
        cached(&marcus, "marcus").await.two_factor_enabled,
        "Marcus's desktop learnt it"
    );
    marcus.logout().await.unwrap();
    cloud.stop().await;

    let err = marcus.login(DEMO_NON_ADMIN, &marcus_pw).await.unwrap_err();
    assert_eq!(err.code(), "offline_grace_expired", "{err:?}");
    assert_eq!(
        err.user_message(),
        "Connect to the internet to receive your code."
    );

    let err = marcus
        .login("lucia.fernandez@desertsun.example", "whatever")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "offline_unknown_user", "{err:?}");
    assert!(err
        .user_message()
        .contains("has not signed in on this computer"));
    assert!(marcus.session().await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_resume_asks_for_a_sign_in_and_keeps_the_edits_for_it() {
    let mut cloud = TestCloud::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (core, keys) = admin_core(&cloud, dir.path()).await;
    let jamal = cached(&core, "jamal").await;
    core.logout().await.unwrap();
    cloud.stop().await;
    let admin = cloud.seed.admin_email.clone();
    let password = cloud.seed.admin_password.clone();
    offline_session(&core, &admin, &password).await;
    core.update_user(
        &jamal.id,
        &UserUpdate {
            display_name: Some("Jamal (queued)".into()),
            ..UserUpdate::default()
        },
    )
    .await
    .unwrap();
    // While the cloud is down, this computer's trusted-device grant is revoked.
    on_cloud_db(&cloud, "UPDATE device_grants SET revoked_at = 1").await;

    let _cloud_again = restart(&cloud).await;
    let status = core.sync_now().await.unwrap();
    assert_eq!(status.state, SyncState::NeedsSignIn, "{status:?}");
    assert_eq!(status.pending_edits, 1, "the edit is kept: {status:?}");
    assert!(
        core.session().await.unwrap().unwrap().offline_sign_in,
        "the person keeps working offline meanwhile"
    );

    sign_in(&core, &admin, &password).await;
    let status = core.sync_now().await.unwrap();
    assert_eq!(
        status.pending_edits, 0,
        "the online sign-in pushes it: {status:?}"
    );
    let on_cloud = cloud_users(cloud.base_url(), &keys).await;
    assert_eq!(
        on_cloud
            .iter()
            .find(|u| u.id == jamal.id)
            .unwrap()
            .display_name,
        "Jamal (queued)"
    );
}

/// Marcus signed in on his own computer (verifier and device token kept);
/// `admin` is another desktop of his company's admin.
async fn marcus_known_here(
    cloud: &TestCloud,
    dir: &std::path::Path,
) -> (AppCore, Arc<MemoryKeyStore>, String) {
    let keys = Arc::new(MemoryKeyStore::default());
    let marcus = open_quiet(dir, cloud.base_url(), keys.clone()).await;
    let password = cloud.password_of(DEMO_NON_ADMIN).to_owned();
    sign_in(&marcus, DEMO_NON_ADMIN, &password).await;
    (marcus, keys, password)
}

async fn set_marcus_status(admin: &AppCore, status: secureclose_protocol::UserStatus) {
    let row = cached(admin, "marcus").await;
    admin
        .update_user(
            &row.id,
            &UserUpdate {
                status: Some(status),
                ..UserUpdate::default()
            },
        )
        .await
        .expect("the admin changes Marcus's status");
}

fn device_tokens(keys: &MemoryKeyStore) -> usize {
    keys.accounts()
        .iter()
        .filter(|a| a.starts_with("device:"))
        .count()
}

/// Finding 4: a disabled user's sync ends the session and their offline
/// access on their own computer: no verifier, no device token, and offline
/// sign-in refused with a clear message, with the cloud down or Settings
/// pointed at a dead address. Re-enabled, an online sign-in restores it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_user_loses_offline_access_on_their_own_computer() {
    use secureclose_protocol::UserStatus;
    let mut cloud = TestCloud::start().await;
    let (dir_a, dir_m) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (admin, _) = admin_core(&cloud, dir_a.path()).await;
    let (marcus, keys, password) = marcus_known_here(&cloud, dir_m.path()).await;
    assert_eq!(device_tokens(&keys), 1, "set-up: a device token is kept");

    set_marcus_status(&admin, UserStatus::Disabled).await;
    marcus.sync_now().await.ok();
    expect_ended(&marcus, "This account is disabled").await;
    assert!(keys.session_tokens().is_empty(), "its token is gone");
    assert_eq!(device_tokens(&keys), 0, "the device token is gone");

    cloud.stop().await;
    let err = marcus.login(DEMO_NON_ADMIN, &password).await.unwrap_err();
    assert_eq!(err.code(), "offline_revoked", "{err:?}");
    assert!(
        err.user_message().contains("disabled") && err.user_message().contains("Connect"),
        "the person learns why and what to do: {}",
        err.user_message()
    );
    assert_eq!(marcus.session().await.unwrap(), None);

    // The reproduction: Settings pointed at an address nothing answers.
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    marcus.set_cloud_url(&dead).await.unwrap();
    let refused = marcus.login(DEMO_NON_ADMIN, &password).await;
    assert!(
        refused.is_err(),
        "a dead address must not sign a disabled user in offline: {refused:?}"
    );
    assert_eq!(marcus.session().await.unwrap(), None);

    // Re-enabled: the next online sign-in gives offline access back.
    let again = restart(&cloud).await;
    marcus.set_cloud_url(cloud.base_url()).await.unwrap();
    set_marcus_status(&admin, UserStatus::Active).await;
    sign_in(&marcus, DEMO_NON_ADMIN, &password).await;
    marcus.logout().await.unwrap();
    again.shutdown().await;
    offline_session(&marcus, DEMO_NON_ADMIN, &password).await;
}

/// Finding 4 at sign-in: `account_disabled` after a correct password, or
/// `invalid_credentials` for the password this computer knows (changed on
/// the cloud), ends offline access here; a passer-by's wrong password does
/// not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_the_cloud_refuses_ends_offline_access_but_a_typo_does_not() {
    use secureclose_protocol::UserStatus;
    let mut cloud = TestCloud::start().await;
    let (dir_a, dir_m) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (admin, _) = admin_core(&cloud, dir_a.path()).await;
    let (marcus, keys, password) = marcus_known_here(&cloud, dir_m.path()).await;
    marcus.logout().await.unwrap();

    // A passer-by mistypes Marcus's password online: nothing changes here.
    let err = marcus
        .login(DEMO_NON_ADMIN, "not his password")
        .await
        .unwrap_err();
    assert_eq!(err.code(), codes::INVALID_CREDENTIALS);
    assert_eq!(device_tokens(&keys), 1, "a typo keeps the device token");

    // His password is changed on the cloud: the old one is refused online.
    on_cloud_db(
        &cloud,
        &format!(
            "UPDATE users SET password_hash = '{}' WHERE email = '{DEMO_NON_ADMIN}'",
            secureclose_cloud::passwords::hash_password_blocking("a brand new password").unwrap()
        ),
    )
    .await;
    let err = marcus.login(DEMO_NON_ADMIN, &password).await.unwrap_err();
    assert_eq!(err.code(), codes::INVALID_CREDENTIALS);
    assert_eq!(device_tokens(&keys), 0, "the device token goes");

    // Disabled: the cloud says so after the (new) correct password.
    set_marcus_status(&admin, UserStatus::Disabled).await;
    let err = marcus
        .login(DEMO_NON_ADMIN, "a brand new password")
        .await
        .unwrap_err();
    assert_eq!(err.code(), codes::ACCOUNT_DISABLED, "{err:?}");

    cloud.stop().await;
    for typed in [password.as_str(), "a brand new password"] {
        let err = marcus.login(DEMO_NON_ADMIN, typed).await.unwrap_err();
        assert_eq!(
            err.code(),
            "offline_revoked",
            "no offline sign-in with the old or the new password: {err:?}"
        );
    }
    assert_eq!(marcus.session().await.unwrap(), None);
}
