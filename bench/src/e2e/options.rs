//! The command line.

use std::path::PathBuf;

use crate::procfs::loadavg;
use crate::stores::Store;
use crate::wrk::Shape;
use crate::{Result, LOGIN_BLOCK};

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

#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) compare: bool,
    pub(crate) rounds: u32,
    pub(crate) seconds: u32,
    pub(crate) warmup_seconds: u32,
    pub(crate) connections: u32,
    pub(crate) wrk_threads: u32,
    pub(crate) logins: usize,
    pub(crate) login_concurrency: usize,
    pub(crate) quickstart: Option<PathBuf>,
    pub(crate) floor: Option<PathBuf>,
    /// The stores to compare with many sessions (`--stores`); empty: no comparison.
    pub(crate) stores: Vec<Store>,
    /// `--only-stores`: the store comparison alone.
    pub(crate) only_stores: bool,
    pub(crate) sessions: usize,
    pub(crate) store_rounds: u32,
    pub(crate) store_seconds: u32,
    pub(crate) store_warmup_seconds: u32,
    /// `--bearer`: the bearer-token API as well.
    pub(crate) bearer: bool,
    /// `--only-bearer`: without the one-cookie run.
    pub(crate) only_bearer: bool,
    pub(crate) api: Option<PathBuf>,
    pub(crate) tokens: usize,
    pub(crate) bearer_rounds: u32,
    pub(crate) bearer_seconds: u32,
    pub(crate) bearer_warmup_seconds: u32,
    pub(crate) loadavg_at_start: String,
    /// Filled in by the run: the most CPU that other processes used during a load round, as
    /// a share of one core.
    pub(crate) max_other_load: f64,
    /// `--dashboard PNG`: the dashboard run alone, its picture written there.
    pub(crate) dashboard: Option<PathBuf>,
    pub(crate) dashboard_seconds: u32,
}

pub(crate) const USAGE: &str = "\
usage: e2e [--compare] [--rounds N] [--seconds S] [--warmup S] [--connections C]
           [--wrk-threads T] [--logins N] [--login-concurrency C] [--quickstart PATH]
           [--floor PATH]
           [--stores [LIST] | --only-stores [LIST]] [--sessions N] [--store-rounds N]
           [--store-seconds S] [--store-warmup S]
           [--bearer | --only-bearer] [--api PATH] [--tokens N] [--bearer-rounds N]
           [--bearer-seconds S] [--bearer-warmup S]
           [--dashboard PNG] [--dashboard-seconds S]

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
  --floor P        the floor binary, a bare Rocket + reqwest app making the quickstart's
                   requests without OIDC checks, measured beside the quickstart in every
                   part but the bearer one (default: `floor` beside this binary)

Many users, per session store (after the run above, or alone):
  --stores [LIST]  also compare the session stores, LIST a comma-separated subset of
                   cookie,memory,redis (default all three), and the floor's private-cookie
                   session first (always): for each, the app with that
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
                   unrecorded warm-up per load (default 1)

The Grafana dashboard of docs/grafana, fed by a real run (alone; nothing else runs):
  --dashboard PNG  the quickstart (memory sessions) against the test provider, scraped
                   every second by Debian's Prometheus (apt-get install prometheus), under
                   a varying load of real users: logins in waves, cancelled logins,
                   refreshes, logouts at the app and at the provider (back-channel), and a
                   provider that stops answering for a while in the middle; then every
                   panel of docs/grafana/rocket_oidc_auth.json drawn from Prometheus's
                   query_range answers and photographed by headless Chromium
                   (/usr/bin/chromium) into PNG
  --dashboard-seconds S
                   how long the load runs (default 150, min 60, max 600)";

pub(crate) fn parse_options() -> Result<Options> {
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
        floor: std::env::var_os("E2E_FLOOR_BIN").map(PathBuf::from),
        dashboard: None,
        dashboard_seconds: 150,
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
            "--floor" => options.floor = Some(PathBuf::from(value("--floor")?)),
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
            "--dashboard" => options.dashboard = Some(PathBuf::from(value("--dashboard")?)),
            "--dashboard-seconds" => {
                options.dashboard_seconds = value("--dashboard-seconds")?.parse()?
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
    options.dashboard_seconds = options.dashboard_seconds.clamp(60, 600);
    Ok(options)
}

impl Options {
    /// Steps 2 to 7: unless `--only-stores`, `--only-bearer` or `--dashboard` says otherwise.
    pub(crate) fn one_cookie_run(&self) -> bool {
        !self.only_stores && !self.only_bearer && self.dashboard.is_none()
    }

    /// The load shape of the one-cookie run (and of the bearer run).
    pub(crate) fn shape(&self) -> Shape {
        Shape {
            threads: self.wrk_threads,
            connections: self.connections,
        }
    }
}
