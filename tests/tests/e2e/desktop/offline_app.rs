//! Offline sign-in with an authenticator app in the REAL app: after an
//! online sign-in with a second factor, the cloud stops; the password alone
//! is not enough any more, the app's code is asked for on this computer and
//! signs in offline.

use std::sync::Arc;

use fantoccini::{Client, Locator};
use tokio::sync::Mutex;

use super::two_factor::{confirm_its_you, expect_signed_in, sign_in, sign_out, wait_for_text};
use super::{click, count, run_app, screenshot, testid, type_into, wait_for, wait_until_gone};
use crate::core_totp::{code_at, turn_on_two_factor};
use crate::support::TestCloud;

const TOM: &str = "tom.becker@desertsun.example"; // no phone in the seed

fn real_now_ms() -> i64 {
    secureclose_core::cache::now_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb + tauri-driver: run scripts/test"]
async fn offline_the_authenticator_apps_code_signs_in() {
    let cloud = Arc::new(Mutex::new(TestCloud::start_dev().await));
    let url = cloud.lock().await.base_url().to_owned();
    let scenario_cloud = cloud.clone();
    run_app(&url, move |client| offline_app(client, scenario_cloud)).await;
}

async fn offline_app(client: Client, cloud: Arc<Mutex<TestCloud>>) {
    let password = cloud.lock().await.password_of(TOM).to_owned();
    // Online: Tom adds an app from his profile; its first code brings his
    // recovery codes, one of which he signs in with once 2FA is on.
    sign_in(&client, TOM, &password).await;
    expect_signed_in(&client, TOM).await;
    click(&client, "open-profile").await;
    click(&client, "open-totp-setup").await;
    confirm_its_you(&client, &*cloud.lock().await, &password, None).await;
    let shown = wait_for(&client, "totp-secret").await.text().await.unwrap();
    let secret: String = shown.split_whitespace().collect();
    type_into(&client, "totp-code", &code_at(&secret, real_now_ms())).await;
    click(&client, "totp-confirm").await;
    wait_for(&client, "recovery-dialog").await;
    let recovery = client
        .find(Locator::Css(&testid("recovery-code")))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    click(&client, "recovery-ack").await;
    click(&client, "recovery-done").await;
    wait_until_gone(&client, "recovery-dialog").await;
    click(&client, "profile-close").await;
    sign_out(&client).await;
    turn_on_two_factor(&*cloud.lock().await, TOM).await;
    sign_in(&client, TOM, &password).await;
    wait_for_text(&client, "code-dialog", "authenticator app").await;
    click(&client, "code-use-recovery").await;
    type_into(&client, "recovery-input", &recovery).await;
    click(&client, "code-submit").await;
    expect_signed_in(&client, TOM).await;
    sign_out(&client).await;

    cloud.lock().await.stop().await;

    // Offline: the password, then the app's code (one step ahead of the
    // one that confirmed it, within the accepted drift).
    sign_in(&client, TOM, &password).await;
    let dialog = wait_for_text(&client, "code-dialog", "authenticator app").await;
    assert_eq!(
        count(&client, "signed-in-user").await,
        0,
        "not on the password alone: {dialog:?}"
    );
    screenshot(&client, "offline-app-01-code-asked").await;
    type_into(
        &client,
        "code-input",
        &code_at(&secret, real_now_ms() + 30_000),
    )
    .await;
    click(&client, "code-submit").await;
    expect_signed_in(&client, TOM).await;
    wait_for_text(&client, "offline-banner", "Signed in offline").await;
    screenshot(&client, "offline-app-02-signed-in-offline").await;
}
