//! SecureClose desktop core: the login state machine, the SQLCipher-encrypted
//! local cache, the OS keychain and the cloud client. It never depends on
//! Tauri, so the shell stays thin and all of this is testable headless.

pub(crate) mod accounts;
pub mod app;
pub mod cache;
pub mod client;
pub(crate) mod context;
#[cfg(feature = "test-drop-one-edit")]
mod defect;
pub(crate) mod directory;
pub mod edits;
pub mod error;
pub mod keystore;
pub mod outbox;
pub mod policy;
pub mod sensitive;
pub mod session;
pub mod sync;
pub mod views;

#[cfg(test)]
#[cfg(feature = "ts")]
mod bindings;

pub use app::{AppCore, CoreConfig};
pub use edits::{KeyedEdit, QueuedEdit};
pub use error::CoreError;
pub use keystore::{KeyStore, OsKeyStore};
pub use policy::PolicySource;
pub use secureclose_protocol as protocol;
pub use sensitive::Sensitive;
