//! A dealership starts using SecureClose, in the REAL app: the operator
//! creates the company with the cloud binary's CLI, its admin activates with
//! the printed setup code, adds a user and reads that user's code from the
//! dialog, sets the company's policies (2FA, offline sign-in, idle lock,
//! session limit); the user activates and enrols a phone; a password reset
//! makes the old password fail; the company's idle time locks the portal;
//! the session limit ends a session once the cloud refuses its token; and
//! the offline policy decides whether a sign-in without the cloud works.
//! The CLI writes a fresh SQLite file that the cloud then serves in-process
//! in dev mode (codes from its SMS outbox) on a `ManualClock`, so the
//! session limit passes without waiting an hour. Each sign-in after a
//! sign-out types into the fresh form with `type_into`, which fails on any
//! dropped or restored character.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use fantoccini::Client;
use secureclose_cloud::clock::ManualClock;
use secureclose_cloud::CloudError;
use tokio::sync::Mutex;

use super::offline::wait_for_state;
use super::two_factor::{
    enter_code, expect_code_dialog, expect_signed_in, is_on, open_edit_dialog, sign_in, sign_out,
    wait_for_text,
};
use super::{click, count, run_app, screenshot, type_into, wait_for, wait_until_gone, WAIT};
use crate::support::{env_path, sqlite_url, TestCloud};

const COMPANY: &str = "Mesa Motors";
const ADMIN: &str = "rita@mesamotors.example";
const ADMIN_NAME: &str = "Rita Alvarez";
const ADMIN_PHONE: &str = "+16025550133";
const ADMIN_PASSWORD: &str = "copper lantern drifts east at dawn";
const USER: &str = "luis.ortega@mesamotors.example";
const USER_NAME: &str = "Luis Ortega";
const USER_PHONE: &str = "+16025550177";
const USER_PASSWORD: &str = "violet harbor quietly hums along";
/// The policies the admin saves: idle lock and session limit at their
/// minimum, so the test can pass both without waiting.
const IDLE_LOCK_MINUTES: u64 = 5;
const SESSION_HOURS: u64 = 1;
const SIGNED_OUT_NOTICE: &str = "You have been signed out";
const OFFLINE_NOT_ALLOWED: &str = "Your company does not allow signing in offline";
/// The scheduler backs off up to 60 s while the cloud is down (see offline.rs).
const RECONNECT_WAIT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb + tauri-driver: run scripts/test"]
async fn a_dealership_is_onboarded_from_the_cli_to_policies_enforced_in_the_app() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = sqlite_url(&dir.path().join("cloud.db"));
    let admin_code = create_company(&database_url);
    let clock = Arc::new(ManualClock::new());
    let cloud = TestCloud::serve_dev_with_clock(dir, database_url, clock.clone()).await;
    let url = cloud.base_url().to_owned();
    let cloud = Arc::new(Mutex::new(cloud));
    run_app(&url, move |client| {
        onboarding(client, cloud, clock, admin_code)
    })
    .await;
}

/// The operator's step, with the built binary; returns the printed setup code.
fn create_company(database_url: &str) -> String {
    let output = Command::new(env_path("SECURECLOSE_CLOUD_BIN"))
        .args(["company", "create", "--database-url", database_url])
        .args(["--name", COMPANY, "--dms-kind", "CDK Drive"])
        .args(["--dms-supports-2fa", "true"])
        .args(["--admin-email", ADMIN, "--admin-name", ADMIN_NAME])
        .args(["--admin-phone", ADMIN_PHONE])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "company create must succeed on a fresh database: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(COMPANY) && stdout.contains(ADMIN),
        "the operator must see which company and admin were created: {stdout}"
    );
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("Setup code: "))
        .map(|code| code.trim().to_owned())
        .unwrap_or_else(|| panic!("company create must print the admin's setup code: {stdout}"))
}

