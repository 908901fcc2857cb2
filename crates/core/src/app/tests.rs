//! The facade's own behaviour: opening, the cloud address, cache recovery,
//! and the sign-in and edit rules seen through `AppCore`. Only what needs no cloud: the flows against the real cloud live in
//! the `tests/` crate (end to end). An unreachable cloud is a closed port.
use super::*;
use crate::cache::tests::{company, user};
use crate::cache::{now_millis, SessionMeta};
use crate::client::tests::dead_url;
use crate::context::{cache_key_account, CACHE_FILE};
use crate::keystore::tests::MemoryKeyStore;
use crate::session::offline;
use secureclose_protocol::{Role, SecondFactorMethod};

const TOKEN: &str = "tok-0123456789";

async fn core_at(dir: &Path, url: &str, keys: &Arc<MemoryKeyStore>) -> AppCore {
    AppCore::open(CoreConfig {
        data_dir: dir.to_owned(),
        cloud_url: url.to_owned(),
        key_store: keys.clone(),
        policy: PolicySource::None,
        sync_interval: CoreConfig::DEFAULT_SYNC_INTERVAL,
    })
    .await
    .unwrap()
}

fn token_in(keys: &MemoryKeyStore) -> Option<Vec<u8>> {
    keys.entries
        .lock()
        .unwrap()
        .iter()
        .find(|(k, _)| k.starts_with("session:"))
        .map(|(_, v)| v.clone())
}

/// A core restored from a previous run in which `role` (user u1) signed
/// in, pointed at a cloud that no longer answers. No cloud is involved.
async fn restored_offline(dir: &Path, keys: &Arc<MemoryKeyStore>, role: Role) -> AppCore {
    let url = dead_url().await;
    let core = core_at(dir, &url, keys).await;
    let mut me = user("u1", "Alice Admin", "alice@desertmotors.example");
    me.role = role;
    let users = [me, user("u2", "Bob Builder", "bob@desertmotors.example")];
    let meta = SessionMeta {
        user_id: "u1".into(),
        company_id: "c1".into(),
        expires_at: now_millis() + 3_600_000,
        signed_in_at: now_millis(),
    };
    let cache = core.inner.cache_opt().unwrap();
    cache.store_login(&company(), &users, &meta).await.unwrap();
    cache.close().await;
    let account = tokens::token_account(&core.inner.scope().ns, "u1");
    drop(core);
    keys.set(&account, TOKEN.as_bytes()).unwrap();
    let core = core_at(dir, &url, keys).await;
    assert!(
        core.session().await.unwrap().is_some(),
        "set-up: the session must be restored from the cache"
    );
    core
}

#[tokio::test]
async fn offline_login_of_someone_unknown_here_is_refused_and_stays_signed_out() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::default());
    let core = core_at(dir.path(), &dead_url().await, &keys).await;
    assert_eq!(core.app_info().cache_status, CacheStatus::Ready);
    let err = core.login("a@b.example", "pw").await.unwrap_err();
    assert_eq!(
        err.code(),
        "offline_unknown_user",
        "no verifier on this computer: the person must connect: {err:?}"
    );
    assert!(err.user_message().contains("Connect to the internet"));
    assert_eq!(token_in(&keys), None);
    assert_eq!(core.session().await.unwrap(), None);
    assert!(matches!(
        core.list_users("", 0, 50).await,
        Err(CoreError::NotSignedIn)
    ));
}

/// A core whose cache knows u1 (admin, offline verifier for `pw`) and
/// whose cloud is unreachable.
async fn known_offline(
    dir: &Path,
    keys: &Arc<MemoryKeyStore>,
    second_factor_at: Option<i64>,
) -> AppCore {
    let core = restored_offline(dir, keys, Role::Admin).await;
    let cache = core.inner.cache_opt().unwrap();
    let verifier = offline::make_verifier("pw-right").unwrap();
    cache
        .save_offline_credential(
            "u1",
            "alice@desertmotors.example",
            "c1",
            &verifier,
            now_millis(),
            second_factor_at,
        )
        .await
        .unwrap();
    core.logout().await.unwrap();
    core
}

