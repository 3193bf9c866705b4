#!/usr/bin/env bash
# Runs examples/quickstart.rs against the bundled test OpenID Provider (panva's
# oidc-provider, tests/op) in one terminal: installs the provider's npm packages,
# starts it on http://localhost:3000, starts the app on http://127.0.0.1:8000,
# and stops both on Ctrl-C or `kill <pid>` (the pid it prints).
#
#   scripts/quickstart.sh --redis   the same, with the sessions in Redis: builds with
#                                   `--features redis` and starts redis-server on
#                                   127.0.0.1:6379 (Debian: apt-get install redis-server)
#   scripts/quickstart.sh --api     runs examples/api.rs instead, with the provider
#                                   knowing it as the resource server
#                                   http://127.0.0.1:8000/api and a second client,
#                                   `caller` (secret `caller-secret`), for curl (see the
#                                   README's "APIs" section)
#   scripts/quickstart.sh --provider-only
#                                   starts only the provider, for your own app on
#                                   http://127.0.0.1:8000: the quickstart's client (also
#                                   allowed client credentials), the resource server
#                                   http://127.0.0.1:8000/api and `caller` as with --api,
#                                   so one provider serves a login app and an API. Prints
#                                   the Rocket.toml lines for your app and a curl line for
#                                   an API token. No Rust needed. OP_PORT=<port> moves the
#                                   provider off 3000 (the printed issuer follows).
#
# Whatever the mode, the script stops everything it started (provider, app, redis-server)
# when it exits: on Ctrl-C (INT), `kill <pid>` (TERM), a closed terminal (HUP) or an
# error. The provider's own OP_* settings (tests/op/README.md), e.g. OP_VERBOSE=1, pass
# through.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: scripts/quickstart.sh [--redis | --api | --provider-only]" >&2
  exit 2
}
need() {
  command -v "$1" >/dev/null 2>&1 || { echo "error: '$1' is required: $2" >&2; exit 1; }
}

mode=quickstart
case "${1:-}" in
  "") ;;
  --api) mode=api ;;
  --redis) mode=redis ;;
  --provider-only) mode=provider-only ;;
  *) usage ;;
esac

[ "$mode" = provider-only ] || need cargo "install Rust from https://rustup.rs"
need node "install Node.js 20 or newer (e.g. apt-get install nodejs npm)"
need npm "install npm (e.g. apt-get install npm)"

# The app the provider knows (the quickstart's, Rocket's default address and port), its
# client there (Rocket.toml's), and the API's resource indicator.
app=http://127.0.0.1:8000
client_id=rocket-app
client_secret=rocket-secret
resource=$app/api

features=()
example=quickstart
port=3000
if [ "$mode" = api ]; then
  example=api
elif [ "$mode" = redis ]; then
  need redis-server "install Redis 7 (e.g. apt-get install redis-server)"
  need redis-cli "install Redis 7 (e.g. apt-get install redis-server)"
  features=(--features redis)
elif [ "$mode" = provider-only ]; then
  # Only here: the apps of the other modes find the provider at Rocket.toml's issuer.
  port=${OP_PORT:-3000}
  case "$port" in
    "" | *[!0-9]*) echo "error: OP_PORT must be a port number, got '$port'" >&2; exit 2 ;;
  esac
fi

# Everything this script starts; cleanup stops it, whatever ends the script. Each is
# signalled by its own pid (never by process group), so it goes even when it runs in a
# process group of its own (`set -m`, a terminal's job control).
op_pid=
redis_pid=
app_pid=
log=

# Stops the child `$1` (if any): TERM, KILL when it still runs 10 s later; then reaps it.
stop_child() {
  [ -n "$1" ] || return 0
  kill -TERM "$1" 2>/dev/null || return 0
  for _ in $(seq 1 100); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  local status=$?
  # Once: a second Ctrl-C while stopping must not leave a child behind.
  trap '' INT TERM HUP
  trap - EXIT
  stop_child "$app_pid"
  stop_child "$redis_pid"
  stop_child "$op_pid"
  [ -z "$log" ] || rm -f "$log"
  exit "$status"
}
trap cleanup EXIT
# A signal ends `wait` at once (a foreground command, e.g. `cargo build`, finishes first; a
# terminal's Ctrl-C stops that too); the EXIT trap then stops the children.
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

if [ ! -d tests/op/node_modules/oidc-provider ]; then
  echo "==> installing the test provider's npm packages (tests/op)"
  (cd tests/op && npm ci --no-audit --no-fund --loglevel=error)
fi

op_env=()
if [ "$mode" = provider-only ]; then
  # The quickstart's client as op.mjs's default (redirect, post-logout and back-channel
  # URIs on the app), also allowed client credentials (the app's own token for the API);
  # the API as the resource server (its tokens: JWTs with aud = the API); `caller`, a
  # client for curl, as with --api.
  clients=$(cat <<JSON
[{"client_id":"$client_id","client_secret":"$client_secret",
  "redirect_uris":["$app/redirect_uri"],
  "post_logout_redirect_uris":["$app/","$app/logout/callback"],
  "backchannel_logout_uri":"$app/logout/backchannel",
  "backchannel_logout_session_required":true,
  "grant_types":["authorization_code","refresh_token","client_credentials"]},
 {"client_id":"caller","client_secret":"caller-secret",
  "redirect_uris":["http://127.0.0.1:9/cb"],"grant_types":["client_credentials"]}]
JSON
)
  op_env=(OP_RESOURCE="$resource" OP_CLIENTS="$clients")
