//! SecureClose cloud service: accounts, companies and sessions over HTTP
//! (axum), stored in SQLite (embedded default) or PostgreSQL (sqlx `Any`).

pub mod audit;
pub mod auth;
pub mod clock;
pub mod config;
pub mod db;
pub mod device;
pub mod error;
pub mod openapi;
pub mod phone;
pub mod releases;
pub mod routes;
pub mod security;
pub mod seed;
pub mod sms;
mod store;
pub mod sync;
pub mod twofactor;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::CloudConfig;
pub use error::CloudError;
pub use openapi::openapi_document;
pub use seed::{seed_bulk_users, seed_demo, DemoSeed};

use clock::Clock as _;
use secureclose_protocol::{OutboxMessage, User};
use sms::{DevOutboxGateway, SmsConfig, SmsGateway, TwilioGateway, UnconfiguredGateway};

/// Shared by every request handler. Holds no per-user state: counters,
/// challenges and sessions live in the database so instances agree.
#[derive(Clone)]
pub struct AppState {
    db: db::Db,
    hasher: Arc<auth::PasswordHasher>,
    config: Arc<CloudConfig>,
    sms: Arc<dyn SmsGateway>,
}

impl AppState {
    pub(crate) fn now(&self) -> i64 {
        self.config.clock.now_ms()
    }
}

/// Picks the gateway for a configuration; the dev outbox only in dev mode.
fn sms_gateway(config: &CloudConfig, db: &db::Db) -> Result<Arc<dyn SmsGateway>, CloudError> {
    let choice = match (&config.sms, config.dev_mode) {
        (Some(choice), _) => Some(choice.clone()),
        (None, true) => Some(SmsConfig::DevOutbox),
        (None, false) => None,
    };
    Ok(match choice {
        Some(SmsConfig::DevOutbox) if !config.dev_mode => {
            return Err(CloudError::Config(
                "the dev SMS outbox is for development only: start with --dev, or configure \
                 Twilio (SECURECLOSE_SMS=twilio, SECURECLOSE_TWILIO_ACCOUNT_SID, \
                 SECURECLOSE_TWILIO_AUTH_TOKEN, SECURECLOSE_TWILIO_FROM)"
                    .into(),
            ))
        }
        Some(SmsConfig::DevOutbox) => {
            Arc::new(DevOutboxGateway::new(db.pool.clone(), config.clock.clone()))
        }
        Some(SmsConfig::Twilio(twilio)) => Arc::new(TwilioGateway::new(twilio)?),
        None => {
            tracing::warn!("no SMS gateway configured: second-factor sign-ins will fail");
            Arc::new(UnconfiguredGateway)
        }
    })
}

/// Messages the development outbox recorded, newest first (`to`: only those
/// sent to this E.164 number). For tests and `secureclose-cloud outbox`.
pub async fn outbox(
    database_url: &str,
    to: Option<&str>,
) -> Result<Vec<OutboxMessage>, CloudError> {
    let db = db::connect(database_url, 1).await?;
    let result = sms::list_outbox(&db.pool, to).await;
    db.pool.close().await;
    result
}

/// The operator's way back in for a locked-out company (`secureclose-cloud
/// user unlock`): clears the account's failure counters (lifting a lock after
/// 100 failures and any delay), ends its sessions, grants and attempts like
/// every unlock, and audits it. The status stays as it is: a disabled user
/// is re-activated by an admin. Returns the user as now stored.
pub async fn unlock_user(database_url: &str, email: &str) -> Result<User, CloudError> {
    let db = db::connect(database_url, 1).await?;
    let result = unlock_in(&db, email).await;
    db.pool.close().await;
    result
}

async fn unlock_in(db: &db::Db, email: &str) -> Result<User, CloudError> {
    let email = auth::normalize_email(email);
    let user = store::credentials_by_email(db, &email)
        .await?
        .ok_or_else(|| CloudError::Validation(format!("no account has the email {email}")))?
        .user;
    let now = clock::SystemClock.now_ms();
    let mut tx = db.pool.begin().await?;
    twofactor::clear_counters(&mut tx, &user.id).await?;
    security::end_sessions(&mut tx, security::Scope::User(&user.id), now, None).await?;
    let event = audit::Event {
        kind: audit::kinds::ACCOUNT_UNLOCKED,
        actor_user_id: None,
        subject_user_id: Some(&user.id),
        company_id: Some(&user.company_id),
        detail: "by the operator (secureclose-cloud user unlock)".into(),
    };
    audit::record_in(&mut tx, now, event).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, "account unlocked by the operator");
    Ok(user)
}

/// A cloud serving in the background (see [`start`]).
pub struct RunningCloud {
    addr: SocketAddr,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<()>,
    pool: sqlx::AnyPool,
}

impl RunningCloud {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT`, with a wildcard bind address replaced by loopback
    /// so the URL is always connectable from this machine.
    pub fn base_url(&self) -> String {
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(Ipv4Addr::LOCALHOST.into());
        }
        format!("http://{addr}")
    }

    /// Stops accepting connections, lets in-flight requests finish, closes the pool.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(());
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "server task ended abnormally");
        }
        self.pool.close().await;
    }
}

/// Runs migrations, binds `config.bind` (port 0 picks a free port) and serves
/// in a background task.
pub async fn start(config: CloudConfig) -> Result<RunningCloud, CloudError> {
    // Dev mode serves GET /api/v1/dev/outbox, every code sent, to anyone who
    // can connect: only this machine may.
    if config.dev_mode && !config.bind.ip().is_loopback() {
        return Err(CloudError::Config(format!(
            "--dev shows every SMS code at /api/v1/dev/outbox without a credential, so it \
             only binds to a loopback address (127.0.0.1 or ::1), not {}",
            config.bind
        )));
    }
    let db = db::connect(&config.database_url, config.max_db_connections).await?;
    let sms = sms_gateway(&config, &db)?;
    let hasher =
        auth::PasswordHasher::new(config.hash_concurrency, config.hash_queue_limit).await?;
    let listener = TcpListener::bind(config.bind).await?;
    let addr = listener.local_addr()?;
    let pool = db.pool.clone();
    let dialect = db.dialect;
    let sms_name = sms.name();
    let state = AppState {
        db,
        hasher: Arc::new(hasher),
        config: Arc::new(config),
        sms,
    };
    let app = routes::router(state);
    let (shutdown, shutdown_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        // The peer address feeds the per-source sign-in throttle.
        let served = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = shutdown_rx.await;
        })
        .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "server stopped with an error");
        }
    });
    tracing::info!(%addr, database = dialect.name(), sms = sms_name, "SecureClose cloud listening");
    Ok(RunningCloud {
        addr,
        shutdown,
        task,
        pool,
    })
}
