//! In-app update of the INSTALLED app, as a customer gets it:
//! `dpkg -i` an older .deb, start it, and let it find a newer release that a
//! real cloud (the built binary, releases registered with `secureclose-cloud
//! release add`) announces on loopback. Four runs of the installed app:
//! 204 leaves it alone; a tampered artifact and a signature from another key
//! are refused with the installed version unchanged; the genuine release is
//! downloaded, verified, installed with dpkg and the app restarts as the new
//! version.
//!
//! Inputs come from scripts/test, which builds both .deb files with a
//! throwaway key pair (`tauri signer generate`) and the update endpoint on a
//! fixed loopback port baked in with `tauri build --config`:
//! `$SECURECLOSE_UPDATE_BUNDLES/info.json`. Needs root (dpkg) and `sudo`
//! (the updater's fallback after pkexec), as on CI.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::Client;

use fantoccini::Locator;

use super::{click, connect, count, screenshot, wait_for, WAIT};
use crate::support::{artifacts_dir, env_path, free_port, sqlite_url, wait_for_port, ProcessGroup};

/// Where the .deb installs the app (tauri's deb bundle: /usr/bin/<binary>).
const INSTALLED_APP: &str = "/usr/bin/secureclose";
/// dpkg-query's package name for the app.
const PACKAGE: &str = "secure-close";

struct Bundles {
    old_version: String,
    new_version: String,
    /// The loopback port the update endpoint of both builds points at.
    port: u16,
    old_deb: PathBuf,
    new_deb: PathBuf,
    /// Signature of new_deb with the key whose public half is in both builds.
    new_sig: PathBuf,
    /// Signature of the same bytes with an unrelated key.
    other_key_sig: PathBuf,
}

fn bundles() -> Bundles {
    let dir = std::env::var_os("SECURECLOSE_UPDATE_BUNDLES")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .expect("SECURECLOSE_UPDATE_BUNDLES is not set: run this test through scripts/test");
    let info = std::fs::read_to_string(dir.join("info.json")).unwrap();
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    let text = |key: &str| {
        info[key]
            .as_str()
            .unwrap_or_else(|| panic!("info.json has no {key}"))
            .to_owned()
    };
    Bundles {
        old_version: text("old_version"),
        new_version: text("new_version"),
        port: info["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .unwrap(),
        old_deb: text("old_deb").into(),
        new_deb: text("new_deb").into(),
        new_sig: text("new_sig").into(),
        other_key_sig: text("other_key_sig").into(),
    }
}

fn installed_version() -> Option<String> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Status} ${Version}", PACKAGE])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.strip_prefix("install ok installed ")
        .map(|v| v.trim().to_owned())
}

/// `dpkg` as root: directly when we are (our CI), through `sudo -n` otherwise
/// (GitHub's runners have passwordless sudo).
fn dpkg_command() -> Command {
    let uid = Command::new("id").arg("-u").output().unwrap();
    if String::from_utf8_lossy(&uid.stdout).trim() == "0" {
        Command::new("dpkg")
    } else {
        let mut sudo = Command::new("sudo");
        sudo.args(["-n", "dpkg"]);
        sudo
    }
}

fn dpkg(args: &[&str]) {
    let out = dpkg_command().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "dpkg {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Serves fixed files over plain HTTP/1.1 on loopback, like a download CDN.
fn serve_files(files: HashMap<String, Vec<u8>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let files = Arc::new(files);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let files = files.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(&stream);
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    return;
                }
                // Drain the headers; the updater sends no body.
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let path = request_line.split_whitespace().nth(1).unwrap_or("/");
                let mut stream = &stream;
                let _ = match files.get(path) {
                    Some(body) => stream
                        .write_all(
                            format!(
                                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
                                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                                body.len()
                            )
                            .as_bytes(),
                        )
                        .and_then(|()| stream.write_all(body)),
                    None => stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    ),
                };
                let _ = stream.flush();
                let mut rest = Vec::new();
                let _ = reader.read_to_end(&mut rest);
            });
        }
    });
    port
}

