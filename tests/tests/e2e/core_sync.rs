//! Offline-first sync through the real core against the real cloud over
//! loopback: optimistic edits, the outbox, push/pull between two desktops,
//! refusals and conflicts, a cloud that stops and comes back, a revoked
//! session. "Offline" is the cloud stopped; it restarts on the same port
//! with the same database.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use secureclose_cloud::{CloudConfig, RunningCloud};
use secureclose_core::client::CloudClient;
use secureclose_core::views::SyncState;
use secureclose_core::{AppCore, CoreConfig, Sensitive};
use secureclose_protocol::{codes, User, UserUpdate};

use secureclose_tests::fault_proxy::{FaultPlan, FaultProxy};

use crate::support::{company_emails, expect_ended, MemoryKeyStore, TestCloud, DEMO_NON_ADMIN};

/// A core whose scheduler never runs on its own timer during a test (it
/// still runs at sign-in, after edits and on backoff), so what a test
/// observes is caused by the test.
pub(crate) async fn open_quiet(dir: &Path, url: &str, keys: Arc<MemoryKeyStore>) -> AppCore {
    AppCore::open(CoreConfig {
        data_dir: dir.to_path_buf(),
        cloud_url: url.to_owned(),
        key_store: keys,
        policy: secureclose_core::PolicySource::None,
        sync_interval: Duration::from_secs(3600),
    })
    .await
    .expect("the core must open on an empty data dir")
}

pub(crate) async fn sign_in(core: &AppCore, email: &str, password: &str) {
    let outcome = core
        .login(email, password)
        .await
        .expect("a seeded password signs in");
    let json = serde_json::to_value(&outcome).unwrap();
    assert_eq!(json["state"], "signed_in", "{email} needs no code: {json}");
    wait_for_first_sync(core).await;
}

/// Sign-in stores only the signed-in user; the sync it starts downloads the
/// rest of the company. Waits for that pass, as the Users tab does.
pub(crate) async fn wait_for_first_sync(core: &AppCore) {
    let status = core.sync_now().await.expect("signed in, so the sync runs");
    assert!(
        core.session()
            .await
            .unwrap()
            .unwrap()
            .last_synced_at
            .is_some(),
        "the first sync after sign-in must complete against a reachable cloud: {status:?}"
    );
}

pub(crate) async fn admin_core(cloud: &TestCloud, dir: &Path) -> (AppCore, Arc<MemoryKeyStore>) {
    let keys = Arc::new(MemoryKeyStore::default());
    let core = open_quiet(dir, cloud.base_url(), keys.clone()).await;
    sign_in(&core, &cloud.seed.admin_email, &cloud.seed.admin_password).await;
    (core, keys)
}

/// The cloud again on the address it had, over the same database.
pub(crate) async fn restart(cloud: &TestCloud) -> RunningCloud {
    let addr: SocketAddr = cloud
        .base_url()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let mut config = CloudConfig::new(&cloud.database_url, addr);
    config.totp_key = Some(secureclose_cloud::sealing::SealingKey::from_bytes(
        [0x5c; 32],
    ));
    secureclose_cloud::start(config)
        .await
        .expect("the cloud restarts on its old port")
}

pub(crate) async fn cached(core: &AppCore, query: &str) -> User {
    let page = core.list_users(query, 0, 2).await.unwrap();
    assert_eq!(page.total, 1, "{query} must match one cached user");
    page.users[0].clone()
}

