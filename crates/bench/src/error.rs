//! One error type for the bench binary.

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("cloud: {0}")]
    Cloud(#[from] secureclose_cloud::CloudError),
    #[error("core: {0}")]
    Core(#[from] secureclose_core::CoreError),
    #[error("sqlite: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Failed(String),
}
