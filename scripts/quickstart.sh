#!/usr/bin/env bash
# Runs examples/quickstart.rs against the bundled test OpenID Provider (panva's
# oidc-provider, tests/op) in one terminal: installs the provider's npm packages,
# starts it on http://localhost:3000, starts the app on http://127.0.0.1:8000,
# and stops both on Ctrl-C.
#
#   scripts/quickstart.sh --redis   the same, with the sessions in Redis: builds with
#                                   `--features redis` and starts redis-server on
#                                   127.0.0.1:6379 (Debian: apt-get install redis-server)
#   scripts/quickstart.sh --api     runs examples/api.rs instead, with the provider
#                                   knowing it as the resource server
#                                   http://127.0.0.1:8000/api and a second client,
#                                   `caller` (secret `caller-secret`), for curl (see the
#                                   README's "APIs" section)
set -euo pipefail
cd "$(dirname "$0")/.."

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "error: '$1' is required: $2" >&2; exit 1; }
}
need cargo "install Rust from https://rustup.rs"
need node "install Node.js 20 or newer (e.g. apt-get install nodejs npm)"
need npm "install npm (e.g. apt-get install npm)"

features=()
example=quickstart
if [ "${1:-}" = "--api" ]; then
  example=api
elif [ "${1:-}" = "--redis" ]; then
  need redis-server "install Redis 7 (e.g. apt-get install redis-server)"
  need redis-cli "install Redis 7 (e.g. apt-get install redis-server)"
  features=(--features redis)
elif [ -n "${1:-}" ]; then
  echo "usage: scripts/quickstart.sh [--redis | --api]" >&2
  exit 2
fi

if [ ! -d tests/op/node_modules/oidc-provider ]; then
  echo "==> installing the test provider's npm packages (tests/op)"
  (cd tests/op && npm ci --no-audit --no-fund --loglevel=error)
fi

# A secret_key of this checkout's own (Rocket.toml carries none): sessions survive restarts
# of the quickstart, and no published key ever seals them.
key_file=target/quickstart-secret-key
if [ -z "${ROCKET_SECRET_KEY:-}" ]; then
  if [ ! -s "$key_file" ]; then
    mkdir -p target
    head -c 32 /dev/urandom | base64 > "$key_file"
    chmod 600 "$key_file"
  fi
  ROCKET_SECRET_KEY=$(cat "$key_file")
  export ROCKET_SECRET_KEY
fi

echo "==> building the $example example"
cargo build --example "$example" "${features[@]}"

op_env=()
if [ "$example" = api ]; then
  # The API as the provider's resource server (its tokens: JWTs with aud = the API), the
  # app's own client allowed the client credentials grant, and a client for curl.
  resource=http://127.0.0.1:8000/api
  op_env=(
    OP_RESOURCE="$resource"
    OP_CLIENTS='[{"client_id":"rocket-app","client_secret":"rocket-secret","redirect_uris":["http://127.0.0.1:8000/redirect_uri"],"post_logout_redirect_uris":["http://127.0.0.1:8000/logout/callback"],"grant_types":["authorization_code","refresh_token","client_credentials"]},{"client_id":"caller","client_secret":"caller-secret","redirect_uris":["http://127.0.0.1:9/cb"],"grant_types":["client_credentials"]}]'
  )
  # Merged into Rocket.toml's [default.oidc]: tokens must name the API; the app's own
  # token is for it too.
  export ROCKET_OIDC="{providers={default={access_token_audience=\"$resource\",client_credentials={scope=[\"read\"],resource=\"$resource\"}}}}"
fi

log=$(mktemp)
cleanup() {
  [ -n "${op_pid:-}" ] && kill "$op_pid" 2>/dev/null || true
  [ -n "${redis_pid:-}" ] && kill "$redis_pid" 2>/dev/null || true
  rm -f "$log"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "==> starting the test provider on http://localhost:3000"
env ${op_env[@]+"${op_env[@]}"} OP_PORT=3000 OP_HOST=localhost OP_IGNORE_STDIN=1 node tests/op/op.mjs >"$log" 2>&1 &
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

if [ ${#features[@]} -gt 0 ]; then
  echo "==> starting redis-server on 127.0.0.1:6379 (sessions go there)"
  redis-server --port 6379 --bind 127.0.0.1 --save "" --appendonly no --daemonize no >/dev/null 2>&1 &
  redis_pid=$!
  for _ in $(seq 1 100); do
    redis-cli -p 6379 ping >/dev/null 2>&1 && break
    if ! kill -0 "$redis_pid" 2>/dev/null; then
      echo "error: redis-server did not start (is port 6379 in use?)" >&2
      exit 1
    fi
    sleep 0.1
  done
  # Merged into Rocket.toml's [default.oidc], like any other key.
  export ROCKET_OIDC='{session={store="redis",redis={url="redis://127.0.0.1:6379"}}}'
fi

if [ "$example" = api ]; then
  cat <<'BANNER'

  ┌──────────────────────────────────────────────────────────────────┐
  │ The API runs on http://127.0.0.1:8000. Get a token for it:       │
  │   curl -s -u caller:caller-secret -d grant_type=client_credentials \
  │     -d 'scope=read admin' -d resource=http://127.0.0.1:8000/api   │
  │     http://localhost:3000/token                                  │
  │ then: curl -H "Authorization: Bearer <token>" .../api/me         │
  │ (the README's "APIs" section lists every call). Ctrl-C stops.    │
  └──────────────────────────────────────────────────────────────────┘

BANNER
  ROCKET_CLI_COLORS="${ROCKET_CLI_COLORS:-false}" cargo run --quiet --example api
  exit
fi
cat <<'BANNER'

  ┌──────────────────────────────────────────────────────────────────┐
  │ Open  http://127.0.0.1:8000/login  in your browser.              │
  │ Log in at the test provider with any username and any password   │
  │ (e.g. alice / test), then press "Continue" to consent.           │
  │ Also try /whoami, /token and /logout.  Ctrl-C stops everything.  │
  └──────────────────────────────────────────────────────────────────┘

BANNER
ROCKET_CLI_COLORS="${ROCKET_CLI_COLORS:-false}" cargo run --quiet --example quickstart "${features[@]}"
