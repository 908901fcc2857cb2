//! `releases`: the signed installers the update endpoint offers.

use sqlx::Row as _;

use super::Db;
use crate::error::CloudError;

/// A release row as stored (the version as its text).
pub struct StoredRelease {
    pub version: String,
    pub url: String,
    pub signature: String,
    pub notes: String,
    pub pub_date: i64,
}

/// The row to insert; `version` already validated.
pub struct ReleaseRow<'a> {
    pub target: &'a str,
    pub arch: &'a str,
    pub installer: &'a str,
    pub version: &'a str,
    pub url: &'a str,
    pub signature: &'a str,
    pub notes: &'a str,
    pub pub_date: i64,
}

/// Whether it was inserted (`false`: that target/arch/installer/version exists).
pub async fn insert(db: &Db, release: &ReleaseRow<'_>) -> Result<bool, CloudError> {
    let inserted = sqlx::query(
        "INSERT INTO releases (target, arch, installer, version, url, signature, notes, pub_date) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
    )
    .bind(release.target)
    .bind(release.arch)
    .bind(release.installer)
    .bind(release.version)
    .bind(release.url)
    .bind(release.signature)
    .bind(release.notes)
    .bind(release.pub_date)
    .execute(&db.pool)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Every release of one platform, in no particular order.
pub async fn for_platform(
    db: &Db,
    target: &str,
    arch: &str,
    installer: &str,
) -> Result<Vec<StoredRelease>, CloudError> {
    let rows = sqlx::query(
        "SELECT version, url, signature, notes, pub_date FROM releases \
         WHERE target = $1 AND arch = $2 AND installer = $3",
    )
    .bind(target)
    .bind(arch)
    .bind(installer)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(StoredRelease {
                version: row.try_get("version")?,
                url: row.try_get("url")?,
                signature: row.try_get("signature")?,
                notes: row.try_get("notes")?,
                pub_date: row.try_get("pub_date")?,
            })
        })
        .collect()
}