#[tokio::test]
async fn offline_login_checks_the_verifier_counts_failures_across_restarts_and_signs_in() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::default());
    let core = known_offline(dir.path(), &keys, Some(now_millis())).await;
    let err = core
        .login("ALICE@desertmotors.example", "wrong")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_credentials", "{err:?}");
    core.inner.cache_opt().unwrap().close().await;
    // The same cloud address: each address has its own cache.
    let url = core.app_info().cloud_url;
    drop(core);
    let core = core_at(dir.path(), &url, &keys).await;
    let credential = core
        .inner
        .cache_opt()
        .unwrap()
        .offline_credential("alice@desertmotors.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        credential.failures, 1,
        "failures are in the cache: they survive a restart"
    );

    let outcome = core
        .login("alice@desertmotors.example", "pw-right")
        .await
        .unwrap();
    let LoginOutcome::SignedIn { session, .. } = outcome else {
        panic!("a right password within the policy signs in offline");
    };
    assert!(session.offline_sign_in && !session.online);
    assert!(core.session().await.unwrap().unwrap().offline_sign_in);
    assert_eq!(
        token_in(&keys),
        None,
        "no cloud session token until the resume"
    );
    let credential = core
        .inner
        .cache_opt()
        .unwrap()
        .offline_credential("alice@desertmotors.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(credential.failures, 0, "a success clears the count");
}

#[tokio::test]
async fn offline_login_of_a_2fa_user_outside_the_grace_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::default());
    // u1 has 2FA on (test fixture) and the company allows 72 h.
    let core = known_offline(dir.path(), &keys, Some(now_millis() - 73 * 3_600_000)).await;
    let err = core
        .login("alice@desertmotors.example", "pw-right")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "offline_grace_expired", "{err:?}");
    assert_eq!(core.session().await.unwrap(), None);
}

#[tokio::test]
async fn missing_key_reports_unreadable_and_reset_recovers() {
    let url = dead_url().await;
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::default());
    let core = core_at(dir.path(), &url, &keys).await;
    core.inner.cache_opt().unwrap().close().await;
    let scope = core.inner.scope();
    drop(core);
    // Someone cleared the keychain entry of the cache key.
    keys.delete(&scope.key_account).unwrap();

    let core = core_at(dir.path(), &url, &keys).await;
    assert_eq!(
        core.app_info().cache_status,
        CacheStatus::Unreadable,
        "open must not fail: the UI shows the recovery screen"
    );
    let err = core.login("a@b.example", "pw").await.unwrap_err();
    assert_eq!(
        err.code(),
        "cache_unreadable",
        "no login without a cache to hold its data"
    );

    let info = core.reset_cache().await.unwrap();
    assert_eq!(info.cache_status, CacheStatus::Ready);
    let kept: Vec<_> = std::fs::read_dir(scope.cache_path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("cache.db.unreadable-"))
        .collect();
    assert!(!kept.is_empty(), "the old cache is kept aside, not deleted");
}

fn kept_aside(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".unreadable-"))
        .collect()
}

