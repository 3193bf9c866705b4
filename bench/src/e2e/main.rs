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
//! cargo build --release -p rocket_oidc_auth -p rocket_oidc_bench --features rocket_oidc_auth/redis \
//!     --example quickstart --example api --bin e2e --bin floor
//! target/release/e2e [--compare] [--stores] [--bearer] [--rounds 3] [--seconds 5] [--logins 200]
//! ```
//!
//! The parts, one module each: [`options`] (the command line), [`fixtures`] (the tests' own
//! provider and Redis servers), [`apps`] (the apps as processes), [`login`] (logins over
//! HTTP), [`wrk`] (load and the CPU around it), [`procfs`] (CPU and memory from `/proc`),
//! [`one_cookie`], [`stores`] and [`bearer`] (the three scenarios) with a report module
//! each, and [`targets`] (the PASS/MISS limits).
//!
//! The floor (`src/floor.rs`, the `floor` binary) is a bare Rocket + reqwest app making the
//! quickstart's requests with no OpenID Connect checks: it runs beside the quickstart in the
//! one-cookie run (steps 2 to 6) and first in the store comparison (step 8), and the report
//! gives the crate's figures as ratios to the floor's, beside the ratios to `/`.
//!
//! What one run does:
//!
//! 1. starts the Node test provider on a free port (issuer `http://localhost:PORT`), and
//!    `target/release/examples/quickstart` and the floor on others, configured by the same
//!    `ROCKET_*` variables (one client of the provider);
//! 2. logs in once over HTTP (the provider's login and consent pages, a cookie jar, no
//!    automatic redirects) and takes the app's session cookie (`oidc_session_default`, the
//!    floor's `floor_session`);
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
//! 8. with `--stores` (or `--only-stores`, which skips 2. to 7.), for the floor and then each
//!    session store (`cookie`, `memory`, `redis`) in turn: starts its own `redis-server` on a
//!    free loopback port for `redis` (tests/common/redis.rs's), starts the app with `ROCKET_OIDC={session={store=...}}`, creates
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
//! It prints a table and one PASS/MISS line per target (see [`targets`]). Every loop is bounded in count and time, and all traffic goes to 127.0.0.1 /
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

/// Returns an error made of `format!`'s arguments.
macro_rules! bail {
    ($($arg:tt)*) => { return Err(format!($($arg)*).into()) };
}

mod apps;
mod bearer;
mod bearer_report;
mod dashboard;
mod fixtures;
mod login;
mod one_cookie;
mod one_cookie_report;
mod options;
mod panels;
mod procfs;
mod stores;
mod stores_report;
mod targets;
mod util;
mod wrk;

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::apps::client_registration;
use crate::bearer::{bearer_run, BEARER_SETUPS};
use crate::fixtures::{start_provider, NodeOp, CLIENT_ID, CLIENT_SECRET};
use crate::one_cookie::one_cookie_run;
use crate::options::{parse_options, Options};
use crate::procfs::{clock_ticks_per_second, machine};
use crate::stores::store_run;
use crate::util::free_ports;

/// The repository's root (see build.rs): `bench/wrk`, `bench/flask`, `target/`.
pub(crate) const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
pub(crate) const ROUTES: [&str; 3] = ["/", "/whoami", "/login"];
pub(crate) const DISCOVERY: &str = "/.well-known/openid-configuration";
pub(crate) const JWKS: &str = "/jwks";
pub(crate) const TOKEN: &str = "/token";
pub(crate) const USERINFO: &str = "/me";
/// Logins per block; app blocks and provider-only blocks alternate.
pub(crate) const LOGIN_BLOCK: usize = 20;
/// Unrecorded logins through each app (and the provider alone) before the recorded ones.
pub(crate) const WARMUP_LOGINS: usize = 5;
/// The login phase stops starting new blocks after this long (per run).
pub(crate) const LOGIN_PHASE_BUDGET: Duration = Duration::from_secs(240);

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub(crate) type Result<T, E = BoxError> = std::result::Result<T, E>;

