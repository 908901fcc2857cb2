//! End-to-end tests of SecureClose live in `tests/e2e/` (one test binary);
//! this library target is intentionally empty.
