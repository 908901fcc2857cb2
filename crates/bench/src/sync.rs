//! Row 6: offline-first sync through the real core against the real cloud
//! (both in this process, loopback HTTP, SQLite cloud DB, SQLCipher cache).
//!
//! - first sign-in with N users: `AppCore::login` on an empty data dir until
//!   the status is "All changes synced" (the pull from cursor 0, pages of
//!   5000, one cache transaction each, is the only download of the users),
//!   exactly the cloud's row count cached; rows/s compared in the same run
//!   with raw batched inserts (1000 rows per statement, one transaction per
//!   5000) of as many rows into a table of the same shape in the SAME
//!   SQLCipher file;
//! - Users-tab query (`AppCore::list_users("", 0, 50)`) latency while that
//!   initial sync runs on core's tokio tasks (including the sign-in that
//!   starts it: the Users tab may ask meanwhile);
//! - delta sync of 100 changed users (`sync_now`), all 100 checked;
//! - enqueue latency per edit (`AppCore::update_user` with the cloud down:
//!   cache transaction + outbox row + the failed wake-up of the sync);
//! - outbox replay of 1k and 10k offline edits (`sync_now` after the cloud
//!   is back on the same port, until the outbox is empty).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use secureclose_cloud::{CloudConfig, RunningCloud};
use secureclose_core::views::SyncState;
use secureclose_core::{AppCore, CoreConfig, CoreError};
use secureclose_protocol::UserUpdate;
use serde_json::{json, Value};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use crate::keys::MemoryKeys;
use crate::stats::{ms, summarize};
use crate::BenchError;

#[derive(Debug, Clone)]
pub struct SyncArgs {
    pub users: usize,
    pub replays: Vec<usize>,
    pub enqueue_samples: usize,
    pub probe_every: Duration,
}

fn failed(what: &str) -> impl FnOnce(CoreError) -> BenchError + '_ {
    move |e| BenchError::Failed(format!("{what}: {} ({e})", e.code()))
}

/// Changes `n` users' names on the cloud with new sequence numbers.
async fn change_cloud_users(
    database_url: &str,
    company_id: &str,
    n: usize,
) -> Result<(), BenchError> {
    let db = secureclose_cloud::db::connect(database_url, 1)
        .await
        .map_err(|e| BenchError::Failed(format!("cloud db: {e}")))?;
    let mut tx = db.pool.begin().await?;
    for i in 0..n {
        let (seq,): (i64,) = sqlx::query_as(
            "UPDATE companies SET last_change_seq = last_change_seq + 1 WHERE id = $1 \
             RETURNING last_change_seq",
        )
        .bind(company_id)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE users SET display_name = $1, version = version + 1, change_seq = $2 \
             WHERE id = $3",
        )
        .bind(format!("Changed {i:07}"))
        .bind(seq)
        .bind(format!("bulk-{:07}", i * 7))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    db.pool.close().await;
    Ok(())
}

/// The same rows inserted the fastest plain way (multi-row INSERTs of 1000,
/// one transaction per 5000 like a pull page) into a copy of the `users`
/// table in the same SQLCipher file: the floor the sync is compared with.
async fn raw_inserts(cache_path: &Path, key: &[u8], n: usize) -> Result<Duration, BenchError> {
    let options = SqliteConnectOptions::new()
        .filename(cache_path)
        .pragma("key", format!("\"x'{}'\"", hex::encode(key)))
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    sqlx::query("DROP TABLE IF EXISTS bench_raw_users")
        .execute(&pool)
        .await?;
    // The cache's own DDL for `users` (primary key, NOCASE columns, the
    // company foreign key, all three indexes), renamed: the floor pays the
    // same index maintenance and checks as the sync's upserts.
    let ddl: Vec<String> = sqlx::query_scalar(
        "SELECT sql FROM sqlite_master WHERE tbl_name = 'users' AND sql IS NOT NULL \
         ORDER BY type DESC",
    )
    .fetch_all(&pool)
    .await?;
    for sql in ddl {
        let sql = sql
            .replacen("CREATE TABLE users", "CREATE TABLE bench_raw_users", 1)
            .replacen("CREATE INDEX users_", "CREATE INDEX bench_raw_users_", 1)
            .replace(" ON users ", " ON bench_raw_users ");
        sqlx::query(&sql).execute(&pool).await?;
    }
    let company_id: String = sqlx::query_scalar("SELECT id FROM company LIMIT 1")
        .fetch_one(&pool)
        .await?;
    let started = Instant::now();
    for page in (0..n).step_by(5000) {
        let mut tx = pool.begin().await?;
        for chunk in (page..(page + 5000).min(n)).step_by(1000) {
            let end = (chunk + 1000).min(n);
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO bench_raw_users (id, company_id, email, display_name, role, status, \
                 mobile_phone, phone_verified_at, two_factor_enabled, version, updated_at) ",
            );
            qb.push_values(chunk..end, |mut b, i| {
                b.push_bind(format!("raw-{i:07}"))
                    .push_bind(&company_id)
                    .push_bind(format!("user{i:07}@desertsun.example"))
                    .push_bind(format!("Raw {i:07}"))
                    .push_bind("user")
                    .push_bind("active")
                    .push_bind(format!("+1480555{:04}", i % 10_000))
                    .push_bind(Option::<i64>::None)
                    .push_bind(0_i64)
                    .push_bind(1_i64)
                    .push_bind(0_i64);
            });
            qb.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
    }
    let took = started.elapsed();
    sqlx::query("DROP TABLE bench_raw_users")
        .execute(&pool)
        .await?;
    pool.close().await;
    Ok(took)
}

