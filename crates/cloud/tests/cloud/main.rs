//! The cloud's integration tests, one binary (one link on 2 cores) with one
//! module per feature, against real servers on 127.0.0.1:0. Every test is
//! written once over a [`support::Backend`] and instantiated for SQLite (a temp
//! file) and PostgreSQL (a fresh database per test in the server named by
//! `SECURECLOSE_TEST_PG_URL`; ignored unless run by scripts/test). Time moves
//! through the shared ManualClock: no test sleeps.

// Test helpers outside #[test] fns: a failed set-up step should panic loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// First: the other modules use its `on_both_backends!` macro.
#[macro_use]
mod support;

mod accounts;
mod admin_edits;
mod api;
mod audit_trail;
mod authorization;
mod dms_gating;
mod factor_reset;
mod reauth;
mod recovery_codes;
mod security_review;
mod setup_code_texts;
mod sms_guardrails;
mod sync;
mod trusted_computers;
mod two_factor;
mod two_factor_totp;
mod updates;
