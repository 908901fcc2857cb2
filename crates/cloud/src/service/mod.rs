//! What the cloud does, independent of HTTP: each function takes the shared
//! [`AppState`] and typed input, enforces the rules, and calls `db` for every
//! read and write. `http` maps requests onto these; the CLI calls them too.

pub mod account;
pub mod accounts;
pub mod factor_reset;
pub mod merge;
pub mod notice;
pub mod reauth;
pub mod recovery;
pub mod releases;
pub mod sessions;
pub mod sign_in;
pub mod sms_guard;
pub mod sync;
pub mod totp;
pub mod trusted;
pub mod two_factor;
pub mod users;

use secureclose_protocol::OutboxMessage;

use crate::db;
use crate::error::CloudError;
use crate::state::AppState;

/// The health check: the database answers.
pub async fn ping(state: &AppState) -> Result<(), CloudError> {
    db::ping(&state.db).await
}

/// The development SMS outbox (dev mode only; see `http::dev`).
pub async fn dev_outbox(
    state: &AppState,
    to: Option<&str>,
) -> Result<Vec<OutboxMessage>, CloudError> {
    db::sms_outbox::list(&state.db.pool, to).await
}
