//! Database pool, dialect and migrations. One set of runtime queries (sqlx
//! `Any`, `$n` placeholders numbered in order) serves SQLite and PostgreSQL;
//! only the migrations differ per dialect. Every SQL statement of the
//! service lives in this module, one file per table family; nothing here
//! imports the layers above (`service`, `http`).

pub mod audit;
pub mod challenges;
pub mod companies;
pub mod counters;
pub mod devices;
pub mod mutations;
pub mod recovery;
pub mod releases;
pub mod security;
pub mod seed;
pub mod sessions;
pub mod sms_days;
pub mod sms_outbox;
pub mod totp;
pub mod trusted;
pub mod users;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

use crate::error::CloudError;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub fn from_url(url: &str) -> Result<Self, CloudError> {
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or_default();
        match scheme {
            "sqlite" => Ok(Dialect::Sqlite),
            "postgres" | "postgresql" => Ok(Dialect::Postgres),
            _ => Err(CloudError::Config(
                "database URL must start with sqlite:// or postgres://".into(),
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }

    fn migrator(self) -> &'static Migrator {
        match self {
            Dialect::Sqlite => &SQLITE_MIGRATIONS,
            Dialect::Postgres => &POSTGRES_MIGRATIONS,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub dialect: Dialect,
}

/// Opens the pool and brings the schema up to date.
pub async fn connect(url: &str, max_connections: u32) -> Result<Db, CloudError> {
    sqlx::any::install_default_drivers();
    let dialect = Dialect::from_url(url)?;
    if dialect == Dialect::Sqlite {
        ensure_sqlite_parent_dir(url)?;
    }
    let pool = AnyPoolOptions::new()
        .max_connections(max_connections.max(1))
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                if dialect == Dialect::Sqlite {
                    // WAL lets readers proceed while a login writes its session.
                    // sqlx already turns foreign keys on; say so explicitly anyway
                    // since the schema relies on ON DELETE CASCADE.
                    conn.execute("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;")
                        .await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await?;
    dialect.migrator().run(&pool).await?;
    Ok(Db { pool, dialect })
}

fn ensure_sqlite_parent_dir(url: &str) -> Result<(), CloudError> {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    if let Some(parent) = std::path::Path::new(path).parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent)?;
        }
    }
    Ok(())
}

/// The health check's round trip.
pub async fn ping(db: &Db) -> Result<(), CloudError> {
    sqlx::query("SELECT 1").execute(&db.pool).await?;
    Ok(())
}

/// Booleans are stored as 0/1 integers (see the migrations).
pub fn bool_to_db(value: bool) -> i64 {
    i64::from(value)
}

pub fn bool_from_db(value: i64) -> bool {
    value != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialect_follows_the_url_scheme() {
        assert_eq!(
            Dialect::from_url("sqlite:///tmp/x.db?mode=rwc").unwrap(),
            Dialect::Sqlite
        );
        assert_eq!(
            Dialect::from_url("postgres://u@h/db").unwrap(),
            Dialect::Postgres
        );
        assert_eq!(
            Dialect::from_url("postgresql://u@h/db").unwrap(),
            Dialect::Postgres
        );
        assert!(
            Dialect::from_url("mysql://u@h/db").is_err(),
            "unsupported backends must fail at start, not at first query"
        );
    }

    #[tokio::test]
    async fn sqlite_file_gets_wal_foreign_keys_and_the_schema() {
        let dir = tempfile::tempdir().unwrap();
        let url = crate::config::sqlite_url_for(&dir.path().join("nested/cloud.db"));
        let db = connect(&url, 2).await.unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(mode.to_lowercase(), "wal");
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(fk, 1, "cascades rely on foreign keys");
        let tables: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('companies', 'users', 'sessions')",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert_eq!(tables, 3);
        // Running the migrations again on an up-to-date file is a no-op.
        drop(db);
        connect(&url, 1).await.unwrap();
    }
}
