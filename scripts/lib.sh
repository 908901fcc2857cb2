# shellcheck shell=bash
# Shared helpers for scripts/setup, scripts/test and scripts/dev. Source it; do not run it.

SC_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SC_ROOT

# Debian/Ubuntu packages needed to build and test the stack (see README.md).
SC_APT_PACKAGES=(
  build-essential pkg-config perl make curl wget file ca-certificates
  libwebkit2gtk-4.1-dev libxdo-dev libssl-dev libayatana-appindicator3-dev librsvg2-dev
  libsecret-1-dev libdbus-1-dev dbus dbus-x11 gnome-keyring keyutils
  xvfb xauth webkit2gtk-driver imagemagick
  postgresql iproute2 procps
  # The updater installs a .deb with `pkexec`, else `sudo dpkg -i` (update end-to-end test).
  sudo
)
SC_TAURI_DRIVER_VERSION="2.1.0"
SC_NODE_MIN_MAJOR=20

sc_log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
sc_warn() { printf '\033[1;33mwarning:\033[0m %s\n' "$*" >&2; }
sc_die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# Run a command as root: directly when we already are, through sudo otherwise.
sc_as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    sc_die "need root for: $* (install sudo or run as root)"
  fi
}

# One target dir for every build (the caller's CARGO_TARGET_DIR wins).
sc_target_dir() {
  if [ -n "${CARGO_TARGET_DIR:-}" ]; then
    printf '%s\n' "$CARGO_TARGET_DIR"
  else
    printf '%s\n' "$SC_ROOT/target"
  fi
}

# The one workspace build that scripts/test and scripts/dev share: the app with
# the UI embedded (custom-protocol), the cloud, and every test binary, with the
# features the tests need (core's `ts` for the bindings-freshness test). Same
# packages, targets and features in both scripts, so cargo's feature unification
# gives one set of dependency builds and neither script recompiles the other's.
SC_FEATURES="secureclose-desktop/custom-protocol,secureclose-core/ts"
sc_cargo_build() {
  cargo build --workspace --bins --tests --locked --features "$SC_FEATURES" "$@"
}

sc_cargo_path() {
  # cargo-installed tools (tauri-driver, cargo-nextest) land here.
  local bin="${CARGO_HOME:-$HOME/.cargo}/bin"
  case ":$PATH:" in
    *":$bin:"*) ;;
    *) export PATH="$bin:$PATH" ;;
  esac
}

# Print the packages of SC_APT_PACKAGES that are not installed (one dpkg-query call: fast).
# Returns non-zero, printing nothing, when dpkg cannot tell (dpkg-query missing: 127, a
# broken or locked database: 2): a caller must treat that as
# an error, never as "nothing missing". dpkg-query exits 1 when some name is unknown to
# dpkg (never installed, not even known): that is an answer, and those names are missing.
sc_apt_missing() {
  local listing rc=0 pkg
  listing="$(dpkg-query -W -f='${Package} ${Status}\n' "${SC_APT_PACKAGES[@]}" 2>/dev/null)" || rc=$?
  if [ "$rc" -gt 1 ]; then
    sc_warn "dpkg-query failed (exit $rc): cannot tell which packages are installed"
    return "$rc"
  fi
  local installed
  installed="$(awk '$2 == "install" && $3 == "ok" && $4 == "installed" { sub(/:.*/, "", $1); print $1 }' <<<"$listing")"
  for pkg in "${SC_APT_PACKAGES[@]}"; do
    grep -qx -- "$pkg" <<<"$installed" || printf '%s\n' "$pkg"
  done
}

# A free TCP port on 127.0.0.1 (nothing listening on it right now), below the
# kernel's ephemeral range: a port chosen now and bound later (the updater test's
# endpoint is baked into its bundles) must not be handed meanwhile to one of the
# many sockets the tests bind on port 0.
sc_free_port() {
  local port i low
  low="$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)"
  [ "${low:-0}" -gt 20000 ] 2>/dev/null || low=32768
  for i in $(seq 1 200); do
    port=$(( 15000 + RANDOM % (low - 15000) ))
    if [ -z "$(ss -Htln "sport = :$port" 2>/dev/null)" ]; then
      printf '%s\n' "$port"
      return 0
    fi
  done
  sc_die "no free TCP port found"
}

