//! TEST-ONLY DEFECT, compiled only with the `test-drop-one-edit` feature
//! (never in a default build; refused in optimised builds below). It exists
//! to prove that tests/tests/e2e/sync_faults.rs notices a lost edit: the
//! first phone edit queued in this process is acknowledged to its caller
//! (who sees the new number) but silently never written to the cache or
//! the outbox, so it never reaches the cloud.

use std::sync::atomic::{AtomicBool, Ordering};

use secureclose_protocol::UserUpdate;

#[cfg(not(debug_assertions))]
compile_error!(
    "`test-drop-one-edit` is a deliberate defect for one test: never build it optimised"
);

static DROPPED_ONE: AtomicBool = AtomicBool::new(false);

/// True for the first edit that changes a phone (and only for it).
pub(crate) fn drop_this_edit(changes: &UserUpdate) -> bool {
    changes.mobile_phone.is_some() && !DROPPED_ONE.swap(true, Ordering::SeqCst)
}
