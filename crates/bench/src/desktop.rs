//! Row 4: release app cold start to first paint under Xvfb, and the summed
//! PSS of its whole process tree after idling, each as a ratio to the minimal
//! Tauri window (crates/bench/fixtures/minimal-tauri) measured the same way in
//! the same run, for several WebKitGTK settings variants.
//!
//! Paint signal, identical for both apps: the bench polls `xwininfo -root
//! -tree` for the app's top-level window, then screenshots the screen
//! (`import -window root rgb:-`) and calls the window "mapped" when its area
//! is no longer the black Xvfb root (`-br`), and "painted" when the area holds
//! at least `MIN_CONTENT_PIXELS` pixels that differ from its dominant colour
//! (i.e. text or widgets, not just a blank background). An app that prints a
//! paint marker (see `MARKERS`) also gets the marker time recorded.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};

use crate::stats::{median, ms, summarize_ms};
use crate::BenchError;

/// Pixels unlike the background needed to call a window painted ("Hello" in
/// an h1 is several hundred).
const MIN_CONTENT_PIXELS: usize = 40;
/// Lines an app may print once its first frame is on screen.
const MARKERS: &[&str] = &["BENCH_PAINTED", "login screen painted"];

#[derive(Debug, Clone)]
pub struct DesktopArgs {
    pub app: PathBuf,
    pub fixture: PathBuf,
    pub display: String,
    pub runs: usize,
    pub idle_secs: u64,
    pub timeout_secs: u64,
    /// Per-app HOME/XDG/data directories live under here.
    pub work_dir: PathBuf,
    /// Variant names to run (empty = all).
    pub variants: Vec<String>,
}

pub struct Variant {
    pub name: &'static str,
    pub env: &'static [(&'static str, &'static str)],
    /// Knobs only the fixture understands (WebKit API settings).
    pub fixture_only: bool,
}

pub const VARIANTS: &[Variant] = &[
    Variant {
        name: "default",
        env: &[],
        fixture_only: false,
    },
    Variant {
        name: "no-compositing",
        env: &[("WEBKIT_DISABLE_COMPOSITING_MODE", "1")],
        fixture_only: false,
    },
    Variant {
        name: "no-dmabuf",
        env: &[("WEBKIT_DISABLE_DMABUF_RENDERER", "1")],
        fixture_only: false,
    },
    Variant {
        name: "no-compositing+no-dmabuf",
        env: &[
            ("WEBKIT_DISABLE_COMPOSITING_MODE", "1"),
            ("WEBKIT_DISABLE_DMABUF_RENDERER", "1"),
        ],
        fixture_only: false,
    },
    Variant {
        name: "hw-accel-never (API)",
        env: &[("MINIMAL_TAURI_HW_POLICY", "never")],
        fixture_only: true,
    },
    Variant {
        name: "cache-model-document-viewer (API)",
        env: &[("MINIMAL_TAURI_CACHE_MODEL", "document-viewer")],
        fixture_only: true,
    },
    Variant {
        name: "no-jit (JSC_useJIT=false)",
        env: &[("JSC_useJIT", "false")],
        fixture_only: false,
    },
];

#[derive(Debug, Clone, Serialize)]
pub struct Process {
    pub pid: u32,
    pub comm: String,
    pub pss_kib: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub mapped_ms: Option<f64>,
    pub painted_ms: Option<f64>,
    pub marker_ms: Option<f64>,
    pub pss_kib: u64,
    pub processes: Vec<Process>,
    pub polls: usize,
    pub error: Option<String>,
}

