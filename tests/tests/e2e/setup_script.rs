//! `scripts/setup` finds and installs every missing apt package. The script
//! under test is the real one; only the two system tools it asks are
//! stand-ins on PATH: `dpkg-query` (told which package to report as never
//! heard of, removed, or to fail outright) and `apt-get` (records its
//! arguments, installs nothing). `sudo` passes through, so the test also
//! runs as a non-root user.
//!
//! Ignored by plain `cargo test`: setup must find everything else (Rust,
//! Node, npm packages, cargo tools) already installed, as it is after the
//! `scripts/setup` that `scripts/test` runs first.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

const DPKG_QUERY: &str = r#"#!/bin/sh
# Stand-in for `dpkg-query -W -f='${Package} ${Status}\n' PKG...`.
if [ -n "${FAKE_DPKG_FAIL:-}" ]; then
  echo "dpkg-query: error: dpkg status database is locked by another process" >&2
  exit 2
fi
rc=0
for arg in "$@"; do
  case "$arg" in -*) continue ;; esac
  if [ "$arg" = "${FAKE_DPKG_UNKNOWN:-}" ]; then
    # What dpkg says of a package it has never heard of: stderr and exit 1.
    echo "dpkg-query: no packages found matching $arg" >&2
    rc=1
  elif [ "$arg" = "${FAKE_DPKG_REMOVED:-}" ]; then
    echo "$arg deinstall ok config-files"
  else
    echo "$arg install ok installed"
  fi
done
exit "$rc"
"#;

const APT_GET: &str = r#"#!/bin/sh
printf '%s\n' "$*" >>"$FAKE_APT_LOG"
"#;

const SUDO: &str = "#!/bin/sh\nexec \"$@\"\n";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the repository")
        .to_path_buf()
}

struct StandIns {
    dir: TempDir,
}

impl StandIns {
    fn new() -> StandIns {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in [
            ("dpkg-query", DPKG_QUERY),
            ("apt-get", APT_GET),
            ("sudo", SUDO),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, body).unwrap();
            let status = Command::new("chmod")
                .arg("755")
                .arg(&path)
                .status()
                .unwrap();
            assert!(status.success(), "chmod of the {name} stand-in failed");
        }
        StandIns { dir }
    }

    fn apt_log(&self) -> PathBuf {
        self.dir.path().join("apt-get.log")
    }

    /// Runs the real scripts/setup with the stand-ins first on PATH.
    fn setup(&self, env: &[(&str, &str)]) -> (Output, Vec<String>) {
        let _ = std::fs::remove_file(self.apt_log());
        let path = format!(
            "{}:{}",
            self.dir.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut command = Command::new("bash");
        command
            .arg(repo_root().join("scripts/setup"))
            .env("PATH", path)
            .env("FAKE_APT_LOG", self.apt_log())
            .env_remove("FAKE_DPKG_FAIL")
            .env_remove("FAKE_DPKG_UNKNOWN")
            .env_remove("FAKE_DPKG_REMOVED");
        for (key, value) in env {
            command.env(key, value);
        }
        let output = command.output().unwrap();
        let calls = std::fs::read_to_string(self.apt_log())
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect();
        (output, calls)
    }
}

impl StandIns {
    /// scripts/setup must succeed; returns its apt-get calls.
    fn setup_ok(&self, env: &[(&str, &str)]) -> Vec<String> {
        let (output, calls) = self.setup(env);
        assert!(
            output.status.success(),
            "setup failed:\n{}",
            describe(&output)
        );
        calls
    }
}

fn required_packages() -> Vec<String> {
    let output = Command::new("bash")
        .arg("-c")
        .arg(r#"source scripts/lib.sh && printf '%s\n' "${SC_APT_PACKAGES[@]}""#)
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(output.status.success(), "scripts/lib.sh did not load");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The packages of every `apt-get install` call, in order.
fn installed(calls: &[String]) -> Vec<String> {
    calls
        .iter()
        .filter(|call| call.split_whitespace().any(|word| word == "install"))
        .flat_map(|call| {
            call.split_whitespace()
                .filter(|word| !word.starts_with('-') && *word != "install")
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
#[ignore = "runs scripts/setup, which needs everything but apt already installed: run by scripts/test"]
fn setup_installs_a_package_dpkg_has_never_heard_of() {
    let packages = required_packages();
    // The package whose absence broke a fresh machine's build (glib-2.0.pc).
    let unknown = "libwebkit2gtk-4.1-dev";
    assert!(
        packages.iter().any(|p| p == unknown),
        "{unknown} must stay a required package: the desktop crate links WebKitGTK"
    );
    let stand_ins = StandIns::new();
    let calls = stand_ins.setup_ok(&[("FAKE_DPKG_UNKNOWN", unknown)]);
    assert_eq!(
        installed(&calls),
        vec![unknown.to_owned()],
        "setup must install exactly the package dpkg does not know (apt-get calls: {calls:?})"
    );
    let update = calls
        .iter()
        .position(|c| c.split_whitespace().any(|w| w == "update"));
    let install = calls
        .iter()
        .position(|c| c.split_whitespace().any(|w| w == "install"));
    assert!(
        matches!((update, install), (Some(u), Some(i)) if u < i),
        "apt-get update must run before the install on a fresh machine: {calls:?}"
    );
}

#[test]
#[ignore = "runs scripts/setup, which needs everything but apt already installed: run by scripts/test"]
fn setup_installs_a_package_that_was_removed() {
    let stand_ins = StandIns::new();
    let calls = stand_ins.setup_ok(&[("FAKE_DPKG_REMOVED", "xvfb")]);
    assert_eq!(
        installed(&calls),
        vec!["xvfb".to_owned()],
        "a package left as config files only is not installed: {calls:?}"
    );
}

#[test]
#[ignore = "runs scripts/setup, which needs everything but apt already installed: run by scripts/test"]
fn setup_installs_nothing_when_every_package_is_present() {
    let stand_ins = StandIns::new();
    let calls = stand_ins.setup_ok(&[]);
    assert!(
        calls.is_empty(),
        "with every package installed setup must not call apt-get: {calls:?}"
    );
}

#[test]
#[ignore = "runs scripts/setup, which needs everything but apt already installed: run by scripts/test"]
fn setup_fails_when_dpkg_cannot_tell_what_is_installed() {
    let stand_ins = StandIns::new();
    let (output, calls) = stand_ins.setup(&[("FAKE_DPKG_FAIL", "1")]);
    assert!(
        !output.status.success(),
        "a dpkg-query that cannot answer must fail setup, never read as 'nothing missing':\n{}",
        describe(&output)
    );
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("could not check which apt packages"),
        "setup must say why it stopped:\n{}",
        describe(&output)
    );
    assert!(
        calls.is_empty(),
        "nothing may be installed on a guess: {calls:?}"
    );
}
