//! Rows 2 and 3: local cache open time with the raw key, and the Users-tab
//! query (first page of 50, prefix search) over 10k / 100k cached users,
//! SQLCipher (keyed) vs plain SQLite (no key) in the same run.
//!
//! The keyed cache is created and opened through core (`Cache::open`,
//! `Cache::store_login`, `Cache::list_users`: what the app runs); the plain
//! database is filled by the function behind `store_login`, `store_login_in`. Core has no
//! way to open a cache WITHOUT a key (rightly), so the plain-vs-keyed ratio runs
//! core's `list_users_in` (the function behind `Cache::list_users`) on two pools
//! of this same binary (same libsqlite3-sys/SQLCipher build, same migrations,
//! same connection options except the key); `Cache::list_users` itself is timed
//! alongside.

use std::path::Path;
use std::time::Instant;

use secureclose_core::cache::{list_users_in, store_login_in, Cache, SessionMeta};
use secureclose_core::KeyStore;
use secureclose_protocol::{Company, DmsIntegration, OfflinePolicy, Role, User, UserStatus};
use serde_json::{json, Value};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::ConnectOptions;

use crate::keys::MemoryKeys;
use crate::stats::{median, ms, summarize, summarize_ms};
use crate::BenchError;

const KEY_ACCOUNT: &str = "bench-cache-key";
const COMPANY_ID: &str = "c-bench";
/// What a user types into the search box; all are real name/email prefixes.
const PREFIXES: &[&str] = &["ma", "jo", "sar", "will", "k", "ro", "ann", "da"];

#[derive(Debug, Clone)]
pub struct CacheArgs {
    pub sizes: Vec<usize>,
    pub opens: usize,
    pub queries: usize,
}

pub async fn run(args: &CacheArgs) -> Result<Value, BenchError> {
    let mut sizes = Vec::new();
    let mut open = Value::Null;
    for (i, &size) in args.sizes.iter().enumerate() {
        let dir = tempfile::tempdir()?;
        let keys = MemoryKeys::default();
        let keyed_path = dir.path().join("cache.db");
        let plain_path = dir.path().join("plain.db");
        let users = make_users(size);

        let cache = Cache::open(&keyed_path, &keys, KEY_ACCOUNT).await?;
        cache
            .store_login(&company(), &users, &session(&users))
            .await?;
        let key = keys
            .get(KEY_ACCOUNT)?
            .ok_or_else(|| BenchError::Failed("core stored no cache key".into()))?;
        let keyed = pool(&keyed_path, Some(&key), None).await?;
        let plain = pool(&plain_path, None, None).await?;
        sqlx::migrate!("../../migrations").run(&plain).await?;
        store_login_in(&plain, &company(), &users, &session(&users)).await?;
        // The same two databases with a 64 MiB page cache: SQLCipher pays per
        // page it decrypts, so a cache that holds the whole table may close the gap.
        let keyed_big = pool(&keyed_path, Some(&key), Some(BIG_CACHE)).await?;
        let plain_big = pool(&plain_path, None, Some(BIG_CACHE)).await?;
        check_encryption(&keyed_path, &plain_path)?;

        let mut workloads = Vec::new();
        for (name, search) in [("first_page_50", false), ("prefix_search_50", true)] {
            let pools = [&keyed, &plain, &keyed_big, &plain_big];
            workloads.push(measure(&cache, pools, name, search, args.queries).await?);
        }
        cache.close().await;
        for p in [keyed, plain, keyed_big, plain_big] {
            p.close().await;
        }

        // Open time on the first (smallest) size: open does not scan users.
        if i == 0 {
            open = measure_open(&keyed_path, &keys, args.opens).await?;
        }
        sizes.push(json!({ "users": size, "workloads": workloads }));
    }
    Ok(json!({
        "bench": "cache",
        "query_source": "keyed_core = secureclose_core::cache::Cache::list_users (the Users tab); \
                         keyed_replica/plain_replica = cache::list_users_in on a keyed/unkeyed pool",
        "prefixes": PREFIXES,
        "open": open,
        "sizes": sizes,
    }))
}

async fn measure_open(path: &Path, keys: &MemoryKeys, opens: usize) -> Result<Value, BenchError> {
    let mut samples = Vec::with_capacity(opens);
    for i in 0..opens + 3 {
        let started = Instant::now();
        let cache = Cache::open(path, keys, KEY_ACCOUNT).await?;
        let took = started.elapsed();
        cache.close().await;
        // The first opens warm the page cache and sqlx's statement cache.
        if i >= 3 {
            samples.push(took);
        }
    }
    Ok(json!({
        "what": "secureclose_core::cache::Cache::open (raw key from an in-memory KeyStore, \
                 connect, PRAGMA key, cipher_version check, schema read, migrations already applied)",
        "summary": summarize(&samples),
    }))
}

