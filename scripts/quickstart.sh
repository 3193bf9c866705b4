#!/usr/bin/env bash
# Runs examples/quickstart.rs against the bundled test OpenID Provider (panva's
# oidc-provider, tests/op) in one terminal: installs the provider's npm packages,
# starts it on http://localhost:3000, starts the app on http://127.0.0.1:8000,
# and stops both on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "error: '$1' is required: $2" >&2; exit 1; }
}
need cargo "install Rust from https://rustup.rs"
need node "install Node.js 20 or newer (e.g. apt-get install nodejs npm)"
need npm "install npm (e.g. apt-get install npm)"

if [ ! -d tests/op/node_modules/oidc-provider ]; then
  echo "==> installing the test provider's npm packages (tests/op)"
  (cd tests/op && npm ci --no-audit --no-fund --loglevel=error)
fi

echo "==> building the quickstart example"
cargo build --example quickstart

log=$(mktemp)
cleanup() {
  [ -n "${op_pid:-}" ] && kill "$op_pid" 2>/dev/null || true
  rm -f "$log"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "==> starting the test provider on http://localhost:3000"
OP_PORT=3000 OP_HOST=localhost OP_IGNORE_STDIN=1 node tests/op/op.mjs >"$log" 2>&1 &
op_pid=$!
for _ in $(seq 1 100); do
  grep -q '^OP_READY' "$log" && break
  if ! kill -0 "$op_pid" 2>/dev/null; then
    cat "$log" >&2
    echo "error: the test provider did not start (is port 3000 in use?)" >&2
    exit 1
  fi
  sleep 0.1
done
grep -q '^OP_READY' "$log" || { cat "$log" >&2; echo "error: the test provider did not start in 10 s" >&2; exit 1; }

cat <<'BANNER'

  ┌──────────────────────────────────────────────────────────────────┐
  │ Open  http://127.0.0.1:8000/login  in your browser.              │
  │ Log in at the test provider with any username and any password   │
  │ (e.g. alice / test), then press "Continue" to consent.           │
  │ Also try /whoami, /token and /logout.  Ctrl-C stops everything.  │
  └──────────────────────────────────────────────────────────────────┘

BANNER
ROCKET_CLI_COLORS="${ROCKET_CLI_COLORS:-false}" cargo run --quiet --example quickstart
