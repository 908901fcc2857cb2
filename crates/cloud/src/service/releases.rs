//! Desktop releases and the update manifest the desktop's updater reads.
//!
//! A release is registered once per artifact (`secureclose-cloud release add`)
//! with the signature `tauri signer` wrote next to it. The cloud only relays
//! that signature: the app verifies it against the public key built into it,
//! so a compromised cloud can withhold updates but never push a foreign build.

use std::cmp::Ordering;

use reqwest::Url;
use semver::Version;
use serde::Serialize;

use crate::db::{self, Db};
use crate::error::CloudError;

/// `{{target}}` values of tauri-plugin-updater.
pub const TARGETS: &[&str] = &["linux", "windows", "darwin"];
/// `{{bundle_type}}` values of tauri-plugin-updater for the installers we ship.
pub const INSTALLERS: &[&str] = &["deb", "rpm", "appimage", "nsis", "msi", "app"];

/// A release as registered (input of [`add`]).
#[derive(Debug, Clone)]
pub struct NewRelease {
    pub version: String,
    pub target: String,
    pub arch: String,
    pub installer: String,
    pub url: String,
    /// Contents of the `.sig` file `tauri signer sign` / `tauri build` wrote.
    pub signature: String,
    pub notes: String,
    /// Epoch milliseconds.
    pub pub_date: i64,
}

/// The manifest tauri-plugin-updater expects from a dynamic update server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct UpdateManifest {
    pub version: String,
    pub notes: String,
    /// RFC 3339, UTC.
    pub pub_date: String,
    pub url: String,
    pub signature: String,
}

fn invalid(message: impl Into<String>) -> CloudError {
    CloudError::Validation(message.into())
}

pub fn parse_version(version: &str) -> Result<Version, CloudError> {
    Version::parse(version.trim_start_matches('v')).map_err(|_| {
        invalid(format!(
            "`{version}` is not a semantic version (like 1.2.3)"
        ))
    })
}

/// Checks a release before it is stored: a typo here would strand every client
/// on a 404 or a refused signature.
pub fn validate(release: &NewRelease) -> Result<Version, CloudError> {
    let version = parse_version(&release.version)?;
    if !TARGETS.contains(&release.target.as_str()) {
        return Err(invalid(format!(
            "target must be one of {}",
            TARGETS.join(", ")
        )));
    }
    if !INSTALLERS.contains(&release.installer.as_str()) {
        return Err(invalid(format!(
            "installer must be one of {}",
            INSTALLERS.join(", ")
        )));
    }
    let arch_ok = !release.arch.is_empty()
        && release
            .arch
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !arch_ok {
        return Err(invalid("arch must look like x86_64 or aarch64"));
    }
    let url = Url::parse(&release.url).map_err(|_| invalid("url is not a valid URL"))?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    // Plain HTTP only to this machine (tests, development); the app refuses it
    // elsewhere anyway unless built for loopback tests.
    if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
        return Err(invalid(
            "url must be https:// (http:// only to a loopback address)",
        ));
    }
    let signature = release.signature.trim();
    let base64_ok = !signature.is_empty()
        && signature
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='));
    if !base64_ok {
        return Err(invalid(
            "signature must be the contents of the .sig file written by `tauri signer` (base64)",
        ));
    }
    Ok(version)
}

/// Stores a release. Registering the same target/arch/installer/version twice
/// is a conflict: a published artifact is never silently replaced.
pub async fn add(db: &Db, release: &NewRelease) -> Result<(), CloudError> {
    let version = validate(release)?;
    let version_text = version.to_string();
    let row = db::releases::ReleaseRow {
        target: &release.target,
        arch: &release.arch,
        installer: &release.installer,
        version: &version_text,
        url: &release.url,
        signature: release.signature.trim(),
        notes: &release.notes,
        pub_date: release.pub_date,
    };
    if !db::releases::insert(db, &row).await? {
        return Err(CloudError::Conflict(format!(
            "release {version} for {}/{}/{} is already registered",
            release.target, release.arch, release.installer
        )));
    }
    Ok(())
}

/// The newest release for this platform when it is newer than `current`
/// (semantic-version order, so 1.10.0 beats 1.9.0); `None` when up to date.
pub async fn newer_than(
    db: &Db,
    target: &str,
    arch: &str,
    installer: &str,
    current: &Version,
) -> Result<Option<UpdateManifest>, CloudError> {
    let rows = db::releases::for_platform(db, target, arch, installer).await?;
    let mut best: Option<(Version, db::releases::StoredRelease)> = None;
    for row in rows {
        // Stored versions were validated; skip rather than fail every client on one bad row.
        let Ok(version) = Version::parse(&row.version) else {
            tracing::warn!(version = %row.version, "unparseable release version in database");
            continue;
        };
        if best
            .as_ref()
            .is_none_or(|(b, _)| version.cmp_precedence(b) == Ordering::Greater)
        {
            best = Some((version, row));
        }
    }
    let Some((version, row)) = best else {
        return Ok(None);
    };
    if version.cmp_precedence(current) != Ordering::Greater {
        return Ok(None);
    }
    Ok(Some(UpdateManifest {
        version: version.to_string(),
        notes: row.notes,
        pub_date: rfc3339_utc(row.pub_date),
        url: row.url,
        signature: row.signature,
    }))
}

/// Epoch milliseconds as `YYYY-MM-DDTHH:MM:SSZ` (the updater parses RFC 3339).
pub fn rfc3339_utc(epoch_ms: i64) -> String {
    let secs = epoch_ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release() -> NewRelease {
        NewRelease {
            version: "1.2.3".into(),
            target: "linux".into(),
            arch: "x86_64".into(),
            installer: "deb".into(),
            url: "https://downloads.example/SecureClose_1.2.3_amd64.deb".into(),
            signature: "dW50cnVzdGVkIGNvbW1lbnQ=".into(),
            notes: String::new(),
            pub_date: 0,
        }
    }

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_utc(951_782_400_000),
            "2000-02-29T00:00:00Z",
            "leap day"
        );
        assert_eq!(rfc3339_utc(1_798_761_599_000), "2026-12-31T23:59:59Z");
    }

    type Change = fn(&mut NewRelease);

    #[test]
    fn validation_refuses_what_would_strand_clients() {
        assert!(
            validate(&release()).is_ok(),
            "a well-formed release is accepted"
        );
        let cases: [(&str, Change); 6] = [
            ("non-semver version", |r| r.version = "1.2".into()),
            ("unknown target", |r| r.target = "beos".into()),
            ("unknown installer", |r| r.installer = "zip".into()),
            ("plain http to a remote host", |r| {
                r.url = "http://downloads.example/x.deb".into()
            }),
            ("empty signature", |r| r.signature = " ".into()),
            ("signature that is not base64", |r| {
                r.signature = "untrusted comment: x".into()
            }),
        ];
        for (what, change) in cases {
            let mut r = release();
            change(&mut r);
            assert!(validate(&r).is_err(), "{what} must be refused");
        }
        let mut local = release();
        local.url = "http://127.0.0.1:9/x.deb".into();
        assert!(
            validate(&local).is_ok(),
            "loopback http is allowed for tests"
        );
    }
}
