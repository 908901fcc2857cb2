//! Row 1: cloud password-login throughput as a ratio to raw argon2id
//! verifications per second, measured in the same run, interleaved by round.
//! Both sides hash on as many threads as the cloud allows at once
//! (`hash_concurrency`), in this one process (so on the same CPUs).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use secureclose_cloud::{config::sqlite_url_for, passwords, seed_demo, start, CloudConfig};
use secureclose_protocol::{LoginRequest, LoginResponse};
use serde_json::{json, Value};

use crate::meta::loadavg;
use crate::stats::{median, summarize};
use crate::BenchError;

#[derive(Debug, Clone)]
pub struct LoginArgs {
    pub rounds: usize,
    pub verifies_per_thread: usize,
    pub logins: usize,
    /// Concurrent keep-alive HTTP clients.
    pub clients: usize,
}

pub async fn run(args: &LoginArgs) -> Result<Value, BenchError> {
    let dir = tempfile::tempdir()?;
    let url = sqlite_url_for(&dir.path().join("cloud.db"));
    let seed = seed_demo(&url).await?;
    let mut config = CloudConfig::new(&url, ([127, 0, 0, 1], 0).into());
    // Production mode needs a TOTP sealing key: a throwaway one.
    config.totp_key = Some(secureclose_cloud::sealing::SealingKey::from_bytes(
        [0x5c; 32],
    ));
    // The raw side runs as many hashes at once as the cloud's login path may.
    let threads = config.hash_concurrency;
    let cloud = start(config).await?;
    let base = cloud.base_url();

    let clients = (0..args.clients)
        .map(|_| {
            reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .timeout(Duration::from_secs(60))
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;

    // Only credentials that really sign in (a seeded user may be disabled);
    // this pass doubles as the warm-up.
    let mut all = vec![(seed.admin_email.clone(), seed.admin_password.clone())];
    all.extend(seed.users.iter().cloned());
    let mut creds = Vec::new();
    for (email, password) in all {
        if login_once(&clients[0], &base, &email, &password).await? {
            creds.push((email, password));
        }
    }
    if creds.is_empty() {
        return Err(BenchError::Failed("no seeded user could sign in".into()));
    }
    let creds = Arc::new(creds);

    // Same code and parameters as the cloud's login path.
    let phc = passwords::hash_password_blocking("bench-password")?;
    if !phc.contains("m=19456,t=2,p=1") {
        return Err(BenchError::Failed(format!(
            "cloud argon2 parameters changed: {}",
            phc.split('$').nth(3).unwrap_or("?")
        )));
    }

    let mut rounds = Vec::new();
    for round in 0..args.rounds {
        let load_before = loadavg();
        let cpu0 = process_cpu_secs();
        let raw = raw_verifies(&phc, threads, args.verifies_per_thread).await?;
        let cpu1 = process_cpu_secs();
        let login = hammer(&clients, &base, creds.clone(), args.logins).await?;
        let cpu2 = process_cpu_secs();
        let ratio = login.per_sec / raw.per_sec;
        // Per CPU-second of this process: immune to other processes taking
        // CPU (the machine is shared), and conservative for the server since
        // the HTTP clients' CPU is counted against the logins.
        let raw_cpu = raw.count as f64 / (cpu1 - cpu0);
        let login_cpu = login.ok as f64 / (cpu2 - cpu1);
        let cpu_ratio = login_cpu / raw_cpu;
        eprintln!(
            "login round {round}: {:.1} logins/s, {:.1} verifies/s, ratio {ratio:.3}, \
             CPU-time ratio {cpu_ratio:.3}, load {load_before}",
            login.per_sec, raw.per_sec
        );
        rounds.push(json!({
            "raw_verifies": raw.count, "raw_secs": raw.secs, "verifies_per_sec": raw.per_sec,
            "logins_ok": login.ok, "login_errors": login.errors, "login_secs": login.secs,
            "logins_per_sec": login.per_sec, "login_latency": login.latency, "ratio": ratio,
            "verifies_per_cpu_sec": raw_cpu, "logins_per_cpu_sec": login_cpu,
            "cpu_ratio": cpu_ratio, "loadavg_before": load_before,
        }));
    }
    cloud.shutdown().await;

    let pick = |key: &str| -> Vec<f64> {
        rounds
            .iter()
            .filter_map(|r| r.get(key).and_then(Value::as_f64))
            .collect()
    };
    let spread = |key: &str| -> Value {
        let values = pick(key);
        json!({
            "min": values.iter().copied().reduce(f64::min),
            "max": values.iter().copied().reduce(f64::max),
        })
    };
    Ok(json!({
        "bench": "login",
        "argon2": "argon2id m=19456 t=2 p=1 (secureclose_cloud::passwords::verify_password_blocking)",
        "threads": threads,
        "cloud_hash_concurrency": threads,
        "clients": args.clients,
        "logins_per_round": args.logins,
        "verifies_per_round": threads * args.verifies_per_thread,
        "distinct_accounts": creds.len(),
        "rounds": rounds,
        "median_logins_per_sec": median(&pick("logins_per_sec")),
        "median_verifies_per_sec": median(&pick("verifies_per_sec")),
        "median_ratio": median(&pick("ratio")),
        "ratio_spread": spread("ratio"),
        "median_cpu_ratio": median(&pick("cpu_ratio")),
        "cpu_ratio_spread": spread("cpu_ratio"),
    }))
}

async fn login_once(
    client: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> Result<bool, BenchError> {
    let response = client
        .post(format!("{base}/api/v1/login"))
        .json(&LoginRequest {
            email: email.to_owned(),
            password: password.to_owned(),
            company_id: None,
            trusted_token: None,
        })
        .send()
        .await?;
    Ok(response.status().is_success())
}

struct Throughput {
    count: usize,
    secs: f64,
    per_sec: f64,
}

async fn raw_verifies(
    phc: &str,
    threads: usize,
    per_thread: usize,
) -> Result<Throughput, BenchError> {
    let phc = phc.to_owned();
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let failures = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        (0..per_thread)
                            .filter(|_| {
                                !matches!(
                                    passwords::verify_password_blocking("bench-password", &phc),
                                    Ok(true)
                                )
                            })
                            .count()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(per_thread))
                .sum::<usize>()
        });
        let secs = started.elapsed().as_secs_f64();
        if failures > 0 {
            return Err(BenchError::Failed(format!(
                "{failures} raw verifications failed"
            )));
        }
        let count = threads * per_thread;
        Ok(Throughput {
            count,
            secs,
            per_sec: count as f64 / secs,
        })
    })
    .await
    .map_err(|e| BenchError::Failed(format!("raw verify task: {e}")))?
}

