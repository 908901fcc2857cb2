//! Recovery codes in the REAL app: the first sign-in with a texted code
//! shows ten codes once (saved to a file on request, acknowledged before the
//! portal), a later sign-in with one of them works and says how many remain,
//! and the same code is refused the second time.

use std::sync::Arc;

use fantoccini::{Client, Locator};

use super::axe::assert_accessible;
use super::two_factor::{
    enable_two_factor, enter_code, expect_code_dialog, expect_signed_in, sign_in, sign_out,
    wait_for_text,
};
use super::{click, count, run_app, screenshot, testid, type_into, wait_for, wait_until_gone};
use crate::support::TestCloud;

const EMILY: &str = "emily.chen@desertsun.example";
const EMILY_PHONE: &str = "+14805550162";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb + tauri-driver: run scripts/test"]
async fn the_first_codes_are_shown_once_and_one_signs_in_once() {
    let cloud = Arc::new(TestCloud::start_dev().await);
    enable_two_factor(&cloud, "emily").await;
    let scenario_cloud = cloud.clone();
    run_app(cloud.base_url(), move |client| {
        recovery(client, scenario_cloud)
    })
    .await;
}

async fn shown_codes(client: &Client) -> Vec<String> {
    let mut codes = Vec::new();
    for element in client
        .find_all(Locator::Css(&testid("recovery-code")))
        .await
        .unwrap()
    {
        codes.push(element.text().await.unwrap());
    }
    codes
}

async fn recovery(client: Client, cloud: Arc<TestCloud>) {
    let password = cloud.password_of(EMILY).to_owned();
    sign_in(&client, EMILY, &password).await;
    expect_code_dialog(&client, "0162").await;
    enter_code(&client, &cloud.last_code(EMILY_PHONE).await).await;

    // The first sign-in with a second factor: ten codes, before the portal.
    wait_for_text(&client, "recovery-dialog", "They will not be shown again").await;
    let codes = shown_codes(&client).await;
    assert_eq!(codes.len(), 10, "ten codes: {codes:?}");
    assert!(codes.iter().all(|c| c.len() == 11 && &c[5..6] == "-"));
    screenshot(&client, "recovery-01-codes-shown-once").await;
    assert_accessible(&client, "recovery-codes").await;
    assert!(
        !wait_for(&client, "recovery-done")
            .await
            .is_enabled()
            .await
            .unwrap(),
        "Done must wait until the person says the codes are saved"
    );

    click(&client, "recovery-save").await;
    let saved = wait_for_text(&client, "recovery-saved", "Saved to ").await;
    let path = saved.trim_start_matches("Saved to ").trim().to_owned();
    let file = std::fs::read_to_string(&path).expect("the file the app says it saved");
    std::fs::remove_file(&path).ok();
    assert!(
        codes.iter().all(|c| file.contains(c.as_str())) && file.contains(EMILY),
        "the file holds every code shown: {file}"
    );
    click(&client, "recovery-ack").await;
    click(&client, "recovery-done").await;
    wait_until_gone(&client, "recovery-dialog").await;
    expect_signed_in(&client, EMILY).await;
    sign_out(&client).await;

    // Phone lost: a recovery code instead of the text.
    sign_in(&client, EMILY, &password).await;
    expect_code_dialog(&client, "0162").await;
    click(&client, "code-use-recovery").await;
    type_into(&client, "recovery-input", &codes[0]).await;
    screenshot(&client, "recovery-02-code-dialog").await;
    assert_accessible(&client, "recovery-code-input").await;
    click(&client, "code-submit").await;
    expect_signed_in(&client, EMILY).await;
    wait_for_text(&client, "recovery-used-notice", "9 left").await;
    assert_eq!(
        count(&client, "recovery-dialog").await,
        0,
        "codes already shown are never shown again"
    );
    screenshot(&client, "recovery-03-codes-left").await;
    sign_out(&client).await;

    // The same code again: refused, and the portal stays closed.
    sign_in(&client, EMILY, &password).await;
    expect_code_dialog(&client, "0162").await;
    click(&client, "code-use-recovery").await;
    type_into(&client, "recovery-input", &codes[0]).await;
    click(&client, "code-submit").await;
    wait_for(&client, "code-error").await;
    assert_eq!(
        count(&client, "signed-in-user").await,
        0,
        "a used recovery code must not sign in"
    );
}
