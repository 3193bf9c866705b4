//! The store comparison's report: per store and load shape, the CPU per request and its
//! ratios to `/` and to the floor.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::options::Options;
use crate::stores::{Store, StoreFigures, StoreRoute, STORE_SHAPES};
use crate::util::{load_note, mb, median, ms, us};
use crate::ROUTES;

/// The store comparison's section of the report.
pub(crate) fn store_report(options: &Options, figures: &[StoreFigures], took: Duration) -> String {
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
    out.push_str(&sessions_table(figures));
    out.push_str(&load_table(figures));
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

/// Per store: its sessions, logins, memory and Redis commands.
fn sessions_table(figures: &[StoreFigures]) -> String {
    let mut out = String::new();
    let floor_login_ms = figures
        .iter()
        .find(|f| f.store == Store::Floor)
        .map(|f| f.login_cpu_ms);
    let _ = writeln!(
        out,
        "| store | sessions | Cookie header | logins: time, rate, app CPU per login | app RSS \
         before / after the logins / after the load (the growth per session) | Redis: keys, RSS | Redis commands per request | other \
         processes, most in a round |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for f in figures {
        let login_cpu = match floor_login_ms {
            Some(floor) if f.store != Store::Floor => {
                format!(
                    "{} ({:.2}× floor)",
                    ms(f.login_cpu_ms),
                    f.login_cpu_ms / floor
                )
            }
            _ => ms(f.login_cpu_ms),
        };
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
            "| {} | {} | {:.0} bytes | {:.1} s, {:.0}/s, {login_cpu} | {} / {} / {} ({:.1} KB \
             per session) | {redis} | {commands} | {:.0}% of a core |",
            f.store.name(),
            f.sessions,
            f.cookie_bytes,
            f.login_seconds,
            f.sessions as f64 / f.login_seconds,
            mb(f.rss_before_logins_kb),
            mb(f.rss_after_logins_kb),
            mb(f.rss_after_load_kb),
            f.rss_after_logins_kb.saturating_sub(f.rss_before_logins_kb) as f64
                / f.sessions.max(1) as f64,
            f.max_other_load * 100.0
        );
    }
    out
}

/// Per load shape and store: throughput, the CPU per request, its ratios to `/` and to the
/// floor, Redis's share.
fn load_table(figures: &[StoreFigures]) -> String {
    let mut out = String::new();
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| store | wrk | req/s `/` · `/whoami` · `/login` | app CPU `/` | app CPU `/whoami` \
         (× `/`, × floor) | app CPU `/login` (× `/`, × floor) | Redis CPU `/` · `/whoami` · \
         `/login` | app + Redis `/whoami` (× `/`, × floor) | app + Redis `/login` (× `/`, × \
         floor) | non-200 · Set-Cookie · socket errors |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
    let empty = StoreRoute::default();
    let floor = figures.iter().find(|f| f.store == Store::Floor);
    for (s, shape) in STORE_SHAPES.iter().enumerate() {
        // The floor's figure of a route in this shape (measured before the stores, in the
        // same run): the ratios are of the medians.
        let floor_route = |route: &str| floor.and_then(|f| f.shapes.get(s)?.get(route));
        for f in figures {
            let Some(routes) = f.shapes.get(s) else {
                continue;
            };
            let get = |route: &str| routes.get(route).unwrap_or(&empty);
            let (root, whoami, login) = (get("/"), get("/whoami"), get("/login"));
            let redis = f.store == Store::Redis;
            let x_floor = |cpu: f64, route: &str| match floor_route(route) {
                Some(base) if f.store != Store::Floor => {
                    format!(", {:.2}× floor", cpu / base.app())
                }
                _ => String::new(),
            };
            let app_cell = |r: &StoreRoute, route: &str| {
                format!(
                    "{} ({:.2}× `/`{})",
                    us(r.app()),
                    r.ratio(root, false),
                    x_floor(r.app(), route)
                )
            };
            let both_cell = |r: &StoreRoute, route: &str| {
                if redis {
                    let both = median(&r.both());
                    format!(
                        "{} ({:.2}× `/`{})",
                        us(both),
                        r.ratio(root, true),
                        x_floor(both, route)
                    )
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
                app_cell(whoami, "/whoami"),
                app_cell(login, "/login"),
                both_cell(whoami, "/whoami"),
                both_cell(login, "/login"),
            );
        }
    }
    out
}
