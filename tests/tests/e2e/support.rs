//! Shared plumbing for the end-to-end tests: an in-process cloud with the demo
//! seed, an in-memory keychain, and process-group guards for external tools.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secureclose_cloud::clock::ManualClock;
use secureclose_cloud::{CloudConfig, DemoSeed, RunningCloud};
use secureclose_core::{AppCore, CoreConfig, CoreError, KeyStore};
use tempfile::TempDir;

/// Keychain stand-in for tests whose subject is not the keychain.
#[derive(Default)]
pub struct MemoryKeyStore {
    entries: Mutex<HashMap<String, Vec<u8>>>,
}

impl KeyStore for MemoryKeyStore {
    fn get(&self, account: &str) -> Result<Option<Vec<u8>>, CoreError> {
        Ok(self.entries.lock().unwrap().get(account).cloned())
    }
    fn set(&self, account: &str, secret: &[u8]) -> Result<(), CoreError> {
        self.entries
            .lock()
            .unwrap()
            .insert(account.to_owned(), secret.to_vec());
        Ok(())
    }
    fn delete(&self, account: &str) -> Result<(), CoreError> {
        self.entries.lock().unwrap().remove(account);
        Ok(())
    }
}

impl MemoryKeyStore {
    /// Every keychain account core wrote to, in no particular order.
    pub fn accounts(&self) -> Vec<String> {
        self.entries.lock().unwrap().keys().cloned().collect()
    }

    /// The session tokens core stored (accounts `session:<user id>`).
    pub fn session_tokens(&self) -> Vec<String> {
        self.entries
            .lock()
            .unwrap()
            .iter()
            .filter(|(account, _)| account.starts_with("session:"))
            .map(|(_, token)| String::from_utf8(token.clone()).unwrap())
            .collect()
    }
}

/// The real cloud (library) on 127.0.0.1:0 with a temp SQLite file and the demo seed.
pub struct TestCloud {
    running: Option<RunningCloud>,
    /// What it was started with, bound to the address it got: a restart
    /// serves the same URL, database and clock (boxed: it is large).
    config: Box<CloudConfig>,
    base_url: String,
    pub database_url: String,
    pub seed: DemoSeed,
    _dir: TempDir,
}

impl TestCloud {
    pub async fn start() -> Self {
        Self::start_with(false, None).await
    }

    /// Dev mode: SMS go to the outbox, readable with [`TestCloud::last_code`].
    pub async fn start_dev() -> Self {
        Self::start_with(true, None).await
    }

    /// Dev mode on a clock the test moves (code expiry, cooldowns without sleeping).
    pub async fn start_dev_with_clock(clock: Arc<ManualClock>) -> Self {
        Self::start_with(true, Some(clock)).await
    }

    async fn start_with(dev_mode: bool, clock: Option<Arc<ManualClock>>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let database_url = sqlite_url(&dir.path().join("cloud.db"));
        let mut config = Self::config(&database_url, dev_mode, clock);
        let running = secureclose_cloud::start(config.clone())
            .await
            .expect("the cloud must start on a fresh SQLite file");
        config.bind = running.addr();
        let seed = secureclose_cloud::seed_demo(&database_url)
            .await
            .expect("the demo seed must apply to a migrated database");
        let base_url = running.base_url();
        Self {
            running: Some(running),
            config: Box::new(config),
            base_url,
            database_url,
            seed,
            _dir: dir,
        }
    }

    /// Dev mode on `clock`, serving the SQLite database at `database_url`
    /// inside `dir` as it is (no demo seed: `seed` is empty), e.g. a company
    /// the cloud binary's CLI created.
    pub async fn serve_dev_with_clock(
        dir: TempDir,
        database_url: String,
        clock: Arc<ManualClock>,
    ) -> Self {
        let mut config = Self::config(&database_url, true, Some(clock));
        let running = secureclose_cloud::start(config.clone())
            .await
            .expect("the cloud must start on an existing SQLite file");
        config.bind = running.addr();
        let base_url = running.base_url();
        let seed = DemoSeed {
            company_id: String::new(),
            company_name: String::new(),
            admin_email: String::new(),
            admin_password: String::new(),
            users: Vec::new(),
        };
        Self {
            running: Some(running),
            config: Box::new(config),
            base_url,
            database_url,
            seed,
            _dir: dir,
        }
    }