/// A fresh cloud (the built binary) on the port the builds point at, with
/// `release` registered through the CLI when given: (artifact URL, .sig file).
fn start_cloud(b: &Bundles, release: Option<(&str, &Path)>, dir: &Path) -> ProcessGroup {
    let bin = env_path("SECURECLOSE_CLOUD_BIN");
    let database_url = sqlite_url(&dir.join(format!("cloud-{}.db", free_port())));
    if let Some((url, sig)) = release {
        let out = Command::new(&bin)
            .args(["release", "add", "--database-url", &database_url])
            .args(["--version", &b.new_version, "--target", "linux"])
            .args(["--arch", std::env::consts::ARCH, "--installer", "deb"])
            .args([
                "--url",
                url,
                "--notes",
                "Faster sync and a clearer login screen.",
            ])
            .arg("--signature-file")
            .arg(sig)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "release add failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut command = Command::new(&bin);
    command
        .args(["serve", "--dev", "--database-url", &database_url])
        .args(["--bind", &format!("127.0.0.1:{}", b.port)]);
    let mut cloud = ProcessGroup::spawn("update-cloud", command);
    wait_for_port(b.port, "secureclose-cloud", &mut cloud);
    cloud
}

/// Starts the INSTALLED app through its own tauri-driver, runs `scenario`,
/// then closes the session and stops the whole group (the restarted app too).
async fn run_installed<F, Fut>(log_name: &str, cloud_port: u16, scenario: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let display = std::env::var("DISPLAY")
        .ok()
        .filter(|d| !d.is_empty())
        .expect("DISPLAY must point at an X server (scripts/test starts Xvfb)");
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let native_port = free_port();
    let mut command = Command::new("tauri-driver");
    command
        .args(["--port", &port.to_string()])
        .args(["--native-port", &native_port.to_string()])
        .env("DISPLAY", &display)
        .env("NO_COLOR", "1")
        .env(
            "SECURECLOSE_CLOUD_URL",
            format!("http://127.0.0.1:{cloud_port}"),
        )
        .env("SECURECLOSE_DATA_DIR", data.path());
    let mut driver = ProcessGroup::spawn(log_name, command);
    wait_for_port(port, "tauri-driver", &mut driver);
    let client = connect(port, Path::new(INSTALLED_APP)).await;
    let outcome = tokio::spawn(scenario(client.clone())).await;
    if let Err(e) = client.close().await {
        // Expected after the restart: the session's app has exited.
        eprintln!("closing the WebDriver session failed: {e}");
    }
    drop(driver);
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn update_state(client: &Client) -> String {
    wait_for(client, "update-status")
        .await
        .attr("data-state")
        .await
        .unwrap()
        .unwrap_or_default()
}

/// Waits for the update check to finish in `expected` state.
async fn wait_for_state(client: &Client, expected: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let state = update_state(client).await;
        if state == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "update state is {state:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A refused update: the banner says why, and dpkg still has the old version.
async fn refused(client: Client, new_version: String, shot: &'static str) {
    let title = wait_for(&client, "update-title")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        title,
        format!("SecureClose {new_version} is available"),
        "the banner names the release the cloud announced"
    );
    click(&client, "update-install").await;
    wait_for_state(&client, "install_failed").await;
    let error = wait_for(&client, "update-error")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        error.contains("signature"),
        "the person is told the update was refused for its signature, got: {error}"
    );
    screenshot(&client, shot).await;
}

/// The "Version X" line the login screen shows under the form.
async fn version_label(client: &Client) -> String {
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(".app-version"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Whether one line of the app's log holds every needle (colour codes removed).
fn log_mentions(path: &Path, needles: &[&str]) -> bool {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(strip_ansi)
        .any(|line| needles.iter().all(|n| line.contains(n)))
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ params letter
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root, dpkg, sudo, Xvfb, tauri-driver and the bundles scripts/test builds: run scripts/test"]
async fn the_installed_app_updates_itself_only_to_a_genuine_signed_release() {
    let b = bundles();
    let work = tempfile::tempdir().unwrap();
    let new_bytes = std::fs::read(&b.new_deb).unwrap();
    let mut tampered = new_bytes.clone();
    // One flipped byte in the data archive: still a well-formed .deb header,
    // so only the signature check can catch it.
    let at = tampered.len() - 100;
    tampered[at] ^= 0xff;
    let files = HashMap::from([
        ("/new.deb".to_owned(), new_bytes),
        ("/tampered.deb".to_owned(), tampered),
    ]);
    let cdn = serve_files(files);
    let url = |name: &str| format!("http://127.0.0.1:{cdn}/{name}");

    // A clean machine with the OLD version installed.
    let _ = dpkg_command().args(["--purge", PACKAGE]).output();
    dpkg(&["-i", b.old_deb.to_str().unwrap()]);
    assert_eq!(installed_version().as_deref(), Some(b.old_version.as_str()));

    // 1. The cloud has no newer release: 204, the app stays as it is.
    {
        let _cloud = start_cloud(&b, None, work.path());
        run_installed("update-app-current", b.port, |client| async move {
            wait_for_state(&client, "current").await;
            assert_eq!(
                count(&client, "update-install").await,
                0,
                "an up-to-date app offers nothing to install"
            );
        })
        .await;
    }
    assert_eq!(installed_version().as_deref(), Some(b.old_version.as_str()));

    // 2. A tampered artifact with the genuine signature: refused.
    {
        let _cloud = start_cloud(&b, Some((&url("tampered.deb"), &b.new_sig)), work.path());
        let new_version = b.new_version.clone();
        run_installed("update-app-tampered", b.port, move |client| {
            refused(client, new_version, "update-refused-tampered")
        })
        .await;
    }
    assert_eq!(
        installed_version().as_deref(),
        Some(b.old_version.as_str()),
        "a tampered artifact must never be installed"
    );

    // 3. The genuine artifact signed by another key: refused.
    {
        let _cloud = start_cloud(&b, Some((&url("new.deb"), &b.other_key_sig)), work.path());
        let new_version = b.new_version.clone();
        run_installed("update-app-other-key", b.port, move |client| {
            refused(client, new_version, "update-refused-other-key")
        })
        .await;
    }
    assert_eq!(
        installed_version().as_deref(),
        Some(b.old_version.as_str()),
        "an artifact signed by a key other than the release key must never be installed"
    );

    // 4. The genuine release: installed, and the app restarts as the new version.
    {
        let _cloud = start_cloud(&b, Some((&url("new.deb"), &b.new_sig)), work.path());
        let log = artifacts_dir().join("update-app-genuine.log");
        let new_version = b.new_version.clone();
        let old_version = b.old_version.clone();
        let log_for_run = log.clone();
        run_installed("update-app-genuine", b.port, move |client| async move {
            let notes = wait_for(&client, "update-title").await;
            assert_eq!(
                notes.text().await.unwrap(),
                format!("SecureClose {new_version} is available")
            );
            assert_eq!(
                version_label(&client).await,
                format!("Version {old_version}"),
                "the running app shows the installed (old) version"
            );
            screenshot(&client, "update-available").await;
            click(&client, "update-install").await;
            // The app exits into the new version: wait for dpkg and for the
            // restarted process to report itself in the shared log.
            let deadline = Instant::now() + Duration::from_secs(120);
            let started = format!("version={new_version}");
            loop {
                let installed = installed_version();
                if installed.as_deref() == Some(new_version.as_str())
                    && log_mentions(&log_for_run, &["starting SecureClose", &started])
                {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "after Install: dpkg has {installed:?} (was {old_version}) and the log \
                     {} shows no restart as {new_version}",
                    log_for_run.display()
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
        .await;
        assert!(
            log_mentions(&log, &["update installed, restarting"]),
            "the old app must have installed and restarted itself (see {})",
            log.display()
        );
    }
    assert_eq!(installed_version().as_deref(), Some(b.new_version.as_str()));

    // The restarted app reports the new version to the person too.
    {
        let _cloud = start_cloud(&b, Some((&url("new.deb"), &b.new_sig)), work.path());
        let new_version = b.new_version.clone();
        run_installed("update-app-after", b.port, move |client| async move {
            wait_for_state(&client, "current").await;
            assert_eq!(
                version_label(&client).await,
                format!("Version {new_version}"),
                "after the update the app shows its new version"
            );
        })
        .await;
    }

    // Leave the machine as we found it.
    let _ = dpkg_command().args(["--purge", PACKAGE]).output();
}
