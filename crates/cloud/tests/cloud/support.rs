//! Shared by the cloud's integration tests: a seeded cloud on a fresh
//! SQLite file or PostgreSQL database, an HTTP client, a manual clock, and the
//! demo people the tests sign in as.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Response, StatusCode};
use secureclose_cloud::clock::{Clock as _, ManualClock};
use secureclose_cloud::{outbox, seed_demo, start, CloudConfig, DemoSeed, RunningCloud};
use secureclose_protocol::{ApiError, Challenge, LoginResponse, MeResponse, ReauthStep};
use sqlx::Row as _;
use sqlx::{AnyPool, Connection as _, Executor as _};

pub const PG_ENV: &str = "SECURECLOSE_TEST_PG_URL";

// The demo seed's people (`seed_demo`): Desert Sun Motors' users, then
// Canyon Ridge Auto Group's admin and one of its users.
pub const MARCUS: &str = "marcus.reyes@desertsun.example";
pub const MARCUS_PHONE: &str = "+14805550123";
pub const EMILY: &str = "emily.chen@desertsun.example";
pub const TOM: &str = "tom.becker@desertsun.example";
pub const LUCIA: &str = "lucia.fernandez@desertsun.example";
pub const LUCIA_PHONE: &str = "+15205550181";
pub const PRIYA: &str = "priya.natarajan@desertsun.example";
pub const ROBERT: &str = "robert.okafor@desertsun.example";
pub const CANYON_ADMIN: &str = "admin@canyonridge.example";
pub const NINA: &str = "nina.patel@canyonridge.example";

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database no other test touches.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// Every byte of a SQLite database's files (main, WAL, journal), to
    /// check that a secret is not stored in the clear.
    pub fn sqlite_bytes(&self) -> Vec<u8> {
        let path = self.url.trim_start_matches("sqlite://");
        let path = path.split('?').next().unwrap();
        let mut bytes = Vec::new();
        for suffix in ["", "-wal", "-journal"] {
            if let Ok(file) = std::fs::read(format!("{path}{suffix}")) {
                bytes.extend(file);
            }
        }
        assert!(bytes.len() > 4096, "the database file was read");
        bytes
    }

    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("cloud.db").display()
                );
                TestDb {
                    url,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let admin_url = std::env::var(PG_ENV).unwrap_or_else(|_| {
                    panic!("{PG_ENV} must name a PostgreSQL server (scripts/test starts one)")
                });
                let name = format!("test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .expect("connect to the PostgreSQL test server");
                admin
                    .execute(format!("CREATE DATABASE {name}").as_str())
                    .await
                    .expect("create a per-test database");
                admin.close().await.ok();
                let base = admin_url.split('?').next().unwrap_or_default();
                let (server, _db) = base.rsplit_once('/').expect("URL with a database path");
                TestDb {
                    url: format!("{server}/{name}"),
                    _dir: None,
                }
            }
        }
    }
}

pub struct TestCloud {
    pub cloud: RunningCloud,
    /// Every instance of this test's cloud reads this clock: tests move time
    /// instead of sleeping.
    pub clock: Arc<ManualClock>,
    pub seed: DemoSeed,
    pub http: reqwest::Client,
    /// Direct access to check what the server stored.
    pub pool: AnyPool,
    pub db: TestDb,
}

