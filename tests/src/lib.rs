//! End-to-end tests of SecureClose live in `tests/e2e/` (one test binary).
//! This library holds the test tools they share that are worth testing on
//! their own: the fault-injection proxy.

pub mod fault_proxy;