struct LoginRun {
    ok: usize,
    errors: BTreeMap<String, usize>,
    secs: f64,
    per_sec: f64,
    latency: crate::stats::Summary,
}

async fn hammer(
    clients: &[reqwest::Client],
    base: &str,
    creds: Arc<Vec<(String, String)>>,
    total: usize,
) -> Result<LoginRun, BenchError> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .iter()
        .cloned()
        .map(|client| {
            let next = next.clone();
            let creds = creds.clone();
            let url = format!("{base}/api/v1/login");
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors: BTreeMap<String, usize> = BTreeMap::new();
                loop {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    if k >= total {
                        break;
                    }
                    let (email, password) = &creds[k % creds.len()];
                    let t = Instant::now();
                    let sent = client
                        .post(&url)
                        .json(&LoginRequest {
                            email: email.clone(),
                            password: password.clone(),
                            company_id: None,
                            trusted_token: None,
                        })
                        .send()
                        .await;
                    let outcome = match sent {
                        Ok(r) if r.status().is_success() => {
                            // Parse the body like the desktop does: part of the cost.
                            match r.json::<LoginResponse>().await {
                                Ok(_) => Ok(()),
                                Err(e) => Err(format!("bad body: {e}")),
                            }
                        }
                        Ok(r) => Err(format!("http {}", r.status().as_u16())),
                        Err(e) => Err(format!("transport: {e}")),
                    };
                    match outcome {
                        Ok(()) => latencies.push(t.elapsed()),
                        Err(kind) => *errors.entry(kind).or_default() += 1,
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = BTreeMap::new();
    for task in tasks {
        let (l, e) = task
            .await
            .map_err(|e| BenchError::Failed(format!("client task: {e}")))?;
        latencies.extend(l);
        for (k, v) in e {
            *errors.entry(k).or_default() += v;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let ok = latencies.len();
    Ok(LoginRun {
        ok,
        errors,
        secs,
        per_sec: ok as f64 / secs,
        latency: summarize(&latencies),
    })
}

/// User + system CPU seconds of this whole process (all threads), from
/// /proc/self/stat in USER_HZ (100 on Linux).
fn process_cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            let (_, rest) = stat.rsplit_once(')')?;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // After the comm: state is field 3, utime 14, stime 15 (1-based).
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) / 100.0)
        })
        .unwrap_or(f64::NAN)
}
