//! The authenticator app in the REAL app: enrolled from the profile with the
//! key the dialog shows (the test computes the codes with totp-rs, as the
//! person's phone would), then the sign-in asks for the app's code; a code
//! of a time step already used is refused.

use std::sync::Arc;
use std::time::Duration;

use fantoccini::Client;
use secureclose_cloud::clock::{Clock as _, ManualClock};

use super::axe::assert_accessible;
use super::two_factor::{confirm_its_you, expect_signed_in, sign_in, sign_out, wait_for_text};
use super::{click, count, run_app, screenshot, type_into, wait_for, wait_until_gone};
use crate::core_totp::{code_at, turn_on_two_factor};
use crate::support::TestCloud;

const TOM: &str = "tom.becker@desertsun.example"; // no phone in the seed

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb + tauri-driver: run scripts/test"]
async fn an_app_enrolled_from_the_shown_key_signs_in_and_a_used_code_is_refused() {
    let clock = Arc::new(ManualClock::new());
    let cloud = Arc::new(TestCloud::start_dev_with_clock(clock.clone()).await);
    let scenario_cloud = cloud.clone();
    run_app(cloud.base_url(), move |client| {
        authenticator_app(client, scenario_cloud, clock)
    })
    .await;
}

async fn authenticator_app(client: Client, cloud: Arc<TestCloud>, clock: Arc<ManualClock>) {
    let password = cloud.password_of(TOM).to_owned();
    sign_in(&client, TOM, &password).await;
    expect_signed_in(&client, TOM).await;
    click(&client, "open-profile").await;
    wait_for_text(&client, "profile-totp", "Off").await;
    click(&client, "open-totp-setup").await;
    // Adding a factor needs a fresh proof; Tom has none yet: the password.
    confirm_its_you(&client, &cloud, &password, None).await;
    let shown = wait_for(&client, "totp-secret").await.text().await.unwrap();
    // The key as the person types it into the app: grouped, spaces ignored.
    let secret: String = shown.split_whitespace().collect();
    assert!(secret.len() >= 26, "a whole base32 key is shown: {shown:?}");
    screenshot(&client, "totp-01-setup-key").await;
    assert_accessible(&client, "totp-setup").await;
    type_into(&client, "totp-code", &code_at(&secret, clock.now_ms())).await;
    click(&client, "totp-confirm").await;
    // The first factor brings the recovery codes.
    wait_for(&client, "recovery-dialog").await;
    click(&client, "recovery-ack").await;
    click(&client, "recovery-done").await;
    wait_until_gone(&client, "recovery-dialog").await;
    wait_for_text(&client, "profile-totp", "On").await;
    click(&client, "profile-close").await;
    sign_out(&client).await;

    turn_on_two_factor(&cloud, TOM).await;
    clock.advance(Duration::from_secs(30));
    sign_in(&client, TOM, &password).await;
    let dialog = wait_for_text(&client, "code-dialog", "authenticator app").await;
    assert_eq!(
        count(&client, "signed-in-user").await,
        0,
        "the password alone: {dialog:?}"
    );
    let code = code_at(&secret, clock.now_ms());
    type_into(&client, "code-input", &code).await;
    click(&client, "code-submit").await;
    expect_signed_in(&client, TOM).await;
    sign_out(&client).await;

    // The same code again (its time step is used): refused.
    sign_in(&client, TOM, &password).await;
    wait_for_text(&client, "code-dialog", "authenticator app").await;
    type_into(&client, "code-input", &code).await;
    click(&client, "code-submit").await;
    wait_for(&client, "code-error").await;
    screenshot(&client, "totp-02-replayed-code-refused").await;
    assert_eq!(
        count(&client, "signed-in-user").await,
        0,
        "a replayed app code must not sign in"
    );
}
