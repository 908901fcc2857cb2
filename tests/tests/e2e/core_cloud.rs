//! The real desktop core against the real cloud over loopback HTTP.

use std::collections::BTreeSet;
use std::sync::Arc;

use secureclose_core::AppCore;
use secureclose_protocol::{codes, ApiError};

use crate::core_sync::wait_for_first_sync;
use crate::support::{assert_no_plaintext, company_emails, open_core, MemoryKeyStore, TestCloud};

async fn cached_emails(core: &AppCore, query: &str) -> BTreeSet<String> {
    let page = core
        .list_users(query, 0, 100)
        .await
        .expect("listing users from the cache must work after a login");
    assert_eq!(
        page.total as usize,
        page.users.len(),
        "total counts every match; with one page of 100 all matches are on it"
    );
    page.users.into_iter().map(|u| u.email).collect()
}

async fn sign_in_as_admin(core: &AppCore, cloud: &TestCloud) {
    let outcome = core
        .login(&cloud.seed.admin_email, &cloud.seed.admin_password)
        .await
        .expect("the demo admin's seeded password must be accepted");
    let json = serde_json::to_value(&outcome).unwrap();
    assert_eq!(
        json["state"], "signed_in",
        "no second factor is configured yet, so a correct password signs in: {json}"
    );
    assert_eq!(
        json["session"]["user"]["email"], cloud.seed.admin_email,
        "the session must be the admin's"
    );
    wait_for_first_sync(core).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_admin_signs_in_sees_the_company_users_and_signs_out() {
    let cloud = TestCloud::start().await;
    let data = tempfile::tempdir().unwrap();
    let core = open_core(
        data.path(),
        cloud.base_url(),
        Arc::new(MemoryKeyStore::default()),
    )
    .await;
    assert!(
        core.session().await.unwrap().is_none(),
        "a fresh install must start signed out"
    );

    sign_in_as_admin(&core, &cloud).await;

    let expected = company_emails(&cloud.seed);
    assert_eq!(
        cached_emails(&core, "").await,
        expected,
        "the Users tab must show exactly the admin's company (and no other company's users)"
    );
    let company = core.company().await.unwrap();
    assert_eq!(
        company.name, cloud.seed.company_name,
        "the company profile is the admin's own"
    );
    assert_eq!(company.id, cloud.seed.company_id);
    let session = core
        .session()
        .await
        .unwrap()
        .expect("signed in after login");
    assert_eq!(session.user.email, cloud.seed.admin_email);
    assert_eq!(session.company.name, cloud.seed.company_name);

    core.logout()
        .await
        .expect("logout must succeed while online");
    assert!(
        core.session().await.unwrap().is_none(),
        "after sign-out there must be no session"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_and_unknown_email_are_both_invalid_credentials() {
    let cloud = TestCloud::start().await;
    let data = tempfile::tempdir().unwrap();
    let core = open_core(
        data.path(),
        cloud.base_url(),
        Arc::new(MemoryKeyStore::default()),
    )
    .await;

    let err = core
        .login(&cloud.seed.admin_email, "not-the-password")
        .await
        .expect_err("a wrong password must not sign in");
    let wrong_password = ApiError::from(&err);
    assert_eq!(
        wrong_password.code,
        codes::INVALID_CREDENTIALS,
        "{wrong_password:?}"
    );
    assert!(
        !wrong_password.message.contains("not-the-password"),
        "the error must never echo the password"
    );

    let err = core
        .login("nobody@desertsun.example", &cloud.seed.admin_password)
        .await
        .expect_err("an unknown email must not sign in");
    let unknown = ApiError::from(&err);
    assert_eq!(
        unknown, wrong_password,
        "unknown email and wrong password must look identical (no account enumeration)"
    );
    assert!(
        core.session().await.unwrap().is_none(),
        "failed logins leave the app signed out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_and_company_stay_readable_from_the_cache_when_the_cloud_is_gone() {
    let mut cloud = TestCloud::start().await;
    let data = tempfile::tempdir().unwrap();
    let core = open_core(
        data.path(),
        cloud.base_url(),
        Arc::new(MemoryKeyStore::default()),
    )
    .await;
    sign_in_as_admin(&core, &cloud).await;
    let online = cached_emails(&core, "").await;

    cloud.stop().await;

    assert_eq!(
        cached_emails(&core, "").await,
        online,
        "F&I offices lose connectivity: the users must still be listed from the cache"
    );
    let (target, _) = &cloud.seed.users[0];
    let local_part = target.split('@').next().unwrap();
    assert_eq!(
        cached_emails(&core, local_part).await,
        BTreeSet::from([target.clone()]),
        "search runs on the cache too, offline"
    );
    assert_eq!(
        core.company().await.unwrap().name,
        cloud.seed.company_name,
        "the company profile must also come from the cache offline"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_files_are_encrypted_and_contain_no_user_email() {
    let cloud = TestCloud::start().await;
    let data = tempfile::tempdir().unwrap();
    let core = open_core(
        data.path(),
        cloud.base_url(),
        Arc::new(MemoryKeyStore::default()),
    )
    .await;
    sign_in_as_admin(&core, &cloud).await;
    let emails = cached_emails(&core, "").await;
    assert!(
        emails.len() > 1,
        "the cache must hold the company's users for this check to mean anything"
    );

    // While open (the WAL holds the fresh writes) and after closing.
    let checked = assert_no_plaintext(data.path(), &emails);
    assert!(checked > 0, "the cache must exist on disk after a login");
    drop(core);
    assert_no_plaintext(data.path(), &emails);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_whose_key_is_lost_is_reported_unreadable_and_can_be_reset() {
    let cloud = TestCloud::start().await;
    let data = tempfile::tempdir().unwrap();
    {
        let core = open_core(
            data.path(),
            cloud.base_url(),
            Arc::new(MemoryKeyStore::default()),
        )
        .await;
        sign_in_as_admin(&core, &cloud).await;
    }

    // A new keychain (reinstalled OS, wiped keyring) has no key for the existing file.
    let core = open_core(
        data.path(),
        cloud.base_url(),
        Arc::new(MemoryKeyStore::default()),
    )
    .await;
    let info = serde_json::to_value(core.app_info()).unwrap();
    assert_eq!(
        info["cache_status"], "unreadable",
        "a cache that cannot be decrypted must be reported, not crash or be silently replaced"
    );

    let info = serde_json::to_value(core.reset_cache().await.unwrap()).unwrap();
    assert_eq!(
        info["cache_status"], "ready",
        "reset gives a fresh, usable cache"
    );
    sign_in_as_admin(&core, &cloud).await;
    assert_eq!(
        cached_emails(&core, "").await,
        company_emails(&cloud.seed),
        "after a reset the data re-syncs at the next login"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a keychain session (Secret Service or kernel keyring): run scripts/test"]
async fn the_os_keychain_keeps_the_cache_key_across_restarts() {
    let cloud = TestCloud::start().await;
    let data = tempfile::tempdir().unwrap();
    let keychain = || -> Arc<dyn secureclose_core::KeyStore> {
        Arc::new(secureclose_core::OsKeyStore::new().expect("a real OS keychain must be reachable"))
    };
    {
        let core = open_core(data.path(), cloud.base_url(), keychain()).await;
        sign_in_as_admin(&core, &cloud).await;
        core.logout().await.unwrap();
    }

    // A restart: a new store object, same OS keychain.
    let core = open_core(data.path(), cloud.base_url(), keychain()).await;
    let info = serde_json::to_value(core.app_info()).unwrap();
    assert_eq!(
        info["cache_status"], "ready",
        "the key stored in the OS keychain must open the same cache after a restart"
    );
    sign_in_as_admin(&core, &cloud).await;
    assert_eq!(cached_emails(&core, "").await, company_emails(&cloud.seed));
    core.logout().await.unwrap();
}