async fn onboarding(
    client: Client,
    cloud: Arc<Mutex<TestCloud>>,
    clock: Arc<ManualClock>,
    admin_code: String,
) {
    // The admin's first sign-in: First time here? → email, code, password twice.
    wait_for(&client, "login-email").await;
    activate(&client, ADMIN, &admin_code, ADMIN_PASSWORD).await;
    screenshot(&client, "onboarding-01-admin-sets-up-account").await;
    click(&client, "setup-submit").await;
    expect_signed_in(&client, ADMIN).await;
    screenshot(&client, "onboarding-02-admin-signed-in").await;

    // The admin adds a user; the setup code is shown once, in its dialog.
    click(&client, "nav-users").await;
    click(&client, "add-user").await;
    type_into(&client, "add-user-name", USER_NAME).await;
    type_into(&client, "add-user-email", USER).await;
    screenshot(&client, "onboarding-03-add-user").await;
    click(&client, "add-user-submit").await;
    let user_code = shown_setup_code(&client, "User added").await;
    assert_ne!(
        user_code, admin_code,
        "every account gets its own setup code"
    );
    screenshot(&client, "onboarding-04-user-setup-code").await;
    click(&client, "setup-code-close").await;
    wait_until_gone(&client, "setup-code-dialog").await;

    // Company policies: 2FA for everyone, offline sign-in allowed, the
    // shortest idle lock and session limit.
    click(&client, "nav-company").await;
    wait_for_text(&client, "company-name", COMPANY).await;
    assert!(
        !is_on(&client, "company-two-factor-toggle").await,
        "a new company starts without company-wide 2FA"
    );
    assert!(
        !is_on(&client, "company-offline-allowed").await,
        "a new company starts with offline sign-in off"
    );
    click(&client, "company-two-factor-toggle").await;
    click(&client, "company-offline-allowed").await;
    type_into(&client, "company-idle-lock", &IDLE_LOCK_MINUTES.to_string()).await;
    type_into(&client, "company-session-limit", &SESSION_HOURS.to_string()).await;
    click(&client, "company-save").await;
    wait_for(&client, "company-saved").await;
    wait_for_text(&client, "company-two-factor", "On").await;
    wait_for_text(&client, "company-offline", "Allowed").await;
    screenshot(&client, "onboarding-05-company-policies").await;
    sign_out(&client).await;

    // The user activates; with company 2FA on and no phone, they add one.
    activate(&client, USER, &user_code, USER_PASSWORD).await;
    click(&client, "setup-submit").await;
    // With company 2FA on and no factor, the user must be told why and offered both factors.
    let enroll = wait_for_text(
        &client,
        "enroll-dialog",
        "requires two-factor authentication",
    )
    .await;
    assert!(
        enroll.contains("Text message") && enroll.contains("Authenticator app"),
        "a user without a factor must be able to choose a phone or an app: {enroll:?}"
    );
    assert_eq!(
        count(&client, "signed-in-user").await,
        0,
        "a setup code and a password alone must not open the portal when 2FA applies"
    );
    click(&client, "enroll-choose-sms").await;
    wait_for_text(&client, "enroll-dialog", "Mobile phone").await;
    type_into(&client, "enroll-phone", "(602) 555-0177").await;
    click(&client, "enroll-send").await;
    wait_for_text(&client, "enroll-dialog", "••• ••• 0177").await;
    screenshot(&client, "onboarding-06-user-adds-phone").await;
    let code = cloud.lock().await.last_code(USER_PHONE).await;
    enter_code(&client, &code).await;
    expect_signed_in(&client, USER).await;
    sign_out(&client).await;

    // The admin resets the user's password (2FA now applies to her too).
    admin_signs_in(&client, &cloud).await;
    click(&client, "nav-users").await;
    open_edit_dialog(&client, USER_NAME).await;
    click(&client, "tab-login").await;
    click(&client, "user-reset-password").await;
    wait_for_text(&client, "user-action-confirm", "stops working").await;
    click(&client, "user-action-confirm-button").await;
    let reset_code = shown_setup_code(&client, "Password reset").await;
    assert_ne!(
        reset_code, user_code,
        "a reset must hand out a new code (the first one is used up)"
    );
    screenshot(&client, "onboarding-07-password-reset-code").await;
    click(&client, "setup-code-close").await;
    wait_until_gone(&client, "setup-code-dialog").await;
    if count(&client, "user-dialog").await > 0 {
        click(&client, "user-dialog-cancel").await;
        wait_until_gone(&client, "user-dialog").await;
    }
    sign_out(&client).await;

    // The user's old password no longer works, and the app says so.
    sign_in(&client, USER, USER_PASSWORD).await;
    let refused = CloudError::InvalidCredentials.to_string();
    let shown = wait_for_text(&client, "login-error", &refused).await;
    assert!(
        !shown.contains(USER_PASSWORD),
        "the refusal must not echo the password: {shown:?}"
    );
    assert_eq!(
        count(&client, "signed-in-user").await,
        0,
        "a password from before the reset must not sign in"
    );
    screenshot(&client, "onboarding-08-old-password-refused").await;

    // The company's idle time (5 minutes, not the default 30) locks the
    // portal; unlocking returns to the same page. The webview's clock jumps
    // just past it (desktop/idle_lock.rs covers the lock itself).
    admin_signs_in(&client, &cloud).await;
    click(&client, "nav-company").await;
    wait_for_text(&client, "company-name", COMPANY).await;
    let past_idle_ms = (IDLE_LOCK_MINUTES * 60 + 30) * 1000;
    let jump =
        format!("const real = Date.now.bind(Date); Date.now = () => real() + {past_idle_ms};");
    client.execute(&jump, vec![]).await.unwrap();
    wait_for_text(&client, "lock-screen", "SecureClose is locked").await;
    screenshot(&client, "onboarding-09-idle-lock").await;
    type_into(&client, "lock-password", ADMIN_PASSWORD).await;
    click(&client, "lock-unlock").await;
    wait_until_gone(&client, "lock-screen").await;
    let name = wait_for(&client, "company-name").await;
    assert!(
        name.is_displayed().await.unwrap(),
        "unlocking must return to the page the admin was on (Company Profile)"
    );

    // The session limit: the cloud's clock passes it; at the next sync pass
    // the cloud refuses the token and the app ends the session, saying so.
    wait_for_state(&client, "idle", WAIT).await;
    clock.advance(Duration::from_secs(SESSION_HOURS * 3600 + 60));
    click(&client, "sync-now").await;
    let notice = wait_for_text(&client, "login-notice", SIGNED_OUT_NOTICE).await;
    assert!(
        notice.contains("Sign in again"),
        "the sign-in screen must say what to do after the session limit: {notice:?}"
    );
    wait_until_gone(&client, "signed-in-user").await;
    screenshot(&client, "onboarding-10-session-limit-reached").await;

    // Offline sign-in allowed: with the cloud stopped, the admin (a code
    // on this computer within the grace window) signs in offline.
    admin_signs_in(&client, &cloud).await;
    wait_for_state(&client, "idle", WAIT).await;
    sign_out(&client).await;
    cloud.lock().await.stop().await;
    sign_in(&client, ADMIN, ADMIN_PASSWORD).await;
    expect_signed_in(&client, ADMIN).await;
    wait_for_text(&client, "offline-banner", "Signed in offline").await;
    screenshot(&client, "onboarding-11-offline-sign-in-allowed").await;

    // Back online, the admin turns offline sign-in off...
    cloud.lock().await.restart().await;
    click(&client, "sync-now").await;
    wait_for_state(&client, "idle", RECONNECT_WAIT).await;
    wait_until_gone(&client, "offline-banner").await;
    click(&client, "nav-company").await;
    wait_for_text(&client, "company-offline", "Allowed").await;
    click(&client, "company-offline-allowed").await;
    click(&client, "company-save").await;
    wait_for(&client, "company-saved").await;
    wait_for_text(&client, "company-offline", "Not allowed").await;
    wait_for_state(&client, "idle", WAIT).await;
    sign_out(&client).await;

    // ...and the same offline sign-in is refused with the policy's words.
    cloud.lock().await.stop().await;
    sign_in(&client, ADMIN, ADMIN_PASSWORD).await;
    wait_for_text(&client, "login-error", OFFLINE_NOT_ALLOWED).await;
    assert_eq!(
        count(&client, "signed-in-user").await,
        0,
        "with offline sign-in off, no sign-in may succeed without the cloud"
    );
    screenshot(&client, "onboarding-12-offline-sign-in-not-allowed").await;
}