/// The users as the cloud holds them, read with `keys`' session token.
pub(crate) async fn cloud_users(cloud_url: &str, keys: &MemoryKeyStore) -> Vec<User> {
    let token = keys.session_tokens().pop().expect("a session token");
    CloudClient::new(cloud_url)
        .unwrap()
        .users(&Sensitive::new(token))
        .await
        .unwrap()
        .users
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_online_edit_is_answered_by_the_cloud_and_the_other_desktop_pulls_it() {
    let cloud = TestCloud::start().await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, _) = admin_core(&cloud, dir_a.path()).await;
    let (b, _) = admin_core(&cloud, dir_b.path()).await;
    let marcus = cached(&a, "marcus").await;

    let updated = a
        .update_user(
            &marcus.id,
            &UserUpdate {
                display_name: Some("Marcus R. Reyes".into()),
                ..UserUpdate::default()
            },
        )
        .await
        .expect("online, the cloud applies the edit");
    assert_eq!(updated.display_name, "Marcus R. Reyes");
    assert_eq!(
        updated.version,
        marcus.version + 1,
        "the answer is the cloud's row (new version), not the optimistic one"
    );
    assert_eq!(
        cached(&a, "marcus").await,
        updated,
        "A's cache holds the cloud's answer"
    );
    let status = a.sync_status().await;
    assert_eq!(
        status.pending_edits, 0,
        "acknowledged edits leave the outbox: {status:?}"
    );

    let status = b.sync_now().await.unwrap();
    assert_eq!(status.state, SyncState::Idle, "{status:?}");
    assert!(
        status.online && status.last_synced_at.is_some(),
        "{status:?}"
    );
    assert_eq!(
        cached(&b, "marcus").await,
        updated,
        "B pulls A's edit: same row, same version"
    );
    let again = b.sync_now().await.unwrap();
    assert_eq!(again.pending_edits, 0, "an idle check changes nothing");
    assert_eq!(cached(&b, "marcus").await, updated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_edit_of_the_same_field_is_a_conflict_rolled_back_to_the_cloud() {
    let cloud = TestCloud::start().await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, _) = admin_core(&cloud, dir_a.path()).await;
    let (b, _) = admin_core(&cloud, dir_b.path()).await;
    let lucia = cached(&a, "lucia").await;

    // B changes Lucia's name; A has not pulled it (its timer is an hour).
    let by_b = b
        .update_user(
            &lucia.id,
            &UserUpdate {
                display_name: Some("Lucia F. (B)".into()),
                ..UserUpdate::default()
            },
        )
        .await
        .unwrap();
    // A changes the same field from the old value, and another field.
    let err = a
        .update_user(
            &lucia.id,
            &UserUpdate {
                display_name: Some("Lucia F. (A)".into()),
                role: Some(secureclose_protocol::Role::Admin),
                ..UserUpdate::default()
            },
        )
        .await
        .expect_err("the same field changed meanwhile: conflict");
    assert_eq!(err.code(), codes::CONFLICT, "{err:?}");
    let now = cached(&a, "lucia").await;
    assert_eq!(
        now, by_b,
        "the whole edit is rolled back to the cloud's row"
    );
    let status = a.sync_status().await;
    assert_eq!(status.pending_edits, 0);
    assert!(
        status.notices.is_empty(),
        "the dialog showed the refusal: no notice on top: {status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_made_while_the_cloud_is_down_sync_when_it_returns_and_refusals_become_notices() {
    let mut cloud = TestCloud::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (core, keys) = admin_core(&cloud, dir.path()).await;
    let marcus = cached(&core, "marcus").await;
    let tom = cached(&core, "tom").await;
    cloud.stop().await;

    let edited = core
        .update_user(
            &marcus.id,
            &UserUpdate {
                mobile_phone: Some(Some("(602) 555-0199".into())),
                ..UserUpdate::default()
            },
        )
        .await
        .expect("offline, the edit is accepted optimistically");
    assert_eq!(edited.mobile_phone.as_deref(), Some("+16025550199"));
    assert_eq!(edited.phone_verified_at, None, "a new number is unverified");
    // Marcus's email for Tom: the desktop cannot know every email in the
    // company, so only the cloud refuses it (409, another user has it).
    let refused_later = core
        .update_user(
            &tom.id,
            &UserUpdate {
                email: Some(marcus.email.clone()),
                ..UserUpdate::default()
            },
        )
        .await
        .expect("offline, even an edit the cloud will refuse is queued");
    assert_eq!(refused_later.email, marcus.email, "shown optimistically");

    let status = core.sync_now().await.unwrap();
    assert_eq!(status.state, SyncState::Offline, "{status:?}");
    assert!(!status.online);
    assert_eq!(status.pending_edits, 2, "both edits wait: {status:?}");
    assert!(status.next_retry_at.is_some());
    core.logout().await.unwrap();
    assert_eq!(
        core.sync_status().await.state,
        SyncState::Stopped,
        "sign-out stops the sync"
    );

    let _cloud_again = restart(&cloud).await;
    sign_in(&core, &cloud.seed.admin_email, &cloud.seed.admin_password).await;
    assert_eq!(
        cached(&core, "marcus").await.mobile_phone.as_deref(),
        Some("+16025550199"),
        "a fresh login keeps the queued edit visible over the cloud's rows"
    );
    let status = core.sync_now().await.unwrap();
    assert_eq!(
        status.pending_edits, 0,
        "the next session of the same admin pushes the outbox: {status:?}"
    );
    assert_eq!(status.state, SyncState::Idle, "{status:?}");
    assert_eq!(
        status.notices.len(),
        1,
        "one refusal, shown as a notice: {status:?}"
    );
    let notice = &status.notices[0];
    assert_eq!(notice.subject, "Tom Becker");
    assert_eq!(notice.code, codes::CONFLICT, "{notice:?}");
    assert_eq!(
        cached(&core, "tom").await.email,
        tom.email,
        "the refused edit is rolled back"
    );

    let on_cloud = cloud_users(cloud.base_url(), &keys).await;
    let marcus_now = on_cloud.iter().find(|u| u.id == marcus.id).unwrap();
    assert_eq!(
        marcus_now.mobile_phone.as_deref(),
        Some("+16025550199"),
        "the edit reached the cloud"
    );
    assert_eq!(marcus_now, &cached(&core, "marcus").await, "cache == cloud");
    assert_eq!(
        on_cloud.iter().find(|u| u.id == tom.id).unwrap().email,
        tom.email,
        "the cloud kept Tom's own email"
    );

    let status = core.dismiss_sync_notice(notice.id).await.unwrap();
    assert!(
        status.notices.is_empty(),
        "a dismissed notice is gone: {status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_session_stops_the_sync_and_keeps_the_outbox_for_the_next_sign_in() {
    let cloud = TestCloud::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (core, keys) = admin_core(&cloud, dir.path()).await;
    let token = Sensitive::new(keys.session_tokens().pop().unwrap());
    let jamal = cached(&core, "jamal").await;
    // The session ends on the cloud (e.g. an admin reset), not on this desktop.
    CloudClient::new(cloud.base_url())
        .unwrap()
        .logout(&token)
        .await
        .unwrap();

    let shown = core
        .update_user(
            &jamal.id,
            &UserUpdate {
                display_name: Some("Jamal C.".into()),
                ..UserUpdate::default()
            },
        )
        .await
        .expect("the edit is queued before the cloud is asked");
    assert_eq!(shown.display_name, "Jamal C.");
    let _ = core.sync_now().await;
    expect_ended(&core, "session was ended on the SecureClose cloud").await;
    assert_eq!(core.sync_status().await.state, SyncState::Stopped);
    assert!(keys.session_tokens().is_empty(), "the dead token is gone");

    sign_in(&core, &cloud.seed.admin_email, &cloud.seed.admin_password).await;
    let status = core.sync_now().await.unwrap();
    assert_eq!(
        status.pending_edits, 0,
        "the kept edit is pushed by the next session: {status:?}"
    );
    let on_cloud = cloud_users(cloud.base_url(), &keys).await;
    assert_eq!(
        on_cloud
            .iter()
            .find(|u| u.id == jamal.id)
            .unwrap()
            .display_name,
        "Jamal C."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_admin_syncs_the_company_but_cannot_queue_edits() {
    let cloud = TestCloud::start().await;
    let (dir_a, dir_m) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (admin, _) = admin_core(&cloud, dir_a.path()).await;
    let keys = Arc::new(MemoryKeyStore::default());
    let marcus = open_quiet(dir_m.path(), cloud.base_url(), keys).await;
    sign_in(&marcus, DEMO_NON_ADMIN, cloud.password_of(DEMO_NON_ADMIN)).await;
    let tom = cached(&admin, "tom").await;
    let err = marcus
        .update_user(
            &tom.id,
            &UserUpdate {
                display_name: Some("x".into()),
                ..UserUpdate::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), codes::FORBIDDEN);
    assert_eq!(
        marcus.sync_status().await.pending_edits,
        0,
        "nothing queued"
    );

    admin
        .update_user(
            &tom.id,
            &UserUpdate {
                display_name: Some("Thomas Becker".into()),
                ..UserUpdate::default()
            },
        )
        .await
        .unwrap();
    marcus.sync_now().await.unwrap();
    assert_eq!(
        cached(&marcus, "thomas").await.display_name,
        "Thomas Becker",
        "every signed-in user caches the company's changes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_deleted_on_the_cloud_leaves_every_cache_and_a_deleted_session_ends() {
    let cloud = TestCloud::start().await;
    let (dir_a, dir_m) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (admin, admin_keys) = admin_core(&cloud, dir_a.path()).await;
    let marcus = open_quiet(
        dir_m.path(),
        cloud.base_url(),
        Arc::new(MemoryKeyStore::default()),
    )
    .await;
    sign_in(&marcus, DEMO_NON_ADMIN, cloud.password_of(DEMO_NON_ADMIN)).await;
    let tom = cached(&admin, "tom").await;
    let marcus_row = cached(&admin, "marcus").await;

    let token = admin_keys.session_tokens().pop().unwrap();
    let http = reqwest::Client::new();
    for id in [&tom.id, &marcus_row.id] {
        let response = http
            .delete(format!("{}/api/v1/users/{id}", cloud.base_url()))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "the admin deletes {id}: {}",
            response.status()
        );
    }

    admin.sync_now().await.unwrap();
    let page = admin.list_users("tom", 0, 5).await.unwrap();
    assert_eq!(
        page.total, 0,
        "a tombstone removes the cached row: {page:?}"
    );
    assert_eq!(admin.list_users("marcus", 0, 5).await.unwrap().total, 0);

    let _ = marcus.sync_now().await;
    expect_ended(&marcus, "session was ended on the SecureClose cloud").await;
    assert_eq!(marcus.sync_status().await.state, SyncState::Stopped);
}

/// The emails in this core's cache, all of them.
async fn cached_emails(core: &AppCore) -> BTreeSet<String> {
    let page = core.list_users("", 0, 1000).await.unwrap();
    assert_eq!(
        page.total as usize,
        page.users.len(),
        "one page holds them all"
    );
    page.users.into_iter().map(|u| u.email).collect()
}

/// Sign-in stores the signed-in user; the company's users come down once, by
/// the pull of the sync that sign-in starts, never also as a full list from
/// GET /users. A cache that held another company keeps none of its rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_sign_in_downloads_the_company_once_and_never_mixes_companies() {
    let cloud = TestCloud::start().await;
    let upstream: SocketAddr = cloud
        .base_url()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let proxy = FaultProxy::start(upstream, 1, FaultPlan::none())
        .await
        .unwrap();
    proxy.record_requests("/api/v1/users");
    let dir = tempfile::tempdir().unwrap();
    let core = open_quiet(
        dir.path(),
        &proxy.url(),
        Arc::new(MemoryKeyStore::default()),
    )
    .await;

    sign_in(&core, &cloud.seed.admin_email, &cloud.seed.admin_password).await;
    assert_eq!(
        cached_emails(&core).await,
        company_emails(&cloud.seed),
        "after the first sync the Users tab holds exactly the admin's company"
    );
    assert_eq!(
        proxy.recorded().len(),
        0,
        "the first sign-in must download the company once, by the pull, not by GET /users too"
    );

    core.logout().await.unwrap();
    let canyon_password = "canyon ridge test password";
    cloud.set_canyon_ridge_password(canyon_password).await;
    sign_in(&core, "admin@canyonridge.example", canyon_password).await;
    let canyon = cached_emails(&core).await;
    assert!(
        !canyon.is_empty() && canyon.iter().all(|e| e.ends_with("@canyonridge.example")),
        "a sign-in to another company drops the old company's rows and pulls the new one \
         from its start: {canyon:?}"
    );

    core.logout().await.unwrap();
    sign_in(&core, &cloud.seed.admin_email, &cloud.seed.admin_password).await;
    assert_eq!(
        cached_emails(&core).await,
        company_emails(&cloud.seed),
        "and back: none of Canyon Ridge's users stay in the cache"
    );
}

/// A company larger than one pull page (5000 users) comes down whole on the
/// first sync: every page applied once, in order, each with its cursor (core
/// fetches the next page while it writes one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_sync_of_several_pages_caches_every_user_exactly_once() {
    const BULK: usize = 11_000;
    let cloud = TestCloud::start().await;
    secureclose_cloud::seed_bulk_users(&cloud.database_url, &cloud.seed.company_id, BULK)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let core = open_quiet(
        dir.path(),
        cloud.base_url(),
        Arc::new(MemoryKeyStore::default()),
    )
    .await;

    sign_in(&core, &cloud.seed.admin_email, &cloud.seed.admin_password).await;
    let all = core.list_users("", 0, 1).await.unwrap().total as usize;
    assert_eq!(
        all,
        BULK + company_emails(&cloud.seed).len(),
        "three pages of the company, each row cached once"
    );
    for probe in [
        "user0000000@",
        "user0004999@",
        "user0005000@",
        "user0010999@",
    ] {
        assert_eq!(
            core.list_users(probe, 0, 2).await.unwrap().total,
            1,
            "{probe} (first, last, and either side of the 5000-row page size) must be cached once"
        );
    }
    let status = core.sync_now().await.unwrap();
    assert_eq!(
        core.list_users("", 0, 1).await.unwrap().total as usize,
        all,
        "a second pass starts at the stored cursor and adds nothing: {status:?}"
    );
}

/// Finding 9: a notice belongs to the person whose edit was refused. The
/// next person on this computer neither sees nor dismisses it; its owner
/// finds it at their next sign-in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_notice_is_shown_only_to_the_person_who_made_the_edit() {
    let cloud = TestCloud::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (core, _) = admin_core(&cloud, dir.path()).await;
    let tom = cached(&core, "tom").await;
    let marcus = cached(&core, "marcus").await;
    // Marcus's email for Tom: only the cloud knows every email, so only it
    // refuses. Queued without waiting, so the refusal becomes a notice
    // rather than a dialog error.
    core.queue_user_edit(
        &tom.id,
        &UserUpdate {
            email: Some(marcus.email.clone()),
            ..UserUpdate::default()
        },
    )
    .await
    .unwrap();
    let status = core.sync_now().await.unwrap();
    assert_eq!(status.notices.len(), 1, "set-up: one notice: {status:?}");
    let notice_id = status.notices[0].id;
    core.logout().await.unwrap();

    let marcus_pw = cloud.password_of(DEMO_NON_ADMIN).to_owned();
    sign_in(&core, DEMO_NON_ADMIN, &marcus_pw).await;
    let status = core.sync_status().await;
    assert!(
        status.notices.is_empty(),
        "Marcus must not see the admin's notice: {status:?}"
    );
    let err = core.dismiss_sync_notice(notice_id).await.unwrap_err();
    assert_eq!(err.code(), codes::NOT_FOUND, "{err:?}");
    core.logout().await.unwrap();

    sign_in(&core, &cloud.seed.admin_email, &cloud.seed.admin_password).await;
    let status = core.sync_status().await;
    assert_eq!(
        status.notices.iter().map(|n| n.id).collect::<Vec<_>>(),
        vec![notice_id],
        "its owner still has it: {status:?}"
    );
    let status = core.dismiss_sync_notice(notice_id).await.unwrap();
    assert!(status.notices.is_empty(), "{status:?}");
}