pub fn run(args: &DesktopArgs) -> Result<Value, BenchError> {
    let screen = screen_size(&args.display)?;
    let apps = [("app", args.app.clone()), ("fixture", args.fixture.clone())];
    for (_, bin) in &apps {
        if !bin.is_file() {
            return Err(BenchError::Failed(format!(
                "{} is not built",
                bin.display()
            )));
        }
    }
    // One discarded start per app fills the page cache and creates the app's
    // data (cache key, SQLCipher file) so later starts are a user's usual start.
    for (name, bin) in &apps {
        let r = measure_once(args, name, bin, &[], screen, 1);
        eprintln!("warm-up {name}: {:?}", r.painted_ms);
    }
    let mut variants = Vec::new();
    for variant in VARIANTS {
        if !args.variants.is_empty() && !args.variants.iter().any(|v| v == variant.name) {
            continue;
        }
        let mut per_app: HashMap<&str, Vec<RunResult>> = HashMap::new();
        for run in 0..args.runs {
            for (name, bin) in &apps {
                if variant.fixture_only && *name == "app" {
                    continue;
                }
                let r = measure_once(args, name, bin, variant.env, screen, args.idle_secs);
                eprintln!(
                    "{} run {run} {name}: mapped {:?} painted {:?} marker {:?} pss {} KiB {}",
                    variant.name,
                    r.mapped_ms.map(|v| v.round()),
                    r.painted_ms.map(|v| v.round()),
                    r.marker_ms.map(|v| v.round()),
                    r.pss_kib,
                    r.error.as_deref().unwrap_or("")
                );
                per_app.entry(name).or_default().push(r);
            }
        }
        let summary = |name: &str| -> Value {
            let runs = per_app.get(name).cloned().unwrap_or_default();
            let ok: Vec<&RunResult> = runs.iter().filter(|r| r.error.is_none()).collect();
            let col = |f: &dyn Fn(&RunResult) -> Option<f64>| -> Vec<f64> {
                ok.iter().filter_map(|r| f(r)).collect()
            };
            let painted = col(&|r| r.painted_ms);
            let mapped = col(&|r| r.mapped_ms);
            let marker = col(&|r| r.marker_ms);
            let pss = col(&|r| Some(r.pss_kib as f64 / 1024.0));
            json!({
                "ok_runs": ok.len(),
                "painted_ms": summarize_ms(&painted),
                "mapped_ms": summarize_ms(&mapped),
                "marker_ms": if marker.is_empty() { Value::Null } else { json!(summarize_ms(&marker)) },
                "pss_mib_median": median(&pss),
                "runs": runs,
            })
        };
        let app = summary("app");
        let fixture = summary("fixture");
        let ratio = |key: &str| -> Value {
            let a = app.pointer(key).and_then(Value::as_f64);
            let f = fixture.pointer(key).and_then(Value::as_f64);
            match (a, f) {
                (Some(a), Some(f)) if f > 0.0 && a.is_finite() => json!(a / f),
                _ => Value::Null,
            }
        };
        let start_ratio = ratio("/painted_ms/p50_ms");
        let pss_ratio = ratio("/pss_mib_median");
        variants.push(json!({
            "variant": variant.name,
            "env": variant.env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
            "fixture_only": variant.fixture_only,
            "app": if variant.fixture_only { Value::Null } else { app },
            "fixture": fixture,
            "start_ratio_p50": start_ratio,
            "pss_ratio_median": pss_ratio,
        }));
    }
    Ok(json!({
        "bench": "desktop",
        "app": args.app,
        "fixture": args.fixture,
        "screen": format!("{}x{}", screen.0, screen.1),
        "runs_per_variant": args.runs,
        "idle_secs": args.idle_secs,
        "paint_signal": format!(
            "window area (xwininfo) on a screenshot (import -window root) has >= {MIN_CONTENT_PIXELS} \
             pixels unlike its dominant colour; time from spawn"
        ),
        "variants": variants,
    }))
}

