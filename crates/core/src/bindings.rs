//! The UI's TypeScript IPC types are generated from the Rust types, never
//! hand-written. This test fails when `ui/src/bindings/` is stale;
//! `UPDATE_BINDINGS=1 cargo test -p secureclose-core --features ts bindings`
//! rewrites it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use secureclose_protocol as protocol;
use ts_rs::TS;

use crate::views;

fn render<T: TS + 'static>(out: &mut BTreeMap<String, String>) {
    let path = T::output_path().expect("derived types have an output path");
    let text = T::export_to_string().expect("ts-rs renders the type");
    out.insert(path.to_string_lossy().into_owned(), text);
}

/// Every type that crosses the IPC boundary, including the protocol types
/// they contain.
fn generated() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    render::<views::AppInfo>(&mut out);
    render::<views::CacheStatus>(&mut out);
    render::<views::LockedSession>(&mut out);
    render::<views::LoginOutcome>(&mut out);
    render::<views::PasswordCheck>(&mut out);
    render::<views::SessionView>(&mut out);
    render::<views::UsersPage>(&mut out);
    render::<views::SyncState>(&mut out);
    render::<views::SyncNotice>(&mut out);
    render::<views::SyncStatus>(&mut out);
    render::<views::UpdateInfo>(&mut out);
    render::<views::UpdateProgress>(&mut out);
    render::<protocol::ApiError>(&mut out);
    render::<protocol::Challenge>(&mut out);
    render::<protocol::SecondFactorMethod>(&mut out);
    render::<protocol::TotpEnrollment>(&mut out);
    render::<protocol::TotpStatus>(&mut out);
    render::<protocol::RecoveryNotice>(&mut out);
    render::<protocol::RecoveryStatus>(&mut out);
    render::<protocol::RecoveryCodes>(&mut out);
    render::<protocol::ReauthStep>(&mut out);
    render::<protocol::TrustedComputer>(&mut out);
    render::<protocol::CompanyChoice>(&mut out);
    render::<protocol::CompanyUpdate>(&mut out);
    render::<protocol::UserUpdate>(&mut out);
    render::<protocol::Company>(&mut out);
    render::<protocol::DmsIntegration>(&mut out);
    render::<protocol::OfflinePolicy>(&mut out);
    render::<protocol::SessionPolicy>(&mut out);
    render::<protocol::NewUserRequest>(&mut out);
    render::<protocol::SetupCodeGrant>(&mut out);
    render::<protocol::SetupCodeTexted>(&mut out);
    render::<protocol::Role>(&mut out);
    render::<protocol::User>(&mut out);
    render::<protocol::UserStatus>(&mut out);
    out
}

fn bindings_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/bindings")
}

#[test]
fn committed_ts_bindings_match_the_rust_types() {
    let dir = bindings_dir();
    let expected = generated();
    if std::env::var_os("UPDATE_BINDINGS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in &expected {
            std::fs::write(dir.join(name), text).unwrap();
        }
        return;
    }
    let mut stale = Vec::new();
    for (name, text) in &expected {
        match std::fs::read_to_string(dir.join(name)) {
            Ok(committed) if committed == *text => {}
            Ok(_) => stale.push(format!("{name} differs")),
            Err(_) => stale.push(format!("{name} is missing")),
        }
    }
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".ts") && !expected.contains_key(&name) {
                stale.push(format!("{name} is no longer generated (delete it)"));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "ui/src/bindings is stale ({}); run \
         `UPDATE_BINDINGS=1 cargo test -p secureclose-core --features ts bindings` and commit the result",
        stale.join(", ")
    );
}

#[test]
fn numbers_are_number_not_bigint_and_outcome_is_tagged() {
    let all = generated();
    assert!(
        all.values().all(|text| !text.contains("bigint")),
        "i64 must reach TS as number (JSON.parse gives numbers)"
    );
    let outcome = &all["LoginOutcome.ts"];
    assert!(
        outcome.contains("\"state\": \"signed_in\""),
        "the UI switches on `state`: {outcome}"
    );
}
