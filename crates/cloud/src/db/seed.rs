//! Demo data for development: a dealership with an admin and staff, plus a
//! second company whose DMS does not support 2FA.

use secureclose_protocol::{Role, UserStatus};

use super::companies::next_change_seq;
use super::{self as db, bool_to_db, Db};
use crate::clock::now_ms;
use crate::error::CloudError;
use crate::passwords::hash_password_blocking;
use crate::tokens::random_password;

pub const DEMO_COMPANY_NAME: &str = "Desert Sun Motors";
pub const DEMO_ADMIN_EMAIL: &str = "admin@desertsun.example";
pub const OTHER_COMPANY_NAME: &str = "Canyon Ridge Auto Group";

/// Credentials of the demo company. Only `seed_demo` ever knows the plaintext
/// passwords; Debug output redacts them.
#[derive(Clone)]
pub struct DemoSeed {
    pub company_id: String,
    pub company_name: String,
    pub admin_email: String,
    pub admin_password: String,
    /// `(email, password)` of the demo company's other users.
    pub users: Vec<(String, String)>,
}

impl std::fmt::Debug for DemoSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let emails: Vec<&str> = self.users.iter().map(|(e, _)| e.as_str()).collect();
        f.debug_struct("DemoSeed")
            .field("company_id", &self.company_id)
            .field("company_name", &self.company_name)
            .field("admin_email", &self.admin_email)
            .field("admin_password", &"<redacted>")
            .field("users", &emails)
            .finish()
    }
}

struct CompanySpec {
    name: &'static str,
    dms_kind: &'static str,
    dms_supports_two_factor: bool,
    offline_allowed: bool,
    offline_max_hours: i64,
    users: &'static [UserSpec],
}

struct UserSpec {
    email: &'static str,
    display_name: &'static str,
    role: Role,
    status: UserStatus,
    mobile_phone: Option<&'static str>,
    phone_verified: bool,
}

const fn user(
    email: &'static str,
    display_name: &'static str,
    role: Role,
    mobile_phone: Option<&'static str>,
    phone_verified: bool,
) -> UserSpec {
    UserSpec {
        email,
        display_name,
        role,
        status: UserStatus::Active,
        mobile_phone,
        phone_verified,
    }
}

const DESERT_SUN: CompanySpec = CompanySpec {
    name: DEMO_COMPANY_NAME,
    dms_kind: "CDK Drive",
    dms_supports_two_factor: true,
    offline_allowed: true,
    offline_max_hours: 72,
    users: &[
        user(
            DEMO_ADMIN_EMAIL,
            "Dana Admin",
            Role::Admin,
            Some("+14805550100"),
            true,
        ),
        user(
            "priya.natarajan@desertsun.example",
            "Priya Natarajan",
            Role::Admin,
            Some("+16025550147"),
            true,
        ),
        user(
            "marcus.reyes@desertsun.example",
            "Marcus Reyes",
            Role::User,
            Some("+14805550123"),
            true,
        ),
        user(
            "lucia.fernandez@desertsun.example",
            "Lucia Fernandez",
            Role::User,
            Some("+15205550181"),
            false,
        ),
        user(
            "tom.becker@desertsun.example",
            "Tom Becker",
            Role::User,
            None,
            false,
        ),
        user(
            "emily.chen@desertsun.example",
            "Emily Chen",
            Role::User,
            Some("+14805550162"),
            true,
        ),
        user(
            "jamal.carter@desertsun.example",
            "Jamal Carter",
            Role::User,
            None,
            false,
        ),
        user(
            "sofia.alvarez@desertsun.example",
            "Sofia Alvarez",
            Role::User,
            Some("+16235550175"),
            true,
        ),
        UserSpec {
            email: "robert.okafor@desertsun.example",
            display_name: "Robert Okafor",
            role: Role::User,
            status: UserStatus::Disabled,
            mobile_phone: None,
            phone_verified: false,
        },
    ],
};

const CANYON_RIDGE: CompanySpec = CompanySpec {
    name: OTHER_COMPANY_NAME,
    dms_kind: "Dealertrack DMS",
    dms_supports_two_factor: false,
    offline_allowed: false,
    offline_max_hours: 0,
    users: &[
        user(
            "admin@canyonridge.example",
            "Carla Whitfield",
            Role::Admin,
            Some("+19285550110"),
            true,
        ),
        user(
            "nina.patel@canyonridge.example",
            "Nina Patel",
            Role::User,
            None,
            false,
        ),
    ],
};

/// Creates (or refreshes) the demo companies and users and gives every demo
/// user a fresh random password. Running it again never duplicates rows.
pub async fn seed_demo(database_url: &str) -> Result<DemoSeed, CloudError> {
    let db = db::connect(database_url, 2).await?;
    let result = seed_with(&db).await;
    db.pool.close().await;
    result
}

