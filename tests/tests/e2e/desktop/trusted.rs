//! Trusted computers in the REAL app: with the company's days on, the code
//! dialog offers "Don't ask for a code on this computer"; ticked, the next
//! sign-in here needs only the password; revoked from the profile, the code
//! is asked for again.

use std::sync::Arc;

use fantoccini::Client;

use super::axe::assert_accessible;
use super::two_factor::{
    enable_two_factor, enter_code, expect_code_dialog, expect_signed_in, sign_in, sign_out,
    wait_for_text,
};
use super::{click, count, run_app, screenshot, wait_for};
use crate::support::TestCloud;

const EMILY: &str = "emily.chen@desertsun.example";
const EMILY_PHONE: &str = "+14805550162";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb + tauri-driver: run scripts/test"]
async fn a_trusted_computer_skips_the_code_and_asks_again_once_revoked() {
    let cloud = Arc::new(TestCloud::start_dev().await);
    enable_two_factor(&cloud, "emily").await;
    let db = secureclose_cloud::db::connect(&cloud.database_url, 1)
        .await
        .unwrap();
    sqlx::query("UPDATE companies SET trusted_computer_days = 7")
        .execute(&db.pool)
        .await
        .unwrap();
    db.pool.close().await;
    let scenario_cloud = cloud.clone();
    run_app(cloud.base_url(), move |client| {
        trusted(client, scenario_cloud)
    })
    .await;
}

async fn trusted(client: Client, cloud: Arc<TestCloud>) {
    let password = cloud.password_of(EMILY).to_owned();
    sign_in(&client, EMILY, &password).await;
    expect_code_dialog(&client, "0162").await;
    let offer = wait_for_text(
        &client,
        "code-dialog",
        "Don't ask for a code on this computer",
    )
    .await;
    assert!(
        offer.contains("7 days"),
        "the company's days are named: {offer:?}"
    );
    screenshot(&client, "trusted-01-offered").await;
    assert_accessible(&client, "trusted-offered").await;
    click(&client, "code-remember").await;
    enter_code(&client, &cloud.last_code(EMILY_PHONE).await).await;
    expect_signed_in(&client, EMILY).await;
    sign_out(&client).await;

    // This computer: the password alone.
    let texts = secureclose_cloud::outbox(&cloud.database_url, Some(EMILY_PHONE))
        .await
        .unwrap()
        .len();
    sign_in(&client, EMILY, &password).await;
    expect_signed_in(&client, EMILY).await;
    assert_eq!(
        count(&client, "code-dialog").await,
        0,
        "no code on a trusted computer"
    );
    let after = secureclose_cloud::outbox(&cloud.database_url, Some(EMILY_PHONE))
        .await
        .unwrap()
        .len();
    assert_eq!(after, texts, "and nothing texted");

    // Revoked in the profile: the code again.
    click(&client, "open-profile").await;
    wait_for_text(&client, "trusted-computer", "This computer").await;
    screenshot(&client, "trusted-02-profile-list").await;
    click(&client, "trusted-revoke").await;
    wait_for(&client, "trusted-none").await;
    click(&client, "profile-close").await;
    sign_out(&client).await;
    sign_in(&client, EMILY, &password).await;
    expect_code_dialog(&client, "0162").await;
}