/// The floor's binary, beside this one (`target/release/floor`), or `given`.
fn find_floor(given: Option<&PathBuf>) -> Result<PathBuf> {
    if let Some(path) = given {
        return Ok(path.clone());
    }
    let exe = std::env::current_exe()?;
    let candidate = exe.with_file_name("floor");
    if candidate.is_file() {
        return Ok(candidate);
    }
    bail!(
        "{} not found: run `cargo build --release -p rocket_oidc_bench` first (scripts/bench.sh \
         does), or pass --floor PATH",
        candidate.display()
    )
}

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

async fn run(mut options: Options) -> Result<bool> {
    if let Some(png) = options.dashboard.clone() {
        let quickstart = find_example("quickstart", options.quickstart.as_ref())?;
        // target/release/examples/quickstart -> target
        let target_dir = quickstart.ancestors().nth(3).unwrap_or(Path::new("target"));
        let work_dir = target_dir.join("bench-e2e");
        fs::create_dir_all(&work_dir)?;
        let report =
            dashboard::dashboard_run(&quickstart, &work_dir, &png, options.dashboard_seconds)
                .await?;
        print!("{report}");
        return Ok(true);
    }
    let quickstart = if options.one_cookie_run() || !options.stores.is_empty() {
        Some(find_example("quickstart", options.quickstart.as_ref())?)
    } else {
        None
    };
    let floor = match quickstart {
        Some(_) => Some(find_floor(options.floor.as_ref())?),
        None => None,
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
        crate::apps::ensure_venv(&venv)?;
    }

    // Ports and the provider's clients: the one-cookie run's quickstart and floor, and every
    // app of the store comparison (the floor first), are one client with a redirect URI each.
    let bearer_setups = if options.bearer {
        BEARER_SETUPS.len()
    } else {
        0
    };
    let store_apps = if options.stores.is_empty() {
        0
    } else {
        1 + options.stores.len()
    };
    let ports = free_ports(3 + store_apps + bearer_setups)?;
    let (rocket_port, floor_port, flask_port) = (ports[0], ports[1], ports[2]);
    let (store_ports, bearer_ports) = ports[3..].split_at(store_apps);
    let (store_ports, bearer_ports) = (store_ports.to_vec(), bearer_ports.to_vec());
    let origin = |port: &u16| format!("http://127.0.0.1:{port}");
    let rocket_origins: Vec<String> = ports[..2].iter().chain(&store_ports).map(origin).collect();
    let mut clients = vec![client_registration(
        &rocket_origins,
        CLIENT_ID,
        CLIENT_SECRET,
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
        let provider = start_provider(&serde_json::Value::Array(clients), &[])?;
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
        floor,
        api,
        work_dir,
        venv,
        ticks_per_second,
        provider,
        http,
        rocket_port,
        floor_port,
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
pub(crate) struct Env {
    /// Unless `--only-bearer` alone.
    pub(crate) quickstart: Option<PathBuf>,
    /// With the quickstart.
    pub(crate) floor: Option<PathBuf>,
    /// With `--bearer`.
    pub(crate) api: Option<PathBuf>,
    pub(crate) work_dir: PathBuf,
    pub(crate) venv: PathBuf,
    pub(crate) ticks_per_second: u64,
    /// The one-cookie run's and the stores' (unless `--only-bearer` alone).
    pub(crate) provider: Option<NodeOp>,
    pub(crate) http: reqwest::Client,
    pub(crate) rocket_port: u16,
    pub(crate) floor_port: u16,
    pub(crate) flask_port: u16,
    /// With `--stores`: the floor's, then one per store, in its order.
    pub(crate) store_ports: Vec<u16>,
    /// One per bearer setup, with `--bearer`.
    pub(crate) bearer_ports: Vec<u16>,
}

impl Env {
    pub(crate) fn quickstart(&self) -> Result<&Path> {
        Ok(self.quickstart.as_deref().ok_or("no quickstart binary")?)
    }

    pub(crate) fn floor(&self) -> Result<&Path> {
        Ok(self.floor.as_deref().ok_or("no floor binary")?)
    }

    pub(crate) fn provider(&self) -> Result<&NodeOp> {
        Ok(self.provider.as_ref().ok_or("no test provider")?)
    }
}

/// Steps 2 to 7 (one logged-in cookie on every request): the report's text and whether every
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
