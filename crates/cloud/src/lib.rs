//! SecureClose cloud service: accounts, companies and sessions over HTTP
//! (axum), stored in SQLite (embedded default) or PostgreSQL (sqlx `Any`).
//!
//! Layers, each importing only the ones below it: `http` (requests) →
//! `service` (rules) → `state` (the shared handles) → `sms` (the carrier) →
//! `db` (every SQL statement) → leaf modules any layer may use: `clock`,
//! `config`, `error`, `passwords`, `phone`, `sealing`, `tokens`. This file only wires
//! them together; nothing imports it.

pub mod clock;
pub mod config;
pub mod db;
pub mod error;
pub mod http;
pub mod passwords;
pub mod phone;
pub mod sealing;
pub mod service;
pub mod sms;
pub mod state;
pub mod tokens;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::CloudConfig;
pub use db::seed::{seed_bulk_users, seed_demo, DemoSeed};
pub use error::CloudError;
pub use http::openapi::openapi_document;

use secureclose_protocol::{OutboxMessage, User};
use state::{sms_gateway, totp_key, AppState};

/// Messages the development outbox recorded, newest first (`to`: only those
/// sent to this E.164 number). For tests and `secureclose-cloud outbox`.
pub async fn outbox(
    database_url: &str,
    to: Option<&str>,
) -> Result<Vec<OutboxMessage>, CloudError> {
    let db = db::connect(database_url, 1).await?;
    let result = db::sms_outbox::list(&db.pool, to).await;
    db.pool.close().await;
    result
}

/// The operator's unlock of a locked-out account (`secureclose-cloud user
/// unlock`); see [`service::users::unlock_by_operator`]. `company` (its id
/// or exact name) picks the account when several companies use the email.
pub async fn unlock_user(
    database_url: &str,
    email: &str,
    company: Option<&str>,
) -> Result<User, CloudError> {
    let db = db::connect(database_url, 1).await?;
    let result = service::users::unlock_by_operator(&db, email, company).await;
    db.pool.close().await;
    result
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
    let totp_key = totp_key(&config)?;
    let hasher =
        passwords::PasswordHasher::new(config.hash_concurrency, config.hash_queue_limit).await?;
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
        totp_key,
    };
    let app = http::router(state);
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
