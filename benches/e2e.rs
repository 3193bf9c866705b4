//! End-to-end benchmark: the quickstart example (release build) against the real test
//! provider (tests/op), driven over HTTP on 127.0.0.1, measuring the app's own CPU time from
//! `/proc` so that the load generator's share does not blur it.
//!
//! Run it with `scripts/bench.sh` (or `scripts/bench.sh --compare` to add Flask-pyoidc 3.14.3
//! under gunicorn, against the same provider, in the same run; `--stores` to add the
//! many-users comparison of the session stores; `--bearer` to add the bearer-token API).
//! Directly:
//!
//! ```sh
//! cargo build --release --example quickstart --example api --features redis
//! cargo bench --features redis --bench e2e -- [--compare] [--stores] [--bearer] [--rounds 3] \
//!     [--seconds 5] [--logins 200]
//! ```
//!
//! What one run does:
//!
//! 1. starts the Node test provider on a free port (issuer `http://localhost:PORT`) and
//!    `target/release/examples/quickstart` on another, configured by `ROCKET_*` variables;
//! 2. logs in once over HTTP (the provider's login and consent pages, a cookie jar, no
//!    automatic redirects) and takes the app's `oidc_session_default` cookie;
//! 3. runs `wrk` on `/`, `/whoami` and `/login` with that cookie, alternating rounds, counting
//!    every response that is not a 200 (`bench/wrk/check.lua`), and reads the app's
//!    utime + stime (or, more precisely, its threads' `schedstat`) around each round;
//! 4. logs in many times through the app and, interleaved, through the provider alone (the
//!    same pages and the token request, no app), one at a time, timing each login and reading
//!    the app's CPU and the provider's per-path request counts (`GET /__test/hits`) around
//!    each block; then reads the app's CPU between the hops of a few more logins (where it
//!    goes) and of isolated `GET /` requests (what any request arriving alone costs); then
//!    logs in as many times again with 8 browsers at once (the app busy, as under load);
//! 5. checks that protected responses on an unchanged session carry no `Set-Cookie`;
//! 6. reads the app's VmRSS after the load;
//! 7. with `--compare`, does all of it for `bench/flask/app.py` as well (its venv is created
//!    under `target/bench-venv` from `bench/flask/requirements.txt`);
//! 8. with `--stores` (or `--only-stores`, which skips 2. to 7.), for each session store
//!    (`cookie`, `memory`, `redis`) in turn: starts its own `redis-server` on a free loopback
//!    port for `redis`, starts the app with `ROCKET_OIDC={session={store=...}}`, creates
//!    `--sessions` (2,000) distinct sessions by real logins through the provider, several at
//!    a time, checks that each one's cookie answers `/whoami` with its own user, and then runs
//!    `wrk` on `/`, `/whoami` and `/login` with `bench/wrk/rotate.lua`, which sends the next
//!    session's Cookie on every request, in two load shapes (`-t1 -c16` and `-t2 -c32`;
//!    before the second, as many new logins: a session's activity is written back once a
//!    minute, and wrk, which keeps the cookie it started with, would otherwise get a new
//!    cookie on every request), reading the app's CPU and context switches and (for
//!    `redis`) the Redis server's CPU and command counts around each round, and the app's
//!    RSS before and after the logins (each store's growth per session). The app and the
//!    Redis server are stopped before the next store;
//! 9. with `--bearer` (or `--only-bearer`, which skips 2. to 7.), before 8., the bearer API
//!    (`target/release/examples/api`, the `Bearer<Default>` guard on `/api/me`) in two
//!    setups in turn: JWT access tokens checked locally (provider `OP_RESOURCE_FORMAT=jwt`,
//!    app `access_token_validation = "jwt"`), and opaque tokens checked by introspection with
//!    the answer kept (`OP_RESOURCE_FORMAT=opaque`, `access_token_validation =
//!    "introspection"`, `introspection_cache_seconds = 600`). For each: a provider of its own
//!    with the app as its resource server (`OP_RESOURCE`) and a client for the client
//!    credentials grant, and the app; a token by that grant, checked on `/api/me` (200, and 401
//!    without it); then, with `--tokens` (900) more tokens, each sent once and then once
//!    again to `/api/me`, several at a time (the first request of a token is a cache miss,
//!    the second a hit), reading the app's CPU and the provider's introspection count around
//!    each pass; then `wrk` on `/` (no header), `/api/me` with the one token
//!    (`bench/wrk/check.lua` with `-H 'Authorization: Bearer ...'`) and `/api/me` with the
//!    next of the many tokens on every request (`bench/wrk/rotate.lua`), alternating rounds,
//!    reading the app's CPU around each round and the provider's introspection and JWKS
//!    counts around the load. It also times ring's RS256 verification of the JWT in this
//!    process, the yardstick of the local check.
//!
//! It prints a table and one PASS/MISS line per target of issue 6 (and of issue 13 for
//! `--bearer`). Every loop is bounded in count and time, and all traffic goes to 127.0.0.1 /
//! localhost.
//!
//! Profiling (`perf record -g` needs hardware counters this VM lacks; `-e cpu-clock` and
//! callgrind work): with `E2E_PERF=1` and `--quickstart` naming a script that `exec`s
//! `perf record -e cpu-clock --switch-output=signal -- target/release/examples/quickstart
//! "$@"`, perf starts a new file before and after every measured load; with
//! `E2E_CALLGRIND=1` and a script that `exec`s `valgrind --tool=callgrind`, the logins and
//! every measured load get a callgrind dump of their own (named after the route and the
//! request count), so a route's instructions per request are its dump's total divided by
//! its count.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rand::RngCore;
use reqwest::cookie::{CookieStore, Jar};
use sha2::{Digest, Sha256};

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
const ROUTES: [&str; 3] = ["/", "/whoami", "/login"];
const DISCOVERY: &str = "/.well-known/openid-configuration";
const JWKS: &str = "/jwks";
const TOKEN: &str = "/token";
const USERINFO: &str = "/me";
/// Logins per block; app blocks and provider-only blocks alternate.
const LOGIN_BLOCK: usize = 20;
/// Unrecorded logins through each app (and the provider alone) before the recorded ones.
const WARMUP_LOGINS: usize = 5;
/// Upper bounds whatever the command line says.
const MAX_ROUNDS: u32 = 10;
const MAX_SECONDS: u32 = 30;
const MAX_LOGINS: usize = 2000;
const MAX_CONNECTIONS: u32 = 256;
const MAX_SESSIONS: usize = 20_000;
/// The test provider keeps at most about 1,000 opaque tokens (oidc-provider's in-memory
/// store is an LRU of 1,000 entries): past that it forgets the oldest, which then introspect
/// as inactive. (The app keeps 10,000 introspection answers.)
const MAX_TOKENS: usize = 900;
/// The login phase stops starting new blocks after this long (per run).
const LOGIN_PHASE_BUDGET: Duration = Duration::from_secs(240);

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Result<T, E = BoxError> = std::result::Result<T, E>;

macro_rules! bail {
    ($($arg:tt)*) => { return Err(format!($($arg)*).into()) };
}

// ---------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Options {
    compare: bool,
    rounds: u32,
    seconds: u32,
    warmup_seconds: u32,
    connections: u32,
    wrk_threads: u32,
    logins: usize,
    login_concurrency: usize,
    quickstart: Option<PathBuf>,
    /// The stores to compare with many sessions (`--stores`); empty: no comparison.
    stores: Vec<Store>,
    /// `--only-stores`: the store comparison alone.
    only_stores: bool,
    sessions: usize,
    store_rounds: u32,
    store_seconds: u32,
    store_warmup_seconds: u32,
    /// `--bearer`: the bearer-token API as well.
    bearer: bool,
    /// `--only-bearer`: without the one-cookie run.
    only_bearer: bool,
    api: Option<PathBuf>,
    tokens: usize,
    bearer_rounds: u32,
    bearer_seconds: u32,
    bearer_warmup_seconds: u32,
    loadavg_at_start: String,
    /// Filled in by the run: the most CPU that other processes used during a load round, as
    /// a share of one core.
    max_other_load: f64,
}

const USAGE: &str = "\
usage: e2e [--compare] [--rounds N] [--seconds S] [--warmup S] [--connections C]
           [--wrk-threads T] [--logins N] [--login-concurrency C] [--quickstart PATH]
           [--stores [LIST] | --only-stores [LIST]] [--sessions N] [--store-rounds N]
           [--store-seconds S] [--store-warmup S]
           [--bearer | --only-bearer] [--api PATH] [--tokens N] [--bearer-rounds N]
           [--bearer-seconds S] [--bearer-warmup S]

  --compare        also run Flask-pyoidc 3.14.3 (bench/flask/app.py, gunicorn -w 2)
  --rounds N       load rounds; each round runs every route once (default 3, max 10)
  --seconds S      wrk duration per route and round (default 5, max 30)
  --warmup S       unrecorded warm-up per route (default 2)
  --connections C  wrk connections (default 16)
  --wrk-threads T  wrk threads (default 1: the app gets the other core)
  --logins N       logins through each app, and as many through the provider alone
                   (default 200, max 2000; stops early after 4 minutes); then as many
                   again through each app, several at a time
  --login-concurrency C
                   browsers at once in that second pass (default 8)
  --quickstart P   the quickstart binary (default: target/release/examples/quickstart)

Many users, per session store (after the run above, or alone):
  --stores [LIST]  also compare the session stores, LIST a comma-separated subset of
                   cookie,memory,redis (default all three): for each, the app with that
                   store, --sessions distinct sessions from real logins (--login-concurrency
                   at a time), and wrk on /, /whoami, /login sending the next session's
                   Cookie on every request (bench/wrk/rotate.lua), as wrk -t1 -c16 and as
                   wrk -t2 -c32. For redis the bench starts its own redis-server on a free
                   loopback port (needs redis-server, and the quickstart built with
                   --features redis) and reports its CPU too. Fresh logins before the
                   second shape. About 75 s per store with the defaults (about 4 minutes
                   for all three on 2 cores)
  --only-stores [LIST]
                   the store comparison alone (skips the one-cookie run above)
  --sessions N     sessions per store (default 2000, max 20000)
  --store-rounds N rounds per load shape; each runs every route once (default 3, max 10)
  --store-seconds S
                   wrk duration per route and round (default 2, max 30)
  --store-warmup S unrecorded warm-up per route and load shape (default 1)

Bearer tokens (after the run above, or alone; with --stores, before the stores):
  --bearer         also measure examples/api.rs's Bearer guard on /api/me, next to /, in
                   two setups: JWT access tokens checked locally, and opaque tokens by
                   introspection with the answer kept 600 s. For each, its own provider
                   (OP_RESOURCE, OP_RESOURCE_FORMAT) and app; a token by the client
                   credentials grant; --tokens more, each sent twice (a cache miss, then a
                   hit); wrk on / (no header), /api/me with the one token, and /api/me
                   with the next of the many tokens on every request. About 35 s per setup
  --only-bearer    that part alone (skips the one-cookie run)
  --api PATH       the api example (default: target/release/examples/api)
  --tokens N       distinct tokens of the many-tokens shape (default and max 900: the
                   test provider forgets opaque tokens past ~1,000; 0: one token only)
  --bearer-rounds N
                   rounds; each runs every load once (default 3, max 10)
  --bearer-seconds S
                   wrk duration per load and round (default 3, max 30)
  --bearer-warmup S
                   unrecorded warm-up per load (default 1)";

fn parse_options() -> Result<Options> {
    let mut options = Options {
        compare: false,
        rounds: 3,
        seconds: 5,
        warmup_seconds: 2,
        connections: 16,
        wrk_threads: 1,
        logins: 200,
        login_concurrency: 8,
        stores: Vec::new(),
        only_stores: false,
        sessions: 2000,
        store_rounds: 3,
        store_seconds: 2,
        store_warmup_seconds: 1,
        bearer: false,
        only_bearer: false,
        api: std::env::var_os("E2E_API_BIN").map(PathBuf::from),
        tokens: MAX_TOKENS,
        bearer_rounds: 3,
        bearer_seconds: 3,
        bearer_warmup_seconds: 1,
        loadavg_at_start: loadavg(),
        max_other_load: 0.0,
        quickstart: std::env::var_os("E2E_QUICKSTART_BIN").map(PathBuf::from),
    };
    let mut args = std::env::args().skip(1).peekable();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> Result<String> {
            args.next()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}").into())
        };
        match arg.as_str() {
            // `cargo bench` passes `--bench` to harness = false targets.
            "--bench" => {}
            "--compare" => options.compare = true,
            "--rounds" => options.rounds = value("--rounds")?.parse()?,
            "--seconds" => options.seconds = value("--seconds")?.parse()?,
            "--warmup" => options.warmup_seconds = value("--warmup")?.parse()?,
            "--connections" => options.connections = value("--connections")?.parse()?,
            "--wrk-threads" => options.wrk_threads = value("--wrk-threads")?.parse()?,
            "--logins" => options.logins = value("--logins")?.parse()?,
            "--login-concurrency" => {
                options.login_concurrency = value("--login-concurrency")?.parse()?
            }
            "--quickstart" => options.quickstart = Some(PathBuf::from(value("--quickstart")?)),
            "--stores" | "--only-stores" => {
                options.only_stores |= arg == "--only-stores";
                // An optional list: the next argument, unless it is an option.
                let list = match args.peek() {
                    Some(next) if !next.starts_with('-') => args.next().unwrap_or_default(),
                    _ => "cookie,memory,redis".to_string(),
                };
                options.stores.clear();
                for name in list.split(',').filter(|n| !n.is_empty()) {
                    let store = Store::parse(name)?;
                    if !options.stores.contains(&store) {
                        options.stores.push(store);
                    }
                }
                if options.stores.is_empty() {
                    bail!("{arg} needs at least one store\n{USAGE}");
                }
            }
            "--sessions" => options.sessions = value("--sessions")?.parse()?,
            "--store-rounds" => options.store_rounds = value("--store-rounds")?.parse()?,
            "--store-seconds" => options.store_seconds = value("--store-seconds")?.parse()?,
            "--store-warmup" => options.store_warmup_seconds = value("--store-warmup")?.parse()?,
            "--bearer" => options.bearer = true,
            "--only-bearer" => {
                options.bearer = true;
                options.only_bearer = true;
            }
            "--api" => options.api = Some(PathBuf::from(value("--api")?)),
            "--tokens" => options.tokens = value("--tokens")?.parse()?,
            "--bearer-rounds" => options.bearer_rounds = value("--bearer-rounds")?.parse()?,
            "--bearer-seconds" => options.bearer_seconds = value("--bearer-seconds")?.parse()?,
            "--bearer-warmup" => {
                options.bearer_warmup_seconds = value("--bearer-warmup")?.parse()?
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    options.rounds = options.rounds.clamp(1, MAX_ROUNDS);
    options.seconds = options.seconds.clamp(1, MAX_SECONDS);
    options.warmup_seconds = options.warmup_seconds.min(MAX_SECONDS);
    options.connections = options.connections.clamp(1, MAX_CONNECTIONS);
    options.wrk_threads = options.wrk_threads.clamp(1, options.connections);
    options.logins = options.logins.clamp(LOGIN_BLOCK, MAX_LOGINS);
    options.login_concurrency = options.login_concurrency.clamp(1, 32);
    // Every wrk thread needs a session of its own.
    options.sessions = options.sessions.clamp(2, MAX_SESSIONS);
    options.store_rounds = options.store_rounds.clamp(1, MAX_ROUNDS);
    options.store_seconds = options.store_seconds.clamp(1, MAX_SECONDS);
    options.store_warmup_seconds = options.store_warmup_seconds.min(MAX_SECONDS);
    options.tokens = options.tokens.min(MAX_TOKENS);
    options.bearer_rounds = options.bearer_rounds.clamp(1, MAX_ROUNDS);
    options.bearer_seconds = options.bearer_seconds.clamp(1, MAX_SECONDS);
    options.bearer_warmup_seconds = options.bearer_warmup_seconds.min(MAX_SECONDS);
    Ok(options)
}

impl Options {
    /// Steps 2 to 7: unless `--only-stores` or `--only-bearer` says otherwise.
    fn one_cookie_run(&self) -> bool {
        !self.only_stores && !self.only_bearer
    }

    /// The load shape of the one-cookie run (and of the bearer run).
    fn shape(&self) -> Shape {
        Shape {
            threads: self.wrk_threads,
            connections: self.connections,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `n` distinct free ports (all bound at once, then released).
fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0; n];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes
}

fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes(32))
}