fn measure_once(
    args: &DesktopArgs,
    name: &str,
    bin: &Path,
    env: &[(&str, &str)],
    screen: (usize, usize),
    idle_secs: u64,
) -> RunResult {
    let mut result = RunResult {
        mapped_ms: None,
        painted_ms: None,
        marker_ms: None,
        pss_kib: 0,
        processes: Vec::new(),
        polls: 0,
        error: None,
    };
    let home = args.work_dir.join("home").join(name);
    let mut cmd = Command::new(bin);
    cmd.env("DISPLAY", &args.display)
        .env("HOME", &home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("SECURECLOSE_DATA_DIR", home.join("secureclose"))
        // Nothing listens there: the login screen must not need the cloud.
        .env("SECURECLOSE_CLOUD_URL", "http://127.0.0.1:9")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Own process group, so the whole tree can be signalled at the end.
        .process_group(0);
    for (k, _) in VARIANTS.iter().flat_map(|v| v.env.iter()) {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            result.error = Some(format!("spawn: {e}"));
            return result;
        }
    };
    let marker: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let log: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    if let Some(out) = child.stdout.take() {
        watch(out, marker.clone(), log.clone());
    }
    if let Some(err) = child.stderr.take() {
        watch(err, marker.clone(), log.clone());
    }

    let deadline = started + Duration::from_secs(args.timeout_secs);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            let tail = lock(&log).iter().rev().take(5).cloned().collect::<Vec<_>>();
            result.error = Some(format!("exited early ({status}): {tail:?}"));
            break;
        }
        result.polls += 1;
        let Some(area) = find_window(&args.display, screen) else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let Some((mapped, painted)) = inspect(&args.display, screen, area) else {
            continue;
        };
        let now = ms(started.elapsed());
        if mapped && result.mapped_ms.is_none() {
            result.mapped_ms = Some(now);
        }
        if painted {
            result.painted_ms = Some(now);
            break;
        }
    }
    if result.painted_ms.is_none() && result.error.is_none() {
        result.error = Some("no paint before the timeout".into());
    }
    if result.error.is_none() {
        std::thread::sleep(Duration::from_secs(idle_secs));
        let tree = descendants(child.id());
        result.processes = tree
            .iter()
            .filter_map(|&pid| {
                Some(Process {
                    pid,
                    comm: std::fs::read_to_string(format!("/proc/{pid}/comm"))
                        .ok()?
                        .trim()
                        .to_owned(),
                    pss_kib: pss_kib(pid)?,
                })
            })
            .collect();
        result.pss_kib = result.processes.iter().map(|p| p.pss_kib).sum();
    }
    result.marker_ms = lock(&marker).map(|t| ms(t.duration_since(started)));
    stop(&mut child);
    // Let X and the kernel settle before the next start.
    std::thread::sleep(Duration::from_millis(500));
    result
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn watch<R: Read + Send + 'static>(
    stream: R,
    marker: Arc<Mutex<Option<Instant>>>,
    log: Arc<Mutex<Vec<String>>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if MARKERS.iter().any(|m| line.contains(m)) {
                let mut slot = lock(&marker);
                if slot.is_none() {
                    *slot = Some(Instant::now());
                }
            }
            let mut log = lock(&log);
            if log.len() < 200 {
                log.push(line);
            }
        }
    });
}

/// SIGTERM to the process group, then SIGKILL to the group and to every
/// descendant (WebKit helpers may sit in a sandbox with its own group).
fn stop(child: &mut Child) {
    let pid = child.id();
    let tree = descendants(pid);
    let group = format!("-{pid}");
    let _ = Command::new("kill")
        .args(["-s", "TERM", "--", &group])
        .stderr(Stdio::null())
        .status();
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("kill")
        .args(["-s", "KILL", "--", &group])
        .stderr(Stdio::null())
        .status();
    for p in &tree {
        if Path::new(&format!("/proc/{p}")).exists() {
            let _ = Command::new("kill")
                .args(["-s", "KILL", &p.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }
    let _ = child.wait();
}

/// `pid` and all its descendants, from /proc/*/stat parent links.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(p) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
                continue;
            };
            // comm may contain spaces and parentheses: parse after the last ')'.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|s| s.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                children.entry(ppid).or_default().push(p);
            }
        }
    }
    let mut seen = HashSet::new();
    let mut stack = vec![pid];
    let mut out = Vec::new();
    while let Some(p) = stack.pop() {
        if seen.insert(p) {
            out.push(p);
            stack.extend(children.get(&p).into_iter().flatten().copied());
        }
    }
    out
}

