//! The idle lock in the REAL app: with the webview's clock moved past the
//! company's idle time, the lock screen covers the portal (hidden, not
//! gone: a half-typed edit dialog stays open underneath), the core itself
//! refuses the UI's reads, a wrong password is refused, and the right one
//! returns to the same dialog with what was typed still in it.

use fantoccini::Client;

use super::two_factor::{expect_signed_in, open_edit_dialog, sign_in, wait_for_text};
use super::{click, run_app, screenshot, type_into, wait_for, wait_until_gone};
use crate::support::TestCloud;

/// The default idle time (30 minutes) and a little more.
const PAST_IDLE_MS: u64 = 31 * 60_000;
const HALF_TYPED: &str = "Tom Becker (half-typ";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb + tauri-driver: run scripts/test"]
async fn the_idle_lock_covers_the_portal_and_unlocking_keeps_a_half_typed_dialog() {
    let cloud = TestCloud::start_dev().await;
    let url = cloud.base_url().to_owned();
    let admin = cloud.seed.admin_email.clone();
    let password = cloud.seed.admin_password.clone();
    run_app(&url, move |client| idle_lock(client, admin, password)).await;
    drop(cloud);
}

async fn idle_lock(client: Client, admin: String, password: String) {
    sign_in(&client, &admin, &password).await;
    expect_signed_in(&client, &admin).await;
    open_edit_dialog(&client, "Tom Becker").await;
    type_into(&client, "user-name", HALF_TYPED).await;

    // Nobody touches anything while the clock passes the idle time: the
    // webview's clock jumps ahead (the idle check runs every few seconds).
    let jump =
        format!("const real = Date.now.bind(Date); Date.now = () => real() + {PAST_IDLE_MS};");
    client.execute(&jump, vec![]).await.unwrap();
    let lock = wait_for_text(&client, "lock-screen", "SecureClose is locked").await;
    assert!(
        !lock.contains(HALF_TYPED),
        "nothing of the portal on the lock screen: {lock:?}"
    );
    let portal = wait_for(&client, "portal").await;
    assert!(
        !portal.is_displayed().await.unwrap(),
        "the portal is hidden behind the lock"
    );
    // The lock is the core's too: a read the UI would make is refused.
    let read = "const done = arguments[arguments.length - 1]; \
        window.__TAURI_INTERNALS__.invoke('list_users', { query: '', offset: 0, limit: 5 }) \
          .then(() => done('answered'), (e) => done((e && e.code) || String(e)));";
    let answer = client.execute_async(read, vec![]).await.unwrap();
    assert_eq!(
        answer.as_str(),
        Some("session_locked"),
        "the core refuses reads while locked"
    );
    screenshot(&client, "idle-lock-01-locked").await;

    type_into(&client, "lock-password", "not the password").await;
    click(&client, "lock-unlock").await;
    let refused = wait_for_text(&client, "lock-error", "not correct").await;
    assert!(refused.contains("not correct"), "{refused:?}");

    type_into(&client, "lock-password", &password).await;
    click(&client, "lock-unlock").await;
    wait_until_gone(&client, "lock-screen").await;
    let name = wait_for(&client, "user-name").await;
    assert!(
        name.is_displayed().await.unwrap(),
        "the same dialog, open again"
    );
    assert_eq!(
        name.prop("value").await.unwrap().as_deref(),
        Some(HALF_TYPED),
        "what was typed before the lock is still there"
    );
    screenshot(&client, "idle-lock-02-unlocked-same-dialog").await;
}
