//! `secureclose-bench`: the measurements behind `scripts/bench`. Each
//! measuring subcommand writes one JSON file (its figures plus `meta`: commit,
//! date, machine, load); `report` renders docs/benchmarks.md from those files
//! alone.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use secureclose_bench::meta::{self, Meta, RunInfo};
use secureclose_bench::{cache, desktop, login, report, sync, BenchError};

#[derive(Parser)]
#[command(about = "SecureClose benchmarks (run them through scripts/bench)")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
    /// Commit measured (recorded in the JSON's meta).
    #[arg(long, global = true, default_value = "unknown")]
    commit: String,
    /// When the part started, UTC (recorded in the JSON's meta).
    #[arg(long, global = true, default_value = "unknown")]
    date: String,
    /// Free text about the run (recorded in the JSON's meta).
    #[arg(long, global = true, default_value = "")]
    note: String,
}

#[derive(Subcommand)]
enum Cmd {
    /// Cloud login throughput vs raw argon2id verifications.
    Login {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 7)]
        rounds: usize,
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
        /// Pause between two Users-tab queries during the first sync: 50 ms is
        /// 20 reads a second, at least what the tab asks while it fills (one
        /// re-read per page that lands) or while a search is typed (debounced).
        #[arg(long, default_value_t = 50)]
        probe_every_ms: u64,
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
    /// Size of the .deb that `tauri build --bundles deb` left in BUNDLE_DIR.
    Deb {
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        bundle_dir: PathBuf,
    },
    /// Render the JSON results in DIR as markdown into OUT.
    Report {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
}

/// Writes a part's figures with its `meta`, pretty-printed with a final
/// newline (the files are committed).
fn write_json(path: &Path, mut value: serde_json::Value, meta: Meta) -> Result<(), BenchError> {
    let Some(object) = value.as_object_mut() else {
        return Err(BenchError::Failed(
            "a part's result must be a JSON object".into(),
        ));
    };
    object.insert("meta".into(), serde_json::to_value(meta)?);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, serde_json::to_string_pretty(&value)? + "\n")?;
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
    let meta = meta::start(
        &RunInfo {
            commit: cli.commit,
            note: cli.note,
        },
        cli.date,
    );
    match cli.command {
        Cmd::Login {
            out,
            rounds,
            verifies_per_thread,
            logins,
            clients,
        } => {
            let args = login::LoginArgs {
                rounds,
                verifies_per_thread,
                logins,
                clients,
            };
            let value = runtime()?.block_on(login::run(&args))?;
            write_json(&out, value, meta.finish())
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
            write_json(&out, value, meta.finish())
        }
        Cmd::Sync {
            out,
            users,
            replays,
            enqueue_samples,
            probe_every_ms,
        } => {
            let args = sync::SyncArgs {
                users,
                replays,
                enqueue_samples,
                probe_every: std::time::Duration::from_millis(probe_every_ms),
            };
            let value = runtime()?.block_on(sync::run(&args))?;
            write_json(&out, value, meta.finish())
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
            write_json(&out, value, meta.finish())
        }
        Cmd::Deb { out, bundle_dir } => {
            let value = deb_size(&bundle_dir)?;
            write_json(&out, value, meta.finish())
        }
        Cmd::Report { dir, out } => {
            let md = report::render(&dir)?;
            std::fs::write(&out, md)?;
            eprintln!("wrote {}", out.display());
            Ok(())
        }
    }
}

/// The one .deb in `bundle_dir` and its size in bytes.
fn deb_size(bundle_dir: &Path) -> Result<serde_json::Value, BenchError> {
    let debs: Vec<PathBuf> = std::fs::read_dir(bundle_dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    let [deb] = debs.as_slice() else {
        return Err(BenchError::Failed(format!(
            "expected one .deb in {}, found {}",
            bundle_dir.display(),
            debs.len()
        )));
    };
    Ok(serde_json::json!({
        "bench": "deb",
        "file": deb.file_name().map(|n| n.to_string_lossy().into_owned()),
        "bytes": std::fs::metadata(deb)?.len(),
        "how": "npm run tauri -- build --bundles deb (from ui/, release profile)",
    }))
}