async fn measure(
    cache: &Cache,
    [keyed, plain, keyed_big, plain_big]: [&SqlitePool; 4],
    name: &str,
    search: bool,
    queries: usize,
) -> Result<Value, BenchError> {
    let (mut core_ms, mut keyed_ms, mut plain_ms) = (Vec::new(), Vec::new(), Vec::new());
    let (mut keyed_big_ms, mut plain_big_ms) = (Vec::new(), Vec::new());
    let mut totals = Vec::new();
    let warmup = 20;
    for i in 0..warmup + queries {
        let query = if search {
            PREFIXES[i % PREFIXES.len()]
        } else {
            ""
        };
        // Interleaved so that machine noise hits all three alike.
        let t = Instant::now();
        let (page, total) = cache.list_users(query, None, 0, 50).await?;
        let core_took = ms(t.elapsed());
        let t = Instant::now();
        let keyed_total = users_page_on(keyed, query, 0, 50).await?;
        let keyed_took = ms(t.elapsed());
        let t = Instant::now();
        let plain_total = users_page_on(plain, query, 0, 50).await?;
        let plain_took = ms(t.elapsed());
        let t = Instant::now();
        let keyed_big_total = users_page_on(keyed_big, query, 0, 50).await?;
        let keyed_big_took = ms(t.elapsed());
        let t = Instant::now();
        let plain_big_total = users_page_on(plain_big, query, 0, 50).await?;
        let plain_big_took = ms(t.elapsed());
        if keyed_big_total != keyed_total || plain_big_total != keyed_total {
            return Err(BenchError::Failed(format!(
                "big-cache pools disagree for {query:?}"
            )));
        }
        if keyed_total != (page.len(), total) || plain_total != keyed_total {
            return Err(BenchError::Failed(format!(
                "the pools disagree with Cache::list_users for {query:?}: core {:?}, keyed {keyed_total:?}, plain {plain_total:?}",
                (page.len(), total)
            )));
        }
        if i >= warmup {
            core_ms.push(core_took);
            keyed_ms.push(keyed_took);
            plain_ms.push(plain_took);
            keyed_big_ms.push(keyed_big_took);
            plain_big_ms.push(plain_big_took);
            totals.push(total);
        }
    }
    let (core, keyed, plain) = (
        summarize_ms(&core_ms),
        summarize_ms(&keyed_ms),
        summarize_ms(&plain_ms),
    );
    Ok(json!({
        "workload": name,
        "matches_min": totals.iter().min(),
        "matches_max": totals.iter().max(),
        "keyed_core": core,
        "keyed_replica": keyed,
        "plain_replica": plain,
        "ratio_p50": keyed.p50_ms / plain.p50_ms,
        "ratio_p95": keyed.p95_ms / plain.p95_ms,
        "core_vs_plain_p50": core.p50_ms / plain.p50_ms,
        "keyed_replica_cache64m": summarize_ms(&keyed_big_ms),
        "plain_replica_cache64m": summarize_ms(&plain_big_ms),
        "ratio_cache64m_p50": median(&keyed_big_ms) / median(&plain_big_ms),
        "ratio_cache64m_p95": summarize_ms(&keyed_big_ms).p95_ms / summarize_ms(&plain_big_ms).p95_ms,
    }))
}

/// PRAGMA cache_size for the big-cache variant: negative = KiB.
const BIG_CACHE: &str = "-65536";

/// Same options as core's cache connection, with or without the key
/// (and optionally a bigger page cache).
async fn pool(
    path: &Path,
    key: Option<&[u8]>,
    cache_size: Option<&str>,
) -> Result<SqlitePool, BenchError> {
    let mut options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true);
    if let Some(key) = key {
        options = options.pragma("key", format!("\"x'{}'\"", hex::encode(key)));
    }
    if let Some(size) = cache_size {
        options = options.pragma("cache_size", size.to_owned());
    }
    let options = options
        .journal_mode(SqliteJournalMode::Wal)
        .foreign_keys(true)
        .disable_statement_logging();
    Ok(SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await?)
}

/// Core's own Users-tab query on a pool of this bench (keyed or not).
/// Returns (rows on the page, total matches).
async fn users_page_on(
    pool: &SqlitePool,
    query: &str,
    offset: u32,
    limit: u32,
) -> Result<(usize, u32), BenchError> {
    let (page, total) = list_users_in(pool, query, None, offset, limit).await?;
    Ok((page.len(), total))
}

