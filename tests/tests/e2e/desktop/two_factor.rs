//! Two-factor authentication in the REAL app, step by step as the
//! help-center article tells admins and users:
//! (1) one user: phone on General Info, toggle on Login Info, Update, then
//! that user signs in with the texted code; (2) company-wide: Save, a user
//! with a phone gets the code, a user without one enrols a phone, the next
//! login asks only for the code; (3) each failure state shown in the UI;
//! (4) admin rights and DMS gating; (5) the sign-in form right after a
//! sign-out keeps every key typed into it. The cloud runs in-process in dev
//! mode, so codes come from its SMS outbox and a `ManualClock` expires them
//! without sleeping. Every screen gets an axe-core scan and a screenshot.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fantoccini::{elements::Element, Client, Locator};
use secureclose_cloud::clock::ManualClock;
use secureclose_cloud::CloudError;
use secureclose_protocol::UserUpdate;

use super::axe::assert_accessible;
use super::{
    click, count, run_app, screenshot, testid, type_into, wait_for, wait_until_gone, WAIT,
};
use crate::support::{company_emails, open_core, MemoryKeyStore, TestCloud, DEMO_DISABLED_USER};

const TOM: &str = "tom.becker@desertsun.example"; // no phone in the seed
const EMILY: &str = "emily.chen@desertsun.example";
const EMILY_PHONE: &str = "+14805550162";
const JAMAL: &str = "jamal.carter@desertsun.example"; // no phone in the seed
const ADMIN_PHONE: &str = "+14805550100";
const CANYON_ADMIN: &str = "admin@canyonridge.example";
/// What the UI says instead of the cloud's terse "code_expired" message.
const CODE_EXPIRED_UI: &str = "That code has expired. Send a new one.";
const DMS_UNAVAILABLE: &str = "not available with your DMS integration";

// ---- small UI steps ---------------------------------------------------------