    fn config(database_url: &str, dev_mode: bool, clock: Option<Arc<ManualClock>>) -> CloudConfig {
        let bind: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let mut config = CloudConfig::new(database_url, bind);
        config.dev_mode = dev_mode;
        // Production mode requires a sealing key for TOTP secrets: a
        // throwaway one (dev mode derives its own).
        config.totp_key = Some(secureclose_cloud::sealing::SealingKey::from_bytes(
            [0x5c; 32],
        ));
        if let Some(clock) = clock {
            config.clock = clock;
        }
        config
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Stops serving; the URL then refuses connections (the desktop goes offline).
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }

    /// Serves again after [`TestCloud::stop`]: the same URL, database, mode
    /// and clock (the desktop comes back online).
    pub async fn restart(&mut self) {
        if self.running.is_none() {
            let running = secureclose_cloud::start((*self.config).clone())
                .await
                .expect("the cloud restarts on its old port");
            self.running = Some(running);
        }
    }
}

impl TestCloud {
    /// The seeded password of a demo user of the admin's company.
    pub fn password_of(&self, email: &str) -> &str {
        self.seed
            .users
            .iter()
            .find(|(e, _)| e == email)
            .map(|(_, p)| p.as_str())
            .unwrap_or_else(|| panic!("{email} is not a demo user"))
    }
}

impl TestCloud {
    /// The code in the newest SMS the dev outbox holds for `to` (E.164):
    /// the only run of exactly 6 digits in the text, per the contract.
    pub async fn last_code(&self, to: &str) -> String {
        let messages = secureclose_cloud::outbox(&self.database_url, Some(to))
            .await
            .unwrap();
        // The newest text that carries a code (settings notices carry none).
        messages
            .iter()
            .find_map(|m| six_digit_run(&m.body))
            .unwrap_or_else(|| panic!("no SMS with a 6-digit code was sent to {to}"))
    }
}

impl TestCloud {
    /// Gives every user of the second demo company (Canyon Ridge, whose DMS
    /// has no 2FA) `password`: the seed returns only Desert Sun's passwords.
    pub async fn set_canyon_ridge_password(&self, password: &str) {
        let hash = secureclose_cloud::passwords::hash_password_blocking(password).unwrap();
        let db = secureclose_cloud::db::connect(&self.database_url, 1)
            .await
            .unwrap();
        let updated = sqlx::query(
            "UPDATE users SET password_hash = $1 WHERE email LIKE '%@canyonridge.example'",
        )
        .bind(hash)
        .execute(&db.pool)
        .await
        .unwrap();
        assert!(
            updated.rows_affected() > 0,
            "the demo seed must create Canyon Ridge's users"
        );
        db.pool.close().await;
    }
}

fn six_digit_run(text: &str) -> Option<String> {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == 6)
        .map(str::to_owned)
}

/// A demo user with role `user` (not admin), 2FA off, phone verified.
pub const DEMO_NON_ADMIN: &str = "marcus.reyes@desertsun.example";

pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// Every email of the demo company: the admin plus the other users.
/// The demo company's one disabled user (see the cloud's db/seed.rs).
pub const DEMO_DISABLED_USER: &str = "robert.okafor@desertsun.example";

pub fn company_emails(seed: &DemoSeed) -> BTreeSet<String> {
    std::iter::once(seed.admin_email.clone())
        .chain(seed.users.iter().map(|(email, _)| email.clone()))
        .collect()
}

/// A core on a fresh data dir, talking to `cloud_url`.
pub async fn open_core(data_dir: &Path, cloud_url: &str, key_store: Arc<dyn KeyStore>) -> AppCore {
    AppCore::open(CoreConfig {
        data_dir: data_dir.to_path_buf(),
        cloud_url: cloud_url.to_owned(),
        key_store,
        policy: secureclose_core::PolicySource::None,
        sync_interval: CoreConfig::DEFAULT_SYNC_INTERVAL,
    })
    .await
    .expect("the core must open on an empty data dir")
}

