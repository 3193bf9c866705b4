//! The one-cookie run's report: a table with a column per app, every figure of the crate
//! beside its ratio to the floor's, and the targets.

use std::fmt::Write as _;

use crate::apps::Kind;
use crate::one_cookie::{Figures, Subject};
use crate::options::Options;
use crate::procfs::loadavg;
use crate::targets::{
    LOGIN_MAX_CPU_MS, LOGIN_ROUTE_MAX_X_ROOT, RSS_AFTER_LOAD_MAX_MB, WHOAMI_MAX_X_ROOT,
};
use crate::util::{mb, median, ms, percentile, us};
use crate::ROUTES;

/// The one-cookie run's table, its figures against the floor's, and the targets; and
/// whether every target was met.
pub(crate) fn report(
    options: &Options,
    subjects: &[Subject],
    provider_only_ms: &[f64],
) -> (String, bool) {
    let mut out = header(options);
    out.push_str(&table(options, subjects, provider_only_ms));
    let crate_app = &subjects[0];
    if let Some(floor) = subjects.iter().find(|s| s.app.kind == Kind::Floor) {
        out.push_str(&against_floor(options, crate_app, floor));
    }
    let (text, all) = targets(options, &crate_app.figures);
    out.push_str(&text);
    (out, all)
}

/// The machine's load and how the load ran.
fn header(options: &Options) -> String {
    let mut out = String::new();
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
    out
}

/// A column per app, a row per figure; the crate's CPU figures also as ratios to the floor's.
fn table(options: &Options, subjects: &[Subject], provider_only_ms: &[f64]) -> String {
    let mut out = String::new();
    let columns: Vec<&str> = subjects.iter().map(|s| s.app.name).collect();
    let floor = subjects.iter().find(|s| s.app.kind == Kind::Floor);
    // ", 1.10× floor" for any app but the floor (the median of the per-round ratios); "" for
    // the floor.
    let vs_floor = |s: &Subject, route: &str| match floor {
        Some(floor) if s.app.kind != Kind::Floor => {
            format!(
                ", {:.2}× floor",
                ratio_between(&s.figures, &floor.figures, route)
            )
        }
        _ => String::new(),
    };
    let login_vs_floor = |s: &Subject, mine: f64, floor_ms: fn(&Subject) -> f64| match floor {
        Some(floor) if s.app.kind != Kind::Floor => {
            format!(" ({:.2}× floor)", mine / floor_ms(floor))
        }
        _ => String::new(),
    };
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
        let x_floor = vs_floor(s, "/");
        let x_floor = x_floor.strip_prefix(", ").map(|x| format!(" ({x})"));
        format!("{}{}", us(s.figures.cpu("/")), x_floor.unwrap_or_default())
    });
    row(
        &mut out,
        "CPU per request `GET /whoami` (guard only)",
        &|s| {
            let f = &s.figures;
            let x_floor = vs_floor(s, "/whoami");
            format!(
                "{} ({:.2}× `/`{x_floor})",
                us(f.cpu("/whoami")),
                f.ratio("/whoami")
            )
        },
    );
    row(
        &mut out,
        "CPU per request `GET /login` (guard + token JSON)",
        &|s| {
            let f = &s.figures;
            let x_floor = vs_floor(s, "/login");
            format!(
                "{} ({:.2}× `/`{x_floor})",
                us(f.cpu("/login")),
                f.ratio("/login")
            )
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
            let x_floor = login_vs_floor(s, l.cpu_per_login_ms, |f| {
                f.figures.concurrent.cpu_per_login_ms
            });
            format!(
                "{}{}{x_floor} ({:.0} logins/s)",
                ms(l.cpu_per_login_ms),
                if l.precise { "" } else { " (10 ms ticks)" },
                l.logins_per_s
            )
        },
    );
    row(&mut out, "app CPU per full login, one at a time", &|s| {
        let l = &s.figures.logins;
        let x_floor = login_vs_floor(s, l.cpu_per_login_ms, |f| f.figures.logins.cpu_per_login_ms);
        format!(
            "{}{}{x_floor}",
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
    out
}

/// Median over the rounds of `route`'s CPU per request in `a` ÷ that in `b` in the same
/// round (the apps take turns within each round).
fn ratio_between(a: &Figures, b: &Figures, route: &str) -> f64 {
    let (Some(a), Some(b)) = (a.routes.get(route), b.routes.get(route)) else {
        return f64::NAN;
    };
    let ratios: Vec<f64> = a.cpu_us.iter().zip(&b.cpu_us).map(|(a, b)| a / b).collect();
    median(&ratios)
}

/// The crate against the floor, measured in the same run: each figure as a ratio to the
/// floor's, beside the ratio to `/`.
fn against_floor(options: &Options, crate_app: &Subject, floor: &Subject) -> String {
    let (c, f) = (&crate_app.figures, &floor.figures);
    let mut out = String::new();
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Against the floor (a bare Rocket + reqwest app making the same requests, no OIDC \
         checks; same run): `/whoami` {:.2}× the floor's ({:.2}× `/`; the floor's own {:.2}× \
         `/`), `/login` {:.2}× the floor's ({:.2}× `/`; the floor's own {:.2}× `/`), CPU per \
         login {:.2}× the floor's one at a time and {:.2}× {} at a time.",
        ratio_between(c, f, "/whoami"),
        c.ratio("/whoami"),
        f.ratio("/whoami"),
        ratio_between(c, f, "/login"),
        c.ratio("/login"),
        f.ratio("/login"),
        c.logins.cpu_per_login_ms / f.logins.cpu_per_login_ms,
        c.concurrent.cpu_per_login_ms / f.concurrent.cpu_per_login_ms,
        options.login_concurrency,
    );
    out
}

/// Targets, for this crate only; and whether every one was met.
fn targets(options: &Options, f: &Figures) -> (String, bool) {
    let mut out = String::new();
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
        whoami <= WHOAMI_MAX_X_ROOT,
        format!(
            "/whoami CPU ≤ {WHOAMI_MAX_X_ROOT}× /: {whoami:.2}×{}",
            over(whoami, WHOAMI_MAX_X_ROOT)
        ),
    );
    let login = f.ratio("/login");
    target(
        login <= LOGIN_ROUTE_MAX_X_ROOT,
        format!(
            "/login CPU ≤ {LOGIN_ROUTE_MAX_X_ROOT}× /: {login:.2}×{}",
            over(login, LOGIN_ROUTE_MAX_X_ROOT)
        ),
    );
    let busy = f.concurrent.cpu_per_login_ms;
    target(
        busy <= LOGIN_MAX_CPU_MS,
        format!(
            "app CPU per full login ≤ {LOGIN_MAX_CPU_MS} ms, {} logins at a time (the app busy, \
             as under the load): {busy:.2} ms{}",
            options.login_concurrency,
            over(busy, LOGIN_MAX_CPU_MS)
        ),
    );
    let alone = f.logins.cpu_per_login_ms;
    target(
        alone <= LOGIN_MAX_CPU_MS,
        format!(
            "app CPU per full login ≤ {LOGIN_MAX_CPU_MS} ms, one at a time (every hop wakes an \
             idle app): {alone:.2} ms{}",
            over(alone, LOGIN_MAX_CPU_MS)
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
        rss < RSS_AFTER_LOAD_MAX_MB,
        format!(
            "app RSS < {RSS_AFTER_LOAD_MAX_MB} MB after the load: {rss:.1} MB{}",
            over(rss, RSS_AFTER_LOAD_MAX_MB)
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
