//! End-to-end tests of SecureClose live in `tests/tests/e2e/` (one test binary).
//! This library holds the test tools they share that are worth testing on
//! their own: the fault-injection proxy and the restart-proof keychain of
//! the `secureclose-crash-harness` binary (src/bin).

pub mod fault_proxy;
pub mod file_keystore;
