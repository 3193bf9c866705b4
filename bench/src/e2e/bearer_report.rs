//! The bearer part's report and targets.

use std::fmt::Write as _;
use std::time::Duration;

use crate::bearer::{BearerFigures, TokenPass, Validation, ME, ME_MANY};
use crate::options::Options;
use crate::targets::{KEPT_INTROSPECTION_MAX_X_ROOT, LOCAL_JWT_MAX_RS256_VERIFICATIONS};
use crate::util::{load_note, mb, median, ms, percentile, us};
use crate::wrk::{ratio, RouteSamples};

/// The bearer part's section of the report, and whether every target was met.
pub(crate) fn bearer_report(
    options: &Options,
    figures: &[BearerFigures],
    took: Duration,
) -> (String, bool) {
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
        out.push_str(&passes_table(options, figures));
    }
    let (text, all) = targets(options, figures);
    out.push_str(&text);
    (out, all)
}

/// The many tokens, each sent twice: the first request of each against the second.
fn passes_table(options: &Options, figures: &[BearerFigures]) -> String {
    let mut out = String::new();
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
    out
}

/// The bearer part's targets; and whether every one was met.
fn targets(options: &Options, figures: &[BearerFigures]) -> (String, bool) {
    let mut out = String::new();
    let many = options.tokens > 0;
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
                        x <= KEPT_INTROSPECTION_MAX_X_ROOT,
                        format!(
                            "/api/me with a kept introspection answer ({what}) ≤ \
                             {KEPT_INTROSPECTION_MAX_X_ROOT}× the CPU of /: {x:.2}×"
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
                let verify = f.rs256_us.unwrap_or(f64::NAN);
                let extra = f.extra_us(ME);
                target(
                    extra <= LOCAL_JWT_MAX_RS256_VERIFICATIONS * verify,
                    format!(
                        "/api/me with a local JWT check ≤ / + {LOCAL_JWT_MAX_RS256_VERIFICATIONS}× \
                         one RS256 verification (ring, in this process: {verify:.1} µs): / + \
                         {extra:.1} µs, {:.2}× the verification",
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