fn absolute(base: &str, location: &str) -> Result<String> {
    Ok(url::Url::parse(base)?.join(location)?.to_string())
}

fn location(response: &reqwest::Response) -> Result<String> {
    let Some(value) = response.headers().get("location") else {
        bail!(
            "{} from {} without a Location",
            response.status(),
            response.url()
        );
    };
    absolute(response.url().as_str(), value.to_str()?)
}

fn median(values: &[f64]) -> f64 {
    percentile(values, 50.0)
}

/// Nearest-rank percentile.
fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

// ---------------------------------------------------------------------------------------
// /proc: CPU time and memory of a process tree (a process and its direct children)
// ---------------------------------------------------------------------------------------

/// Fields of /proc/<pid>/stat after the command name; index 0 is field 3 (state).
fn stat_fields(pid: u32) -> Option<Vec<u64>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    Some(
        after
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect(),
    )
}

/// The process and its direct children (gunicorn's master and workers).
fn tree(root: u32) -> Vec<u32> {
    let mut pids = vec![root];
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            // Field 4 (ppid) is index 1.
            if pid != root && stat_fields(pid).is_some_and(|f| f.get(1) == Some(&(root as u64))) {
                pids.push(pid);
            }
        }
    }
    pids
}

/// One reading of a process tree's CPU time.
#[derive(Debug, Clone)]
struct CpuReading {
    /// utime + stime of every process (+ cutime + cstime of the root: reaped workers), in
    /// clock ticks.
    ticks: u64,
    /// On-CPU nanoseconds of every live thread (`/proc/<pid>/task/<tid>/schedstat`).
    threads: HashMap<u32, u64>,
    /// How many times the threads were put on a CPU (schedstat's third field): wake-ups,
    /// each a context switch.
    runs: u64,
}

fn read_cpu(root: u32) -> CpuReading {
    let mut ticks = 0;
    let mut runs = 0;
    let mut threads = HashMap::new();
    for pid in tree(root) {
        if let Some(f) = stat_fields(pid) {
            // utime (14) and stime (15) are indexes 11 and 12; cutime, cstime 13 and 14.
            ticks += f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
            if pid == root {
                ticks += f.get(13).copied().unwrap_or(0) + f.get(14).copied().unwrap_or(0);
            }
        }
        if let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) {
            for task in tasks.flatten() {
                let Ok(tid) = task.file_name().to_string_lossy().parse::<u32>() else {
                    continue;
                };
                let Ok(sched) = fs::read_to_string(task.path().join("schedstat")) else {
                    continue;
                };
                let mut fields = sched.split_whitespace().map(|v| v.parse::<u64>().ok());
                if let Some(Some(ns)) = fields.next() {
                    threads.insert(tid, ns);
                }
                runs += fields.nth(1).flatten().unwrap_or(0);
            }
        }
    }
    CpuReading {
        ticks,
        threads,
        runs,
    }
}

/// CPU used between two readings, in seconds: from the threads' nanosecond counters when no
/// thread of the first reading has gone (new ones count in full, as they started after it),
/// else from the tick counters (10 ms resolution). The flag says which.
fn cpu_between(before: &CpuReading, after: &CpuReading, ticks_per_second: u64) -> (f64, bool) {
    let all_alive = before.threads.keys().all(|t| after.threads.contains_key(t));
    if all_alive && !after.threads.is_empty() {
        let ns: u64 = after
            .threads
            .iter()
            .map(|(tid, ns)| ns.saturating_sub(before.threads.get(tid).copied().unwrap_or(0)))
            .sum();
        (ns as f64 / 1e9, true)
    } else {
        let ticks = after.ticks.saturating_sub(before.ticks);
        (ticks as f64 / ticks_per_second as f64, false)
    }
}

