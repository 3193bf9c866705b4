//! Load with wrk: a run parsed from `bench/wrk/*.lua`'s result line, the CPU of the apps
//! read around it, and the samples of a route over the rounds.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::procfs::{cpu_between, machine_busy_ticks, own_ticks, read_cpu, CpuReading};
use crate::util::median;
use crate::{Result, MANIFEST_DIR};

/// An unrecorded wrk run, which must see only 200s: else the load would measure errors.
pub(crate) fn warm_up(
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
pub(crate) struct WrkResult {
    pub(crate) requests: u64,
    pub(crate) duration_us: u64,
    pub(crate) bytes: u64,
    pub(crate) non200: u64,
    pub(crate) set_cookie: u64,
    pub(crate) socket_errors: u64,
    pub(crate) p50_us: u64,
    pub(crate) p99_us: u64,
    pub(crate) first_non200: String,
    /// With [`Credentials::Rotate`]: the values (sessions, tokens) the threads took turns with.
    pub(crate) sessions: u64,
}

/// wrk's threads and connections.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    pub(crate) threads: u32,
    pub(crate) connections: u32,
}

/// What identifies wrk's requests: a header and its value (`Cookie`, `Authorization`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Credentials<'a> {
    /// Nothing.
    None,
    /// The same value on every request (`bench/wrk/check.lua`).
    One(&'static str, &'a str),
    /// The next line of this file on every request (`bench/wrk/rotate.lua`).
    Rotate(&'static str, &'a Path),
}

pub(crate) fn run_wrk(
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
pub(crate) struct Measured {
    pub(crate) result: WrkResult,
    /// CPU seconds of each of `pids`, in order.
    pub(crate) cpu_s: Vec<f64>,
    /// Whether the app's came from its threads' nanosecond counters (not 10 ms ticks).
    pub(crate) precise: bool,
    pub(crate) seconds: f64,
    /// What other processes (not `pids`, wrk or this one) used meanwhile, as a share of one
    /// core.
    pub(crate) other_load: f64,
    /// Context switches into the first of `pids`' threads.
    pub(crate) switches: u64,
}

impl Measured {
    /// CPU per request of `pids[i]`, µs.
    pub(crate) fn us(&self, i: usize) -> f64 {
        self.cpu_s[i] * 1e6 / self.result.requests.max(1) as f64
    }

    pub(crate) fn rps(&self) -> f64 {
        self.result.requests as f64 / self.seconds
    }
}

pub(crate) fn measured_wrk(
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
pub(crate) fn callgrind_control(args: &[&str]) {
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
pub(crate) fn perf_switch_output(pid: u32, when: &str, url: &str) {
    let _ = Command::new("kill")
        .args(["-USR2", &pid.to_string()])
        .status();
    // perf writes the file in its own time.
    std::thread::sleep(Duration::from_millis(300));
    eprintln!("    (E2E_PERF: {when} {url})");
}

/// One route (or load) over the rounds: the app's figures.
#[derive(Debug, Clone, Default)]
pub(crate) struct RouteSamples {
    pub(crate) cpu_us: Vec<f64>,
    pub(crate) rps: Vec<f64>,
    pub(crate) p50_ms: Vec<f64>,
    pub(crate) requests: u64,
    pub(crate) non200: u64,
    pub(crate) set_cookie: u64,
    pub(crate) socket_errors: u64,
    pub(crate) bytes_per_response: f64,
    pub(crate) precise: bool,
    pub(crate) first_non200: String,
}

impl RouteSamples {
    pub(crate) fn add(&mut self, m: &Measured) {
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
pub(crate) fn ratio(routes: &BTreeMap<&'static str, RouteSamples>, route: &str, base: &str) -> f64 {
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