/// Finding 11: a keychain that is locked at start (a transient error)
/// must never cost the cache and the edits queued in it.
#[tokio::test]
async fn a_keychain_error_never_resets_the_cache_or_its_queued_edits() {
    use crate::keystore::tests::FlakyKeyStore;
    let dir = tempfile::tempdir().unwrap();
    let memory = Arc::new(MemoryKeyStore::default());
    let core = restored_offline(dir.path(), &memory, Role::Admin).await;
    let update = UserUpdate {
        display_name: Some("Bob (queued offline)".into()),
        ..UserUpdate::default()
    };
    core.update_user("u2", &update).await.unwrap();
    assert_eq!(core.sync_status().await.pending_edits, 1, "set-up: queued");
    let url = core.app_info().cloud_url;
    core.inner.cache_opt().unwrap().close().await;
    drop(core);

    let flaky = Arc::new(FlakyKeyStore::default());
    *flaky.inner.entries.lock().unwrap() = memory.entries.lock().unwrap().clone();
    flaky.set_down(true);
    let core = AppCore::open(CoreConfig {
        data_dir: dir.path().to_owned(),
        cloud_url: url,
        key_store: flaky.clone(),
        policy: PolicySource::None,
        sync_interval: CoreConfig::DEFAULT_SYNC_INTERVAL,
    })
    .await
    .unwrap();
    assert_eq!(core.app_info().cache_status, CacheStatus::Unreadable);
    let scope = core.inner.scope();
    let (account, cache_dir) = (
        scope.key_account,
        scope.cache_path.parent().unwrap().to_owned(),
    );
    let key = flaky.inner.get(&account).unwrap();

    let err = core.reset_cache().await.unwrap_err();
    assert_eq!(err.code(), "keychain_error", "{err:?}");
    assert!(
        kept_aside(&cache_dir).is_empty(),
        "a keychain error moves nothing aside"
    );
    assert_eq!(
        flaky.inner.get(&account).unwrap(),
        key,
        "nor replaces the key"
    );
    assert_eq!(core.app_info().cache_status, CacheStatus::Unreadable);

    // The keychain is unlocked: the same cache opens, edit and all.
    flaky.set_down(false);
    let info = core.reset_cache().await.unwrap();
    assert_eq!(info.cache_status, CacheStatus::Ready);
    assert!(kept_aside(&cache_dir).is_empty(), "nothing was lost");
    let cache = core.inner.cache_opt().unwrap();
    assert_eq!(
        cache.pending_edits("u1").await.unwrap(),
        1,
        "the queued edit survived"
    );
    assert_eq!(flaky.inner.get(&account).unwrap(), key);

    // Anyone at the sign-in screen: a readable cache is not thrown away.
    let err = core.reset_cache().await.unwrap_err();
    assert_eq!(err.code(), "cache_readable", "{err:?}");
    assert!(kept_aside(&cache_dir).is_empty());
    assert_eq!(cache.pending_edits("u1").await.unwrap(), 1);
}

#[tokio::test]
async fn set_cloud_url_validates_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::default());
    let core = core_at(dir.path(), "http://127.0.0.1:8787", &keys).await;
    let err = core
        .set_cloud_url("http://cloud.example")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_cloud_url");
    assert_eq!(core.app_info().cloud_url, "http://127.0.0.1:8787");
    let info = core.set_cloud_url("https://cloud.example/").await.unwrap();
    assert_eq!(info.cloud_url, "https://cloud.example");
    assert_eq!(
        AppCore::saved_cloud_url(dir.path()).as_deref(),
        Some("https://cloud.example"),
        "the setting survives a restart"
    );
}

#[tokio::test]
async fn set_cloud_url_signs_out_the_session_of_the_old_cloud() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::default());
    let core = restored_offline(dir.path(), &keys, Role::User).await;
    core.set_cloud_url("https://cloud.example").await.unwrap();
    assert_eq!(
        core.session().await.unwrap(),
        None,
        "a session belongs to the cloud that issued it"
    );
    assert_eq!(token_in(&keys), None, "its token goes too");
}

/// Finding 1: a machine policy locks the address; neither the config
/// (environment, saved setting) nor Server settings can change it.
#[cfg(unix)]
#[tokio::test]
async fn a_locked_policy_wins_over_the_config_and_refuses_changes() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let etc = tempfile::tempdir().unwrap();
    let path = etc.path().join("policy.json");
    std::fs::write(&path, r#"{"cloud_url": "https://cloud.dealer.example"}"#).unwrap();
    let owner_uid = std::fs::metadata(&path).unwrap().uid();
    let core = AppCore::open(CoreConfig {
        data_dir: dir.path().to_owned(),
        cloud_url: "http://127.0.0.1:9".into(),
        key_store: Arc::new(MemoryKeyStore::default()),
        policy: PolicySource::File { path, owner_uid },
        sync_interval: CoreConfig::DEFAULT_SYNC_INTERVAL,
    })
    .await
    .unwrap();
    let info = core.app_info();
    assert_eq!(info.cloud_url, "https://cloud.dealer.example");
    assert_eq!(info.default_cloud_url, "https://cloud.dealer.example");
    assert!(info.cloud_url_locked);
    let err = core
        .set_cloud_url("http://127.0.0.1:8787")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "cloud_url_locked", "{err:?}");
    assert!(
        err.user_message().contains("organisation"),
        "{}",
        err.user_message()
    );
    assert_eq!(core.app_info().cloud_url, "https://cloud.dealer.example");
    assert_eq!(
        AppCore::saved_cloud_url(dir.path()),
        None,
        "nothing was saved"
    );
}