/// Resident memory of the tree, in kB, from VmRSS.
fn rss_kb(root: u32) -> u64 {
    tree(root)
        .into_iter()
        .filter_map(|pid| fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .sum()
}

// ---------------------------------------------------------------------------------------
// The provider
// ---------------------------------------------------------------------------------------

struct Provider {
    issuer: String,
    child: Child,
    // Kept open: the provider exits when this pipe closes (when we exit, even by a crash).
    _stdin: ChildStdin,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ensure_provider_installed() -> Result<()> {
    let dir = Path::new(MANIFEST_DIR).join("tests/op");
    if dir.join("node_modules/oidc-provider").exists() {
        return Ok(());
    }
    eprintln!("==> npm ci in tests/op");
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir)
        .status()
        .map_err(|e| format!("npm is required for the test provider ({e})"))?;
    if !status.success() {
        bail!("npm ci in tests/op failed");
    }
    Ok(())
}

impl Provider {
    /// `settings`: more `OP_*` variables (tests/op/README.md).
    fn start(
        clients: &serde_json::Value,
        settings: &[(&str, &str)],
        log: &Path,
    ) -> Result<Provider> {
        ensure_provider_installed()?;
        let mut child = Command::new("node")
            .arg("op.mjs")
            .current_dir(Path::new(MANIFEST_DIR).join("tests/op"))
            .env("OP_HOST", "localhost")
            .env("OP_CLIENTS", clients.to_string())
            .envs(settings.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(File::create(log)?)
            .spawn()
            .map_err(|e| format!("node is required for the test provider ({e})"))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let Some(ready) = line.strip_prefix("OP_READY ") else {
            let _ = child.kill();
            bail!(
                "the test provider did not start: {line:?}\n{}",
                tail(log, 20)
            );
        };
        let ready: serde_json::Value = serde_json::from_str(ready)?;
        let issuer = ready["issuer"].as_str().ok_or("no issuer")?.to_string();
        Ok(Provider {
            issuer,
            child,
            _stdin: stdin,
        })
    }

    async fn hits(&self, http: &reqwest::Client) -> Result<BTreeMap<String, u64>> {
        let hits: BTreeMap<String, u64> = http
            .get(format!("{}/__test/hits", self.issuer))
            .send()
            .await?
            .json()
            .await?;
        Ok(hits)
    }
}

fn hit_delta(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>, path: &str) -> u64 {
    after
        .get(path)
        .copied()
        .unwrap_or(0)
        .saturating_sub(before.get(path).copied().unwrap_or(0))
}

// ---------------------------------------------------------------------------------------
// The apps under test
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rocket,
    Flask,
}

/// What a browser needs to know of an app.
#[derive(Debug, Clone)]
struct Endpoint {
    name: &'static str,
    /// `http://127.0.0.1:PORT`, no trailing slash.
    url: String,
}

struct App {
    kind: Kind,
    name: &'static str,
    /// `http://127.0.0.1:PORT`, no trailing slash.
    url: String,
    client_id: &'static str,
    client_secret: &'static str,
    session_cookie: &'static str,
    log: PathBuf,
    child: Child,
}

impl App {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn endpoint(&self) -> Endpoint {
        Endpoint {
            name: self.name,
            url: self.url.clone(),
        }
    }

    fn redirect_uri(&self) -> String {
        format!("{}/redirect_uri", self.url)
    }
}

impl Drop for App {
    fn drop(&mut self) {
        // SIGTERM first, so that gunicorn stops its workers; then SIGKILL after 5 s.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client of the provider for apps at `origins` (`http://127.0.0.1:PORT`): the one-cookie
/// run's app, and each store's in turn, share one client.
fn client_registration(origins: &[String], client_id: &str, secret: &str) -> serde_json::Value {
    let redirect_uris: Vec<String> = origins
        .iter()
        .map(|o| format!("{o}/redirect_uri"))
        .collect();
    let post_logout: Vec<String> = origins
        .iter()
        .flat_map(|o| [format!("{o}/"), format!("{o}/logout/callback")])
        .collect();
    serde_json::json!({
        "client_id": client_id,
        "client_secret": secret,
        "redirect_uris": redirect_uris,
        "post_logout_redirect_uris": post_logout,
    })
}

/// What sets an app of the bench apart from the one-cookie run's quickstart.
struct Variant<'a> {
    /// Its name in the report; made a file name, its log's.
    name: &'static str,
    /// Inline TOML keys added to `oidc`, each after a comma (`, session={...}`).
    oidc_keys: &'a str,
    /// Inline TOML keys added to `oidc.providers.default`, each after a comma.
    provider_keys: &'a str,
    /// `ROCKET_LOG_LEVEL`: `off`, or `critical` (warnings and errors: why a request failed).
    log_level: &'static str,
}

/// `binary` (the quickstart or the api example) on `port`. `variant`: a store's or a bearer
/// setup's app; `None`: the one-cookie run's (the default store).
fn start_rocket(
    binary: &Path,
    port: u16,
    issuer: &str,
    work_dir: &Path,
    variant: Option<&Variant<'_>>,
) -> Result<App> {
    let url = format!("http://127.0.0.1:{port}");
    let (oidc_keys, provider_keys, log_level) = variant.map_or(("", "", "off"), |v| {
        (v.oidc_keys, v.provider_keys, v.log_level)
    });
    let oidc = format!(
        "{{redirect_uri=\"{url}/redirect_uri\", providers={{default={{issuer=\"{issuer}\", \
         client_id=\"rocket-app\", client_secret=\"rocket-secret\", \
         scope=[\"openid\",\"email\",\"profile\"]{provider_keys}}}}}{oidc_keys}}}"
    );
    // An empty Rocket.toml: the repository's own (port 8000, localhost:3000) must not leak in.
    let config = work_dir.join("Rocket.toml");
    fs::write(
        &config,
        "# empty: benches/e2e.rs configures the app by ROCKET_* variables\n",
    )?;
    let (name, log) = match variant {
        Some(variant) => {
            let file = variant
                .name
                .replace(|c: char| !c.is_ascii_alphanumeric(), "-");
            (variant.name, work_dir.join(format!("{file}.log")))
        }
        None => ("rocket_oidc_auth", work_dir.join("rocket.log")),
    };
    let child = Command::new(binary)
        .current_dir(work_dir)
        .env("ROCKET_CONFIG", &config)
        .env("ROCKET_ADDRESS", "127.0.0.1")
        .env("ROCKET_PORT", port.to_string())
        .env("ROCKET_LOG_LEVEL", log_level)
        .env("ROCKET_CLI_COLORS", "false")
        .env("ROCKET_SECRET_KEY", STANDARD.encode(random_bytes(32)))
        .env("ROCKET_OIDC", oidc)
        .stdin(Stdio::null())
        .stdout(File::create(&log)?)
        .stderr(Stdio::from(File::options().append(true).open(&log)?))
        .spawn()
        .map_err(|e| format!("cannot start {} ({e})", binary.display()))?;
    Ok(App {
        kind: Kind::Rocket,
        name,
        url,
        client_id: "rocket-app",
        client_secret: "rocket-secret",
        session_cookie: "oidc_session_default",
        log,
        child,
    })
}

/// Creates (or reuses) `target/bench-venv` with bench/flask/requirements.txt installed.
fn ensure_venv(venv: &Path) -> Result<()> {
    let requirements = Path::new(MANIFEST_DIR).join("bench/flask/requirements.txt");
    let wanted = fs::read_to_string(&requirements)?;
    let stamp = venv.join("bench-requirements.txt");
    if venv.join("bin/gunicorn").exists() && fs::read_to_string(&stamp).ok() == Some(wanted.clone())
    {
        return Ok(());
    }
    eprintln!("==> creating {} (Flask-pyoidc, gunicorn)", venv.display());
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let status = Command::new(&python)
        .args(["-m", "venv"])
        .arg(venv)
        .status()
        .map_err(|e| format!("{python} is required for --compare ({e})"))?;
    if !status.success() {
        bail!("{python} -m venv {} failed", venv.display());
    }
    let status = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(&requirements)
        .status()?;
    if !status.success() {
        bail!("pip install -r {} failed", requirements.display());
    }
    fs::write(stamp, wanted)?;
    Ok(())
}

fn start_flask(venv: &Path, port: u16, issuer: &str, work_dir: &Path) -> Result<App> {
    let url = format!("http://127.0.0.1:{port}");
    let log = work_dir.join("flask.log");
    let child = Command::new(venv.join("bin/gunicorn"))
        .args(["--workers", "2", "--bind"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--control-socket")
        .arg(work_dir.join("gunicorn.ctl"))
        .args(["--log-level", "warning", "--chdir"])
        .arg(Path::new(MANIFEST_DIR).join("bench/flask"))
        .arg("app:app")
        .current_dir(work_dir)
        .env("BENCH_ISSUER", issuer)
        .env("BENCH_REDIRECT_URI", format!("{url}/redirect_uri"))
        .env("BENCH_CLIENT_ID", "flask-app")
        .env("BENCH_CLIENT_SECRET", "flask-secret")
        .env("BENCH_SECRET_KEY", random_token())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(File::create(&log)?)
        .stderr(Stdio::from(File::options().append(true).open(&log)?))
        .spawn()
        .map_err(|e| format!("cannot start gunicorn ({e})"))?;
    Ok(App {
        kind: Kind::Flask,
        name: "Flask-pyoidc 3.14.3",
        url,
        client_id: "flask-app",
        client_secret: "flask-secret",
        session_cookie: "session",
        log,
        child,
    })
}

/// Waits (at most 60 s) until `GET /` answers 200; for gunicorn, also until both workers are up.
async fn wait_ready(app: &mut App, http: &reqwest::Client) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some(status) = app.child.try_wait()? {
            bail!(
                "{} exited at start ({status}):\n{}",
                app.name,
                tail(&app.log, 30)
            );
        }
        if let Ok(response) = http.get(format!("{}/", app.url)).send().await {
            if response.status() == 200 && (app.kind == Kind::Rocket || tree(app.pid()).len() >= 3)
            {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!(
        "{} did not answer within 60 s:\n{}",
        app.name,
        tail(&app.log, 30)
    )
}

// ---------------------------------------------------------------------------------------
// Logins over HTTP
// ---------------------------------------------------------------------------------------

/// A browser: a cookie jar, no automatic redirects.
fn browser() -> Result<(reqwest::Client, Arc<Jar>)> {
    let jar = Arc::new(Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .build()?;
    Ok((client, jar))
}

/// Follows the provider's pages from `auth_url` (logging in as `user` and consenting) until
/// it redirects to `app_prefix`; returns that callback URL. As tests/common/node_op.rs's
/// `through_provider`.
async fn through_provider(
    browser: &reqwest::Client,
    auth_url: &str,
    app_prefix: &str,
    user: &str,
) -> Result<String> {
    let mut next = auth_url.to_string();
    for _ in 0..12 {
        let response = browser.get(&next).send().await?;
        let status = response.status().as_u16();
        if (300..400).contains(&status) {
            let target = location(&response)?;
            if target.starts_with(app_prefix) {
                return Ok(target);
            }
            next = target;
            continue;
        }
        let page = response.text().await?;
        if status != 200 {
            bail!("unexpected provider page ({status}) at {next}: {page}");
        }
        let form: Vec<(&str, &str)> = if page.contains("value=\"login\"") {
            vec![("prompt", "login"), ("login", user), ("password", "test")]
        } else if page.contains("value=\"consent\"") {
            vec![("prompt", "consent")]
        } else {
            bail!("unknown provider page at {next}: {page}");
        };
        let response = browser.post(&next).form(&form).send().await?;
        if response.status() != 303 {
            bail!(
                "the provider refused the form at {next}: {}",
                response.status()
            );
        }
        next = location(&response)?;
    }
    bail!("too many redirects at the provider")
}

/// A login through the app, as seen from the browser.
struct AppLogin {
    elapsed: Duration,
    jar: Arc<Jar>,
    /// With a probe: the app's CPU seconds for each of its hops (the redirect, the callback,
    /// the final page), each read from just before that hop to just before the next.
    hop_cpu_s: [f64; 3],
    /// With a probe: how many times the app's threads were woken in each hop.
    hop_runs: [u64; 3],
}

/// One full login through the app from a fresh browser: `GET /login` → provider → callback →
/// `GET /login` (200). `probe` (the app's pid and clock ticks per second) reads the app's CPU
/// between the hops; without it, nothing but HTTP happens while the clock runs.
async fn login_through_app(
    app: &Endpoint,
    user: &str,
    probe: Option<(u32, u64)>,
) -> Result<AppLogin> {
    let (client, jar) = browser()?;
    let read = || probe.map(|(pid, _)| read_cpu(pid));
    let mut readings = Vec::new();
    let start = Instant::now();
    readings.push(read());
    let response = client
        .get(format!("{}/login", app.url))
        .header("Accept", "text/html")
        .send()
        .await?;
    if !response.status().is_redirection() {
        bail!(
            "{}: GET /login answered {}, not a redirect",
            app.name,
            response.status()
        );
    }
    let auth_url = location(&response)?;
    let callback = through_provider(&client, &auth_url, &format!("{}/", app.url), user).await?;
    readings.push(read());
    let response = client.get(&callback).send().await?;
    if !response.status().is_redirection() {
        let status = response.status();
        bail!(
            "{}: the callback answered {status}: {}",
            app.name,
            response.text().await.unwrap_or_default()
        );
    }
    let landing = location(&response)?;
    if url::Url::parse(&landing)?.path() != "/login" {
        bail!(
            "{}: the callback sent the browser to {landing}, not /login",
            app.name
        );
    }
    readings.push(read());
    let response = client
        .get(&landing)
        .header("Accept", "text/html")
        .send()
        .await?;
    let status = response.status();
    let body = response.bytes().await?;
    let elapsed = start.elapsed();
    if status != 200 {
        bail!("{}: GET /login after the login answered {status}", app.name);
    }
    if !body.windows(12).any(|w| w == b"access_token") {
        bail!(
            "{}: GET /login after the login shows no access_token",
            app.name
        );
    }
    let mut hop_cpu_s = [0.0; 3];
    let mut hop_runs = [0; 3];
    if let Some((_, ticks_per_second)) = probe {
        // Let the app finish with the last response before the last reading.
        tokio::time::sleep(Duration::from_millis(5)).await;
        readings.push(read());
        for (hop, pair) in readings.windows(2).enumerate() {
            if let [Some(before), Some(after)] = pair {
                hop_cpu_s[hop] = cpu_between(before, after, ticks_per_second).0;
                hop_runs[hop] = after.runs.saturating_sub(before.runs);
            }
        }
    }
    drop(client);
    Ok(AppLogin {
        elapsed,
        jar,
        hop_cpu_s,
        hop_runs,
    })
}

/// The provider's front channel alone, for the same client: the same pages, then the token
/// request, with no app in between.
async fn login_provider_only(
    issuer: &str,
    redirect_uri: &str,
    client_id: &str,
    client_secret: &str,
    user: &str,
) -> Result<Duration> {
    let (client, _jar) = browser()?;
    let verifier = random_token() + &random_token();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let mut auth_url = url::Url::parse(&format!("{issuer}/auth"))?;
    auth_url
        .query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid email profile")
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", &random_token())
        .append_pair("nonce", &random_token())
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let app_prefix = redirect_uri.trim_end_matches("redirect_uri");
    let start = Instant::now();
    let callback = through_provider(&client, auth_url.as_str(), app_prefix, user).await?;
    let callback = url::Url::parse(&callback)?;
    let Some(code) = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
    else {
        bail!("the provider answered without a code: {callback}");
    };
    let response = client
        .post(format!("{issuer}/token"))
        .basic_auth(client_id, Some(client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await?;
    let status = response.status();
    let body = response.bytes().await?;
    let elapsed = start.elapsed();
    if status != 200 || !body.windows(8).any(|w| w == b"id_token") {
        bail!(
            "token request answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(elapsed)
}

/// What any single request costs the app when it arrives alone (as a login's hops do, a few
/// milliseconds apart) rather than in a stream: the app's CPU for an isolated `GET /`, first
/// on a new connection, then on that connection kept alive. Means over `n`, in µs.
async fn isolated_requests(app: &App, ticks_per_second: u64, n: usize) -> Result<(f64, f64)> {
    let pid = app.pid();
    let (mut first, mut again) = (0.0, 0.0);
    for _ in 0..n {
        let (client, _jar) = browser()?;
        for sum in [&mut first, &mut again] {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let before = read_cpu(pid);
            let response = client
                .get(format!("{}/", app.url))
                .header("Accept", "text/html")
                .send()
                .await?;
            if response.status() != 200 {
                bail!("{}: GET / answered {}", app.name, response.status());
            }
            response.bytes().await?;
            tokio::time::sleep(Duration::from_millis(5)).await;
            let after = read_cpu(pid);
            *sum += cpu_between(&before, &after, ticks_per_second).0;
        }
    }
    Ok((first * 1e6 / n as f64, again * 1e6 / n as f64))
}

fn session_cookie(jar: &Jar, app: &App) -> Result<String> {
    let url: url::Url = format!("{}/", app.url).parse()?;
    let header = jar
        .cookies(&url)
        .ok_or_else(|| format!("{}: no cookies after the login", app.name))?;
    let prefix = format!("{}=", app.session_cookie);
    header
        .to_str()?
        .split("; ")
        .find(|c| c.starts_with(&prefix))
        .map(str::to_string)
        .ok_or_else(|| {
            format!(
                "{}: no {} cookie after the login",
                app.name, app.session_cookie
            )
            .into()
        })
}

// ---------------------------------------------------------------------------------------
// Load with wrk
// ---------------------------------------------------------------------------------------

/// An unrecorded wrk run, which must see only 200s: else the load would measure errors.
fn warm_up(
    name: &str,
    shape: Shape,
    url: &str,
    credentials: Credentials<'_>,
    seconds: u32,
) -> Result<()> {
    let result = run_wrk(shape, url, credentials, seconds)?;
    if result.non200 > 0 || result.requests == 0 {
        bail!(
            "{name} {url}: {} of {} responses were not 200 (first: {}); the load would measure \
             errors, not the route",
            result.non200,
            result.requests,
            result.first_non200
        );
    }
    Ok(())
}

#[derive(Debug, Clone, Default)]
struct WrkResult {
    requests: u64,
    duration_us: u64,
    bytes: u64,
    non200: u64,
    set_cookie: u64,
    socket_errors: u64,
    p50_us: u64,
    p99_us: u64,
    first_non200: String,
    /// With [`Credentials::Rotate`]: the values (sessions, tokens) the threads took turns with.
    sessions: u64,
}

/// wrk's threads and connections.
#[derive(Debug, Clone, Copy)]
struct Shape {
    threads: u32,
    connections: u32,
}

/// The store comparison's load shapes.
const STORE_SHAPES: [Shape; 2] = [
    Shape {
        threads: 1,
        connections: 16,
    },
    Shape {
        threads: 2,
        connections: 32,
    },
];

/// What identifies wrk's requests: a header and its value (`Cookie`, `Authorization`).
#[derive(Debug, Clone, Copy)]
enum Credentials<'a> {
    /// Nothing.
    None,
    /// The same value on every request (`bench/wrk/check.lua`).
    One(&'static str, &'a str),
    /// The next line of this file on every request (`bench/wrk/rotate.lua`).
    Rotate(&'static str, &'a Path),
}

fn run_wrk(
    shape: Shape,
    url: &str,
    credentials: Credentials<'_>,
    seconds: u32,
) -> Result<WrkResult> {
    let mut command = Command::new("wrk");
    command
        .arg(format!("-t{}", shape.threads))
        .arg(format!("-c{}", shape.connections))
        .arg(format!("-d{seconds}s"))
        .arg("--timeout")
        .arg("5s")
        .arg("-s");
    match credentials {
        Credentials::None => {
            command.arg(Path::new(MANIFEST_DIR).join("bench/wrk/check.lua"));
        }
        Credentials::One(header, value) => {
            command
                .arg(Path::new(MANIFEST_DIR).join("bench/wrk/check.lua"))
                .arg("-H")
                .arg(format!("{header}: {value}"));
        }
        Credentials::Rotate(header, file) => {
            command
                .arg(Path::new(MANIFEST_DIR).join("bench/wrk/rotate.lua"))
                .env("WRK_HEADER", header)
                .env("WRK_VALUES", file)
                .env("WRK_THREADS", shape.threads.to_string());
        }
    }
    let output = command
        .arg("-H")
        .arg("Accept: text/html,application/xhtml+xml,*/*;q=0.8")
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("wrk is required (apt-get install wrk): {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let Some(line) = stdout.lines().find(|l| l.starts_with("WRK_RESULT ")) else {
        bail!(
            "wrk printed no result for {url}:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let mut result = WrkResult::default();
    let (fields, first_bad) = line.split_once(" first_non200=").unwrap_or((line, "\"\""));
    result.first_non200 = first_bad.trim_matches('"').to_string();
    for field in fields.split_whitespace().skip(1) {
        let Some((key, value)) = field.split_once('=') else {
            continue;
        };
        let value: u64 = value.parse().unwrap_or(0);
        match key {
            "requests" => result.requests = value,
            "duration_us" => result.duration_us = value,
            "bytes" => result.bytes = value,
            "non200" => result.non200 = value,
            "set_cookie" => result.set_cookie = value,
            "errors_connect" | "errors_read" | "errors_write" | "errors_timeout" => {
                result.socket_errors += value
            }
            "p50_us" => result.p50_us = value,
            "p99_us" => result.p99_us = value,
            "sessions" => result.sessions = value,
            _ => {}
        }
    }
    Ok(result)
}

/// One wrk run with the CPU of `pids` (the app, then any server of its own such as
/// redis-server) read around it.
#[derive(Debug)]
struct Measured {
    result: WrkResult,
    /// CPU seconds of each of `pids`, in order.
    cpu_s: Vec<f64>,
    /// Whether the app's came from its threads' nanosecond counters (not 10 ms ticks).
    precise: bool,
    seconds: f64,
    /// What other processes (not `pids`, wrk or this one) used meanwhile, as a share of one
    /// core.
    other_load: f64,
    /// Context switches into the first of `pids`' threads.
    switches: u64,
}

impl Measured {
    /// CPU per request of `pids[i]`, µs.
    fn us(&self, i: usize) -> f64 {
        self.cpu_s[i] * 1e6 / self.result.requests.max(1) as f64
    }

    fn rps(&self) -> f64 {
        self.result.requests as f64 / self.seconds
    }
}

fn measured_wrk(
    pids: &[u32],
    ticks_per_second: u64,
    shape: Shape,
    url: &str,
    credentials: Credentials<'_>,
    seconds: u32,
) -> Result<Measured> {
    let profiled = std::env::var_os("E2E_CALLGRIND").is_some();
    if profiled {
        callgrind_control(&["-z"]);
    }
    let perf = std::env::var_os("E2E_PERF").is_some();
    if perf {
        perf_switch_output(pids[0], "before", url);
    }
    let before: Vec<CpuReading> = pids.iter().map(|&pid| read_cpu(pid)).collect();
    let (machine_before, own_before) = (machine_busy_ticks(), own_ticks());
    let result = run_wrk(shape, url, credentials, seconds)?;
    let (machine_after, own_after) = (machine_busy_ticks(), own_ticks());
    if perf {
        perf_switch_output(pids[0], "after", url);
    }
    if profiled {
        let route = url
            .rsplit('/')
            .next()
            .filter(|r| !r.is_empty())
            .unwrap_or("root");
        let label = format!("{route}-{}", result.requests);
        callgrind_control(&["-d", &label]);
    }
    let after: Vec<CpuReading> = pids.iter().map(|&pid| read_cpu(pid)).collect();
    let used: Vec<(f64, bool)> = before
        .iter()
        .zip(&after)
        .map(|(b, a)| cpu_between(b, a, ticks_per_second))
        .collect();
    let known_ticks: u64 = before
        .iter()
        .zip(&after)
        .map(|(b, a)| a.ticks.saturating_sub(b.ticks))
        .sum();
    let seconds = result.duration_us.max(1) as f64 / 1e6;
    let other_ticks = (machine_after - machine_before)
        .saturating_sub(own_after - own_before)
        .saturating_sub(known_ticks);
    Ok(Measured {
        result,
        cpu_s: used.iter().map(|u| u.0).collect(),
        precise: used.first().is_some_and(|u| u.1),
        seconds,
        other_load: other_ticks as f64 / ticks_per_second as f64 / seconds,
        switches: after[0].runs.saturating_sub(before[0].runs),
    })
}

/// With `E2E_CALLGRIND` set (the app runs under `valgrind --tool=callgrind`, through
/// `--quickstart` or `--api` naming a wrapper script): every measured load gets a profile of
/// its own, named after the route and the number of requests (`callgrind_control -d`), the
/// counters zeroed before it. The way to see where a route's instructions go where `perf`
/// is not available.
fn callgrind_control(args: &[&str]) {
    let status = Command::new("callgrind_control")
        .args(args)
        .stdout(Stdio::null())
        .status();
    if !status.is_ok_and(|s| s.success()) {
        eprintln!("    (E2E_CALLGRIND: callgrind_control {args:?} failed)");
    }
}

/// With `E2E_PERF` set (the app runs under `perf record --switch-output=signal`, through a
/// wrapper script that `exec`s perf, so the app's pid is perf's): perf starts a new output
/// file before and after every measured load (SIGUSR2); the files, in time order, alternate
/// between the gaps and the loads, which this line names.
fn perf_switch_output(pid: u32, when: &str, url: &str) {
    let _ = Command::new("kill")
        .args(["-USR2", &pid.to_string()])
        .status();
    // perf writes the file in its own time.
    std::thread::sleep(Duration::from_millis(300));
    eprintln!("    (E2E_PERF: {when} {url})");
}

/// One route (or load) over the rounds: the app's figures.
#[derive(Debug, Clone, Default)]
struct RouteSamples {
    cpu_us: Vec<f64>,
    rps: Vec<f64>,
    p50_ms: Vec<f64>,
    requests: u64,
    non200: u64,
    set_cookie: u64,
    socket_errors: u64,
    bytes_per_response: f64,
    precise: bool,
    first_non200: String,
}

impl RouteSamples {
    fn add(&mut self, m: &Measured) {
        let r = &m.result;
        self.cpu_us.push(m.us(0));
        self.rps.push(m.rps());
        self.p50_ms.push(r.p50_us as f64 / 1000.0);
        self.requests += r.requests;
        self.non200 += r.non200;
        self.set_cookie += r.set_cookie;
        self.socket_errors += r.socket_errors;
        self.bytes_per_response = r.bytes as f64 / r.requests.max(1) as f64;
        self.precise = self.precise || m.precise;
        if self.first_non200.is_empty() {
            self.first_non200.clone_from(&r.first_non200);
        }
    }
}

/// Median over the rounds of `route`'s CPU per request ÷ that of `base` in the same round.
fn ratio(routes: &BTreeMap<&'static str, RouteSamples>, route: &str, base: &str) -> f64 {
    let (Some(r), Some(base)) = (routes.get(route), routes.get(base)) else {
        return f64::NAN;
    };
    let ratios: Vec<f64> = r
        .cpu_us
        .iter()
        .zip(&base.cpu_us)
        .map(|(a, b)| a / b)
        .collect();
    median(&ratios)
}

// ---------------------------------------------------------------------------------------
// Results of one app
// ---------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct LoginFigures {
    logins: usize,
    logins_per_s: f64,
    cpu_per_login_ms: f64,
    precise: bool,
    app_ms: Vec<f64>,
    /// Mean app CPU per hop: the redirect, the callback, the final page.
    hop_us: [f64; 3],
    /// Mean thread wake-ups of the app per hop (each costs this VM ~100-150 µs of CPU when
    /// the app was idle).
    hop_wakeups: [f64; 3],
    /// An isolated `GET /`: first on a new connection, then on that connection kept alive.
    isolated_us: (f64, f64),
    discovery: u64,
    jwks: u64,
    token: u64,
    userinfo: u64,
}

#[derive(Debug, Default)]
struct Figures {
    routes: BTreeMap<&'static str, RouteSamples>,
    first_login_discovery: u64,
    first_login_jwks: u64,
    logins: LoginFigures,
    /// The same logins, several at a time.
    concurrent: LoginFigures,
    /// Protected responses checked by hand on the unchanged session, and how many had
    /// Set-Cookie.
    manual_checked: usize,
    manual_set_cookie: usize,
    callback_sets_cookie: bool,
    rss_after_load_kb: u64,
    rss_after_logins_kb: u64,
    session_cookie_bytes: usize,
}

impl Figures {
    fn cpu(&self, route: &str) -> f64 {
        self.routes
            .get(route)
            .map_or(f64::NAN, |r| median(&r.cpu_us))
    }
    /// Median over the rounds of this route's CPU per request ÷ that of `/` in the same round.
    fn ratio(&self, route: &str) -> f64 {
        ratio(&self.routes, route, "/")
    }
    fn rps(&self, route: &str) -> f64 {
        self.routes.get(route).map_or(f64::NAN, |r| median(&r.rps))
    }
    /// Provider requests over every login after the first (both passes): logins, discovery,
    /// JWKS, token, userinfo.
    fn hits(&self) -> (u64, u64, u64, u64, u64) {
        let (a, b) = (&self.logins, &self.concurrent);
        (
            (a.logins + b.logins) as u64,
            a.discovery + b.discovery,
            a.jwks + b.jwks,
            a.token + b.token,
            a.userinfo + b.userinfo,
        )
    }

    fn protected_set_cookie(&self) -> (u64, u64) {
        let mut seen = self.manual_set_cookie as u64;
        let mut total = self.manual_checked as u64;
        for route in ["/whoami", "/login"] {
            if let Some(r) = self.routes.get(route) {
                seen += r.set_cookie;
                total += r.requests;
            }
        }
        (seen, total)
    }
}

struct Subject {
    app: App,
    cookie: String,
    figures: Figures,
}

/// Checks, on the session the load uses, that protected responses are 200 and carry no
/// Set-Cookie, and that the cookie alone authenticates.
async fn check_unchanged_session(subject: &mut Subject, sub: &str) -> Result<()> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()?;
    for round in 0..5 {
        for route in ["/whoami", "/login"] {
            let response = http
                .get(format!("{}{route}", subject.app.url))
                .header("Cookie", &subject.cookie)
                .header("Accept", "text/html")
                .send()
                .await?;
            let status = response.status();
            let set_cookie = response.headers().get_all("set-cookie").iter().count();
            let body = response.text().await?;
            if status != 200 {
                bail!(
                    "{}: GET {route} with the session answered {status}",
                    subject.app.name
                );
            }
            if round == 0 && route == "/whoami" && body.trim() != sub {
                bail!(
                    "{}: /whoami answered {body:?}, not {sub:?}",
                    subject.app.name
                );
            }
            subject.figures.manual_checked += 1;
            if set_cookie > 0 {
                subject.figures.manual_set_cookie += 1;
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------

/// The release build of example `name` (`given`: its path from the command line).
fn find_example(name: &str, given: Option<&PathBuf>) -> Result<PathBuf> {
    if let Some(path) = given {
        return Ok(path.clone());
    }
    let exe = std::env::current_exe()?;
    for dir in exe.ancestors().skip(1) {
        let candidate = dir.join("examples").join(name);
        if candidate.is_file() {
            return Ok(candidate);
        }
        if dir.file_name().is_some_and(|n| n == "release") {
            break;
        }
    }
    bail!(
        "target/release/examples/{name} not found: run `cargo build --release --example {name} \
         --features redis` first (scripts/bench.sh does), or pass --{name} PATH"
    )
}

/// Busy clock ticks of the whole machine (user, nice, system, irq, softirq), from /proc/stat.
fn machine_busy_ticks() -> u64 {
    let stat = fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0;
    };
    let fields: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq ...
    [0, 1, 2, 5, 6].iter().filter_map(|&i| fields.get(i)).sum()
}

/// This process's CPU ticks, with its waited-for children (wrk).
fn own_ticks() -> u64 {
    stat_fields(std::process::id()).map_or(0, |f| f[11..15].iter().sum())
}

fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn machine() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, v)| v.trim())
        .to_string();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{model}, {cores} cores, {mem_gib:.0} GiB, Linux {}",
        kernel.trim()
    )
}

async fn run(mut options: Options) -> Result<bool> {
    let quickstart = if options.one_cookie_run() || !options.stores.is_empty() {
        Some(find_example("quickstart", options.quickstart.as_ref())?)
    } else {
        None
    };
    let api = if options.bearer {
        Some(find_example("api", options.api.as_ref())?)
    } else {
        None
    };
    // target/release/examples/quickstart -> target
    let target_dir = quickstart
        .iter()
        .chain(&api)
        .find_map(|binary| binary.ancestors().nth(3))
        .map(Path::to_path_buf)
        .unwrap_or_else(|| Path::new(MANIFEST_DIR).join("target"));
    let work_dir = target_dir.join("bench-e2e");
    fs::create_dir_all(&work_dir)?;
    let ticks_per_second = clock_ticks_per_second();
    Command::new("wrk")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("wrk is required: apt-get install wrk ({e})"))?;

    let venv = target_dir.join("bench-venv");
    if options.compare {
        ensure_venv(&venv)?;
    }

    // Ports and the provider's clients: the one-cookie run's app and every store's app are
    // one client with a redirect URI each.
    let bearer_setups = if options.bearer {
        BEARER_SETUPS.len()
    } else {
        0
    };
    let ports = free_ports(2 + options.stores.len() + bearer_setups)?;
    let (rocket_port, flask_port) = (ports[0], ports[1]);
    let (store_ports, bearer_ports) = ports[2..].split_at(options.stores.len());
    let (store_ports, bearer_ports) = (store_ports.to_vec(), bearer_ports.to_vec());
    let origin = |port: &u16| format!("http://127.0.0.1:{port}");
    let rocket_origins: Vec<String> = ports[..1].iter().chain(&store_ports).map(origin).collect();
    let mut clients = vec![client_registration(
        &rocket_origins,
        "rocket-app",
        "rocket-secret",
    )];
    if options.compare {
        clients.push(client_registration(
            &[origin(&flask_port)],
            "flask-app",
            "flask-secret",
        ));
    }
    // The bearer setups start providers of their own.
    let provider = if quickstart.is_some() {
        let provider = Provider::start(
            &serde_json::Value::Array(clients),
            &[],
            &work_dir.join("op.log"),
        )?;
        eprintln!("==> test provider at {}", provider.issuer);
        Some(provider)
    } else {
        None
    };

    // No idle connections: the provider closes them after 5 s, and a request on one it is
    // closing fails.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()?;

    let env = Env {
        quickstart,
        api,
        work_dir,
        venv,
        ticks_per_second,
        provider,
        http,
        rocket_port,
        flask_port,
        store_ports,
        bearer_ports,
    };
    let mut out = String::new();
    let _ = writeln!(out);
    let _ = writeln!(out, "Machine: {}", machine());
    let mut all = true;
    if options.one_cookie_run() {
        let (text, pass) = one_cookie_run(&mut options, &env).await?;
        out.push_str(&text);
        all = pass;
    }
    if options.bearer {
        let (text, pass) = bearer_run(&options, &env).await?;
        out.push_str(&text);
        all &= pass;
    }
    if !options.stores.is_empty() {
        out.push_str(&store_run(&options, &env).await?);
    }
    print!("{out}");
    let save_to = env.work_dir.join("report.md");
    match fs::write(&save_to, &out) {
        Ok(()) => println!("\n(saved to {})", save_to.display()),
        Err(err) => eprintln!("cannot save the report to {}: {err}", save_to.display()),
    }
    Ok(all)
}

/// What the parts of a run share.
struct Env {
    /// Unless `--only-bearer` alone.
    quickstart: Option<PathBuf>,
    /// With `--bearer`.
    api: Option<PathBuf>,
    work_dir: PathBuf,
    venv: PathBuf,
    ticks_per_second: u64,
    /// The one-cookie run's and the stores' (unless `--only-bearer` alone).
    provider: Option<Provider>,
    http: reqwest::Client,
    rocket_port: u16,
    flask_port: u16,
    /// One per store of `--stores`, in its order.
    store_ports: Vec<u16>,
    /// One per bearer setup, with `--bearer`.
    bearer_ports: Vec<u16>,
}

impl Env {
    fn quickstart(&self) -> Result<&Path> {
        Ok(self.quickstart.as_deref().ok_or("no quickstart binary")?)
    }

    fn provider(&self) -> Result<&Provider> {
        Ok(self.provider.as_ref().ok_or("no test provider")?)
    }
}

/// Steps 2 to 7 (one logged-in cookie on every request): the report's text and whether every
/// target was met.
async fn one_cookie_run(options: &mut Options, env: &Env) -> Result<(String, bool)> {
    let (quickstart, work_dir, venv) = (env.quickstart()?, &env.work_dir, &env.venv);
    let (provider, http) = (env.provider()?, &env.http);
    let ticks_per_second = env.ticks_per_second;
    let (rocket_port, flask_port) = (env.rocket_port, env.flask_port);

    // 2. Each app in turn: start it, wait for it, log in once; its session cookie drives the
    //    load. One at a time, so that the provider's counts up to the first login are its own.
    let mut subjects = Vec::new();
    let kinds: &[Kind] = if options.compare {
        &[Kind::Rocket, Kind::Flask]
    } else {
        &[Kind::Rocket]
    };
    for (i, kind) in kinds.iter().enumerate() {
        let before = provider.hits(http).await?;
        let mut app = match kind {
            Kind::Rocket => {
                start_rocket(quickstart, rocket_port, &provider.issuer, work_dir, None)?
            }
            Kind::Flask => start_flask(venv, flask_port, &provider.issuer, work_dir)?,
        };
        wait_ready(&mut app, http).await?;
        eprintln!("==> {} at {} (pid {})", app.name, app.url, app.pid());
        let user = format!("bench-user-{i}");
        let jar = login_through_app(&app.endpoint(), &user, None).await?.jar;
        let after = provider.hits(http).await?;
        let cookie = session_cookie(&jar, &app)?;
        let mut subject = Subject {
            app,
            cookie,
            figures: Figures::default(),
        };
        subject.figures.first_login_discovery = hit_delta(&before, &after, DISCOVERY);
        subject.figures.first_login_jwks = hit_delta(&before, &after, JWKS);
        subject.figures.session_cookie_bytes = subject.cookie.len();
        check_unchanged_session(&mut subject, &user).await?;
        eprintln!(
            "==> {} logged in as {user}; session cookie {} bytes",
            subject.app.name,
            subject.cookie.len()
        );
        subjects.push(subject);
    }

    // 3. Load: warm-up, then alternating rounds.
    if options.warmup_seconds > 0 {
        eprintln!("==> warm-up: {} s per route", options.warmup_seconds);
        for subject in &subjects {
            for route in ROUTES {
                warm_up(
                    subject.app.name,
                    options.shape(),
                    &format!("{}{route}", subject.app.url),
                    Credentials::One("Cookie", &subject.cookie),
                    options.warmup_seconds,
                )?;
            }
        }
    }
    eprintln!(
        "==> load: {} rounds x {} routes x {} app(s) x {} s (wrk -t{} -c{})",
        options.rounds,
        ROUTES.len(),
        subjects.len(),
        options.seconds,
        options.wrk_threads,
        options.connections
    );
    let mut max_other_load: f64 = 0.0;
    for round in 0..options.rounds as usize {
        for subject in &mut subjects {
            for k in 0..ROUTES.len() {
                // Rotate the order so that no route always runs first.
                let route = ROUTES[(round + k) % ROUTES.len()];
                let url = format!("{}{route}", subject.app.url);
                let m = measured_wrk(
                    &[subject.app.pid()],
                    ticks_per_second,
                    options.shape(),
                    &url,
                    Credentials::One("Cookie", &subject.cookie),
                    options.seconds,
                )?;
                max_other_load = max_other_load.max(m.other_load);
                eprintln!(
                    "    round {} {:<20} {:<7} {:>9.0} req/s  {:>7.1} µs CPU/req  non-200 {}  \
                     Set-Cookie {}  other load {:.0}% of a core{}",
                    round + 1,
                    subject.app.name,
                    route,
                    m.rps(),
                    m.us(0),
                    m.result.non200,
                    m.result.set_cookie,
                    m.other_load * 100.0,
                    if m.precise { "" } else { "  (ticks)" }
                );
                subject.figures.routes.entry(route).or_default().add(&m);
            }
        }
    }
    for subject in &mut subjects {
        subject.figures.rss_after_load_kb = rss_kb(subject.app.pid());
    }
    options.max_other_load = max_other_load;

    // 4. Logins: blocks through each app, alternating with blocks through the provider alone.
    eprintln!(
        "==> logins: {} through each app and {} through the provider alone, in blocks of {}",
        options.logins, options.logins, LOGIN_BLOCK
    );
    // A few unrecorded logins first, through each app and the provider alone.
    let mut user_counter = 0usize;
    for _ in 0..WARMUP_LOGINS {
        for subject in &subjects {
            user_counter += 1;
            let user = format!("user{user_counter}");
            login_through_app(&subject.app.endpoint(), &user, None).await?;
        }
        user_counter += 1;
        let rocket = &subjects[0].app;
        login_provider_only(
            &provider.issuer,
            &rocket.redirect_uri(),
            rocket.client_id,
            rocket.client_secret,
            &format!("user{user_counter}"),
        )
        .await?;
    }
    let mut provider_only_ms: Vec<f64> = Vec::new();
    let mut cpu_s_total = vec![0.0f64; subjects.len()];
    let mut all_precise = vec![true; subjects.len()];
    let phase_start = Instant::now();
    let mut done = 0usize;
    while done < options.logins && phase_start.elapsed() < LOGIN_PHASE_BUDGET {
        let block = LOGIN_BLOCK.min(options.logins - done);
        for (i, subject) in subjects.iter_mut().enumerate() {
            let pid = subject.app.pid();
            let endpoint = subject.app.endpoint();
            let hits_before = provider.hits(http).await?;
            let cpu_before = read_cpu(pid);
            for _ in 0..block {
                user_counter += 1;
                let user = format!("user{user_counter}");
                let login = login_through_app(&endpoint, &user, None).await?;
                subject
                    .figures
                    .logins
                    .app_ms
                    .push(login.elapsed.as_secs_f64() * 1e3);
            }
            let cpu_after = read_cpu(pid);
            let hits_after = provider.hits(http).await?;
            let (cpu_s, precise) = cpu_between(&cpu_before, &cpu_after, ticks_per_second);
            cpu_s_total[i] += cpu_s;
            all_precise[i] &= precise;
            eprintln!(
                "    {:<20} {block} logins: {:.2} ms app CPU per login{}",
                subject.app.name,
                cpu_s * 1e3 / block as f64,
                if precise { "" } else { " (ticks)" }
            );
            let l = &mut subject.figures.logins;
            l.logins += block;
            l.discovery += hit_delta(&hits_before, &hits_after, DISCOVERY);
            l.jwks += hit_delta(&hits_before, &hits_after, JWKS);
            l.token += hit_delta(&hits_before, &hits_after, TOKEN);
            l.userinfo += hit_delta(&hits_before, &hits_after, USERINFO);
        }
        let rocket = &subjects[0].app;
        for _ in 0..block {
            user_counter += 1;
            let elapsed = login_provider_only(
                &provider.issuer,
                &rocket.redirect_uri(),
                rocket.client_id,
                rocket.client_secret,
                &format!("user{user_counter}"),
            )
            .await?;
            provider_only_ms.push(elapsed.as_secs_f64() * 1e3);
        }
        done += block;
        eprintln!(
            "    {done} logins per mode, {:.0} s",
            phase_start.elapsed().as_secs_f64()
        );
    }
    for (i, subject) in subjects.iter_mut().enumerate() {
        let l = &mut subject.figures.logins;
        l.cpu_per_login_ms = cpu_s_total[i] * 1e3 / l.logins.max(1) as f64;
        l.precise = all_precise[i];
        subject.figures.rss_after_logins_kb = rss_kb(subject.app.pid());
    }

    // Where a login's CPU goes: the app's CPU read between its hops, over a few more logins
    // (not timed: the readings take time).
    let hop_logins = LOGIN_BLOCK;
    for subject in &mut subjects {
        let probe = Some((subject.app.pid(), ticks_per_second));
        let mut sums = [0.0; 3];
        let mut runs = [0; 3];
        for _ in 0..hop_logins {
            user_counter += 1;
            let user = format!("user{user_counter}");
            let login = login_through_app(&subject.app.endpoint(), &user, probe).await?;
            for (sum, hop) in sums.iter_mut().zip(login.hop_cpu_s) {
                *sum += hop;
            }
            for (sum, hop) in runs.iter_mut().zip(login.hop_runs) {
                *sum += hop;
            }
        }
        subject.figures.logins.hop_us = sums.map(|s| s * 1e6 / hop_logins as f64);
        subject.figures.logins.hop_wakeups = runs.map(|r| r as f64 / hop_logins as f64);
        subject.figures.logins.isolated_us =
            isolated_requests(&subject.app, ticks_per_second, hop_logins).await?;
    }

    // The same logins with several browsers at once: the app is then busy, as under the wrk
    // load, instead of waking from idle for every hop.
    eprintln!(
        "==> logins, {} at a time: {} through each app",
        options.login_concurrency, options.logins
    );
    for subject in &mut subjects {
        let pid = subject.app.pid();
        let hits_before = provider.hits(http).await?;
        let cpu_before = read_cpu(pid);
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        let per_task = options.logins.div_ceil(options.login_concurrency);
        let mut total = 0;
        for t in 0..options.login_concurrency {
            let n = per_task.min(options.logins - total);
            total += n;
            let endpoint = subject.app.endpoint();
            let first_user = user_counter + t * per_task;
            tasks.spawn(async move {
                for k in 0..n {
                    let user = format!("user{}", first_user + k);
                    login_through_app(&endpoint, &user, None).await?;
                }
                Ok::<usize, BoxError>(n)
            });
        }
        user_counter += options.logins;
        let mut logins = 0;
        let deadline = tokio::time::Instant::now() + LOGIN_PHASE_BUDGET;
        while let Some(joined) = tokio::time::timeout_at(deadline, tasks.join_next())
            .await
            .map_err(|_| format!("{}: the concurrent logins took too long", subject.app.name))?
        {
            logins += joined??;
        }
        let cpu_after = read_cpu(pid);
        let hits_after = provider.hits(http).await?;
        let (cpu_s, precise) = cpu_between(&cpu_before, &cpu_after, ticks_per_second);
        let c = &mut subject.figures.concurrent;
        c.logins = logins;
        c.cpu_per_login_ms = cpu_s * 1e3 / logins.max(1) as f64;
        c.precise = precise;
        c.logins_per_s = logins as f64 / started.elapsed().as_secs_f64();
        c.discovery = hit_delta(&hits_before, &hits_after, DISCOVERY);
        c.jwks = hit_delta(&hits_before, &hits_after, JWKS);
        c.token = hit_delta(&hits_before, &hits_after, TOKEN);
        c.userinfo = hit_delta(&hits_before, &hits_after, USERINFO);
    }

    // 5. The callback changes the session, so it must set the cookie (sanity check of the
    //    Set-Cookie detection); protected responses after it must not (checked above and by
    //    wrk on every response).
    for subject in &mut subjects {
        let (client, _jar) = browser()?;
        let response = client
            .get(format!("{}/whoami", subject.app.url))
            .header("Accept", "text/html")
            .send()
            .await?;
        let auth_url = location(&response)?;
        let callback = through_provider(
            &client,
            &auth_url,
            &format!("{}/", subject.app.url),
            "carol",
        )
        .await?;
        let response = client.get(&callback).send().await?;
        subject.figures.callback_sets_cookie =
            response.headers().get_all("set-cookie").iter().any(|v| {
                v.as_bytes()
                    .starts_with(subject.app.session_cookie.as_bytes())
            });
    }

    Ok(report(options, &subjects, &provider_only_ms))
}

// ---------------------------------------------------------------------------------------
// Many users, per session store (--stores)
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Store {
    Cookie,
    Memory,
    Redis,
}

impl Store {
    fn parse(name: &str) -> Result<Store> {
        Ok(match name.trim() {
            "cookie" => Store::Cookie,
            "memory" => Store::Memory,
            "redis" => Store::Redis,
            other => bail!("unknown store {other:?} (cookie, memory or redis)\n{USAGE}"),
        })
    }

    fn name(self) -> &'static str {
        match self {
            Store::Cookie => "cookie",
            Store::Memory => "memory",
            Store::Redis => "redis",
        }
    }

    fn app_name(self) -> &'static str {
        match self {
            Store::Cookie => "rocket_oidc_auth cookie store",
            Store::Memory => "rocket_oidc_auth memory store",
            Store::Redis => "rocket_oidc_auth redis store",
        }
    }
}

/// A `redis-server` of the bench's own on a free loopback port, without persistence; killed
/// when dropped.
struct RedisServer {
    port: u16,
    child: Child,
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RedisServer {
    fn start(work_dir: &Path) -> Result<RedisServer> {
        let port = free_port()?;
        let log = work_dir.join("redis.log");
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .current_dir(work_dir)
            .stdin(Stdio::null())
            .stdout(File::create(&log)?)
            .stderr(Stdio::from(File::options().append(true).open(&log)?))
            .spawn()
            .map_err(|e| {
                format!("redis-server is required for the redis store (apt-get install redis-server): {e}")
            })?;
        let mut server = RedisServer { port, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "redis-server exited at start ({status}):\n{}",
                    tail(&log, 20)
                );
            }
            if server.command("PING").is_ok_and(|reply| reply == "PONG") {
                return Ok(server);
            }
            if Instant::now() > deadline {
                bail!(
                    "redis-server did not answer within 10 s:\n{}",
                    tail(&log, 20)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// One inline command on a connection of its own; the reply's text (a simple string, an
    /// integer or a bulk string).
    fn command(&self, command: &str) -> Result<String> {
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(format!("{command}\r\n").as_bytes())?;
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        let (kind, rest) = line.split_at(line.len().min(1));
        match kind {
            "+" | ":" => Ok(rest.to_string()),
            "$" => {
                let Ok(len) = usize::try_from(rest.parse::<i64>()?) else {
                    return Ok(String::new());
                };
                let mut bulk = vec![0; len + 2];
                reader.read_exact(&mut bulk)?;
                bulk.truncate(len);
                Ok(String::from_utf8_lossy(&bulk).into_owned())
            }
            _ => bail!("redis-server answered {command:?} with {line:?}"),
        }
    }

    /// Calls per command so far (`INFO commandstats`), without the bench's own.
    fn command_calls(&self) -> Result<BTreeMap<String, u64>> {
        let info = self.command("INFO commandstats")?;
        let mut calls = BTreeMap::new();
        for line in info.lines() {
            let Some((name, fields)) = line
                .strip_prefix("cmdstat_")
                .and_then(|l| l.split_once(':'))
            else {
                continue;
            };
            if matches!(name, "info" | "ping" | "dbsize") {
                continue;
            }
            if let Some(n) = fields
                .split(',')
                .find_map(|f| f.strip_prefix("calls="))
                .and_then(|n| n.parse().ok())
            {
                calls.insert(name.to_string(), n);
            }
        }
        Ok(calls)
    }
}

/// One session of the store comparison.
struct Session {
    user: String,
    /// The whole Cookie header a browser sends the app after its login.
    cookie: String,
}

/// `job(0)` to `job(n - 1)`, `concurrency` at a time (tasks, each taking a contiguous share
/// in order), within [`LOGIN_PHASE_BUDGET`]; their results, in order. `what` names them in
/// the error when they take too long.
async fn in_parallel<T, F, Fut>(n: usize, concurrency: usize, what: &str, job: F) -> Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<T>> + Send,
{
    let per_task = n.div_ceil(concurrency.max(1)).max(1);
    let mut tasks = tokio::task::JoinSet::new();
    for first in (0..n).step_by(per_task) {
        let last = (first + per_task).min(n);
        let job = job.clone();
        tasks.spawn(async move {
            let mut done = Vec::with_capacity(last - first);
            for k in first..last {
                done.push((k, job(k).await?));
            }
            Ok::<_, BoxError>(done)
        });
    }
    let mut all = Vec::with_capacity(n);
    let deadline = tokio::time::Instant::now() + LOGIN_PHASE_BUDGET;
    while let Some(joined) = tokio::time::timeout_at(deadline, tasks.join_next())
        .await
        .map_err(|_| format!("{what} took too long"))?
    {
        all.extend(joined??);
    }
    all.sort_by_key(|(k, _)| *k);
    Ok(all.into_iter().map(|(_, done)| done).collect())
}

/// `n` logins through the app, `concurrency` browsers at once, users `{prefix}{0..n}`.
async fn many_logins(
    endpoint: &Endpoint,
    n: usize,
    concurrency: usize,
    prefix: &str,
) -> Result<Vec<Session>> {
    let app_url: url::Url = format!("{}/", endpoint.url).parse()?;
    let what = format!("{}: {n} logins", endpoint.name);
    let (endpoint, prefix) = (endpoint.clone(), prefix.to_string());
    in_parallel(n, concurrency, &what, move |k| {
        let (endpoint, app_url) = (endpoint.clone(), app_url.clone());
        let user = format!("{prefix}{k}");
        async move {
            let login = login_through_app(&endpoint, &user, None).await?;
            let Some(cookie) = login.jar.cookies(&app_url) else {
                bail!("{}: no cookies after the login of {user}", endpoint.name);
            };
            Ok(Session {
                user,
                cookie: cookie.to_str()?.to_string(),
            })
        }
    })
    .await
}

/// Every session's cookie, alone, answers `/whoami` with its own user (200, no Set-Cookie).
async fn check_sessions(app: &App, sessions: &[Session]) -> Result<()> {
    let distinct: std::collections::HashSet<&str> =
        sessions.iter().map(|s| s.cookie.as_str()).collect();
    if distinct.len() != sessions.len() {
        bail!(
            "{}: {} logins gave only {} distinct cookies",
            app.name,
            sessions.len(),
            distinct.len()
        );
    }
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()?;
    for session in sessions {
        let response = http
            .get(format!("{}/whoami", app.url))
            .header("Cookie", &session.cookie)
            .header("Accept", "text/html")
            .send()
            .await?;
        let status = response.status();
        let set_cookie = response.headers().contains_key("set-cookie");
        let body = response.text().await?;
        if status != 200 || body.trim() != session.user || set_cookie {
            bail!(
                "{}: /whoami with the session of {} answered {status} {body:?}{}",
                app.name,
                session.user,
                if set_cookie { " with a Set-Cookie" } else { "" }
            );
        }
    }
    Ok(())
}

/// One route under one load shape, over the rounds.
#[derive(Debug, Default)]
struct StoreRoute {
    /// The app's CPU per request, µs, per round.
    app_us: Vec<f64>,
    /// redis-server's CPU per request, µs, per round (redis store only).
    redis_us: Vec<f64>,
    rps: Vec<f64>,
    requests: u64,
    non200: u64,
    set_cookie: u64,
    socket_errors: u64,
    first_non200: String,
    /// Sessions the load took turns with (from rotate.lua).
    sessions: u64,
    /// Redis commands during the rounds, by name.
    redis_calls: BTreeMap<String, u64>,
}

impl StoreRoute {
    fn app(&self) -> f64 {
        median(&self.app_us)
    }

    fn redis(&self) -> f64 {
        median(&self.redis_us)
    }

    fn both(&self) -> Vec<f64> {
        self.app_us
            .iter()
            .zip(self.redis_us.iter().chain(std::iter::repeat(&0.0)))
            .map(|(a, r)| a + r)
            .collect()
    }

    /// Median over the rounds of this route's CPU ÷ that of `base` in the same round: the
    /// app's alone, or the app's + Redis's.
    fn ratio(&self, base: &StoreRoute, with_redis: bool) -> f64 {
        let (mine, theirs) = if with_redis {
            (self.both(), base.both())
        } else {
            (self.app_us.clone(), base.app_us.clone())
        };
        let ratios: Vec<f64> = mine.iter().zip(&theirs).map(|(a, b)| a / b).collect();
        median(&ratios)
    }
}

#[derive(Debug)]
struct StoreFigures {
    store: Store,
    sessions: usize,
    /// Mean length of the Cookie header, bytes.
    cookie_bytes: f64,
    login_seconds: f64,
    /// The app's CPU per login during the many logins, ms.
    login_cpu_ms: f64,
    /// By index of [`STORE_SHAPES`], then route.
    shapes: Vec<BTreeMap<&'static str, StoreRoute>>,
    /// The app's VmRSS before the logins (started, discovery done).
    rss_before_logins_kb: u64,
    rss_after_logins_kb: u64,
    rss_after_load_kb: u64,
    /// redis store: keys after the logins, and redis-server's VmRSS after the load.
    redis_keys: Option<u64>,
    redis_rss_kb: Option<u64>,
    /// The most CPU that other processes used during a round, as a share of one core.
    max_other_load: f64,
    seconds: f64,
}

/// Step 8: every store of `--stores` in turn; the report's section.
async fn store_run(options: &Options, env: &Env) -> Result<String> {
    let started = Instant::now();
    eprintln!(
        "==> many users: {} sessions per store; stores {}",
        options.sessions,
        options
            .stores
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut figures = Vec::new();
    for (&store, &port) in options.stores.iter().zip(&env.store_ports) {
        figures.push(measure_store(options, env, store, port).await?);
    }
    Ok(store_report(options, &figures, started.elapsed()))
}

async fn measure_store(
    options: &Options,
    env: &Env,
    store: Store,
    port: u16,
) -> Result<StoreFigures> {
    let started = Instant::now();
    let ticks_per_second = env.ticks_per_second;
    // Declared before the app, so dropped after it: the app stops first.
    let redis = match store {
        Store::Redis => Some(RedisServer::start(&env.work_dir)?),
        _ => None,
    };
    let table = match &redis {
        Some(redis) => format!("{{store=\"redis\", redis={{url=\"{}\"}}}}", redis.url()),
        None => format!("{{store=\"{}\"}}", store.name()),
    };
    let mut app = start_rocket(
        env.quickstart()?,
        port,
        &env.provider()?.issuer,
        &env.work_dir,
        Some(&Variant {
            name: store.app_name(),
            oidc_keys: &format!(", session={table}"),
            provider_keys: "",
            log_level: "off",
        }),
    )?;
    wait_ready(&mut app, &env.http).await?;
    let pid = app.pid();
    eprintln!(
        "==> {} at {} (pid {}){}",
        app.name,
        app.url,
        pid,
        redis.as_ref().map_or(String::new(), |r| format!(
            ", redis-server at {} (pid {})",
            r.url(),
            r.pid()
        ))
    );

    // The sessions: real logins, several at a time.
    let rss_before_logins_kb = rss_kb(pid);
    let cpu_before = read_cpu(pid);
    let login_started = Instant::now();
    let sessions = many_logins(
        &app.endpoint(),
        options.sessions,
        options.login_concurrency,
        &format!("{}-user-", store.name()),
    )
    .await?;
    let login_seconds = login_started.elapsed().as_secs_f64();
    let login_cpu_s = cpu_between(&cpu_before, &read_cpu(pid), ticks_per_second).0;
    if std::env::var_os("E2E_CALLGRIND").is_some() {
        // The start and the logins, in a profile of their own.
        callgrind_control(&["-d", &format!("logins-{}", sessions.len())]);
    }
    check_sessions(&app, &sessions).await?;
    let cookie_bytes =
        sessions.iter().map(|s| s.cookie.len()).sum::<usize>() as f64 / sessions.len() as f64;
    // Named by pid: two runs at once must not send each other's cookies.
    let file = env.work_dir.join(format!(
        "sessions-{}-{}.txt",
        store.name(),
        std::process::id()
    ));
    let mut lines = String::new();
    for session in &sessions {
        lines.push_str(&session.cookie);
        lines.push('\n');
    }
    fs::write(&file, lines)?;
    let redis_keys = match &redis {
        Some(redis) => Some(redis.command("DBSIZE")?.parse()?),
        None => None,
    };
    eprintln!(
        "    {} sessions in {login_seconds:.1} s ({:.0} logins/s, {:.2} ms app CPU per login), \
         each checked on /whoami; Cookie header {cookie_bytes:.0} bytes{}",
        sessions.len(),
        sessions.len() as f64 / login_seconds,
        login_cpu_s * 1e3 / sessions.len() as f64,
        redis_keys.map_or(String::new(), |k| format!("; {k} Redis keys"))
    );
    let rss_after_logins_kb = rss_kb(pid);

    let mut figures = StoreFigures {
        store,
        sessions: sessions.len(),
        cookie_bytes,
        login_seconds,
        login_cpu_ms: login_cpu_s * 1e3 / sessions.len() as f64,
        shapes: Vec::new(),
        rss_before_logins_kb,
        rss_after_logins_kb,
        rss_after_load_kb: 0,
        redis_keys,
        redis_rss_kb: None,
        max_other_load: 0.0,
        seconds: 0.0,
    };
    let pids: Vec<u32> = std::iter::once(pid)
        .chain(redis.as_ref().map(RedisServer::pid))
        .collect();
    for (s, shape) in STORE_SHAPES.into_iter().enumerate() {
        if s > 0 {
            // A session's activity is written back once a minute; wrk keeps sending the
            // cookie it started with, so a session older than that would get a new cookie
            // on every request (a browser stores it and sends it from then on). Every load
            // shape starts with sessions fresh from their logins.
            let renewed = many_logins(
                &app.endpoint(),
                options.sessions,
                options.login_concurrency,
                &format!("{}-user-{s}-", store.name()),
            )
            .await?;
            check_sessions(&app, &renewed).await?;
            let lines: String = renewed.iter().map(|s| format!("{}\n", s.cookie)).collect();
            fs::write(&file, lines)?;
            eprintln!(
                "    {} new sessions for wrk -t{} -c{}",
                renewed.len(),
                shape.threads,
                shape.connections
            );
        }
        let mut routes: BTreeMap<&'static str, StoreRoute> = BTreeMap::new();
        if options.store_warmup_seconds > 0 {
            for route in ROUTES {
                let url = format!("{}{route}", app.url);
                let result = run_wrk(
                    shape,
                    &url,
                    Credentials::Rotate("Cookie", &file),
                    options.store_warmup_seconds,
                )?;
                if result.non200 > 0 || result.requests == 0 {
                    eprintln!(
                        "    warm-up {route}: {} of {} responses were not 200 (first: {})",
                        result.non200, result.requests, result.first_non200
                    );
                }
            }
        }
        for round in 0..options.store_rounds as usize {
            for k in 0..ROUTES.len() {
                let route = ROUTES[(round + k) % ROUTES.len()];
                let url = format!("{}{route}", app.url);
                let calls_before = redis.as_ref().map(|r| r.command_calls()).transpose()?;
                let m = measured_wrk(
                    &pids,
                    ticks_per_second,
                    shape,
                    &url,
                    Credentials::Rotate("Cookie", &file),
                    options.store_seconds,
                )?;
                let calls_after = redis.as_ref().map(|r| r.command_calls()).transpose()?;
                let (result, precise, other) = (&m.result, m.precise, m.other_load);
                figures.max_other_load = figures.max_other_load.max(other);
                let r = routes.entry(route).or_default();
                r.app_us.push(m.us(0));
                if redis.is_some() {
                    r.redis_us.push(m.us(1));
                }
                r.rps.push(m.rps());
                r.requests += result.requests;
                r.non200 += result.non200;
                r.set_cookie += result.set_cookie;
                r.socket_errors += result.socket_errors;
                r.sessions = result.sessions;
                if r.first_non200.is_empty() {
                    r.first_non200 = result.first_non200.clone();
                }
                if let (Some(b), Some(a)) = (&calls_before, &calls_after) {
                    for (name, n) in a {
                        let delta = n - b.get(name).copied().unwrap_or(0);
                        if delta > 0 {
                            *r.redis_calls.entry(name.clone()).or_default() += delta;
                        }
                    }
                }
                eprintln!(
                    "    {:<6} -t{} -c{:<3} round {} {:<7} {:>8.0} req/s  {:>6.1} µs app{}  \
                     {:.2} switches/req  non-200 {}  Set-Cookie {}  other load {:.0}% of a core{}",
                    store.name(),
                    shape.threads,
                    shape.connections,
                    round + 1,
                    route,
                    m.rps(),
                    m.us(0),
                    if redis.is_some() {
                        format!(" + {:>5.1} µs Redis", m.us(1))
                    } else {
                        String::new()
                    },
                    m.switches as f64 / result.requests.max(1) as f64,
                    result.non200,
                    result.set_cookie,
                    other * 100.0,
                    if precise { "" } else { "  (ticks)" }
                );
            }
        }
        figures.shapes.push(routes);
    }
    figures.rss_after_load_kb = rss_kb(pid);
    figures.redis_rss_kb = redis.as_ref().map(|r| rss_kb(r.pid()));
    drop(app);
    drop(redis);
    let _ = fs::remove_file(&file);
    figures.seconds = started.elapsed().as_secs_f64();
    Ok(figures)
}

fn store_report(options: &Options, figures: &[StoreFigures], took: Duration) -> String {
    let mut out = String::new();
    let max_other = figures.iter().map(|f| f.max_other_load).fold(0.0, f64::max);
    let _ = writeln!(out);
    let _ = writeln!(out, "## Many users, per session store");
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{} distinct sessions per store, each from a real login through the provider ({} at \
         a time) and checked on `/whoami`; wrk sends the next session's Cookie on every \
         request, in rotation (bench/wrk/rotate.lua); {} rounds x {} s per route and load \
         shape (after {} s of warm-up), routes alternating; medians of the rounds (ratios: \
         medians of the per-round ratios). CPU per request wrk counted: the app's own, and \
         the redis-server's own, from /proc (schedstat). The store comparison took {:.0} s ({}).",
        options.sessions,
        options.login_concurrency,
        options.store_rounds,
        options.store_seconds,
        options.store_warmup_seconds,
        took.as_secs_f64(),
        figures
            .iter()
            .map(|f| format!("{} {:.0} s", f.store.name(), f.seconds))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(out, "{}", load_note(max_other));
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| store | sessions | Cookie header | logins: time, rate, app CPU per login | app RSS \
         before / after the logins / after the load (the growth per session) | Redis: keys, RSS | Redis commands per request | other \
         processes, most in a round |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for f in figures {
        let redis = match (f.redis_keys, f.redis_rss_kb) {
            (Some(keys), Some(rss)) => format!("{keys} keys, {}", mb(rss)),
            _ => "–".into(),
        };
        let mut commands = Vec::new();
        for route in ROUTES {
            let (mut requests, mut calls) = (0, BTreeMap::<&str, u64>::new());
            for shape in &f.shapes {
                if let Some(r) = shape.get(route) {
                    requests += r.requests;
                    for (name, n) in &r.redis_calls {
                        *calls.entry(name).or_default() += n;
                    }
                }
            }
            let listed: Vec<String> = calls
                .iter()
                .map(|(name, n)| (name, *n as f64 / requests.max(1) as f64))
                .filter(|(_, per)| *per >= 0.005)
                .map(|(name, per)| format!("{} {per:.2}", name.to_uppercase()))
                .collect();
            if !listed.is_empty() {
                commands.push(format!("`{route}`: {}", listed.join(", ")));
            }
        }
        let commands = if f.store == Store::Redis {
            if commands.is_empty() {
                "none".to_string()
            } else {
                commands.join("; ")
            }
        } else {
            "–".to_string()
        };
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} bytes | {:.1} s, {:.0}/s, {} | {} / {} / {} ({:.1} KB per \
             session) | {redis} | {commands} | {:.0}% of a core |",
            f.store.name(),
            f.sessions,
            f.cookie_bytes,
            f.login_seconds,
            f.sessions as f64 / f.login_seconds,
            ms(f.login_cpu_ms),
            mb(f.rss_before_logins_kb),
            mb(f.rss_after_logins_kb),
            mb(f.rss_after_load_kb),
            f.rss_after_logins_kb.saturating_sub(f.rss_before_logins_kb) as f64
                / f.sessions.max(1) as f64,
            f.max_other_load * 100.0
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| store | wrk | req/s `/` · `/whoami` · `/login` | app CPU `/` | app CPU `/whoami` \
         (× `/`) | app CPU `/login` (× `/`) | Redis CPU `/` · `/whoami` · `/login` | app + \
         Redis `/whoami` (× `/`) | app + Redis `/login` (× `/`) | non-200 · Set-Cookie · \
         socket errors |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
    for (s, shape) in STORE_SHAPES.iter().enumerate() {
        for f in figures {
            let Some(routes) = f.shapes.get(s) else {
                continue;
            };
            let empty = StoreRoute::default();
            let get = |route: &str| routes.get(route).unwrap_or(&empty);
            let (root, whoami, login) = (get("/"), get("/whoami"), get("/login"));
            let redis = f.store == Store::Redis;
            let app_cell =
                |r: &StoreRoute| format!("{} ({:.2}×)", us(r.app()), r.ratio(root, false));
            let both_cell = |r: &StoreRoute| {
                if redis {
                    format!("{} ({:.2}×)", us(median(&r.both())), r.ratio(root, true))
                } else {
                    "–".into()
                }
            };
            let redis_cell = if redis {
                format!(
                    "{} · {} · {}",
                    us(root.redis()),
                    us(whoami.redis()),
                    us(login.redis())
                )
            } else {
                "–".into()
            };
            let (requests, non200, set_cookie, errors) =
                [root, whoami, login]
                    .iter()
                    .fold((0, 0, 0, 0), |(t, n, c, e), r| {
                        (
                            t + r.requests,
                            n + r.non200,
                            c + r.set_cookie,
                            e + r.socket_errors,
                        )
                    });
            let first_bad = [root, whoami, login]
                .iter()
                .map(|r| r.first_non200.as_str())
                .find(|b| !b.is_empty())
                .map_or(String::new(), |b| format!(" (first: {b})"));
            let _ = writeln!(
                out,
                "| {} | -t{} -c{} | {:.0} · {:.0} · {:.0} | {} | {} | {} | {redis_cell} | {} | {} \
                 | {non200} · {set_cookie} · {errors} of {requests}{first_bad} |",
                f.store.name(),
                shape.threads,
                shape.connections,
                median(&root.rps),
                median(&whoami.rps),
                median(&login.rps),
                us(root.app()),
                app_cell(whoami),
                app_cell(login),
                both_cell(whoami),
                both_cell(login),
            );
        }
    }
    let sessions_used: Vec<String> = figures
        .iter()
        .filter_map(|f| {
            let r = f.shapes.first()?.get("/whoami")?;
            Some(format!(
                "{} {} sessions, each {:.0} times per round",
                f.store.name(),
                r.sessions,
                r.requests as f64 / options.store_rounds as f64 / r.sessions.max(1) as f64
            ))
        })
        .collect();
    let _ = writeln!(
        out,
        "\nSessions wrk took turns with on `/whoami` (-t1 -c16): {}.",
        sessions_used.join("; ")
    );
    out
}

// ---------------------------------------------------------------------------------------
// Bearer tokens (--bearer)
// ---------------------------------------------------------------------------------------

/// How the API checks bearer tokens in one setup of the bearer run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Validation {
    /// JWT access tokens (RFC 9068, RS256), checked locally against the provider's keys.
    Jwt,
    /// Opaque tokens, by introspection (RFC 7662), each answer kept
    /// [`INTROSPECTION_CACHE_SECONDS`].
    Introspection,
}

const BEARER_SETUPS: [Validation; 2] = [Validation::Jwt, Validation::Introspection];
/// Longer than the run: no kept answer expires during it.
const INTROSPECTION_CACHE_SECONDS: u64 = 600;
const INTROSPECTION: &str = "/token/introspection";
/// The client that gets tokens for the API by the client credentials grant.
const CALLER_ID: &str = "bench-caller";
const CALLER_SECRET: &str = "bench-caller-secret";
/// The guarded route, and its load with the many tokens in rotation.
const ME: &str = "/api/me";
const ME_MANY: &str = "/api/me, many tokens";

impl Validation {
    /// The provider's `OP_RESOURCE_FORMAT`.
    fn token_format(self) -> &'static str {
        match self {
            Validation::Jwt => "jwt",
            Validation::Introspection => "opaque",
        }
    }

    /// The app's `access_token_validation`.
    fn config(self) -> &'static str {
        match self {
            Validation::Jwt => "jwt",
            Validation::Introspection => "introspection",
        }
    }

    fn app_name(self) -> &'static str {
        match self {
            Validation::Jwt => "rocket_oidc_auth API, JWT",
            Validation::Introspection => "rocket_oidc_auth API, introspection",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Validation::Jwt => "JWT (RS256), checked locally",
            Validation::Introspection => "opaque, introspection kept 600 s",
        }
    }
}

/// One pass over the many tokens, each sent once to `/api/me`.
#[derive(Debug, Default)]
struct TokenPass {
    /// The app's CPU per request, µs.
    cpu_us: f64,
    precise: bool,
    latency_ms: Vec<f64>,
    seconds: f64,
    introspections: u64,
}

#[derive(Debug)]
struct BearerFigures {
    validation: Validation,
    /// `/`, [`ME`] with the one token and, with `--tokens`, [`ME_MANY`].
    routes: BTreeMap<&'static str, RouteSamples>,
    token_bytes: usize,
    /// Introspection requests of the check of the one token (its first request).
    check_introspections: u64,
    /// Provider requests during the warm-up and the rounds.
    load_introspections: u64,
    load_jwks: u64,
    /// `--tokens`: their number, how long getting them took, and the first and the second
    /// request with each.
    tokens: usize,
    tokens_seconds: f64,
    passes: Option<[TokenPass; 2]>,
    /// JWT: ring's RS256 verification of the one token in this process, µs.
    rs256_us: Option<f64>,
    rss_after_load_kb: u64,
    max_other_load: f64,
    seconds: f64,
}

impl BearerFigures {
    /// Median over the rounds of `load`'s CPU per request minus that of `/` in the same
    /// round, µs.
    fn extra_us(&self, load: &str) -> f64 {
        let (Some(r), Some(base)) = (self.routes.get(load), self.routes.get("/")) else {
            return f64::NAN;
        };
        let extra: Vec<f64> = r
            .cpu_us
            .iter()
            .zip(&base.cpu_us)
            .map(|(a, b)| a - b)
            .collect();
        median(&extra)
    }
}

/// A token for `resource` from the client credentials grant of [`CALLER_ID`].
async fn caller_token(http: &reqwest::Client, issuer: &str, resource: &str) -> Result<String> {
    let response = http
        .post(format!("{issuer}{TOKEN}"))
        .basic_auth(CALLER_ID, Some(CALLER_SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "read"),
            ("resource", resource),
        ])
        .send()
        .await?;
    let status = response.status();
    let body = response.text().await?;
    let token = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["access_token"].as_str().map(str::to_string));
    match token {
        Some(token) if status == 200 => Ok(token),
        _ => bail!("the client credentials grant answered {status}: {body}"),
    }
}

/// `GET /api/me` with `token` (`None`: no Authorization header): the status and the body.
async fn get_me(client: &reqwest::Client, url: &str, token: Option<&str>) -> Result<(u16, String)> {
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}

/// `/api/me`'s answer to a token of [`CALLER_ID`]'s must be a 200 naming that client.
fn check_me(app: &str, status: u16, body: &str) -> Result<()> {
    let client_id = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["client_id"].as_str().map(str::to_string));
    if status != 200 || client_id.as_deref() != Some(CALLER_ID) {
        bail!("{app}: {ME} with a token of {CALLER_ID} answered {status}: {body}");
    }
    Ok(())
}

/// Each token once to `/api/me`, `concurrency` at a time on kept-alive connections: the
/// app's CPU per request, each request's latency and the provider's introspections; every
/// answer checked.
async fn token_pass(
    app: &App,
    provider: &Provider,
    http: &reqwest::Client,
    tokens: &Arc<Vec<String>>,
    concurrency: usize,
    ticks_per_second: u64,
) -> Result<TokenPass> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()?;
    let (url, name) = (format!("{}{ME}", app.url), app.name);
    let what = format!("{name}: {} requests to {ME}", tokens.len());
    let hits_before = provider.hits(http).await?;
    let cpu_before = read_cpu(app.pid());
    let started = Instant::now();
    let tokens = tokens.clone();
    let latency_ms = in_parallel(tokens.len(), concurrency, &what, move |k| {
        let (client, url, tokens) = (client.clone(), url.clone(), tokens.clone());
        async move {
            let start = Instant::now();
            let (status, body) = get_me(&client, &url, Some(&tokens[k])).await?;
            let ms = start.elapsed().as_secs_f64() * 1e3;
            check_me(name, status, &body)?;
            Ok(ms)
        }
    })
    .await
    .map_err(|e| format!("{e}\n{}", tail(&app.log, 20)))?;
    let seconds = started.elapsed().as_secs_f64();
    let (cpu_s, precise) = cpu_between(&cpu_before, &read_cpu(app.pid()), ticks_per_second);
    let hits_after = provider.hits(http).await?;
    Ok(TokenPass {
        cpu_us: cpu_s * 1e6 / latency_ms.len().max(1) as f64,
        precise,
        latency_ms,
        seconds,
        introspections: hit_delta(&hits_before, &hits_after, INTROSPECTION),
    })
}

/// ring's RS256 verification of `jwt` against the provider's key, in this process: the
/// median of 5 means of 400, µs. What a local check cannot do without.
async fn rs256_verify_us(http: &reqwest::Client, issuer: &str, jwt: &str) -> Result<f64> {
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header_b64, payload_b64, signature_b64] = parts[..] else {
        bail!("the JWT access token has {} parts, not 3", parts.len());
    };
    let header: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header_b64)?)?;
    if header["alg"] != "RS256" {
        bail!(
            "the JWT access token is signed with {}, not RS256",
            header["alg"]
        );
    }
    let jwks: serde_json::Value = http
        .get(format!("{issuer}{JWKS}"))
        .send()
        .await?
        .json()
        .await?;
    let Some(key) = jwks["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == header["kid"]))
    else {
        bail!("no key {} in the provider's JWKS", header["kid"]);
    };
    let component = |name: &str| -> Result<Vec<u8>> {
        let value = key[name].as_str().ok_or("an RSA key without n or e")?;
        Ok(URL_SAFE_NO_PAD.decode(value)?)
    };
    let public = ring::signature::RsaPublicKeyComponents {
        n: component("n")?,
        e: component("e")?,
    };
    let message = format!("{header_b64}.{payload_b64}");
    let signature = URL_SAFE_NO_PAD.decode(signature_b64)?;
    let verify = || {
        public.verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            message.as_bytes(),
            &signature,
        )
    };
    verify().map_err(|_| "the JWT access token's signature does not verify")?;
    let mut means = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        for _ in 0..400 {
            std::hint::black_box(verify()).ok();
        }
        means.push(started.elapsed().as_secs_f64() * 1e6 / 400.0);
    }
    Ok(median(&means))
}

