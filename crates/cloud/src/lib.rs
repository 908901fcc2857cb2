//! SecureClose cloud service: accounts, companies and sessions over HTTP
//! (axum), stored in SQLite (embedded default) or PostgreSQL (sqlx `Any`).

pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod openapi;
pub mod routes;
pub mod seed;
mod store;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::CloudConfig;
pub use error::CloudError;
pub use openapi::openapi_document;
pub use seed::{seed_demo, DemoSeed};

/// Shared by every request handler.
#[derive(Clone)]
pub struct AppState {
    db: db::Db,
    hasher: Arc<auth::PasswordHasher>,
    config: Arc<CloudConfig>,
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
    let db = db::connect(&config.database_url, config.max_db_connections).await?;
    let hasher =
        auth::PasswordHasher::new(config.hash_concurrency, config.hash_queue_limit).await?;
    let listener = TcpListener::bind(config.bind).await?;
    let addr = listener.local_addr()?;
    let pool = db.pool.clone();
    let dialect = db.dialect;
    let state = AppState {
        db,
        hasher: Arc::new(hasher),
        config: Arc::new(config),
    };
    let app = routes::router(state);
    let (shutdown, shutdown_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = shutdown_rx.await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "server stopped with an error");
        }
    });
    tracing::info!(%addr, database = dialect.name(), "SecureClose cloud listening");
    Ok(RunningCloud {
        addr,
        shutdown,
        task,
        pool,
    })
}
