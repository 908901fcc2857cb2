//! Offline sign-in and the outbox in the REAL app: with the cloud
//! stopped, a known 2FA user inside the company's grace window signs in on
//! the password checked on this computer, a user without a code on this
//! computer is refused with the words that say what to do, an edit waits in
//! the outbox, and when the cloud is back the status bar goes
//! offline → syncing → synced and the edit is in the cloud.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::Client;
use secureclose_cloud::RunningCloud;
use tokio::sync::Mutex;

use super::axe::assert_accessible;
use super::two_factor::{
    enable_two_factor, enter_code, expect_code_dialog, expect_signed_in, open_edit_dialog,
    row_with, sign_in, sign_out, wait_for_text,
};
use super::{click, run_app, screenshot, testid, type_into, wait_until_gone};
use crate::core_sync::restart;
use crate::support::TestCloud;

const EMILY: &str = "emily.chen@desertsun.example";
const ADMIN_PHONE: &str = "+14805550100";
/// The refusal for a 2FA user with no recent code on this computer.
const NEEDS_CODE: &str = "Connect to the internet to receive your code.";
/// The scheduler backs off up to 60 s while the cloud is down; the first
/// retry after the restart lands within that (plus the pass itself).
const RECONNECT_WAIT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb + tauri-driver: run scripts/test"]
async fn offline_sign_in_within_grace_queues_an_edit_that_reaches_the_cloud_when_it_returns() {
    let cloud = Arc::new(Mutex::new(TestCloud::start_dev().await));
    let url = cloud.lock().await.base_url().to_owned();
    let scenario_cloud = cloud.clone();
    run_app(&url, move |client| offline(client, scenario_cloud)).await;
}

async fn offline(client: Client, cloud: Arc<Mutex<TestCloud>>) {
    let (admin, admin_password, emily_password) = {
        let cloud = cloud.lock().await;
        (
            cloud.seed.admin_email.clone(),
            cloud.seed.admin_password.clone(),
            cloud.password_of(EMILY).to_owned(),
        )
    };

    // Emily signs in online once WITHOUT 2FA: this computer knows her
    // password but has never seen a code of hers.
    sign_in(&client, EMILY, &emily_password).await;
    expect_signed_in(&client, EMILY).await;
    sign_out(&client).await;

    // Then 2FA is turned on for her and for the admin.
    {
        let cloud = cloud.lock().await;
        enable_two_factor(&cloud, "Emily").await;
        enable_two_factor(&cloud, "Dana").await;
    }

    // The admin signs in online with a texted code: the start of the grace
    // window on this computer. The sync brings Emily's new 2FA rule along.
    sign_in(&client, &admin, &admin_password).await;
    expect_code_dialog(&client, &ADMIN_PHONE[ADMIN_PHONE.len() - 4..]).await;
    let code = cloud.lock().await.last_code(ADMIN_PHONE).await;
    enter_code(&client, &code).await;
    expect_signed_in(&client, &admin).await;
    wait_for_state(&client, "idle", Duration::from_secs(30)).await;
    sign_out(&client).await;

    cloud.lock().await.stop().await;

    // Emily needs a code now and has none on this computer: refused, told what to do.
    sign_in(&client, EMILY, &emily_password).await;
    let refusal = wait_for_text(&client, "login-error", NEEDS_CODE).await;
    assert!(
        refusal.contains(NEEDS_CODE),
        "the refusal must say what to do: {refusal:?}"
    );
    screenshot(&client, "offline-01-refused-outside-grace").await;

    // The admin is inside the grace window: in, on the password checked here.
    sign_in(&client, &admin, &admin_password).await;
    expect_signed_in(&client, &admin).await;
    let banner = wait_for_text(&client, "offline-banner", "Signed in offline").await;
    assert!(
        banner.contains("sync when the connection returns"),
        "{banner:?}"
    );
    wait_for_state(&client, "offline", Duration::from_secs(30)).await;

    // An edit while offline: shown at once, waiting in the outbox.
    open_edit_dialog(&client, "Tom Becker").await;
    type_into(&client, "user-name", "Tom Becker (edited offline)").await;
    click(&client, "user-update").await;
    wait_until_gone(&client, "user-dialog").await;
    let status = wait_for_text(&client, "sync-status", "1 edit waiting to sync").await;
    assert!(status.contains("Offline"), "{status:?}");
    row_with(&client, "Tom Becker (edited offline)").await;
    assert_accessible(&client, "portal offline").await;
    screenshot(&client, "offline-02-edit-waiting").await;

    // Record every state the status bar passes through from here on: the
    // syncing step lasts milliseconds on loopback, too short to poll for.
    let record = format!(
        "window.__syncStates = []; \
         const bar = document.querySelector('{}'); \
         new MutationObserver(() => window.__syncStates.push(bar.dataset.state)) \
           .observe(bar, {{ attributes: true, attributeFilter: ['data-state'] }});",
        testid("sync-status")
    );
    client.execute(&record, vec![]).await.unwrap();

    let _cloud_again: RunningCloud = restart(&*cloud.lock().await).await;
    wait_for_state(&client, "idle", RECONNECT_WAIT).await;
    let status = wait_for_text(&client, "sync-status", "All changes synced").await;
    assert!(status.contains("Online"), "{status:?}");
    wait_until_gone(&client, "offline-banner").await;
    let seen = client
        .execute("return window.__syncStates;", vec![])
        .await
        .unwrap();
    let seen: Vec<String> = serde_json::from_value(seen).unwrap();
    let syncing = seen.iter().position(|s| s == "syncing");
    let synced = seen.iter().rposition(|s| s == "idle");
    assert!(
        matches!((syncing, synced), (Some(a), Some(b)) if a < b),
        "the status bar must go offline → syncing → synced; states seen: {seen:?}"
    );
    screenshot(&client, "offline-03-synced").await;

    // The edit is in the cloud, exactly as typed.
    let cloud = cloud.lock().await;
    let db = secureclose_cloud::db::connect(&cloud.database_url, 1)
        .await
        .unwrap();
    let name: String = sqlx::query_scalar(
        "SELECT display_name FROM users WHERE email = 'tom.becker@desertsun.example'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        name, "Tom Becker (edited offline)",
        "the offline edit must reach the cloud once it is back"
    );
}

/// Polls the status bar's `data-state` (the core's SyncState) until it is `state`.
pub(super) async fn wait_for_state(client: &Client, state: &str, within: Duration) {
    let deadline = Instant::now() + within;
    let mut last = None;
    loop {
        if let Ok(bar) = client
            .find(fantoccini::Locator::Css(&testid("sync-status")))
            .await
        {
            last = bar.attr("data-state").await.ok().flatten();
            if last.as_deref() == Some(state) {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the status bar did not reach {state:?} within {within:?}; last: {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