fn pss_kib(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    text.lines()
        .find(|l| l.starts_with("Pss:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

fn screen_size(display: &str) -> Result<(usize, usize), BenchError> {
    let out = Command::new("xwininfo")
        .args(["-root", "-display", display])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| -> Option<usize> {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
    };
    match (field("Width:"), field("Height:")) {
        (Some(w), Some(h)) => Ok((w, h)),
        _ => Err(BenchError::Failed(format!(
            "no X display at {display}: {}",
            String::from_utf8_lossy(&out.stderr)
        ))),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Area {
    pub x: usize,
    pub y: usize,
    pub w: usize,
    pub h: usize,
}

/// The largest named window of at least 200x200, clipped to the screen.
fn find_window(display: &str, screen: (usize, usize)) -> Option<Area> {
    let out = Command::new("xwininfo")
        .args(["-root", "-tree", "-display", display])
        .output()
        .ok()?;
    parse_tree(&String::from_utf8_lossy(&out.stdout), screen)
}

pub fn parse_tree(text: &str, screen: (usize, usize)) -> Option<Area> {
    text.lines()
        .filter(|l| l.contains('"') && !l.contains("(the root window)"))
        .filter_map(|line| {
            let mut tokens = line.split_whitespace().rev();
            let abs = tokens.next()?;
            let geometry = tokens.next()?;
            let (size, _) = geometry.split_once(['+', '-'])?;
            let (w, h) = size.split_once('x')?;
            let (w, h): (usize, usize) = (w.parse().ok()?, h.parse().ok()?);
            let abs = abs.strip_prefix('+')?;
            let (x, y) = abs.split_once('+')?;
            let (x, y): (usize, usize) = (x.parse().ok()?, y.parse().ok()?);
            if w < 200 || h < 200 || x >= screen.0 || y >= screen.1 {
                return None;
            }
            Some(Area {
                x,
                y,
                w: w.min(screen.0 - x),
                h: h.min(screen.1 - y),
            })
        })
        .max_by_key(|a| a.w * a.h)
}

/// (mapped, painted) for the window area on a fresh screenshot.
fn inspect(display: &str, screen: (usize, usize), area: Area) -> Option<(bool, bool)> {
    let out = Command::new("import")
        .args([
            "-display", display, "-window", "root", "-depth", "8", "rgb:-",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if out.stdout.len() < screen.0 * screen.1 * 3 {
        return None;
    }
    Some(classify(&out.stdout, screen.0, area))
}

pub fn classify(rgb: &[u8], width: usize, area: Area) -> (bool, bool) {
    let mut counts: HashMap<[u8; 3], usize> = HashMap::new();
    for y in area.y..area.y + area.h {
        let row = (y * width + area.x) * 3;
        for px in rgb[row..row + area.w * 3].chunks_exact(3) {
            *counts.entry([px[0], px[1], px[2]]).or_default() += 1;
        }
    }
    let total = area.w * area.h;
    let (mode, mode_count) = counts
        .iter()
        .max_by_key(|(_, c)| **c)
        .map(|(k, c)| (*k, *c))
        .unwrap_or(([0, 0, 0], 0));
    let black = counts.get(&[0, 0, 0]).copied().unwrap_or(0);
    let mapped = black < total;
    let painted = mapped && mode != [0, 0, 0] && total - mode_count >= MIN_CONTENT_PIXELS;
    (mapped, painted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_app_window_from_xwininfo_tree() {
        let text = r#"
xwininfo: Window id: 0x50d (the root window) (has no name)
  Root window id: 0x50d (the root window) (has no name)
     3 children:
     0x1e00003 "minimal-tauri": ("minimal-tauri" "Minimal-tauri")  1100x720+0+0  +0+0
     0x1e00001 "minimal-tauri": ("minimal-tauri" "Minimal-tauri")  10x10+-100+-100  +-100+-100
     0x1c00001 (has no name): ()  1x1+-1+-1  +-1+-1
"#;
        assert_eq!(
            parse_tree(text, (1280, 800)),
            Some(Area {
                x: 0,
                y: 0,
                w: 1100,
                h: 720
            }),
            "the big named top-level window is the app's"
        );
    }

    #[test]
    fn blank_window_is_mapped_but_not_painted_until_content_shows() {
        let (w, h) = (300, 300);
        let area = Area { x: 0, y: 0, w, h };
        let mut rgb = vec![0u8; w * h * 3];
        assert_eq!(
            classify(&rgb, w, area),
            (false, false),
            "black root: nothing mapped"
        );
        rgb.iter_mut().for_each(|b| *b = 255);
        assert_eq!(
            classify(&rgb, w, area),
            (true, false),
            "white window: mapped, blank"
        );
        for b in rgb.iter_mut().take(MIN_CONTENT_PIXELS * 3) {
            *b = 0;
        }
        assert_eq!(
            classify(&rgb, w, area),
            (true, true),
            "text on white: painted"
        );
    }
}
