//! Offline sign-in through the real core against the real cloud: the
//! verifier written at an online sign-in, the policy refusals with their
//! words, and the session resumed (`/login/resume`) when the cloud returns.

use std::sync::Arc;

use secureclose_core::ipc::{LoginOutcome, SyncState};
use secureclose_core::AppCore;
use secureclose_protocol::{codes, UserUpdate};

use crate::core_sync::{admin_core, cached, cloud_users, open_quiet, restart, sign_in};
use crate::support::{MemoryKeyStore, TestCloud, DEMO_NON_ADMIN};

async fn offline_session(core: &AppCore, email: &str, password: &str) {
    match core.login(email, password).await {
        Ok(LoginOutcome::SignedIn { session }) => assert!(
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
    // Turning 2FA on ended Marcus's password-only session (issue 10,
    // finding 3), so this computer learns the new state from the next person
    // who syncs on it, here the admin.
    let _ = marcus.sync_now().await;
    assert!(
        marcus.session().await.unwrap().is_none(),
        "Marcus's session ended"
    );
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