#[tokio::test]
async fn without_a_policy_the_default_is_the_builds_and_nothing_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::default());
    let core = core_at(dir.path(), "https://relay.example", &keys).await;
    let info = core.app_info();
    assert_eq!(info.default_cloud_url, DEFAULT_CLOUD_URL);
    assert!(!info.cloud_url_locked);
    assert_ne!(
        info.cloud_url, info.default_cloud_url,
        "the UI warns on this"
    );
    assert!(
        cfg!(debug_assertions) || DEFAULT_CLOUD_URL.starts_with("https://"),
        "release builds default to https"
    );
}

/// Finding 1: each address has its own cache and keychain accounts.
#[tokio::test]
async fn each_cloud_address_has_its_own_cache_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::default());
    let core = restored_offline(dir.path(), &keys, Role::Admin).await;
    let first = core.app_info().cloud_url;
    core.update_user(
        "u2",
        &UserUpdate {
            display_name: Some("Queued".into()),
            ..UserUpdate::default()
        },
    )
    .await
    .unwrap();
    let tokens_before = tokens::token_account(&core.inner.scope().ns, "u1");
    core.set_cloud_url("https://other.example").await.unwrap();
    assert_ne!(
        tokens::token_account(&core.inner.scope().ns, "u1"),
        tokens_before
    );
    let other = core.inner.cache_opt().unwrap();
    assert_eq!(
        other.pending_edits("u1").await.unwrap(),
        0,
        "nothing crossed"
    );
    assert_eq!(
        other.list_users("", None, 0, 10).await.unwrap().1,
        0,
        "no rows crossed"
    );
    core.set_cloud_url(&first).await.unwrap();
    let back = core.inner.cache_opt().unwrap();
    assert_eq!(
        back.pending_edits("u1").await.unwrap(),
        1,
        "switching back finds the first cloud's outbox intact"
    );
}

/// A data dir from before per-cloud caches: its cache (queued edit and
/// all) becomes the cache of the address in use at the first start.
#[tokio::test]
async fn the_cache_from_before_per_cloud_caches_is_adopted_by_the_current_address() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::default());
    let core = restored_offline(dir.path(), &keys, Role::Admin).await;
    core.update_user(
        "u2",
        &UserUpdate {
            display_name: Some("Queued before the upgrade".into()),
            ..UserUpdate::default()
        },
    )
    .await
    .unwrap();
    let url = core.app_info().cloud_url;
    let scope = core.inner.scope();
    core.inner.cache_opt().unwrap().close().await;
    drop(core);
    // Lay it out as the previous version did.
    let data_dir = dir.path().canonicalize().unwrap();
    let legacy = data_dir.join(CACHE_FILE);
    cache::move_with_sidecars(&scope.cache_path, &legacy).unwrap();
    let key = keys.get(&scope.key_account).unwrap().unwrap();
    keys.delete(&scope.key_account).unwrap();
    keys.set(&cache_key_account(&data_dir), &key).unwrap();

    let core = core_at(dir.path(), &url, &keys).await;
    assert_eq!(core.app_info().cache_status, CacheStatus::Ready);
    assert!(!legacy.exists(), "moved, not copied");
    assert_eq!(
        core.inner
            .cache_opt()
            .unwrap()
            .pending_edits("u1")
            .await
            .unwrap(),
        1,
        "the queued edit survived the upgrade"
    );
}

#[tokio::test]
async fn app_info_reports_the_crate_version() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::default());
    let core = core_at(dir.path(), "http://127.0.0.1:8787", &keys).await;
    let info = core.app_info();
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(info.cloud_url, "http://127.0.0.1:8787");
}

#[tokio::test]
async fn second_factor_steps_without_a_pending_login_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::default());
    let core = core_at(dir.path(), &dead_url().await, &keys).await;
    for (step, err) in [
        (
            "verify_code",
            core.verify_code(SecondFactorMethod::Sms, "123456")
                .await
                .err(),
        ),
        ("resend_code", core.resend_code().await.err()),
        (
            "enroll_phone",
            core.enroll_phone("480 555 0100").await.err(),
        ),
    ] {
        assert!(
            matches!(err, Some(CoreError::NoPendingLogin)),
            "{step} with no login waiting must be refused before any cloud call, got {err:?}"
        );
    }
    core.cancel_login()
        .await
        .expect("cancelling nothing is harmless");
    assert_eq!(core.session().await.unwrap(), None);
}

