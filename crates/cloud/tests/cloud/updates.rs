//! The desktop updater's endpoint and `secureclose-cloud release add`. The
//! end-to-end update of a real installed app lives in
//! tests/tests/e2e/desktop/updater.rs.

use std::process::Command;

use reqwest::StatusCode;
use secureclose_cloud::service::releases::{self, NewRelease, UpdateManifest};
use secureclose_protocol::codes;

use crate::support::{expect_error, Backend, TestCloud};

on_both_backends!(
    current_or_newer_clients_get_204_older_ones_the_newest_release,
    versions_compare_as_semver_not_as_text,
    each_installer_and_arch_gets_only_its_own_artifact,
    a_bad_current_version_is_a_validation_error,
    the_cli_registers_a_release_and_refuses_a_duplicate,
);

const SIGNATURE: &str = "dW50cnVzdGVkIGNvbW1lbnQ6IHNpZ25hdHVyZQ==";

fn release(version: &str, installer: &str, arch: &str) -> NewRelease {
    NewRelease {
        version: version.into(),
        target: "linux".into(),
        arch: arch.into(),
        installer: installer.into(),
        url: format!("https://downloads.example/SecureClose_{version}_{arch}.{installer}"),
        signature: format!("{SIGNATURE}{}", version.len()),
        notes: format!("What's new in {version}"),
        pub_date: 1_798_761_599_000,
    }
}

async fn register(t: &TestCloud, releases: &[NewRelease]) {
    let db = secureclose_cloud::db::connect(&t.db.url, 1).await.unwrap();
    for r in releases {
        releases::add(&db, r).await.unwrap();
    }
    db.pool.close().await;
}

async fn check(t: &TestCloud, path: &str) -> Option<UpdateManifest> {
    let response = t.get(path, None).await;
    match response.status() {
        StatusCode::NO_CONTENT => None,
        StatusCode::OK => Some(response.json().await.unwrap()),
        other => panic!("GET {path}: unexpected {other}"),
    }
}

async fn current_or_newer_clients_get_204_older_ones_the_newest_release(backend: Backend) {
    let t = TestCloud::start(backend).await;
    assert_eq!(
        check(&t, "/updates/linux/x86_64/1.0.0?installer=deb").await,
        None,
        "no release registered: every client is current"
    );
    register(
        &t,
        &[
            release("1.1.0", "deb", "x86_64"),
            release("1.2.0", "deb", "x86_64"),
        ],
    )
    .await;
    let manifest = check(&t, "/updates/linux/x86_64/1.0.0?installer=deb")
        .await
        .expect("1.0.0 is older than the newest release");
    let expected = release("1.2.0", "deb", "x86_64");
    assert_eq!(
        manifest.version, "1.2.0",
        "the NEWEST release is offered, not the next one"
    );
    assert_eq!(manifest.url, expected.url);
    assert_eq!(
        manifest.signature, expected.signature,
        "the signature is relayed verbatim"
    );
    assert_eq!(manifest.notes, expected.notes);
    assert_eq!(
        manifest.pub_date, "2026-12-31T23:59:59Z",
        "RFC 3339 for the updater"
    );
    for current in ["1.2.0", "1.3.0", "2.0.0-beta.1"] {
        assert_eq!(
            check(
                &t,
                &format!("/updates/linux/x86_64/{current}?installer=deb")
            )
            .await,
            None,
            "{current} is not older than 1.2.0: 204"
        );
    }
    assert_eq!(
        check(&t, "/updates/linux/x86_64/1.0.0").await,
        None,
        "a dev build (no installer) is never offered an artifact it cannot install"
    );
    t.stop().await;
}

async fn versions_compare_as_semver_not_as_text(backend: Backend) {
    let t = TestCloud::start(backend).await;
    register(
        &t,
        &[
            release("1.9.0", "deb", "x86_64"),
            release("1.10.0", "deb", "x86_64"),
            release("1.10.0-rc.1", "deb", "x86_64"),
        ],
    )
    .await;
    let manifest = check(&t, "/updates/linux/x86_64/1.9.0?installer=deb").await;
    assert_eq!(
        manifest.map(|m| m.version).as_deref(),
        Some("1.10.0"),
        "1.10.0 > 1.10.0-rc.1 > 1.9.0 in semver (text order would pick 1.9.0)"
    );
    let from_rc = check(&t, "/updates/linux/x86_64/1.10.0-rc.1?installer=deb").await;
    assert_eq!(
        from_rc.map(|m| m.version).as_deref(),
        Some("1.10.0"),
        "a release candidate updates to its release"
    );
    t.stop().await;
}

async fn each_installer_and_arch_gets_only_its_own_artifact(backend: Backend) {
    let t = TestCloud::start(backend).await;
    register(
        &t,
        &[
            release("2.0.0", "rpm", "x86_64"),
            release("2.0.0", "deb", "aarch64"),
            release("1.5.0", "deb", "x86_64"),
        ],
    )
    .await;
    let deb = check(&t, "/updates/linux/x86_64/1.0.0?installer=deb")
        .await
        .unwrap();
    assert_eq!(
        (deb.version.as_str(), deb.url.ends_with(".deb")),
        ("1.5.0", true),
        "a .deb install on x86_64 must never be sent the rpm or the aarch64 build"
    );
    assert_eq!(
        check(&t, "/updates/windows/x86_64/1.0.0?installer=nsis").await,
        None,
        "no Windows release: 204"
    );
    t.stop().await;
}

async fn a_bad_current_version_is_a_validation_error(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let response = t
        .get("/updates/linux/x86_64/not-a-version?installer=deb", None)
        .await;
    expect_error(response, StatusCode::BAD_REQUEST, codes::VALIDATION).await;
    t.stop().await;
}

async fn the_cli_registers_a_release_and_refuses_a_duplicate(backend: Backend) {
    let t = TestCloud::start(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let sig = dir.path().join("SecureClose_3.0.0_amd64.deb.sig");
    std::fs::write(&sig, format!("{SIGNATURE}\n")).unwrap();
    let add = || {
        Command::new(env!("CARGO_BIN_EXE_secureclose-cloud"))
            .args(["release", "add", "--database-url", &t.db.url])
            .args([
                "--version",
                "3.0.0",
                "--target",
                "linux",
                "--arch",
                "x86_64",
            ])
            .args(["--installer", "deb", "--notes", "Faster sync"])
            .args([
                "--url",
                "https://downloads.example/SecureClose_3.0.0_amd64.deb",
            ])
            .arg("--signature-file")
            .arg(&sig)
            .output()
            .unwrap()
    };
    let first = add();
    assert!(
        first.status.success(),
        "release add failed: {}",
        String::from_utf8_lossy(&first.stderr)
    );
    let manifest = check(&t, "/updates/linux/x86_64/2.9.9?installer=deb")
        .await
        .expect("the registered release is served");
    assert_eq!(manifest.version, "3.0.0");
    assert_eq!(manifest.notes, "Faster sync");
    assert_eq!(
        manifest.signature, SIGNATURE,
        "the .sig file's trailing newline is trimmed"
    );
    let second = add();
    assert!(
        !second.status.success(),
        "registering the same artifact twice must fail, never replace a published one"
    );
    t.stop().await;
}
