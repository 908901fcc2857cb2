//! Break-glass in the REAL app: a user with 2FA has lost their phone; an
//! admin resets their two-factor from the Edit dialog's Login Info tab with a
//! reason, the old phone is told, and the user's next sign-in makes them set
//! up a factor again (here a new phone) before the portal opens.

use std::sync::Arc;

use fantoccini::Client;

use super::axe::assert_accessible;
use super::two_factor::{
    confirm_its_you, enable_two_factor, enter_code, expect_code_dialog, expect_signed_in,
    open_edit_dialog, sign_in, sign_out, wait_for_text,
};
use super::{click, count, run_app, screenshot, type_into, wait_for, wait_until_gone};
use crate::support::TestCloud;

const EMILY: &str = "emily.chen@desertsun.example";
const EMILY_PHONE: &str = "+14805550162";
const ADMIN_PHONE: &str = "+14805550100";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb + tauri-driver: run scripts/test"]
async fn an_admin_resets_a_lost_factor_and_the_user_sets_up_a_new_one_at_sign_in() {
    let cloud = Arc::new(TestCloud::start_dev().await);
    enable_two_factor(&cloud, "emily").await;
    let scenario_cloud = cloud.clone();
    run_app(cloud.base_url(), move |client| {
        lost_phone(client, scenario_cloud)
    })
    .await;
}

async fn lost_phone(client: Client, cloud: Arc<TestCloud>) {
    let seed = &cloud.seed;
    sign_in(&client, &seed.admin_email, &seed.admin_password).await;
    expect_signed_in(&client, &seed.admin_email).await;
    click(&client, "nav-users").await;
    open_edit_dialog(&client, "Emily Chen").await;
    click(&client, "tab-login").await;
    click(&client, "user-reset-two-factor").await;
    let confirm = wait_for_text(&client, "user-action-confirm", "two-step verification").await;
    assert!(
        confirm.contains("old phone gets a text"),
        "the admin must be told what the reset does: {confirm:?}"
    );

    // No reason: refused in the dialog, nothing reset.
    click(&client, "user-action-confirm-button").await;
    wait_for(&client, "user-reset-reason-error").await;
    assert_eq!(
        count(&client, "users-saved").await,
        0,
        "a reset without a reason must not happen"
    );
    screenshot(&client, "reset-01-reason-required").await;
    assert_accessible(&client, "reset-reason-required").await;

    type_into(&client, "user-reset-reason", "lost phone, seen in person").await;
    click(&client, "user-action-confirm-button").await;
    // Resetting someone's factors needs the admin's own fresh proof.
    wait_for(&client, "reauth-dialog").await;
    screenshot(&client, "reset-02a-confirm-its-you").await;
    assert_accessible(&client, "reset-confirm-its-you").await;
    confirm_its_you(&client, &cloud, &seed.admin_password, Some(ADMIN_PHONE)).await;
    wait_for_text(
        &client,
        "users-saved",
        "Reset Emily Chen’s two-step verification",
    )
    .await;
    wait_until_gone(&client, "user-dialog").await;
    screenshot(&client, "reset-02-done").await;
    let told = secureclose_cloud::outbox(&cloud.database_url, Some(EMILY_PHONE))
        .await
        .unwrap();
    assert!(
        told[0].body.contains("reset your two-step verification"),
        "the old phone must be told: {}",
        told[0].body
    );
    sign_out(&client).await;

    // Emily's next sign-in: no code to the lost phone, a new factor first.
    sign_in(&client, EMILY, cloud.password_of(EMILY)).await;
    wait_for_text(&client, "enroll-dialog", "Authenticator app").await;
    assert_eq!(count(&client, "signed-in-user").await, 0);
    assert_eq!(
        count(&client, "code-dialog").await,
        0,
        "nothing may be sent to the phone that was reset"
    );
    click(&client, "enroll-choose-sms").await;
    type_into(&client, "enroll-phone", "(602) 555-0166").await;
    click(&client, "enroll-send").await;
    wait_for_text(&client, "enroll-dialog", "••• ••• 0166").await;
    enter_code(&client, &cloud.last_code("+16025550166").await).await;
    expect_signed_in(&client, EMILY).await;
    sign_out(&client).await;

    // From then on the new phone gets the code.
    sign_in(&client, EMILY, cloud.password_of(EMILY)).await;
    expect_code_dialog(&client, "0166").await;
}
