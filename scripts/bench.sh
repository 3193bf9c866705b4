#!/usr/bin/env bash
# The end-to-end benchmark (the workspace member bench/, unpublished): the quickstart
# example, release build, and beside it the floor (bench/src/floor.rs: a bare Rocket +
# reqwest app making the same requests, no OIDC checks), against the bundled test provider
# (tests/op), loaded with wrk on 127.0.0.1; prints a table with the crate's figures as ratios
# to `/` and to the floor, and one PASS/MISS line per target. Takes about 1.5 minutes (2.5
# with --compare), plus the build.
#
#   scripts/bench.sh              # rocket_oidc_auth and the floor, one logged-in cookie on
#                                 # every request
#   scripts/bench.sh --compare    # and Flask-pyoidc 3.14.3 under gunicorn, same provider,
#                                 # same run (its venv: target/bench-venv)
#   scripts/bench.sh --stores     # and then many users per session store: for the floor, then
#                                 # each of cookie, memory and redis (its own redis-server on a free loopback
#                                 # port, stopped after), 2,000 sessions from real logins and
#                                 # wrk sending the next session's Cookie on every request, as
#                                 # wrk -t1 -c16 and -t2 -c32 (fresh logins before the second);
#                                 # CPU per request of the app and of Redis, context switches,
#                                 # RSS growth per session. About 5 more minutes on 2 cores
#   scripts/bench.sh --only-stores [cookie,memory,redis]
#                                 # that comparison alone (a subset with the list)
#   scripts/bench.sh --bearer     # and the bearer-token API (examples/api.rs): the app's CPU
#                                 # per request on / and on /api/me (the Bearer guard), with
#                                 # JWT access tokens checked locally and with opaque tokens
#                                 # checked by introspection, the answer kept; one token, and
#                                 # 900 in rotation (each one's first request, the cache
#                                 # miss, measured apart); the provider's introspection count.
#                                 # Each setup has a provider of its own (OP_RESOURCE). About
#                                 # 65 s more on 2 cores
#   scripts/bench.sh --only-bearer
#                                 # that part alone (builds only examples/api)
#   scripts/bench.sh --dashboard docs/grafana/screenshot.png
#                                 # alone: the Grafana dashboard of docs/grafana fed by a
#                                 # real run (the quickstart, real users for 150 s, a
#                                 # provider outage in the middle, Prometheus scraping),
#                                 # drawn and photographed by headless Chromium. About 3
#                                 # minutes; needs prometheus and chromium (installed)
#   scripts/bench.sh --help       # the other options (rounds, seconds, logins, sessions,
#                                 # tokens, ...)
#   scripts/bench.sh --seconds 1 --rounds 1 --logins 20 --only-stores --sessions 100
#                                 # a smoke run (not a measurement): every part works
#
# Installs what it needs and is missing: wrk and, with --stores/--only-stores, redis-server
# (apt-get), the provider's npm packages, and with --compare a Python venv from
# bench/flask/requirements.txt. Builds, in one cargo command, the quickstart (and with
# --bearer/--only-bearer the api example) with the `redis` feature (a binary built so serves
# every store) and the bench member's `e2e` (the harness) and `floor` binaries, then runs
# e2e. The report is also saved to target/bench-e2e/report.md.
set -euo pipefail
cd "$(dirname "$0")/.."

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "error: '$1' is required: $2" >&2; exit 1; }
}
need cargo "install Rust from https://rustup.rs"
need node "install Node.js 20 or newer (e.g. apt-get install nodejs npm)"
need npm "install npm (e.g. apt-get install npm)"
stores=no
bearer=no
only_bearer=no
dashboard=no
for arg in "$@"; do
  if [ "$arg" = "--dashboard" ]; then dashboard=yes; fi
  if [ "$arg" = "--compare" ]; then need python3 "install Python 3 (with venv and pip)"; fi
  if [ "$arg" = "--stores" ] || [ "$arg" = "--only-stores" ]; then stores=yes; fi
  if [ "$arg" = "--bearer" ]; then bearer=yes; fi
  if [ "$arg" = "--only-bearer" ]; then bearer=yes; only_bearer=yes; fi
done

# apt_install COMMAND PACKAGE: installs the Debian package when COMMAND is missing.
apt_install() {
  command -v "$1" >/dev/null 2>&1 && return 0
  echo "==> installing $2 (Debian package)"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1 || {
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2"
  }
  command -v "$1" >/dev/null 2>&1 || { echo "error: '$1' is still missing after installing $2" >&2; exit 1; }
}
apt_install wrk wrk
if [ "$dashboard" = yes ]; then
  apt_install prometheus prometheus
  apt_install chromium chromium
fi
if [ "$stores" = yes ]; then
  # The redis store runs against the bench's own redis-server (it needs Redis 7).
  apt_install redis-server redis-server
fi

if [ ! -d tests/op/node_modules/oidc-provider ]; then
  echo "==> installing the test provider's npm packages (tests/op)"
  (cd tests/op && npm ci --no-audit --no-fund --loglevel=error)
fi

# With the redis feature: the one binary serves the cookie, memory and redis stores. The
# bench is built with the same features, so the library is compiled once. The quickstart
# serves every part but the bearer one, the api example only that.
examples=()
if [ "$only_bearer" = no ] || [ "$stores" = yes ]; then examples+=(quickstart); fi
if [ "$bearer" = yes ]; then examples+=(api); fi
echo "==> building the example(s) ${examples[*]} (release, --features redis), e2e and floor"
cargo build --release -p rocket_oidc_auth -p rocket_oidc_bench --features rocket_oidc_auth/redis \
  "${examples[@]/#/--example=}" --bin e2e --bin floor

"${CARGO_TARGET_DIR:-target}/release/e2e" "$@"
