//! Many users, per session store (`--stores`): for the floor and each store of the crate in
//! turn, thousands of sessions from real logins and wrk sending the next one's cookie on
//! every request, in two load shapes.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::Instant;

use crate::apps::{start_floor, start_rocket, wait_ready, Variant};
use crate::fixtures::{redis_command_calls, redis_keys, redis_pid, RedisServer};
use crate::login::{check_sessions, many_logins};
use crate::options::{Options, USAGE};
use crate::procfs::{cpu_between, read_cpu, rss_kb};
use crate::stores_report::store_report;
use crate::util::median;
use crate::wrk::{callgrind_control, measured_wrk, run_wrk, Credentials, Shape};
use crate::{Env, Result, ROUTES};

/// The store comparison's load shapes.
pub(crate) const STORE_SHAPES: [Shape; 2] = [
    Shape {
        threads: 1,
        connections: 16,
    },
    Shape {
        threads: 2,
        connections: 32,
    },
];

/// Where the sessions of one app of the comparison live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Store {
    /// The floor's private-cookie JSON session (no store of the crate's): measured first,
    /// whatever `--stores` lists, as the yardstick of the others.
    Floor,
    Cookie,
    Memory,
    Redis,
}

impl Store {
    pub(crate) fn parse(name: &str) -> Result<Store> {
        Ok(match name.trim() {
            "cookie" => Store::Cookie,
            "memory" => Store::Memory,
            "redis" => Store::Redis,
            other => bail!("unknown store {other:?} (cookie, memory or redis)\n{USAGE}"),
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Store::Floor => "floor",
            Store::Cookie => "cookie",
            Store::Memory => "memory",
            Store::Redis => "redis",
        }
    }

    pub(crate) fn app_name(self) -> &'static str {
        match self {
            Store::Floor => "floor (Rocket + reqwest)",
            Store::Cookie => "rocket_oidc_auth cookie store",
            Store::Memory => "rocket_oidc_auth memory store",
            Store::Redis => "rocket_oidc_auth redis store",
        }
    }
}

/// One route under one load shape, over the rounds.
#[derive(Debug, Default)]
pub(crate) struct StoreRoute {
    /// The app's CPU per request, µs, per round.
    pub(crate) app_us: Vec<f64>,
    /// redis-server's CPU per request, µs, per round (redis store only).
    pub(crate) redis_us: Vec<f64>,
    pub(crate) rps: Vec<f64>,
    pub(crate) requests: u64,
    pub(crate) non200: u64,
    pub(crate) set_cookie: u64,
    pub(crate) socket_errors: u64,
    pub(crate) first_non200: String,
    /// Sessions the load took turns with (from rotate.lua).
    pub(crate) sessions: u64,
    /// Redis commands during the rounds, by name.
    pub(crate) redis_calls: BTreeMap<String, u64>,
}

impl StoreRoute {
    pub(crate) fn app(&self) -> f64 {
        median(&self.app_us)
    }

    pub(crate) fn redis(&self) -> f64 {
        median(&self.redis_us)
    }

    pub(crate) fn both(&self) -> Vec<f64> {
        self.app_us
            .iter()
            .zip(self.redis_us.iter().chain(std::iter::repeat(&0.0)))
            .map(|(a, r)| a + r)
            .collect()
    }