/// Opens "First time here? Set up your account" and fills it in (not submitted).
async fn activate(client: &Client, email: &str, code: &str, password: &str) {
    click(client, "open-setup").await;
    wait_for(client, "setup-form").await;
    type_into(client, "setup-email", email).await;
    type_into(client, "setup-code", code).await;
    type_into(client, "setup-password-new", password).await;
    type_into(client, "setup-password-confirm", password).await;
}

/// The code in the setup-code dialog, after checking what the dialog says about it.
async fn shown_setup_code(client: &Client, title: &str) -> String {
    let dialog = wait_for_text(client, "setup-code-dialog", title).await;
    assert!(
        dialog.contains(USER_NAME) && dialog.contains(USER),
        "the dialog must say whose code it is: {dialog:?}"
    );
    let validity = wait_for(client, "setup-code-validity")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        validity.contains("Works once, for 72 hours"),
        "the admin must be told the code is single use and expires: {validity:?}"
    );
    let code = wait_for(client, "setup-code").await.text().await.unwrap();
    assert!(
        code.len() >= 10,
        "a setup code has at least 10 characters: {code:?}"
    );
    code
}

/// The admin's sign-in once company 2FA is on: password, then the texted code.
async fn admin_signs_in(client: &Client, cloud: &Mutex<TestCloud>) {
    sign_in(client, ADMIN, ADMIN_PASSWORD).await;
    expect_code_dialog(client, &ADMIN_PHONE[ADMIN_PHONE.len() - 4..]).await;
    let code = cloud.lock().await.last_code(ADMIN_PHONE).await;
    enter_code(client, &code).await;
    expect_signed_in(client, ADMIN).await;
}