/// Step 9: every bearer setup in turn; the report's section and whether every target was met.
async fn bearer_run(options: &Options, env: &Env) -> Result<(String, bool)> {
    let started = Instant::now();
    let api = env.api.as_deref().ok_or("no api binary")?;
    eprintln!(
        "==> bearer tokens: {}; {} tokens in rotation",
        BEARER_SETUPS.map(Validation::label).join(", "),
        options.tokens
    );
    let mut figures = Vec::new();
    for (&validation, &port) in BEARER_SETUPS.iter().zip(&env.bearer_ports) {
        figures.push(measure_bearer(options, env, api, validation, port).await?);
    }
    Ok(bearer_report(options, &figures, started.elapsed()))
}

async fn measure_bearer(
    options: &Options,
    env: &Env,
    api: &Path,
    validation: Validation,
    port: u16,
) -> Result<BearerFigures> {
    let started = Instant::now();
    let (http, ticks_per_second) = (&env.http, env.ticks_per_second);
    let origin = format!("http://127.0.0.1:{port}");
    // The API as the provider's resource server: its tokens name it in `aud`.
    let resource = format!("{origin}/api");
    let clients = serde_json::json!([
        client_registration(&[origin], "rocket-app", "rocket-secret"),
        {
            "client_id": CALLER_ID,
            "client_secret": CALLER_SECRET,
            "grant_types": ["client_credentials"],
            "response_types": [],
            "redirect_uris": [],
        },
    ]);
    // Declared before the app, so dropped after it: the app stops first.
    let provider = Provider::start(
        &clients,
        &[
            ("OP_RESOURCE", &resource),
            ("OP_RESOURCE_FORMAT", validation.token_format()),
        ],
        &env.work_dir.join(format!("op-{}.log", validation.config())),
    )?;
    let provider_keys = format!(
        ", access_token_validation=\"{}\", access_token_audience=\"{resource}\", \
         introspection_cache_seconds={INTROSPECTION_CACHE_SECONDS}",
        validation.config()
    );
    let mut app = start_rocket(
        api,
        port,
        &provider.issuer,
        &env.work_dir,
        Some(&Variant {
            name: validation.app_name(),
            oidc_keys: "",
            provider_keys: &provider_keys,
            // Only failures log: the load sees none, the checks say why.
            log_level: "critical",
        }),
    )?;
    wait_ready(&mut app, http).await?;
    let pid = app.pid();
    eprintln!(
        "==> {} at {} (pid {}), its provider at {} (OP_RESOURCE_FORMAT={})",
        app.name,
        app.url,
        pid,
        provider.issuer,
        validation.token_format()
    );

    // The one token: the guard refuses a request without it and takes it, at the cost of one
    // introspection (none for a JWT).
    let token = caller_token(http, &provider.issuer, &resource).await?;
    if (token.split('.').count() == 3) != (validation == Validation::Jwt) {
        bail!(
            "the provider (OP_RESOURCE_FORMAT={}) issued {token:?}",
            validation.token_format()
        );
    }
    let me_url = format!("{}{ME}", app.url);
    let (status, body) = get_me(http, &me_url, None).await?;
    if status != 401 {
        bail!(
            "{}: {ME} without a token answered {status}: {body}",
            app.name
        );
    }
    let before = provider.hits(http).await?;
    let (status, body) = get_me(http, &me_url, Some(&token)).await?;
    check_me(app.name, status, &body).map_err(|e| format!("{e}\n{}", tail(&app.log, 20)))?;
    let check_introspections = hit_delta(&before, &provider.hits(http).await?, INTROSPECTION);
    let rs256_us = match validation {
        Validation::Jwt => Some(rs256_verify_us(http, &provider.issuer, &token).await?),
        Validation::Introspection => None,
    };

    // The many tokens: each sent once (a cache miss: an introspection) and once again (a
    // hit); a file of their Authorization headers for wrk.
    let mut passes = None;
    let mut tokens_file = None;
    let mut tokens_seconds = 0.0;
    if options.tokens > 0 {
        let fetch_started = Instant::now();
        let tokens = {
            let (http, issuer, resource) =
                (http.clone(), provider.issuer.clone(), resource.clone());
            in_parallel(
                options.tokens,
                options.login_concurrency,
                "the client credentials grants",
                move |_| {
                    let (http, issuer, resource) = (http.clone(), issuer.clone(), resource.clone());
                    async move { caller_token(&http, &issuer, &resource).await }
                },
            )
            .await?
        };
        tokens_seconds = fetch_started.elapsed().as_secs_f64();
        let distinct: std::collections::HashSet<&String> = tokens.iter().collect();
        if distinct.len() != tokens.len() {
            bail!(
                "{} client credentials grants gave only {} distinct tokens",
                tokens.len(),
                distinct.len()
            );
        }
        let tokens = Arc::new(tokens);
        let pass = || {
            token_pass(
                &app,
                &provider,
                http,
                &tokens,
                options.connections as usize,
                ticks_per_second,
            )
        };
        let (first, second) = (pass().await?, pass().await?);
        for (n, p) in [("first", &first), ("second", &second)] {
            eprintln!(
                "    {} tokens, the {n} request of each: {:.1} µs app CPU/req{}, latency median \
                 {:.2} ms, {} introspections, {:.1} s",
                tokens.len(),
                p.cpu_us,
                if p.precise { "" } else { " (ticks)" },
                median(&p.latency_ms),
                p.introspections,
                p.seconds
            );
        }
        passes = Some([first, second]);
        // Named by pid: two runs at once must not send each other's tokens.
        let file = env.work_dir.join(format!(
            "tokens-{}-{}.txt",
            validation.config(),
            std::process::id()
        ));
        let lines: String = tokens.iter().map(|t| format!("Bearer {t}\n")).collect();
        fs::write(&file, lines)?;
        tokens_file = Some(file);
    }

    // Load: `/` with no header, `/api/me` with the one token, and with the many in turn.
    let bearer = format!("Bearer {token}");
    let mut loads = vec![
        ("/", "/", Credentials::None),
        (ME, ME, Credentials::One("Authorization", &bearer)),
    ];
    if let Some(file) = &tokens_file {
        loads.push((ME_MANY, ME, Credentials::Rotate("Authorization", file)));
    }
    let hits_before = provider.hits(http).await?;
    if options.bearer_warmup_seconds > 0 {
        for &(_, path, credentials) in &loads {
            let url = format!("{}{path}", app.url);
            let seconds = options.bearer_warmup_seconds;
            warm_up(app.name, options.shape(), &url, credentials, seconds)?;
        }
    }
    let mut routes: BTreeMap<&'static str, RouteSamples> = BTreeMap::new();
    let mut max_other_load: f64 = 0.0;
    for round in 0..options.bearer_rounds as usize {
        for k in 0..loads.len() {
            // Rotate the order so that no load always runs first.
            let (name, path, credentials) = loads[(round + k) % loads.len()];
            let m = measured_wrk(
                &[pid],
                ticks_per_second,
                options.shape(),
                &format!("{}{path}", app.url),
                credentials,
                options.bearer_seconds,
            )?;
            max_other_load = max_other_load.max(m.other_load);
            eprintln!(
                "    round {} {:<12} {:<20} {:>8.0} req/s  {:>6.1} µs CPU/req  non-200 {}  other \
                 load {:.0}% of a core{}",
                round + 1,
                validation.token_format(),
                name,
                m.rps(),
                m.us(0),
                m.result.non200,
                m.other_load * 100.0,
                if m.precise { "" } else { "  (ticks)" }
            );
            routes.entry(name).or_default().add(&m);
        }
    }
    let hits_after = provider.hits(http).await?;
    let rss_after_load_kb = rss_kb(pid);
    drop(app);
    drop(provider);
    if let Some(file) = &tokens_file {
        let _ = fs::remove_file(file);
    }
    Ok(BearerFigures {
        validation,
        routes,
        token_bytes: token.len(),
        check_introspections,
        load_introspections: hit_delta(&hits_before, &hits_after, INTROSPECTION),
        load_jwks: hit_delta(&hits_before, &hits_after, JWKS),
        tokens: options.tokens,
        tokens_seconds,
        passes,
        rs256_us,
        rss_after_load_kb,
        max_other_load,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn bearer_report(options: &Options, figures: &[BearerFigures], took: Duration) -> (String, bool) {
    let mut out = String::new();
    let max_other = figures.iter().map(|f| f.max_other_load).fold(0.0, f64::max);
    let many = options.tokens > 0;
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "## Bearer tokens: `/api/me` next to `/` (examples/api.rs)"
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Per setup, a provider of its own with the app as its resource server and the app \
         (release); tokens by the client credentials grant (scope `read`, `resource` = the \
         API), checked on `/api/me`. wrk -t{} -c{} on `/` (no header), `/api/me` with one token \
         (`Authorization: Bearer`){}; {} rounds x {} s per load (after {} s of warm-up), loads \
         alternating; the app's own CPU (schedstat) per request wrk counted; medians of the \
         rounds (ratios: medians of the per-round ratios). The bearer part took {:.0} s ({}).",
        options.wrk_threads,
        options.connections,
        if many {
            format!(
                " and with {} distinct tokens, the next one on every request \
                 (bench/wrk/rotate.lua)",
                options.tokens
            )
        } else {
            String::new()
        },
        options.bearer_rounds,
        options.bearer_seconds,
        options.bearer_warmup_seconds,
        took.as_secs_f64(),
        figures
            .iter()
            .map(|f| format!("{} {:.0} s", f.validation.token_format(), f.seconds))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(out, "{}", load_note(max_other));
    let _ = writeln!(out);
    let many_head = if many {
        format!(
            " | app CPU `/api/me`, {} tokens in rotation (× `/`)",
            options.tokens
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "| setup | token | req/s {} | app CPU `/` | app CPU `/api/me`, one token (× `/`){many_head} \
         | introspections: the check · the load | JWKS fetches in the load | non-200 · socket \
         errors | app RSS after the load |",
        if many {
            "`/` · `/api/me` · rotation"
        } else {
            "`/` · `/api/me`"
        }
    );
    let _ = writeln!(
        out,
        "|---|---|---|---|---|{}---|---|---|---|",
        if many { "---|" } else { "" }
    );
    let empty = RouteSamples::default();
    for f in figures {
        let get = |load: &str| f.routes.get(load).unwrap_or(&empty);
        let cpu = |load: &str| us(median(&get(load).cpu_us));
        let cell = |load: &str| format!("{} ({:.2}×)", cpu(load), ratio(&f.routes, load, "/"));
        let mut rps = vec![
            format!("{:.0}", median(&get("/").rps)),
            format!("{:.0}", median(&get(ME).rps)),
        ];
        let mut many_cell = String::new();
        if many {
            rps.push(format!("{:.0}", median(&get(ME_MANY).rps)));
            many_cell = format!(" | {}", cell(ME_MANY));
        }
        let (requests, non200, errors) = f.routes.values().fold((0, 0, 0), |(t, n, e), r| {
            (t + r.requests, n + r.non200, e + r.socket_errors)
        });
        let first_bad = f
            .routes
            .values()
            .map(|r| r.first_non200.as_str())
            .find(|b| !b.is_empty())
            .map_or(String::new(), |b| format!(" (first: {b})"));
        let _ = writeln!(
            out,
            "| {} | {} bytes | {} | {} | {}{many_cell} | {} · {} | {} | {non200} · {errors} of \
             {requests}{first_bad} | {} |",
            f.validation.label(),
            f.token_bytes,
            rps.join(" · "),
            cpu("/"),
            cell(ME),
            f.check_introspections,
            f.load_introspections,
            f.load_jwks,
            mb(f.rss_after_load_kb)
        );
    }
    let extras: Vec<String> = figures
        .iter()
        .map(|f| format!("{} {}", f.validation.label(), us(f.extra_us(ME))))
        .collect();
    let _ = writeln!(
        out,
        "\n`/api/me` − `/` (median of the rounds), one token: {}. ring's RS256 verification of the \
         JWT in this process (the part of a local check none can skip): {}.",
        extras.join("; "),
        us(figures
            .iter()
            .find_map(|f| f.rs256_us)
            .unwrap_or(f64::NAN))
    );
    if many {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "| setup | {} new tokens (got in) | first request of each: app CPU, latency median / \
             p90, introspections | second request of each: the same | the first costs more |",
            options.tokens
        );
        let _ = writeln!(out, "|---|---|---|---|---|");
        for f in figures {
            let Some([first, second]) = &f.passes else {
                continue;
            };
            let pass = |p: &TokenPass| {
                format!(
                    "{}{}, {} / {}, {}",
                    us(p.cpu_us),
                    if p.precise { "" } else { " (ticks)" },
                    ms(median(&p.latency_ms)),
                    ms(percentile(&p.latency_ms, 90.0)),
                    p.introspections
                )
            };
            let _ = writeln!(
                out,
                "| {} | {:.1} s | {} | {} | {} app CPU, {} latency |",
                f.validation.label(),
                f.tokens_seconds,
                pass(first),
                pass(second),
                us(first.cpu_us - second.cpu_us),
                ms(median(&first.latency_ms) - median(&second.latency_ms))
            );
        }
        let _ = writeln!(
            out,
            "\nThe passes send each token to `/api/me` once, {} at a time on kept-alive \
             connections (this process's HTTP client, not wrk).",
            options.connections
        );
    }

    // Targets (issue 13).
    let mut all = true;
    let mut lines = vec![String::new()];
    let mut target = |ok: bool, what: String| {
        all &= ok;
        lines.push(format!("{}  {what}", if ok { "PASS" } else { "MISS" }));
    };
    for f in figures {
        match f.validation {
            Validation::Introspection => {
                let mut loads = vec![(ME, "one token")];
                if many {
                    loads.push((ME_MANY, "tokens in rotation"));
                }
                for (load, what) in loads {
                    let x = ratio(&f.routes, load, "/");
                    target(
                        x <= 1.5,
                        format!(
                            "/api/me with a kept introspection answer ({what}) ≤ 1.5× the CPU \
                             of /: {x:.2}×"
                        ),
                    );
                }
                let (check, load) = (f.check_introspections, f.load_introspections);
                target(
                    check + load <= 1,
                    format!(
                        "at most one introspection for the one token, its check and the whole \
                         wrk run: {check} at the check, {load} during the load"
                    ),
                );
                if let Some([first, second]) = &f.passes {
                    let n = f.tokens as u64;
                    target(
                        first.introspections == n && second.introspections == 0,
                        format!(
                            "each of {n} new tokens introspected once, then never again: \
                             {} on the first requests, {} on the second, {load} during the load",
                            first.introspections, second.introspections
                        ),
                    );
                }
            }
            Validation::Jwt => {
                // The signature is the part no JWT check can skip; the rest (the b64token
                // scan, base64url, two small JSON documents, the claim checks) may cost as
                // much again, no more.
                let verify = f.rs256_us.unwrap_or(f64::NAN);
                let extra = f.extra_us(ME);
                target(
                    extra <= 2.0 * verify,
                    format!(
                        "/api/me with a local JWT check ≤ / + 2× one RS256 verification (ring, \
                         in this process: {verify:.1} µs): / + {extra:.1} µs, {:.2}× the \
                         verification",
                        extra / verify
                    ),
                );
                target(
                    f.check_introspections + f.load_introspections == 0 && f.load_jwks == 0,
                    format!(
                        "no provider request for a JWT: {} introspections, {} JWKS fetches \
                         during the load",
                        f.check_introspections + f.load_introspections,
                        f.load_jwks
                    ),
                );
            }
        }
        let non200: u64 = f.routes.values().map(|r| r.non200).sum();
        target(
            non200 == 0,
            format!(
                "{}: every response under load was a 200: {non200} were not",
                f.validation.label()
            ),
        );
    }
    for line in lines {
        let _ = writeln!(out, "{line}");
    }
    (out, all)
}

// ---------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------

fn us(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else if v >= 100.0 {
        format!("{v:.0} µs")
    } else {
        format!("{v:.1} µs")
    }
}

fn ms(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else {
        format!("{v:.2} ms")
    }
}

fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

/// The load average now, and `max_other`: the most CPU other processes used in a round, as a
/// share of one core.
fn load_note(max_other: f64) -> String {
    format!(
        "Load average (1 min) at the end: {}. Other processes during these rounds: at most \
         {:.0}% of a core{}",
        loadavg(),
        max_other * 100.0,
        if max_other > 0.1 {
            " (more than 10%: the figures are disturbed, rerun on a quiet machine)"
        } else {
            ""
        }
    )
}

/// The one-cookie run's table and targets, and whether every target was met.
fn report(options: &Options, subjects: &[Subject], provider_only_ms: &[f64]) -> (String, bool) {
    let mut out = String::new();
    let columns: Vec<&str> = subjects.iter().map(|s| s.app.name).collect();
    let _ = writeln!(
        out,
        "Load average (1 min) of the whole machine: {} at the start, {} at the end",
        options.loadavg_at_start,
        loadavg()
    );
    let _ = writeln!(
        out,
        "Other processes during the load rounds: at most {:.0}% of a core{}",
        options.max_other_load * 100.0,
        if options.max_other_load > 0.1 {
            " (more than 10%: the figures are disturbed, rerun on a quiet machine)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "Load: wrk -t{} -c{}, {} rounds x {} s per route, routes alternating; CPU = the app's \
         own (utime+stime / schedstat from /proc), per request wrk counted; medians of the rounds \
         (ratios: medians of the per-round ratios).",
        options.wrk_threads, options.connections, options.rounds, options.seconds
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "| figure | {} |", columns.join(" | "));
    let _ = writeln!(out, "|---|{}", "---|".repeat(columns.len()));
    let row = |out: &mut String, name: &str, cell: &dyn Fn(&Subject) -> String| {
        let cells: Vec<String> = subjects.iter().map(cell).collect();
        let _ = writeln!(out, "| {name} | {} |", cells.join(" | "));
    };
    for route in ROUTES {
        row(&mut out, &format!("throughput `GET {route}`"), &|s| {
            format!("{:.0} req/s", s.figures.rps(route))
        });
    }
    row(&mut out, "CPU per request `GET /` (public)", &|s| {
        us(s.figures.cpu("/"))
    });
    row(
        &mut out,
        "CPU per request `GET /whoami` (guard only)",
        &|s| {
            let f = &s.figures;
            format!("{} ({:.2}×)", us(f.cpu("/whoami")), f.ratio("/whoami"))
        },
    );
    row(
        &mut out,
        "CPU per request `GET /login` (guard + token JSON)",
        &|s| {
            let f = &s.figures;
            format!("{} ({:.2}×)", us(f.cpu("/login")), f.ratio("/login"))
        },
    );
    row(&mut out, "non-200 responses under load", &|s| {
        let (n, t, e) = s.figures.routes.values().fold((0, 0, 0), |(n, t, e), r| {
            (n + r.non200, t + r.requests, e + r.socket_errors)
        });
        format!("{n} of {t} (socket errors: {e})")
    });
    row(
        &mut out,
        &format!(
            "app CPU per full login (all its hops), {} logins at a time",
            options.login_concurrency
        ),
        &|s| {
            let l = &s.figures.concurrent;
            format!(
                "{}{} ({:.0} logins/s)",
                ms(l.cpu_per_login_ms),
                if l.precise { "" } else { " (10 ms ticks)" },
                l.logins_per_s
            )
        },
    );
    row(&mut out, "app CPU per full login, one at a time", &|s| {
        let l = &s.figures.logins;
        format!(
            "{}{}",
            ms(l.cpu_per_login_ms),
            if l.precise { "" } else { " (10 ms ticks)" }
        )
    });
    row(
        &mut out,
        "… of which the redirect / the callback / the final page",
        &|s| {
            let (h, w) = (s.figures.logins.hop_us, s.figures.logins.hop_wakeups);
            format!(
                "{} / {} / {} ({:.1} / {:.1} / {:.1} thread wake-ups)",
                us(h[0]),
                us(h[1]),
                us(h[2]),
                w[0],
                w[1],
                w[2]
            )
        },
    );
    row(
        &mut out,
        "for scale: an isolated `GET /`, on a new / a kept-alive connection",
        &|s| {
            let (first, again) = s.figures.logins.isolated_us;
            format!("{} / {}", us(first), us(again))
        },
    );
    row(
        &mut out,
        "login latency through the app, median / p90",
        &|s| {
            let l = &s.figures.logins.app_ms;
            format!("{} / {}", ms(median(l)), ms(percentile(l, 90.0)))
        },
    );
    row(
        &mut out,
        "provider front channel + token request alone, median / p90",
        &|_| {
            format!(
                "{} / {}",
                ms(median(provider_only_ms)),
                ms(percentile(provider_only_ms, 90.0))
            )
        },
    );
    row(
        &mut out,
        "latency the app adds per login (difference of medians)",
        &|s| ms(median(&s.figures.logins.app_ms) - median(provider_only_ms)),
    );
    row(
        &mut out,
        "discovery / JWKS fetches from start through the first login",
        &|s| {
            format!(
                "{} / {}",
                s.figures.first_login_discovery, s.figures.first_login_jwks
            )
        },
    );
    row(
        &mut out,
        "discovery / JWKS fetches in the logins after it",
        &|s| {
            let (n, discovery, jwks, _, _) = s.figures.hits();
            format!("{discovery} / {jwks} in {n} logins")
        },
    );
    row(&mut out, "token / userinfo requests per login", &|s| {
        let (n, _, _, token, userinfo) = s.figures.hits();
        let n = n.max(1) as f64;
        format!("{:.2} / {:.2}", token as f64 / n, userinfo as f64 / n)
    });
    row(
        &mut out,
        "Set-Cookie on protected responses, unchanged session",
        &|s| {
            let (seen, total) = s.figures.protected_set_cookie();
            format!("{seen} of {total}")
        },
    );
    row(&mut out, "session cookie size", &|s| {
        format!("{} bytes", s.figures.session_cookie_bytes)
    });
    row(&mut out, "resident memory after the load (VmRSS)", &|s| {
        let extra = if s.app.kind == Kind::Flask {
            " (master + 2 workers)"
        } else {
            ""
        };
        format!("{}{extra}", mb(s.figures.rss_after_load_kb))
    });
    row(&mut out, "resident memory after the logins", &|s| {
        mb(s.figures.rss_after_logins_kb)
    });
    // Targets (issue 6), for this crate only.
    let f = &subjects[0].figures;
    let mut all = true;
    let mut lines = vec![String::new()];
    let mut target = |ok: bool, what: String| {
        all &= ok;
        lines.push(format!("{}  {what}", if ok { "PASS" } else { "MISS" }));
    };
    let over = |value: f64, limit: f64| {
        if value > limit {
            format!(", {:.0}% over", (value / limit - 1.0) * 100.0)
        } else {
            String::new()
        }
    };
    let whoami = f.ratio("/whoami");
    target(
        whoami <= 1.25,
        format!("/whoami CPU ≤ 1.25× /: {whoami:.2}×{}", over(whoami, 1.25)),
    );
    let login = f.ratio("/login");
    target(
        login <= 1.6,
        format!("/login CPU ≤ 1.6× /: {login:.2}×{}", over(login, 1.6)),
    );
    let busy = f.concurrent.cpu_per_login_ms;
    target(
        busy <= 1.0,
        format!(
            "app CPU per full login ≤ 1 ms, {} logins at a time (the app busy, as under the \
             load): {busy:.2} ms{}",
            options.login_concurrency,
            over(busy, 1.0)
        ),
    );
    let alone = f.logins.cpu_per_login_ms;
    target(
        alone <= 1.0,
        format!(
            "app CPU per full login ≤ 1 ms, one at a time (every hop wakes an idle app): \
             {alone:.2} ms{}",
            over(alone, 1.0)
        ),
    );
    let (n, discovery, jwks, token, userinfo) = f.hits();
    target(
        discovery == 0 && jwks == 0,
        format!(
            "no discovery or JWKS request per login after the first: {discovery} discovery, \
             {jwks} JWKS in {n} logins"
        ),
    );
    target(
        token == n && userinfo <= n,
        format!(
            "one token request and at most one userinfo request per login: {token} token, \
             {userinfo} userinfo in {n} logins"
        ),
    );
    let (seen, total) = f.protected_set_cookie();
    target(
        seen == 0 && f.callback_sets_cookie,
        format!(
            "no Set-Cookie on a protected response with an unchanged session: {seen} of {total} \
             (the login callback, which changes it, {} one)",
            if f.callback_sets_cookie {
                "sets"
            } else {
                "did NOT set"
            }
        ),
    );
    let rss = f.rss_after_load_kb as f64 / 1024.0;
    target(
        rss < 30.0,
        format!(
            "app RSS < 30 MB after the load: {rss:.1} MB{}",
            over(rss, 30.0)
        ),
    );
    let non200: u64 = f.routes.values().map(|r| r.non200).sum();
    target(
        non200 == 0,
        format!("every response under load was a 200: {non200} were not"),
    );
    for line in lines {
        let _ = writeln!(out, "{line}");
    }
    (out, all)
}

fn main() {
    let options = match parse_options() {
        Ok(options) => options,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(run(options)) {
        Ok(true) => {}
        Ok(false) => {
            println!("\nSome targets were missed (see MISS above).");
        }
        Err(err) => {
            let mut message = err.to_string();
            let mut source = err.source();
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("error: {message}");
            std::process::exit(1);
        }
    }
}