impl TestCloud {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut CloudConfig)) -> Self {
        let db = TestDb::new(backend).await;
        let seed = seed_demo(&db.url).await.expect("seed the demo data");
        let clock = Arc::new(ManualClock::new());
        let mut config = CloudConfig::new(&db.url, "127.0.0.1:0".parse().unwrap());
        // Dev mode: codes go to the outbox table, where tests read them.
        config.dev_mode = true;
        config.clock = clock.clone();
        tweak(&mut config);
        let cloud = start(config).await.expect("start the cloud");
        sqlx::any::install_default_drivers();
        let pool = AnyPool::connect(&db.url).await.expect("test pool");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        TestCloud {
            cloud,
            clock,
            seed,
            http,
            pool,
            db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.cloud.base_url())
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.http
            .post(self.url("/api/v1/login"))
            .json(&serde_json::json!({ "email": email, "password": password }))
            .send()
            .await
            .expect("login request")
    }

    /// Logs in and returns the session token.
    pub async fn login_ok(&self, email: &str, password: &str) -> String {
        let response = self.login(email, password).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "login of {email} must succeed"
        );
        let LoginResponse::SignedIn { session, .. } = response.json().await.unwrap() else {
            panic!("{email} has no second factor: the password alone must sign in");
        };
        session.token
    }

    pub async fn admin_token(&self) -> String {
        self.login_ok(&self.seed.admin_email, &self.seed.admin_password)
            .await
    }

    pub fn password_of(&self, email: &str) -> String {
        if email == self.seed.admin_email {
            return self.seed.admin_password.clone();
        }
        self.seed
            .users
            .iter()
            .find(|(e, _)| e == email)
            .map(|(_, p)| p.clone())
            .unwrap_or_else(|| panic!("{email} is in the demo seed"))
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut request = self.http.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("GET request")
    }

    /// Another instance of the same service on the same database and clock
    /// (as behind a load balancer).
    pub async fn second_instance(&self) -> RunningCloud {
        self.second_instance_with(|_| {}).await
    }

    /// [`Self::second_instance`] with its configuration changed first.
    pub async fn second_instance_with(
        &self,
        change: impl FnOnce(&mut CloudConfig),
    ) -> RunningCloud {
        let mut config = CloudConfig::new(&self.db.url, "127.0.0.1:0".parse().unwrap());
        config.dev_mode = true;
        config.clock = self.clock.clone();
        change(&mut config);
        start(config).await.expect("start a second instance")
    }

    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> Response {
        self.post_to(&self.cloud.base_url(), path, body).await
    }

    pub async fn post_to(&self, base: &str, path: &str, body: serde_json::Value) -> Response {
        self.http
            .post(format!("{base}{path}"))
            .json(&body)
            .send()
            .await
            .expect("POST request")
    }

    pub async fn patch(&self, path: &str, token: &str, body: serde_json::Value) -> Response {
        self.http
            .patch(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("PATCH request")
    }

    /// A login whose password is right; the parsed answer.
    pub async fn login_response(&self, email: &str, password: &str) -> LoginResponse {
        let response = self.login(email, password).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "the password of {email} is right"
        );
        response.json().await.unwrap()
    }

    /// Logs in a user who needs a code; the challenge.
    pub async fn login_for_code(&self, email: &str, password: &str) -> Challenge {
        match self.login_response(email, password).await {
            LoginResponse::SecondFactorRequired { challenge } => challenge,
            other => panic!("{email} must be asked for a code, got {other:?}"),
        }
    }

    pub async fn verify(&self, challenge: &Challenge, code: &str) -> Response {
        self.post(
            "/api/v1/login/verify",
            serde_json::json!({"challenge_id": challenge.challenge_id, "code": code}),
        )
        .await
    }

    pub async fn resend(&self, challenge: &Challenge) -> Response {
        self.post(
            "/api/v1/login/resend",
            serde_json::json!({"challenge_id": challenge.challenge_id}),
        )
        .await
    }

    /// A bodiless request with `token`'s bearer (the endpoints of one's own
    /// account and an admin's actions).
    pub async fn send(&self, method: reqwest::Method, path: &str, token: &str) -> Response {
        self.http
            .request(method, self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    /// Re-authenticates the session of `token` (what a security change
    /// needs first): the user's password, then, when they have a phone, the
    /// code texted to it. For a user with only an app, see `reauth_start`.
    pub async fn reauth(&self, token: &str) {
        let me: MeResponse = self
            .get("/api/v1/me", Some(token))
            .await
            .json()
            .await
            .unwrap();
        match self
            .reauth_start(token, &self.password_of(&me.user.email))
            .await
        {
            ReauthStep::Done { .. } => {}
            ReauthStep::NeedsSecondFactor { challenge } => {
                let phone = me.user.mobile_phone.expect("a phone to text the code to");
                if !challenge.code_sent {
                    assert_eq!(self.resend(&challenge).await.status(), StatusCode::OK);
                }
                let code = self.latest_code(&phone).await;
                let response = self.reauth_verify(token, &challenge, "sms", &code).await;
                assert_eq!(
                    response.status(),
                    StatusCode::OK,
                    "the texted code proves it"
                );
            }
        }
    }

    /// Re-authentication's password step, which must be accepted.
    pub async fn reauth_start(&self, token: &str, password: &str) -> ReauthStep {
        let response = self
            .http
            .post(self.url("/api/v1/account/reauth"))
            .bearer_auth(token)
            .json(&serde_json::json!({ "password": password }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "the password is right");
        response.json().await.unwrap()
    }

    pub async fn reauth_verify(
        &self,
        token: &str,
        challenge: &Challenge,
        method: &str,
        code: &str,
    ) -> Response {
        self.http
            .post(self.url("/api/v1/account/reauth/verify"))
            .bearer_auth(token)
            .json(&serde_json::json!({
                "challenge_id": challenge.challenge_id, "method": method, "code": code
            }))
            .send()
            .await
            .unwrap()
    }

    /// The code in the newest message for `to` that carries one (settings
    /// notices carry none).
    pub async fn latest_code(&self, to: &str) -> String {
        let messages = outbox(&self.db.url, Some(to))
            .await
            .expect("read the outbox");
        let newest = messages
            .iter()
            .find(|m| m.body.chars().any(|c| c.is_ascii_digit()))
            .unwrap_or_else(|| panic!("a code must have been sent to {to}"));
        extract_code(&newest.body)
    }

    /// The bodies of the messages for `to`, newest first.
    pub async fn texts_to(&self, to: &str) -> Vec<String> {
        outbox(&self.db.url, Some(to))
            .await
            .expect("read the outbox")
            .into_iter()
            .map(|m| m.body)
            .collect()
    }

    pub async fn outbox_count(&self, to: &str) -> usize {
        outbox(&self.db.url, Some(to)).await.unwrap().len()
    }

    pub async fn user_id(&self, email: &str) -> String {
        sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
            .bind(email)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// Turns a user's 2FA toggle on directly in the database.
    pub async fn enable_two_factor(&self, email: &str) {
        sqlx::query("UPDATE users SET two_factor_enabled = 1 WHERE email = $1")
            .bind(email)
            .execute(&self.pool)
            .await
            .unwrap();
    }

    /// `(password_failures, code_failures, consecutive_failures)`.
    pub async fn counters(&self, email: &str) -> (i64, i64, i64) {
        let row = sqlx::query(
            "SELECT password_failures, code_failures, consecutive_failures FROM users WHERE email = $1",
        )
        .bind(email)
        .fetch_one(&self.pool)
        .await
        .unwrap();
        (
            row.get("password_failures"),
            row.get("code_failures"),
            row.get("consecutive_failures"),
        )
    }

    /// Kinds of the audit events about `subject_user_id`, oldest first.
    pub async fn audit_kinds(&self, subject_user_id: &str) -> Vec<String> {
        secureclose_cloud::db::audit::all(&self.pool)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.subject_user_id.as_deref() == Some(subject_user_id))
            .map(|e| e.kind)
            .collect()
    }

    pub async fn stop(self) {
        self.pool.close().await;
        self.cloud.shutdown().await;
    }
}

/// The seed gives Canyon Ridge's users fresh passwords too, but DemoSeed
/// only returns Desert Sun's: set a known one directly.
pub async fn canyon_password(t: &TestCloud) -> String {
    let password = "canyon-test-password".to_string();
    let hash = secureclose_cloud::passwords::hash_password_blocking(&password).unwrap();
    sqlx::query("UPDATE users SET password_hash = $1 WHERE email LIKE '%@canyonridge.example'")
        .bind(hash)
        .execute(&t.pool)
        .await
        .unwrap();
    password
}

/// An edit of the user with `email` (PATCH /api/v1/users/{id}); the raw answer.
pub async fn patch_user(
    t: &TestCloud,
    token: &str,
    email: &str,
    body: serde_json::Value,
) -> Response {
    let id = t.user_id(email).await;
    t.patch(&format!("/api/v1/users/{id}"), token, body).await
}

/// The only run of exactly six digits in an SMS text.
pub fn extract_code(body: &str) -> String {
    let runs: Vec<&str> = body
        .split(|c: char| !c.is_ascii_digit())
        .filter(|run| run.len() == 6)
        .collect();
    assert_eq!(runs.len(), 1, "exactly one 6-digit code in {body:?}");
    runs[0].to_string()
}

/// A code that is certainly not `code`.
pub fn wrong_code(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

/// Asserts an error response's status and `{code, message}` body.
pub async fn expect_error(response: Response, status: StatusCode, code: &str) -> ApiError {
    assert_eq!(response.status(), status, "HTTP status for {code}");
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        content_type.starts_with("application/json"),
        "errors are JSON, got {content_type:?}"
    );
    let error: ApiError = response.json().await.expect("{code, message} body");
    assert_eq!(error.code, code);
    assert!(!error.message.is_empty(), "errors carry a human message");
    error
}
/// Instantiates each named `async fn(Backend)` for both backends.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(crate::support::Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[ignore = "needs PostgreSQL: run scripts/test"]
            async fn postgres() {
                super::$name(crate::support::Backend::Postgres).await
            }
        }
    )*};
}