#[tokio::test]
async fn a_non_admin_is_refused_locally_before_the_cloud() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::default());
    let core = restored_offline(dir.path(), &keys, Role::User).await;
    let err = core
        .update_user("u2", &UserUpdate::default())
        .await
        .unwrap_err();
    // The cloud is unreachable: `forbidden` (not `offline`) proves the
    // refusal is local.
    assert_eq!(err.code(), "forbidden", "got {err:?}");
    let err = core
        .update_company(&CompanyUpdate::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "forbidden", "got {err:?}");
    assert!(
        core.session().await.unwrap().is_some(),
        "a refusal does not sign out"
    );
}

#[tokio::test]
async fn an_offline_admin_edit_is_applied_locally_and_queued() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::default());
    let core = restored_offline(dir.path(), &keys, Role::Admin).await;
    let update = UserUpdate {
        mobile_phone: Some(Some("(480) 555-9999".into())),
        ..UserUpdate::default()
    };
    let user = core
        .update_user("u2", &update)
        .await
        .expect("offline, an admin's edit is accepted optimistically");
    assert_eq!(
        user.mobile_phone.as_deref(),
        Some("+14805559999"),
        "normalised as the cloud will"
    );
    let page = core.list_users("bob", 0, 10).await.unwrap();
    assert_eq!(page.users[0], user, "the cache shows the edit at once");
    let status = core.sync_now().await.unwrap();
    assert_eq!(
        status.pending_edits, 1,
        "the edit waits in the outbox: {status:?}"
    );
    assert_eq!(status.state, crate::views::SyncState::Offline, "{status:?}");
    assert!(
        status.next_retry_at.is_some(),
        "the status bar can say when it retries"
    );

    let err = core
        .update_user(
            "u2",
            &UserUpdate {
                mobile_phone: Some(Some("12ab".into())),
                ..UserUpdate::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_phone", "{err:?}");
    assert_eq!(
        core.sync_status().await.pending_edits,
        1,
        "an invalid edit writes nothing"
    );
    let session = core.session().await.unwrap().expect("still signed in");
    assert!(!session.online, "the failed calls mark the app offline");

    let queued = core
        .queue_user_edit(
            "u2",
            &UserUpdate {
                display_name: Some("Robert".into()),
                ..UserUpdate::default()
            },
        )
        .await
        .unwrap();
    let key = queued
        .idempotency_key
        .expect("a change is queued with its key");
    assert_eq!(queued.entity.display_name, "Robert");
    let keys_now = core.pending_edit_keys().await.unwrap();
    assert_eq!(keys_now.len(), 2);
    assert_eq!(keys_now[1], key, "pending keys in edit order");
    let same = core
        .queue_user_edit(
            "u2",
            &UserUpdate {
                display_name: Some("Robert".into()),
                ..UserUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        same.idempotency_key, None,
        "nothing changed: nothing queued"
    );
}

#[tokio::test]
async fn admin_actions_need_a_session() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::default());
    let core = core_at(dir.path(), &dead_url().await, &keys).await;
    assert!(matches!(
        core.update_user("u2", &UserUpdate::default()).await,
        Err(CoreError::NotSignedIn)
    ));
    assert!(matches!(
        core.update_company(&CompanyUpdate::default()).await,
        Err(CoreError::NotSignedIn)
    ));
    assert!(matches!(core.refresh().await, Err(CoreError::NotSignedIn)));
}

#[test]
fn each_data_dir_gets_its_own_key_account() {
    assert_ne!(
        cache_key_account(Path::new("/a")),
        cache_key_account(Path::new("/b")),
        "two data dirs sharing a key account would make one cache unreadable"
    );
}

// --- The idle lock and the absolute session limit ---

const LOCKED: &str = "session_locked";
const ENDED: &str = "session_ended";

/// `restored_offline` (u1 admin, token kept), with an offline verifier of
/// `pw-right` for u1: a session a restart restores, and that can unlock.
async fn restored_with_verifier(dir: &Path, keys: &Arc<MemoryKeyStore>) -> AppCore {
    let core = restored_offline(dir, keys, Role::Admin).await;
    let verifier = offline::make_verifier("pw-right").unwrap();
    core.inner
        .cache_opt()
        .unwrap()
        .save_offline_credential(
            "u1",
            "alice@desertmotors.example",
            "c1",
            &verifier,
            now_millis(),
            None,
        )
        .await
        .unwrap();
    core
}