async fn seed_with(db: &Db) -> Result<DemoSeed, CloudError> {
    let (company_id, mut credentials) = seed_company(db, &DESERT_SUN).await?;
    seed_company(db, &CANYON_RIDGE).await?;
    let admin_index = credentials
        .iter()
        .position(|(email, _)| email == DEMO_ADMIN_EMAIL)
        .ok_or_else(|| CloudError::Internal("demo admin missing from the seed".into()))?;
    let (admin_email, admin_password) = credentials.remove(admin_index);
    Ok(DemoSeed {
        company_id,
        company_name: DEMO_COMPANY_NAME.into(),
        admin_email,
        admin_password,
        users: credentials,
    })
}

async fn seed_company(
    db: &Db,
    spec: &CompanySpec,
) -> Result<(String, Vec<(String, String)>), CloudError> {
    // Hash before opening the transaction: argon2 is slow and SQLite has one writer.
    let passwords: Vec<(String, String)> = spec
        .users
        .iter()
        .map(|u| (u.email.to_string(), random_password(20)))
        .collect();
    let to_hash: Vec<String> = passwords.iter().map(|(_, p)| p.clone()).collect();
    let hashes = tokio::task::spawn_blocking(move || {
        to_hash
            .iter()
            .map(|p| hash_password_blocking(p))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|e| CloudError::Internal(format!("hash task: {e}")))??;

    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    let existing: Option<String> = sqlx::query_scalar("SELECT id FROM companies WHERE name = $1")
        .bind(spec.name)
        .fetch_optional(&mut *tx)
        .await?;
    let company_id = match existing.clone() {
        Some(id) => id,
        None => {
            let id = uuid::Uuid::new_v4().to_string();
            sqlx::query(
                "INSERT INTO companies (id, name, two_factor_required, dms_kind, \
                 dms_supports_two_factor, offline_allowed, offline_max_hours, version, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&id)
            .bind(spec.name)
            .bind(bool_to_db(false))
            .bind(spec.dms_kind)
            .bind(bool_to_db(spec.dms_supports_two_factor))
            .bind(bool_to_db(spec.offline_allowed))
            .bind(spec.offline_max_hours)
            .bind(1_i64)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            id
        }
    };

    if existing.is_none() {
        let seq = next_change_seq(&mut tx, &company_id).await?;
        sqlx::query("UPDATE companies SET change_seq = $1 WHERE id = $2")
            .bind(seq)
            .bind(&company_id)
            .execute(&mut *tx)
            .await?;
    }
    for (spec_user, hash) in spec.users.iter().zip(hashes) {
        let verified_at = spec_user.phone_verified.then_some(now);
        // One number per row (see db::companies::next_change_seq): desktops pull the refresh.
        let seq = next_change_seq(&mut tx, &company_id).await?;
        let updated = sqlx::query(
            // Re-seeding also lifts any lock or delay left from earlier tries,
            // and brings back a deleted demo user.
            "UPDATE users SET password_hash = $1, status = $2, version = version + 1, \
             updated_at = $3, password_failures = 0, code_failures = 0, \
             consecutive_failures = 0, last_failure_at = NULL, change_seq = $4, \
             deleted_at = NULL WHERE lower(email) = $5 AND company_id = $6",
        )
        .bind(&hash)
        .bind(spec_user.status.as_str())
        .bind(now)
        .bind(seq)
        .bind(spec_user.email.to_lowercase())
        .bind(&company_id)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            sqlx::query(
                "INSERT INTO users (id, company_id, email, display_name, role, status, \
                 mobile_phone, phone_verified_at, two_factor_enabled, password_hash, version, \
                 updated_at, created_at, change_seq) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            )
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(&company_id)
            .bind(spec_user.email)
            .bind(spec_user.display_name)
            .bind(spec_user.role.as_str())
            .bind(spec_user.status.as_str())
            .bind(spec_user.mobile_phone)
            .bind(verified_at)
            .bind(bool_to_db(false))
            .bind(&hash)
            .bind(1_i64)
            .bind(now)
            .bind(now)
            .bind(seq)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok((company_id, passwords))
}

/// Adds `n` sign-in-less users (`bulk-0000000`…, emails
/// `user0000000@desertsun.example`…) to a company in one transaction, each
/// with its own change sequence number as the cloud's writes give them: the
/// large companies benchmarks and multi-page sync tests need.
pub async fn seed_bulk_users(
    database_url: &str,
    company_id: &str,
    n: usize,
) -> Result<(), CloudError> {
    let db = db::connect(database_url, 1).await?;
    let mut tx = db.pool.begin().await?;
    let now = now_ms();
    for i in 0..n {
        let seq = next_change_seq(&mut tx, company_id).await?;
        sqlx::query(
            "INSERT INTO users (id, company_id, email, display_name, role, status, mobile_phone, \
             phone_verified_at, two_factor_enabled, password_hash, version, updated_at, \
             created_at, change_seq) VALUES ($1, $2, $3, $4, 'user', 'active', $5, NULL, $6, \
             'no password: cannot sign in', 1, $7, $7, $8)",
        )
        .bind(format!("bulk-{i:07}"))
        .bind(company_id)
        .bind(format!("user{i:07}@desertsun.example"))
        .bind(format!("Bulk User {i:07}"))
        .bind(format!("+1480555{:04}", i % 10_000))
        .bind(bool_to_db(false))
        .bind(now)
        .bind(seq)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    db.pool.close().await;
    Ok(())
}
