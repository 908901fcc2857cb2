//! Core's session behaviours against the real cloud (moved here from core's
//! unit tests, which used a stand-in cloud): the typed client, where the
//! token lives, restarts, sign-out and revocation, refresh, admin rights.

use std::sync::Arc;

use secureclose_core::client::CloudClient;
use secureclose_core::{AppCore, CoreError, Sensitive};
use secureclose_protocol::{codes, ApiError, CompanyUpdate, LoginResponse, UserStatus, UserUpdate};

use crate::core_sync::wait_for_first_sync;
use crate::support::{open_core, MemoryKeyStore, TestCloud, DEMO_NON_ADMIN};

async fn signed_in(
    cloud: &TestCloud,
    dir: &std::path::Path,
    keys: &Arc<MemoryKeyStore>,
    email: &str,
    password: &str,
) -> AppCore {
    let core = open_core(dir, cloud.base_url(), keys.clone()).await;
    let outcome = core
        .login(email, password)
        .await
        .expect("a seeded password must be accepted");
    let json = serde_json::to_value(&outcome).unwrap();
    assert_eq!(
        json["state"], "signed_in",
        "no second factor is configured for {email}: {json}"
    );
    wait_for_first_sync(&core).await;
    core
}

/// The one session token core holds, as the cloud issued it.
fn only_token(keys: &MemoryKeyStore) -> Sensitive<String> {
    let tokens = keys.session_tokens();
    assert_eq!(tokens.len(), 1, "exactly one session token is kept");
    Sensitive::new(tokens[0].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typed_client_speaks_the_real_cloud_api() {
    let cloud = TestCloud::start().await;
    let client = CloudClient::new(cloud.base_url()).unwrap();
    assert_eq!(client.health().await.unwrap().status, "ok");

    let err = client
        .login(&cloud.seed.admin_email, "wrong password", None)
        .await
        .unwrap_err();
    match &err {
        CoreError::Cloud {
            status,
            code,
            message,
            ..
        } => {
            assert_eq!(*status, 401);
            assert_eq!(code, codes::INVALID_CREDENTIALS);
            assert!(
                !message.is_empty(),
                "the cloud's message is kept for the UI"
            );
        }
        other => panic!("a refused password must be a cloud error, got {other:?}"),
    }

    let LoginResponse::SignedIn { session, user, .. } = client
        .login(&cloud.seed.admin_email, &cloud.seed.admin_password, None)
        .await
        .unwrap()
    else {
        panic!("the demo admin has no second factor: the password alone must sign in");
    };
    assert_eq!(user.email, cloud.seed.admin_email);
    let token = Sensitive::new(session.token);
    let me = client.me(&token).await.unwrap();
    assert_eq!(me.company.id, cloud.seed.company_id);
    assert_eq!(client.company(&token).await.unwrap(), me.company);
    let users = client.users(&token).await.unwrap().users;
    assert_eq!(
        users.len(),
        cloud.seed.users.len() + 1,
        "admin + the others"
    );

    client.logout(&token).await.expect("logout answers 204");
    let err = client.users(&token).await.unwrap_err();
    assert!(
        err.is_session_rejected(),
        "a revoked token must be refused with unauthenticated/session_expired: {err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_token_lives_in_the_keychain_and_never_on_disk() {
    let cloud = TestCloud::start().await;
    let data = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::default());
    let core = signed_in(
        &cloud,
        data.path(),
        &keys,
        &cloud.seed.admin_email,
        &cloud.seed.admin_password,
    )
    .await;
    let token = only_token(&keys);
    let client = CloudClient::new(cloud.base_url()).unwrap();
    assert_eq!(
        client.me(&token).await.unwrap().user.email,
        cloud.seed.admin_email,
        "the keychain holds the live token of this session"
    );
    let session = core.session().await.unwrap().expect("signed in");
    assert!(
        session.online && session.last_synced_at.is_some(),
        "a login is a sync"
    );

    drop(core);
    for entry in std::fs::read_dir(data.path()).unwrap() {
        // A -wal/-shm may vanish as SQLite finishes closing.
        let Ok(bytes) = std::fs::read(entry.unwrap().path()) else {
            continue;
        };
        let needle = token.expose().as_bytes();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "the session token must never be written to the data dir"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_without_the_cloud_restores_the_session_from_the_cache() {
    let mut cloud = TestCloud::start().await;
    let data = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::default());
    let core = signed_in(
        &cloud,
        data.path(),
        &keys,
        &cloud.seed.admin_email,
        &cloud.seed.admin_password,
    )
    .await;
    let total = core.list_users("", 0, 100).await.unwrap().total;
    drop(core);
    cloud.stop().await;

    let core = open_core(data.path(), cloud.base_url(), keys.clone()).await;
    let session = core
        .session()
        .await
        .unwrap()
        .expect("an unexpired session comes back after a restart");
    assert_eq!(session.user.email, cloud.seed.admin_email);
    assert!(
        !session.online,
        "no cloud call has succeeded since the start"
    );
    assert_eq!(
        core.list_users("", 0, 100).await.unwrap().total,
        total,
        "the cache serves the users without the cloud"
    );
    let err = core.refresh().await.unwrap_err();
    assert_eq!(
        err.code(),
        "offline",
        "refresh says the cloud is unreachable: {err:?}"
    );
    assert!(
        core.session().await.unwrap().is_some(),
        "being offline never signs anyone out"
    );
    core.logout().await.expect("sign-out works offline");
    assert!(
        keys.session_tokens().is_empty(),
        "the token is deleted even offline"
    );
    assert!(core.session().await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_revokes_the_token_on_the_cloud_and_a_restart_stays_signed_out() {
    let cloud = TestCloud::start().await;
    let data = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::default());
    let core = signed_in(
        &cloud,
        data.path(),
        &keys,
        &cloud.seed.admin_email,
        &cloud.seed.admin_password,
    )
    .await;
    let token = only_token(&keys);

    core.logout().await.unwrap();
    assert!(keys.session_tokens().is_empty(), "the token is deleted");
    let err = CloudClient::new(cloud.base_url())
        .unwrap()
        .me(&token)
        .await
        .unwrap_err();
    assert!(
        err.is_session_rejected(),
        "the cloud must no longer accept a signed-out token: {err:?}"
    );
    assert!(matches!(core.company().await, Err(CoreError::NotSignedIn)));
    core.logout().await.expect("a second sign-out is harmless");
    drop(core);

    let restarted = open_core(data.path(), cloud.base_url(), keys.clone()).await;
    assert!(
        restarted.session().await.unwrap().is_none(),
        "no session comes back after a sign-out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_the_cloud_rejects_ends_on_the_desktop_too() {
    let cloud = TestCloud::start().await;
    let data = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::default());
    let core = signed_in(
        &cloud,
        data.path(),
        &keys,
        &cloud.seed.admin_email,
        &cloud.seed.admin_password,
    )
    .await;
    // Revoked elsewhere (another device, an admin, expiry).
    CloudClient::new(cloud.base_url())
        .unwrap()
        .logout(&only_token(&keys))
        .await
        .unwrap();

    let err = core.refresh().await.unwrap_err();
    assert!(err.is_session_rejected(), "got {err:?}");
    assert!(
        core.session().await.unwrap().is_none(),
        "the UI returns to sign-in on this error: core must agree it is signed out"
    );
    assert!(keys.session_tokens().is_empty(), "a dead token is not kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rewrites_the_cache_from_the_cloud() {
    let cloud = TestCloud::start().await;
    let data = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::default());
    let core = signed_in(
        &cloud,
        data.path(),
        &keys,
        &cloud.seed.admin_email,
        &cloud.seed.admin_password,
    )
    .await;
    let before = core.list_users("", 0, 100).await.unwrap().users;

    // Change every user on the cloud behind the desktop's back: re-seeding
    // bumps each user's version.
    secureclose_cloud::seed_demo(&cloud.database_url)
        .await
        .unwrap();

    let view = core.refresh().await.expect("refresh while online");
    assert!(view.online);
    assert_eq!(view.user.email, cloud.seed.admin_email);
    let after = core.list_users("", 0, 100).await.unwrap().users;
    assert_eq!(after.len(), before.len(), "same people");
    for (old, new) in before.iter().zip(&after) {
        assert_eq!(old.id, new.id);
        assert!(
            new.version > old.version,
            "the cache must hold the cloud's current {} (v{} -> v{})",
            new.email,
            old.version,
            new.version
        );
    }
    assert!(
        core.session().await.unwrap().is_some(),
        "a refresh keeps the session"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_admin_can_read_but_core_refuses_their_edits() {
    let cloud = TestCloud::start().await;
    let data = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::default());
    let core = signed_in(
        &cloud,
        data.path(),
        &keys,
        DEMO_NON_ADMIN,
        cloud.password_of(DEMO_NON_ADMIN),
    )
    .await;
    assert!(
        core.list_users("", 0, 100).await.unwrap().total > 1,
        "a non-admin still sees the company's users"
    );
    let someone = core.list_users("", 0, 1).await.unwrap().users[0].id.clone();
    let err = core
        .update_user(
            &someone,
            &UserUpdate {
                two_factor_enabled: Some(false),
                ..UserUpdate::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(ApiError::from(&err).code, codes::FORBIDDEN);
    let err = core
        .update_company(&CompanyUpdate {
            two_factor_required: Some(false),
            ..CompanyUpdate::default()
        })
        .await
        .unwrap_err();
    assert_eq!(ApiError::from(&err).code, codes::FORBIDDEN);
    assert!(core.session().await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_cloud_url_signs_out_of_the_old_cloud() {
    let cloud = TestCloud::start().await;
    let data = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::default());
    let core = signed_in(
        &cloud,
        data.path(),
        &keys,
        &cloud.seed.admin_email,
        &cloud.seed.admin_password,
    )
    .await;
    let token = only_token(&keys);
    core.set_cloud_url("https://cloud.example").await.unwrap();
    assert!(
        core.session().await.unwrap().is_none(),
        "a session belongs to the cloud that issued it"
    );
    let err = CloudClient::new(cloud.base_url())
        .unwrap()
        .me(&token)
        .await
        .unwrap_err();
    assert!(
        err.is_session_rejected(),
        "leaving a cloud revokes the session there: {err:?}"
    );
}

/// The cache is shared by everyone who signs in on
/// this computer, so after an admin's sync filled it with full rows a
/// non-admin signing in here still sees no colleague's phone or 2FA, while
/// their own row and the admin's next view stay complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_admin_after_an_admin_on_this_computer_sees_no_colleague_phones_or_2fa() {
    let cloud = TestCloud::start().await;
    let data = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::default());
    let admin = signed_in(
        &cloud,
        data.path(),
        &keys,
        &cloud.seed.admin_email,
        &cloud.seed.admin_password,
    )
    .await;
    let full = admin.list_users("", 0, 100).await.unwrap().users;
    assert!(
        full.iter().any(|u| u.mobile_phone.is_some()),
        "the admin's sync caches colleagues' phones (the seed has some)"
    );
    admin.logout().await.unwrap();
    drop(admin);

    let member = signed_in(
        &cloud,
        data.path(),
        &keys,
        DEMO_NON_ADMIN,
        cloud.password_of(DEMO_NON_ADMIN),
    )
    .await;
    let seen = member.list_users("", 0, 100).await.unwrap().users;
    let active = full
        .iter()
        .filter(|u| u.status == UserStatus::Active || u.email == DEMO_NON_ADMIN)
        .count();
    assert!(active < full.len(), "the seed has a disabled user");
    assert_eq!(
        seen.len(),
        active,
        "a non-admin lists active colleagues only, as the cloud would send them"
    );
    for user in seen.iter().filter(|u| u.email != DEMO_NON_ADMIN) {
        assert_eq!(user.mobile_phone, None, "phone of {} leaked", user.email);
        assert_eq!(user.phone_verified_at, None, "{}", user.email);
        assert!(!user.two_factor_enabled, "2FA of {} leaked", user.email);
        assert!(
            user.security_withheld,
            "{} must be marked withheld",
            user.email
        );
    }
    let own = seen.iter().find(|u| u.email == DEMO_NON_ADMIN).unwrap();
    let own_full = full.iter().find(|u| u.email == DEMO_NON_ADMIN).unwrap();
    assert_eq!(own, own_full, "their own row stays full");
    member.logout().await.unwrap();
    drop(member);

    let admin = signed_in(
        &cloud,
        data.path(),
        &keys,
        &cloud.seed.admin_email,
        &cloud.seed.admin_password,
    )
    .await;
    let again = admin.list_users("", 0, 100).await.unwrap().users;
    let phones = |users: &[secureclose_protocol::User]| {
        users
            .iter()
            .map(|u| {
                (
                    u.email.clone(),
                    u.mobile_phone.clone(),
                    u.two_factor_enabled,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        phones(&again),
        phones(&full),
        "the admin sees full rows again"
    );
}

/// The other order on a fresh computer: a non-admin's first sync fills the
/// cache with withheld rows; the admin who signs in next must get every row
/// back in full (their pull starts over), never blanks shown as "no phone".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_after_a_non_admin_on_this_computer_gets_every_row_in_full() {
    let cloud = TestCloud::start().await;
    let reference_dir = tempfile::tempdir().unwrap();
    let reference = signed_in(
        &cloud,
        reference_dir.path(),
        &Arc::new(MemoryKeyStore::default()),
        &cloud.seed.admin_email,
        &cloud.seed.admin_password,
    )
    .await;
    let full = reference.list_users("", 0, 100).await.unwrap().users;
    assert!(full.iter().all(|u| !u.security_withheld));

    let data = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::default());
    let member = signed_in(
        &cloud,
        data.path(),
        &keys,
        DEMO_NON_ADMIN,
        cloud.password_of(DEMO_NON_ADMIN),
    )
    .await;
    let seen = member.list_users("", 0, 100).await.unwrap().users;
    assert!(
        seen.iter()
            .filter(|u| u.email != DEMO_NON_ADMIN)
            .all(|u| u.security_withheld && u.mobile_phone.is_none()),
        "the non-admin's own sync brought withheld rows: {seen:?}"
    );
    member.logout().await.unwrap();
    drop(member);

    let admin = signed_in(
        &cloud,
        data.path(),
        &keys,
        &cloud.seed.admin_email,
        &cloud.seed.admin_password,
    )
    .await;
    let again = admin.list_users("", 0, 100).await.unwrap().users;
    assert_eq!(
        again, full,
        "after an admin's sync this computer shows what a fresh admin computer shows"
    );
}
