//! Where and how a figure was measured, recorded in each raw result
//! (`docs/bench/<part>.json`, key `meta`) at measurement time, so the report
//! renders from the JSON alone and every figure traces to its commit.

use serde::{Deserialize, Serialize};

/// Given by `scripts/bench` (it knows the commit and the run's note).
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    /// `git rev-parse --short HEAD`, with `-dirty` when the tree had changes.
    pub commit: String,
    pub note: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Meta {
    pub commit: String,
    /// UTC, when the part started.
    pub date: String,
    pub machine: String,
    /// CPUs this process may run on (`Cpus_allowed_list`): both sides of a
    /// comparison run in this one process, so they share it.
    pub cpus_allowed: String,
    /// `/proc/loadavg` (1, 5, 15 min) before and after the part.
    pub loadavg_before: String,
    pub loadavg_after: String,
    /// The command line that produced the figures.
    pub args: Vec<String>,
    pub note: String,
}

/// Collects everything but `loadavg_after` (see [`Meta::finish`]).
pub fn start(run: &RunInfo, date: String) -> Meta {
    Meta {
        commit: run.commit.clone(),
        date,
        machine: machine(),
        cpus_allowed: proc_status_field("Cpus_allowed_list").unwrap_or_default(),
        loadavg_before: loadavg(),
        loadavg_after: String::new(),
        args: command_line(),
        note: run.note.clone(),
    }
}

impl Meta {
    pub fn finish(mut self) -> Self {
        self.loadavg_after = loadavg();
        self
    }
}

/// The arguments, the program by its name only (its path says nothing about
/// the figures and differs per machine).
fn command_line() -> Vec<String> {
    let mut args: Vec<String> = std::env::args().collect();
    if let Some(program) = args.first_mut() {
        if let Some(name) = std::path::Path::new(program.as_str()).file_name() {
            *program = name.to_string_lossy().into_owned();
        }
    }
    args
}

/// The 1, 5 and 15 minute load averages.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn proc_status_field(name: &str) -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(|v| v.trim().to_owned())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    format!("{cpu}, {cores} cores, {mem_gib:.0} GiB RAM, Linux {kernel}")
}
