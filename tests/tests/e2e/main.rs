//! End-to-end tests, one binary: `core_cloud` drives the real core against the
//! real cloud over loopback HTTP; `desktop` drives the real app through
//! WebDriver. Run everything (including the ignored ones that need Xvfb,
//! tauri-driver and a keychain session) with `scripts/test`.

// Helpers outside #[test] fns (set-up, guards, waits) panic loudly on failure:
// that is how a test reports a broken precondition.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod core_accounts;
mod core_cloud;
mod core_hostile_cloud;
mod core_offline;
mod core_offline_app;
mod core_own_account;
mod core_rules;
mod core_session;
mod core_shared_email;
mod core_sync;
mod core_totp;
mod core_trusted;
mod core_two_factor;
mod desktop;
mod layers;
mod setup_script;
mod support;
mod sync_crash;
mod sync_faults;
