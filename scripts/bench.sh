#!/usr/bin/env bash
# The end-to-end benchmark (issue 6): the quickstart example, release build, against the
# bundled test provider (tests/op), loaded with wrk on 127.0.0.1; prints a table and one
# PASS/MISS line per target. Takes about 1 minute (2 with --compare), plus the build.
#
#   scripts/bench.sh              # rocket_oidc_auth alone
#   scripts/bench.sh --compare    # and Flask-pyoidc 3.14.3 under gunicorn, same provider,
#                                 # same run (its venv: target/bench-venv)
#   scripts/bench.sh --help       # the other options (rounds, seconds, logins, ...)
#
# Installs what it needs and is missing: wrk (apt-get), the provider's npm packages, and
# with --compare a Python venv from bench/flask/requirements.txt. The report is also saved
# to target/bench-e2e/report.md.
set -euo pipefail
cd "$(dirname "$0")/.."

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "error: '$1' is required: $2" >&2; exit 1; }
}
need cargo "install Rust from https://rustup.rs"
need node "install Node.js 20 or newer (e.g. apt-get install nodejs npm)"
need npm "install npm (e.g. apt-get install npm)"
for arg in "$@"; do
  if [ "$arg" = "--compare" ]; then need python3 "install Python 3 (with venv and pip)"; fi
done

if ! command -v wrk >/dev/null 2>&1; then
  echo "==> installing wrk (Debian package)"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 || {
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk
  }
fi

if [ ! -d tests/op/node_modules/oidc-provider ]; then
  echo "==> installing the test provider's npm packages (tests/op)"
  (cd tests/op && npm ci --no-audit --no-fund --loglevel=error)
fi

echo "==> building the quickstart example (release)"
cargo build --release --example quickstart

cargo bench --bench e2e -- "$@"