fn rename() -> UserUpdate {
    UserUpdate {
        display_name: Some("Robert Builder".into()),
        ..UserUpdate::default()
    }
}

async fn assert_all_refused(core: &AppCore, code: &str) {
    let refused = [
        ("list_users", core.list_users("", 0, 50).await.err()),
        ("company", core.company().await.err()),
        ("session", core.session().await.err()),
        ("update_user", core.update_user("u2", &rename()).await.err()),
        (
            "update_company",
            core.update_company(&CompanyUpdate {
                name: Some("Renamed".into()),
                ..CompanyUpdate::default()
            })
            .await
            .err(),
        ),
        ("refresh", core.refresh().await.err()),
        ("sync_now", core.sync_now().await.err()),
    ];
    for (call, err) in refused {
        let err = err.unwrap_or_else(|| panic!("{call} must be refused while locked"));
        assert_eq!(err.code(), code, "{call}: {err:?}");
    }
}

#[tokio::test]
async fn a_locked_session_refuses_reads_and_edits_until_the_password_unlocks_it() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::default());
    let core = restored_with_verifier(dir.path(), &keys).await;
    assert_eq!(core.app_info().locked, None);
    let before = core.session().await.unwrap().unwrap();
    assert_eq!(before.idle_lock_minutes, 30, "the default idle time");

    core.lock_session().await.unwrap();
    let locked = core.app_info().locked.expect("app_info says locked");
    assert_eq!(
        locked.display_name, "Alice Admin",
        "the lock screen names who"
    );
    assert_all_refused(&core, LOCKED).await;
    let err = core.list_users("", 0, 50).await.unwrap_err();
    assert!(
        err.user_message().contains("locked"),
        "a clear message: {}",
        err.user_message()
    );
    let cache = core.inner.cache_opt().unwrap();
    assert_eq!(
        cache.user("u2").await.unwrap().unwrap().display_name,
        "Bob Builder",
        "the refused edit changed nothing"
    );

    let view = core
        .unlock_session(Sensitive::new("pw-right".into()))
        .await
        .unwrap();
    assert_eq!(view.user.id, "u1", "unlocking returns the same session");
    assert_eq!(core.app_info().locked, None);
    assert_eq!(core.list_users("", 0, 50).await.unwrap().total, 2);
    assert!(core.company().await.is_ok());
    assert!(
        !cache.session_locked().await.unwrap(),
        "unlocked on disk too"
    );
}

#[tokio::test]
async fn wrong_unlock_passwords_are_counted_and_the_offline_lock_limit_signs_out() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::default());
    let core = restored_with_verifier(dir.path(), &keys).await;
    core.lock_session().await.unwrap();
    let cache = core.inner.cache_opt().unwrap();
    let err = core
        .unlock_session(Sensitive::new("wrong".into()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_credentials", "{err:?}");
    let failures = |cache: Arc<cache::Cache>| async move {
        cache
            .offline_credential("alice@desertmotors.example")
            .await
            .unwrap()
            .unwrap()
            .failures
    };
    assert_eq!(
        failures(cache.clone()).await,
        1,
        "the wrong password counts"
    );
    assert_eq!(
        core.app_info().locked.map(|l| l.display_name).as_deref(),
        Some("Alice Admin"),
        "still locked"
    );
    // Up to one short of the limit, long enough ago that no slow-down applies.
    let long_ago = now_millis() - 3_600_000;
    while failures(cache.clone()).await < offline::LOCK_AFTER_FAILURES - 1 {
        cache.record_offline_failure("u1", long_ago).await.unwrap();
    }
    let err = core
        .unlock_session(Sensitive::new("wrong again".into()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ENDED, "{err:?}");
    assert!(
        err.user_message().contains("signed out"),
        "says why: {}",
        err.user_message()
    );
    assert_eq!(core.session().await.unwrap(), None, "signed out");
    assert_eq!(token_in(&keys), None, "the token is gone");
    assert_eq!(core.app_info().locked, None);
    assert!(!cache.session_locked().await.unwrap());
}

#[tokio::test]
async fn the_lock_survives_reopening_the_cache_and_the_restored_session_starts_locked() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::default());
    let core = restored_with_verifier(dir.path(), &keys).await;
    core.lock_session().await.unwrap();
    let url = core.app_info().cloud_url;
    core.inner.cache_opt().unwrap().close().await;
    drop(core);

    let core = core_at(dir.path(), &url, &keys).await;
    assert_eq!(
        core.app_info().locked.map(|l| l.display_name).as_deref(),
        Some("Alice Admin"),
        "killing the app is no way around the lock"
    );
    assert_all_refused(&core, LOCKED).await;
    core.unlock_session(Sensitive::new("pw-right".into()))
        .await
        .unwrap();
    assert!(core.list_users("", 0, 50).await.is_ok());
    core.inner.cache_opt().unwrap().close().await;
    drop(core);
    let core = core_at(dir.path(), &url, &keys).await;
    assert_eq!(core.app_info().locked, None, "the unlock is kept too");
    assert!(core.list_users("", 0, 50).await.is_ok());
}