    /// Median over the rounds of this route's CPU ÷ that of `base` in the same round: the
    /// app's alone, or the app's + Redis's.
    pub(crate) fn ratio(&self, base: &StoreRoute, with_redis: bool) -> f64 {
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
pub(crate) struct StoreFigures {
    pub(crate) store: Store,
    pub(crate) sessions: usize,
    /// Mean length of the Cookie header, bytes.
    pub(crate) cookie_bytes: f64,
    pub(crate) login_seconds: f64,
    /// The app's CPU per login during the many logins, ms.
    pub(crate) login_cpu_ms: f64,
    /// By index of [`STORE_SHAPES`], then route.
    pub(crate) shapes: Vec<BTreeMap<&'static str, StoreRoute>>,
    /// The app's VmRSS before the logins (started, discovery done).
    pub(crate) rss_before_logins_kb: u64,
    pub(crate) rss_after_logins_kb: u64,
    pub(crate) rss_after_load_kb: u64,
    /// redis store: keys after the logins, and redis-server's VmRSS after the load.
    pub(crate) redis_keys: Option<u64>,
    pub(crate) redis_rss_kb: Option<u64>,
    /// The most CPU that other processes used during a round, as a share of one core.
    pub(crate) max_other_load: f64,
    pub(crate) seconds: f64,
}

/// Step 8: every store of `--stores` in turn; the report's section.
pub(crate) async fn store_run(options: &Options, env: &Env) -> Result<String> {
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
    let stores = std::iter::once(&Store::Floor).chain(&options.stores);
    for (&store, &port) in stores.zip(&env.store_ports) {
        figures.push(measure_store(options, env, store, port).await?);
    }
    Ok(store_report(options, &figures, started.elapsed()))
}

pub(crate) async fn measure_store(
    options: &Options,
    env: &Env,
    store: Store,
    port: u16,
) -> Result<StoreFigures> {
    let started = Instant::now();
    let ticks_per_second = env.ticks_per_second;
    // Declared before the app, so dropped after it: the app stops first.
    let redis = match store {
        Store::Redis => Some(RedisServer::start()),
        _ => None,
    };
    let table = match &redis {
        Some(redis) => format!("{{store=\"redis\", redis={{url=\"{}\"}}}}", redis.url()),
        None => format!("{{store=\"{}\"}}", store.name()),
    };
    let (provider, work_dir) = (&env.provider()?.issuer, &env.work_dir);
    let mut app = match store {
        Store::Floor => start_floor(env.floor()?, port, provider, work_dir, store.app_name())?,
        _ => start_rocket(
            env.quickstart()?,
            port,
            provider,
            work_dir,
            Some(&Variant {
                name: store.app_name(),
                oidc_keys: &format!(", session={table}"),
                provider_keys: "",
                log_level: "off",
            }),
        )?,
    };
    wait_ready(&mut app, &env.http).await?;
    let pid = app.pid();
    eprintln!(
        "==> {} at {} (pid {}){}",
        app.name,
        app.url,
        pid,
        match &redis {
            Some(r) => format!(", redis-server at {} (pid {})", r.url(), redis_pid(r)?),
            None => String::new(),
        }
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
        Some(redis) => Some(redis_keys(redis)?),
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
    let mut pids = vec![pid];
    if let Some(redis) = &redis {
        pids.push(redis_pid(redis)?);
    }
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
        let load = StoreLoad {
            store,
            url: &app.url,
            pids: &pids,
            redis: redis.as_ref(),
            sessions: &file,
        };
        let (routes, max_other_load) = load_shape(options, env.ticks_per_second, &load, shape)?;
        figures.max_other_load = figures.max_other_load.max(max_other_load);
        figures.shapes.push(routes);
    }
    figures.rss_after_load_kb = rss_kb(pid);
    figures.redis_rss_kb = pids.get(1).map(|&pid| rss_kb(pid));
    drop(app);
    drop(redis);
    let _ = fs::remove_file(&file);
    figures.seconds = started.elapsed().as_secs_f64();
    Ok(figures)
}

/// What one load shape of the store comparison runs against.
struct StoreLoad<'a> {
    store: Store,
    /// The app's origin.
    url: &'a str,
    /// The app's, then redis-server's.
    pids: &'a [u32],
    redis: Option<&'a RedisServer>,
    /// The sessions' Cookie headers, one a line, for `bench/wrk/rotate.lua`.
    sessions: &'a Path,
}

/// One load shape: a warm-up, then the rounds, the routes alternating, wrk sending the next
/// session's Cookie on every request; the routes' figures and the most CPU other processes
/// used in a round (a share of one core).
fn load_shape(
    options: &Options,
    ticks_per_second: u64,
    load: &StoreLoad<'_>,
    shape: Shape,
) -> Result<(BTreeMap<&'static str, StoreRoute>, f64)> {
    let mut max_other_load: f64 = 0.0;
    let mut routes: BTreeMap<&'static str, StoreRoute> = BTreeMap::new();
    if options.store_warmup_seconds > 0 {
        for route in ROUTES {
            let url = format!("{}{route}", load.url);
            let result = run_wrk(
                shape,
                &url,
                Credentials::Rotate("Cookie", load.sessions),
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
            let url = format!("{}{route}", load.url);
            let calls_before = load.redis.map(redis_command_calls);
            let m = measured_wrk(
                load.pids,
                ticks_per_second,
                shape,
                &url,
                Credentials::Rotate("Cookie", load.sessions),
                options.store_seconds,
            )?;
            let calls_after = load.redis.map(redis_command_calls);
            let (result, precise, other) = (&m.result, m.precise, m.other_load);
            max_other_load = max_other_load.max(other);
            let r = routes.entry(route).or_default();
            r.app_us.push(m.us(0));
            if load.redis.is_some() {
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
                load.store.name(),
                shape.threads,
                shape.connections,
                round + 1,
                route,
                m.rps(),
                m.us(0),
                if load.redis.is_some() {
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
    Ok((routes, max_other_load))
}