/// Guards the comparison itself: keyed must be encrypted, plain must not.
fn check_encryption(keyed: &Path, plain: &Path) -> Result<(), BenchError> {
    let head = |p: &Path| -> Result<Vec<u8>, BenchError> {
        let bytes = std::fs::read(p)?;
        Ok(bytes.into_iter().take(16).collect())
    };
    let magic = b"SQLite format 3\0".to_vec();
    if head(keyed)? == magic {
        return Err(BenchError::Failed(
            "the keyed cache is plain SQLite: SQLCipher missing".into(),
        ));
    }
    if head(plain)? != magic {
        return Err(BenchError::Failed(
            "the plain database is not plain SQLite".into(),
        ));
    }
    Ok(())
}

fn company() -> Company {
    Company {
        id: COMPANY_ID.into(),
        name: "Bench Motors".into(),
        two_factor_required: false,
        dms: DmsIntegration {
            kind: "cdk".into(),
            supports_two_factor: true,
        },
        offline_policy: OfflinePolicy {
            allowed: true,
            max_hours: 72,
        },
        session_policy: Default::default(),
        version: 1,
    }
}

fn session(users: &[User]) -> SessionMeta {
    SessionMeta {
        user_id: users.first().map(|u| u.id.clone()).unwrap_or_default(),
        company_id: COMPANY_ID.into(),
        expires_at: i64::MAX,
        signed_in_at: 0,
    }
}

const FIRST: &[&str] = &[
    "Aaron", "Alex", "Amelia", "Anna", "Anthony", "Ben", "Carlos", "Chloe", "Daniel", "David",
    "Diana", "Emily", "Ethan", "Grace", "Hannah", "Isabel", "Jack", "James", "John", "Jose",
    "Julia", "Karen", "Kevin", "Laura", "Liam", "Lucas", "Maria", "Mark", "Mason", "Mia", "Noah",
    "Olivia", "Paul", "Rachel", "Robert", "Rosa", "Sarah", "Sofia", "Thomas", "William",
];
const LAST: &[&str] = &[
    "Adams",
    "Baker",
    "Brown",
    "Clark",
    "Davis",
    "Diaz",
    "Evans",
    "Garcia",
    "Green",
    "Hall",
    "Harris",
    "Hill",
    "Jackson",
    "Johnson",
    "Jones",
    "King",
    "Lee",
    "Lewis",
    "Lopez",
    "Martin",
    "Martinez",
    "Miller",
    "Moore",
    "Nguyen",
    "Perez",
    "Reed",
    "Robinson",
    "Rodriguez",
    "Scott",
    "Smith",
    "Taylor",
    "Thomas",
    "Thompson",
    "Torres",
    "Walker",
    "White",
    "Williams",
    "Wilson",
    "Wright",
    "Young",
];

/// Deterministic users (xorshift) so every run searches the same data.
fn make_users(n: usize) -> Vec<User> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..n)
        .map(|i| {
            let first = FIRST[(next() % FIRST.len() as u64) as usize];
            let last = LAST[(next() % LAST.len() as u64) as usize];
            let phone = next() % 3 != 0;
            User {
                id: format!("u{i:07}"),
                company_id: COMPANY_ID.into(),
                email: format!(
                    "{}.{}{i}@dealer.example",
                    first.to_lowercase(),
                    last.to_lowercase()
                ),
                display_name: format!("{first} {last}"),
                role: if i % 50 == 0 { Role::Admin } else { Role::User },
                status: if i % 20 == 0 {
                    UserStatus::Disabled
                } else {
                    UserStatus::Active
                },
                mobile_phone: phone.then(|| format!("+1480555{:04}", i % 10_000)),
                phone_verified_at: phone.then_some(1_700_000_000_000),
                two_factor_enabled: i % 3 == 0,
                security_withheld: false,
                version: 1,
                updated_at: 1_700_000_000_000,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_users_are_unique_and_searchable_by_every_prefix() {
        let users = make_users(2_000);
        let ids: std::collections::HashSet<_> = users.iter().map(|u| &u.email).collect();
        assert_eq!(
            ids.len(),
            users.len(),
            "emails are unique keys of the data set"
        );
        for prefix in PREFIXES {
            assert!(
                users
                    .iter()
                    .any(|u| u.display_name.to_lowercase().starts_with(prefix)),
                "prefix {prefix:?} must match someone or the search row measures nothing"
            );
        }
    }
}