async fn open_core(dir: &Path, url: &str, keys: Arc<MemoryKeys>) -> Result<AppCore, BenchError> {
    AppCore::open(CoreConfig {
        data_dir: dir.to_path_buf(),
        cloud_url: url.to_owned(),
        key_store: keys,
        policy: secureclose_core::PolicySource::None,
        // Only the bench triggers passes (plus core's own after sign-in and edits).
        sync_interval: Duration::from_secs(3600),
    })
    .await
    .map_err(failed("open core"))
}

/// `sync_now` until the outbox is empty; returns the elapsed time.
async fn drain(core: &AppCore) -> Result<Duration, BenchError> {
    let started = Instant::now();
    for _ in 0..1000 {
        let status = core.sync_now().await.map_err(failed("sync_now"))?;
        if status.pending_edits == 0 {
            return Ok(started.elapsed());
        }
    }
    Err(BenchError::Failed("the outbox never emptied".into()))
}

/// Every user in the cache (the Users tab's total with no search).
async fn cached_users(core: &AppCore) -> Result<usize, BenchError> {
    Ok(core
        .list_users("", 0, 1)
        .await
        .map_err(failed("list"))?
        .total as usize)
}

/// The company's users as the cloud's database holds them: what a complete
/// first sync must have cached, exactly.
async fn cloud_user_count(database_url: &str, company_id: &str) -> Result<usize, BenchError> {
    let db = secureclose_cloud::db::connect(database_url, 1)
        .await
        .map_err(|e| BenchError::Failed(format!("cloud db: {e}")))?;
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users WHERE company_id = $1")
        .bind(company_id)
        .fetch_one(&db.pool)
        .await?;
    db.pool.close().await;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// A production-mode cloud (which needs a TOTP sealing key: a throwaway one).
fn bench_config(database_url: &str, addr: SocketAddr) -> CloudConfig {
    let mut config = CloudConfig::new(database_url, addr);
    config.totp_key = Some(secureclose_cloud::sealing::SealingKey::from_bytes(
        [0x5c; 32],
    ));
    config
}

async fn restart(database_url: &str, addr: SocketAddr) -> Result<RunningCloud, BenchError> {
    secureclose_cloud::start(bench_config(database_url, addr))
        .await
        .map_err(|e| BenchError::Failed(format!("cloud restart: {e}")))
}

pub async fn run(args: &SyncArgs) -> Result<Value, BenchError> {
    let dir = tempfile::tempdir()?;
    let database_url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("cloud.db").display()
    );
    let bind: SocketAddr = ([127, 0, 0, 1], 0).into();
    let mut cloud = Some(
        secureclose_cloud::start(bench_config(&database_url, bind))
            .await
            .map_err(|e| BenchError::Failed(format!("cloud start: {e}")))?,
    );
    let seed = secureclose_cloud::seed_demo(&database_url)
        .await
        .map_err(|e| BenchError::Failed(format!("seed: {e}")))?;
    secureclose_cloud::seed_bulk_users(&database_url, &seed.company_id, args.users).await?;
    let url = cloud
        .as_ref()
        .map(RunningCloud::base_url)
        .unwrap_or_default();
    let addr: SocketAddr = url
        .trim_start_matches("http://")
        .parse()
        .map_err(|e| BenchError::Failed(format!("cloud url: {e}")))?;

    // A true first sign-in on this computer: an empty data dir, timed from
    // the sign-in call to the status the bar shows as "All changes synced",
    // with the Users tab queried meanwhile.
    let keys = Arc::new(MemoryKeys::default());
    let data = dir.path().join("desktop");
    std::fs::create_dir_all(&data)?;
    let core = Arc::new(open_core(&data, &url, keys.clone()).await?);
    let mut status = core.subscribe_sync();
    let done = Arc::new(AtomicBool::new(false));
    let prober = {
        let (core, done, pause) = (core.clone(), done.clone(), args.probe_every);
        tokio::spawn(async move {
            let mut samples = Vec::new();
            while !done.load(Ordering::Relaxed) {
                let started = Instant::now();
                // Before sign-in there is no session: those calls are not samples.
                if core.list_users("", 0, 50).await.is_ok() {
                    samples.push(started.elapsed());
                }
                tokio::time::sleep(pause).await;
            }
            samples
        })
    };
    let started = Instant::now();
    core.login(&seed.admin_email, &seed.admin_password)
        .await
        .map_err(failed("login"))?;
    // Password hashing (cloud check + this device's offline verifier) is
    // not row work: reported apart.
    let login = started.elapsed();
    tokio::time::timeout(
        Duration::from_secs(600),
        status.wait_for(|s| {
            s.state == SyncState::Idle && s.pending_edits == 0 && s.last_synced_at.is_some()
        }),
    )
    .await
    .map_err(|_| BenchError::Failed("the first sync did not finish in 10 minutes".into()))?
    .map_err(|_| BenchError::Failed("the sync status channel closed".into()))?;
    let initial = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let probe_samples = prober
        .await
        .map_err(|e| BenchError::Failed(format!("prober: {e}")))?;
    let cached = cached_users(&core).await?;
    let on_cloud = cloud_user_count(&database_url, &seed.company_id).await?;
    if cached != on_cloud {
        return Err(BenchError::Failed(format!(
            "the first sync cached {cached} users; the cloud holds {on_cloud} in the company"
        )));
    }
    let key = keys
        .cache_key()
        .ok_or_else(|| BenchError::Failed("core stored no cache key".into()))?;
    let cache_path =
        secureclose_core::app::cloud_cache_path(&data, &url).map_err(failed("cache path"))?;
    let raw = raw_inserts(&cache_path, &key, cached).await?;
    let sync_rows_per_sec = cached as f64 / (initial - login).as_secs_f64();
    let end_to_end_rows_per_sec = cached as f64 / initial.as_secs_f64();
    let raw_rows_per_sec = cached as f64 / raw.as_secs_f64();

    // Delta of 100 changes: every one must arrive.
    const DELTA: usize = 100;
    change_cloud_users(&database_url, &seed.company_id, DELTA).await?;
    let started = Instant::now();
    core.sync_now().await.map_err(failed("delta sync"))?;
    let delta = started.elapsed();
    let changed = core
        .list_users("Changed ", 0, 1)
        .await
        .map_err(failed("list"))?
        .total as usize;
    if changed != DELTA || cached_users(&core).await? != cached {
        return Err(BenchError::Failed(format!(
            "the delta sync must apply all {DELTA} changes to existing rows: {changed} seen"
        )));
    }

    // Offline edits: enqueue latency, then replay.
    let mut replays = Vec::new();
    let mut enqueue = Vec::new();
    for &n in &args.replays {
        if let Some(running) = cloud.take() {
            running.shutdown().await;
        }
        for i in 0..n {
            let update = UserUpdate {
                display_name: Some(format!("Offline {n} {i:07}")),
                ..UserUpdate::default()
            };
            let started = Instant::now();
            core.update_user(&format!("bulk-{:07}", (i * 13) % args.users), &update)
                .await
                .map_err(failed("offline edit"))?;
            if enqueue.len() < args.enqueue_samples {
                enqueue.push(started.elapsed());
            }
        }
        let pending = core.sync_status().await.pending_edits;
        cloud = Some(restart(&database_url, addr).await?);
        let took = drain(&core).await?;
        replays.push(json!({
            "edits": n,
            "pending_before": pending,
            "seconds": took.as_secs_f64(),
            "edits_per_sec": n as f64 / took.as_secs_f64(),
        }));
    }
    if let Some(running) = cloud.take() {
        running.shutdown().await;
    }

    Ok(json!({
        "bench": "sync",
        "users": args.users,
        "initial": {
            "cached_users": cached,
            "cloud_users": on_cloud,
            "seconds_with_login": initial.as_secs_f64(),
            "login_seconds": login.as_secs_f64(),
            "rows_per_sec": sync_rows_per_sec,
            "end_to_end_rows_per_sec": end_to_end_rows_per_sec,
            "raw_seconds": raw.as_secs_f64(),
            "raw_rows_per_sec": raw_rows_per_sec,
            "ratio": sync_rows_per_sec / raw_rows_per_sec,
            "end_to_end_ratio": end_to_end_rows_per_sec / raw_rows_per_sec,
            "what": "an empty data dir; AppCore::login, then the sync it starts, until the status \
                     is idle with nothing pending (\"All changes synced\"); the pull from cursor 0 \
                     in pages of 5000 is the only download of the company's users. Floor: \
                     multi-row INSERTs (1000/statement, 5000/transaction) of the same number of \
                     rows into a copy of the cache's users table (its DDL: primary key, NOCASE \
                     columns, company foreign key, all indexes) in the same SQLCipher file",
        },
        "query_during_initial_sync": summarize(&probe_samples),
        "query_every_ms": ms(args.probe_every),
        "delta": { "changes": DELTA, "seen": changed, "ms": ms(delta) },
        "enqueue": summarize(&enqueue),
        "replays": replays,
    }))
}
