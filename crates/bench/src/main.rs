//! `secureclose-bench`: the measurements behind `scripts/bench`. Each
//! subcommand writes one JSON file; `report` renders docs/benchmarks.md.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use secureclose_bench::{cache, desktop, login, report, sync, BenchError};

#[derive(Parser)]
#[command(about = "SecureClose benchmarks (run them through scripts/bench)")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Cloud login throughput vs raw argon2id verifications.
    Login {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        #[arg(long, default_value_t = 2)]
        threads: usize,
        #[arg(long, default_value_t = 60)]
        verifies_per_thread: usize,
        #[arg(long, default_value_t = 120)]
        logins: usize,
        #[arg(long, default_value_t = 8)]
        clients: usize,
    },
    /// Cache open time and Users-table queries, SQLCipher vs plain SQLite.
    Cache {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
        sizes: Vec<usize>,
        #[arg(long, default_value_t = 50)]
        opens: usize,
        #[arg(long, default_value_t = 200)]
        queries: usize,
    },
    /// Offline-first sync: initial sync vs raw inserts, delta, enqueue, outbox replay.
    Sync {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 100_000)]
        users: usize,
        #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
        replays: Vec<usize>,
        #[arg(long, default_value_t = 1000)]
        enqueue_samples: usize,
    },
    /// App vs minimal Tauri window: start to first paint and summed PSS.
    Desktop {
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        app: PathBuf,
        #[arg(long)]
        fixture: PathBuf,
        #[arg(long, default_value = ":99")]
        display: String,
        #[arg(long, default_value_t = 3)]
        runs: usize,
        #[arg(long, default_value_t = 10)]
        idle_secs: u64,
        #[arg(long, default_value_t = 30)]
        timeout_secs: u64,
        #[arg(long)]
        work_dir: PathBuf,
        /// Only these variants (by name, comma-separated); default all.
        #[arg(long, value_delimiter = ',')]
        variants: Vec<String>,
    },
    /// Render the JSON results in DIR as markdown into OUT.
    Report {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        date: String,
        #[arg(long, default_value = "")]
        commit: String,
        #[arg(long, default_value = "")]
        note: String,
    },
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<(), BenchError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, serde_json::to_string_pretty(value)?)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime, BenchError> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("secureclose-bench: {e}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<(), BenchError> {
    match cli.command {
        Cmd::Login {
            out,
            rounds,
            threads,
            verifies_per_thread,
            logins,
            clients,
        } => {
            let args = login::LoginArgs {
                rounds,
                threads,
                verifies_per_thread,
                logins,
                clients,
            };
            let value = runtime()?.block_on(login::run(&args))?;
            write_json(&out, &value)
        }
        Cmd::Cache {
            out,
            sizes,
            opens,
            queries,
        } => {
            let args = cache::CacheArgs {
                sizes,
                opens,
                queries,
            };
            let value = runtime()?.block_on(cache::run(&args))?;
            write_json(&out, &value)
        }
        Cmd::Sync {
            out,
            users,
            replays,
            enqueue_samples,
        } => {
            let args = sync::SyncArgs {
                users,
                replays,
                enqueue_samples,
            };
            let value = runtime()?.block_on(sync::run(&args))?;
            write_json(&out, &value)
        }
        Cmd::Desktop {
            out,
            app,
            fixture,
            display,
            runs,
            idle_secs,
            timeout_secs,
            work_dir,
            variants,
        } => {
            let args = desktop::DesktopArgs {
                app,
                fixture,
                display,
                runs,
                idle_secs,
                timeout_secs,
                work_dir,
                variants,
            };
            let value = desktop::run(&args)?;
            write_json(&out, &value)
        }
        Cmd::Report {
            dir,
            out,
            date,
            commit,
            note,
        } => {
            let md = report::render(&report::ReportArgs {
                dir: &dir,
                date: &date,
                commit: &commit,
                note: &note,
            })?;
            std::fs::write(&out, md)?;
            eprintln!("wrote {}", out.display());
            Ok(())
        }
    }
}