/// Polls until the element `id` exists and its text contains `needle`.
pub(super) async fn wait_for_text(client: &Client, id: &str, needle: &str) -> String {
    let deadline = Instant::now() + WAIT;
    let mut last = String::new();
    loop {
        if let Ok(element) = client.find(Locator::Css(&testid(id))).await {
            // A re-render may replace the node between find and text: retry.
            if let Ok(text) = element.text().await {
                if text.contains(needle) {
                    return text;
                }
                last = text;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{id} did not show {needle:?} within {WAIT:?}; last text: {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The Users table row whose text contains `needle` (rows render asynchronously).
pub(super) async fn row_with(client: &Client, needle: &str) -> Element {
    let deadline = Instant::now() + WAIT;
    loop {
        // An Err (stale element while the table re-renders) is just "not yet".
        let rows = client
            .find_all(Locator::Css(&testid("user-row")))
            .await
            .unwrap_or_default();
        for row in rows {
            if row.text().await.is_ok_and(|t| t.contains(needle)) {
                return row;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no user-row contains {needle:?} within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Cell texts of the row containing `needle` once `predicate` holds for them
/// (columns: name, email, role, mobile phone, 2FA, status[, actions]).
async fn wait_for_row_cells(
    client: &Client,
    needle: &str,
    what: &str,
    predicate: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let deadline = Instant::now() + WAIT;
    let mut last = Vec::new();
    loop {
        let row = row_with(client, needle).await;
        if let Ok(cells) = row.find_all(Locator::Css("td")).await {
            let mut texts = Vec::new();
            for cell in cells {
                texts.push(cell.text().await.unwrap_or_default());
            }
            if predicate(&texts) {
                return texts;
            }
            last = texts;
        }
        assert!(
            Instant::now() < deadline,
            "the row of {needle} never showed {what}; last cells: {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub(super) async fn sign_in(client: &Client, email: &str, password: &str) {
    wait_for(client, "login-email").await;
    type_into(client, "login-email", email).await;
    type_into(client, "login-password", password).await;
    click(client, "login-submit").await;
}

pub(super) async fn expect_signed_in(client: &Client, email: &str) {
    let me = wait_for_text(client, "signed-in-user", email).await;
    assert!(me.contains(email), "the portal must show {email}: {me:?}");
    // A first sign-in with a second factor shows the recovery codes over the
    // portal (desktop::recovery_codes tests that dialog): put them away.
    if count(client, "recovery-dialog").await > 0 {
        click(client, "recovery-ack").await;
        click(client, "recovery-done").await;
        wait_until_gone(client, "recovery-dialog").await;
    }
}

pub(super) async fn sign_out(client: &Client) {
    click(client, "sign-out").await;
    wait_for(client, "login-email").await;
    wait_until_gone(client, "signed-in-user").await;
}

pub(super) async fn enter_code(client: &Client, code: &str) {
    type_into(client, "code-input", code).await;
    click(client, "code-submit").await;
}

/// The code dialog after a correct password: it names the phone and the
/// password alone has not signed in.
pub(super) async fn expect_code_dialog(client: &Client, last4: &str) {
    let text = wait_for_text(client, "code-dialog", &format!("••• ••• {last4}")).await;
    assert!(
        text.contains("Enter the code sent to"),
        "the dialog must say where the code went: {text:?}"
    );
    assert_eq!(
        count(client, "signed-in-user").await,
        0,
        "a password alone must never open the portal when 2FA applies"
    );
    assert_eq!(
        count(client, "enroll-dialog").await,
        0,
        "a user with a phone on file is asked for the code, not for a phone"
    );
}

/// Answers "Confirm it's you" (a security change asks for it): the password,
/// then the code texted to `phone` when the person has one.
pub(super) async fn confirm_its_you(
    client: &Client,
    cloud: &TestCloud,
    password: &str,
    phone: Option<&str>,
) {
    wait_for(client, "reauth-dialog").await;
    type_into(client, "reauth-password", password).await;
    click(client, "reauth-submit").await;
    if let Some(phone) = phone {
        wait_for(client, "code-input").await;
        enter_code(client, &cloud.last_code(phone).await).await;
    }
    wait_until_gone(client, "reauth-dialog").await;
}

pub(super) async fn open_edit_dialog(client: &Client, name: &str) {
    let row = row_with(client, name).await;
    row.find(Locator::Css(&testid("user-edit")))
        .await
        .unwrap_or_else(|e| panic!("an admin must see Edit on {name}'s row: {e}"))
        .click()
        .await
        .unwrap();
    let dialog = wait_for_text(client, "user-dialog", name).await;
    assert!(dialog.contains("General Info") && dialog.contains("Login Info"));
}

pub(super) async fn is_on(client: &Client, id: &str) -> bool {
    wait_for(client, id).await.is_selected().await.unwrap()
}

async fn is_enabled(client: &Client, id: &str) -> bool {
    wait_for(client, id).await.is_enabled().await.unwrap()
}

fn wrong_code_for(code: &str, n: u8) -> String {
    let candidate = format!("{n}").repeat(6);
    if candidate == code {
        format!("{}", (n + 1) % 10).repeat(6)
    } else {
        candidate
    }
}

fn real_now_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

async fn outbox_len(cloud: &TestCloud, to: &str) -> usize {
    secureclose_cloud::outbox(&cloud.database_url, Some(to))
        .await
        .unwrap()
        .len()
}

/// Turns 2FA on for one user the way the admin portal does (through core),
/// for scenarios whose subject is not the admin's part.
pub(super) async fn enable_two_factor(cloud: &TestCloud, name_prefix: &str) {
    let dir = tempfile::tempdir().unwrap();
    let core = open_core(
        dir.path(),
        cloud.base_url(),
        Arc::new(MemoryKeyStore::default()),
    )
    .await;
    core.login(&cloud.seed.admin_email, &cloud.seed.admin_password)
        .await
        .unwrap();
    crate::core_sync::wait_for_first_sync(&core).await;
    let user = core.list_users(name_prefix, 0, 1).await.unwrap().users[0].clone();
    let updated = core
        .update_user(
            &user.id,
            &UserUpdate {
                two_factor_enabled: Some(true),
                ..UserUpdate::default()
            },
        )
        .await
        .unwrap();
    assert!(updated.two_factor_enabled);
    core.logout().await.unwrap();
}

// ---- (1) a single user -----------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb + tauri-driver: run scripts/test"]
async fn article_single_user_admin_turns_2fa_on_and_the_user_signs_in_with_the_texted_code() {
    let cloud = Arc::new(TestCloud::start_dev().await);
    let scenario_cloud = cloud.clone();
    run_app(cloud.base_url(), move |client| {
        single_user(client, scenario_cloud)
    })
    .await;
}

async fn single_user(client: Client, cloud: Arc<TestCloud>) {
    let seed = &cloud.seed;
    wait_for(&client, "login-email").await;
    screenshot(&client, "2fa-1-01-login").await;
    assert_accessible(&client, "login").await;
    // Forgotten password: the explanation opens in place, in the real webview.
    click(&client, "forgot-password").await;
    wait_for_text(&client, "forgot-password-help", "Reset password").await;
    screenshot(&client, "2fa-1-01b-login-forgot-password").await;
    assert_accessible(&client, "login-forgot-password").await;
    click(&client, "forgot-password").await;

    // Steps 1-2: the admin logs in and opens the Users tab.
    sign_in(&client, &seed.admin_email, &seed.admin_password).await;
    expect_signed_in(&client, &seed.admin_email).await;
    click(&client, "nav-users").await;
    wait_for_row_cells(&client, "Tom Becker", "no phone and 2FA off", |c| {
        c[3] == "Not set" && c[4] == "Off"
    })
    .await;
    screenshot(&client, "2fa-1-02-users").await;
    assert_accessible(&client, "users").await;

    // Step 3: Edit on Tom's row. Step 4: a mobile phone on General Info.
    open_edit_dialog(&client, "Tom Becker").await;
    click(&client, "tab-general").await;
    type_into(&client, "user-phone", "(480) 555-0199").await;
    screenshot(&client, "2fa-1-03-edit-general-info").await;
    assert_accessible(&client, "edit-dialog-general-info").await;

    // Step 5: the toggle on Login Info, then Update.
    click(&client, "tab-login").await;
    assert!(
        !is_on(&client, "user-two-factor").await,
        "Tom starts with 2FA off"
    );
    click(&client, "user-two-factor").await;
    assert!(
        is_on(&client, "user-two-factor").await,
        "clicking the toggle must turn it on"
    );
    screenshot(&client, "2fa-1-04-edit-login-info").await;
    assert_accessible(&client, "edit-dialog-login-info").await;
    click(&client, "user-update").await;
    wait_until_gone(&client, "user-dialog").await;
    let cells = wait_for_row_cells(&client, "Tom Becker", "the phone and 2FA on", |c| {
        c[3] == "+1 (480) 555-0199" && c[4] == "On"
    })
    .await;
    assert_eq!(cells[1], TOM, "the update must land on Tom's row");
    screenshot(&client, "2fa-1-05-users-after-update").await;
    sign_out(&client).await;

    // Step 6: Tom's password is followed by a code texted to his phone.
    sign_in(&client, TOM, cloud.password_of(TOM)).await;
    expect_code_dialog(&client, "0199").await;
    let attempts = wait_for_text(&client, "code-attempts", "5 attempts left").await;
    assert_eq!(attempts, "5 attempts left", "each code allows 5 tries");
    screenshot(&client, "2fa-1-06-code-dialog").await;
    assert_accessible(&client, "code-dialog").await;
    let code = cloud.last_code("+14805550199").await;

    // A wrong code first: the error and the tries left are shown.
    enter_code(&client, &wrong_code_for(&code, 0)).await;
    let wrong = CloudError::InvalidCode { attempts_left: 4 }.to_string();
    wait_for_text(&client, "code-error", &wrong).await;
    wait_for_text(&client, "code-attempts", "4 attempts left").await;
    assert_eq!(count(&client, "signed-in-user").await, 0);
    screenshot(&client, "2fa-1-07-code-wrong").await;
    assert_accessible(&client, "code-dialog-error").await;

    enter_code(&client, &code).await;
    expect_signed_in(&client, TOM).await;
    wait_until_gone(&client, "code-dialog").await;
    screenshot(&client, "2fa-1-08-portal").await;

    // A non-admin sees their active colleagues (name, email, role; phone
    // and 2FA withheld) and no Edit controls.
    click(&client, "nav-users").await;
    let everyone = company_emails(seed);
    for email in everyone.iter().filter(|e| e.as_str() != DEMO_DISABLED_USER) {
        let row = row_with(&client, email).await;
        if email != TOM {
            let cells = row.find_all(Locator::Css("td")).await.unwrap();
            assert_eq!(
                cells[3].text().await.unwrap(),
                "—",
                "{email}'s phone must not reach a non-admin"
            );
        }
    }
    assert_eq!(
        count(&client, "user-edit").await,
        0,
        "a non-admin must not see Edit buttons"
    );
    let rows = client
        .find_all(Locator::Css(&testid("user-row")))
        .await
        .unwrap();
    for row in rows {
        let text = row.text().await.unwrap_or_default();
        assert!(
            !text.contains(DEMO_DISABLED_USER),
            "a disabled colleague is not shown to a non-admin: {text}"
        );
    }
    screenshot(&client, "2fa-1-09-users-non-admin").await;
    sign_out(&client).await;
}

// ---- (2) the whole company -------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb + tauri-driver: run scripts/test"]
async fn article_company_wide_code_for_users_with_a_phone_enrolment_for_users_without() {
    let cloud = Arc::new(TestCloud::start_dev().await);
    let scenario_cloud = cloud.clone();
    run_app(cloud.base_url(), move |client| {
        company_wide(client, scenario_cloud)
    })
    .await;
}

async fn company_wide(client: Client, cloud: Arc<TestCloud>) {
    let seed = &cloud.seed;
    // Steps 1-3: Company Profile, the toggle on, Save.
    sign_in(&client, &seed.admin_email, &seed.admin_password).await;
    expect_signed_in(&client, &seed.admin_email).await;
    click(&client, "nav-company").await;
    assert!(
        !is_on(&client, "company-two-factor-toggle").await,
        "company 2FA starts off"
    );
    screenshot(&client, "2fa-2-01-company").await;
    assert_accessible(&client, "company-profile").await;
    click(&client, "company-two-factor-toggle").await;
    click(&client, "company-save").await;
    wait_for(&client, "company-saved").await;
    wait_for_text(&client, "company-two-factor", "On").await;
    screenshot(&client, "2fa-2-02-company-saved").await;
    assert_accessible(&client, "company-profile-saved").await;
    sign_out(&client).await;

    // Step 4a: a user with a phone is asked for the texted code.
    sign_in(&client, EMILY, cloud.password_of(EMILY)).await;
    expect_code_dialog(&client, "0162").await;
    enter_code(&client, &cloud.last_code(EMILY_PHONE).await).await;
    expect_signed_in(&client, EMILY).await;
    sign_out(&client).await;

    // Step 4b: a user without a phone must add one at sign-in.
    sign_in(&client, JAMAL, cloud.password_of(JAMAL)).await;
    // The dialog must say why a factor is asked for and offer a phone or an app.
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
    assert_eq!(count(&client, "code-dialog").await, 0);
    assert_eq!(count(&client, "signed-in-user").await, 0);
    screenshot(&client, "2fa-2-03-enrol-dialog").await;
    assert_accessible(&client, "enrol-dialog").await;
    click(&client, "enroll-choose-sms").await;
    wait_for_text(&client, "enroll-dialog", "Mobile phone").await;

    // Not a phone number: a clear inline error, no SMS.
    type_into(&client, "enroll-phone", "12345").await;
    click(&client, "enroll-send").await;
    let error = wait_for(&client, "enroll-phone-error")
        .await
        .text()
        .await
        .unwrap();
    assert!(!error.is_empty(), "an invalid number must be explained");
    screenshot(&client, "2fa-2-04-enrol-invalid-phone").await;
    assert_accessible(&client, "enrol-dialog-invalid-phone").await;

    type_into(&client, "enroll-phone", "(602) 555-0188").await;
    click(&client, "enroll-send").await;
    wait_for(&client, "code-input").await;
    wait_for_text(&client, "enroll-dialog", "••• ••• 0188").await;
    screenshot(&client, "2fa-2-05-enrol-code-step").await;
    assert_accessible(&client, "enrol-dialog-code-step").await;
    enter_code(&client, &cloud.last_code("+16025550188").await).await;
    expect_signed_in(&client, JAMAL).await;
    wait_until_gone(&client, "enroll-dialog").await;

    // Step 5: the verified phone is on his profile now.
    click(&client, "nav-users").await;
    wait_for_row_cells(&client, "Jamal Carter", "the enrolled phone", |c| {
        c[3] == "+1 (602) 555-0188"
    })
    .await;
    screenshot(&client, "2fa-2-06-users-enrolled-phone").await;
    sign_out(&client).await;

    // "For future logins": only the code now.
    sign_in(&client, JAMAL, cloud.password_of(JAMAL)).await;
    expect_code_dialog(&client, "0188").await;
    enter_code(&client, &cloud.last_code("+16025550188").await).await;
    expect_signed_in(&client, JAMAL).await;
    sign_out(&client).await;

    // Admins are not exempt; the admin sees Jamal's phone too.
    sign_in(&client, &seed.admin_email, &seed.admin_password).await;
    expect_code_dialog(&client, "0100").await;
    enter_code(&client, &cloud.last_code(ADMIN_PHONE).await).await;
    expect_signed_in(&client, &seed.admin_email).await;
    click(&client, "nav-users").await;
    wait_for_row_cells(&client, "Jamal Carter", "the enrolled phone", |c| {
        c[3] == "+1 (602) 555-0188"
    })
    .await;
    sign_out(&client).await;
}

// ---- (3) failure states ------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb + tauri-driver: run scripts/test"]
async fn code_dialog_shows_wrong_code_cooldown_expiry_and_the_closed_attempt() {
    let clock = Arc::new(ManualClock::new());
    let cloud = Arc::new(TestCloud::start_dev_with_clock(clock.clone()).await);
    enable_two_factor(&cloud, "emily").await;
    let scenario_cloud = cloud.clone();
    run_app(cloud.base_url(), move |client| {
        failure_states(client, scenario_cloud, clock)
    })
    .await;
}

async fn failure_states(client: Client, cloud: Arc<TestCloud>, clock: Arc<ManualClock>) {
    wait_for(&client, "login-email").await;
    // The UI counts the resend cooldown down on the desktop's real clock from
    // the cloud's `resend_available_at`. The cloud's clock stands still, set
    // 15 s behind real time: the UI's 30 s countdown ends after ~15 real
    // seconds while the cloud still sees no time passing.
    clock.set(real_now_ms() - 15_000);
    sign_in(&client, EMILY, cloud.password_of(EMILY)).await;
    expect_code_dialog(&client, "0162").await;
    let first_code = cloud.last_code(EMILY_PHONE).await;

    // Resend cooldown: disabled, with the countdown.
    let resend = wait_for_text(&client, "code-resend", "Resend in ").await;
    let seconds: u32 = resend
        .trim_start_matches("Resend in ")
        .trim_end_matches(" s")
        .parse()
        .unwrap_or_else(|e| panic!("the countdown must show seconds: {resend:?} ({e})"));
    assert!(
        (1..=15).contains(&seconds),
        "the countdown comes from the cloud's resend time: {resend:?}"
    );
    assert!(
        !is_enabled(&client, "code-resend").await,
        "Resend must be disabled during the countdown"
    );
    screenshot(&client, "2fa-3-01-resend-countdown").await;

    // Wrong code: the error and the tries left.
    enter_code(&client, &wrong_code_for(&first_code, 0)).await;
    let wrong = CloudError::InvalidCode { attempts_left: 4 }.to_string();
    wait_for_text(&client, "code-error", &wrong).await;
    wait_for_text(&client, "code-attempts", "4 attempts left").await;
    screenshot(&client, "2fa-3-02-wrong-code").await;

    // Resend asked for before the CLOUD's cooldown ended: its refusal is shown
    // and no SMS goes out.
    wait_for_text(&client, "code-resend", "Resend code").await;
    assert!(is_enabled(&client, "code-resend").await);
    click(&client, "code-resend").await;
    let too_soon = CloudError::ResendTooSoon { retry_at: 0 }.to_string();
    wait_for_text(&client, "code-error", &too_soon).await;
    assert_eq!(
        outbox_len(&cloud, EMILY_PHONE).await,
        1,
        "a refused resend must not send a text"
    );
    screenshot(&client, "2fa-3-03-resend-too-soon").await;

    // Expired: 11 minutes later the texted code no longer works.
    clock.advance(Duration::from_secs(11 * 60));
    enter_code(&client, &first_code).await;
    wait_for_text(&client, "code-error", CODE_EXPIRED_UI).await;
    assert_eq!(count(&client, "signed-in-user").await, 0);
    screenshot(&client, "2fa-3-04-code-expired").await;

    // Resend after the cooldown: a new code, and the tries the attempt had
    // left (a resend never resets a failure count).
    click(&client, "code-resend").await;
    wait_for_text(&client, "code-dialog", "A new code was sent").await;
    assert_eq!(
        outbox_len(&cloud, EMILY_PHONE).await,
        2,
        "Resend sends exactly one new text"
    );
    let second_code = cloud.last_code(EMILY_PHONE).await;
    assert_ne!(second_code, first_code);
    wait_for_text(&client, "code-attempts", "4 attempts left").await;

    // Lockout: the 5th wrong try of the attempt closes it; back to sign-in
    // with why. (The cloud's growing delay after repeated failures runs on
    // its clock: step it past each delay, as a patient user would.)
    for n in 1..=4u8 {
        clock.advance(Duration::from_secs(60));
        enter_code(&client, &wrong_code_for(&second_code, n)).await;
        if n < 4 {
            let left = format!("{} attempt{} left", 4 - n, if n == 3 { "" } else { "s" });
            wait_for_text(&client, "code-attempts", &left).await;
        }
    }
    let closed = CloudError::ChallengeClosed.to_string();
    let login_error = wait_for_text(&client, "login-error", &closed).await;
    wait_until_gone(&client, "code-dialog").await;
    assert_eq!(count(&client, "signed-in-user").await, 0);
    screenshot(&client, "2fa-3-05-attempt-closed").await;
    assert_accessible(&client, "login-attempt-closed").await;
    assert!(
        !login_error.contains(&second_code),
        "no code in the UI's messages"
    );

    // The closed attempt is over, the account is not: a new sign-in works.
    clock.advance(Duration::from_secs(60));
    sign_in(&client, EMILY, cloud.password_of(EMILY)).await;
    expect_code_dialog(&client, "0162").await;
    enter_code(&client, &cloud.last_code(EMILY_PHONE).await).await;
    expect_signed_in(&client, EMILY).await;
    sign_out(&client).await;
}

// ---- (4) DMS gating ------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb + tauri-driver: run scripts/test"]
async fn without_dms_support_both_toggles_are_disabled_and_say_why() {
    let cloud = Arc::new(TestCloud::start_dev().await);
    let password = "canyon-ridge-e2e-password";
    cloud.set_canyon_ridge_password(password).await;
    run_app(cloud.base_url(), move |client| dms_gating(client, password)).await;
}

async fn dms_gating(client: Client, password: &'static str) {
    sign_in(&client, CANYON_ADMIN, password).await;
    expect_signed_in(&client, CANYON_ADMIN).await;

    click(&client, "nav-company").await;
    wait_for_text(&client, "two-factor-unavailable", DMS_UNAVAILABLE).await;
    assert!(
        !is_enabled(&client, "company-two-factor-toggle").await,
        "the company toggle must be disabled when the DMS has no 2FA"
    );
    screenshot(&client, "2fa-4-01-company-dms-unavailable").await;
    assert_accessible(&client, "company-profile-dms-unavailable").await;

    click(&client, "nav-users").await;
    open_edit_dialog(&client, "Nina Patel").await;
    click(&client, "tab-login").await;
    wait_for_text(&client, "two-factor-unavailable", DMS_UNAVAILABLE).await;
    assert!(
        !is_enabled(&client, "user-two-factor").await,
        "the user toggle must be disabled when the DMS has no 2FA"
    );
    screenshot(&client, "2fa-4-02-user-dms-unavailable").await;
    assert_accessible(&client, "edit-dialog-dms-unavailable").await;
    click(&client, "user-dialog-cancel").await;
    wait_until_gone(&client, "user-dialog").await;
    sign_out(&client).await;
}

// ---- (5) the sign-in form after a sign-out -----------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb + tauri-driver: run scripts/test"]
async fn the_sign_in_form_keeps_every_character_typed_the_moment_it_appears_after_sign_out() {
    let cloud = Arc::new(TestCloud::start_dev().await);
    let scenario_cloud = cloud.clone();
    run_app(cloud.base_url(), move |client| {
        typed_right_after_sign_out(client, scenario_cloud)
    })
    .await;
}

/// The next person types at once: every key must land in the field. Keys go
/// one at a time, at a typist's pace, so a reset or a replaced field at any
/// point after the form appeared shows up as a dropped character or a stale field.
async fn typed_right_after_sign_out(client: Client, cloud: Arc<TestCloud>) {
    let seed = &cloud.seed;
    // Twice: once during the first sync on this computer, once after it.
    for round in 1..=2 {
        sign_in(&client, &seed.admin_email, &seed.admin_password).await;
        expect_signed_in(&client, &seed.admin_email).await;
        if round == 2 {
            super::offline::wait_for_state(&client, "idle", WAIT).await;
        }
        click(&client, "sign-out").await;
        // Looked for every few milliseconds, not wait_for's quarter second,
        // so typing starts the moment the field is there.
        let field = client
            .wait()
            .at_most(WAIT)
            .every(Duration::from_millis(5))
            .for_element(Locator::Css(&testid("login-email")))
            .await
            .unwrap_or_else(|e| panic!("round {round}: no sign-in form after sign-out: {e}"));
        for key in TOM.chars() {
            // A person's keys go wherever the focus is.
            let focused = client.active_element().await.unwrap();
            focused
                .send_keys(&key.to_string())
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "round {round}: the email field was replaced while {key:?} was typed: {e}"
                    )
                });
        }
        let typed = field
            .prop("value")
            .await
            .unwrap_or_else(|e| {
                panic!("round {round}: the email field that appeared was replaced: {e}")
            })
            .unwrap_or_default();
        assert_eq!(
            typed, TOM,
            "round {round}: the sign-in field must hold everything typed right after sign-out"
        );
        // Whatever the sign-out still does after the form appeared must not
        // reset or replace it.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let later = wait_for(&client, "login-email").await;
        let value = later.prop("value").await.unwrap().unwrap_or_default();
        assert_eq!(
            value, TOM,
            "round {round}: the typed email must still be there after the sign-out settled"
        );
        // Back to an empty form for the next round (select all, delete).
        later.send_keys("\u{E009}a\u{E000}\u{E003}").await.unwrap();
    }
}