/// Moves the cached session's sign-in `hours_ago`.
async fn signed_in_hours_ago(core: &AppCore, hours_ago: i64) {
    let cache = core.inner.cache_opt().unwrap();
    let mut meta = cache.session_meta().await.unwrap().unwrap();
    meta.signed_in_at = now_millis() - hours_ago * 3_600_000;
    cache.set_session(&meta).await.unwrap();
}

#[tokio::test]
async fn the_absolute_limit_ends_the_session_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::default());
    let core = restored_with_verifier(dir.path(), &keys).await;
    signed_in_hours_ago(&core, 11).await;
    assert!(
        core.list_users("", 0, 50).await.is_ok(),
        "within the limit of 12 hours"
    );
    signed_in_hours_ago(&core, 12).await;
    let err = core.list_users("", 0, 50).await.unwrap_err();
    assert_eq!(err.code(), ENDED, "{err:?}");
    assert!(
        err.user_message().contains("12 hours"),
        "says why: {}",
        err.user_message()
    );
    assert_eq!(core.session().await.unwrap(), None, "signed out");
    assert_eq!(token_in(&keys), None, "a full sign-in is needed");
}

#[tokio::test]
async fn a_session_past_its_absolute_limit_is_not_restored_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::default());
    let core = restored_with_verifier(dir.path(), &keys).await;
    signed_in_hours_ago(&core, 13).await;
    let url = core.app_info().cloud_url;
    core.inner.cache_opt().unwrap().close().await;
    drop(core);
    let core = core_at(dir.path(), &url, &keys).await;
    assert_eq!(core.session().await.unwrap(), None);
    assert_eq!(token_in(&keys), None);
}

#[tokio::test]
async fn the_sync_pass_ends_a_session_past_its_absolute_limit() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::default());
    let core = restored_with_verifier(dir.path(), &keys).await;
    core.lock_session().await.unwrap();
    signed_in_hours_ago(&core, 12).await;
    // Locked, nobody at the desk: the sync still ends it.
    sync::sync_once(&core.inner).await;
    assert!(core.inner.state.signed_in().is_err(), "signed out");
    assert_eq!(token_in(&keys), None);
    assert_eq!(core.app_info().locked, None);
}

#[tokio::test]
async fn the_limits_are_the_companys_own_policy() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::default());
    let core = restored_with_verifier(dir.path(), &keys).await;
    let cache = core.inner.cache_opt().unwrap();
    let mut strict = cache::tests::company();
    strict.session_policy = secureclose_protocol::SessionPolicy {
        idle_lock_minutes: 7,
        max_session_hours: 2,
        trusted_computer_days: 0,
    };
    cache.store_company(&strict).await.unwrap();
    let view = core.session().await.unwrap().unwrap();
    assert_eq!(
        view.idle_lock_minutes, 7,
        "the UI locks after the company's idle time"
    );
    signed_in_hours_ago(&core, 1).await;
    assert!(core.list_users("", 0, 50).await.is_ok(), "within 2 hours");
    signed_in_hours_ago(&core, 2).await;
    let err = core.list_users("", 0, 50).await.unwrap_err();
    assert_eq!(
        err.code(),
        ENDED,
        "the company's 2 hours, not the default 12: {err:?}"
    );
}