else
  # A secret_key of this checkout's own (Rocket.toml carries none): sessions survive
  # restarts of the quickstart, and no published key ever seals them.
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
  cargo build --example "$example" ${features[@]+"${features[@]}"}
fi

if [ "$mode" = api ]; then
  # The API as the provider's resource server (its tokens: JWTs with aud = the API), the
  # app's own client allowed the client credentials grant, and a client for curl.
  op_env=(
    OP_RESOURCE="$resource"
    OP_CLIENTS='[{"client_id":"rocket-app","client_secret":"rocket-secret","redirect_uris":["http://127.0.0.1:8000/redirect_uri"],"post_logout_redirect_uris":["http://127.0.0.1:8000/logout/callback"],"grant_types":["authorization_code","refresh_token","client_credentials"]},{"client_id":"caller","client_secret":"caller-secret","redirect_uris":["http://127.0.0.1:9/cb"],"grant_types":["client_credentials"]}]'
  )
  # Merged into Rocket.toml's [default.oidc]: tokens must name the API; the app's own
  # token is for it too.
  export ROCKET_OIDC="{providers={default={access_token_audience=\"$resource\",client_credentials={scope=[\"read\"],resource=\"$resource\"}}}}"
fi

log=$(mktemp)
echo "==> starting the test provider on http://localhost:$port"
if [ "$mode" = provider-only ]; then
  # Its log (e.g. a failed back-channel logout; every request with OP_VERBOSE=1) is yours
  # to see; its stdout has only the ready line.
  env ${op_env[@]+"${op_env[@]}"} OP_PORT="$port" OP_HOST=localhost OP_IGNORE_STDIN=1 node tests/op/op.mjs >"$log" &
else
  env ${op_env[@]+"${op_env[@]}"} OP_PORT=3000 OP_HOST=localhost OP_IGNORE_STDIN=1 node tests/op/op.mjs >"$log" 2>&1 &
fi
op_pid=$!
for _ in $(seq 1 300); do
  grep -q '^OP_READY' "$log" && break
  if ! kill -0 "$op_pid" 2>/dev/null; then
    cat "$log" >&2
    echo "error: the test provider did not start (is port $port in use?)" >&2
    exit 1
  fi
  sleep 0.1
done
grep -q '^OP_READY' "$log" || { cat "$log" >&2; echo "error: the test provider did not start in 30 s" >&2; exit 1; }

if [ "$mode" = provider-only ]; then
  issuer=$(sed -n 's/^OP_READY .*"issuer":"\([^"]*\)".*/\1/p' "$log")
  cat <<EOF

==> the test provider runs at $issuer (pid $op_pid) for your app on $app:
    log in there with any username and any password (e.g. alice / test). Your app's
    Rocket.toml (with Rocket's default address 127.0.0.1 and port 8000):

# ---- Rocket.toml: paste from here ----
# (and under [default], a secret_key of your own: \`openssl rand -base64 32\`)
[default.oidc]
redirect_uri = "$app/redirect_uri"

[default.oidc.providers.default]
issuer = "$issuer"
client_id = "$client_id"
client_secret = "$client_secret"
scope = ["openid", "email", "profile"]
# For bearer-token APIs (Bearer, BearerOrSession, ClientCredentials; examples/api.rs):
access_token_audience = "$resource"
client_credentials = { scope = ["read"], resource = "$resource" }
# ---- to here ----

A token for the API, as the client \`caller\` (scopes: read write admin):
  curl -s -u caller:caller-secret -d grant_type=client_credentials -d 'scope=read admin' -d resource=$resource $issuer/token
then: curl -H "Authorization: Bearer <access_token>" $resource/...

==> pid $$: stop with Ctrl-C or kill $$
EOF
  status=0
  wait "$op_pid" || status=$?
  echo "error: the test provider stopped by itself (exit status $status)" >&2
  exit 1
fi

if [ "$mode" = redis ]; then
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

if [ "$mode" = api ]; then
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
else
  cat <<'BANNER'

  ┌──────────────────────────────────────────────────────────────────┐
  │ Open  http://127.0.0.1:8000/login  in your browser.              │
  │ Log in at the test provider with any username and any password   │
  │ (e.g. alice / test), then press "Continue" to consent.           │
  │ Also try /whoami, /token and /logout.  Ctrl-C stops everything.  │
  └──────────────────────────────────────────────────────────────────┘

BANNER
fi
echo "==> pid $$: stop with Ctrl-C or kill $$"
# In the background, so that a signal ends the `wait` and the traps run at once (a
# foreground command would delay them until it exits). `cargo run` execs the app: its pid
# is the app's.
ROCKET_CLI_COLORS="${ROCKET_CLI_COLORS:-false}" cargo run --quiet --example "$example" ${features[@]+"${features[@]}"} &
app_pid=$!
wait "$app_pid"
