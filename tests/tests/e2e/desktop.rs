//! The real desktop app (built with the UI embedded), driven through
//! tauri-driver + WebKitWebDriver under Xvfb, against a real cloud.
//! `two_factor` follows the help-center article's 2FA procedures; `axe` scans
//! each screen for accessibility violations in the real webview; `offline`
//! signs in and edits with the cloud stopped, then watches the edit sync;
//! `onboarding` takes a dealership from the cloud CLI's `company create`
//! through activation, users, passwords and the company's policies.

mod axe;
mod factor_reset;
mod idle_lock;
mod offline;
mod offline_app;
mod onboarding;
mod recovery_codes;
mod totp;
mod trusted;
mod two_factor;
mod updater;

use std::collections::BTreeSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fantoccini::{elements::Element, Client, ClientBuilder, Locator};
use secureclose_cloud::DemoSeed;

use crate::support::{
    artifacts_dir, assert_no_plaintext, company_emails, env_path, free_port, sqlite_url,
    wait_for_port, ProcessGroup, TestCloud,
};

const WAIT: Duration = Duration::from_secs(30);

fn testid(id: &str) -> String {
    format!("[data-testid=\"{id}\"]")
}

async fn wait_for(client: &Client, id: &str) -> Element {
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(&testid(id)))
        .await
        .unwrap_or_else(|e| panic!("element {id} did not appear within {WAIT:?}: {e}"))
}