# Start Xvfb on a display it picks itself (-displayfd avoids races with other
# X servers); sets SC_XVFB_PID and exports DISPLAY.
sc_start_xvfb() {
  local dir="$1" i display=""
  Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$dir/xvfb.display" \
    >"$dir/xvfb.log" 2>&1 </dev/null &
  SC_XVFB_PID=$!
  for i in $(seq 1 100); do
    display="$(tr -dc '0-9' <"$dir/xvfb.display" 2>/dev/null || true)"
    [ -n "$display" ] && break
    kill -0 "$SC_XVFB_PID" 2>/dev/null || sc_die "Xvfb failed to start: $(cat "$dir/xvfb.log")"
    sleep 0.1
  done
  [ -n "$display" ] || sc_die "Xvfb did not report its display"
  export DISPLAY=":$display"
}

sc_stop_pid() {
  local pid="$1" i
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

# The newest installed PostgreSQL server binaries (Debian's layout).
sc_pg_bindir() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
  [ -x "$dir/initdb" ] || sc_die "PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install postgresql)"
  printf '%s\n' "$dir"
}

# Start a throwaway PostgreSQL cluster in a new temp dir on a free loopback
# port; sets SC_PG_DIR, SC_PG_BIN and exports SECURECLOSE_TEST_PG_URL. Stop it
# (and delete its data) with sc_stop_pg.
sc_start_pg() {
  SC_PG_BIN="$(sc_pg_bindir)"
  # Directly under TMPDIR, so the postgres user (when we are root) can reach it.
  SC_PG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/secureclose-pg.XXXXXX")"
  local port run=()
  port="$(sc_free_port)"
  if [ "$(id -u)" -eq 0 ]; then
    # initdb refuses to run as root: use the postgres system user from the package.
    chown postgres: "$SC_PG_DIR"
    run=(runuser -u postgres --)
  fi
  SC_PG_RUN=("${run[@]}")
  "${run[@]}" "$SC_PG_BIN/initdb" -D "$SC_PG_DIR/data" -A trust -U postgres >"$SC_PG_DIR/initdb.log" 2>&1 \
    || sc_die "initdb failed: $(cat "$SC_PG_DIR/initdb.log")"
  "${run[@]}" "$SC_PG_BIN/pg_ctl" -D "$SC_PG_DIR/data" -w -t 60 -l "$SC_PG_DIR/log" \
    -o "-k $SC_PG_DIR -p $port -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null \
    || sc_die "PostgreSQL failed to start: $(cat "$SC_PG_DIR/log")"
  export SECURECLOSE_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

sc_stop_pg() {
  [ -n "${SC_PG_DIR:-}" ] && [ -d "$SC_PG_DIR" ] || return 0
  if [ -f "$SC_PG_DIR/data/postmaster.pid" ]; then
    "${SC_PG_RUN[@]}" "$SC_PG_BIN/pg_ctl" -D "$SC_PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$SC_PG_DIR"
  SC_PG_DIR=""
}

# Kill process groups recorded by the end-to-end tests (tauri-driver and the
# WebKitWebDriver + app it spawns) in case a test was killed before its guard ran.
sc_kill_recorded_groups() {
  local dir="$1" file pgid
  [ -d "$dir" ] || return 0
  for file in "$dir"/*.pgid; do
    [ -e "$file" ] || continue
    pgid="$(tr -dc '0-9' <"$file")"
    if [ -n "$pgid" ] && [ "$pgid" -gt 1 ]; then
      /bin/kill -s TERM -- "-$pgid" 2>/dev/null || true
    fi
    rm -f "$file"
  done
}

# True when some library doc comment opens a Rust code block (a doctest):
# a fence with no language, `rust`, or a rustdoc attribute such as `no_run`.
sc_has_doctests() {
  find crates src-tauri tests/src -name '*.rs' -not -path '*/target/*' -print0 2>/dev/null \
    | xargs -0 -r awk '
        FNR == 1 { open = 0 }
        /^[ \t]*\/\/[\/!][ \t]*```/ {
          if (open) { open = 0; next }
          open = 1
          lang = $0; sub(/^[ \t]*\/\/[\/!][ \t]*```[ \t]*/, "", lang); sub(/[ \t]*$/, "", lang)
          if (lang == "" || lang ~ /^(rust|no_run|should_panic|compile_fail|ignore|edition)/) { found = 1; exit }
        }
        END { exit !found }'
}