/// Asserts no file under `dir` is plain SQLite or contains any of `needles`.
/// Returns how many files were checked, so callers can assert the cache exists.
pub fn assert_no_plaintext(dir: &Path, needles: &BTreeSet<String>) -> usize {
    let mut checked = 0;
    for path in files_under(dir) {
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            // SQLite removes its -wal/-shm sidecars when the last connection
            // closes, which may happen between listing and reading.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => panic!("cannot read {}: {e}", path.display()),
        };
        assert!(
            !bytes.starts_with(b"SQLite format 3"),
            "{} is a plain SQLite file: the cache must be encrypted at rest",
            path.display()
        );
        for needle in needles {
            assert!(
                !contains(&bytes, needle.as_bytes()),
                "{} contains the email {needle} in clear: customer data must be encrypted at rest",
                path.display()
            );
        }
        checked += 1;
    }
    checked
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let entry = entry.unwrap();
            let Ok(kind) = entry.file_type() else {
                continue; // vanished since the listing (see above)
            };
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                out.push(entry.path());
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// A port nothing listens on right now (the OS picks it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`.
pub fn wait_for_port(port: u16, what: &str, group: &mut ProcessGroup) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            group.leader_running(),
            "{what} exited before listening on port {port} (see its log in the artifacts dir)"
        );
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on port {port} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Where screenshots and logs go: $SECURECLOSE_ARTIFACTS_DIR, else `<workspace>/artifacts`.
pub fn artifacts_dir() -> PathBuf {
    let dir = std::env::var_os("SECURECLOSE_ARTIFACTS_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../artifacts"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A required path from the environment, absolute, existing.
pub fn env_path(name: &str) -> PathBuf {
    let value = std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| panic!("{name} is not set: run this test through scripts/test"));
    let path = PathBuf::from(value);
    assert!(
        path.is_absolute() && path.is_file(),
        "{name}={} must be the absolute path of a built binary",
        path.display()
    );
    path
}

/// A process started as the leader of its own process group, with everything it
/// spawns (tauri-driver -> WebKitWebDriver -> the app). Dropping the guard
/// signals the WHOLE group: killing only the leader leaves the app alive and the
/// next WebDriver session fails with "Maximum number of active sessions".
pub struct ProcessGroup {
    name: String,
    child: Child,
    record: Option<PathBuf>,
}

impl ProcessGroup {
    /// Spawns `command` in a new process group, stdin from /dev/null and output
    /// appended to `<artifacts>/<name>.log`.
    pub fn spawn(name: &str, mut command: Command) -> Self {
        let log_path = artifacts_dir().join(format!("{name}.log"));
        let log = File::create(&log_path).unwrap();
        command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let child = command.spawn().unwrap_or_else(|e| {
            panic!("cannot start {name}: {e} (is it installed? run scripts/setup)")
        });
        // scripts/test kills recorded groups on exit, in case this process is
        // killed (timeout) before the guard's Drop runs.
        let record = std::env::var_os("SECURECLOSE_TEST_PIDS_DIR")
            .filter(|v| !v.is_empty())
            .map(|dir| PathBuf::from(dir).join(format!("{name}-{}.pgid", child.id())));
        if let Some(path) = &record {
            std::fs::write(path, child.id().to_string()).unwrap();
        }
        Self {
            name: name.to_owned(),
            child,
            record,
        }
    }

    pub fn leader_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn signal_group(&self, signal: &str) -> bool {
        // procps `kill` needs `-s SIG -- -PGID`; `kill -TERM -PGID` silently does nothing.
        Command::new("/bin/kill")
            .args(["-s", signal, "--", &format!("-{}", self.child.id())])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.signal_group("TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            // Reap the leader so a zombie does not keep the group "alive".
            let _ = self.child.try_wait();
            if !self.signal_group("0") || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if self.signal_group("0") {
            eprintln!(
                "{}: process group still alive after SIGTERM, sending SIGKILL",
                self.name
            );
            self.signal_group("KILL");
            let _ = self.child.wait();
        }
        if let Some(path) = &self.record {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The sync ended `core`'s session: the next `session()` says why, once
/// (`reason` is part of the message), and the one after is simply signed out.
pub async fn expect_ended(core: &secureclose_core::AppCore, reason: &str) {
    let err = core
        .session()
        .await
        .expect_err("the ended session's reason is given once");
    assert_eq!(err.code(), "session_ended", "{err:?}");
    assert!(
        err.user_message().contains(reason),
        "the person is told why: {:?}",
        err.user_message()
    );
    assert!(
        core.session().await.unwrap().is_none(),
        "told once, then signed out"
    );
}

/// Re-authenticates the signed-in person of `core` (what a security change
/// needs first): their password, then, if a code is asked for, the one
/// texted to `phone` (sent now when the person also has an app).
pub async fn reauth_by_text(core: &AppCore, cloud: &TestCloud, password: &str, phone: &str) {
    use secureclose_protocol::{ReauthStep, SecondFactorMethod};
    let step = core
        .reauthenticate(secureclose_core::Sensitive::new(password.to_owned()))
        .await
        .expect("the password is right");
    if let ReauthStep::NeedsSecondFactor { challenge } = step {
        if !challenge.code_sent {
            core.resend_reauth_code().await.expect("a text on request");
        }
        let code = cloud.last_code(phone).await;
        core.verify_reauth(SecondFactorMethod::Sms, &code)
            .await
            .expect("the texted code proves it");
    }
}