async fn count(client: &Client, id: &str) -> usize {
    // WebKitWebDriver may answer "stale element" when the DOM changes during
    // the search (a dialog closing, a list re-rendering): search again.
    let mut tries = 0;
    loop {
        match client.find_all(Locator::Css(&testid(id))).await {
            Ok(found) => return found.len(),
            Err(e) if tries < 10 => {
                eprintln!("searching {id} again after: {e}");
                tries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("cannot search for {id}: {e}"),
        }
    }
}

/// Polls until `id` occurs `expected` times (lists render and filter asynchronously).
async fn wait_for_count(client: &Client, id: &str, expected: usize) {
    let deadline = Instant::now() + WAIT;
    loop {
        let found = count(client, id).await;
        if found == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "expected {expected} × {id}, still {found} after {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_until_gone(client: &Client, id: &str) {
    let deadline = Instant::now() + WAIT;
    while count(client, id).await > 0 {
        assert!(Instant::now() < deadline, "{id} still shown after {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn type_into(client: &Client, id: &str, text: &str) {
    let input = wait_for(client, id).await;
    // Empty the field with keystrokes, as a person would (Ctrl+A, Backspace):
    // WebDriver's clear() sets the DOM value without an input event, so React
    // keeps its old state and its next render (a countdown tick) puts the old
    // text back in front of what is typed next.
    input.send_keys("\u{E009}a\u{E000}\u{E003}").await.unwrap();
    if !input
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default()
        .is_empty()
    {
        // A driver without the select-all chord: the DOM way, racy as above.
        input.clear().await.unwrap();
    }
    input.send_keys(text).await.unwrap();
    let value = input.prop("value").await.unwrap().unwrap_or_default();
    assert_eq!(
        value, text,
        "{id} must hold exactly what was typed: a dropped or restored character is a bug"
    );
}

async fn click(client: &Client, id: &str) {
    wait_for(client, id).await.click().await.unwrap();
}

/// A PNG of the current screen in the artifacts dir: the WebDriver screenshot,
/// or the whole X display when the driver cannot take one.
async fn screenshot(client: &Client, name: &str) {
    let path = artifacts_dir().join(format!("{name}.png"));
    // Let CSS transitions (a switch's colour: 120 ms) finish first, so the
    // picture shows the state the test just asserted, not a frame halfway.
    // A plain timer: requestAnimationFrame never fired in one CI run (the
    // webview had nothing to repaint) and WebKitWebDriver enforced no script
    // timeout, so the whole test hung; the outer timeout bounds any such stall.
    let settle = "const done = arguments[arguments.length - 1]; setTimeout(done, 250);";
    match tokio::time::timeout(
        Duration::from_secs(10),
        client.execute_async(settle, vec![]),
    )
    .await
    {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => eprintln!("waiting for the page to settle before {name} failed: {e}"),
        Err(_) => eprintln!("the page did not settle within 10 s before {name}"),
    }
    match client.screenshot().await {
        Ok(png) => std::fs::write(&path, png).unwrap(),
        Err(e) => {
            eprintln!("WebDriver screenshot failed ({e}); using `import -window root`");
            let status = Command::new("import")
                .args(["-window", "root"])
                .arg(&path)
                .status()
                .unwrap();
            assert!(status.success(), "screenshot {name} could not be saved");
        }
    }
}

/// The cloud the app talks to: the built binary when SECURECLOSE_CLOUD_BIN is set
/// (as scripts/test does), the library in-process otherwise.
enum Cloud {
    Binary {
        _process: ProcessGroup,
        url: String,
        seed: DemoSeed,
        _dir: tempfile::TempDir,
    },
    Library(TestCloud),
}

impl Cloud {
    async fn start() -> Self {
        let Some(bin) = std::env::var_os("SECURECLOSE_CLOUD_BIN").filter(|v| !v.is_empty()) else {
            return Cloud::Library(TestCloud::start().await);
        };
        let bin = PathBuf::from(bin);
        let dir = tempfile::tempdir().unwrap();
        let database_url = sqlite_url(&dir.path().join("cloud.db"));
        // seed_demo migrates the fresh file and returns the passwords it set.
        let seed = secureclose_cloud::seed_demo(&database_url).await.unwrap();
        let port = free_port();
        let mut command = Command::new(&bin);
        // --dev: production mode refuses to start without Twilio credentials;
        // dev mode only adds the SMS outbox (security checks are the same).
        command
            .args(["serve", "--dev", "--database-url", &database_url])
            .args(["--bind", &format!("127.0.0.1:{port}")]);
        let mut process = ProcessGroup::spawn("secureclose-cloud", command);
        wait_for_port(port, "secureclose-cloud", &mut process);
        Cloud::Binary {
            _process: process,
            url: format!("http://127.0.0.1:{port}"),
            seed,
            _dir: dir,
        }
    }

    fn url(&self) -> &str {
        match self {
            Cloud::Binary { url, .. } => url,
            Cloud::Library(cloud) => cloud.base_url(),
        }
    }

    fn seed(&self) -> &DemoSeed {
        match self {
            Cloud::Binary { seed, .. } => seed,
            Cloud::Library(cloud) => &cloud.seed,
        }
    }
}

async fn login_error_message(cloud_url: &str, email: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{cloud_url}/api/v1/login"))
        .json(&serde_json::json!({"email": email, "password": "wrong password!"}))
        .send()
        .await
        .unwrap();
    let error: secureclose_protocol::ApiError = response.json().await.unwrap();
    error.message
}

/// A user's journey through every screen (sign-in, a wrong password, the
/// users table and its search, the company, sign-out), one screenshot each.
async fn journey(client: Client, seed: DemoSeed, cloud_url: String) {
    wait_for(&client, "login-email").await;
    screenshot(&client, "01-login").await;

    // Wrong password: the error is shown and we stay on the login screen.
    type_into(&client, "login-email", &seed.admin_email).await;
    type_into(&client, "login-password", "wrong password!").await;
    click(&client, "login-submit").await;
    let error = wait_for(&client, "login-error").await.text().await.unwrap();
    let cloud_message = login_error_message(&cloud_url, &seed.admin_email).await;
    assert!(
        error.contains(&cloud_message),
        "the login error must tell the user why (cloud said {cloud_message:?}), shown: {error:?}"
    );
    assert!(
        !error.contains("wrong password!"),
        "the error must not echo the password"
    );
    assert_eq!(
        count(&client, "signed-in-user").await,
        0,
        "a wrong password must not sign in"
    );
    screenshot(&client, "02-login-wrong-password").await;

    // The demo admin signs in and sees the company's users.
    type_into(&client, "login-password", &seed.admin_password).await;
    click(&client, "login-submit").await;
    wait_for(&client, "users-table").await;
    let emails = company_emails(&seed);
    wait_for_count(&client, "user-row", emails.len()).await;
    let table = wait_for(&client, "users-table").await.text().await.unwrap();
    for email in &emails {
        assert!(
            table.contains(email.as_str()),
            "users table must list {email}: {table}"
        );
    }
    let me = wait_for(&client, "signed-in-user")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        me.contains(&seed.admin_email),
        "the signed-in user must be visible: {me:?}"
    );
    screenshot(&client, "03-users").await;

    // Search narrows the table to the matching user.
    let (target, _) = &seed.users[0];
    let query = target.split('@').next().unwrap();
    let matching: BTreeSet<_> = emails.iter().filter(|e| e.contains(query)).collect();
    type_into(&client, "users-search", query).await;
    wait_for_count(&client, "user-row", matching.len()).await;
    let filtered = wait_for(&client, "users-table").await.text().await.unwrap();
    assert!(
        filtered.contains(target.as_str()),
        "search for {query} must keep {target}: {filtered}"
    );
    assert!(
        !filtered.contains(&seed.admin_email),
        "search for {query} must hide the admin row: {filtered}"
    );
    screenshot(&client, "04-users-search").await;

    // Company profile.
    click(&client, "nav-company").await;
    let name = wait_for(&client, "company-name")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        name.contains(&seed.company_name),
        "Company Profile must show {}: {name:?}",
        seed.company_name
    );
    screenshot(&client, "05-company").await;

    // Sign out returns to the login screen.
    click(&client, "sign-out").await;
    wait_for(&client, "login-email").await;
    wait_until_gone(&client, "signed-in-user").await;
    screenshot(&client, "06-signed-out").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb + tauri-driver: run scripts/test"]
async fn desktop_app_signs_in_lists_users_shows_the_company_and_signs_out() {
    let cloud = Cloud::start().await;
    let (seed, url) = (cloud.seed().clone(), cloud.url().to_owned());
    let data = run_app(cloud.url(), move |client| journey(client, seed, url)).await;

    // The app has exited: its cache on disk must not reveal the users.
    let emails = company_emails(cloud.seed());
    let checked = assert_no_plaintext(data.path(), &emails);
    assert!(
        checked > 0,
        "the app must have written its cache to SECURECLOSE_DATA_DIR"
    );
}

/// Starts the real app (through its own tauri-driver, on a fresh data dir,
/// talking to `cloud_url`), runs `scenario` on the WebDriver session, then
/// ALWAYS closes the session and stops the driver's whole process group before
/// re-raising a failed assertion. Returns the app's data dir (the app has exited).
async fn run_app<F, Fut>(cloud_url: &str, scenario: F) -> tempfile::TempDir
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let app = env_path("SECURECLOSE_APP_BIN");
    let display = std::env::var("DISPLAY")
        .ok()
        .filter(|d| !d.is_empty())
        .expect("DISPLAY must point at an X server (scripts/test starts Xvfb)");
    let data = tempfile::tempdir().unwrap();

    let port = free_port();
    let native_port = free_port();
    let mut command = Command::new("tauri-driver");
    command
        .args([
            "--port",
            &port.to_string(),
            "--native-port",
            &native_port.to_string(),
        ])
        .env("DISPLAY", &display)
        .env("SECURECLOSE_CLOUD_URL", cloud_url)
        .env("SECURECLOSE_DATA_DIR", data.path());
    let mut driver = ProcessGroup::spawn("tauri-driver", command);
    wait_for_port(port, "tauri-driver", &mut driver);

    let client = connect(port, &app).await;
    // A task, so a failed assertion still lets us close the session and stop
    // the driver before reporting it.
    let outcome = tokio::spawn(scenario(client.clone())).await;
    if let Err(e) = client.close().await {
        eprintln!("closing the WebDriver session failed: {e}");
    }
    drop(driver);
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
    data
}

async fn connect(port: u16, app: &Path) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "tauri:options".into(),
        serde_json::json!({ "application": app }),
    );
    // tauri-driver speaks plain HTTP on loopback: no TLS (and no rustls crypto
    // provider choice) involved.
    // tauri-driver listens before its WebKitWebDriver does: a session asked
    // for in between gets no answer (SendRequest). Ask again, briefly.
    let mut attempt = 1;
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let session = ClientBuilder::new(connector)
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await;
        match session {
            Ok(client) => return client,
            Err(e) if attempt < 5 && e.to_string().contains("did not respond") => {
                eprintln!("WebDriver session attempt {attempt} got no answer ({e}); again");
                attempt += 1;
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => panic!("no WebDriver session with {}: {e}", app.display()),
        }
    }
}
