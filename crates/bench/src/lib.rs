//! Benchmarks behind `scripts/bench`; results land in `docs/benchmarks.md`
//! (table) and `docs/bench/*.json` (raw figures, committed).
//!
//! Each module measures one row of the table and returns JSON; `report`
//! turns the JSON files into the markdown table. Everything that is compared
//! (login vs raw argon2, SQLCipher vs plain SQLite, app vs minimal Tauri
//! window) is measured in the same run, interleaved, so machine noise hits
//! both sides alike.

pub mod cache;
pub mod desktop;
pub mod error;
pub mod keys;
pub mod login;
pub mod meta;
pub mod report;
pub mod stats;
pub mod sync;

pub use error::BenchError;
