//! Benchmarks for scripts/bench.
